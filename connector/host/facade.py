"""A typed facade over the plugin manager: one method per hook.

Hosts call :class:`ConnectorHost` instead of the stringly-typed ``pm.hook.<name>``. Each method raises
:class:`~connector.errors.UnknownConnectorError` when no installed connector claims the id, so a typo in an id is a
clear error rather than a silent ``None``. With tracing on (``trace=True`` or the environment variable
:data:`TRACE_ENV`), every hook call is logged at INFO with its arguments, secrets redacted.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Final, TypeVar, cast

import pluggy

from connector.context import RuntimeContext
from connector.errors import ConnectorError, UnknownConnectorError
from connector.host.loader import (
    ConnectorPluginManager,
    InstalledConnector,
    get_plugin_manager,
    installed_connectors,
    read_package_json,
)
from connector.host.redaction import redact, write_only_names
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

__all__ = ["TRACE_ENV", "ConnectorHost"]

TRACE_ENV: Final = "INTEGRATION_RUNTIME_TRACE"
"""Set to ``1`` to log every hook call (secrets redacted)."""

_log = logging.getLogger(__name__)
_T = TypeVar("_T")


class ConnectorHost:
    """Calls the hooks of the installed connectors.

    :param manager: a plugin manager; defaults to :func:`~connector.host.loader.get_plugin_manager`.
    :param trace: log every hook call; defaults to the :data:`TRACE_ENV` environment variable.
    """

    def __init__(self, manager: ConnectorPluginManager | None = None, *, trace: bool | None = None) -> None:
        self.manager = manager if manager is not None else get_plugin_manager()
        self._secret_names: set[str] = set()
        for connector in self.connectors():
            self._secret_names |= self._schema_secret_names(connector)
        if trace is None:
            trace = os.environ.get(TRACE_ENV, "") not in {"", "0", "false"}
        self._undo_tracing = self.manager.add_hookcall_monitoring(self._before, self._after) if trace else None

    def close(self) -> None:
        """Stop tracing, if it was on."""
        if self._undo_tracing is not None:
            self._undo_tracing()
            self._undo_tracing = None

    def connectors(self) -> list[InstalledConnector]:
        """:returns: the installed connectors with their versions, hooks and manifests."""
        return installed_connectors(self.manager)

    def connector(self, connector_id: str) -> InstalledConnector:
        """:returns: one installed connector.

        :raises UnknownConnectorError: when none has that id.
        """
        for connector in self.connectors():
            if connector.id == connector_id:
                return connector
        raise self._unknown(connector_id)

    def schema(self, connector_id: str, name: str) -> dict[str, Any]:
        """Read one of a connector's schemas as its manifest names it.

        :param connector_id: the connector.
        :param name: ``connection`` or ``oauth2``.
        :returns: the JSON Schema.
        :raises UnknownConnectorError: when no connector has that id.
        :raises ConnectorError: when the connector ships no such schema.
        """
        connector = self.connector(connector_id)
        relative = (connector.manifest or {}).get("schemas", {}).get(name)
        plugin = self.manager.get_plugin(connector_id)
        schema = read_package_json(plugin, relative) if relative else None
        if schema is None:
            raise ConnectorError(f"The connector {connector_id} ships no {name} schema")
        return schema

    def ui_schema(self, connector_id: str, name: str) -> dict[str, Any]:
        """Read the UI schema (rjsf ``uiSchema``: order, widgets, help, placeholders) beside one of a connector's
        form schemas, as its manifest names it.

        :param connector_id: the connector.
        :param name: ``connection`` or ``oauth2``.
        :returns: the UI schema, or ``{}`` when the connector ships none (the schema alone is still a form).
        :raises UnknownConnectorError: when no connector has that id.
        """
        connector = self.connector(connector_id)
        relative = (connector.manifest or {}).get("ui_schemas", {}).get(name)
        plugin = self.manager.get_plugin(connector_id)
        return (read_package_json(plugin, relative) if relative else None) or {}

    def _schema_secret_names(self, connector: InstalledConnector) -> set[str]:
        names: set[str] = set()
        plugin = self.manager.get_plugin(connector.id)
        for relative in ((connector.manifest or {}).get("schemas") or {}).values():
            schema = read_package_json(plugin, relative)
            if schema is not None:
                names |= write_only_names(schema)
        return names

    def redact(self, value: Any) -> Any:
        """:returns: a copy of settings or options with every secret of every installed connector replaced."""
        return redact(value, self._secret_names)

    # -- hooks ------------------------------------------------------------------------------------------------

    def connect(self, connector_id: str, settings: Mapping[str, Any], context: RuntimeContext) -> Connection:
        """Call ``connect``; see :func:`connector.hookspecs.connect`.

        :raises UnknownConnectorError: when no connector claims the id.
        """
        result: Connection | None = self.manager.hook.connect(
            connector_id=connector_id, settings=settings, context=context
        )
        return self._claimed(connector_id, result, "connect")

    def authorize(
        self, connector_id: str, connection: Connection, step: AuthorizationStep
    ) -> TokenSet | AuthorizationStart:
        """Call ``authorize``; see :func:`connector.hookspecs.authorize`."""
        result: TokenSet | AuthorizationStart | None = self.manager.hook.authorize(
            connector_id=connector_id, connection=connection, step=step
        )
        return cast("TokenSet | AuthorizationStart", self._claimed(connector_id, result, "authorize"))

    def test(self, connector_id: str, connection: Connection) -> TestReport:
        """Call ``test``; see :func:`connector.hookspecs.test`."""
        result: TestReport | None = self.manager.hook.test(connector_id=connector_id, connection=connection)
        return self._claimed(connector_id, result, "test")

    def execute_operation(
        self,
        connector_id: str,
        connection: Connection,
        operation: str,
        options: Mapping[str, Any],
        documents: Iterable[Mapping[str, Any]],
    ) -> Iterator[OperationResult]:
        """Call ``execute_operation``; see :func:`connector.hookspecs.execute_operation`."""
        result: Iterator[OperationResult] | None = self.manager.hook.execute_operation(
            connector_id=connector_id, connection=connection, operation=operation, options=options, documents=documents
        )
        return self._claimed(connector_id, result, "execute_operation")

    def browse(self, connector_id: str, connection: Connection, request: BrowseRequest) -> BrowseResult:
        """Call ``browse``; see :func:`connector.hookspecs.browse`."""
        result: BrowseResult | None = self.manager.hook.browse(
            connector_id=connector_id, connection=connection, request=request
        )
        return self._claimed(connector_id, result, "browse")

    # -- helpers ----------------------------------------------------------------------------------------------

    def _claimed(self, connector_id: str, result: _T | None, hook: str) -> _T:
        if result is not None:
            return result
        plugin = self.manager.get_plugin(connector_id)
        if plugin is None:
            raise self._unknown(connector_id)
        if not callable(getattr(plugin, hook, None)):
            raise ConnectorError(f"The connector {connector_id} does not implement the {hook} hook")
        raise ConnectorError(f"The connector {connector_id} returned nothing for its own id (a connector bug)")

    def _unknown(self, connector_id: str) -> UnknownConnectorError:
        known = ", ".join(sorted(c.id for c in self.connectors())) or "none"
        return UnknownConnectorError(f"No installed connector has the id {connector_id!r} (installed: {known})")

    def _before(self, hook_name: str, hook_impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, Any]) -> None:
        shown = {key: self._describe(key, value) for key, value in kwargs.items()}
        _log.info("hook %s(%s)", hook_name, ", ".join(f"{key}={value}" for key, value in shown.items()))

    def _after(
        self,
        outcome: pluggy.Result[Any],
        hook_name: str,
        hook_impls: Sequence[pluggy.HookImpl],
        kwargs: Mapping[str, Any],
    ) -> None:
        if outcome.exception is not None:
            _log.info("hook %s raised %s", hook_name, type(outcome.exception).__name__)
        else:
            _log.info("hook %s returned %s at %.3f", hook_name, type(outcome.get_result()).__name__, time.time())

    def _describe(self, key: str, value: Any) -> str:
        if key in {"settings", "options"}:
            return repr(self.redact(value))
        if key == "documents":
            return f"<{type(value).__name__}>"
        return repr(value)
