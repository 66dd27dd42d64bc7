"""The Delete operation: ``DELETE <record>``, one request per input document.

The document addresses the record (edit link, primary key or alternate key), with ``If-Match`` when the concurrency
mode is ``if_match`` and the document carries its ETag; the result is ``deleted``, or ``not_found`` /
``changed_since_read``. It shares how a record is addressed and how an answer becomes a result with the other writes
(:mod:`connector.dataverse.operations.write`). Not for bulk deletes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connector.dataverse.operations.inputs import ETAG, document_etag, document_query_parameters
from connector.dataverse.operations.options import write_headers
from connector.dataverse.operations.outcomes import properties_of, success_result
from connector.dataverse.operations.running import OperationContext
from connector.dataverse.operations.write import condition_reason, error_outcome, known_properties, target_of
from connector.results import OperationResult, ResultStatus

__all__ = ["delete_record"]


def delete_record(context: OperationContext, index: int, document: Mapping[str, Any]) -> OperationResult:
    """Delete the record one document addresses.

    :param context: the run.
    :param index: the document's index.
    :param document: the record's address, optionally with its ETag.
    :returns: ``deleted``, or the error result (``not_found``, ``changed_since_read``).
    """
    entity, target = target_of(context, document)
    headers = write_headers(context.options)
    etag = document_etag(document) if context.options["concurrency_mode"] == "if_match" else None
    if etag:
        headers["If-Match"] = etag
    response = context.client.send(
        "DELETE",
        target.url,
        query=document_query_parameters(document, context.common.query_parameters),
        headers=headers,
    )
    known = known_properties(context, entity, target.record_id, target)
    if response.status_code >= 400:
        return error_outcome(
            context,
            response,
            index,
            reason=condition_reason(response.status_code, "if_match", etag or "*"),
            field=ETAG if response.status_code == 412 and etag else None,
            properties=known,
        )
    return success_result(
        None, {**known, **properties_of(http_status=response.status_code)}, index, ResultStatus.DELETED
    )
