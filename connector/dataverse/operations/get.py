"""The Get operation: one record per input document, by edit link, primary key or (composite) alternate key.

``GET <entity set>(<key>)?$select=…&$expand=…`` with the document's custom query parameters. With the concurrency
mode If-None-Match and a document carrying ``@odata.etag``, an unchanged record answers ``304`` and the document's
result is ``not_modified``, without the record. Its options are :class:`GetOptions`. Not for collections: see
:mod:`connector.dataverse.operations.query`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from connector.dataverse.odata.answers import json_body
from connector.dataverse.odata.literals import record_id_of
from connector.dataverse.operations.inputs import document_etag, document_query_parameters, resolve_target
from connector.dataverse.operations.options import CommonOptions, ReadOptions, strings
from connector.dataverse.operations.outcomes import error_result, properties_of, success_result
from connector.dataverse.operations.output_records import record_result
from connector.dataverse.operations.running import OperationContext
from connector.errors import TransientError
from connector.results import OperationResult, ResultStatus

__all__ = ["GetOptions", "get_record"]


@dataclass(frozen=True, kw_only=True)
class GetOptions(ReadOptions):
    """The Get operation's options.

    :param key_fields: the document members that form an alternate key; empty: edit link or primary key.
    :param concurrency_mode: ``if_none_match`` sends the document's ETag, so an unchanged record answers ``304``.
    """

    key_fields: tuple[str, ...]
    concurrency_mode: Literal["none", "if_none_match"]

    @classmethod
    def from_values(cls, operation: str, values: Mapping[str, Any]) -> GetOptions:
        """:returns: the options of validated values (``operation`` is ``get``; defaults filled in)."""
        return cls(
            common=CommonOptions.from_values(values),
            select=strings(values["select"]),
            expand=strings(values["expand"]),
            formatted_values=bool(values["formatted_values"]),
            include_annotations=strings(values["include_annotations"]),
            key_fields=strings(values["key_fields"]),
            concurrency_mode=values["concurrency_mode"],
        )


def get_record(context: OperationContext[GetOptions], index: int, document: Mapping[str, Any]) -> OperationResult:
    """Retrieve the record one document addresses.

    :param context: the run.
    :param index: the document's index.
    :param document: the input document.
    :returns: ``success`` with the record, ``not_modified``, or the error result.
    """
    client = context.client
    options = context.options
    target = resolve_target(client, context.metadata, context.entity_set, options.key_fields, document)
    entity = context.metadata.entity(context.entity_set)
    headers: dict[str, str] = {}
    etag = document_etag(document) if options.concurrency_mode == "if_none_match" else None
    if etag:
        headers["If-None-Match"] = etag
    preference = options.annotation_preference()
    query = options.select_expand() + list(document_query_parameters(document, context.common.query_parameters))
    response = client.send("GET", target.url, query=query, prefer=[preference] if preference else [], headers=headers)
    known = properties_of(id=target.record_id if target.record_id else None, entity_url=target.url)
    if response.status_code == 304:
        return success_result(
            None, {**known, **properties_of(etag=etag, http_status=304)}, index, ResultStatus.NOT_MODIFIED
        )
    if response.status_code >= 400:
        reason = "not_found" if response.status_code == 404 else None
        return error_result(
            client.transport,
            response,
            index,
            application_errors=context.common.return_application_errors,
            reason=reason,
            properties=known,
        )
    body = json_body(response)
    if not isinstance(body, Mapping):
        raise TransientError(f"The service answered the Get of {record_id_of(target.url)} without a record")
    return record_result(client, entity, body, index)
