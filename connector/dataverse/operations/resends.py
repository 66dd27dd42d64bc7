"""Telling a re-sent create from a real duplicate.

A create that carries its own primary key may be re-sent after its answer was lost (the transport does so for
idempotent requests). When the first attempt was processed, the re-sent one is refused as a duplicate (``412``),
although the record exists exactly as asked. Refusals of that kind are checked here: the record with that id is
read back, and only if every value the document set is stored as sent (lookups included, through the table's
navigation properties) is the create reported as done. Anything that cannot be compared (nested records, an
unknown navigation property) keeps the refusal, so a genuine duplicate is never reported as a success.
Not for other conflicts: an alternate-key clash is a different record and stays a failure.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from connector.dataverse.client import DataverseClient
from connector.dataverse.metadata.cache import MetadataCache
from connector.dataverse.metadata.tables import EntityInfo
from connector.dataverse.odata.answers import json_body
from connector.dataverse.odata.literals import entity_path, guid_of, is_guid, record_id_of
from connector.errors import ConnectorError

__all__ = ["holds_as_sent", "stored_as_sent"]

_BIND: Final = "@odata.bind"


def stored_as_sent(
    client: DataverseClient, metadata: MetadataCache, entity: EntityInfo, record_id: str, body: Mapping[str, Any]
) -> Mapping[str, Any] | None:
    """Read the record a refused create named, and check it holds what the create sent.

    :param client: the Web API client.
    :param metadata: the connection's metadata (navigation properties of binds).
    :param entity: the table.
    :param record_id: the client-assigned primary key.
    :param body: the body the create sent.
    :returns: the stored record when it matches every value sent, else ``None``.
    """
    try:
        response = client.send("GET", entity_path(entity.entity_set, record_id))
        if response.status_code != 200:
            return None
        record = json_body(response)
        if not isinstance(record, Mapping):
            return None
    except ConnectorError:
        return None
    return record if holds_as_sent(metadata, entity, record, body) else None


def holds_as_sent(
    metadata: MetadataCache, entity: EntityInfo, record: Mapping[str, Any], body: Mapping[str, Any]
) -> bool:
    """Check a stored record against the body a create sent (for records read back in bulk).

    :param metadata: the connection's metadata (navigation properties of binds).
    :param entity: the table.
    :param record: the record as the service returned it.
    :param body: the body the create sent.
    :returns: whether the record holds every value sent.
    """
    try:
        navigations = _navigations(metadata, entity, body)
    except ConnectorError:
        return False
    for name, value in body.items():
        if name == entity.primary_id or name.startswith("@"):
            continue
        if name.endswith(_BIND):
            attribute = navigations.get(name[: -len(_BIND)])
            if attribute is None or not _same_reference(value, record.get(f"_{attribute}_value")):
                return False
        elif isinstance(value, Mapping | list) or name not in record or not _same_value(value, record[name]):
            return False
    return True


def _navigations(metadata: MetadataCache, entity: EntityInfo, body: Mapping[str, Any]) -> dict[str, str]:
    if not any(name.endswith(_BIND) for name in body):
        return {}
    description = metadata.describe(entity.entity_set)
    return {
        navigation: attribute.logical_name
        for attribute in description.attributes
        for navigation, _ in attribute.navigations
    }


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
