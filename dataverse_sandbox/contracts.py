"""The seam between the sandbox's token service and its Web API.

The token service (``dataverse_sandbox.entra``) issues and verifies access tokens; the Web API
(``dataverse_sandbox.dataverse``) asks it to verify the bearer token of each request. Both read time from one
:class:`Clock`, so a test can move time forward for token expiry without sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from werkzeug.wrappers import Request, Response

__all__ = [
    "AccessTokenClaims",
    "ClientRegistration",
    "Clock",
    "FederatedCredential",
    "InvalidAccessTokenError",
    "TokenEventRecorder",
    "TokenVerifier",
]


class Clock:
    """Wall-clock seconds plus an offset a test may advance. Thread-safe."""

    def __init__(self, offset: float = 0.0) -> None:
        self._offset = offset
        self._lock = threading.Lock()

    def now(self) -> float:
        """:returns: seconds since the epoch, shifted by every :meth:`advance` so far."""
        with self._lock:
            return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the clock forward.

        :param seconds: how far.
        """
        with self._lock:
            self._offset += seconds


@dataclass(frozen=True)
class FederatedCredential:
    """A federated identity credential of an application (workload identity federation).

    The sandbox cannot fetch an issuer's keys from the internet, so the issuer's public key is registered with the
    credential (the key the test or the platform signs federated tokens with).

    :param issuer: the external issuer (``iss``), e.g. a Kubernetes cluster's OIDC issuer URL.
    :param subject: the external workload (``sub``), e.g. ``system:serviceaccount:<namespace>:<name>``.
    :param public_key_pem: the issuer's signing public key (RSA or EC), PEM.
    :param audiences: the accepted ``aud`` values.
    """

    issuer: str
    subject: str
    public_key_pem: bytes
    audiences: tuple[str, ...] = ("api://AzureADTokenExchange",)


@dataclass(frozen=True)
class ClientRegistration:
    """An application registered in the sandbox tenant.

    :param client_id: the application (client) id, a GUID string.
    :param display_name: shown on the consent page.
    :param secrets: accepted client secrets (empty: secrets are refused).
    :param certificates_pem: PEM certificates whose keys may sign client assertions.
    :param redirect_uris: exact redirect URIs accepted by the authorize endpoint.
    :param auto_consent: skip the login and consent page for this client (scripts and the demo).
    :param dataverse_access: what the principal may do in the Web API: ``full``, ``read`` (403 on writes) or
        ``none`` (403 ``0x80072560``, not a member of the organization).
    :param object_id: the service principal's object id (``oid`` claim), a GUID string.
    :param federated_credentials: external tokens accepted as client assertions (workload identity federation).
    """

    client_id: str
    display_name: str
    secrets: tuple[str, ...] = ()
    certificates_pem: tuple[bytes, ...] = ()
    redirect_uris: tuple[str, ...] = ()
    auto_consent: bool = False
    dataverse_access: Literal["full", "read", "none"] = "full"
    object_id: str = ""
    federated_credentials: tuple[FederatedCredential, ...] = ()


@dataclass(frozen=True)
class AccessTokenClaims:
    """What the Web API needs to know about a verified bearer token.

    :param subject: the principal's object id (``oid``); the key for per-principal limits.
    :param client_id: the application id (``appid`` / ``azp``).
    :param audience: the ``aud`` claim as issued.
    :param expires_at: ``exp`` in epoch seconds.
    :param user_name: the signed-in user's name for delegated tokens, ``None`` for app-only tokens.
    :param raw: every claim, for diagnostics.
    """

    subject: str
    client_id: str
    audience: str
    expires_at: float
    user_name: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)


class InvalidAccessTokenError(Exception):
    """The bearer token is missing, malformed, badly signed, expired, not yet valid or for another audience.

    :param reason: a short description, used in the sandbox's own logs and statistics (never the token).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TokenEventRecorder(Protocol):
    """What the token service reports about its outcomes, to its own counters and to the sandbox's statistics.

    Implemented by :class:`~dataverse_sandbox.entra.stats.TokenStats` (the token service's own counters) and
    :class:`~dataverse_sandbox.stats.SandboxStats` (the whole sandbox's view, served by the admin endpoint).
    """

    def record_issued(self, client_id: str, grant_type: str) -> None:
        """Count one access token issued.

        :param client_id: the application it was issued to.
        :param grant_type: the grant that produced it (``client_credentials``, ``authorization_code``,
            ``refresh_token``).
        """
        ...

    def record_refused(self, code: int) -> None:
        """Count one refused token-service request.

        :param code: the AADSTS number of the error.
        """
        ...


class TokenVerifier(Protocol):
    """What the Web API needs from the token service."""

    def verify_access_token(self, token: str, *, resource: str) -> AccessTokenClaims:
        """Verify a bearer token for the given resource.

        :param token: the bearer token, without the ``Bearer`` prefix.
        :param resource: the Web API's resource URI (its origin); ``aud`` must equal it, with or without a trailing
            slash.
        :returns: the verified claims.
        :raises InvalidAccessTokenError: when the token must be refused.
        """
        ...

    def client(self, client_id: str) -> ClientRegistration | None:
        """:returns: the registration of an application, or ``None`` when unknown."""
        ...

    def handle(self, request: Request) -> Response | None:
        """Serve a token-service request (authorize, token, discovery, keys, login and consent pages).

        :returns: the response, or ``None`` when the path is not the token service's.
        """
        ...
