"""The hook contract between a host integration runtime and its connectors.

A host loads every connector registered under the entry-point group :data:`ENTRY_POINT_GROUP` and calls these five
hooks through pluggy. Several connectors can be installed in one host, and pluggy calls every implementation of a
hook, so each hook is ``firstresult=True`` and takes ``connector_id`` first: an implementation returns ``None``,
without raising, for an id that is not its own, and the first non-``None`` result wins.

This module is the contract only: types and specifications, no behaviour. It is documented in ``docs/hooks.md``,
and a test keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

import pluggy

from connector.context import RuntimeContext
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

__all__ = [
    "ENTRY_POINT_GROUP",
    "HOOK_CONTRACT_VERSION",
    "PROJECT_NAME",
    "hookimpl",
    "hookspec",
]

PROJECT_NAME: Final = "integration_runtime"
"""The pluggy project name shared by hosts and connectors."""

ENTRY_POINT_GROUP: Final = "integration_runtime.connectors"
"""The setuptools entry-point group; each entry point's name is a connector id."""

HOOK_CONTRACT_VERSION: Final = "1.1"
"""The version of this contract; a manifest declares the version it implements."""

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec(firstresult=True)
def connect(connector_id: str, settings: Mapping[str, Any], context: RuntimeContext) -> Connection | None:
    """Validate the settings as the host stored them and open a connection.

    Stops at the first non-``None`` result; return ``None`` for a connector id that is not yours.

    :param connector_id: the id of the connector the host wants.
    :param settings: the settings as the host stored them: ``{"connection": {...}, "oauth2": {...}}``, each part
        valid against the connector's schema of the same name.
    :param context: what the host lends: proxy, time-outs, CA bundle, callback URL, token store, logger.
    :returns: a live connection (validated settings, HTTP session, token source).
    :raises ConfigError: listing every bad field at once.
    """


@hookspec(firstresult=True)
def authorize(
    connector_id: str, connection: Connection, step: AuthorizationStep
) -> TokenSet | AuthorizationStart | None:
    """Obtain tokens with the connection's grant.

    Stops at the first non-``None`` result; return ``None`` for a connector id that is not yours.

    :param connector_id: the id of the connector the host wants.
    :param connection: a connection returned by ``connect``.
    :param step: ``"token"`` for client credentials (or a refresh of the stored token set); ``"start"`` to begin
        the authorization-code grant; an ``AuthorizationCallback`` to complete it.
    :returns: a ``TokenSet`` (client credentials, callback, refresh), or an ``AuthorizationStart`` (the URL to
        open, the state and the PKCE verifier for the host to keep).
    :raises AuthError: when the identity provider refuses; ``field`` names the form field to fix.
    :raises TransientError: when the identity provider is unreachable or busy.
    """


@hookspec(firstresult=True)
def test(connector_id: str, connection: Connection) -> TestReport | None:
    """Run Test Connection: check the settings, the network, the token and the service, in order.

    Stops at the first non-``None`` result; return ``None`` for a connector id that is not yours.

    :param connector_id: the id of the connector the host wants.
    :param connection: a connection returned by ``connect``.
    :returns: a report of ordered checks. Expected failures (bad credentials, unreachable host) are in the
        report, never raised.
    :raises ConnectorError: only for a failure of the connector itself.
    """


@hookspec(firstresult=True)
def execute_operation(
    connector_id: str,
    connection: Connection,
    operation: str,
    options: Mapping[str, Any],
    documents: Iterable[Mapping[str, Any]],
) -> Iterator[OperationResult] | None:
    """Run one operation over a stream of input documents.

    Stops at the first non-``None`` result; return ``None`` for a connector id that is not yours.

    :param connector_id: the id of the connector the host wants.
    :param connection: a connection returned by ``connect``.
    :param operation: an operation name from the manifest (``get``, ``query``, ``create`` ...).
    :param options: the operation's options, valid against its schema in ``schemas/operations/``.
    :param documents: the input documents, consumed lazily.
    :returns: an iterator of results, one per input document (one per record for queries), streamed.
    :raises ConfigError: for an unknown operation or invalid options, before any document is read.
    """


@hookspec(firstresult=True)
def browse(connector_id: str, connection: Connection, request: BrowseRequest) -> BrowseResult | None:
    """List the object types a connection can reach, or describe one as request and response profiles.

    Stops at the first non-``None`` result; return ``None`` for a connector id that is not yours.

    :param connector_id: the id of the connector the host wants.
    :param connection: a connection returned by ``connect``.
    :param request: what to list or describe.
    :returns: object types, or JSON Schema profiles for one type.
    :raises RemoteError: when the service refuses the metadata request.
    """
