"""The operations this connector offers, by name, and the two entry points the hooks delegate to.

:func:`run_operation` checks the operation name and its options before it reads any document (an unknown name or a
bad option raises :class:`~connector.errors.ConfigError` at once, listing every bad option), then returns a lazy
iterator of results. :func:`browse_connection` serves the ``browse`` hook. The names here are the ones in
``manifest.json``; a test keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from connector.context import RuntimeContext
from connector.dataverse.bulk.runner import write_in_bulk
from connector.dataverse.client import DataverseClient
from connector.dataverse.metadata.browse import browse
from connector.dataverse.metadata.cache import metadata_for
from connector.dataverse.odata.fetchxml import FetchXmlError, parse_fetch
from connector.dataverse.odata.filters import parse_filter
from connector.dataverse.odata.literals import LiteralError, format_literal
from connector.dataverse.operations.associations import associate, disassociate
from connector.dataverse.operations.changes import UNTRACKABLE_OPTIONS
from connector.dataverse.operations.delete import delete_record
from connector.dataverse.operations.execute import execute
from connector.dataverse.operations.get import get_record
from connector.dataverse.operations.options import CommonOptions, validate_options
from connector.dataverse.operations.query import query_records
from connector.dataverse.operations.running import DocumentHandler, OperationContext, each_document
from connector.errors import ConfigError, ConnectorError, FieldError
from connector.results import BrowseRequest, BrowseResult, Connection, OperationResult

__all__ = ["OPERATIONS", "Operation", "browse_connection", "client_of", "run_operation"]

Runner = Callable[[OperationContext, Iterable[Any], RuntimeContext], Iterator[OperationResult]]
"""Produces a run's results lazily, from its context, the input documents and the host's runtime context
(progress callback, checkpoint store)."""
OptionCheck = Callable[[Mapping[str, Any]], Sequence[FieldError]]


@dataclass(frozen=True)
class Operation:
    """One operation.

    :param name: its name in the manifest.
    :param run: produces the results of a run, lazily.
    :param check: checks of its options that the schema cannot express.
    """

    name: str
    run: Runner
    check: OptionCheck | None = None


def _per_document(handler: DocumentHandler) -> Runner:
    def run(context: OperationContext, documents: Iterable[Any], runtime: RuntimeContext) -> Iterator[OperationResult]:
        return each_document(context, documents, handler)

    return run


def _check_query(options: Mapping[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = _check_tracking(options)
    if options.get("mode") == "fetchxml" and options.get("fetch_xml"):
        try:
            parse_fetch(str(options["fetch_xml"]))
        except FetchXmlError as error:
            errors.append(FieldError("options.fetch_xml", str(error)))
    group = parse_filter(options.get("filter"))
    for condition in group.conditions() if group is not None else ():
        if condition.parameter is not None or condition.literal_type in (None, "option_set"):
            continue
        try:
            format_literal(condition.value, condition.literal_type, condition.field)
        except LiteralError as error:
            errors.append(FieldError(f"{condition.path}.value", f"does not fit type {condition.literal_type}: {error}"))
    return errors


def _check_tracking(options: Mapping[str, Any]) -> list[FieldError]:
    """Dataverse refuses change tracking with filters, sorts, expansions, ``$top`` and FetchXML (reference §3.12)."""
    if not options.get("change_tracking"):
        return []
    errors = [
        FieldError(f"options.{name}", f"{label} cannot be combined with change tracking; Dataverse refuses them")
        for name, label in UNTRACKABLE_OPTIONS.items()
        if options.get(name)
    ]
    if options.get("top", -1) != -1:
        errors.append(FieldError("options.top", "a maximum cannot be combined with change tracking; use -1"))
    if options.get("mode") == "fetchxml":
        errors.append(FieldError("options.mode", "FetchXML cannot be combined with change tracking; use odata"))
    return errors


def _check_execute(options: Mapping[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    if options.get("kind") != "function":
        return errors
    types = options.get("parameter_types") or {}
    for name, value in (options.get("parameters") or {}).items():
        try:
            format_literal(value, types.get(name))
        except LiteralError as error:
            errors.append(FieldError(f"options.parameters.{name}", str(error)))
    return errors


OPERATIONS: Final[Mapping[str, Operation]] = {
    operation.name: operation
    for operation in (
        Operation("get", _per_document(get_record)),
        Operation("query", query_records, _check_query),
        Operation("create", write_in_bulk),
        Operation("update", write_in_bulk),
        Operation("upsert", write_in_bulk),
        Operation("delete", _per_document(delete_record)),
        Operation("execute", _per_document(execute), _check_execute),
        Operation("associate", _per_document(associate)),
        Operation("disassociate", _per_document(disassociate)),
    )
}


def client_of(connection: Connection) -> DataverseClient:
    """:returns: the Web API client of a connection made by this connector's ``connect``.

    :raises ConnectorError: when the connection's live state is not this connector's.
    """
    client = getattr(connection.state, "dataverse", None)
    if not isinstance(client, DataverseClient):
        raise ConnectorError("The connection was not made by this connector's connect hook")
    return client


def run_operation(
    connection: Connection, operation: str, options: Mapping[str, Any] | None, documents: Iterable[Any]
) -> Iterator[OperationResult]:
    """Start an operation.

    :param connection: a connection returned by ``connect``.
    :param operation: the operation's name.
    :param options: its options.
    :param documents: the input documents; none is read before this returns.
    :returns: the results, lazily: one per input document (one per record for a query).
    :raises ConfigError: for an unknown operation or invalid options.
    """
    spec = OPERATIONS.get(operation) if isinstance(operation, str) else None
    if spec is None:
        names = ", ".join(OPERATIONS)
        raise ConfigError(
            [FieldError("operation", f"{operation!r} is not an operation of this connector; choose one of {names}")],
            "The operation is unknown",
        )
    validated = validate_options(operation, options, spec.check)
    client = client_of(connection)
    context = OperationContext(
        name=operation,
        client=client,
        metadata=metadata_for(client),
        options=validated,
        common=CommonOptions.from_options(validated),
    )
    return spec.run(context, documents, connection.context)


def browse_connection(connection: Connection, request: BrowseRequest) -> BrowseResult:
    """Serve the ``browse`` hook.

    :param connection: a connection returned by ``connect``.
    :param request: what to list or describe.
    :returns: the object types, or one type's profiles.
    :raises RemoteError: when the service refuses a metadata request.
    """
    return browse(client_of(connection), request)
