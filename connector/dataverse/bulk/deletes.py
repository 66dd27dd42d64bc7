"""Bulk Delete: each document's delete prepared for a ``DeleteMultiple`` target or a ``$batch`` DELETE part, written
by the same bulk runner as Create, Update and Upsert.

:func:`delete_in_bulk` is the Delete operation's runner. A document is prepared exactly as a request of its own
(:func:`~connector.dataverse.operations.delete.prepare_delete`), then routed:

* ``DeleteMultiple`` (``POST <set>/Microsoft.Dynamics.CRM.DeleteMultiple`` with ``{"Targets": [{"@odata.type": …,
  "<primary key>": …}]}``) when the document names the record by its primary key (and ``partitionid``, when it
  carries one) and needs nothing a target cannot carry: no ``If-Match`` ETag, no query parameters or headers of its
  own. Dataverse serves it on elastic tables only and refuses it on standard ones ("DeleteMultiple has not yet been
  implemented."): in ``auto`` mode the first refusal switches the run to ``$batch`` (that chunk included), exactly as
  a table without ``CreateMultiple`` does for creates, so no metadata is read and a table that gains the action uses
  it;
* a ``$batch`` DELETE part otherwise, one per record, with ``Prefer: odata.continue-on-error``.

Chunks, concurrency, narrowing a refused ``DeleteMultiple`` down through ``$batch``, all-or-nothing change sets and
results in input order are :mod:`connector.dataverse.bulk.runner`'s and :mod:`connector.dataverse.bulk.chunks`'.
Not for the asynchronous ``BulkDelete`` job by query: :mod:`connector.dataverse.operations.delete_jobs`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sized
from typing import Any, Final

from connector.context import RuntimeContext
from connector.dataverse.bulk.multipart import BatchPart
from connector.dataverse.bulk.options import BulkOptions
from connector.dataverse.bulk.plan import BATCH, BulkItem, encode_json
from connector.dataverse.bulk.runner import bulk_results, metered
from connector.dataverse.odata.literals import is_guid
from connector.dataverse.operations.delete import (
    DeleteOptions,
    PreparedDelete,
    delete_outcome,
    delete_record,
    prepare_delete,
)
from connector.dataverse.operations.document_headers import HEADERS, document_headers, document_scoped
from connector.dataverse.operations.inputs import QUERY_PARAMETERS, document_query_parameters
from connector.dataverse.operations.progress import ProgressMeter
from connector.dataverse.operations.running import OperationContext, each_document
from connector.results import OperationResult

__all__ = ["DELETE_MULTIPLE", "PARTITION_ID", "DeletePlanner", "delete_in_bulk"]

DELETE_MULTIPLE: Final = "DeleteMultiple"
PARTITION_ID: Final = "partitionid"
"""The member that names an elastic table record's partition (sent with its key when the document carries it)."""


def delete_in_bulk(
    context: OperationContext[DeleteOptions], documents: Iterable[Any], runtime: RuntimeContext
) -> Iterator[OperationResult]:
    """Run Delete over documents, in bulk requests unless ``bulk.mode`` is ``off``.

    :param context: a run of Delete.
    :param documents: the input documents, read lazily.
    :param runtime: the host's runtime context: progress goes to its callback.
    :returns: one result per document, in input order, streamed.
    """
    options = context.options.bulk
    total = len(documents) if isinstance(documents, Sized) else None
    meter = ProgressMeter(runtime.progress, context.name, total=total)
    single = document_scoped(delete_record)
    if options.mode == "off":
        results = each_document(context, documents, single)
    else:
        results = bulk_results(context, options, single, DeletePlanner(context, options), documents)
    yield from metered(results, meter)


class DeletePlanner:
    """Prepares the deletes of one run.

    :param context: the run.
    :param options: its bulk options.
    """

    def __init__(self, context: OperationContext[DeleteOptions], options: BulkOptions) -> None:
        self.context = context
        self.options = options
        self._multiple_allowed = options.mode in ("auto", "multiple") and not options.all_or_nothing

    def plan(self, index: int, document: Mapping[str, Any]) -> BulkItem:
        """Prepare one document.

        :param index: its input index.
        :param document: the document (checked to be an object).
        :returns: the item.
        :raises DocumentError: when the document does not address a record (the same errors as on its own).
        :raises ConnectorError: when the table's metadata cannot be read.
        """
        context = self.context
        prepared = prepare_delete(context, document)
        target = None
        route = BATCH
        if self._carried(document, prepared):
            route = DELETE_MULTIPLE
            entity = prepared.entity
            key: dict[str, Any] = {"@odata.type": f"Microsoft.Dynamics.CRM.{entity.logical_name}"}
            key[entity.primary_id or ""] = prepared.target.record_id
            if document.get(PARTITION_ID) is not None:
                key[PARTITION_ID] = document[PARTITION_ID]
            target = encode_json(key, PARTITION_ID)
        query = document_query_parameters(document, context.common.query_parameters)
        url = context.client.url(prepared.target.url, query)
        headers = {**document_headers(document, context.client.default_headers), **prepared.headers}
        part = BatchPart("DELETE", url, headers)
        record = context.client.relative(prepared.target.url).lower()
        return BulkItem(index, document, prepared, route, target, part, True, _outcome, record)

    def _carried(self, document: Mapping[str, Any], prepared: PreparedDelete) -> bool:
        """Whether ``DeleteMultiple`` can carry the document (else it needs a ``$batch`` part of its own)."""
        if not self._multiple_allowed or prepared.etag or QUERY_PARAMETERS in document or HEADERS in document:
            return False
        return bool(prepared.entity.primary_id) and is_guid(prepared.target.record_id)


def _outcome(context: OperationContext[Any], prepared: Any, response: Any, index: int) -> OperationResult:
    return delete_outcome(context, prepared, response, index)
