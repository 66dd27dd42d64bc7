"""The write operations: Create, Update and Upsert, one request per input document (Delete is
:mod:`connector.dataverse.operations.delete`).

* **Create** ``POST <entity set>``. A document carrying its primary key creates the record with that id (the
  client-assigned key), and only then is the request marked idempotent: re-sending it after an answer was lost
  cannot make a second record, and a re-sent create refused as a duplicate is done when the record holds exactly
  what was sent (:mod:`connector.dataverse.operations.resends`). Without one, a create whose answer was lost is
  reported, never silently re-sent.
* **Update** ``PATCH <record>`` with the concurrency header carrying the document's ETag (or the ``etag`` option):
  If-Match with a version fails a changed record with reason ``changed_since_read``; ``If-Match: *`` updates only
  (``not_found``); ``If-None-Match: *`` creates only (``already_exists``); no ETag at all is an upsert.
* **Upsert** ``PATCH <record>`` with no condition, by primary or alternate key; ``created`` says which happened
  when the record is returned (201 against 200).
* **Delete** ``DELETE <record>``, with If-Match when the document carries its ETag; the result is ``deleted``.

Bodies keep the document's members exactly (``<Nav>@odata.bind`` keys keep their case). Each write is split into
preparing its request (``prepare_*``) and reading its answer (``*_outcome``), so that bulk requests
(:mod:`connector.dataverse.bulk.runner`) give every record exactly the result a request of its own would give.
Their options are :mod:`connector.dataverse.operations.write_options`; :func:`write_record` picks the write by the
options' class. Not for building bulk requests.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests

from connector.dataverse.metadata.tables import EntityInfo
from connector.dataverse.odata.answers import entity_url_of, etag_of, json_body
from connector.dataverse.odata.literals import LiteralError, entity_path, guid_of, is_guid, record_id_of
from connector.dataverse.operations.inputs import (
    EDIT_LINK,
    ETAG,
    DocumentError,
    Target,
    document_etag,
    document_query_parameters,
    resolve_target,
    write_body,
)
from connector.dataverse.operations.option_labels import with_option_values
from connector.dataverse.operations.options import OperationOptions
from connector.dataverse.operations.outcomes import error_result, properties_of, success_result
from connector.dataverse.operations.output_records import record_result
from connector.dataverse.operations.resends import stored_as_sent
from connector.dataverse.operations.running import OperationContext, runs_with
from connector.dataverse.operations.write_options import (
    CreateOptions,
    RecordWriteOptions,
    UpdateOptions,
    UpsertOptions,
)
from connector.results import OperationResult

__all__ = [
    "PreparedCreate",
    "PreparedPatch",
    "condition_reason",
    "create_outcome",
    "create_record",
    "error_outcome",
    "known_properties",
    "prepare_create",
    "prepare_update",
    "prepare_upsert",
    "target_of",
    "update_outcome",
    "update_record",
    "upsert_outcome",
    "upsert_record",
    "write_record",
]


@dataclass(frozen=True)
class PreparedCreate:
    """A create, ready to send.

    :param entity: the table.
    :param body: the body to send.
    :param record_id: the primary key the body carries (the document's, or one assigned here), else ``None``.
    :param assigned: whether ``record_id`` was assigned by the connector rather than given by the document.
    """

    entity: EntityInfo
    body: dict[str, Any]
    record_id: str | None
    assigned: bool = False


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


def prepare_create(
    context: OperationContext[OperationOptions],
    document: Mapping[str, Any],
    *,
    assign_key: bool = False,
    new_key: Callable[[], str] = lambda: str(uuid.uuid4()),
) -> PreparedCreate:
    """Build the body of a create and find the primary key it carries.

    :param context: the run.
    :param document: the record (with nested records for a deep insert).
    :param assign_key: give a document without its primary key a new one (a random UUID), so that the create can
        be re-sent after a lost answer without making a second record.
    :param new_key: makes that key.
    :returns: the prepared create.
    :raises DocumentError: when the document's primary key is not a GUID.
    """
    entity = context.metadata.entity(context.entity_set)
    body = with_option_values(context, write_body(document))
    record_id = None
    assigned = False
    if entity.primary_id and body.get(entity.primary_id) is not None:
        try:
            record_id = guid_of(body[entity.primary_id])
        except LiteralError as error:
            raise DocumentError(entity.primary_id, str(error)) from None
        body[entity.primary_id] = record_id
    elif assign_key and entity.primary_id:
        record_id = new_key()
        body[entity.primary_id] = record_id
        assigned = True
    return PreparedCreate(entity, body, record_id, assigned)


def write_record(
    context: OperationContext[RecordWriteOptions], index: int, document: Mapping[str, Any]
) -> OperationResult:
    """Create, update or upsert the record one document describes, as the run's options say.

    :param context: a run of Create, Update or Upsert.
    :param index: the document's index.
    :param document: the record.
    :returns: the document's result.
    :raises TypeError: for options of another kind (a defect).
    """
    if runs_with(context, CreateOptions):
        return create_record(context, index, document)
    if runs_with(context, UpdateOptions):
        return update_record(context, index, document)
    if runs_with(context, UpsertOptions):
        return upsert_record(context, index, document)
    raise TypeError(f"{type(context.options).__name__} are not the options of a record write")


def create_record(context: OperationContext[CreateOptions], index: int, document: Mapping[str, Any]) -> OperationResult:
    """Create the record one document describes.

    :param context: the run.
    :param index: the document's index.
    :param document: the record (with nested records for a deep insert).
    :returns: ``success`` with the id and URL (and the record on request), or the error result.
    """
    prepared = prepare_create(context, document, assign_key=context.options.client_keys == "always")
    query, prefer = context.options.representation()
    response = context.client.send(
        "POST",
        context.entity_set,
        query=[*query, *document_query_parameters(document, context.common.query_parameters)],
        prefer=prefer,
        headers=context.options.headers(),
        json=prepared.body,
        # Re-sending is safe only when the key is ours: a second POST cannot create a second record.
        idempotent=prepared.record_id is not None,
    )
    return create_outcome(context, prepared, response, index)


def create_outcome(
    context: OperationContext[OperationOptions], prepared: PreparedCreate, response: requests.Response, index: int
) -> OperationResult:
    """The result of a create's answer.

    A create carrying its own key that is refused as a duplicate is read back: stored exactly as sent means an
    earlier attempt did it (``success`` with ``already_stored``).

    :param context: the run.
    :param prepared: what was sent.
    :param response: the answer.
    :param index: the document's index.
    :returns: the document's result.
    """
    entity, record_id = prepared.entity, prepared.record_id
    known = known_properties(context, entity, record_id)
    if response.status_code in (409, 412) and record_id is not None:
        # Possibly our own earlier attempt, processed before its answer was lost: done if stored exactly as sent.
        stored = stored_as_sent(context.client, context.metadata, entity, record_id, prepared.body)
        if stored is not None:
            result = record_result(context.client, entity, stored, index)
            properties = {**result.properties, "already_stored": "true", "http_status": str(response.status_code)}
            return success_result(result.payload, properties, index)
        return error_outcome(
            context, response, index, reason="already_exists", field=entity.primary_id, properties=known
        )
    if response.status_code >= 400:
        return error_outcome(context, response, index, properties=known)
    return _written(context, entity, response, index, record_id)


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
    # A repeated unconditional PATCH sets the same values again; a conditional one would fail the second time.
    idempotent = not etag or (mode == "if_match" and etag == "*")
    return PreparedPatch(entity, target, with_option_values(context, write_body(document)), headers, idempotent, etag)


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
    :returns: ``success``, or the error result (``changed_since_read``, ``not_found``, ``already_exists``).
    """
    entity, target, etag = prepared.entity, prepared.target, prepared.etag
    mode = context.options.concurrency_mode
    if response.status_code >= 400:
        return error_outcome(
            context,
            response,
            index,
            reason=condition_reason(response.status_code, mode, etag),
            field=ETAG if response.status_code == 412 and etag and etag != "*" and mode == "if_match" else None,
            properties=known_properties(context, entity, target.record_id, target),
        )
    return _written(context, entity, response, index, target.record_id, target)


def prepare_upsert(context: OperationContext[UpsertOptions], document: Mapping[str, Any]) -> PreparedPatch:
    """Address the record of an upsert.

    :param context: the run.
    :param document: the record, with its key.
    :returns: the prepared upsert (always idempotent).
    :raises DocumentError: when the document does not address a record.
    """
    entity, target = target_of(context, context.options.key_fields, document)
    body = with_option_values(context, write_body(document))
    return PreparedPatch(entity, target, body, context.options.headers(), True)


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
    :returns: ``success`` (property ``created`` when the record was returned), or the error result.
    """
    entity, target = prepared.entity, prepared.target
    if response.status_code >= 400:
        return error_outcome(
            context, response, index, properties=known_properties(context, entity, target.record_id, target)
        )
    result = _written(context, entity, response, index, target.record_id, target)
    if response.status_code in (200, 201):
        properties = {**result.properties, "created": "true" if response.status_code == 201 else "false"}
        return success_result(result.payload, properties, index)
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


def _written(
    context: OperationContext[OperationOptions],
    entity: EntityInfo,
    response: requests.Response,
    index: int,
    record_id: str | None,
    target: Target | None = None,
) -> OperationResult:
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
