"""The JWT client assertion (RFC 7523 §2.2, Entra's certificate credential): claims, headers and signature.

:class:`ClientAssertionSigner` loads the signature key once (on first use, since loading needs ``cryptography``) and
signs a fresh assertion for every token request: a new ``jti`` each time (Entra refuses replays) and a time window
from the injected clock. The assertion is returned as a :class:`~connector.secrets.Secret`: it is a bearer
credential for as long as it is valid.

Not for: loading or checking the key (``signing_key``) or posting the assertion (``grants``).
"""

from __future__ import annotations

import datetime
import threading
import uuid
from collections.abc import Callable
from typing import Any, Final

import jwt

from connector.errors import ConfigError, FieldError
from connector.keys.signing_key import SigningKey, load_signing_key
from connector.oauth_settings import RESERVED_CLAIMS, JwtSettings
from connector.results import Diagnostic
from connector.secrets import Secret

__all__ = ["ASSERTION_TYPE", "ClientAssertionSigner", "build_assertion_claims", "build_assertion_headers"]

ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
"""The ``client_assertion_type`` of a JWT bearer client assertion (RFC 7523)."""


def _new_jti() -> str:
    return str(uuid.uuid4())


def build_assertion_claims(settings: JwtSettings, now: int, jti: Callable[[], str] = _new_jti) -> dict[str, Any]:
    """Build the assertion's claims.

    :param settings: the JWT settings.
    :param now: the current time, epoch seconds.
    :param jti: makes a unique id (used only when the ID claim generator is ``UUID``).
    :returns: ``iss``, ``sub``, ``aud``, ``iat``, ``nbf``, ``exp`` (now + the configured seconds), ``jti`` unless
        ``NONE``, then the extended claims (as strings).
    :raises ConfigError: when an extended claim names a reserved claim (the settings parser also refuses those).
    """
    claims: dict[str, Any] = {
        "iss": settings.issuer,
        "sub": settings.subject,
        "aud": settings.audience,
        "iat": now,
        "nbf": now,
        "exp": now + settings.expiration_seconds,
    }
    if settings.jti == "UUID":
        claims["jti"] = jti()
    reserved = [
        FieldError(
            f"oauth2.jwt.extended_claims[{index}].name",
            f"'{claim.name}' is set by the connector and cannot be overridden by an extended claim",
        )
        for index, claim in enumerate(settings.extended_claims)
        if claim.name in RESERVED_CLAIMS
    ]
    if reserved:
        raise ConfigError(reserved)
    claims.update({claim.name: claim.value for claim in settings.extended_claims})
    return claims


def build_assertion_headers(settings: JwtSettings, key: SigningKey) -> dict[str, str]:
    """:returns: the JOSE headers besides ``alg``: ``typ`` and the thumbprints switched on."""
    headers = {"typ": "JWT"}
    if settings.include_x5t_s256:
        headers["x5t#S256"] = key.x5t_s256
    if settings.include_x5t:
        headers["x5t"] = key.x5t
    return headers


class ClientAssertionSigner:
    """Signs client assertions with the configured key.

    :param settings: the JWT settings.
    :param clock: returns the current time in epoch seconds.
    :param jti: makes a unique ``jti`` per assertion.
    """

    def __init__(
        self,
        settings: JwtSettings,
        *,
        clock: Callable[[], float],
        jti: Callable[[], str] = _new_jti,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._jti = jti
        self._key: SigningKey | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ClientAssertionSigner(algorithm={self._settings.algorithm!r}, issuer={self._settings.issuer!r})"

    def key(self) -> SigningKey:
        """Load and check the key on first use.

        :returns: the key and certificate.
        :raises ConfigError: when the key, certificate or password is wrong, or the key does not fit the algorithm.
        """
        with self._lock:
            if self._key is None:
                now = datetime.datetime.fromtimestamp(self._clock(), datetime.UTC)
                self._key = load_signing_key(self._settings.key, self._settings.algorithm, now=now)
            return self._key

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        """Warnings about the key (loads it when needed); a missing thumbprint header is one."""
        found = list(self.key().diagnostics)
        if not (self._settings.include_x5t or self._settings.include_x5t_s256):
            found.append(
                Diagnostic(
                    "warning",
                    "oauth2.jwt.include_x5t_s256",
                    "no thumbprint header is sent; Entra ID needs x5t#S256 or x5t to find the certificate",
                )
            )
        return tuple(found)

    def sign(self) -> Secret:
        """Sign a new assertion.

        :returns: the compact JWS, wrapped so it cannot leak into logs.
        :raises ConfigError: as :meth:`key`, or for a reserved extended claim.
        """
        key = self.key()
        claims = build_assertion_claims(self._settings, int(self._clock()), self._jti)
        token = jwt.encode(
            claims,
            key.private_key,
            algorithm=self._settings.algorithm,
            headers=build_assertion_headers(self._settings, key),
        )
        return Secret(token)
