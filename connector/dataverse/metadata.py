"""Table metadata read from ``EntityDefinitions``, and the per-connection cache that keeps it.

Three reads, each as small as the service allows, because organisations have thousands of tables and some peers
run out of memory loading every table's attributes at once:

* :meth:`MetadataCache.entity_sets`: every table's names and labels, a handful of columns, no attributes;
* :meth:`MetadataCache.entity`: one table's names and primary key (``$filter=EntitySetName eq '…'``);
* :meth:`MetadataCache.describe`: one table's attributes (types, required level, create/update/read validity),
  with string lengths, date-only formats and option sets through type casts, and lookup navigation properties
  from ``ManyToOneRelationships`` (case-sensitive, and not simply the attribute's name).

Metadata requests never carry an operation's custom query parameters. The cache lives as long as the connection's
client and is shared by its threads; ``use_cache=False`` reads afresh (and refreshes the cache).
This module does not turn metadata into JSON Schemas: see :mod:`connector.dataverse.profiles`.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from connector.dataverse.client import DataverseClient
from connector.dataverse.odata import LiteralType, quote_string
from connector.errors import ConnectorError, RemoteError, TransientError

__all__ = [
    "AttributeInfo",
    "EntityDescription",
    "EntityInfo",
    "MetadataCache",
    "OptionInfo",
    "metadata_for",
]

_log = logging.getLogger(__name__)

ENTITY_COLUMNS: Final = ("LogicalName", "EntitySetName", "PrimaryIdAttribute", "PrimaryNameAttribute", "DisplayName")
ATTRIBUTE_COLUMNS: Final = (
    "LogicalName",
    "AttributeType",
    "AttributeTypeName",
    "DisplayName",
    "RequiredLevel",
    "IsValidForCreate",
    "IsValidForUpdate",
    "IsValidForRead",
    "IsPrimaryId",
)
OPTION_SET_CASTS: Final = ("Picklist", "State", "Status", "MultiSelectPicklist")
LOOKUP_TYPES: Final = frozenset({"Lookup", "Customer", "Owner"})
# Attribute types with no value of their own in a record (names of lookups, calendar rules, party lists...).
UNREPRESENTED_TYPES: Final = frozenset({"Virtual", "ManagedProperty", "CalendarRules", "PartyList", "EntityName"})

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
    """

    entity_set: str
    logical_name: str
    primary_id: str | None
    primary_name: str | None
    label: str


@dataclass(frozen=True)
class OptionInfo:
    """One choice of an option set.

    :param value: the stored integer.
    :param label: the user's label.
    """

    value: int
    label: str


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

    def __post_init__(self) -> None:
        for attribute in self.attributes:
            self._by_property[attribute.property_name] = attribute
            self._by_property.setdefault(attribute.logical_name, attribute)

    def attribute(self, property_name: str) -> AttributeInfo | None:
        """:returns: the attribute behind a property (``name``, ``_primarycontactid_value``), if known."""
        return self._by_property.get(property_name)

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


class MetadataCache:
    """Per-connection metadata, read on first use.

    :param client: the connection's Web API client.
    """

    def __init__(self, client: DataverseClient) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._all: tuple[EntityInfo, ...] | None = None
        self._entities: dict[str, EntityInfo] = {}
        self._descriptions: dict[str, EntityDescription] = {}

    def entity_sets(self, *, use_cache: bool = True) -> tuple[EntityInfo, ...]:
        """Every table that has an entity set.

        :param use_cache: whether a cached list may be returned.
        :returns: the tables, sorted by entity set name.
        :raises ConnectorError: when the service refuses the request.
        """
        if use_cache and self._all is not None:
            return self._all
        body = self._client.get_json("EntityDefinitions", [("$select", ",".join(ENTITY_COLUMNS))])
        found = tuple(sorted(_entities(body), key=lambda entity: entity.entity_set))
        with self._lock:
            self._all = found
            self._entities.update({entity.entity_set: entity for entity in found})
        return found

    def entity(self, entity_set: str, *, use_cache: bool = True) -> EntityInfo:
        """One table's names and primary key.

        :param entity_set: the entity set name (case-sensitive).
        :param use_cache: whether a cached answer may be returned.
        :returns: the table.
        :raises RemoteError: when no table has that entity set (status 404), or the service refuses.
        """
        if use_cache and entity_set in self._entities:
            return self._entities[entity_set]
        query = [
            ("$select", ",".join(ENTITY_COLUMNS)),
            ("$filter", f"EntitySetName eq {quote_string(entity_set)}"),
        ]
        matches = _entities(self._client.get_json("EntityDefinitions", query))
        # The service compares strings case-insensitively; entity set names are case-sensitive in URLs.
        exact = [entity for entity in matches if entity.entity_set == entity_set]
        if not exact:
            hint = f"; did you mean {matches[0].entity_set!r}?" if matches else ""
            raise RemoteError(
                f"The service has no entity set named {entity_set!r} (names are case-sensitive){hint}",
                status=404,
                field="entity_set",
            )
        with self._lock:
            self._entities[entity_set] = exact[0]
        return exact[0]

    def describe(self, entity_set: str, *, use_cache: bool = True) -> EntityDescription:
        """One table with its attributes, option sets and lookup navigation properties.

        :param entity_set: the entity set name (case-sensitive).
        :param use_cache: whether a cached answer may be returned.
        :returns: the description.
        :raises RemoteError: when no table has that entity set, or the service refuses.
        """
        if use_cache and entity_set in self._descriptions:
            return self._descriptions[entity_set]
        entity = self.entity(entity_set, use_cache=use_cache)
        description = _read_description(self._client, entity)
        with self._lock:
            self._descriptions[entity_set] = description
        return description


_CACHES: weakref.WeakKeyDictionary[DataverseClient, MetadataCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def metadata_for(client: DataverseClient) -> MetadataCache:
    """:returns: the metadata cache of a connection's client (one per client, created on first use)."""
    with _CACHES_LOCK:
        cache = _CACHES.get(client)
        if cache is None:
            cache = _CACHES[client] = MetadataCache(client)
        return cache


# -- reading ----------------------------------------------------------------------------------------------------


def _entities(body: Any) -> list[EntityInfo]:
    found = []
    for item in _values(body):
        entity_set = item.get("EntitySetName")
        logical = item.get("LogicalName")
        if not isinstance(entity_set, str) or not entity_set or not isinstance(logical, str):
            continue
        found.append(
            EntityInfo(
                entity_set=entity_set,
                logical_name=logical,
                primary_id=_text(item.get("PrimaryIdAttribute")),
                primary_name=_text(item.get("PrimaryNameAttribute")),
                label=_label(item.get("DisplayName")) or entity_set,
            )
        )
    return found


def _read_description(client: DataverseClient, entity: EntityInfo) -> EntityDescription:
    base = f"EntityDefinitions(LogicalName={quote_string(entity.logical_name)})"
    attributes = client.get_json(f"{base}/Attributes", [("$select", ",".join(ATTRIBUTE_COLUMNS))])
    options: dict[str, tuple[OptionInfo, ...]] = {}
    for cast in OPTION_SET_CASTS:
        body = client.get_json(
            f"{base}/Attributes/Microsoft.Dynamics.CRM.{cast}AttributeMetadata",
            [("$select", "LogicalName"), ("$expand", "OptionSet($select=Options)")],
        )
        for item in _values(body):
            options[str(item.get("LogicalName"))] = _options(item.get("OptionSet"))
    lengths: dict[str, int] = {}
    for cast in ("String", "Memo"):
        body = client.get_json(
            f"{base}/Attributes/Microsoft.Dynamics.CRM.{cast}AttributeMetadata", [("$select", "LogicalName,MaxLength")]
        )
        for item in _values(body):
            if isinstance(item.get("MaxLength"), int):
                lengths[str(item.get("LogicalName"))] = int(item["MaxLength"])
    body = client.get_json(
        f"{base}/Attributes/Microsoft.Dynamics.CRM.DateTimeAttributeMetadata", [("$select", "LogicalName,Format")]
    )
    date_only = {str(item.get("LogicalName")) for item in _values(body) if item.get("Format") == "DateOnly"}
    navigations, inferred = _navigations(client, base)
    found = []
    for item in _values(attributes):
        logical = item.get("LogicalName")
        kind = _attribute_type(item)
        if not isinstance(logical, str) or kind in UNREPRESENTED_TYPES:
            continue
        links = tuple(navigations.get(logical, ()))
        if kind in LOOKUP_TYPES and not links and inferred:
            links = ((logical, ""),)
        found.append(
            AttributeInfo(
                logical_name=logical,
                attribute_type=kind,
                label=_label(item.get("DisplayName")) or logical,
                required_level=_managed_value(item.get("RequiredLevel")) or "None",
                valid_for_create=bool(item.get("IsValidForCreate")),
                valid_for_update=bool(item.get("IsValidForUpdate")),
                valid_for_read=item.get("IsValidForRead") is not False,
                is_primary_id=bool(item.get("IsPrimaryId")) or logical == entity.primary_id,
                max_length=lengths.get(logical),
                date_only=logical in date_only,
                options=options.get(logical, ()),
                navigations=links,
            )
        )
    return EntityDescription(entity, tuple(found), navigation_inferred=inferred)


def _navigations(client: DataverseClient, base: str) -> tuple[dict[str, list[tuple[str, str]]], bool]:
    try:
        body = client.get_json(
            f"{base}/ManyToOneRelationships",
            [("$select", "ReferencingAttribute,ReferencingEntityNavigationPropertyName,ReferencedEntity")],
        )
    except TransientError:
        raise
    except ConnectorError as error:
        if error.status not in (400, 404, 501):
            raise
        # A service without relationship metadata: assume navigation names equal attribute names, and say so.
        _log.warning("relationship metadata unavailable (%s); assuming lookup navigation names", error.status)
        return {}, True
    found: dict[str, list[tuple[str, str]]] = {}
    for item in _values(body):
        attribute = item.get("ReferencingAttribute")
        navigation = item.get("ReferencingEntityNavigationPropertyName")
        if isinstance(attribute, str) and isinstance(navigation, str) and navigation:
            found.setdefault(attribute, []).append((navigation, str(item.get("ReferencedEntity") or "")))
    return found, False


def _attribute_type(item: Mapping[str, Any]) -> str:
    kind = str(item.get("AttributeType") or "")
    if kind == "Virtual":
        # Multi-select option sets are typed Virtual; their type name says what they are.
        type_name = _managed_value(item.get("AttributeTypeName")) or ""
        if type_name.endswith("Type") and type_name != "VirtualType":
            return type_name[: -len("Type")]
    return kind


def _values(body: Any) -> Iterable[Mapping[str, Any]]:
    items = body.get("value") if isinstance(body, Mapping) else None
    if not isinstance(items, list):
        return ()
    return [item for item in items if isinstance(item, Mapping)]


def _options(option_set: Any) -> tuple[OptionInfo, ...]:
    if not isinstance(option_set, Mapping):
        return ()
    found = []
    for option in option_set.get("Options") or ():
        if isinstance(option, Mapping) and isinstance(option.get("Value"), int):
            found.append(OptionInfo(int(option["Value"]), _label(option.get("Label")) or str(option["Value"])))
    return tuple(found)


def _label(label: Any) -> str | None:
    if not isinstance(label, Mapping):
        return None
    user = label.get("UserLocalizedLabel")
    if isinstance(user, Mapping) and isinstance(user.get("Label"), str):
        return str(user["Label"])
    for localized in label.get("LocalizedLabels") or ():
        if isinstance(localized, Mapping) and isinstance(localized.get("Label"), str):
            return str(localized["Label"])
    return None


def _managed_value(value: Any) -> str | None:
    if isinstance(value, Mapping):
        inner = value.get("Value")
        return str(inner) if inner is not None else None
    return str(value) if isinstance(value, str) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
