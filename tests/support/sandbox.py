"""Fixtures that start an in-process sandbox and talk to it with plain ``requests`` (never the connector).

Import the fixtures into a conftest (``from tests.support.sandbox import *``) or a test module. Provided:

* ``sandbox`` (module scope): a running :class:`~dataverse_sandbox.server.Sandbox` with in-memory storage.
* ``api``: a :class:`WebApiSession` for a principal with full access to ``sandbox``.
* ``read_only_api`` / ``no_access_api``: sessions for principals with ``read`` and ``none`` access.
* ``make_sandbox``: a factory for sandboxes with a custom :class:`~dataverse_sandbox.config.SandboxConfig`,
  stopped at the end of the test.

Tokens come from the sandbox's own token service (client credentials with the generated secrets).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from dataverse_sandbox.config import SandboxConfig
from dataverse_sandbox.server import Sandbox

__all__ = [
    "WebApiSession",
    "api",
    "bearer_token",
    "make_sandbox",
    "no_access_api",
    "read_only_api",
    "sandbox",
]

ODATA_HEADERS = {"Accept": "application/json", "OData-MaxVersion": "4.0", "OData-Version": "4.0"}


def start_sandbox(config: SandboxConfig) -> Sandbox:
    """:returns: a started sandbox (with the sandbox's own token service)."""
    return Sandbox(config).start()


def bearer_token(sb: Sandbox, access: str = "full") -> str:
    """Obtain an access token for the sandbox's Web API with client credentials (v1 endpoint, ``resource=``).

    :param sb: the running sandbox.
    :param access: ``full``, ``read`` or ``none``: which generated application to use.
    :returns: the access token.
    """
    clients = sb.clients
    assert clients is not None
    client = {"full": clients.secret_client, "read": clients.read_only_client, "none": clients.no_access_client}[access]
    response = requests.post(
        sb.token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": client.client_id,
            "client_secret": client.read_secret(),
            "resource": sb.origin,
        },
        verify=str(sb.ca_cert_path) if sb.ca_cert_path else True,
        timeout=10,
    )
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


class WebApiSession(requests.Session):
    """A ``requests.Session`` bound to a sandbox's Web API root, with a bearer token and OData headers.

    Relative URLs (``accounts?$top=1``) are resolved against the API root; absolute URLs (next links) pass as they are.

    :param sb: the sandbox.
    :param token: the bearer token (``None``: no ``Authorization`` header).
    """

    def __init__(self, sb: Sandbox, token: str | None) -> None:
        super().__init__()
        self.sandbox = sb
        self.root = sb.api_root
        self.headers.update(ODATA_HEADERS)
        if token is not None:
            self.headers["Authorization"] = f"Bearer {token}"
        if sb.ca_cert_path is not None:
            self.verify = str(sb.ca_cert_path)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        """Send a request; relative ``url`` values are joined to the API root."""
        text = url.decode() if isinstance(url, bytes) else url
        if "://" not in text:
            text = self.root + text.lstrip("/")
        kwargs.setdefault("timeout", 30)
        # Per request: REQUESTS_CA_BUNDLE in the environment would override the session's setting.
        kwargs.setdefault("verify", self.verify)
        return super().request(method, text, *args, **kwargs)

    def create(self, entity_set: str, body: dict[str, Any]) -> str:
        """Create a record and return its id (from ``OData-EntityId``).

        :raises AssertionError: when the create does not answer 204.
        """
        response = self.post(entity_set, json=body)
        assert response.status_code == 204, response.text
        entity_id = response.headers["OData-EntityId"]
        return entity_id[entity_id.rindex("(") + 1 : -1]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    """A running sandbox with in-memory storage, shared by the tests of one module."""
    sb = start_sandbox(SandboxConfig())
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def api(sandbox: Sandbox) -> Iterator[WebApiSession]:
    """A Web API session with full access."""
    with WebApiSession(sandbox, bearer_token(sandbox, "full")) as session:
        yield session


@pytest.fixture
def read_only_api(sandbox: Sandbox) -> Iterator[WebApiSession]:
    """A Web API session whose principal may only read."""
    with WebApiSession(sandbox, bearer_token(sandbox, "read")) as session:
        yield session


@pytest.fixture
def no_access_api(sandbox: Sandbox) -> Iterator[WebApiSession]:
    """A Web API session whose principal is not a member of the organization."""
    with WebApiSession(sandbox, bearer_token(sandbox, "none")) as session:
        yield session


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., Sandbox]]:
    """A factory ``make_sandbox(**config_fields) -> Sandbox`` (started); every sandbox is stopped afterwards."""
    started: list[Sandbox] = []

    def factory(**fields: Any) -> Sandbox:
        sb = start_sandbox(SandboxConfig(**fields))
        started.append(sb)
        return sb

    yield factory
    for sb in started:
        sb.stop()


def unique(prefix: str = "t") -> str:
    """:returns: a short unique string for test data (names, account numbers)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
