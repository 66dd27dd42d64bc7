"""``EntityDefinitions``: table, attribute and alternate-key metadata as JSON (reference §1.5).

Supports the collection with ``$select``/``$filter``/``$expand=Attributes,Keys``, key addressing by ``MetadataId``
or ``LogicalName``, ``/Attributes`` (``@odata.type`` per item, casts such as
``/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$expand=OptionSet``), ``/Attributes(LogicalName=…)``
``/Keys``, and ``/ManyToOneRelationships`` / ``/OneToManyRelationships`` (one relationship per lookup, with both
navigation property names, ``$select``/``$filter``). ``MetadataId`` is always returned; metadata is never paged.
Not for the CSDL document: see :mod:`.csdl`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from werkzeug.wrappers import Response

from .context import Call
from .errors import bad_request, unknown_property, unknown_segment
from .metadata import AttributeKind, AttributeMeta, EntityMeta
from .metadata_filter import compile_metadata_filter
from .paths import Segment, parse_parameters
from .preferences import split_top_level
from .values import parse_guid

__all__ = [
    "all_relationships",
    "attribute_json",
    "entity_definitions",
    "entity_json",
    "find_entity",
    "key_json",
    "relationship_definitions",
]

_CAST_PREFIX = "Microsoft.Dynamics.CRM."


def _label(text: str, translations: Sequence[tuple[int, str]] = (), *, managed: bool = True) -> dict[str, Any]:
    localized = {"Label": text, "LanguageCode": 1033, "IsManaged": managed}
    others = [{"Label": label, "LanguageCode": code, "IsManaged": managed} for code, label in translations]
    return {"LocalizedLabels": [localized, *others], "UserLocalizedLabel": localized}


def entity_json(entity: EntityMeta) -> dict[str, Any]:
    """:returns: a table's ``EntityMetadata`` (without ``Attributes`` and ``Keys``)."""
    custom = entity.custom or entity.logical_name.startswith(("sample_", "new_"))
    return {
        "MetadataId": entity.metadata_id,
        "LogicalName": entity.logical_name,
        "SchemaName": entity.schema_name,
        "EntitySetName": entity.entity_set_name,
        "LogicalCollectionName": entity.entity_set_name,
        "CollectionSchemaName": entity.schema_name + "s",
        "PrimaryIdAttribute": entity.primary_id,
        "PrimaryNameAttribute": entity.primary_name,
        "ObjectTypeCode": entity.object_type_code,
        "ChangeTrackingEnabled": entity.change_tracking,
        "IsPrivate": False,
        "IsIntersect": entity.intersect,
        "IsLogicalEntity": False,
        "TableType": "Elastic" if entity.elastic else "Standard",
        "IsManaged": not custom,
        "IsOptimisticConcurrencyEnabled": True,
        "IsCustomEntity": custom,
        "IsActivity": False,
        "IsValidForAdvancedFind": True,
        "OwnershipType": "UserOwned",
        "DisplayName": _label(entity.display_name, managed=not custom),
        "DisplayCollectionName": _label(entity.display_name + "s", managed=not custom),
        "CanCreateAttributes": {
            "Value": True,
            "CanBeChanged": False,
            "ManagedPropertyLogicalName": "cancreateattributes",
        },
    }


def attribute_json(entity: EntityMeta, attribute: AttributeMeta, *, expand_options: bool) -> dict[str, Any]:
    """:returns: a column's ``AttributeMetadata`` of its derived type (``@odata.type``)."""
    kind = attribute.kind
    type_name = "DateTime" if kind is AttributeKind.DATEONLY else kind.value
    item: dict[str, Any] = {
        "@odata.type": kind.metadata_type,
        "MetadataId": attribute.metadata_id,
        "LogicalName": attribute.logical_name,
        "SchemaName": attribute.schema_name,
        "EntityLogicalName": entity.logical_name,
        # A multi-select choice is typed Virtual; its type name says what it is (as Dataverse answers).
        "AttributeType": "Virtual" if kind is AttributeKind.MULTISELECT else type_name,
        "AttributeTypeName": {"Value": f"{type_name}Type"},
        "IsPrimaryId": attribute.logical_name == entity.primary_id,
        "IsPrimaryName": attribute.logical_name == entity.primary_name,
        "IsValidForCreate": attribute.valid_for_create,
        "IsValidForUpdate": attribute.valid_for_update,
        "IsValidForRead": True,
        "IsCustomAttribute": attribute.custom or attribute.logical_name.startswith(("sample_", "new_")),
        "AttributeOf": attribute.attribute_of,
        "IsLogical": False,
        "RequiredLevel": {
            "Value": attribute.required,
            "CanBeChanged": True,
            "ManagedPropertyLogicalName": "canmodifyrequirementlevelsettings",
        },
        "DisplayName": _label(attribute.display_name, managed=not attribute.custom),
    }
    if attribute.max_length is not None:
        item["MaxLength"] = attribute.max_length
    if attribute.min_value is not None:
        item["MinValue"] = attribute.min_value
        item["MaxValue"] = attribute.max_value
    if kind in (AttributeKind.DATETIME, AttributeKind.DATEONLY):
        item["Format"] = attribute.date_format or ("DateOnly" if kind is AttributeKind.DATEONLY else "DateAndTime")
        item["DateTimeBehavior"] = {"Value": "DateOnly" if kind is AttributeKind.DATEONLY else "UserLocal"}
    if kind is AttributeKind.LOOKUP:
        item["Targets"] = [attribute.target]
    if kind in (AttributeKind.FILE, AttributeKind.IMAGE):
        item["MaxSizeInKB"] = attribute.max_size_kb
    if kind is AttributeKind.IMAGE:
        item["CanStoreFullImage"] = True
        item["IsPrimaryImage"] = attribute.logical_name == "entityimage"
    if kind is AttributeKind.MONEY:
        item["PrecisionSource"] = 2
    if expand_options and (kind.is_option_set or kind in (AttributeKind.BOOLEAN, AttributeKind.MULTISELECT)):
        options = [{"Value": o.value, "Label": _label(o.label, o.translations)} for o in attribute.options]
        if kind is AttributeKind.BOOLEAN:
            item["OptionSet"] = {"FalseOption": options[0], "TrueOption": options[1]}
        else:
            item["OptionSet"] = {"Options": options, "Name": f"{entity.logical_name}_{attribute.logical_name}"}
    return item


def key_json(entity: EntityMeta, index: int) -> dict[str, Any]:
    """:returns: the ``EntityKeyMetadata`` of the table's ``index``-th alternate key."""
    key = entity.alternate_keys[index]
    return {
        "MetadataId": key.metadata_id or parse_guid(f"{entity.metadata_id[:-4]}{index:04x}"),
        "SchemaName": key.schema_name,
        "LogicalName": key.schema_name.lower(),
        "KeyAttributes": list(key.attributes),
        "EntityLogicalName": entity.logical_name,
        "EntityKeyIndexStatus": key.index_status,
        "DisplayName": _label(key.schema_name),
    }


def _relationship_json(
    catalog: Mapping[str, EntityMeta], referencing: EntityMeta, lookup: AttributeMeta
) -> dict[str, Any]:
    """One lookup as Dataverse's ``OneToManyRelationshipMetadata`` (referenced = the lookup's target)."""
    target = lookup.target or ""
    referenced = catalog.get(target)
    collection = next(
        (
            nav
            for nav in (referenced.collections if referenced is not None else ())
            if nav.target == referencing.logical_name and nav.lookup == lookup.logical_name
        ),
        None,
    )
    schema_name = (
        (collection.relationship or collection.name)
        if collection is not None
        else f"{target}_{referencing.logical_name}_{lookup.logical_name}"
    )
    return {
        "MetadataId": str(uuid.uuid5(uuid.UUID(referencing.metadata_id), f"relationship:{schema_name}")),
        "SchemaName": schema_name,
        "RelationshipType": "OneToManyRelationship",
        "IsCustomRelationship": lookup.custom,
        "ReferencedEntity": target,
        "ReferencedAttribute": referenced.primary_id if referenced is not None else f"{target}id",
        "ReferencedEntityNavigationPropertyName": collection.name if collection is not None else None,
        "ReferencingEntity": referencing.logical_name,
        "ReferencingAttribute": lookup.logical_name,
        "ReferencingEntityNavigationPropertyName": lookup.navigation,
    }


def _relationships(catalog: Mapping[str, EntityMeta], entity: EntityMeta, side: str) -> list[dict[str, Any]]:
    """:returns: the relationships where ``entity`` holds the lookup (``ManyToOne``) or is its target."""
    if side == "ManyToOneRelationships":
        return [_relationship_json(catalog, entity, a) for a in entity.attributes if a.kind is AttributeKind.LOOKUP]
    return [
        _relationship_json(catalog, other, a)
        for other in catalog.values()
        for a in other.attributes
        if a.kind is AttributeKind.LOOKUP and a.target == entity.logical_name
    ]


#: Properties of the metadata types that some items lack (type-specific), still valid in ``$filter``/``$select``.
_ATTRIBUTE_PROPERTIES = frozenset(
    {
        "MaxLength",
        "MinValue",
        "MaxValue",
        "Format",
        "DateTimeBehavior",
        "Targets",
        "PrecisionSource",
        "OptionSet",
        "MaxSizeInKB",
        "CanStoreFullImage",
        "IsPrimaryImage",
        "Precision",
        "FormatName",
    }
)
_RELATIONSHIP_PROPERTIES = frozenset(
    {
        "MetadataId",
        "SchemaName",
        "RelationshipType",
        "IsCustomRelationship",
        "ReferencedEntity",
        "ReferencedAttribute",
        "ReferencedEntityNavigationPropertyName",
        "ReferencingEntity",
        "ReferencingAttribute",
        "ReferencingEntityNavigationPropertyName",
        "Entity1LogicalName",
        "Entity2LogicalName",
        "IntersectEntityName",
        "Entity1IntersectAttribute",
        "Entity2IntersectAttribute",
        "Entity1NavigationPropertyName",
        "Entity2NavigationPropertyName",
        "IsManaged",
        "CascadeConfiguration",
    }
)


def _known(items: Sequence[dict[str, Any]], extra: frozenset[str] = frozenset()) -> frozenset[str]:
    """:returns: the property names of a metadata type, from its items and the type's optional properties."""
    return frozenset(key for item in items for key in item if not key.startswith("@")) | extra


def _select(items: Sequence[dict[str, Any]], select: str | None, type_name: str) -> list[dict[str, Any]]:
    if not select:
        return list(items)
    names = [name.strip() for name in select.split(",") if name.strip()]
    known = {key for item in items for key in item} | {"MetadataId"}
    for name in names:
        if name not in known and items:
            raise bad_request(f"Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.{type_name}'.")
    chosen = []
    for item in items:
        out = {k: v for k, v in item.items() if k in names or k in ("@odata.type", "MetadataId")}
        for extra in ("OptionSet", "Attributes", "Keys"):
            if extra in item:
                out[extra] = item[extra]
        chosen.append(out)
    return chosen


def find_entity(call: Call, segment: Segment) -> EntityMeta:
    """:returns: the table addressed by ``EntityDefinitions(<MetadataId>)`` or ``(LogicalName='…')``.

    :raises DataverseError: 404 when no table matches.
    """
    pairs = parse_parameters(segment.args or "", call.aliases)
    if len(pairs) == 1:
        name, value = pairs[0]
        for entity in call.service.catalog.values():
            if (name in (None, "MetadataId") and value == entity.metadata_id) or (
                name == "LogicalName" and value == entity.logical_name
            ):
                return entity
    raise unknown_segment(segment.raw)


def _expansions(text: str | None) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for item in split_top_level(text or ""):
        name, _, rest = item.partition("(")
        select = None
        for option in split_top_level(rest.rstrip(")"), ";"):
            key, _, value = option.partition("=")
            if key.strip() == "$select":
                select = value
        found[name.strip()] = select
    return found


def all_relationships(call: Call) -> list[dict[str, Any]]:
    """:returns: every relationship: one-to-many (one per lookup) with ``@odata.type``, then many-to-many."""
    found = []
    for entity in call.service.catalog.values():
        for item in _relationships(call.service.catalog, entity, "ManyToOneRelationships"):
            found.append({"@odata.type": "#Microsoft.Dynamics.CRM.OneToManyRelationshipMetadata", **item})
    found.extend(
        {"@odata.type": "#Microsoft.Dynamics.CRM.ManyToManyRelationshipMetadata", **item}
        for item in call.service.many_to_many
    )
    return found


def relationship_definitions(call: Call, segments: Sequence[Segment]) -> Response:
    """Serve ``GET RelationshipDefinitions`` (``$filter``, ``$select``), by ``MetadataId`` or ``SchemaName``, and
    the casts ``/Microsoft.Dynamics.CRM.OneToManyRelationshipMetadata`` / ``…ManyToManyRelationshipMetadata``.
    """
    if call.method != "GET":
        from .schema_relationships import change_relationships

        return change_relationships(call, segments)
    args = call.request.args
    head = segments[0]
    items = all_relationships(call)
    cast = ""
    if len(segments) > 1:
        cast = segments[1].name
        if not cast.startswith(_CAST_PREFIX) or len(segments) > 2:
            raise unknown_segment(segments[-1].raw)
        items = [item for item in items if item["@odata.type"] == "#" + cast]
    base = f"{call.root}$metadata#RelationshipDefinitions"
    if head.args is not None:
        pairs = parse_parameters(head.args, call.aliases)
        name, value = pairs[0] if len(pairs) == 1 else (None, None)
        for item in items:
            if (name in (None, "MetadataId") and value == item["MetadataId"]) or (
                name == "SchemaName" and value == item["SchemaName"]
            ):
                chosen = _select([item], args.get("$select"), "RelationshipMetadataBase")[0]
                return call.json({"@odata.context": f"{base}/$entity", **chosen})
        raise unknown_segment(head.raw)
    predicate = compile_metadata_filter(args.get("$filter"), _RELATIONSHIP_PROPERTIES, "RelationshipMetadataBase")
    found = [item for item in items if predicate(item)]
    return call.json(
        {
            "@odata.context": base + (f"/{cast}" if cast else ""),
            "value": _select(found, args.get("$select"), "RelationshipMetadataBase"),
        }
    )


def entity_definitions(call: Call, segments: Sequence[Segment]) -> Response:
    """Serve a request under ``EntityDefinitions``.

    :param segments: the path segments, starting with ``EntityDefinitions``.
    """
    if call.method != "GET":
        from .schema_changes import change_entity_definitions

        return change_entity_definitions(call, segments)
    args = call.request.args
    root = f"{call.root}$metadata#"
    head = segments[0]
    expansions = _expansions(args.get("$expand"))
    if head.args is None:
        if len(segments) > 1:
            raise unknown_segment(segments[1].raw)
        every = [entity_json(e) for e in call.service.catalog.values()]
        predicate = compile_metadata_filter(args.get("$filter"), _known(every), "EntityMetadata")
        entities = [e for e in call.service.catalog.values() if predicate(entity_json(e))]
        items = _select([entity_json(e) for e in entities], args.get("$select"), "EntityMetadata")
        for entity, item in zip(entities, items, strict=True):
            _attach(entity, item, expansions)
        select = args.get("$select")
        context = f"{root}EntityDefinitions" + (f"({select})" if select else "")
        return call.json({"@odata.context": context, "value": items})
    entity = find_entity(call, head)
    if len(segments) == 1:
        item = _select([entity_json(entity)], args.get("$select"), "EntityMetadata")[0]
        _attach(entity, item, expansions)
        select = args.get("$select")
        context = f"{root}EntityDefinitions" + (f"({select})" if select else "")
        if call.service.behaviour.entity_definitions_key_as_object:
            return call.json({"@odata.context": context + "/$entity", **item})
        return call.json({"@odata.context": context, "value": [item]})
    return _children(call, entity, segments[1:], expansions)


def _attach(entity: EntityMeta, item: dict[str, Any], expansions: dict[str, str | None]) -> None:
    if "Attributes" in expansions:
        attributes = [attribute_json(entity, a, expand_options=False) for a in entity.attributes]
        item["Attributes"] = _select(attributes, expansions["Attributes"], "AttributeMetadata")
    if "Keys" in expansions:
        keys = [key_json(entity, i) for i in range(len(entity.alternate_keys))]
        item["Keys"] = _select(keys, expansions["Keys"], "EntityKeyMetadata")


def _children(
    call: Call, entity: EntityMeta, segments: Sequence[Segment], expansions: dict[str, str | None]
) -> Response:
    args = call.request.args
    base = f"{call.root}$metadata#EntityDefinitions('{entity.metadata_id}')"
    child = segments[0]
    if child.name == "Keys":
        keys = [key_json(entity, i) for i in range(len(entity.alternate_keys))]
        selected = _select(keys, args.get("$select"), "EntityKeyMetadata")
        return call.json({"@odata.context": f"{base}/Keys", "value": selected})
    if child.name in ("ManyToOneRelationships", "OneToManyRelationships", "ManyToManyRelationships"):
        if len(segments) > 1 or child.args is not None:
            raise unknown_segment(segments[-1].raw)
        type_name = (
            "ManyToManyRelationshipMetadata"
            if child.name == "ManyToManyRelationships"
            else "OneToManyRelationshipMetadata"
        )
        predicate = compile_metadata_filter(args.get("$filter"), _RELATIONSHIP_PROPERTIES, type_name)
        if child.name == "ManyToManyRelationships":
            every = [
                item
                for item in call.service.many_to_many
                if entity.logical_name in (item["Entity1LogicalName"], item["Entity2LogicalName"])
            ]
        else:
            every = _relationships(call.service.catalog, entity, child.name)
        found = [item for item in every if predicate(item)]
        selected = _select(found, args.get("$select"), type_name)
        return call.json({"@odata.context": f"{base}/{child.name}", "value": selected})
    if child.name != "Attributes":
        raise unknown_property(child.name, "EntityMetadata")
    expand_options = "OptionSet" in expansions or "GlobalOptionSet" in expansions
    attributes = list(entity.attributes)
    type_filter: Callable[[dict[str, Any]], bool] = lambda _item: True  # noqa: E731 - a one-line default
    cast = ""
    if len(segments) > 1:
        cast = segments[1].name
        if not cast.startswith(_CAST_PREFIX) or len(segments) > 2:
            raise unknown_segment(segments[1].raw)
        type_filter = lambda item: item["@odata.type"] == "#" + cast  # noqa: E731 - closes over cast
    if child.args is not None:
        pairs = parse_parameters(child.args, call.aliases)
        wanted = pairs[0][1] if len(pairs) == 1 else None
        for attribute in attributes:
            if wanted in (attribute.logical_name, attribute.metadata_id):
                item = attribute_json(entity, attribute, expand_options=expand_options)
                item = _select([item], args.get("$select"), "AttributeMetadata")[0]
                return call.json({"@odata.context": f"{base}/Attributes/$entity", **item})
        raise unknown_segment(child.raw)
    items = [attribute_json(entity, a, expand_options=expand_options) for a in attributes]
    predicate = compile_metadata_filter(args.get("$filter"), _known(items, _ATTRIBUTE_PROPERTIES), "AttributeMetadata")
    items = [item for item in items if type_filter(item) and predicate(item)]
    suffix = f"/{cast}" if cast else ""
    selected = _select(items, args.get("$select"), "AttributeMetadata")
    return call.json({"@odata.context": f"{base}/Attributes{suffix}", "value": selected})
