"""Minting and verifying the sandbox's JWTs (access and ID tokens) with an RSA key generated per start.

Access tokens follow Entra's v1 token format whichever endpoint issued them, because that is what Dataverse
receives (its App ID URI is the ``aud``; reference §6.4): ``RS256`` with ``kid`` and ``x5t`` headers, ``iss`` =
``<origin>/<tenant>/``, ``appid`` / ``appidacr``, ``scp`` for delegated tokens and ``upn`` for users. The key is
published as a JWKS. Nothing survives a restart: a token or cached JWKS from an earlier run fails verification,
as Entra's key rollover would make it. Not for: deciding whether a token may be issued (``token_endpoint.py``).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from dataverse_sandbox.contracts import AccessTokenClaims, Clock, InvalidAccessTokenError
from dataverse_sandbox.entra.certificates import b64url, certificate_info, certificate_pem, self_signed_certificate
from dataverse_sandbox.entra.directory import SandboxUser

__all__ = ["IssuedToken", "TokenSigner"]

_ALGORITHM = "RS256"


@dataclass(frozen=True)
class IssuedToken:
    """A signed JWT and its times (epoch seconds).

    :param value: the compact JWT; never logged.
    :param claims: its payload.
    """

    value: str = field(repr=False)
    claims: dict[str, Any] = field(repr=False)
    issued_at: int
    not_before: int
    expires_at: int


def _pairwise_subject(object_id: str, client_id: str) -> str:
    # Entra's `sub` is a per-application pairwise identifier, not the object id.
    return b64url(hashlib.sha256(f"{object_id}:{client_id.lower()}".encode()).digest())


def _same_resource(audience: str, resource: str) -> bool:
    return audience.rstrip("/").lower() == resource.rstrip("/").lower()


class TokenSigner:
    """Signs the sandbox's tokens and checks the ones presented to the Web API.

    :param origin: the token service's origin (``http://127.0.0.1:8080``), the base of ``iss``.
    :param tenant_id: the tenant GUID (``tid``).
    :param clock: the time source; :meth:`Clock.advance` expires tokens.
    :param access_token_lifetime: seconds from issue to ``exp``.
    :param leeway: seconds of tolerance on ``exp`` / ``nbf`` when verifying access tokens.
    :param signing_key: the RSA key; default: a new 2048-bit key (tests share one to stay fast).
    """

    def __init__(
        self,
        *,
        origin: str,
        tenant_id: str,
        clock: Clock,
        access_token_lifetime: int = 3600,
        leeway: int = 0,
        signing_key: rsa.RSAPrivateKey | None = None,
    ) -> None:
        self._origin = origin.rstrip("/")
        self._tenant_id = tenant_id
        self._clock = clock
        self.access_token_lifetime = access_token_lifetime
        self._leeway = leeway
        # Signature checks dominate the cost of serving a request; a token's signature never changes, so it is
        # checked once. Times, issuer and audience are still checked on every use.
        self._verified: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._verified_lock = threading.Lock()
        self._key = signing_key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
        certificate = self_signed_certificate(self._key, "sandbox-token-signing", not_before=clock.now())
        info = certificate_info(certificate_pem(certificate))
        # Entra's v1 keys use the certificate thumbprint as both `kid` and `x5t`.
        self.key_id = info.x5t
        self._x5c = base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode("ascii")

    @property
    def v1_issuer(self) -> str:
        """:returns: ``<origin>/<tenant>/``, the ``iss`` of access tokens and v1 ID tokens."""
        return f"{self._origin}/{self._tenant_id}/"

    @property
    def v2_issuer(self) -> str:
        """:returns: ``<origin>/<tenant>/v2.0``, the ``iss`` of v2 ID tokens and of the v2 discovery document."""
        return f"{self._origin}/{self._tenant_id}/v2.0"

    def jwks(self) -> dict[str, Any]:
        """:returns: the signing key as a JSON Web Key Set, with ``x5t`` and ``x5c`` as Entra publishes them."""
        numbers = self._key.public_key().public_numbers()
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "use": "sig",
                    "alg": _ALGORITHM,
                    "kid": self.key_id,
                    "x5t": self.key_id,
                    "n": b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
                    "e": b64url(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
                    "x5c": [self._x5c],
                    "issuer": self.v2_issuer,
                }
            ]
        }

    def _sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(
            claims, self._key, algorithm=_ALGORITHM, headers={"typ": "JWT", "kid": self.key_id, "x5t": self.key_id}
        )

    def issue_access_token(
        self,
        *,
        audience: str,
        client_id: str,
        principal_id: str,
        appidacr: Literal["0", "1", "2"],
        user: SandboxUser | None = None,
        scp: str | None = None,
    ) -> IssuedToken:
        """Mint an access token.

        :param audience: the resource exactly as requested (``aud``).
        :param client_id: the application (``appid``).
        :param principal_id: the service principal's object id, the ``oid`` of app-only tokens.
        :param appidacr: ``0`` public client, ``1`` secret, ``2`` certificate.
        :param user: the signed-in user for delegated tokens; ``None`` for app-only tokens.
        :param scp: the delegated permissions (``user_impersonation``), for delegated tokens.
        :returns: the token.
        """
        now = int(self._clock.now())
        expires = now + self.access_token_lifetime
        claims: dict[str, Any] = {
            "aud": audience,
            "iss": self.v1_issuer,
            "iat": now,
            "nbf": now,
            "exp": expires,
            "appid": client_id,
            "appidacr": appidacr,
            "idp": self.v1_issuer,
            "tid": self._tenant_id,
            "uti": secrets.token_urlsafe(16),
            "ver": "1.0",
        }
        if user is None:
            # Dataverse exposes no application permissions to Entra, so app-only tokens carry no `roles`.
            claims.update(oid=principal_id, sub=principal_id)
        else:
            claims.update(
                oid=user.object_id,
                sub=_pairwise_subject(user.object_id, client_id),
                upn=user.user_name,
                unique_name=user.user_name,
                name=user.display_name,
                scp=scp or "",
                amr=["pwd"],
                acr="1",
            )
            del claims["idp"]
        return IssuedToken(self._sign(claims), claims, now, now, expires)

    def issue_id_token(
        self, *, client_id: str, user: SandboxUser, nonce: str | None, version: Literal["1.0", "2.0"]
    ) -> str:
        """Mint an ID token for the application the user signed in to.

        :param client_id: the application (``aud``).
        :param user: the signed-in user.
        :param nonce: the authorize request's ``nonce``, echoed when given.
        :param version: ``2.0`` for the v2 endpoints, ``1.0`` for v1.
        :returns: the signed JWT.
        """
        now = int(self._clock.now())
        claims: dict[str, Any] = {
            "aud": client_id,
            "iss": self.v2_issuer if version == "2.0" else self.v1_issuer,
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "sub": _pairwise_subject(user.object_id, client_id),
            "oid": user.object_id,
            "tid": self._tenant_id,
            "name": user.display_name,
            "ver": version,
        }
        if version == "2.0":
            claims["preferred_username"] = user.user_name
        else:
            claims.update(upn=user.user_name, unique_name=user.user_name, amr=["pwd"])
        if nonce:
            claims["nonce"] = nonce
        return self._sign(claims)

    def verify_access_token(self, token: str, *, resource: str) -> AccessTokenClaims:
        """Check a bearer token presented to a resource.

        :param token: the compact JWT, without ``Bearer``.
        :param resource: the resource's URI; ``aud`` must equal it with or without a trailing slash.
        :returns: the verified claims.
        :raises InvalidAccessTokenError: for a malformed, foreign, badly signed, expired, not yet valid or
            wrong-audience token; the reason never contains the token.
        """
        claims = self._signature_checked(token)
        if claims["iss"] != self.v1_issuer or claims["tid"] != self._tenant_id:
            raise InvalidAccessTokenError("issued by another tenant")
        if not isinstance(claims["aud"], str) or not _same_resource(claims["aud"], resource):
            raise InvalidAccessTokenError("audience is another resource")
        now = self._clock.now()
        if now >= float(claims["exp"]) + self._leeway:
            raise InvalidAccessTokenError("expired")
        if now < float(claims["nbf"]) - self._leeway:
            raise InvalidAccessTokenError("not yet valid")
        return AccessTokenClaims(
            subject=str(claims["oid"]),
            client_id=str(claims["appid"]),
            audience=claims["aud"],
            expires_at=float(claims["exp"]),
            user_name=claims.get("upn"),
            raw=claims,
        )

    def _signature_checked(self, token: str) -> dict[str, Any]:
        """:returns: the claims of a token whose signature and required claims were checked (cached, 1024 tokens)."""
        with self._verified_lock:
            cached = self._verified.get(token)
            if cached is not None:
                self._verified.move_to_end(token)
                return cached
        claims = self._decode_signed(token)
        with self._verified_lock:
            self._verified[token] = claims
            while len(self._verified) > 1024:
                self._verified.popitem(last=False)
        return claims

    def _decode_signed(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidAccessTokenError("malformed token") from None
        if header.get("alg") != _ALGORITHM:
            raise InvalidAccessTokenError(f"unexpected algorithm {header.get('alg')!r}")
        if header.get("kid") != self.key_id:
            raise InvalidAccessTokenError("signed by an unknown key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key.public_key(),
                algorithms=[_ALGORITHM],
                # Times and audience are checked below against the injected clock and with the slash rule.
                options={
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": False,
                    "verify_iss": False,
                    "require": ["aud", "iss", "exp", "nbf", "appid", "oid", "tid"],
                },
            )
        except jwt.InvalidSignatureError:
            raise InvalidAccessTokenError("invalid signature") from None
        except jwt.PyJWTError as exc:
            raise InvalidAccessTokenError(f"invalid token: {type(exc).__name__}") from None
        return claims
