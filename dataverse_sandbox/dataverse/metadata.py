"""Metadata types: tables, columns, option sets, alternate keys and navigation properties (the tables themselves
are in :mod:`.tables`).

One source of truth read by storage (column names and SQL types), serialization (JSON names and value types), the
``$metadata`` document, ``EntityDefinitions`` and the ``$filter`` compiler. Storage convention, shared with
:mod:`dataverse_sandbox.odata_query`: strings TEXT, integers INTEGER, decimal/double/money REAL, booleans INTEGER 0/1,
datetimes TEXT ``YYYY-MM-DDTHH:MM:SSZ``, date-only TEXT ``YYYY-MM-DD``, GUIDs TEXT lower-case, option sets INTEGER,
lookups TEXT GUID in a column named ``_<attr>_value``.

Not for behaviour: this module only describes tables; what a request does with them lives elsewhere.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from functools import cached_property

__all__ = [
    "USD_CURRENCY_ID",
    "USD_CURRENCY_NAME",
    "AlternateKey",
    "AttributeKind",
    "AttributeMeta",
    "CollectionNavigation",
    "EntityMeta",
    "ManyToManyNavigation",
    "Option",
]

_METADATA_NAMESPACE = uuid.UUID("5f0e6d1c-3b7a-4d8e-9c21-7a6b5e4d3c2b")

#: The single currency the sandbox knows; every money column is in it.
USD_CURRENCY_ID = "8e7b3c2a-1f4d-4c5e-9a6b-0d1e2f3a4b5c"
USD_CURRENCY_NAME = "US Dollar"


class AttributeKind(enum.Enum):
    """Attribute types, valued by Dataverse's ``AttributeType`` names."""

    STRING = "String"
    MEMO = "Memo"
    INTEGER = "Integer"
    BIGINT = "BigInt"
    DECIMAL = "Decimal"
    DOUBLE = "Double"
    MONEY = "Money"
    BOOLEAN = "Boolean"
    DATETIME = "DateTime"
    DATEONLY = "DateOnly"
    PICKLIST = "Picklist"
    MULTISELECT = "MultiSelectPicklist"
    STATE = "State"
    STATUS = "Status"
    LOOKUP = "Lookup"
    UNIQUEIDENTIFIER = "Uniqueidentifier"
    FILE = "File"
    IMAGE = "Image"

    @property
    def sql_type(self) -> str:
        """:returns: the SQLite column type of the storage convention."""
        return _SQL_TYPES[self]

    @property
    def edm_type(self) -> str:
        """:returns: the CSDL type of the structural property."""
        return _EDM_TYPES[self]

    @property
    def metadata_type(self) -> str:
        """:returns: the ``@odata.type`` of the attribute's metadata entry."""
        return _METADATA_TYPES[self]

    @property
    def is_option_set(self) -> bool:
        """:returns: whether values are integers with labels."""
        return self in _OPTION_SETS


_OPTION_SETS = frozenset({AttributeKind.PICKLIST, AttributeKind.STATE, AttributeKind.STATUS})
_SQL_TYPES = {
    AttributeKind.STRING: "TEXT",
    AttributeKind.MEMO: "TEXT",
    AttributeKind.INTEGER: "INTEGER",
    AttributeKind.BIGINT: "INTEGER",
    AttributeKind.DECIMAL: "REAL",
    AttributeKind.DOUBLE: "REAL",
    AttributeKind.MONEY: "REAL",
    AttributeKind.BOOLEAN: "INTEGER",
    AttributeKind.DATETIME: "TEXT",
    AttributeKind.DATEONLY: "TEXT",
    AttributeKind.PICKLIST: "INTEGER",
    AttributeKind.MULTISELECT: "TEXT",
    AttributeKind.STATE: "INTEGER",
    AttributeKind.STATUS: "INTEGER",
    AttributeKind.LOOKUP: "TEXT",
    AttributeKind.UNIQUEIDENTIFIER: "TEXT",
    AttributeKind.FILE: "TEXT",
    AttributeKind.IMAGE: "TEXT",
}
_EDM_TYPES = {
    AttributeKind.STRING: "Edm.String",
    AttributeKind.MEMO: "Edm.String",
    AttributeKind.INTEGER: "Edm.Int32",
    AttributeKind.BIGINT: "Edm.Int64",
    AttributeKind.DECIMAL: "Edm.Decimal",
    AttributeKind.DOUBLE: "Edm.Double",
    AttributeKind.MONEY: "Edm.Decimal",
    AttributeKind.BOOLEAN: "Edm.Boolean",
    AttributeKind.DATETIME: "Edm.DateTimeOffset",
    AttributeKind.DATEONLY: "Edm.Date",
    AttributeKind.PICKLIST: "Edm.Int32",
    # Dataverse's Web API writes a multi-select choice as text, its values separated by commas ("1,2").
    AttributeKind.MULTISELECT: "Edm.String",
    AttributeKind.STATE: "Edm.Int32",
    AttributeKind.STATUS: "Edm.Int32",
    AttributeKind.LOOKUP: "Edm.Guid",
    AttributeKind.UNIQUEIDENTIFIER: "Edm.Guid",
    AttributeKind.FILE: "Edm.Guid",
    AttributeKind.IMAGE: "Edm.Binary",
}
_METADATA_TYPES = {
    AttributeKind.STRING: "#Microsoft.Dynamics.CRM.StringAttributeMetadata",
    AttributeKind.MEMO: "#Microsoft.Dynamics.CRM.MemoAttributeMetadata",
    AttributeKind.INTEGER: "#Microsoft.Dynamics.CRM.IntegerAttributeMetadata",
    AttributeKind.BIGINT: "#Microsoft.Dynamics.CRM.BigIntAttributeMetadata",
    AttributeKind.DECIMAL: "#Microsoft.Dynamics.CRM.DecimalAttributeMetadata",
    AttributeKind.DOUBLE: "#Microsoft.Dynamics.CRM.DoubleAttributeMetadata",
    AttributeKind.MONEY: "#Microsoft.Dynamics.CRM.MoneyAttributeMetadata",
    AttributeKind.BOOLEAN: "#Microsoft.Dynamics.CRM.BooleanAttributeMetadata",
    AttributeKind.DATETIME: "#Microsoft.Dynamics.CRM.DateTimeAttributeMetadata",
    AttributeKind.DATEONLY: "#Microsoft.Dynamics.CRM.DateTimeAttributeMetadata",
    AttributeKind.PICKLIST: "#Microsoft.Dynamics.CRM.PicklistAttributeMetadata",
    AttributeKind.MULTISELECT: "#Microsoft.Dynamics.CRM.MultiSelectPicklistAttributeMetadata",
    AttributeKind.STATE: "#Microsoft.Dynamics.CRM.StateAttributeMetadata",
    AttributeKind.STATUS: "#Microsoft.Dynamics.CRM.StatusAttributeMetadata",
    AttributeKind.LOOKUP: "#Microsoft.Dynamics.CRM.LookupAttributeMetadata",
    AttributeKind.UNIQUEIDENTIFIER: "#Microsoft.Dynamics.CRM.UniqueIdentifierAttributeMetadata",
    AttributeKind.FILE: "#Microsoft.Dynamics.CRM.FileAttributeMetadata",
    AttributeKind.IMAGE: "#Microsoft.Dynamics.CRM.ImageAttributeMetadata",
}


@dataclass(frozen=True)
class Option:
    """One choice of an option set (or one side of a boolean).

    :param value: the stored integer.
    :param label: the display label, used for formatted values.
    :param state: for a status option, the state it belongs to.
    :param translations: its label in other languages than English (1033), as ``(language code, label)`` pairs:
        they appear among the ``LocalizedLabels`` of its metadata.
    """

    value: int
    label: str
    state: int | None = None
    translations: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True)
class AttributeMeta:
    """One column of a table.

    :param logical_name: the attribute's logical name (``parentcustomerid``).
    :param kind: its type.
    :param display_name: the label shown to users.
    :param max_length: for strings and memos, the longest accepted value.
    :param options: for option sets and booleans (``False`` label first), the choices.
    :param target: for lookups, the logical name of the referenced table.
    :param navigation: for lookups, the single-valued navigation property (case-sensitive).
    :param valid_for_create: whether a create may set it.
    :param valid_for_update: whether an update may set it.
    :param required: the ``RequiredLevel`` value (``None``, ``ApplicationRequired``, ``SystemRequired``).
    :param min_value: for numbers, the smallest accepted value.
    :param max_value: for numbers, the largest accepted value.
    :param max_size_kb: for file and image columns, ``MaxSizeInKB`` (the largest file accepted).
    :param attribute_of: for a column that belongs to another (a file column's ``_name``), that column's name.
    :param schema: the schema name given when the column was created through the Web API (else derived).
    :param custom: a column created through the Web API (``IsCustomAttribute``; it may be deleted).
    :param given_id: its ``MetadataId`` when created through the Web API (else derived from its logical name).
    :param date_format: for a date and time column created through the Web API, its ``Format`` (``DateOnly`` or
        ``DateAndTime``: how apps show it; the value keeps its time unless ``DateTimeBehavior`` is ``DateOnly``).
    """

    logical_name: str
    kind: AttributeKind
    display_name: str
    max_length: int | None = None
    options: tuple[Option, ...] = ()
    target: str | None = None
    navigation: str | None = None
    valid_for_create: bool = True
    valid_for_update: bool = True
    required: str = "None"
    min_value: float | None = None
    max_value: float | None = None
    max_size_kb: int | None = None
    attribute_of: str | None = None
    schema: str | None = None
    custom: bool = False
    given_id: str | None = None
    date_format: str | None = None

    @cached_property
    def property_name(self) -> str:
        """:returns: the Web API property name: ``_<attr>_value`` for lookups, else the logical name."""
        if self.kind is AttributeKind.LOOKUP:
            return f"_{self.logical_name}_value"
        return self.logical_name

    @cached_property
    def column(self) -> str:
        """:returns: the SQLite column holding the value (same as :attr:`property_name`)."""
        return self.property_name

    @property
    def schema_name(self) -> str:
        """:returns: the schema name it was created with, else a Pascal-cased one in Dataverse's style."""
        if self.schema is not None:
            return self.schema
        return "".join(part[:1].upper() + part[1:] for part in self.logical_name.split("_"))

    @property
    def metadata_id(self) -> str:
        """:returns: the ``MetadataId`` it was created with, else a stable one derived from its logical name."""
        if self.given_id is not None:
            return self.given_id
        return str(uuid.uuid5(_METADATA_NAMESPACE, f"attribute:{self.logical_name}"))

    def option_label(self, value: int) -> str | None:
        """:returns: the label of an option value, ``None`` when the value is not a choice."""
        for option in self.options:
            if option.value == value:
                return option.label
        return None


@dataclass(frozen=True)
class AlternateKey:
    """An alternate key: a set of columns whose values identify one row.

    :param schema_name: the key's name in metadata.
    :param attributes: logical names of the key's columns, in declaration order.
    :param metadata_id: its ``MetadataId`` (keys created through the Web API; else derived from the table's).
    :param index_status: ``EntityKeyIndexStatus``: ``Active``, or ``Failed`` when existing rows break uniqueness.
    """

    schema_name: str
    attributes: tuple[str, ...]
    metadata_id: str | None = None
    index_status: str = "Active"


@dataclass(frozen=True)
class CollectionNavigation:
    """A collection-valued navigation property: the rows of ``target`` whose ``lookup`` points at this row.

    :param name: the navigation property's name (case-sensitive), e.g. ``contact_customer_accounts``.
    :param target: the logical name of the related table.
    :param lookup: the lookup attribute on ``target`` that holds this row's id.
    :param relationship: the relationship's schema name when it differs from ``name`` (created relationships).
    :param custom: a relationship created through the Web API (``IsCustomRelationship``).
    """

    name: str
    target: str
    lookup: str
    relationship: str | None = None
    custom: bool = False


@dataclass(frozen=True)
class ManyToManyNavigation:
    """A collection-valued navigation property of a many-to-many relationship: rows linked through an intersect table.

    :param name: the navigation property's name (case-sensitive).
    :param target: the logical name of the related table.
    :param intersect: the intersect table's logical name.
    :param own: the intersect column holding this row's id.
    :param other: the intersect column holding the related row's id.
    :param relationship: the relationship's schema name.
    """

    name: str
    target: str
    intersect: str
    own: str
    other: str
    relationship: str


@dataclass(frozen=True)
class EntityMeta:
    """One table.

    :param logical_name: ``account``.
    :param entity_set_name: ``accounts``.
    :param display_name: ``Account``.
    :param primary_id: the primary key attribute.
    :param primary_name: the primary name attribute, used for lookup formatted values.
    :param object_type_code: Dataverse's type code (account = 1, contact = 2).
    :param metadata_id: the table's ``MetadataId``.
    :param attributes: every column, primary key first.
    :param alternate_keys: configured alternate keys.
    :param collections: collection-valued navigation properties.
    :param change_tracking: whether ``Prefer: odata.track-changes`` is allowed.
    :param elastic: an elastic table (Azure Cosmos DB storage in Dataverse): ``DeleteMultiple`` is served.
    :param writable: whether the Web API may create, update and delete its rows (system job tables may not).
    :param schema: the schema name given when the table was created through the Web API (else derived).
    :param custom: a table created through the Web API (``IsCustomEntity``; it may be deleted).
    :param intersect: the intersect table of a many-to-many relationship (``IsIntersect``).
    :param associations: collection-valued navigation properties of many-to-many relationships.
    """

    logical_name: str
    entity_set_name: str
    display_name: str
    primary_id: str
    primary_name: str
    object_type_code: int
    metadata_id: str
    attributes: tuple[AttributeMeta, ...]
    alternate_keys: tuple[AlternateKey, ...] = ()
    collections: tuple[CollectionNavigation, ...] = ()
    change_tracking: bool = True
    elastic: bool = False
    writable: bool = True
    schema: str | None = None
    custom: bool = False
    intersect: bool = False
    associations: tuple[ManyToManyNavigation, ...] = ()
    _by_property: dict[str, AttributeMeta] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for attribute in self.attributes:
            self._by_property[attribute.property_name] = attribute

    @property
    def schema_name(self) -> str:
        """:returns: the schema name it was created with, else the Pascal-cased display name."""
        if self.schema is not None:
            return self.schema
        return self.display_name.replace(" ", "")

    @property
    def qualified_type(self) -> str:
        """:returns: ``Microsoft.Dynamics.CRM.<logical name>``."""
        return f"Microsoft.Dynamics.CRM.{self.logical_name}"

    @cached_property
    def columns(self) -> tuple[str, ...]:
        """:returns: every SQLite column, in declaration order."""
        return tuple(attribute.column for attribute in self.attributes)

    def by_property(self, name: str) -> AttributeMeta | None:
        """:returns: the attribute whose Web API property name is ``name`` (case-sensitive), or ``None``."""
        return self._by_property.get(name)

    def by_logical_name(self, name: str) -> AttributeMeta | None:
        """:returns: the attribute with that logical name, or ``None``."""
        for attribute in self.attributes:
            if attribute.logical_name == name:
                return attribute
        return None

    def by_navigation(self, name: str) -> AttributeMeta | None:
        """:returns: the lookup whose single-valued navigation property is exactly ``name``, or ``None``."""
        for attribute in self.attributes:
            if attribute.navigation == name:
                return attribute
        return None

    def collection(self, name: str) -> CollectionNavigation | None:
        """:returns: the collection-valued navigation property exactly named ``name``, or ``None``."""
        for nav in self.collections:
            if nav.name == name:
                return nav
        return None

    def association(self, name: str) -> ManyToManyNavigation | None:
        """:returns: the many-to-many navigation property exactly named ``name``, or ``None``."""
        for nav in self.associations:
            if nav.name == name:
                return nav
        return None
