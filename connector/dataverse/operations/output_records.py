"""Records as output documents: the edit link added to each record, and the properties hosts track for it.

Get and Query return records as the service sends them, plus ``@odata.editLink`` (relative to the API root) so an
Update or Delete further down the process can address the record; the result's properties carry its ``etag``,
``id`` and absolute ``entity_url``. Not for requests (the ``Prefer`` value asking for annotations is the read
options': :class:`~connector.dataverse.operations.options.ReadOptions`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connector.dataverse.client import DataverseClient
from connector.dataverse.metadata.tables import EntityInfo
from connector.dataverse.odata.literals import entity_path, guid_of, is_guid
from connector.dataverse.operations.inputs import EDIT_LINK, ETAG
from connector.dataverse.operations.outcomes import properties_of, success_result
from connector.results import OperationResult

__all__ = ["record_result"]


def record_result(
    client: DataverseClient, entity: EntityInfo, record: Mapping[str, Any], index: int | None
) -> OperationResult:
    """The result for one record read from the service.

    :param client: the Web API client (for absolute URLs).
    :param entity: the record's table.
    :param record: the record as the service sent it.
    :param index: the input document's index (``None`` for query records).
    :returns: a ``success`` result whose payload is the record plus its edit link.
    """
    payload = dict(record)
    record_id = record.get(entity.primary_id) if entity.primary_id else None
    entity_url = None
    if is_guid(record_id):
        record_id = guid_of(record_id)
        link = entity_path(entity.entity_set, record_id)
        payload.setdefault(EDIT_LINK, link)
        entity_url = client.url(link)
    else:
        record_id = None
    etag = record.get(ETAG) if isinstance(record.get(ETAG), str) else None
    return success_result(payload, properties_of(etag=etag, id=record_id, entity_url=entity_url), index)
