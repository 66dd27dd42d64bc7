"""Fixtures for the token-service tests: credentials, a clock, and a server mounting only the token service.

The conftest of ``tests/sandbox/entra`` (helpers are in ``tests/support/entra.py``). Fixtures:

- ``entra_provisioned`` (session): :class:`ProvisionedClients` generated once into a temporary state directory.
- ``entra_signing_key`` (session): one RSA token-signing key, so each server starts fast.
- ``entra_clock``: a fresh :class:`Clock` per test.
- ``entra_server``: an :class:`~tests.support.entra.EntraServer`: a werkzeug server on 127.0.0.1 and a free port
  serving only the :class:`TokenService` (resources: its own origin and Microsoft Graph), with
  :data:`~tests.support.entra.TEST_REDIRECT_URI` registered for the authorization-code client; stopped after the
  test.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from dataverse_sandbox.contracts import Clock
from dataverse_sandbox.entra import GRAPH_RESOURCE, ProvisionedClients, TokenService, provision_clients
from tests.support.entra import TEST_REDIRECT_URI, EntraServer

__all__ = ["entra_clock", "entra_provisioned", "entra_server", "entra_signing_key"]


@pytest.fixture(scope="session")
def entra_provisioned(tmp_path_factory: pytest.TempPathFactory) -> ProvisionedClients:
    return provision_clients(tmp_path_factory.mktemp("entra-state"))


@pytest.fixture(scope="session")
def entra_signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def entra_clock() -> Clock:
    return Clock()


@pytest.fixture
def entra_server(
    entra_provisioned: ProvisionedClients, entra_signing_key: rsa.RSAPrivateKey, entra_clock: Clock
) -> Iterator[EntraServer]:
    holder: dict[str, TokenService] = {}

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        response = holder["service"].handle(Request(environ)) or Response("not the token service", status=404)
        return response(environ, start_response)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    base_url = f"http://127.0.0.1:{server.server_port}"
    service = TokenService(
        origin=base_url,
        tenant_id=entra_provisioned.tenant_id,
        clock=entra_clock,
        registrations=entra_provisioned.registrations,
        resources=[base_url, GRAPH_RESOURCE],
        users=entra_provisioned.sandbox_users,
        tenant_domain=entra_provisioned.tenant_domain,
        signing_key=entra_signing_key,
    )
    service.register_redirect_uri(entra_provisioned.authorization_code_client.client_id, TEST_REDIRECT_URI)
    holder["service"] = service
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="entra-test-server", daemon=True
    )
    thread.start()
    try:
        yield EntraServer(base_url, service, entra_clock, entra_provisioned)
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()
