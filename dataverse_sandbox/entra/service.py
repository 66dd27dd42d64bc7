"""The sandbox's Microsoft Entra ID-compatible token service: routing, error rendering, the outage switch.

:class:`TokenService` is what the sandbox server mounts next to the Web API (it implements the
:class:`~dataverse_sandbox.contracts.TokenVerifier` protocol). It answers, for the sandbox tenant (by GUID or
domain) and the ``common`` / ``organizations`` / ``consumers`` aliases:

=========================================================  ========================================
``/{tenant}/oauth2/token``, ``/{tenant}/oauth2/v2.0/token``  token endpoint (v1 / v2)
``/{tenant}/oauth2/authorize``, ``…/oauth2/v2.0/authorize``  authorize endpoint (v1 / v2)
``/{tenant}/.well-known/openid-configuration``               v1 discovery
``/{tenant}/v2.0/.well-known/openid-configuration``          v2 discovery
``/{tenant}/discovery/keys``, ``…/discovery/v2.0/keys``       JWKS
``/{tenant}/login``, ``/{tenant}/consent``                  the sign-in forms' targets
=========================================================  ========================================

Any other path is not the token service's (:meth:`TokenService.handle` returns ``None``). An unknown tenant gets
AADSTS90002. Failures are JSON in Entra's shape on the token, discovery and key endpoints and an HTML page on the
interactive ones. Every response carries ``client-request-id`` (the client's, when it sent a GUID) and
``x-ms-request-id``. Requests are logged by route and outcome only: never a secret, assertion, code, token or
password. Not for: the Web API's own 401 challenge (the server builds it).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.wrappers import Request, Response

from dataverse_sandbox.contracts import AccessTokenClaims, ClientRegistration, Clock, TokenEventRecorder
from dataverse_sandbox.entra import aadsts, errors, pages
from dataverse_sandbox.entra.assertions import AssertionVerifier
from dataverse_sandbox.entra.authcode import AuthorizationFlow
from dataverse_sandbox.entra.clients import DEFAULT_TENANT_DOMAIN
from dataverse_sandbox.entra.directory import Directory, SandboxUser
from dataverse_sandbox.entra.discovery import openid_configuration
from dataverse_sandbox.entra.grants import GrantStore
from dataverse_sandbox.entra.interactions import InteractionStore
from dataverse_sandbox.entra.managed_identity import ManagedIdentityEndpoint
from dataverse_sandbox.entra.scopes import ResourceCatalogue
from dataverse_sandbox.entra.stats import TokenEventFanout, TokenStats
from dataverse_sandbox.entra.token_endpoint import TokenEndpoint, Version
from dataverse_sandbox.entra.tokens import TokenSigner

__all__ = ["TokenService"]

logger = logging.getLogger(__name__)

Route = Literal["token", "authorize", "discovery", "keys", "login", "consent"]

_ROUTES: dict[tuple[str, ...], tuple[Route, Version]] = {
    ("oauth2", "token"): ("token", "1.0"),
    ("oauth2", "v2.0", "token"): ("token", "2.0"),
    ("oauth2", "authorize"): ("authorize", "1.0"),
    ("oauth2", "v2.0", "authorize"): ("authorize", "2.0"),
    (".well-known", "openid-configuration"): ("discovery", "1.0"),
    ("v2.0", ".well-known", "openid-configuration"): ("discovery", "2.0"),
    ("discovery", "keys"): ("keys", "1.0"),
    ("discovery", "v2.0", "keys"): ("keys", "2.0"),
    ("login",): ("login", "2.0"),
    ("consent",): ("consent", "2.0"),
}
_HTML_ROUTES: frozenset[Route] = frozenset({"authorize", "login", "consent"})


class TokenService:
    """An Entra-compatible token service for one sandbox tenant.

    :param origin: where the service is reachable (``http://127.0.0.1:8080``); the base of every URL it issues
        and of the ``iss`` claim.
    :param tenant_id: the tenant GUID.
    :param clock: the time source shared with the Web API; :meth:`Clock.advance` expires tokens, codes, assertions.
    :param registrations: the applications.
    :param resources: the resource URIs tokens may be issued for (the Web API's origin, plus e.g.
        :data:`~dataverse_sandbox.entra.scopes.GRAPH_RESOURCE` so tests can get a token for another audience).
    :param users: the users who can sign in (see :func:`~dataverse_sandbox.entra.clients.provision_clients`).
    :param tenant_domain: the tenant's domain, accepted in paths instead of the GUID.
    :param access_token_lifetime: seconds an access token lives (``expires_in``).
    :param refresh_token_lifetime: seconds a refresh token stays usable without being used.
    :param code_lifetime: seconds an authorization code stays redeemable.
    :param assertion_skew: seconds of tolerance on a client assertion's ``exp`` / ``nbf``.
    :param access_token_leeway: seconds of tolerance when verifying an access token's ``exp`` / ``nbf``.
    :param ignore_loopback_port: accept any port for loopback redirect URIs registered without one (Entra's
        native-app rule); off by default, so redirect URIs match exactly.
    :param signing_key: the token-signing RSA key; default: a new one per start.
    :param stats: the service's own counters of tokens and refusals (:attr:`stats`); default: a new
        :class:`TokenStats`.
    :param recorders: more :class:`~dataverse_sandbox.contracts.TokenEventRecorder` objects told about every token
        issued and every refusal, after :attr:`stats` (the sandbox passes its :class:`SandboxStats`).
    """

    def __init__(
        self,
        *,
        origin: str,
        tenant_id: str,
        clock: Clock,
        registrations: Sequence[ClientRegistration],
        resources: Sequence[str],
        users: Sequence[SandboxUser] = (),
        tenant_domain: str = DEFAULT_TENANT_DOMAIN,
        access_token_lifetime: int = 3600,
        refresh_token_lifetime: int = 90 * 86400,
        code_lifetime: int = 600,
        assertion_skew: int = 60,
        access_token_leeway: int = 0,
        ignore_loopback_port: bool = False,
        signing_key: rsa.RSAPrivateKey | None = None,
        stats: TokenStats | None = None,
        recorders: Sequence[TokenEventRecorder] = (),
    ) -> None:
        self.origin = origin.rstrip("/")
        self._clock = clock
        self.stats = stats or TokenStats()
        self._events = TokenEventFanout((self.stats, *recorders))
        self.directory = Directory(
            tenant_id=tenant_id,
            domain=tenant_domain,
            registrations=registrations,
            users=users,
            ignore_loopback_port=ignore_loopback_port,
        )
        self.tenant_id = self.directory.tenant_id
        self._signer = TokenSigner(
            origin=self.origin,
            tenant_id=self.tenant_id,
            clock=clock,
            access_token_lifetime=access_token_lifetime,
            leeway=access_token_leeway,
            signing_key=signing_key,
        )
        catalogue = ResourceCatalogue(resources)
        grants = GrantStore(clock=clock, code_lifetime=code_lifetime, refresh_token_lifetime=refresh_token_lifetime)
        audiences = [
            f"{self.origin}/{tenant}/oauth2{suffix}/token"
            for tenant in (self.tenant_id, self.directory.domain)
            for suffix in ("", "/v2.0")
        ]
        self._tokens = TokenEndpoint(
            directory=self.directory,
            catalogue=catalogue,
            signer=self._signer,
            grants=grants,
            verifier=AssertionVerifier(clock=clock, audiences=audiences, skew=assertion_skew),
            stats=self._events,
        )
        self._flow = AuthorizationFlow(
            directory=self.directory,
            catalogue=catalogue,
            grants=grants,
            interactions=InteractionStore(clock=clock, lifetime=code_lifetime),
            clock=clock,
            stats=self._events,
            secure_cookies=self.origin.startswith("https://"),
        )
        self.managed_identity = ManagedIdentityEndpoint(
            directory=self.directory, catalogue=catalogue, signer=self._signer, tenant=self.tenant_id
        )
        """Loopback IMDS and App Service identity endpoints (``/metadata/identity/oauth2/token``, ``/msi/token``)."""
        self._outage_lock = threading.Lock()
        self._outage = False
        self._outage_retry_after: int | None = None

    # --- URLs -----------------------------------------------------------------------------------------------

    @property
    def authority(self) -> str:
        """:returns: ``<origin>/<tenant GUID>``, the authority a client configures."""
        return f"{self.origin}/{self.tenant_id}"

    def token_endpoint(self, version: Version = "2.0") -> str:
        """:returns: the token endpoint URL (also a valid client-assertion ``aud``)."""
        return f"{self.authority}/oauth2/token" if version == "1.0" else f"{self.authority}/oauth2/v2.0/token"

    def authorize_endpoint(self, version: Version = "2.0") -> str:
        """:returns: the authorize endpoint URL."""
        return f"{self.authority}/oauth2/authorize" if version == "1.0" else f"{self.authority}/oauth2/v2.0/authorize"

    # --- outage switch --------------------------------------------------------------------------------------

    @property
    def outage(self) -> bool:
        """Whether every token-service request gets 503 ``temporarily_unavailable`` (settable at run time)."""
        with self._outage_lock:
            return self._outage

    @outage.setter
    def outage(self, value: bool) -> None:
        with self._outage_lock:
            self._outage = value

    def set_outage(self, enabled: bool, *, retry_after: int | None = None) -> None:
        """Switch the outage on or off.

        :param enabled: whether requests fail with 503.
        :param retry_after: seconds to announce in ``Retry-After`` during the outage (none by default).
        """
        with self._outage_lock:
            self._outage = enabled
            self._outage_retry_after = retry_after

    # --- the TokenVerifier protocol -------------------------------------------------------------------------

    def verify_access_token(self, token: str, *, resource: str) -> AccessTokenClaims:
        """Verify a bearer token for a resource (signature, issuer, ``aud`` ± trailing slash, ``exp``, ``nbf``).

        :param token: the token, without ``Bearer``.
        :param resource: the resource URI.
        :returns: the verified claims.
        :raises InvalidAccessTokenError: when the token must be refused.
        """
        return self._signer.verify_access_token(token, resource=resource)

    def client(self, client_id: str) -> ClientRegistration | None:
        """:returns: the application's current registration, or ``None`` when unknown."""
        return self.directory.client(client_id)

    # --- run-time registration ------------------------------------------------------------------------------

    def register_client(self, registration: ClientRegistration) -> None:
        """Add or replace an application (tests register public clients or extra certificates)."""
        self.directory.register_client(registration)

    def register_redirect_uri(self, client_id: str, uri: str) -> None:
        """Accept one more exact redirect URI for an application.

        :raises KeyError: when the application is unknown.
        """
        self.directory.register_redirect_uri(client_id, uri)

    def set_auto_consent(self, client_id: str, enabled: bool) -> None:
        """Make the authorize endpoint skip (or show) the login and consent pages for an application.

        :raises KeyError: when the application is unknown.
        """
        self.directory.set_auto_consent(client_id, enabled)

    # --- HTTP -----------------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response | None:
        """Serve a token-service request.

        :param request: any request reaching the sandbox.
        :returns: the response, or ``None`` when the path is not the token service's.
        """
        managed = self.managed_identity.handle(request)
        if managed is not None:
            return managed
        parts = request.path.strip("/").split("/")
        route = _ROUTES.get(tuple(parts[1:])) if len(parts) >= 2 and parts[0] else None
        if route is None:
            return None
        kind, version = route
        context = errors.ErrorContext(self._clock.now(), request.headers.get("client-request-id"))
        try:
            response = self._dispatch(request, parts[0], kind, version)
        except errors.EntraError as error:
            self._events.record_refused(error.code)
            logger.info("%s v%s refused: AADSTS%s %s", kind, version, error.code, error.error)
            response = self._error_response(error, context, html=kind in _HTML_ROUTES)
        except Exception:
            # The traceback names our code only; request values (secrets, codes) are not part of it.
            logger.exception("token service failed on %s v%s", kind, version)
            response = self._error_response(aadsts.internal_error(), context, html=kind in _HTML_ROUTES)
        response.headers["client-request-id"] = context.correlation_id
        response.headers["x-ms-request-id"] = context.trace_id
        return response

    def _dispatch(self, request: Request, segment: str, kind: Route, version: Version) -> Response:
        if self.outage:
            raise aadsts.service_unavailable()
        tenant = self.directory.resolve_tenant(segment)
        if tenant is None:
            raise aadsts.tenant_not_found(
                segment, error="invalid_tenant" if kind in ("discovery", "keys") else "invalid_request"
            )
        if kind == "token":
            return _json(self._tokens.handle(request, tenant, version), cache="no-store")
        if kind == "authorize":
            return self._flow.authorize(request, tenant, version)
        if kind == "login":
            return self._flow.login(request)
        if kind == "consent":
            return self._flow.consent(request)
        if kind == "discovery":
            document = openid_configuration(
                origin=self.origin, tenant=tenant, tenant_id=self.tenant_id, version=version
            )
            return _json(document, cache="max-age=86400, private")
        return _json(self._signer.jwks(), cache="max-age=86400, private")

    def _error_response(self, error: errors.EntraError, context: errors.ErrorContext, *, html: bool) -> Response:
        status = error.status if error.status >= 400 else 400
        if html:
            response = Response(
                pages.error_page(code=error.code, description=errors.error_description(error, context)),
                status=status,
                mimetype="text/html",
            )
            response.headers["Cache-Control"] = "no-store"
        else:
            response = _json(errors.error_body(error, context), status=status, cache="no-store")
        with self._outage_lock:
            retry_after = self._outage_retry_after
        if error.status == 503 and retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response


def _json(body: dict[str, Any], *, status: int = 200, cache: str) -> Response:
    response = Response(json.dumps(body), status=status, content_type="application/json; charset=utf-8")
    response.headers["Cache-Control"] = cache
    if cache == "no-store":
        response.headers["Pragma"] = "no-cache"
    return response
