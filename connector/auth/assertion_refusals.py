"""Which setting of a JWT client assertion a token service's refusal points at: the time window (and so this
machine's clock), the audience, the ``jti`` claim, or the key.

Entra says more than "invalid_client": AADSTS700024 quotes its current time and the assertion's window, AADSTS50027
says which claim it could not accept ("audience", "jti", "already used"), AADSTS700212 and AADSTS5002741 concern the
audience, and AADSTS700027 for an EC key means Entra's rule that certificates are RSA. A server that says only
``invalid_client`` (oidc-provider keeps its reason on its own stderr) still answers with a ``Date``: a clock well off
the server's is the likely cause, and otherwise so is a setting changed from the value Entra documents (an audience
that is not the token URL, ``jti`` NONE), when exactly one such change was made. :func:`assertion_refusal_cause`
returns the field and the words for the message, or ``None`` to leave the refusal to
:mod:`connector.auth.entra_errors`' tables (a key that is not registered is the key's fault).

Not for: refusals of other credentials, or reading HTTP responses.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from connector.oauth_advice import is_entra_url
from connector.oauth_settings import (
    AUDIENCE_FIELD,
    EXPIRATION_FIELD,
    JTI_FIELD,
    SIGNATURE_ALGORITHM_FIELD,
    SIGNATURE_KEY_FIELD,
    OAuthSettings,
)

__all__ = ["CLOCK_SKEW_SUSPECT_S", "CLOCK_SKEW_TOLERANCE_S", "AssertionCause", "assertion_refusal_cause"]

CLOCK_SKEW_TOLERANCE_S: Final = 60.0
"""A clock further than this from the token service's makes the assertion's time window the cause of a refusal."""

CLOCK_SKEW_SUSPECT_S: Final = 10.0
"""A clock this far ahead of the service's puts ``iat``/``nbf`` in its future, which servers with a small tolerance
(oidc-provider: 15 s) refuse; named as the likely cause when the refusal says nothing else."""

_TIME_WINDOW: Final = 700024
_AUDIENCE_CODES: Final = frozenset({700212, 5002741})
_MALFORMED_ASSERTION: Final = 50027
_GENERIC_CODES: Final = frozenset({None, 70002})
_KEY_REFUSED: Final = 700027
_EC_ALGORITHMS: Final = frozenset({"ES256", "ES384", "ES512"})
_TIMES: Final = re.compile(
    r"Current time: (?P<now>[0-9T:.\-]+)Z?, assertion valid from (?P<start>[0-9T:.\-]+|\(not given\))Z?, "
    r"expiry time of assertion (?P<end>[0-9T:.\-]+|\(not given\))"
)


@dataclass(frozen=True)
class AssertionCause:
    """The setting a refusal points at.

    :param field: the form field to change.
    :param message: what is wrong and what to do, naming the field; the server's words are appended to it.
    """

    field: str
    message: str


def _instant(text: str) -> float | None:
    """Entra's timestamps (``2024-10-02T22:05:03.6755165Z``, seven fraction digits) as epoch seconds."""
    whole, _, fraction = text.rstrip("Z").partition(".")
    try:
        moment = datetime.datetime.fromisoformat(whole).replace(tzinfo=datetime.UTC)
    except ValueError:
        return None
    return moment.timestamp() + (float(f"0.{fraction}") if fraction.isdigit() else 0.0)


def _time_window(description: str, skew: float | None) -> AssertionCause:
    match = _TIMES.search(description)
    now = _instant(match.group("now")) if match else None
    start = _instant(match.group("start")) if match else None
    end = _instant(match.group("end")) if match else None
    if now is not None and start is not None and start > now:
        return AssertionCause(
            EXPIRATION_FIELD,
            f"The assertion starts {start - now:.0f} s after the token service's current time: this machine's clock "
            f"is ahead of it. Correct the clock (NTP); the assertion's time window ({EXPIRATION_FIELD}) cannot "
            "make up for it.",
        )
    if now is not None and end is not None and end < now:
        return AssertionCause(
            EXPIRATION_FIELD,
            f"The assertion had expired {now - end:.0f} s before it arrived: this machine's clock is behind the "
            f"token service's, or Expiration ({EXPIRATION_FIELD}) is shorter than the way there. Correct the clock.",
        )
    offset = f": this machine's clock is {skew:+.0f} s off the token service's" if skew is not None else ""
    return AssertionCause(
        EXPIRATION_FIELD,
        f"The assertion is outside its valid time range ({EXPIRATION_FIELD}){offset}. Check this machine's clock.",
    )


def _audience(settings: OAuthSettings) -> AssertionCause:
    audience = settings.jwt.audience if settings.jwt is not None else ""
    if audience != settings.access_token_url:
        return AssertionCause(
            AUDIENCE_FIELD,
            f"Audience (aud) {audience!r} ({AUDIENCE_FIELD}) is not an audience the token service accepts: Entra "
            "wants its token endpoint, the access token URL. Leave the audience blank to use it.",
        )
    return AssertionCause(
        AUDIENCE_FIELD,
        f"Audience (aud) ({AUDIENCE_FIELD}), the access token URL, was not accepted by the token service: check the "
        "tenant in the URL.",
    )


def _jti(settings: OAuthSettings, description: str) -> AssertionCause:
    if settings.jwt is not None and settings.jwt.jti == "NONE":
        return AssertionCause(
            JTI_FIELD,
            f"ID claim generator (jti) ({JTI_FIELD}) is NONE, so the assertion has no jti claim, which the token "
            "service requires: choose UUID.",
        )
    if re.search(r"already (been )?used|replay", description, re.IGNORECASE):
        return AssertionCause(
            JTI_FIELD,
            f"The token service had seen this assertion's jti before, a replay ({JTI_FIELD}): keep UUID, and check "
            "that no proxy or gateway sends token requests twice.",
        )
    return AssertionCause(
        JTI_FIELD, f"The token service did not accept the assertion's jti claim ({JTI_FIELD}): keep UUID."
    )


def _from_description(number: int | None, description: str, settings: OAuthSettings) -> AssertionCause | None:
    """What Entra's AADSTS50027 description names (the sandbox follows it); ``None`` when it names nothing known."""
    if number != _MALFORMED_ASSERTION:
        return None
    if re.search(r"audience|\baud\b", description, re.IGNORECASE):
        return _audience(settings)
    if re.search(r"\bjti\b|replay|already (been )?used", description, re.IGNORECASE):
        return _jti(settings, description)
    if re.search(r"valid time range|\bnbf\b|\biat\b|\bexp\b|expired", description, re.IGNORECASE):
        return _time_window(description, None)
    return None


def _suspects(settings: OAuthSettings, skew: float | None) -> list[AssertionCause]:
    """Settings changed from what Entra documents, and a clock ahead of the server's: causes a silent refusal has."""
    jwt = settings.jwt
    found: list[AssertionCause] = []
    silent = "The assertion was refused without a reason"
    if skew is not None and skew > CLOCK_SKEW_SUSPECT_S:
        found.append(
            AssertionCause(
                EXPIRATION_FIELD,
                f"{silent}, and this machine's clock is {skew:+.0f} s ahead of the token service's: the assertion's "
                "iat and nbf are in its future, which servers with a small tolerance refuse. Correct the clock (NTP) "
                f"(the assertion's time window: {EXPIRATION_FIELD}).",
            )
        )
    if jwt is not None and jwt.jti == "NONE":
        found.append(
            AssertionCause(
                JTI_FIELD,
                f"{silent}, and ID claim generator (jti) ({JTI_FIELD}) is NONE, so it carries no jti claim, which "
                "Entra and most servers require: choose UUID.",
            )
        )
    if jwt is not None and jwt.audience != settings.access_token_url:
        found.append(
            AssertionCause(
                AUDIENCE_FIELD,
                f"{silent}, and Audience (aud) {jwt.audience!r} ({AUDIENCE_FIELD}) differs from the access token URL, "
                "the audience Entra and most servers expect: leave it blank.",
            )
        )
    return found


def assertion_refusal_cause(
    body: Mapping[str, Any], number: int | None, settings: OAuthSettings, *, clock_skew: float | None
) -> AssertionCause | None:
    """Find the assertion setting a token service's refusal points at.

    :param body: the error body (``error``, ``error_description``).
    :param number: the AADSTS number, if the body has one.
    :param settings: the OAuth settings; only the JWT assertion type is considered.
    :param clock_skew: seconds this machine's clock is ahead of the service's ``Date``, when known.
    :returns: the field and explanation, or ``None`` when the refusal is not about the assertion's settings (an
        unknown certificate, a bad signature: the key's) or the answer does not allow telling.
    """
    if settings.grant_type != "client_credentials" or settings.client_assertion_type != "jwt":
        return None
    description = str(body.get("error_description") or "")
    jwt = settings.jwt
    ec_for_entra = jwt is not None and jwt.algorithm in _EC_ALGORITHMS and is_entra_url(settings.access_token_url)
    if number == _KEY_REFUSED and jwt is not None and ec_for_entra:
        return AssertionCause(
            SIGNATURE_ALGORITHM_FIELD,
            f"Signature algorithm {jwt.algorithm} ({SIGNATURE_ALGORITHM_FIELD}) signs with an EC key, and Microsoft "
            "Entra ID accepts only RSA certificates as application credentials: register an RSA certificate and sign "
            "with PS256 or RS256.",
        )
    if number == _TIME_WINDOW:
        return _time_window(description, clock_skew)
    if number in _AUDIENCE_CODES:
        return _audience(settings)
    described = _from_description(number, description, settings)
    if described is not None:
        return described
    if clock_skew is not None and abs(clock_skew) > CLOCK_SKEW_TOLERANCE_S and number in _GENERIC_CODES:
        return AssertionCause(
            EXPIRATION_FIELD,
            f"The assertion was refused, and this machine's clock is {clock_skew:+.0f} s off the token service's, "
            f"which puts the assertion outside its valid time range ({EXPIRATION_FIELD}): correct the clock.",
        )
    if number in _GENERIC_CODES and str(body.get("error") or "") == "invalid_client":
        suspects = _suspects(settings, clock_skew)
        if len(suspects) == 1:
            return suspects[0]
        if suspects:
            fields = ", ".join(suspect.field for suspect in suspects)
            return AssertionCause(
                SIGNATURE_KEY_FIELD,
                f"The assertion was refused without a reason. Settings that differ from what Entra documents are the "
                f"likely cause: check {fields}, then the signature key ({SIGNATURE_KEY_FIELD}).",
            )
    return None
