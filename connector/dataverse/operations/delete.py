"""The Delete operation: ``DELETE <record>`` per input document, one request each or in bulk requests.

The document addresses the record (edit link, primary key or alternate key), with ``If-Match`` when the concurrency
mode is ``if_match`` and the document carries its ETag; the result is ``deleted``, or ``not_found`` /
``changed_since_read``. A ``404`` that answers a repeat, sent after an attempt the service may have carried out (its
answer lost, or a gateway's ``502``/``504``), is ``deleted`` with ``already_deleted``: the record is gone, most likely
by that attempt, and must not be reported as one that never existed. It shares how a record is addressed and how an
answer becomes a result with the other writes (:mod:`connector.dataverse.operations.write`). A delete is split into
preparing its request (:func:`prepare_delete`) and reading its answer (:func:`delete_outcome`), so that a ``$batch``
part or a ``DeleteMultiple`` target (:mod:`connector.dataverse.bulk.deletes`) gives each record exactly the result a
request of its own would give. Its options are :class:`DeleteOptions`. Not for the asynchronous ``BulkDelete`` job:
:mod:`connector.dataverse.operations.delete_jobs`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import requests

from connector.dataverse.bulk.options import BulkOptions
from connector.dataverse.metadata.tables import EntityInfo
from connector.dataverse.operations.inputs import ETAG, Target, document_etag, document_query_parameters
from connector.dataverse.operations.options import CommonOptions, OperationOptions, WriteOptions, strings
from connector.dataverse.operations.outcomes import properties_of, success_result
from connector.dataverse.operations.running import OperationContext
from connector.dataverse.operations.write import condition_reason, error_outcome, known_properties, target_of
from connector.results import OperationResult, ResultStatus
from connector.retry import delivery_of

__all__ = ["DeleteOptions", "PreparedDelete", "delete_outcome", "delete_record", "prepare_delete"]


@dataclass(frozen=True, kw_only=True)
class DeleteOptions(WriteOptions):
    """The Delete operation's options.

    :param key_fields: the document members that form an alternate key; empty: edit link or primary key.
    :param concurrency_mode: ``if_match`` sends the document's ETag, so a changed record is not deleted.
    :param bulk: how documents are grouped into bulk requests (``$batch``, ``DeleteMultiple``).
    """

    key_fields: tuple[str, ...]
    concurrency_mode: Literal["if_match", "none"]
    bulk: BulkOptions

    @classmethod
    def from_values(cls, operation: str, values: Mapping[str, Any]) -> DeleteOptions:
        """:returns: the options of validated values (``operation`` is ``delete``; defaults filled in)."""
        return cls(
            common=CommonOptions.from_values(values),
            bypass_custom_plugins=bool(values["bypass_custom_plugins"]),
            bypass_business_logic=values["bypass_business_logic"],
            key_fields=strings(values["key_fields"]),
            concurrency_mode=values["concurrency_mode"],
            bulk=BulkOptions.from_values(operation, values["bulk"]),
        )


@dataclass(frozen=True)
class PreparedDelete:
    """A delete, ready to send.

    :param entity: the table.
    :param target: the record addressed.
    :param headers: the request's headers (``If-Match`` and ``MSCRM.*``).
    :param etag: the ETag sent in ``If-Match``, if any.
    """

    entity: EntityInfo
    target: Target
    headers: dict[str, str]
    etag: str | None


def prepare_delete(context: OperationContext[DeleteOptions], document: Mapping[str, Any]) -> PreparedDelete:
    """Address the record of a delete and choose its ``If-Match``.

    :param context: the run.
    :param document: the record's address, optionally with its ETag.
    :returns: the prepared delete.
    :raises DocumentError: when the document does not address a record, or its ETag is not text.
    """
    options = context.options
    entity, target = target_of(context, options.key_fields, document)
    headers = options.headers()
    etag = document_etag(document) if options.concurrency_mode == "if_match" else None
    if etag:
        headers["If-Match"] = etag
    return PreparedDelete(entity, target, headers, etag)


def delete_record(context: OperationContext[DeleteOptions], index: int, document: Mapping[str, Any]) -> OperationResult:
    """Delete the record one document addresses.

    :param context: the run.
    :param index: the document's index.
    :param document: the record's address, optionally with its ETag.
    :returns: ``deleted`` (with ``already_deleted`` when a repeat found the record gone), or the error result
        (``not_found``, ``changed_since_read``).
    """
    prepared = prepare_delete(context, document)
    response = context.client.send(
        "DELETE",
        prepared.target.url,
        query=document_query_parameters(document, context.common.query_parameters),
        headers=prepared.headers,
    )
    return delete_outcome(context, prepared, response, index)


def delete_outcome(
    context: OperationContext[OperationOptions], prepared: PreparedDelete, response: requests.Response, index: int
) -> OperationResult:
    """The result of a delete's answer.

    :param context: the run.
    :param prepared: what was sent.
    :param response: the answer.
    :param index: the document's index.
    :returns: ``deleted``, or the error result (``not_found``, ``changed_since_read``).
    """
    etag = prepared.etag
    known = known_properties(context, prepared.entity, prepared.target.record_id, prepared.target)
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
