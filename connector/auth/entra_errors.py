"""Token and authorization errors of Entra ID (or any OAuth 2.0 server), turned into errors naming the field to fix.

Entra's error body carries an OAuth ``error`` code, an ``error_description`` whose first line is
``AADSTSnnnn: <text>``, and ``error_codes``. The AADSTS number says precisely what is wrong (a wrong secret, an
unknown certificate, a tenant that does not exist), so it is looked up first; servers that give only the OAuth code
(oidc-provider says "client authentication failed" for every credential problem) fall back to a table by ``error``.
Refusals of a JWT client assertion are first read by :mod:`connector.auth.assertion_refusals` (time window and
clock, audience, ``jti``). The result names the form field in :attr:`~connector.errors.ConnectorError.field` and in
its message, quotes the server's first description line (secrets scrubbed) and keeps the OAuth code in ``code``,
except that every error whose remedy is to run the authorization-code flow again carries
:data:`AUTHORIZATION_REQUIRED` instead, so a host can branch on one value.

Not for: reading HTTP responses (``token_response``) or deciding retries (``transport``).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from connector.auth.assertion_refusals import CLOCK_SKEW_TOLERANCE_S, assertion_refusal_cause
from connector.errors import AuthError, ConnectorError, TransientError
from connector.excerpts import CODE_LIMIT, excerpt
from connector.oauth_settings import (
    AUTHORIZATION_PARAMETERS_FIELD,
    AUTHORIZATION_URL_FIELD,
    CALLBACK_URL_FIELD,
    CLIENT_ID_FIELD,
    CLIENT_SECRET_FIELD,
    EXPIRATION_FIELD,
    FEDERATED_TOKEN_FILE_FIELD,
    GRANT_TYPE_FIELD,
    ISSUER_FIELD,
    SCOPE_FIELD,
    SIGNATURE_KEY_FIELD,
    SUBJECT_FIELD,
    TOKEN_PARAMETERS_FIELD,
    TOKEN_URL_FIELD,
    OAuthSettings,
    derive_authorization_url,
)
from connector.secrets import REDACTED

__all__ = [
    "AUTHORIZATION_REQUIRED",
    "CLOCK_SKEW_TOLERANCE_S",
    "FIELD_LABELS",
    "authorization_callback_error",
    "authorization_required",
    "token_endpoint_error",
]

AUTHORIZATION_REQUIRED: Final = "authorization_required"
"""``ConnectorError.code`` of every error whose remedy is to authorize the connection again."""

FIELD_LABELS: Final = {
    GRANT_TYPE_FIELD: "Grant Type",
    CLIENT_ID_FIELD: "Client ID",
    CLIENT_SECRET_FIELD: "Client Secret",
    FEDERATED_TOKEN_FILE_FIELD: "Federated Token File",
    SIGNATURE_KEY_FIELD: "Signature Key",
    EXPIRATION_FIELD: "Expiration (exp)",
    ISSUER_FIELD: "Issuer (iss)",
    SUBJECT_FIELD: "Subject (sub)",
    TOKEN_URL_FIELD: "Access Token URL",
    SCOPE_FIELD: "Scope",
    TOKEN_PARAMETERS_FIELD: "Access Token Parameters",
    AUTHORIZATION_PARAMETERS_FIELD: "Authorization Parameters",
    CALLBACK_URL_FIELD: "the callback (redirect) URL registered with the application",
}
"""How messages name each field."""

_DESCRIPTION_LIMIT: Final = 300
_AADSTS: Final = re.compile(r"AADSTS(\d{1,9})(?!\d)", re.ASCII)
_MISSING_PARAMETER: Final = re.compile(r"parameter: '([^']+)'")


class _Target(enum.Enum):
    """What the user must fix; resolved to a field from the settings."""

    # The S105 exceptions below: ruff takes members named like secrets for passwords; these name targets.

    CLIENT_ID = "client_id"
    CLIENT_SECRET = "client_secret"  # noqa: S105
    SIGNATURE_KEY = "signature_key"
    CREDENTIAL = "credential"  # the secret or the key, whichever the connection uses
    ASSERTION_TIME = "assertion_time"
    ISSUER = "issuer"
    SUBJECT = "subject"
    RESOURCE = "resource"
    SCOPE = "scope"
    MISSING_SCOPE = "missing_scope"  # always Scope: it is where the request's scope comes from
    TOKEN_URL = "token_url"  # noqa: S105
    TOKEN_PARAMETERS = "token_parameters"  # noqa: S105
    GRANT_TYPE = "grant_type"
    CALLBACK = "callback"
    REAUTHORIZE = "reauthorize"
    TRANSIENT = "transient"
    UNKNOWN = "unknown"


# AADSTS number -> what to fix and why (reference: dataverse-webapi.md §6.6 and Entra's error code list).
_BY_AADSTS: Final[dict[int, tuple[_Target, str]]] = {
    7000215: (_Target.CLIENT_SECRET, "is wrong: enter the secret's value, not its id"),
    7000222: (_Target.CLIENT_SECRET, "has expired: create a new secret in the app registration"),
    7000218: (_Target.CREDENTIAL, "was not sent: the application needs a client secret or a certificate"),
    70002: (_Target.CREDENTIAL, "was refused"),
    700025: (_Target.CLIENT_SECRET, "must be blank: the application is a public client and takes no credential"),
    700027: (
        _Target.SIGNATURE_KEY,
        (
            "was refused: its certificate (thumbprint) is not registered with the application, or the signature "
            "does not verify with it; upload the certificate under Certificates & secrets"
        ),
    ),
    50027: (_Target.SIGNATURE_KEY, "produced an assertion the service could not accept"),
    700024: (
        _Target.ASSERTION_TIME,
        "puts the assertion outside its valid time range: check this machine's clock",
    ),
    700021: (_Target.ISSUER, "must equal the client ID"),
    70021: (
        _Target.CREDENTIAL,
        "holds a token no federated credential of the application matches: register its issuer and subject",
    ),
    700211: (_Target.CREDENTIAL, "holds a token whose issuer no federated credential of the application names"),
    700212: (
        _Target.CREDENTIAL,
        "holds a token whose audience is not the federated credential's (api://AzureADTokenExchange)",
    ),
    700213: (_Target.CREDENTIAL, "holds a token whose subject no federated credential of the application names"),
    50048: (_Target.SUBJECT, "must equal the issuer (the client ID)"),
    700016: (_Target.CLIENT_ID, "is not an application in this tenant: check the id and the tenant"),
    7000112: (_Target.CLIENT_ID, "names an application that is disabled"),
    500011: (_Target.RESOURCE, "names a resource that is not in the tenant: use the Web API's protocol and host"),
    901002: (_Target.RESOURCE, "is not accepted by a v2.0 endpoint: remove it and set Scope to <resource>/.default"),
    70011: (_Target.SCOPE, "is not valid"),
    1002012: (_Target.SCOPE, "must be https://<org>.crm.dynamics.com/.default for client credentials"),
    700022: (_Target.SCOPE, "must name one resource only"),
    700023: (_Target.SCOPE, "names no resource"),
    90002: (_Target.TOKEN_URL, "names a tenant that does not exist"),
    900023: (_Target.TOKEN_URL, "names a tenant that is not valid"),
    9001023: (_Target.TOKEN_URL, "must name your tenant, not /common or /consumers, for this grant"),
    70003: (_Target.GRANT_TYPE, "is not supported by this application or endpoint"),
    50011: (_Target.CALLBACK, "is not registered as a redirect URI of the application"),
    500112: (_Target.CALLBACK, "differs from the one the authorization used"),
    54005: (_Target.REAUTHORIZE, "the authorization code was already redeemed"),
    70008: (_Target.REAUTHORIZE, "the authorization code or refresh token has expired"),
    700082: (_Target.REAUTHORIZE, "the refresh token has expired"),
    50173: (_Target.REAUTHORIZE, "the refresh token was revoked"),
    65001: (_Target.REAUTHORIZE, "the user or an administrator has not consented to the application"),
    65004: (_Target.REAUTHORIZE, "the user declined to consent"),
    70000: (_Target.REAUTHORIZE, "the grant was issued to another application"),
    501481: (_Target.REAUTHORIZE, "the PKCE code verifier does not match"),
    90033: (_Target.TRANSIENT, "the token service is temporarily unavailable"),
    50000: (_Target.TRANSIENT, "the token service failed to issue a token"),
}

# OAuth ``error`` -> what to fix, when no AADSTS number says more (RFC 6749 §5.2, RFC 8707 §2, OIDC).
_BY_ERROR: Final[dict[str, tuple[_Target, str]]] = {
    "invalid_client": (_Target.CREDENTIAL, "was refused (or the client ID is unknown)"),
    "unauthorized_client": (_Target.CLIENT_ID, "is not allowed to use this grant, or is unknown"),
    "invalid_grant": (_Target.REAUTHORIZE, "the grant (authorization code or refresh token) is invalid or expired"),
    "invalid_resource": (_Target.RESOURCE, "names a resource the service does not know"),
    "invalid_target": (_Target.RESOURCE, "names a resource the service does not know"),
    "invalid_scope": (_Target.SCOPE, "is not valid"),
    "unsupported_grant_type": (_Target.GRANT_TYPE, "is not supported by the service"),
    "access_denied": (_Target.REAUTHORIZE, "the user or the service denied access"),
    "consent_required": (_Target.REAUTHORIZE, "consent is required"),
    "interaction_required": (_Target.REAUTHORIZE, "the user must sign in interactively"),
    "login_required": (_Target.REAUTHORIZE, "the user must sign in"),
    "temporarily_unavailable": (_Target.TRANSIENT, "the service is temporarily unavailable"),
    "server_error": (_Target.TRANSIENT, "the service failed"),
    "invalid_request": (_Target.TOKEN_PARAMETERS, "make a request the service does not accept"),
}


_FEDERATED_TARGETS: Final = frozenset(
    {_Target.CREDENTIAL, _Target.SIGNATURE_KEY, _Target.ASSERTION_TIME, _Target.ISSUER, _Target.SUBJECT}
)
"""With workload identity federation, what the assertion carries comes from the federated token file."""


def _field(target: _Target, settings: OAuthSettings) -> str | None:
    if settings.client_assertion_type == "federated_token_file" and target in _FEDERATED_TARGETS:
        return FEDERATED_TOKEN_FILE_FIELD
    if target is _Target.CREDENTIAL:
        if settings.grant_type == "client_credentials" and settings.client_assertion_type == "jwt":
            return SIGNATURE_KEY_FIELD
        return CLIENT_SECRET_FIELD if settings.client_secret else CLIENT_ID_FIELD
    if target is _Target.SCOPE and not settings.scope:
        return settings.resource_field
    fields = {
        _Target.CLIENT_ID: CLIENT_ID_FIELD,
        _Target.CLIENT_SECRET: CLIENT_SECRET_FIELD,
        _Target.SIGNATURE_KEY: SIGNATURE_KEY_FIELD,
        _Target.ASSERTION_TIME: EXPIRATION_FIELD,
        _Target.ISSUER: ISSUER_FIELD,
        _Target.SUBJECT: SUBJECT_FIELD,
        _Target.RESOURCE: settings.resource_field,
        _Target.SCOPE: SCOPE_FIELD,
        _Target.MISSING_SCOPE: SCOPE_FIELD,
        _Target.TOKEN_URL: TOKEN_URL_FIELD,
        _Target.TOKEN_PARAMETERS: TOKEN_PARAMETERS_FIELD,
        _Target.GRANT_TYPE: GRANT_TYPE_FIELD,
        _Target.CALLBACK: CALLBACK_URL_FIELD,
    }
    return fields.get(target)


def _subject(field: str, settings: OAuthSettings) -> str:
    label = FIELD_LABELS.get(field, field)
    if field in {TOKEN_PARAMETERS_FIELD, AUTHORIZATION_PARAMETERS_FIELD} and settings.resource:
        return f"The resource parameter {settings.resource!r} in {label} ({field})"
    if field == TOKEN_URL_FIELD:
        return f"The tenant in {label} {settings.access_token_url!r} ({field})"
    if field == CALLBACK_URL_FIELD:
        return f"The callback URL {settings.callback_url!r}"
    if field == SCOPE_FIELD and settings.scope:
        return f"{label} {settings.scope!r} ({field})"
    return f"{label} ({field})"


def _aadsts(body: Mapping[str, Any]) -> int | None:
    codes = body.get("error_codes")
    if isinstance(codes, list) and codes and isinstance(codes[0], int):
        return codes[0]
    match = _AADSTS.search(str(body.get("error_description") or ""))
    return int(match.group(1)) if match else None


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def _said(body: Mapping[str, Any], secrets: Iterable[str]) -> str:
    """The server's own words: its error code and the first line of its description (no trace ids)."""
    error = excerpt(str(body.get("error") or "error"), limit=CODE_LIMIT, what="the OAuth error code", secrets=secrets)
    description = str(body.get("error_description") or "").strip().splitlines()
    first = description[0].strip() if description else ""
    if len(first) > _DESCRIPTION_LIMIT:
        first = first[:_DESCRIPTION_LIMIT] + "..."
    return _scrub(f"{error}: {first}" if first else error, secrets)


def authorization_required(reason: str, *, said: str | None = None, status: int | None = None) -> AuthError:
    """Build the error that tells the user to authorize the connection again.

    :param reason: why, in a few words.
    :param said: the server's words, if any.
    :param status: the HTTP status, if any.
    :returns: an :class:`AuthError` whose ``code`` is :data:`AUTHORIZATION_REQUIRED`.
    """
    message = f"The connection must be authorized again: {reason}. Run the authorization (Generate) again."
    if said:
        message += f" The identity provider said: {said}"
    return AuthError(message, code=AUTHORIZATION_REQUIRED, status=status)


def _build(
    target: _Target, explanation: str, settings: OAuthSettings, *, said: str, status: int | None, code: str
) -> ConnectorError:
    if target is _Target.TRANSIENT:
        return TransientError(
            f"The token service at {settings.access_token_url} is unavailable ({explanation}); try again later. "
            f"It said: {said}",
            status=status,
            code=code,
            field=TOKEN_URL_FIELD,
        )
    if target is _Target.REAUTHORIZE:
        return authorization_required(explanation, said=said, status=status)
    field = _field(target, settings)
    if field is None:
        return AuthError(f"The identity provider refused the request: {said}", status=status, code=code)
    return AuthError(
        f"{_subject(field, settings)} {explanation}. The identity provider said: {said}",
        field=field,
        status=status,
        code=code,
    )


def _missing_parameter_target(body: Mapping[str, Any]) -> _Target:
    match = _MISSING_PARAMETER.search(str(body.get("error_description") or ""))
    name = match.group(1) if match else ""
    if name in {"client_secret", "client_assertion"}:
        return _Target.CREDENTIAL
    if name == "client_id":
        return _Target.CLIENT_ID
    if name == "scope":
        return _Target.MISSING_SCOPE
    return _Target.TOKEN_PARAMETERS


def token_endpoint_error(
    body: Mapping[str, Any],
    settings: OAuthSettings,
    *,
    status: int | None,
    grant: str,
    clock_skew: float | None = None,
    secrets: Iterable[str] = (),
) -> ConnectorError:
    """Turn a token endpoint's error body into an error naming the field to fix.

    :param body: the JSON error body (``error``, ``error_description``, ``error_codes`` ...).
    :param settings: the OAuth settings (decide which field a credential error concerns).
    :param status: the HTTP status.
    :param grant: the ``grant_type`` of the request that failed (``refresh_token`` failures mean authorize again).
    :param clock_skew: seconds our clock is ahead of the service's (from its ``Date`` header), when known.
    :param secrets: values to scrub from the server's text, should it echo one.
    :returns: an :class:`AuthError`, or a :class:`TransientError` for an unavailable service.
    """
    code = str(body.get("error") or "")
    said = _said(body, secrets)
    number = _aadsts(body)
    if number == 900144:
        target, explanation = _missing_parameter_target(body), "is missing from the request"
        if target is _Target.MISSING_SCOPE:
            explanation = (
                "is required by this endpoint and was not sent (Entra's v2 endpoints take the resource inside Scope, "
                "never as a resource parameter): set it, e.g. https://<org>.crm.dynamics.com/.default"
            )
    elif number in _BY_AADSTS:
        target, explanation = _BY_AADSTS[number]
    elif code in _BY_ERROR:
        target, explanation = _BY_ERROR[code]
    elif status is not None and status >= 500:
        target, explanation = _Target.TRANSIENT, f"HTTP {status}"
    else:
        target, explanation = _Target.UNKNOWN, ""
    if target in {_Target.CREDENTIAL, _Target.SIGNATURE_KEY, _Target.ASSERTION_TIME, _Target.UNKNOWN}:
        cause = assertion_refusal_cause(body, number, settings, clock_skew=clock_skew)
        if cause is not None:
            return AuthError(
                f"{cause.message} The identity provider said: {said}", field=cause.field, status=status, code=code
            )
    if target is _Target.REAUTHORIZE and grant == "client_credentials":
        target, explanation = _Target.CREDENTIAL, "was refused"
    return _build(target, explanation, settings, said=said, status=status, code=code)


def authorization_callback_error(params: Mapping[str, str], settings: OAuthSettings) -> ConnectorError:
    """Turn an ``error=`` redirect from the authorization endpoint into an error naming the field to fix.

    :param params: the callback's query parameters (``error``, ``error_description``).
    :param settings: the OAuth settings.
    :returns: an :class:`AuthError` (or :class:`TransientError`) explaining the refusal.
    """
    body: dict[str, Any] = {"error": params.get("error", ""), "error_description": params.get("error_description", "")}
    code = str(body["error"])
    said = _said(body, ())
    number = _aadsts(body)
    if number in _BY_AADSTS:
        target, explanation = _BY_AADSTS[number]
    elif code in _BY_ERROR and code != "invalid_request":
        target, explanation = _BY_ERROR[code]
    else:
        target, explanation = _Target.UNKNOWN, ""
    derived = settings.authorization_url == derive_authorization_url(settings.access_token_url)
    if target is _Target.TOKEN_URL and settings.authorization_url and not derived:
        return AuthError(
            f"The tenant in Authorization URL {settings.authorization_url!r} ({AUTHORIZATION_URL_FIELD}) "
            f"{explanation}. The identity provider said: {said}",
            field=AUTHORIZATION_URL_FIELD,
            code=code,
        )
    if target is _Target.UNKNOWN:
        return AuthError(f"The authorization was refused: {said}", code=code)
    return _build(target, explanation, settings, said=said, status=None, code=code)
