"""The Get operation: one record per input document, by edit link, primary key or (composite) alternate key.

``GET <entity set>(<key>)?$select=…&$expand=…`` with the document's custom query parameters. With the concurrency
mode If-None-Match and a document carrying ``@odata.etag``, an unchanged record answers ``304`` and the document's
result is ``not_modified``, without the record. Not for collections: see :mod:`connector.dataverse.operations.query`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connector.dataverse.odata.answers import json_body
from connector.dataverse.odata.literals import record_id_of
from connector.dataverse.operations.inputs import document_etag, document_query_parameters, resolve_target
from connector.dataverse.operations.outcomes import error_result, properties_of, success_result
from connector.dataverse.operations.output_records import annotation_preference, record_result
from connector.dataverse.operations.running import OperationContext
from connector.errors import TransientError
from connector.results import OperationResult, ResultStatus

__all__ = ["get_record", "read_options"]


def read_options(options: Mapping[str, Any]) -> list[tuple[str, str]]:
    """:returns: the ``$select`` and ``$expand`` query options of Get's or Query's options."""
    query: list[tuple[str, str]] = []
    if options.get("select"):
        query.append(("$select", ",".join(options["select"])))
    if options.get("expand"):
        query.append(("$expand", ",".join(options["expand"])))
    return query


def get_record(context: OperationContext, index: int, document: Mapping[str, Any]) -> OperationResult:
    """Retrieve the record one document addresses.

    :param context: the run.
    :param index: the document's index.
    :param document: the input document.
    :returns: ``success`` with the record, ``not_modified``, or the error result.
    """
    client = context.client
    target = resolve_target(client, context.metadata, context.entity_set, context.options["key_fields"], document)
    entity = context.metadata.entity(context.entity_set)
    headers: dict[str, str] = {}
    etag = document_etag(document) if context.options["concurrency_mode"] == "if_none_match" else None
    if etag:
        headers["If-None-Match"] = etag
    preference = annotation_preference(context.options)
    query = read_options(context.options) + list(document_query_parameters(document, context.common.query_parameters))
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
