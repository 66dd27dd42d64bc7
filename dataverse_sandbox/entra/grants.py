"""Authorization codes and refresh tokens: issue, redeem once, rotate, and revoke a whole sign-in on reuse.

Codes live ``code_lifetime`` seconds (Entra: about ten minutes) and are single-use; redeeming one again is refused
(AADSTS54005) and revokes the refresh tokens issued from it (RFC 6749 §4.1.2). Refresh tokens rotate: each
redemption returns a new one and the old one stops working. Presenting an already-rotated refresh token revokes
the whole family of that sign-in (AADSTS50173), as oidc-provider does and RFC 9700 §4.14.2 recommends; Entra
itself keeps old refresh tokens valid, so this is a deliberate sandbox strictness that catches a client which
loses a rotated token. Only SHA-256 hashes of codes and tokens are kept. Thread-safe.

Not for: client authentication or minting access tokens.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import uuid
from dataclasses import dataclass
from typing import Literal

from dataverse_sandbox.contracts import Clock
from dataverse_sandbox.entra import aadsts
from dataverse_sandbox.entra.pkce import ChallengeMethod, verify_code_verifier
from dataverse_sandbox.entra.scopes import RequestedAccess

__all__ = ["Authorization", "GrantStore"]


@dataclass(frozen=True)
class Authorization:
    """What a signed-in user approved for an application: the basis of its codes and refresh tokens.

    :param client_id: the application.
    :param user_id: the user's object id.
    :param access: the resource and OpenID Connect scopes requested at authorize.
    :param version: the protocol version of the authorize endpoint used (``1.0`` or ``2.0``).
    :param nonce: the authorize request's ``nonce``, for the ID token.
    """

    client_id: str
    user_id: str
    access: RequestedAccess
    version: Literal["1.0", "2.0"]
    nonce: str | None = None


@dataclass
class _Code:
    authorization: Authorization
    redirect_uri: str
    challenge: str | None
    method: ChallengeMethod | None
    expires_at: float
    family: str
    redeemed: bool = False


@dataclass
class _RefreshToken:
    authorization: Authorization
    family: str
    issued_at: float
    expires_at: float
    rotated: bool = False


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


class GrantStore:
    """In-memory codes and refresh tokens.

    :param clock: the time source.
    :param code_lifetime: seconds an authorization code stays redeemable.
    :param refresh_token_lifetime: seconds a refresh token stays usable without being used (Entra: 90 days).
    """

    def __init__(self, *, clock: Clock, code_lifetime: int = 600, refresh_token_lifetime: int = 90 * 86400) -> None:
        self._clock = clock
        self.code_lifetime = code_lifetime
        self.refresh_token_lifetime = refresh_token_lifetime
        self._lock = threading.Lock()
        self._codes: dict[str, _Code] = {}
        self._refresh_tokens: dict[str, _RefreshToken] = {}
        self._revoked_families: set[str] = set()
        self._next_purge = 0.0

    def issue_code(
        self,
        authorization: Authorization,
        *,
        redirect_uri: str,
        challenge: str | None,
        method: ChallengeMethod | None,
    ) -> str:
        """Issue an authorization code.

        :param authorization: what it grants.
        :param redirect_uri: the redirect URI it is sent to; redemption must repeat it.
        :param challenge: the PKCE challenge, if any.
        :param method: the PKCE method, if any.
        :returns: the code; never logged.
        """
        code = secrets.token_urlsafe(48)
        now = self._clock.now()
        with self._lock:
            self._purge(now)
            self._codes[_digest(code)] = _Code(
                authorization, redirect_uri, challenge, method, now + self.code_lifetime, family=str(uuid.uuid4())
            )
        return code

    def redeem_code(
        self, code: str, *, client_id: str, redirect_uri: str, code_verifier: str | None
    ) -> tuple[Authorization, str]:
        """Redeem a code once.

        :param code: the ``code`` parameter.
        :param client_id: the authenticated client.
        :param redirect_uri: the ``redirect_uri`` parameter.
        :param code_verifier: the ``code_verifier`` parameter, if any.
        :returns: the authorization and the refresh-token family to issue into.
        :raises EntraError: AADSTS9002313 (unknown), AADSTS70000 (another client's), AADSTS54005 (reused),
            AADSTS70008 (expired), AADSTS500112 (other redirect URI), PKCE errors.
        """
        now = self._clock.now()
        with self._lock:
            record = self._codes.get(_digest(code))
            if record is None:
                raise aadsts.grant_malformed("authorization code")
            if record.authorization.client_id.lower() != client_id.lower():
                raise aadsts.grant_for_other_client("authorization code")
            if record.redeemed:
                self._revoked_families.add(record.family)
                raise aadsts.code_already_redeemed()
            if now >= record.expires_at:
                raise aadsts.grant_expired()
            if redirect_uri != record.redirect_uri:
                raise aadsts.redirect_uri_mismatch(redirect_uri)
            verify_code_verifier(code_verifier, record.challenge, record.method)
            record.redeemed = True
            return record.authorization, record.family

    def issue_refresh_token(self, authorization: Authorization, family: str) -> str:
        """Issue a refresh token in a sign-in's family.

        :returns: the token; never logged.
        """
        token = secrets.token_urlsafe(64)
        now = self._clock.now()
        with self._lock:
            self._refresh_tokens[_digest(token)] = _RefreshToken(
                authorization, family, issued_at=now, expires_at=now + self.refresh_token_lifetime
            )
        return token

    def redeem_refresh_token(self, token: str, *, client_id: str) -> tuple[Authorization, str]:
        """Use a refresh token once; the caller issues its replacement into the returned family.

        :param token: the ``refresh_token`` parameter.
        :param client_id: the authenticated client.
        :returns: the authorization and its family.
        :raises EntraError: AADSTS9002313 (unknown), AADSTS50173 (revoked or reused: revokes the family),
            AADSTS70000 (another client's), AADSTS700082 (expired).
        """
        now = self._clock.now()
        with self._lock:
            record = self._refresh_tokens.get(_digest(token))
            if record is None:
                raise aadsts.grant_malformed("refresh token")
            if record.family in self._revoked_families:
                raise aadsts.grant_revoked()
            if record.authorization.client_id.lower() != client_id.lower():
                raise aadsts.grant_for_other_client("refresh token")
            if record.rotated:
                self._revoked_families.add(record.family)
                raise aadsts.grant_revoked()
            if now >= record.expires_at:
                raise aadsts.refresh_token_expired(record.issued_at, now - record.issued_at)
            record.rotated = True
            return record.authorization, record.family

    def revoke_family(self, family: str) -> None:
        """Make every refresh token of a sign-in unusable (as an admin revoking sessions would)."""
        with self._lock:
            self._revoked_families.add(family)

    def _purge(self, now: float) -> None:
        # Forget long-expired codes now and then, so a long benchmark does not grow memory without bound.
        if now < self._next_purge:
            return
        self._next_purge = now + 60
        horizon = now - self.code_lifetime
        self._codes = {key: code for key, code in self._codes.items() if code.expires_at > horizon}
