"""Fixtures of the end-to-end operation tests (``tests/test_operations_*.py``): a sandbox, settings for it, and a
connection made through the reference host exactly as a host makes one (entry point, ``connect`` hook, token
service, transport).

Import the fixtures a module needs (``from tests.support.operations import ...``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from connector.context import RuntimeContext
from connector.host.facade import ConnectorHost
from connector.results import BrowseRequest, BrowseResult, Connection, OperationResult
from dataverse_sandbox.config import SandboxConfig
from dataverse_sandbox.server import Sandbox
from tests.support.diagnostics import sandbox_settings
from tests.support.sandbox import start_sandbox

__all__ = ["CONNECTOR_ID", "Live", "live", "make_live", "op_sandbox", "sandbox_settings"]

CONNECTOR_ID = "dynamics365-ce"


@dataclass
class Live:
    """A sandbox and a connection to it through the reference host.

    :param sandbox: the sandbox (its ``stats``, ``faults``, ``limits`` and ``service`` give the server's view).
    :param host: the reference host.
    :param connection: the connection.
    """

    sandbox: Sandbox
    host: ConnectorHost
    connection: Connection

    def run(self, operation: str, options: Mapping[str, Any], documents: Iterable[Any]) -> list[OperationResult]:
        """:returns: every result of one operation run."""
        return list(self.host.execute_operation(CONNECTOR_ID, self.connection, operation, options, documents))

    def stream(self, operation: str, options: Mapping[str, Any], documents: Iterable[Any]) -> Iterator[OperationResult]:
        """:returns: the results of one operation run, lazily."""
        return self.host.execute_operation(CONNECTOR_ID, self.connection, operation, options, documents)

    def browse(self, request: BrowseRequest) -> BrowseResult:
        """:returns: the browse hook's answer."""
        return self.host.browse(CONNECTOR_ID, self.connection, request)

    def rows(self, logical_name: str, where: str = "1 = 1", params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """:returns: the sandbox's stored rows of a table (the server's view, bypassing the Web API)."""
        service = self.sandbox.service
        return [dict(row) for row in service.storage.fetch_all(service.catalog[logical_name], where, list(params))]

    def close(self) -> None:
        """Close the host (and the connection's pooled HTTP connections)."""
        self.host.close()


@pytest.fixture(scope="module")
def op_sandbox(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    """A sandbox with the real token service, shared by the tests of one module; seeded with as many accounts as
    the module's ``SEEDED`` says (none when it says nothing).
    """
    sb = start_sandbox(SandboxConfig())
    sb.seed(getattr(request.module, "SEEDED", 0))
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def live(op_sandbox: Sandbox) -> Iterator[Live]:
    """A fresh connection (fresh caches and tokens) to the module's sandbox; its faults and limits are cleared."""
    op_sandbox.faults.clear_schedule()
    op_sandbox.limits.reset()
    host = ConnectorHost()
    connection = host.connect(CONNECTOR_ID, sandbox_settings(op_sandbox), RuntimeContext())
    session = Live(op_sandbox, host, connection)
    try:
        yield session
    finally:
        session.close()
        op_sandbox.faults.clear_schedule()
        op_sandbox.limits.reset()


@pytest.fixture
def make_live() -> Iterator[Any]:
    """A factory ``make_live(**sandbox_config) -> Live`` for tests that need their own sandbox."""
    made: list[Live] = []

    def factory(**fields: Any) -> Live:
        sb = start_sandbox(SandboxConfig(**fields))
        host = ConnectorHost()
        connection = host.connect(CONNECTOR_ID, sandbox_settings(sb), RuntimeContext())
        made.append(Live(sb, host, connection))
        return made[-1]

    yield factory
    for session in made:
        session.close()
        session.sandbox.stop()
