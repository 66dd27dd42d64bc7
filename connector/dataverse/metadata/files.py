"""What a table's file and image columns allow: their kind and the largest file each holds (``MaxSizeInKB``).

Two small reads per table, through the attribute casts Microsoft Learn's "Use file column data" names:
``…/Attributes/Microsoft.Dynamics.CRM.FileAttributeMetadata?$select=LogicalName,MaxSizeInKB`` and the same for
``ImageAttributeMetadata`` (with ``CanStoreFullImage``). Cached with the rest of a connection's metadata
(:meth:`~connector.dataverse.metadata.cache.MetadataCache.file_columns`). Not for the content itself:
:mod:`connector.dataverse.operations.file_uploads` and :mod:`connector.dataverse.operations.file_downloads`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from connector.dataverse.client import DataverseClient
from connector.dataverse.metadata.tables import EntityInfo
from connector.dataverse.odata.literals import quote_string

__all__ = ["FileColumn", "read_file_columns"]


@dataclass(frozen=True)
class FileColumn:
    """One file or image column.

    :param logical_name: the column's logical name.
    :param kind: ``file`` or ``image``.
    :param max_size_kb: the largest file it holds, in KB (``MaxSizeInKB``); ``None`` when the service does not say.
    :param can_store_full_image: for an image column, whether it keeps the full-size image besides the thumbnail.
    """

    logical_name: str
    kind: Literal["file", "image"]
    max_size_kb: int | None
    can_store_full_image: bool = False

    @property
    def max_bytes(self) -> int | None:
        """:returns: the largest file in bytes, when known."""
        return self.max_size_kb * 1024 if self.max_size_kb is not None else None


def read_file_columns(client: DataverseClient, entity: EntityInfo) -> Mapping[str, FileColumn]:
    """Read one table's file and image columns.

    :param client: the Web API client (the connection's own: metadata never carries a run's headers).
    :param entity: the table.
    :returns: the columns by logical name.
    :raises ConnectorError: when the service refuses a request.
    """
    base = f"EntityDefinitions(LogicalName={quote_string(entity.logical_name)})/Attributes/Microsoft.Dynamics.CRM."
    found: dict[str, FileColumn] = {}
    files = client.get_json(f"{base}FileAttributeMetadata", [("$select", "LogicalName,MaxSizeInKB")])
    for item in _values(files):
        found[str(item["LogicalName"])] = FileColumn(str(item["LogicalName"]), "file", _size(item))
    images = client.get_json(
        f"{base}ImageAttributeMetadata", [("$select", "LogicalName,MaxSizeInKB,CanStoreFullImage")]
    )
    for item in _values(images):
        full = bool(item.get("CanStoreFullImage"))
        found[str(item["LogicalName"])] = FileColumn(str(item["LogicalName"]), "image", _size(item), full)
    return found


def _values(body: Any) -> list[Mapping[str, Any]]:
    items = body.get("value") if isinstance(body, Mapping) else None
    if not isinstance(items, list):
        return []
    return [item for item in items if isinstance(item, Mapping) and isinstance(item.get("LogicalName"), str)]


def _size(item: Mapping[str, Any]) -> int | None:
    size = item.get("MaxSizeInKB")
    return size if isinstance(size, int) and not isinstance(size, bool) else None
