"""Which record and which file or image column a file operation's document is about, checked before any content
moves.

The record is addressed as the other record operations address it; the column must be one of the table's file or
image columns (read once per connection from the metadata: :meth:`~connector.dataverse.metadata.cache.
MetadataCache.file_columns`), otherwise the document fails naming ``options.column`` and the table's file and image
columns. The block actions (``InitializeFileBlocksUpload`` …) name the record by its primary key, so a record
addressed by an alternate key is looked up once (``GET <record>?$select=<primary key>``). Not for the content:
:mod:`connector.dataverse.operations.file_contents`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connector.dataverse.metadata.files import FileColumn
from connector.dataverse.metadata.tables import EntityInfo
from connector.dataverse.odata.answers import json_body
from connector.dataverse.odata.literals import guid_of, is_guid
from connector.dataverse.operations.file_options import DownloadFileOptions, UploadFileOptions
from connector.dataverse.operations.inputs import DocumentError, Target
from connector.dataverse.operations.outcomes import properties_of
from connector.dataverse.operations.running import OperationContext
from connector.dataverse.operations.write import target_of

__all__ = ["FileTarget", "file_target", "record_id_of"]


@dataclass(frozen=True)
class FileTarget:
    """A record's file or image column.

    :param entity: the table.
    :param target: the record.
    :param column: the column.
    """

    entity: EntityInfo
    target: Target
    column: FileColumn

    @property
    def url(self) -> str:
        """:returns: the column's URL (``…/accounts(<id>)/sample_contract``)."""
        return f"{self.target.url}/{self.column.logical_name}"

    def reference(self, record_id: str) -> dict[str, Any]:
        """:returns: the record as an action's entity reference (``Target`` of the block actions)."""
        return {
            "@odata.type": f"Microsoft.Dynamics.CRM.{self.entity.logical_name}",
            self.entity.primary_id or "": record_id,
        }

    def payload(self, record_id: str | None) -> dict[str, Any]:
        """:returns: what a result's payload says of the record: its edit link and primary key."""
        payload: dict[str, Any] = {"@odata.editLink": self.target.url}
        if record_id and self.entity.primary_id:
            payload[self.entity.primary_id] = record_id
        return payload

    def properties(self, record_id: str | None) -> dict[str, str]:
        """:returns: a result's ``id`` and ``entity_url``."""
        return properties_of(id=record_id or self.target.record_id, entity_url=self.target.url)


def file_target(
    context: OperationContext[UploadFileOptions | DownloadFileOptions], document: Mapping[str, Any]
) -> FileTarget:
    """Find the record and check the column of a file operation's document.

    :param context: the run.
    :param document: the input document.
    :returns: the record's column.
    :raises DocumentError: when the document does not address a record, or ``options.column`` is not a file or image
        column of the table.
    """
    entity, target = target_of(context, context.options.key_fields, document)
    columns = context.metadata.file_columns(context.entity_set)
    column = columns.get(context.options.column)
    if column is None:
        known = ", ".join(sorted(columns)) or "none"
        raise DocumentError(
            "options.column",
            f"{context.options.column!r} is not a file or image column of {context.entity_set} (its file and image "
            f"columns: {known})",
        )
    return FileTarget(entity, target, column)


def record_id_of(context: OperationContext[Any], found: FileTarget) -> str:
    """The record's primary key, looked up when the document named it by an alternate key.

    :raises DocumentError: when the record does not exist.
    :raises ConnectorError: when the service refuses.
    """
    if is_guid(found.target.record_id):
        return guid_of(found.target.record_id)
    primary = found.entity.primary_id or ""
    response = context.client.send("GET", found.target.url, query=[("$select", primary)])
    if response.status_code == 404:
        raise DocumentError("(document)", f"no record has the key {found.target.record_id}")
    if response.status_code >= 400:
        raise context.client.transport.error_for(response)
    body = json_body(response)
    value = body.get(primary) if isinstance(body, Mapping) else None
    if not is_guid(value):
        raise DocumentError("(document)", f"the service did not give the record's {primary}")
    return guid_of(value)
