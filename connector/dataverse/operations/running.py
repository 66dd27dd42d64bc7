"""What every operation run shares: its context, and the loop that gives each input document exactly one result.

:func:`each_document` reads the documents lazily and calls the operation's handler on each; whatever goes wrong
with one document (a missing key, an error answer, a network failure, even a defect of the connector) becomes that
document's ``failed`` result, so no exception escapes mid-stream and no document is lost. Only the host's own
iterable may raise. :class:`OperationContext` carries the run's options as the operation's frozen options object
(:mod:`connector.dataverse.operations.options`), so a handler's type says which options it reads. Not for building
requests: each operation module does that.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeGuard, TypeVar

import requests

from connector.dataverse.client import DataverseClient
from connector.dataverse.metadata.cache import MetadataCache
from connector.dataverse.operations.inputs import as_document
from connector.dataverse.operations.options import CommonOptions, OperationOptions
from connector.dataverse.operations.outcomes import failure_result, internal_failure
from connector.errors import ConnectorError, TransientError
from connector.results import OperationResult

__all__ = ["DocumentHandler", "OperationContext", "each_document", "guarded", "network_failure", "runs_with"]

_log = logging.getLogger(__name__)

OptionsT = TypeVar("OptionsT", bound=OperationOptions)
_OptionsT_co = TypeVar("_OptionsT_co", bound=OperationOptions, covariant=True)


@dataclass(frozen=True)
class OperationContext(Generic[_OptionsT_co]):
    """One run of one operation, typed by its options: ``OperationContext[GetOptions]`` is a run of Get.

    :param name: the operation's name.
    :param client: the connection's Web API client.
    :param metadata: the connection's metadata cache.
    :param options: the options, parsed once (defaults filled in from the schema).
    """

    name: str
    client: DataverseClient
    metadata: MetadataCache
    options: _OptionsT_co

    @property
    def common(self) -> CommonOptions:
        """The options every operation has."""
        return self.options.common

    @property
    def entity_set(self) -> str:
        """The object type; operations that need one have it required by their schema."""
        return self.common.entity_set or ""


def runs_with(
    context: OperationContext[OperationOptions], kind: type[OptionsT]
) -> TypeGuard[OperationContext[OptionsT]]:
    """Whether a run's options are of one kind (so the run is of that operation), narrowing the context's type.

    :param context: the run.
    :param kind: an options class, e.g. :class:`~connector.dataverse.operations.write_options.UpdateOptions`.
    :returns: whether ``context.options`` is a ``kind``.
    """
    return isinstance(context.options, kind)


DocumentHandler = Callable[[OperationContext[OptionsT], int, Mapping[str, Any]], OperationResult]
"""Handles one input document (already checked to be an object) of a run and returns its result."""


def each_document(
    context: OperationContext[OptionsT], documents: Iterable[Any], handler: DocumentHandler[OptionsT]
) -> Iterator[OperationResult]:
    """Run a handler over documents, one result each, in order.

    :param context: the run.
    :param documents: the input documents, read lazily.
    :param handler: the operation's per-document work.
    :returns: the results, streamed.
    """
    for index, document in enumerate(documents):
        yield guarded(index, functools.partial(_handle, handler, context, index, document))


def _handle(
    handler: DocumentHandler[OptionsT], context: OperationContext[OptionsT], index: int, document: Any
) -> OperationResult:
    return handler(context, index, as_document(document))


def guarded(index: int | None, work: Callable[[], OperationResult]) -> OperationResult:
    """Run one document's work, turning any failure into its ``failed`` result.

    :param index: the input document's index.
    :param work: the work.
    :returns: the work's result, or the failure.
    """
    try:
        return work()
    except ConnectorError as error:
        return failure_result(error, index)
    except requests.RequestException as error:
        return failure_result(network_failure(error), index)
    except Exception as error:
        # A defect, not a document problem; the document still gets its result and the run goes on.
        _log.exception("operation failed on document %s", index)
        return internal_failure(index, type(error).__name__)


def network_failure(error: requests.RequestException) -> TransientError:
    """:returns: the transient error for a network failure the transport let through (a body cut off)."""
    return TransientError(
        "The connection to the service failed while reading its answer",
        internal_message=f"network failure while reading a response: {type(error).__name__}",
    )
