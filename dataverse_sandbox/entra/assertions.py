"""Verification of JWT client assertions (``private_key_jwt``) against an application's registered certificates.

Implements reference §6.3: the header's ``x5t`` (base64url SHA-1 of the certificate's DER) or ``x5t#S256``
(SHA-256) must name a registered, currently valid certificate whose key verifies the signature (RS256/384/512,
PS256/384/512, ES256/384/512); ``iss == sub == client_id``; ``aud`` is a token endpoint of this tenant (v1 or v2);
``exp`` (required) and ``nbf`` (optional, as MSAL omits it) hold within a small skew; a ``jti`` (required) is
accepted once until the assertion expires. Thumbprints are accepted unpadded (RFC 7515) and also with ``=``
padding. ``x5c`` (subject name + issuer authentication) is ignored: only registered certificates count.

Not for: secrets or deciding which authentication a client must use (``authentication.py``).
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Iterable
from typing import Any

import jwt

from dataverse_sandbox.contracts import ClientRegistration, Clock, FederatedCredential
from dataverse_sandbox.entra import aadsts
from dataverse_sandbox.entra.certificates import CertificateInfo, certificate_info

__all__ = ["ASSERTION_ALGORITHMS", "JWT_BEARER_ASSERTION_TYPE", "AssertionVerifier"]

JWT_BEARER_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

ASSERTION_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"})


def _thumbprint_hex(header_value: str) -> str:
    """:returns: the thumbprint as upper-case hex for messages (or the value as sent when it does not decode)."""
    try:
        return base64.urlsafe_b64decode(header_value.rstrip("=") + "==").hex().upper()
    except (binascii.Error, ValueError):
        return header_value


class AssertionVerifier:
    """Checks client assertions and remembers their ``jti`` until they expire. Thread-safe.

    :param clock: the time source.
    :param audiences: the accepted ``aud`` values: this tenant's v1 and v2 token endpoint URLs.
    :param skew: seconds of tolerance on ``exp`` and ``nbf``.
    """

    def __init__(self, *, clock: Clock, audiences: Iterable[str], skew: int = 60) -> None:
        self._clock = clock
        self._audiences = frozenset(audiences)
        self._skew = skew
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str], float] = {}

    def verify(self, assertion: str, registration: ClientRegistration, *, client_id: str) -> None:
        """Accept the assertion or raise Entra's error.

        :param assertion: the compact JWT from ``client_assertion``; never logged.
        :param registration: the application named by ``client_id``.
        :param client_id: the request's ``client_id``.
        :raises EntraError: AADSTS50027 (malformed, wrong audience, missing claim, replayed ``jti``),
            AADSTS700027 (unknown certificate, expired certificate, bad signature), AADSTS50048 / AADSTS700021
            (``iss``/``sub`` mismatch), AADSTS700024 (outside its time window).
        """
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            raise aadsts.assertion_invalid("Token format not valid.") from None
        algorithm = header.get("alg")
        if algorithm not in ASSERTION_ALGORITHMS:
            raise aadsts.assertion_invalid(f"Algorithm '{algorithm}' is not supported for client assertions.")
        if "x5t" not in header and "x5t#S256" not in header and registration.federated_credentials:
            self._verify_federated(assertion, algorithm, registration.federated_credentials)
            return
        certificate, presented = self._certificate(header, registration)
        now = self._clock.now()
        if not certificate.not_before <= now <= certificate.not_after:
            raise aadsts.assertion_signature_invalid(_thumbprint_hex(presented), "The key used is expired.")
        claims = self._decode(assertion, certificate, algorithm, presented)
        self._check_claims(claims, client_id, now)

    def _verify_federated(self, assertion: str, algorithm: str, credentials: Iterable[FederatedCredential]) -> None:
        """Workload identity federation: an external issuer's token, matched to a federated credential by ``iss``
        and ``sub``, verified with that issuer's key; ``aud`` must be one the credential accepts. The same token is
        presented again until the platform rotates it, so its ``jti`` is not checked for replay.
        """
        try:
            unverified: dict[str, Any] = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise aadsts.assertion_invalid("Token format not valid.") from None
        issuer, subject = unverified.get("iss"), unverified.get("sub")
        if not isinstance(issuer, str) or not isinstance(subject, str):
            raise aadsts.assertion_invalid("The federated token has no 'iss' or 'sub' claim.")
        by_issuer = [credential for credential in credentials if credential.issuer == issuer]
        if not by_issuer:
            raise aadsts.federated_issuer_unknown(issuer)
        matching = [credential for credential in by_issuer if credential.subject == subject]
        if not matching:
            raise aadsts.federated_subject_unknown(subject, issuer)
        credential = matching[0]
        try:
            claims: dict[str, Any] = jwt.decode(
                assertion,
                credential.public_key_pem,
                algorithms=[algorithm],
                options={"verify_exp": False, "verify_nbf": False, "verify_iat": False, "verify_aud": False},
            )
        except (jwt.PyJWTError, ValueError, TypeError):
            raise aadsts.federated_signature_invalid(issuer) from None
        audience = claims.get("aud")
        audiences = [audience] if isinstance(audience, str) else audience if isinstance(audience, list) else []
        if not any(value in credential.audiences for value in audiences):
            raise aadsts.federated_audience_invalid(audience)
        now = self._clock.now()
        expires, not_before = claims.get("exp"), claims.get("nbf")
        if not isinstance(expires, int | float) or isinstance(expires, bool):
            raise aadsts.assertion_invalid("The 'exp' claim is missing or not a number.")
        if now > expires + self._skew or (isinstance(not_before, int | float) and now < not_before - self._skew):
            raise aadsts.assertion_time_invalid(
                now, not_before if isinstance(not_before, int | float) else None, expires
            )

    def _certificate(self, header: dict[str, Any], registration: ClientRegistration) -> tuple[CertificateInfo, str]:
        sha256 = header.get("x5t#S256")
        sha1 = header.get("x5t")
        if not isinstance(sha256, str) and not isinstance(sha1, str):
            raise aadsts.assertion_invalid("No certificate thumbprint specified in token header.")
        presented = sha256 if isinstance(sha256, str) else str(sha1)
        for pem in registration.certificates_pem:
            info = certificate_info(pem)
            if (sha256 is None or (isinstance(sha256, str) and sha256.rstrip("=") == info.x5t_s256)) and (
                sha1 is None or (isinstance(sha1, str) and sha1.rstrip("=") == info.x5t)
            ):
                return info, presented
        raise aadsts.assertion_key_not_found(_thumbprint_hex(presented), registration.client_id)

    @staticmethod
    def _decode(assertion: str, certificate: CertificateInfo, algorithm: str, presented: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                assertion,
                certificate.certificate.public_key(),  # type: ignore[arg-type]  # RSA or EC, as registered
                algorithms=[algorithm],
                # Claims are checked by _check_claims against the injected clock and Entra's rules.
                options={
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": False,
                    "verify_iss": False,
                    "verify_sub": False,
                    "verify_jti": False,
                },
            )
        except jwt.InvalidSignatureError:
            raise aadsts.assertion_signature_invalid(
                _thumbprint_hex(presented), "The provided signature value did not match the expected signature value."
            ) from None
        except (jwt.PyJWTError, ValueError, TypeError):
            raise aadsts.assertion_signature_invalid(
                _thumbprint_hex(presented), "Key was found, but use of the key to verify the signature failed."
            ) from None
        return claims

    def _check_claims(self, claims: dict[str, Any], client_id: str, now: float) -> None:
        issuer, subject = claims.get("iss"), claims.get("sub")
        if not isinstance(issuer, str) or not isinstance(subject, str):
            raise aadsts.assertion_invalid("The 'iss' and 'sub' claims must be the client id.")
        if issuer != subject:
            raise aadsts.assertion_subject_mismatch()
        if issuer.lower() != client_id.lower():
            raise aadsts.assertion_client_mismatch()
        audience = claims.get("aud")
        audiences = [audience] if isinstance(audience, str) else audience if isinstance(audience, list) else []
        if not any(isinstance(value, str) and value in self._audiences for value in audiences):
            raise aadsts.assertion_invalid(
                f"The audience '{audience}' is not a token endpoint of this tenant (v1 or v2)."
            )
        expires, not_before = claims.get("exp"), claims.get("nbf")
        if not isinstance(expires, int | float) or isinstance(expires, bool):
            raise aadsts.assertion_invalid("The 'exp' claim is missing or not a number.")
        if not_before is not None and (not isinstance(not_before, int | float) or isinstance(not_before, bool)):
            raise aadsts.assertion_invalid("The 'nbf' claim is not a number.")
        if now > expires + self._skew or (not_before is not None and now < not_before - self._skew):
            raise aadsts.assertion_time_invalid(now, not_before, expires)
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise aadsts.assertion_invalid("The 'jti' claim is missing.")
        key = (client_id.lower(), jti)
        with self._lock:
            self._seen = {seen: until for seen, until in self._seen.items() if until >= now}
            if key in self._seen:
                raise aadsts.assertion_invalid(f"The client assertion with jti '{jti}' was already used.")
            self._seen[key] = float(expires) + self._skew
