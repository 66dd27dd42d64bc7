"""What the compiler knows about a table's columns: the SQLite column, the Dataverse type, and type families.

Not for storage: the Web API owns the tables; it hands the compiler one :class:`ColumnInfo` per OData property.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from .errors import unknown_property

__all__ = ["ColumnInfo", "Family", "find_column", "quote_identifier"]

#: Groups of column types that compare with the same literals and with each other.
Family = Literal["text", "number", "option", "boolean", "datetime", "date", "guid"]

_FAMILIES: dict[str, Family] = {
    "string": "text",
    "memo": "text",
    "integer": "number",
    "bigint": "number",
    "decimal": "number",
    "double": "number",
    "money": "number",
    "boolean": "boolean",
    "datetime": "datetime",
    "dateonly": "date",
    "picklist": "option",
    # Stored as text "1,2"; Dataverse filters it with ContainValues, which the sandbox does not serve.
    "multiselectpicklist": "text",
    "state": "option",
    "status": "option",
    "lookup": "guid",
    "uniqueidentifier": "guid",
    "file": "guid",
    "image": "text",
}

# The OData type each column type has in Dataverse's $metadata, for messages that match Dataverse's.
_EDM_TYPES: dict[str, str] = {
    "string": "Edm.String",
    "memo": "Edm.String",
    "integer": "Edm.Int32",
    "bigint": "Edm.Int64",
    "decimal": "Edm.Decimal",
    "double": "Edm.Double",
    "money": "Edm.Decimal",
    "boolean": "Edm.Boolean",
    "datetime": "Edm.DateTimeOffset",
    "dateonly": "Edm.Date",
    "picklist": "Edm.Int32",
    "multiselectpicklist": "Edm.String",
    "state": "Edm.Int32",
    "status": "Edm.Int32",
    "lookup": "Edm.Guid",
    "uniqueidentifier": "Edm.Guid",
    "file": "Edm.Guid",
    "image": "Edm.Binary",
}


def quote_identifier(name: str) -> str:
    """:returns: ``name`` as an SQLite identifier in double quotes, inner quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class ColumnInfo:
    """One OData property of a table, as the sandbox stores it.

    :param column: the SQLite column name (lookups are stored in ``_<attr>_value``); quoted by the compiler.
    :param type: the Dataverse column type: ``string`` ``memo`` ``integer`` ``bigint`` ``decimal`` ``double``
        ``money`` ``boolean`` ``datetime`` ``dateonly`` ``picklist`` ``state`` ``status`` ``lookup``
        ``uniqueidentifier``.
    :raises ValueError: for any other type (a programming error in the caller, not a user error).
    """

    column: str
    type: str

    def __post_init__(self) -> None:
        if self.type not in _FAMILIES:
            raise ValueError(f"unknown column type {self.type!r}; expected one of {sorted(_FAMILIES)}")

    @property
    def family(self) -> Family:
        """:returns: the type family, which decides the literals and columns this column compares with."""
        return _FAMILIES[self.type]

    @property
    def edm_type(self) -> str:
        """:returns: the OData type name, for messages."""
        return _EDM_TYPES[self.type]

    @property
    def quoted(self) -> str:
        """:returns: the column as an SQL identifier."""
        return quote_identifier(self.column)


def find_column(columns: Mapping[str, ColumnInfo], name: str, entity: str) -> ColumnInfo:
    """Look a property up by its exact (case-sensitive) OData name, as Dataverse does.

    :param columns: the table's properties by OData name.
    :param name: the property name from the query.
    :param entity: the entity's logical name, for the message.
    :returns: the column.
    :raises ODataQueryError: ``0x80060888`` when the entity has no such property.
    """
    info = columns.get(name)
    if info is None:
        raise unknown_property(name, entity)
    return info
