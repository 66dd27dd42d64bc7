"""The operations this connector offers, by name, and the two entry points the hooks delegate to.

:func:`run_operation` checks the operation name and parses its options, once, into the operation's frozen options
object before it reads any document (an unknown name or a bad option raises :class:`~connector.errors.ConfigError`
at once, listing every bad option), then returns a lazy iterator of results. Each :class:`Operation` pairs the
parser of its options class with the runner that reads them. :func:`browse_connection` serves the ``browse`` hook.
The names here are the ones in ``manifest.json``; a test keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, Generic, Protocol, TypeVar, runtime_checkable

from connector.context import RuntimeContext
from connector.dataverse.bulk.deletes import delete_in_bulk
from connector.dataverse.bulk.runner import write_in_bulk
from connector.dataverse.client import DataverseClient
from connector.dataverse.metadata.browse import browse
from connector.dataverse.metadata.cache import metadata_for
from connector.dataverse.operations.associations import AssociationOptions, associate, disassociate
from connector.dataverse.operations.delete import DeleteOptions
from connector.dataverse.operations.delete_jobs import DeleteJobOptions, run_delete_jobs
from connector.dataverse.operations.document_headers import document_scoped
from connector.dataverse.operations.execute import ExecuteOptions, execute
from connector.dataverse.operations.file_downloads import download_file
from connector.dataverse.operations.file_options import DownloadFileOptions, UploadFileOptions
from connector.dataverse.operations.file_uploads import upload_file
from connector.dataverse.operations.get import GetOptions, get_record
from connector.dataverse.operations.options import OperationOptions, OptionsParser, parse_options
from connector.dataverse.operations.query import query_records
from connector.dataverse.operations.query_options import QueryOptions
from connector.dataverse.operations.running import DocumentHandler, OperationContext, each_document
from connector.dataverse.operations.write_options import CreateOptions, UpdateOptions, UpsertOptions
from connector.errors import ConfigError, ConnectorError, FieldError
from connector.results import BrowseRequest, BrowseResult, Connection, OperationResult

__all__ = ["OPERATIONS", "Operation", "WebApiState", "browse_connection", "client_of", "run_operation"]

OptionsT = TypeVar("OptionsT", bound=OperationOptions)


@runtime_checkable
class WebApiState(Protocol):
    """What operations and browse read of a connection's live state: its Web API client.

    ``connector.live.LiveConnection`` is one; so is a unit test's fake holding a client. ``Connection.state`` is
    ``object`` in the hook contract, so :func:`client_of` narrows it with ``isinstance`` against this protocol.
    """

    @property
    def dataverse(self) -> DataverseClient:
        """The connection's Web API client."""
        ...


Runner = Callable[[OperationContext[OptionsT], Iterable[Any], RuntimeContext], Iterator[OperationResult]]
"""Produces a run's results lazily, from its context, the input documents and the host's runtime context
(progress callback, checkpoint store)."""


@dataclass(frozen=True)
class Operation(Generic[OptionsT]):
    """One operation.

    :param name: its name in the manifest.
    :param options: parses its validated options into its options object (which also checks what the schema
        cannot express).
    :param run: produces the results of a run, lazily.
    """

    name: str
    options: OptionsParser[OptionsT]
    run: Runner[OptionsT]

    def start(self, connection: Connection, options: Any, documents: Iterable[Any]) -> Iterator[OperationResult]:
        """Parse the options and start a run.

        :param connection: a connection returned by ``connect``.
        :param options: the options as the host passed them.
        :param documents: the input documents; none is read before this returns.
        :returns: the results, lazily.
        :raises ConfigError: for invalid options.
        :raises ConnectorError: when the connection is not this connector's.
        """
        parsed = parse_options(self.name, options, self.options)
        client = client_of(connection)
        # The run's headers ride on a view of the client; metadata reads keep the connection's own client.
        run_client = client.scoped(dict(parsed.common.headers))
        context = OperationContext(name=self.name, client=run_client, metadata=metadata_for(client), options=parsed)
        return self.run(context, documents, connection.context)


def _per_document(handler: DocumentHandler[OptionsT]) -> Runner[OptionsT]:
    def run(
        context: OperationContext[OptionsT], documents: Iterable[Any], runtime: RuntimeContext
    ) -> Iterator[OperationResult]:
        return each_document(context, documents, document_scoped(handler))

    return run


OPERATIONS: Final[Mapping[str, Operation[Any]]] = {
    operation.name: operation
    for operation in (
        Operation("get", GetOptions.from_values, _per_document(get_record)),
        Operation("query", QueryOptions.from_values, query_records),
        Operation("create", CreateOptions.from_values, write_in_bulk),
        Operation("update", UpdateOptions.from_values, write_in_bulk),
        Operation("upsert", UpsertOptions.from_values, write_in_bulk),
        Operation("delete", DeleteOptions.from_values, delete_in_bulk),
        Operation("bulk_delete", DeleteJobOptions.from_values, run_delete_jobs),
        Operation("upload_file", UploadFileOptions.from_values, _per_document(upload_file)),
        Operation("download_file", DownloadFileOptions.from_values, _per_document(download_file)),
        Operation("execute", ExecuteOptions.from_values, _per_document(execute)),
        Operation("associate", AssociationOptions.from_values, _per_document(associate)),
        Operation("disassociate", AssociationOptions.from_values, _per_document(disassociate)),
    )
}


def client_of(connection: Connection) -> DataverseClient:
    """:returns: the Web API client of a connection made by this connector's ``connect``.

    :raises ConnectorError: when the connection's live state is not this connector's.
    """
    state = connection.state
    if not isinstance(state, WebApiState):
        raise ConnectorError("The connection was not made by this connector's connect hook")
    return state.dataverse


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
    return spec.start(connection, options, documents)


def browse_connection(connection: Connection, request: BrowseRequest) -> BrowseResult:
    """Serve the ``browse`` hook.

    :param connection: a connection returned by ``connect``.
    :param request: what to list or describe.
    :returns: the object types, or one type's profiles.
    :raises RemoteError: when the service refuses a metadata request.
    """
    return browse(client_of(connection), request)
