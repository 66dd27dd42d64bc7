"""What every operation run shares: its context, and the loop that gives each input document exactly one result.

:func:`each_document` reads the documents lazily and calls the operation's handler on each; whatever goes wrong
with one document (a missing key, an error answer, a network failure, even a defect of the connector) becomes that
document's ``failed`` result, so no exception escapes mid-stream and no document is lost. Only the host's own
iterable may raise. Not for building requests: each operation module does that.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from connector.dataverse.client import DataverseClient
from connector.dataverse.metadata.cache import MetadataCache
from connector.dataverse.operations.inputs import as_document
from connector.dataverse.operations.options import CommonOptions
from connector.dataverse.operations.outcomes import failure_result, internal_failure
from connector.errors import ConnectorError, TransientError
from connector.results import OperationResult

__all__ = ["DocumentHandler", "OperationContext", "each_document", "guarded", "network_failure"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OperationContext:
    """One run of one operation.

    :param name: the operation's name.
    :param client: the connection's Web API client.
    :param metadata: the connection's metadata cache.
    :param options: the validated options, defaults filled in.
    :param common: the options every operation has.
    """

    name: str
    client: DataverseClient
    metadata: MetadataCache
    options: Mapping[str, Any]
    common: CommonOptions

    @property
    def entity_set(self) -> str:
        """The object type; operations that need one have it required by their schema."""
        return self.common.entity_set or ""


DocumentHandler = Callable[[OperationContext, int, Mapping[str, Any]], OperationResult]
"""Handles one input document (already checked to be an object) and returns its result."""


def each_document(
    context: OperationContext, documents: Iterable[Any], handler: DocumentHandler
) -> Iterator[OperationResult]:
    """Run a handler over documents, one result each, in order.

    :param context: the run.
    :param documents: the input documents, read lazily.
    :param handler: the operation's per-document work.
    :returns: the results, streamed.
    """
    for index, document in enumerate(documents):
        yield guarded(index, functools.partial(_handle, handler, context, index, document))


def _handle(handler: DocumentHandler, context: OperationContext, index: int, document: Any) -> OperationResult:
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
