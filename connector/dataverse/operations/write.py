"""The Update and Upsert operations, one request per input document, and what every record write shares (Create is
:mod:`connector.dataverse.operations.creates`, Delete :mod:`connector.dataverse.operations.delete`).

* **Update** ``PATCH <record>`` with the concurrency header carrying the document's ETag (or the ``etag`` option):
  If-Match with a version fails a changed record with reason ``changed_since_read``; ``If-Match: *`` updates only
  (``not_found``); ``If-None-Match: *`` creates only (``already_exists``); no ETag at all is an upsert. A
  conditional update whose answer was lost, or a gateway's ``502``/``504``, is ``outcome_unknown``.
* **Upsert** ``PATCH <record>`` with no condition, by primary or alternate key, or by the id derived from the
  document's source id (``key_source_field``); ``created`` says which happened when the record is returned (201
  against 200), and is left out when a 200 answered a repeat (the lost first attempt may have created the record).

Shared by every record write: how a record is addressed (:func:`target_of`), the properties known before an answer
(:func:`known_properties`), an error answer's result (:func:`error_outcome`), a written record's result
(:func:`written_result`). Bodies keep the document's members exactly (``<Nav>@odata.bind`` keys keep their case).
Each write is split into preparing its request (``prepare_*``) and reading its answer (``*_outcome``), so that bulk
requests (:mod:`connector.dataverse.bulk.runner`) give every record exactly the result a request of its own would
give. Their options are :mod:`connector.dataverse.operations.write_options`. Not for building bulk requests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import requests

from connector.dataverse.metadata.tables import EntityInfo
from connector.dataverse.odata.answers import entity_url_of, etag_of, json_body
from connector.dataverse.odata.literals import entity_path, guid_of, is_guid, record_id_of
from connector.dataverse.operations.inputs import (
    EDIT_LINK,
    ETAG,
    Target,
    document_etag,
    document_query_parameters,
    resolve_target,
    write_body,
)
from connector.dataverse.operations.keys import source_key
from connector.dataverse.operations.option_labels import with_option_values
from connector.dataverse.operations.options import OperationOptions
from connector.dataverse.operations.outcomes import error_result, properties_of, success_result, unknown_result
from connector.dataverse.operations.running import OperationContext
from connector.dataverse.operations.write_options import RecordWriteOptions, UpdateOptions, UpsertOptions
from connector.results import OperationResult
from connector.retry import ResendRule, delivery_of

__all__ = [
    "GATEWAY_STATUSES",
    "PreparedPatch",
    "condition_reason",
    "error_outcome",
    "known_properties",
    "may_have_acted",
    "prepare_update",
    "prepare_upsert",
    "target_of",
    "update_outcome",
    "update_record",
    "upsert_outcome",
    "upsert_record",
    "written_result",
]

GATEWAY_STATUSES: Final = frozenset({502, 503, 504})
"""Answers that may come from a gateway that passed the request on before giving up: a write answered so may have
been carried out, unless the answer says it was not (a ``503`` with ``Retry-After``; see :func:`may_have_acted`)."""


def may_have_acted(response: requests.Response) -> bool:
    """:returns: whether the service may have carried out the request this error answer is for, as the retry
    engine's resend rule reads it (:class:`connector.retry.ResendRule`): a ``502``, a ``504``, or a ``503`` without
    ``Retry-After``.
    """
    status = response.status_code
    if status not in GATEWAY_STATUSES:
        return False
    return not ResendRule().unprocessed(status, None if not response.headers.get("Retry-After") else 0.0)


@dataclass(frozen=True)
class PreparedPatch:
    """An update or upsert, ready to send.

    :param entity: the table.
    :param target: the record addressed.
    :param body: the body to send.
    :param headers: the request's headers (concurrency and ``MSCRM.*``).
    :param idempotent: whether re-sending it after a lost answer is safe.
    :param etag: the ETag sent in a concurrency header, if any.
    """

    entity: EntityInfo
    target: Target
    body: dict[str, Any]
    headers: dict[str, str]
    idempotent: bool
    etag: str | None = None


def prepare_update(context: OperationContext[UpdateOptions], document: Mapping[str, Any]) -> PreparedPatch:
    """Address the record of an update and choose its concurrency header.

    :param context: the run.
    :param document: the changes, with the record's address and optionally its ETag.
    :returns: the prepared update.
    :raises DocumentError: when the document does not address a record, or its ETag is not text.
    """
    options = context.options
    entity, target = target_of(context, options.key_fields, document)
    etag = document_etag(document) or options.etag
    mode = options.concurrency_mode
    headers = options.headers()
    if etag:
        headers["If-Match" if mode == "if_match" else "If-None-Match"] = etag
    # Idempotent by construction: a repeated unconditional PATCH (or If-Match: *) sets the same values again; a
    # repeat of a conditional one whose first attempt was applied is refused (412), which error_outcome reports as
    # an unknown outcome, never as the record's state.
    return PreparedPatch(entity, target, with_option_values(context, write_body(document)), headers, True, etag)


def update_record(context: OperationContext[UpdateOptions], index: int, document: Mapping[str, Any]) -> OperationResult:
    """Update (or, without any ETag, upsert) the record one document addresses.

    :param context: the run.
    :param index: the document's index.
    :param document: the changes, with the record's address and optionally its ETag.
    :returns: ``success``, or the error result (``changed_since_read``, ``not_found``, ``already_exists``).
    """
    prepared = prepare_update(context, document)
    response = _patch(context, prepared, document)
    return update_outcome(context, prepared, response, index)


def update_outcome(
    context: OperationContext[UpdateOptions], prepared: PreparedPatch, response: requests.Response, index: int
) -> OperationResult:
    """The result of an update's answer.

    :param context: the run.
    :param prepared: what was sent.
    :param response: the answer.
    :param index: the document's index.
    :returns: ``success``, or the error result (``changed_since_read``, ``not_found``, ``already_exists``; or
        ``outcome_unknown`` when the refusal answered a repeat of the request, sent after an earlier attempt the
        service may have carried out).
    """
    entity, target, etag = prepared.entity, prepared.target, prepared.etag
    mode = context.options.concurrency_mode
    known = known_properties(context, entity, target.record_id, target)
    if may_have_acted(response) and not prepared.idempotent:
        # A conditional update a gateway gave up on may have been applied; sent again, it would fail its condition.
        return unknown_result(context.client.transport.error_for(response), index, known)
    if response.status_code >= 400:
        reason = condition_reason(response.status_code, mode, etag)
        if reason is not None and delivery_of(response).resent:
            # A repeat after an attempt the service may have carried out: the refusal may be that attempt's doing.
            return unknown_result(context.client.transport.error_for(response), index, known)
        return error_outcome(
            context,
            response,
            index,
            reason=reason,
            field=ETAG if response.status_code == 412 and etag and etag != "*" and mode == "if_match" else None,
            properties=known,
        )
    return written_result(context, entity, response, index, target.record_id, target)


def prepare_upsert(context: OperationContext[UpsertOptions], document: Mapping[str, Any]) -> PreparedPatch:
    """Address the record of an upsert.

    :param context: the run.
    :param document: the record, with its key (or, with the ``key_source_field`` option, its source system's id).
    :returns: the prepared upsert (always idempotent).
    :raises DocumentError: when the document does not address a record.
    """
    options = context.options
    source = options.key_source_field
    if source and not options.key_fields and document.get(EDIT_LINK) is None:
        entity = context.metadata.entity(context.entity_set)
        if entity.primary_id and document.get(entity.primary_id) is None:
            record_id = source_key(document, source, entity.logical_name)
            target = Target(context.client.url(entity_path(entity.entity_set, record_id)), record_id)
            return PreparedPatch(
                entity, target, with_option_values(context, write_body(document)), options.headers(), True
            )
    entity, target = target_of(context, options.key_fields, document)
    return PreparedPatch(entity, target, with_option_values(context, write_body(document)), options.headers(), True)


def upsert_record(context: OperationContext[UpsertOptions], index: int, document: Mapping[str, Any]) -> OperationResult:
    """Create or update the record one document addresses by key.

    :param context: the run.
    :param index: the document's index.
    :param document: the record, with its key.
    :returns: ``success`` (property ``created`` when the record was returned), or the error result.
    """
    prepared = prepare_upsert(context, document)
    response = _patch(context, prepared, document)
    return upsert_outcome(context, prepared, response, index)


def upsert_outcome(
    context: OperationContext[OperationOptions], prepared: PreparedPatch, response: requests.Response, index: int
) -> OperationResult:
    """The result of an upsert's answer.

    :param context: the run.
    :param prepared: what was sent.
    :param response: the answer.
    :param index: the document's index.
    :returns: ``success`` (property ``created`` when the record was returned and the answer says which happened),
        or the error result.
    """
    entity, target = prepared.entity, prepared.target
    if response.status_code >= 400:
        return error_outcome(
            context, response, index, properties=known_properties(context, entity, target.record_id, target)
        )
    result = written_result(context, entity, response, index, target.record_id, target)
    if response.status_code == 201 or (response.status_code == 200 and not delivery_of(response).resent):
        properties = {**result.properties, "created": "true" if response.status_code == 201 else "false"}
        return success_result(result.payload, properties, index)
    # A 200 that answers a repeat says only that the record existed when the repeat arrived: the attempt whose answer
    # was lost may have created it. ``created`` is left out rather than said wrongly.
    return result


# -- helpers ----------------------------------------------------------------------------------------------------


def target_of(
    context: OperationContext[OperationOptions], key_fields: Sequence[str], document: Mapping[str, Any]
) -> tuple[EntityInfo, Target]:
    """:returns: the table a document writes to and the record it addresses (by the ``key_fields`` option)."""
    target = resolve_target(context.client, context.metadata, context.entity_set, key_fields, document)
    entity = context.metadata.entity(context.entity_set)
    return entity, target


def _patch(
    context: OperationContext[RecordWriteOptions], prepared: PreparedPatch, document: Mapping[str, Any]
) -> requests.Response:
    query, prefer = context.options.representation()
    return context.client.send(
        "PATCH",
        prepared.target.url,
        query=[*query, *document_query_parameters(document, context.common.query_parameters)],
        prefer=prefer,
        headers=prepared.headers,
        json=prepared.body,
        idempotent=prepared.idempotent,
    )


def condition_reason(status: int, mode: str, etag: str | None) -> str | None:
    """:returns: the result's reason for a refused conditional write (``not_found``, ``already_exists``,
    ``changed_since_read``).
    """
    if status == 404:
        return "not_found"
    if status != 412 or not etag:
        return None
    if mode == "if_none_match":
        return "already_exists"
    return "changed_since_read"


def known_properties(
    context: OperationContext[OperationOptions], entity: EntityInfo, record_id: str | None, target: Target | None = None
) -> dict[str, str]:
    """:returns: the ``id`` and ``entity_url`` properties known before the answer is read."""
    if target is not None:
        return properties_of(id=record_id, entity_url=target.url)
    if record_id:
        return properties_of(id=record_id, entity_url=context.client.url(entity_path(entity.entity_set, record_id)))
    return {}


def error_outcome(
    context: OperationContext[OperationOptions],
    response: requests.Response,
    index: int,
    *,
    reason: str | None = None,
    field: str | None = None,
    properties: Mapping[str, str] | None = None,
) -> OperationResult:
    """:returns: the error result of an error answer, with the run's application-error setting."""
    return error_result(
        context.client.transport,
        response,
        index,
        application_errors=context.common.return_application_errors,
        reason=reason,
        field=field,
        properties=properties,
    )


def written_result(
    context: OperationContext[OperationOptions],
    entity: EntityInfo,
    response: requests.Response,
    index: int,
    record_id: str | None,
    target: Target | None = None,
) -> OperationResult:
    """The ``success`` result of a write's answer: the returned record, or its edit link and id.

    :param context: the run.
    :param entity: the table.
    :param response: a successful answer.
    :param index: the document's index.
    :param record_id: the record's id when known before the answer (a key the write carried).
    :param target: the record addressed, for an update or upsert.
    :returns: the result, with ``etag``, ``id``, ``entity_url`` and ``http_status``.
    :raises TransientError: when the answer's body is cut off or malformed.
    """
    body = json_body(response) if response.status_code != 204 else None
    entity_url = entity_url_of(response) or (target.url if target is not None else None)
    if isinstance(body, Mapping) and entity.primary_id and is_guid(body.get(entity.primary_id)):
        record_id = guid_of(body[entity.primary_id])
    elif entity_url is not None and is_guid(record_id_of(entity_url)):
        record_id = record_id_of(entity_url)
    elif record_id is not None and not is_guid(record_id):
        record_id = None
    link = entity_path(entity.entity_set, record_id) if record_id else None
    if entity_url is None and link is not None:
        entity_url = context.client.url(link)
    if isinstance(body, Mapping):
        payload: dict[str, Any] = dict(body)
        if link:
            payload.setdefault(EDIT_LINK, link)
    else:
        payload = {EDIT_LINK: link or context.client.relative(entity_url or "")}
        if record_id and entity.primary_id:
            payload[entity.primary_id] = record_id
    properties = properties_of(
        etag=etag_of(response, body), id=record_id, entity_url=entity_url, http_status=response.status_code
    )
    return success_result(payload, properties, index)
