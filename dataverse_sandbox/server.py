"""The running sandbox: a threaded werkzeug server on loopback and the :class:`Sandbox` handle tests and the CLI use.

``with Sandbox(SandboxConfig()) as sb:`` starts the server on a free port (optionally https with a CA it generates),
provisions the token service's applications, and exposes the URLs, files and run-time handles (clock, limits,
faults, statistics) a test needs; leaving the block stops the server and joins its thread.
Requests flow through the middlewares, outermost first: the request recorder (it must see what the others did),
the fault injector, the service-protection limits, the request-body limit, then the router: ``/api/`` to the Web
API, ``/_sandbox/`` to the admin endpoint, anything else to the token service, else 404.
Not for Web API behaviour (:mod:`.dataverse`) or tokens (:mod:`.entra`).
"""

from __future__ import annotations

import logging
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from dataverse_sandbox.admin import admin_app
from dataverse_sandbox.config import SandboxConfig
from dataverse_sandbox.contracts import Clock, TokenVerifier
from dataverse_sandbox.dataverse import Service, Storage, WebApi, build_catalog, seed_records
from dataverse_sandbox.faults import FaultInjector
from dataverse_sandbox.http_server import KeepAliveRequestHandler, SandboxHTTPServer
from dataverse_sandbox.limits import ServiceProtection
from dataverse_sandbox.middleware import memoize_principal
from dataverse_sandbox.request_body import BodyLimit
from dataverse_sandbox.stats import RequestRecorder, SandboxStats
from dataverse_sandbox.tls import ServerCertificate, ensure_server_certificate, server_ssl_context

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from dataverse_sandbox.entra import ProvisionedClients, TokenService

__all__ = ["API_VERSION", "Sandbox"]

logger = logging.getLogger(__name__)

#: The Web API version of :attr:`Sandbox.api_root` (``v9.0`` and ``v9.1`` are served too).
API_VERSION = "v9.2"
_ADMIN_PREFIX = "/_sandbox"


class _QuietRequestHandler(KeepAliveRequestHandler):
    """werkzeug's handler without its per-request log line on stderr (the recorder keeps statistics)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        logger.debug("%s %s", self.requestline, code)


class Sandbox:
    """A running (or startable) sandbox.

    :param config: how to start; defaults are loopback, a free port, http, in-memory storage.
    :param verifier: a token verifier to use instead of the sandbox's token service (tests of the Web API
        alone); the token service then serves no requests and :attr:`clients` is ``None``.
    """

    def __init__(self, config: SandboxConfig | None = None, *, verifier: TokenVerifier | None = None) -> None:
        self.config = config or SandboxConfig()
        self._injected_verifier = verifier
        self._server: SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._temporary_state: Path | None = None
        self._storage: Storage | None = None
        self._certificate: ServerCertificate | None = None
        self.clock = Clock()
        self.stats = SandboxStats(self.clock)
        self.clients: ProvisionedClients | None = None
        self.token_service: TokenService | None = None
        self._tenant_id = self.config.tenant_id or "00000000-0000-0000-0000-000000000000"
        self._origin = ""
        self._service: Service | None = None
        self._verifier: TokenVerifier | None = None
        self._faults: FaultInjector | None = None
        self._limits: ServiceProtection | None = None
        self._admin_token = ""

    # -- lifecycle ----------------------------------------------------------------------------------------------

    def start(self) -> Sandbox:
        """Start serving; returns once the server accepts connections.

        :returns: ``self``.
        :raises OSError: when the port is taken or the state directory cannot be written.
        """
        if self._server is not None:
            return self
        started = time.perf_counter()
        config = self.config
        if config.state_dir is None:
            self._temporary_state = Path(tempfile.mkdtemp(prefix="dataverse-sandbox-"))
        self.state_dir.mkdir(parents=True, exist_ok=True)
        ssl_context = None
        if config.tls:
            self._certificate = ensure_server_certificate(self.state_dir / "tls", (config.host,))
            ssl_context = server_ssl_context(self._certificate)
        server = SandboxHTTPServer(
            config.host,
            config.port,
            self._wsgi,
            _QuietRequestHandler,
            ssl_context=ssl_context,
            keep_alive=config.keep_alive,
        )
        scheme = "https" if config.tls else "http"
        host = f"[{config.host}]" if ":" in config.host else config.host
        self._origin = f"{scheme}://{host}:{server.server_port}"
        try:
            self._build(config)
        except BaseException:
            server.server_close()
            raise
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"dataverse-sandbox-{server.server_port}",
            daemon=True,
        )
        self._thread.start()
        logger.info("sandbox serving %s (started in %.2f s)", self.api_root, time.perf_counter() - started)
        return self

    def _build(self, config: SandboxConfig) -> None:
        verifier = self._injected_verifier
        if verifier is None:
            verifier = self._start_token_service(config)
        self._verifier = verifier
        catalog = build_catalog()
        self._storage = Storage(config.db_path, catalog, config.behaviour.guid_order)
        self._service = Service(self._storage, catalog, self.clock, config.behaviour, config.organization_id)
        if config.seed_records:
            self.seed(config.seed_records, config.seed_records // 2)
        batch = _batch_handler()
        web_api = WebApi(self._service, verifier, self._origin, self._tenant_id, config.access, batch)
        principal_of = memoize_principal(web_api.principal_of)
        routed = BodyLimit(self._route_factory(web_api), config.max_body_bytes)
        self._limits = ServiceProtection(routed, config.limits, self.clock, principal_of)
        self._faults = FaultInjector(self._limits, config.faults, config.fault_seed, clock=self.clock)
        self._app: WSGIApplication = RequestRecorder(self._faults, self.stats, principal_of)
        # A new credential on every start: a value seen once (a banner, a log) is useless after a restart.
        self._admin_token = secrets.token_urlsafe(32)
        self._admin = admin_app(self.stats, self._faults, self._limits, credential=self._admin_token, clients=self)

    def _start_token_service(self, config: SandboxConfig) -> TokenVerifier:
        # Imported lazily: the token service is only needed when no verifier is injected.
        from dataverse_sandbox.entra import GRAPH_RESOURCE, TokenService, provision_clients

        self.clients = provision_clients(self.state_dir, tenant_id=config.tenant_id, clock=self.clock)
        self._tenant_id = self.clients.tenant_id
        self.token_service = TokenService(
            origin=self._origin,
            tenant_id=self._tenant_id,
            clock=self.clock,
            registrations=self.clients.registrations,
            # A second audience, so a client can hold a valid token the Web API must refuse (401).
            resources=(self._origin, GRAPH_RESOURCE),
            users=self.clients.sandbox_users,
            tenant_domain=self.clients.tenant_domain,
            ignore_loopback_port=config.loopback_redirect_any_port,
            # The token service keeps its own counters and reports the same events to the sandbox's statistics.
            recorders=(self.stats,),
        )
        return self.token_service

    def _route_factory(self, web_api: WebApi) -> WSGIApplication:
        def route(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
            path = str(environ.get("PATH_INFO", ""))
            if path.startswith("/api/"):
                return web_api(environ, start_response)
            if path == _ADMIN_PREFIX or path.startswith(_ADMIN_PREFIX + "/"):
                return self._admin(environ, start_response)
            assert self._verifier is not None
            response = self._verifier.handle(Request(environ))
            if response is None:
                response = Response(
                    b'{"error":{"code":"0x80060888","message":"Resource not found."}}',
                    status=404,
                    content_type="application/json",
                )
            return response(environ, start_response)

        return route

    def _wsgi(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return self._app(environ, start_response)

    def stop(self) -> None:
        """Stop serving, join the server thread and release storage (a temporary state directory is removed)."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=10)
        if self._storage is not None:
            self._storage.close()
            self._storage = None
        if self._temporary_state is not None:
            shutil.rmtree(self._temporary_state, ignore_errors=True)
            self._temporary_state = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- data ---------------------------------------------------------------------------------------------------

    def seed(self, n_accounts: int = 0, n_contacts: int = 0) -> tuple[list[str], list[str]]:
        """Insert generated records (one transaction; fast enough for 100,000 accounts).

        :param n_accounts: accounts to add.
        :param n_contacts: contacts to add, each linked to one of the new accounts.
        :returns: the new account ids and contact ids.
        """
        service = self._require_service()
        return seed_records(service.storage, service.catalog, self.clock.now(), n_accounts, n_contacts)

    # -- applications -------------------------------------------------------------------------------------------

    def register_redirect_uri(self, client_id: str, uri: str) -> tuple[str, ...]:
        """Accept one more exact redirect URI for an application, e.g. a CLI's loopback listener on a free port.

        Also at ``POST /_sandbox/clients/<client_id>/redirect_uris`` (``{"uri": …}``) for a sandbox in another
        process.

        :param client_id: the application (usually ``clients.authorization_code_client.client_id``).
        :param uri: ``https://…``, or ``http://`` on ``localhost``, ``127.0.0.1`` or ``[::1]`` with any port.
        :returns: the application's redirect URIs now.
        :raises ValueError: for a URI Entra would not accept.
        :raises KeyError: for an unknown application.
        :raises RuntimeError: when the sandbox is not running or uses an injected verifier.
        """
        from dataverse_sandbox.entra.directory import check_redirect_uri

        service = self._require_token_service()
        check_redirect_uri(uri)
        service.register_redirect_uri(client_id, uri)
        return self.redirect_uris(client_id)

    def redirect_uris(self, client_id: str) -> tuple[str, ...]:
        """:returns: the redirect URIs an application has now.

        :raises KeyError: for an unknown application.
        """
        registration = self._require_token_service().client(client_id)
        if registration is None:
            raise KeyError(client_id)
        return registration.redirect_uris

    def set_auto_consent(self, client_id: str, enabled: bool) -> None:
        """Make the authorize endpoint skip (or show again) the login and consent pages for an application.

        :raises KeyError: for an unknown application.
        """
        self._require_token_service().set_auto_consent(client_id, enabled)

    def _require_token_service(self) -> TokenService:
        if self.token_service is None:
            raise RuntimeError("the sandbox has no token service (not started, or started with an injected verifier)")
        return self.token_service

    def _require_service(self) -> Service:
        if self._service is None:
            raise RuntimeError("the sandbox is not running; call start() first")
        return self._service

    # -- what tests and the CLI read ----------------------------------------------------------------------------

    @property
    def service(self) -> Service:
        """:returns: the Web API's state (storage, metadata), for tests that inspect the server's view."""
        return self._require_service()

    @property
    def origin(self) -> str:
        """:returns: ``http(s)://127.0.0.1:<port>``, the Web API's resource URI (token audience)."""
        return self._origin

    @property
    def connections_opened(self) -> int:
        """:returns: the TCP connections the server has accepted since it started (a client that reuses its pooled
        connections opens none).
        """
        return self._server.opened if self._server is not None else 0

    @property
    def api_root(self) -> str:
        """:returns: the Web API root, ``<origin>/api/data/v9.2/``."""
        return f"{self._origin}/api/data/{API_VERSION}/"

    @property
    def resources(self) -> tuple[str, ...]:
        """:returns: the audiences the token service issues tokens for: the Web API's origin (accepted by the Web
        API), then Microsoft Graph's URI (a valid token the Web API refuses with 401). Empty before start.
        """
        if not self._origin:
            return ()
        from dataverse_sandbox.entra import GRAPH_RESOURCE

        return (self._origin, GRAPH_RESOURCE)

    @property
    def tenant_id(self) -> str:
        """:returns: the token service's tenant id."""
        return self._tenant_id

    @property
    def token_url(self) -> str:
        """:returns: the v1 token endpoint, ``<origin>/<tenant>/oauth2/token``."""
        return f"{self._origin}/{self._tenant_id}/oauth2/token"

    @property
    def token_url_v2(self) -> str:
        """:returns: the v2 token endpoint, ``<origin>/<tenant>/oauth2/v2.0/token``."""
        return f"{self._origin}/{self._tenant_id}/oauth2/v2.0/token"

    @property
    def authorize_url(self) -> str:
        """:returns: the v1 authorize endpoint (the one named in the Web API's 401 challenge)."""
        return f"{self._origin}/{self._tenant_id}/oauth2/authorize"

    @property
    def authorize_url_v2(self) -> str:
        """:returns: the v2 authorize endpoint."""
        return f"{self._origin}/{self._tenant_id}/oauth2/v2.0/authorize"

    @property
    def ca_cert_path(self) -> Path | None:
        """:returns: the CA certificate to trust for https, ``None`` over http."""
        return self._certificate.ca_cert_path if self._certificate else None

    @property
    def state_dir(self) -> Path:
        """:returns: where generated certificates, keys and secrets are."""
        if self.config.state_dir is not None:
            return self.config.state_dir
        if self._temporary_state is None:
            raise RuntimeError("the sandbox has no state directory before start()")
        return self._temporary_state

    @property
    def faults(self) -> FaultInjector:
        """:returns: the fault injector (change settings or schedule faults at run time)."""
        if self._faults is None:
            raise RuntimeError("the sandbox is not running; call start() first")
        return self._faults

    @property
    def limits(self) -> ServiceProtection:
        """:returns: the service-protection middleware (change limits or force 429s at run time)."""
        if self._limits is None:
            raise RuntimeError("the sandbox is not running; call start() first")
        return self._limits

    @property
    def admin_url(self) -> str:
        """:returns: the admin endpoint's root, ``<origin>/_sandbox/``."""
        return f"{self._origin}{_ADMIN_PREFIX}/"

    @property
    def admin_token(self) -> str:
        """:returns: the admin endpoint's credential, new on every start (send it as ``Authorization: Bearer``).

        :raises RuntimeError: before :meth:`start`.
        """
        if not self._admin_token:
            raise RuntimeError("the sandbox is not running; call start() first")
        return self._admin_token

    @property
    def admin_headers(self) -> dict[str, str]:
        """:returns: the headers an admin request needs, ``{"Authorization": "Bearer <admin_token>"}``."""
        return {"Authorization": f"Bearer {self.admin_token}"}


def _batch_handler() -> Any:
    try:
        from dataverse_sandbox.batch import handle_batch
    except ImportError:
        logger.warning("dataverse_sandbox.batch is not available: $batch answers 501")
        return None
    return handle_batch
