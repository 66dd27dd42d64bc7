"""The Dynamics 365 CE connector's hook implementations: thin, they delegate.

A host imports every installed connector at start-up, so this module imports nothing heavy at module level and does
no I/O: settings parsing (jsonschema), OAuth (cryptography, PyJWT) and the Web API code are imported
inside the hooks that need them. Every hook returns ``None`` for a connector id that is not ours, without raising.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final

from connector.context import RuntimeContext
from connector.hookspecs import hookimpl
from connector.results import (
    AuthorizationStart,
    AuthorizationStep,
    BrowseRequest,
    BrowseResult,
    Connection,
    OperationResult,
    TestReport,
    TokenSet,
)

if TYPE_CHECKING:
    from connector.settings import ConnectionSettings

__all__ = ["CONNECTOR_ID", "authorize", "browse", "connect", "execute_operation", "test"]

CONNECTOR_ID: Final = "dynamics365-ce"


@hookimpl
def connect(
    connector_id: str, settings: Mapping[str, Any], context: RuntimeContext
) -> Connection[ConnectionSettings] | None:
    """Validate the settings and return a connection; see :func:`connector.hookspecs.connect`."""
    if connector_id != CONNECTOR_ID:
        return None
    from connector.live import LiveConnection
    from connector.settings import parse_settings

    parsed = parse_settings(settings, context)
    return Connection(CONNECTOR_ID, parsed, context, parsed.diagnostics, state=LiveConnection(parsed, context))


@hookimpl
def authorize(
    connector_id: str, connection: Connection, step: AuthorizationStep
) -> TokenSet | AuthorizationStart | None:
    """Obtain tokens; see :func:`connector.hookspecs.authorize`."""
    if connector_id != CONNECTOR_ID:
        return None
    from connector.auth.authorization import run_authorization_step

    return run_authorization_step(connection, step)


@hookimpl
def test(connector_id: str, connection: Connection) -> TestReport | None:
    """Run Test Connection; see :func:`connector.hookspecs.test`."""
    if connector_id != CONNECTOR_ID:
        return None
    from connector.diagnostics.plan import run_test_connection
    from connector.errors import ConfigError
    from connector.live import has_own_settings

    if not has_own_settings(connection):
        raise ConfigError.single(
            "connection", f"is not a {CONNECTOR_ID} connection: its settings are not this connector's"
        )
    return run_test_connection(connection)


@hookimpl
def execute_operation(
    connector_id: str,
    connection: Connection,
    operation: str,
    options: Mapping[str, Any],
    documents: Iterable[Mapping[str, Any]],
) -> Iterator[OperationResult] | None:
    """Run an operation; see :func:`connector.hookspecs.execute_operation`."""
    if connector_id != CONNECTOR_ID:
        return None
    from connector.dataverse.registry import run_operation

    return run_operation(connection, operation, options, documents)


@hookimpl
def browse(connector_id: str, connection: Connection, request: BrowseRequest) -> BrowseResult | None:
    """List or describe object types; see :func:`connector.hookspecs.browse`."""
    if connector_id != CONNECTOR_ID:
        return None
    from connector.dataverse.registry import browse_connection

    return browse_connection(connection, request)
