"""Reading ``EntityDefinitions`` answers: table names, attributes and their details, as small as the service allows.

* the table list: a handful of columns of every table, never their attributes;
* one table's attributes: ``…/Attributes?$select=…``, with option sets through the Picklist, State, Status and
  MultiSelectPicklist casts, string and memo lengths through their casts, DateOnly formats through the DateTime
  cast, and lookup navigation properties from ``ManyToOneRelationships`` (case-sensitive, and not simply the
  attribute's name).

Metadata requests never carry an operation's custom query parameters. Not for caching: see
:mod:`connector.dataverse.metadata.cache`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, Final

from connector.dataverse.client import DataverseClient
from connector.dataverse.metadata.tables import LOOKUP_TYPES, AttributeInfo, EntityDescription, EntityInfo, OptionInfo
from connector.dataverse.odata.literals import quote_string
from connector.errors import ConnectorError, TransientError

__all__ = [
    "ATTRIBUTE_COLUMNS",
    "ENTITY_COLUMNS",
    "OPTION_SET_CASTS",
    "UNREPRESENTED_TYPES",
    "entities_of",
    "read_collections",
    "read_description",
]

_log = logging.getLogger(__name__)

ENTITY_COLUMNS: Final = (
    "LogicalName",
    "EntitySetName",
    "PrimaryIdAttribute",
    "PrimaryNameAttribute",
    "DisplayName",
    "TableType",
)
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
# Attribute types with no value of their own in a record (names of lookups, calendar rules, party lists...).
UNREPRESENTED_TYPES: Final = frozenset({"Virtual", "ManagedProperty", "CalendarRules", "PartyList", "EntityName"})


def entities_of(body: Any) -> list[EntityInfo]:
    """:returns: the tables of an ``EntityDefinitions`` answer that have an entity set."""
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
                elastic=item.get("TableType") == "Elastic",
            )
        )
    return found


def read_description(client: DataverseClient, entity: EntityInfo) -> EntityDescription:
    """Read one table's attributes with their details.

    :param client: the Web API client.
    :param entity: the table.
    :returns: the description.
    :raises ConnectorError: when the service refuses a request (other than the relationships one).
    """
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
    columns = "ReferencingAttribute,ReferencingEntityNavigationPropertyName,ReferencedEntity"
    body = _relationships(client, f"{base}/ManyToOneRelationships", columns)
    if body is None:
        # A service without relationship metadata: assume navigation names equal attribute names, and say so.
        _log.warning("assuming lookup navigation names equal their attributes' names")
        return {}, True
    found: dict[str, list[tuple[str, str]]] = {}
    for item in _values(body):
        attribute = item.get("ReferencingAttribute")
        navigation = item.get("ReferencingEntityNavigationPropertyName")
        if isinstance(attribute, str) and isinstance(navigation, str) and navigation:
            found.setdefault(attribute, []).append((navigation, str(item.get("ReferencedEntity") or "")))
    return found, False


def read_collections(client: DataverseClient, entity: EntityInfo) -> dict[str, str]:
    """A table's collection-valued navigation properties, from ``OneToManyRelationships``.

    :returns: navigation property to the logical name of the table it leads to; empty when the service has no
        relationship metadata (400, 404 or 501).
    :raises ConnectorError: when the service refuses otherwise.
    """
    base = f"EntityDefinitions(LogicalName={quote_string(entity.logical_name)})"
    body = _relationships(
        client, f"{base}/OneToManyRelationships", "ReferencedEntityNavigationPropertyName,ReferencingEntity"
    )
    found: dict[str, str] = {}
    for item in _values(body):
        navigation, table = item.get("ReferencedEntityNavigationPropertyName"), item.get("ReferencingEntity")
        if isinstance(navigation, str) and navigation and isinstance(table, str) and table:
            found[navigation] = table
    return found


def _relationships(client: DataverseClient, path: str, select: str) -> Any:
    """:returns: a relationships answer, or ``None`` when the service has no such metadata (400, 404, 501).

    :raises ConnectorError: when the service refuses otherwise, or the failure may pass.
    """
    try:
        return client.get_json(path, [("$select", select)])
    except TransientError:
        raise
    except ConnectorError as error:
        if error.status not in (400, 404, 501):
            raise
        _log.warning("relationship metadata unavailable (%s): %s", error.status, path.rsplit("/", 1)[-1])
        return None


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
            label = option.get("Label")
            text = _label(label) or str(option["Value"])
            found.append(OptionInfo(int(option["Value"]), text, _localized(label)))
    return tuple(found)


def _localized(label: Any) -> tuple[tuple[int, str], ...]:
    """:returns: a label's ``LocalizedLabels`` as ``(language code, text)`` pairs."""
    if not isinstance(label, Mapping):
        return ()
    found = []
    for item in label.get("LocalizedLabels") or ():
        if not isinstance(item, Mapping):
            continue
        code, text = item.get("LanguageCode"), item.get("Label")
        if isinstance(code, int) and isinstance(text, str):
            found.append((code, text))
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
