"""What the connector knows about a table: its names, its attributes, their types, option sets and lookups.

Plain frozen values built from the service's metadata (:mod:`connector.dataverse.metadata.definitions` reads them) and
kept per connection (:mod:`connector.dataverse.metadata.cache`). They answer the questions operations and browse ask:
which property holds an attribute, how its values are written in a URL, which navigation properties set a lookup.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from connector.dataverse.odata.literals import LiteralType

__all__ = ["LOOKUP_TYPES", "AttributeInfo", "EntityDescription", "EntityInfo", "OptionInfo"]

LOOKUP_TYPES: Final = frozenset({"Lookup", "Customer", "Owner"})
_LITERAL_TYPES: Final[Mapping[str, LiteralType]] = {
    "String": "string",
    "Memo": "string",
    "Integer": "integer",
    "BigInt": "integer",
    "Decimal": "number",
    "Double": "number",
    "Money": "number",
    "Boolean": "boolean",
    "DateTime": "datetime",
    "Picklist": "option_set",
    "State": "option_set",
    "Status": "option_set",
    "Uniqueidentifier": "guid",
    "Lookup": "guid",
    "Customer": "guid",
    "Owner": "guid",
}


@dataclass(frozen=True)
class EntityInfo:
    """One table's names.

    :param entity_set: the entity set name (``accounts``): the object type of operations.
    :param logical_name: the table's logical name (``account``).
    :param primary_id: the primary key attribute (``accountid``).
    :param primary_name: the primary name attribute (``name``).
    :param label: the display name (``Account``).
    :param elastic: an elastic table (``TableType`` ``Elastic``: stored in Azure Cosmos DB; its bulk requests hold
        fewer records and may partly succeed).
    """

    entity_set: str
    logical_name: str
    primary_id: str | None
    primary_name: str | None
    label: str
    elastic: bool = False


@dataclass(frozen=True)
class OptionInfo:
    """One choice of an option set.

    :param value: the stored integer.
    :param label: the user's label.
    :param labels: its label in each language the organisation has, as ``(language code, label)`` pairs
        (``1033`` is English); not part of equality.
    """

    value: int
    label: str
    labels: tuple[tuple[int, str], ...] = field(default=(), compare=False)

    def label_in(self, language: int) -> str | None:
        """:returns: its label in one language (a language code such as ``1031``), or ``None``."""
        return next((text for code, text in self.labels if code == language), None)


@dataclass(frozen=True)
class AttributeInfo:
    """One column of a table.

    :param logical_name: the attribute's logical name.
    :param attribute_type: Dataverse's ``AttributeType`` (``String``, ``Lookup``...), or the base name of
        ``AttributeTypeName`` for virtual types such as ``MultiSelectPicklist``.
    :param label: the display name.
    :param required_level: ``None``, ``Recommended``, ``ApplicationRequired`` or ``SystemRequired``.
    :param valid_for_create: whether a create may set it.
    :param valid_for_update: whether an update may set it.
    :param valid_for_read: whether records carry it.
    :param is_primary_id: whether it is the primary key.
    :param max_length: for strings and memos, the longest value.
    :param date_only: for date-times, whether the column holds a date only.
    :param options: for option sets, the choices.
    :param navigations: for lookups, ``(navigation property, referenced table)`` pairs; a polymorphic lookup
        (customer, owner) has one per target.
    """

    logical_name: str
    attribute_type: str
    label: str
    required_level: str = "None"
    valid_for_create: bool = False
    valid_for_update: bool = False
    valid_for_read: bool = True
    is_primary_id: bool = False
    max_length: int | None = None
    date_only: bool = False
    options: tuple[OptionInfo, ...] = ()
    navigations: tuple[tuple[str, str], ...] = ()

    @property
    def is_lookup(self) -> bool:
        """:returns: whether the attribute references other records."""
        return self.attribute_type in LOOKUP_TYPES

    @property
    def property_name(self) -> str:
        """:returns: the Web API property: ``_<attribute>_value`` for lookups, else the logical name."""
        return f"_{self.logical_name}_value" if self.is_lookup else self.logical_name

    @property
    def literal_type(self) -> LiteralType | None:
        """:returns: how a value of this attribute is written in a URL, or ``None`` when unknown."""
        if self.attribute_type == "DateTime" and self.date_only:
            return "date"
        return _LITERAL_TYPES.get(self.attribute_type)


@dataclass(frozen=True)
class EntityDescription:
    """One table with its attributes.

    :param entity: the table's names.
    :param attributes: its attributes, in the service's order.
    :param navigation_inferred: ``True`` when the service did not answer the relationships request and lookup
        navigation properties were assumed equal to the attribute names.
    """

    entity: EntityInfo
    attributes: tuple[AttributeInfo, ...]
    navigation_inferred: bool = False
    _by_property: dict[str, AttributeInfo] = field(default_factory=dict, init=False, repr=False, compare=False)
    _lookups: dict[str, tuple[AttributeInfo, str]] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for attribute in self.attributes:
            self._by_property[attribute.property_name] = attribute
            self._by_property.setdefault(attribute.logical_name, attribute)
            for navigation, table in attribute.navigations:
                self._lookups.setdefault(navigation, (attribute, table))

    def attribute(self, property_name: str) -> AttributeInfo | None:
        """:returns: the attribute behind a property (``name``, ``_primarycontactid_value``), if known."""
        return self._by_property.get(property_name)

    def lookup(self, navigation: str) -> AttributeInfo | None:
        """:returns: the lookup a single-valued navigation property sets (``primarycontactid`` for a bind), if known."""
        found = self._lookups.get(navigation)
        return found[0] if found is not None else None

    def lookup_table(self, navigation: str) -> str | None:
        """:returns: the logical name of the table a single-valued navigation property leads to, if known."""
        found = self._lookups.get(navigation)
        if found is None or not found[1]:  # without relationship metadata the table is not known
            return None
        return found[1]

    def literal_type(self, property_name: str) -> LiteralType | None:
        """:returns: the literal type of a property, ``None`` when unknown (traversals, unknown names)."""
        attribute = self.attribute(property_name)
        return attribute.literal_type if attribute is not None else None

    def option_value(self, property_name: str, label: str) -> int | None:
        """:returns: the value of the option labelled ``label`` (exact, then case-insensitive), if any."""
        attribute = self.attribute(property_name)
        if attribute is None:
            return None
        for option in attribute.options:
            if option.label == label:
                return option.value
        folded = label.casefold()
        matches = [option.value for option in attribute.options if option.label.casefold() == folded]
        return matches[0] if len(matches) == 1 else None
