"""The Create operation: ``POST <entity set>``, one request per input document, and what a create's answer means.

A document carrying its primary key creates the record with that id; by default the connector gives one to a document
without it (``client_keys: always``, a new key ascending in SQL Server's order) or derives it from the document's
source id (``key_source_field``, :mod:`connector.dataverse.operations.keys`). Only a create that carries its key is
marked idempotent: re-sending it after an answer was lost cannot make a second record. When its answer still does
not say what happened (lost after the retries, cut off or malformed, a gateway's ``502``/``504``, or a re-sent create
refused as a duplicate), the record is read back and the result says what was found
(:mod:`connector.dataverse.operations.resends`). Without a key, a create whose answer was lost is never re-sent and
its result is ``outcome_unknown``. Nested records (deep insert) and binds are sent as given (but for choice labels,
with ``option_labels``: :mod:`.option_labels`).

Preparing (:func:`prepare_create`) and reading the answer (:func:`create_outcome`) are apart, so that a bulk request
(:mod:`connector.dataverse.bulk`) gives each record exactly the result a request of its own would give, and a record
a bulk run sends alone keeps the key it was given (:func:`send_create`). Not for updates or upserts:
:mod:`connector.dataverse.operations.write`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from connector.dataverse.metadata.tables import EntityInfo
from connector.dataverse.odata.answers import entity_url_of
from connector.dataverse.odata.literals import LiteralError, guid_of, is_guid, record_id_of
from connector.dataverse.operations.inputs import DocumentError, document_query_parameters, write_body
from connector.dataverse.operations.keys import new_record_key, source_key
from connector.dataverse.operations.option_labels import with_option_values
from connector.dataverse.operations.options import OperationOptions
from connector.dataverse.operations.outcomes import failure_result, success_result, unknown_result
from connector.dataverse.operations.resends import ReadBack, settle_create
from connector.dataverse.operations.running import OperationContext
from connector.dataverse.operations.write import error_outcome, known_properties, may_have_acted, written_result
from connector.dataverse.operations.write_options import CreateOptions, RecordWriteOptions
from connector.errors import TransientError
from connector.results import OperationResult, ResultStatus

__all__ = [
    "PreparedCreate",
    "create_outcome",
    "create_record",
    "prepare_create",
    "send_create",
    "unanswered_create",
]


@dataclass(slots=True)
class PreparedCreate:
    """A create, ready to send; never changed once built (not frozen, as
    :class:`~connector.dataverse.bulk.plan.BulkItem`: a bulk run builds one per record).

    :param entity: the table.
    :param body: the body to send.
    :param record_id: the primary key the body carries (the document's, or one assigned here), else ``None``.
    :param assigned: whether ``record_id`` was assigned by the connector rather than given by the document.
    """

    entity: EntityInfo
    body: dict[str, Any]
    record_id: str | None
    assigned: bool = False


def prepare_create(
    context: OperationContext[OperationOptions],
    document: Mapping[str, Any],
    *,
    assign_key: bool = False,
    new_key: Callable[[], str] = new_record_key,
    derive_from: str | None = None,
) -> PreparedCreate:
    """Build the body of a create and find the primary key it carries (:mod:`~connector.dataverse.operations.keys`).

    :param context: the run.
    :param document: the record (with nested records for a deep insert).
    :param assign_key: give a document without its primary key a new one (:data:`new_record_key`'s), so that the
        create can be re-sent after a lost answer without making a second record.
    :param new_key: makes that key.
    :param derive_from: the ``key_source_field`` option: a document without its primary key gets the id derived
        from this member's value instead, the same in every run.
    :returns: the prepared create.
    :raises DocumentError: when the document's primary key is not a GUID, or its source field is missing or unfit.
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
    elif derive_from and entity.primary_id:
        record_id = source_key(document, derive_from, entity.logical_name)
        body[entity.primary_id] = record_id
    elif assign_key and entity.primary_id:
        record_id = new_key()
        body[entity.primary_id] = record_id
        assigned = True
    return PreparedCreate(entity, body, record_id, assigned)


def create_record(context: OperationContext[CreateOptions], index: int, document: Mapping[str, Any]) -> OperationResult:
    """Create the record one document describes.

    :param context: the run.
    :param index: the document's index.
    :param document: the record (with nested records for a deep insert).
    :returns: ``success`` with the id and URL (and the record on request), or the error result.
    """
    options = context.options
    prepared = prepare_create(
        context, document, assign_key=options.client_keys == "always", derive_from=options.key_source_field
    )
    return send_create(context, prepared, document, index)


def send_create(
    context: OperationContext[RecordWriteOptions], prepared: PreparedCreate, document: Mapping[str, Any], index: int
) -> OperationResult:
    """Send a prepared create on its own and read its answer (a bulk run sends a record alone this way, with the key
    its bulk request carried).

    :param context: the run.
    :param prepared: the create.
    :param document: the document (for its query parameters).
    :param index: the document's index.
    :returns: the document's result.
    """
    query, prefer = context.options.representation()
    try:
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
    except TransientError as error:
        return unanswered_create(context, prepared, error, index)
    return create_outcome(context, prepared, response, index)


def unanswered_create(
    context: OperationContext[OperationOptions],
    prepared: PreparedCreate,
    error: TransientError,
    index: int,
    read: ReadBack | None = None,
) -> OperationResult:
    """The result of a create that got no answer it could read (the connection failed, was reset or timed out).

    :param context: the run.
    :param prepared: what was sent.
    :param error: the transport's error.
    :param index: the document's index.
    :param read: what reading the record back found, when its bulk request's records were read back together.
    :returns: with a key: what reading the record back found (an earlier attempt may have been processed although
        the last one got no answer); without one: ``outcome_unknown`` when the request may have been processed,
        else ``failed``.
    """
    if prepared.record_id is None:
        return failure_result(error, index)
    client = context.client
    return settle_create(
        client,
        context.metadata,
        prepared.entity,
        prepared.record_id,
        prepared.body,
        index=index,
        cause=error,
        ours=prepared.assigned,
        read=read,
    )


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
    entity, record_id, status = prepared.entity, prepared.record_id, response.status_code
    known = known_properties(context, entity, record_id)
    client, metadata, body = context.client, context.metadata, prepared.body
    if status in (409, 412) and record_id is not None:
        # Possibly our own earlier attempt, processed before its answer was lost: done if stored exactly as sent.
        refusal = error_outcome(
            context, response, index, reason="already_exists", field=entity.primary_id, properties=known
        )
        cause = client.transport.error_for(response)
        settled = settle_create(
            client,
            metadata,
            entity,
            record_id,
            body,
            index=index,
            cause=cause,
            ours=prepared.assigned,
            duplicate=refusal,
        )
        if settled.status is ResultStatus.SUCCESS:
            return success_result(settled.payload, {**settled.properties, "http_status": str(status)}, index)
        return settled
    if may_have_acted(response):
        # A gateway's error: the request may have been passed on and processed before it gave up.
        cause = client.transport.error_for(response)
        if record_id is None:
            return unknown_result(cause, index)
        return settle_create(
            client, metadata, entity, record_id, body, index=index, cause=cause, ours=prepared.assigned
        )
    if status >= 400:
        return error_outcome(context, response, index, properties=known)
    try:
        return written_result(context, entity, response, index, record_id)
    except TransientError as error:
        # A success status whose body is cut off or malformed: the record was most likely created. Its id says.
        answered = record_id or _answered_id(response)
        if answered is None:
            return unknown_result(
                error,
                index,
                advice="the record was probably created, but its id is unknown: look for it before"
                " sending the document again",
            )
        return settle_create(client, metadata, entity, answered, body, index=index, cause=error, ours=True)


def _answered_id(response: requests.Response) -> str | None:
    """:returns: the record id of a write's ``OData-EntityId`` header, when the answer carried one."""
    url = entity_url_of(response)
    record_id = record_id_of(url) if url else None
    return guid_of(record_id) if is_guid(record_id) else None
