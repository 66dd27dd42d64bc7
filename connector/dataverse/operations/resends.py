"""Finding out what became of a create that carries its own key, by reading the record back.

A create that carries its primary key (the document's, one the connector assigned, or one derived from a source
field) can be checked when its answer does not say what happened:

* its answer was lost after the request may have been processed (a reset or a time-out while waiting), or came cut
  off or unreadable (a success status whose body is malformed), or was a gateway's ``502``/``504``;
* it was re-sent after such a loss and refused as a duplicate (``409``/``412``), although the record may exist
  exactly as asked.

:func:`read_back` reads the record with that id (again when the answer to the read is itself cut off or malformed:
a GET is safe to repeat) and compares it with the body sent: every value the document set must be stored as sent
(lookups included, through the table's navigation properties); anything that cannot be compared (nested records,
an unknown navigation property) counts as different. :func:`settle_create` turns what it found into the document's
result: stored as sent is ``success`` with ``already_stored``; stored with other values is ``success`` too when
the record can only be this create's (a random key of the connector's, or a success status answered for it), else
``failed`` with reason ``already_exists`` (another record holds the key); not stored is ``failed`` (transient: safe
to send again with the same key); unreadable is ``outcome_unknown`` with the id, so a host can check. A create
without a key cannot be checked this way: see :func:`~connector.dataverse.operations.outcomes.failure_result`.
Not for other conflicts: an alternate-key clash is a different record and stays a failure.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from connector.dataverse.client import DataverseClient
from connector.dataverse.metadata.cache import MetadataCache
from connector.dataverse.metadata.tables import EntityDescription, EntityInfo
from connector.dataverse.odata.answers import json_body
from connector.dataverse.odata.literals import entity_path, guid_of, is_guid, record_id_of
from connector.dataverse.operations.outcomes import properties_of, success_result, unknown_result
from connector.dataverse.operations.output_records import record_result
from connector.errors import ConnectorError, TransientError
from connector.results import ErrorInfo, OperationResult, ResultStatus

__all__ = [
    "Found",
    "ReadBack",
    "already_stored",
    "compared",
    "compared_columns",
    "holds_as_sent",
    "read_back",
    "settle_create",
    "stored_as_sent",
]

_BIND: Final = "@odata.bind"
_READS: Final = 4
"""Reads of one record before giving up on it: each is retried by the transport after a reset or a 5xx, and read
again here after a cut-off or malformed body."""


class Found(enum.Enum):
    """What reading a created record back found."""

    STORED = "stored"
    """The record exists and holds every value the create sent."""
    DIFFERENT = "different"
    """A record with that id exists, holding other values (or values that cannot be compared)."""
    ABSENT = "absent"
    """No record has that id (the service answered ``404``)."""
    UNREADABLE = "unreadable"
    """The record could not be read: the outcome stays unknown."""


@dataclass(frozen=True)
class ReadBack:
    """The outcome of :func:`read_back`.

    :param found: what was found.
    :param record: the stored record, when one was read.
    :param cause: why it could not be read, for :attr:`Found.UNREADABLE`.
    """

    found: Found
    record: Mapping[str, Any] | None = None
    cause: ConnectorError | None = None


def read_back(
    client: DataverseClient, metadata: MetadataCache, entity: EntityInfo, record_id: str, body: Mapping[str, Any]
) -> ReadBack:
    """Read the record a create named, and compare it with what the create sent.

    :param client: the Web API client.
    :param metadata: the connection's metadata (navigation properties of binds).
    :param entity: the table.
    :param record_id: the primary key the create carried.
    :param body: the body the create sent.
    :returns: what was found.
    """
    cause: ConnectorError | None = None
    for _ in range(_READS):
        try:
            response = client.send("GET", entity_path(entity.entity_set, record_id))
            if response.status_code == 404:
                return ReadBack(Found.ABSENT)
            if response.status_code != 200:
                return ReadBack(Found.UNREADABLE, cause=client.transport.error_for(response))
            record = json_body(response)
        except TransientError as error:
            cause = error  # no answer, or one cut off or malformed: a GET may be sent again
            continue
        except ConnectorError as error:
            return ReadBack(Found.UNREADABLE, cause=error)
        if not isinstance(record, Mapping):
            cause = TransientError("The service answered the read-back without a record")
            continue
        return compared(metadata, entity, record, body)
    return ReadBack(Found.UNREADABLE, cause=cause)


def compared(
    metadata: MetadataCache, entity: EntityInfo, record: Mapping[str, Any] | None, body: Mapping[str, Any]
) -> ReadBack:
    """What a record read back says of a create (the records of a bulk request are read back together).

    :param metadata: the connection's metadata (navigation properties of binds).
    :param entity: the table.
    :param record: the record with the create's key, as the service returned it; ``None`` when none was found.
    :param body: the body the create sent.
    :returns: :attr:`Found.ABSENT`, :attr:`Found.STORED`, or :attr:`Found.DIFFERENT` (also when the values cannot
        be compared).
    """
    if record is None:
        return ReadBack(Found.ABSENT)
    try:
        same = _holds(metadata, entity, record, body)
    except ConnectorError as error:
        return ReadBack(Found.DIFFERENT, record, error)
    return ReadBack(Found.STORED if same else Found.DIFFERENT, record)


def stored_as_sent(
    client: DataverseClient, metadata: MetadataCache, entity: EntityInfo, record_id: str, body: Mapping[str, Any]
) -> Mapping[str, Any] | None:
    """:returns: the record a create named when it is stored holding every value sent, else ``None`` (see
    :func:`read_back`).
    """
    found = read_back(client, metadata, entity, record_id, body)
    return found.record if found.found is Found.STORED else None


def settle_create(
    client: DataverseClient,
    metadata: MetadataCache,
    entity: EntityInfo,
    record_id: str,
    body: Mapping[str, Any],
    *,
    index: int,
    cause: ConnectorError,
    ours: bool,
    duplicate: OperationResult | None = None,
    read: ReadBack | None = None,
) -> OperationResult:
    """The result of a create whose answer did not say what happened, found out by reading the record back.

    :param client: the Web API client.
    :param metadata: the connection's metadata.
    :param entity: the table.
    :param record_id: the primary key the create carried.
    :param body: the body it sent.
    :param index: the document's index.
    :param cause: what made the outcome uncertain (for the messages).
    :param ours: whether a record with that id can only have been made by this create (a random key of the
        connector's, or an answer with a success status): then other values still mean it was stored.
    :param duplicate: the result to give when another record holds the key (the service's refusal, when the
        create was refused as a duplicate); a ``failed`` result with reason ``already_exists`` otherwise.
    :param read: what reading the record back found, when it was already read (with the records of a whole bulk
        request); else it is read here.
    :returns: ``success`` (property ``already_stored``), ``failed``, or ``outcome_unknown``.
    """
    found = read or read_back(client, metadata, entity, record_id, body)
    known = _known(client, entity, record_id)
    if found.record is not None and (found.found is Found.STORED or ours):
        return already_stored(client, entity, record_id, found.record, index)
    if found.found is Found.DIFFERENT:
        if duplicate is not None:
            return duplicate
        return _failed(
            f"A record with the id {record_id} already exists with other values: this create did not store it",
            "operation",
            {**known, "reason": "already_exists"},
            index,
            entity.primary_id,
        )
    if found.found is Found.ABSENT:
        if duplicate is not None:
            return duplicate  # refused for another reason than our id (an alternate key, duplicate detection)
        return _failed(
            f"{cause.user_message.rstrip('.')}; reading the record back found it was not stored, so sending it again"
            f" with the same id {record_id} is safe",
            "transient",
            known,
            index,
        )
    return unknown_result(
        found.cause or cause,
        index,
        known,
        advice=f"reading the record back failed too: look for the id {record_id} (sending it again with that id is"
        " safe)",
    )


def already_stored(
    client: DataverseClient,
    entity: EntityInfo,
    record_id: str,
    record: Mapping[str, Any],
    index: int,
    **properties: str,
) -> OperationResult:
    """The result of a create an earlier attempt carried out: ``success`` with ``already_stored``, the record as it
    was read back.

    :param record_id: the primary key the create carried.
    :param record: the record read back.
    :param properties: more properties (the refusal's ``http_status``, a bulk request's ``bulk``).
    """
    result = record_result(client, entity, record, index)
    merged = {**_known(client, entity, record_id), **result.properties, "already_stored": "true", **properties}
    return success_result(result.payload, merged, index)


def _known(client: DataverseClient, entity: EntityInfo, record_id: str) -> dict[str, str]:
    return properties_of(id=record_id, entity_url=client.url(entity_path(entity.entity_set, record_id)))


def _failed(
    message: str, kind: str, properties: Mapping[str, str], index: int, field: str | None = None
) -> OperationResult:
    info = ErrorInfo(message=message, failure_type=kind, field=field)
    return OperationResult(ResultStatus.FAILED, properties=dict(properties), error=info, input_index=index)


def holds_as_sent(
    metadata: MetadataCache, entity: EntityInfo, record: Mapping[str, Any], body: Mapping[str, Any]
) -> bool:
    """Check a stored record against the body a create sent (for records read back in bulk).

    :param metadata: the connection's metadata (navigation properties of binds).
    :param entity: the table.
    :param record: the record as the service returned it.
    :param body: the body the create sent.
    :returns: whether the record holds every value sent (``False`` when that cannot be told).
    """
    try:
        return _holds(metadata, entity, record, body)
    except ConnectorError:
        return False


def _holds(metadata: MetadataCache, entity: EntityInfo, record: Mapping[str, Any], body: Mapping[str, Any]) -> bool:
    description = _bound(metadata, entity, body)
    for name, value in body.items():
        if name == entity.primary_id or name.startswith("@"):
            continue
        if name.endswith(_BIND):
            lookup = description.lookup(name[: -len(_BIND)]) if description is not None else None
            if lookup is None or not _same_reference(value, record.get(f"_{lookup.logical_name}_value")):
                return False
        elif isinstance(value, Mapping | list) or name not in record or not _same_value(value, record[name]):
            return False
    return True


def compared_columns(metadata: MetadataCache, entity: EntityInfo, bodies: Iterable[Mapping[str, Any]]) -> list[str]:
    """The columns :func:`compared` reads of the records these creates sent, for a read's ``$select``: the primary
    key, each plain member, and the lookup value (``_<column>_value``) of each bind. Members that :func:`compared`
    cannot match anyway (nested records, annotations, a bind through an unknown navigation property) are left out.

    :param metadata: the connection's metadata (navigation properties of binds).
    :param entity: the table.
    :param bodies: the bodies sent.
    :returns: the columns, sorted.
    :raises ConnectorError: when the table's metadata cannot be read (only when a body binds a lookup).
    """
    columns = {entity.primary_id} if entity.primary_id else set()
    for body in bodies:
        description = _bound(metadata, entity, body)
        for name, value in body.items():
            if isinstance(value, Mapping | list):
                continue
            if name.endswith(_BIND):
                lookup = description.lookup(name[: -len(_BIND)]) if description is not None else None
                if lookup is not None:
                    columns.add(f"_{lookup.logical_name}_value")
            elif "@" not in name:
                columns.add(name)
    return sorted(columns)


def _bound(metadata: MetadataCache, entity: EntityInfo, body: Mapping[str, Any]) -> EntityDescription | None:
    """:returns: the table's description when the body binds a lookup (its navigation properties are needed), else
    ``None`` (no metadata is read for a body without binds).
    """
    return metadata.describe(entity.entity_set) if any(name.endswith(_BIND) for name in body) else None


def _same_reference(bind: Any, stored: Any) -> bool:
    if bind is None:
        return stored is None
    target = record_id_of(bind) if isinstance(bind, str) else None
    return is_guid(target) and is_guid(stored) and guid_of(target) == guid_of(stored)


def _same_value(sent: Any, stored: Any) -> bool:
    if sent is None or stored is None or isinstance(sent, bool) or isinstance(stored, bool):
        return sent is stored or (sent == stored and type(sent) is type(stored))
    if isinstance(sent, int | float | Decimal) or isinstance(stored, int | float | Decimal):
        return _number(sent) is not None and _number(sent) == _number(stored)
    if isinstance(sent, str) and isinstance(stored, str):
        if sent == stored:
            return True
        if is_guid(sent) and is_guid(stored):
            return guid_of(sent) == guid_of(stored)
        sent_time, stored_time = _moment(sent), _moment(stored)
        return sent_time is not None and sent_time == stored_time
    return False


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _moment(text: str) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
