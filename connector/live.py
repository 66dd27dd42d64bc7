"""The live state behind a :class:`~connector.results.Connection`: its transport, token source and Web API client.

``connect`` only validates settings; the pieces here are built on first use, once per connection, and shared by
every thread using it. Nothing here outlives the connection: tokens go through the host's token store, so a second
worker with its own connection needs nothing from this one.

A :class:`LiveConnection` is the ``state`` of every connection this plugin's ``connect`` makes. The hook contract
types that field ``object`` (it may not name a plugin's types); the plugin's code reads it through the protocols of
what it needs, checked with ``isinstance``: ``connector.dataverse.registry.WebApiState`` (the Web API client) and
``connector.auth.tokens.TokenState`` (the token source). Its settings are typed: ``connect`` returns a
``Connection[ConnectionSettings]``, and :func:`has_own_settings` narrows a connection passed back to a hook.
Not for settings parsing (``connector.settings``).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, TypeGuard

from connector.context import RuntimeContext
from connector.results import Connection
from connector.settings import ConnectionSettings

if TYPE_CHECKING:
    from connector.auth.tokens import TokenSource
    from connector.dataverse.client import DataverseClient
    from connector.transport import Transport

__all__ = ["LiveConnection", "has_own_settings"]


def has_own_settings(connection: Connection) -> TypeGuard[Connection[ConnectionSettings]]:
    """:returns: whether the connection holds this connector's settings, so that its ``settings`` may be read as a
    :class:`~connector.settings.ConnectionSettings` (the hook contract types a connection passed back as any
    connector's).
    """
    return isinstance(connection.settings, ConnectionSettings)


class LiveConnection:
    """Lazily built, thread-safe per-connection machinery.

    :param settings: the connection's validated settings.
    :param context: the runtime context.
    """

    def __init__(self, settings: ConnectionSettings, context: RuntimeContext) -> None:
        self.settings = settings
        self.context = context
        self._lock = threading.RLock()
        self._built: dict[str, Any] = {}

    def _once(self, name: str, build: Any) -> Any:
        with self._lock:
            if name not in self._built:
                self._built[name] = build()
            return self._built[name]

    @property
    def token_source(self) -> TokenSource:
        """The connection's access tokens (``connector.auth.tokens``)."""
        from connector.auth.tokens import build_token_source

        source: TokenSource = self._once("token_source", lambda: build_token_source(self.settings, self.context))
        return source

    @property
    def transport(self) -> Transport:
        """The authenticated transport to the Web API, reading error answers in Dataverse's shape."""
        from connector.dataverse.odata.answers import describe_error
        from connector.transport import Transport

        transport: Transport = self._once(
            "transport", lambda: Transport(self.settings, bearer=self.token_source, describe_error=describe_error)
        )
        return transport

    @property
    def dataverse(self) -> DataverseClient:
        """The Web API client."""
        from connector.dataverse.client import DataverseClient

        client: DataverseClient = self._once("dataverse", lambda: DataverseClient(self.transport, self.settings))
        return client

    def close(self) -> None:
        """Close pooled HTTP connections."""
        with self._lock:
            transport = self._built.get("transport")
            if transport is not None:
                transport.close()

    def __repr__(self) -> str:
        return f"LiveConnection(api_root={self.settings.api_root!r})"
