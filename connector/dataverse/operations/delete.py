"""The Delete operation: ``DELETE <record>``, one request per input document.

The document addresses the record (edit link, primary key or alternate key), with ``If-Match`` when the concurrency
mode is ``if_match`` and the document carries its ETag; the result is ``deleted``, or ``not_found`` /
``changed_since_read``. A ``404`` that answers a repeat, sent after an attempt the service may have carried out (its
answer lost, or a gateway's ``502``/``504``), is ``deleted`` with ``already_deleted``: the record is gone, most likely
by that attempt, and must not be reported as one that never existed. It shares how a record is addressed and how an
answer becomes a result with the other writes (:mod:`connector.dataverse.operations.write`). Its options are
:class:`DeleteOptions`. Not for bulk deletes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from connector.dataverse.operations.inputs import ETAG, document_etag, document_query_parameters
from connector.dataverse.operations.options import CommonOptions, WriteOptions, strings
from connector.dataverse.operations.outcomes import properties_of, success_result
from connector.dataverse.operations.running import OperationContext
from connector.dataverse.operations.write import condition_reason, error_outcome, known_properties, target_of
from connector.results import OperationResult, ResultStatus
from connector.retry import delivery_of

__all__ = ["DeleteOptions", "delete_record"]


@dataclass(frozen=True, kw_only=True)
class DeleteOptions(WriteOptions):
    """The Delete operation's options.

    :param key_fields: the document members that form an alternate key; empty: edit link or primary key.
    :param concurrency_mode: ``if_match`` sends the document's ETag, so a changed record is not deleted.
    """

    key_fields: tuple[str, ...]
    concurrency_mode: Literal["if_match", "none"]

    @classmethod
    def from_values(cls, operation: str, values: Mapping[str, Any]) -> DeleteOptions:
        """:returns: the options of validated values (``operation`` is ``delete``; defaults filled in)."""
        return cls(
            common=CommonOptions.from_values(values),
            bypass_custom_plugins=bool(values["bypass_custom_plugins"]),
            bypass_business_logic=values["bypass_business_logic"],
            key_fields=strings(values["key_fields"]),
            concurrency_mode=values["concurrency_mode"],
        )


def delete_record(context: OperationContext[DeleteOptions], index: int, document: Mapping[str, Any]) -> OperationResult:
    """Delete the record one document addresses.

    :param context: the run.
    :param index: the document's index.
    :param document: the record's address, optionally with its ETag.
    :returns: ``deleted`` (with ``already_deleted`` when a repeat found the record gone), or the error result
        (``not_found``, ``changed_since_read``).
    """
    options = context.options
    entity, target = target_of(context, options.key_fields, document)
    headers = options.headers()
    etag = document_etag(document) if options.concurrency_mode == "if_match" else None
    if etag:
        headers["If-Match"] = etag
    response = context.client.send(
        "DELETE",
        target.url,
        query=document_query_parameters(document, context.common.query_parameters),
        headers=headers,
    )
    known = known_properties(context, entity, target.record_id, target)
    if response.status_code == 404 and delivery_of(response).resent:
        # A repeat after an attempt the service may have carried out found no record: that attempt most likely
        # deleted it. Either way the record is gone, which is what the delete was for; the property says the answer
        # was not the usual one, so a host need not report "not found" for a record this run deleted.
        properties = properties_of(http_status=response.status_code, already_deleted="true")
        return success_result(None, {**known, **properties}, index, ResultStatus.DELETED)
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
