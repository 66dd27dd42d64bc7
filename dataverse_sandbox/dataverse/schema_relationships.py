"""Relationship writes: ``POST``/``DELETE`` under ``RelationshipDefinitions``.

* One-to-many (``OneToManyRelationshipMetadata`` with its ``Lookup``): the lookup column is added to the referencing
  table (``_<lookup>_value``, single-valued navigation ``ReferencingEntityNavigationPropertyName``, by default the
  lookup's schema name, for ``@odata.bind``), and the referenced table gets the collection-valued navigation
  ``ReferencedEntityNavigationPropertyName`` (by default the relationship's schema name).
* Many-to-many (``ManyToManyRelationshipMetadata``): the relationship's metadata, its intersect table
  (``IntersectEntityName``, default the lower-cased schema name; read-only, as Dataverse's are) and a
  collection-valued navigation property on each table (``Entity1NavigationPropertyName`` on the first…), through
  which rows are associated (:mod:`.associations`).
* ``DELETE RelationshipDefinitions(<id>)`` or ``(SchemaName='x')`` of a custom relationship: its lookup column (and
  navigation properties) or its intersect table go with it.

Not for reading relationships: see :mod:`.entity_definitions`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from werkzeug.wrappers import Response

from .context import Call
from .entity_definitions import all_relationships
from .errors import DataverseError, invalid_argument, method_not_allowed, unknown_segment
from .metadata import AlternateKey, AttributeKind, AttributeMeta, CollectionNavigation, EntityMeta, ManyToManyNavigation
from .paths import Segment, parse_parameters
from .schema_changes import drop_columns, drop_intersect, read_body, require_customizer, with_changes
from .schema_definitions import label_text, schema_name_of, valid_name

__all__ = ["change_relationships"]

_ONE_TO_MANY = "OneToManyRelationshipMetadata"
_MANY_TO_MANY = "ManyToManyRelationshipMetadata"


def _table(call: Call, name: Any) -> EntityMeta:
    entity = call.service.catalog.get(str(name or "").lower())
    if entity is None:
        raise DataverseError(404, "0x80040217", f"Could not find an entity with the name '{name}'.")
    return entity


def _unique(call: Call, schema: str) -> None:
    if any(item["SchemaName"].lower() == schema.lower() for item in all_relationships(call)):
        raise DataverseError(
            400,
            "0x80044363",
            f"A relationship with the specified name '{schema}' already exists. Specify a unique name.",
        )


def _relationship_url(call: Call, schema: str) -> str:
    found = next(item for item in all_relationships(call) if item["SchemaName"] == schema)
    return f"{call.root}RelationshipDefinitions({found['MetadataId']})"


def _one_to_many(call: Call, body: dict[str, Any]) -> Response:
    schema = schema_name_of(body, "relationship")
    referenced = _table(call, body.get("ReferencedEntity"))
    referencing = _table(call, body.get("ReferencingEntity"))
    lookup_body = body.get("Lookup")
    if not isinstance(lookup_body, dict):
        raise invalid_argument("A one-to-many relationship needs its Lookup attribute definition.")
    lookup_schema = schema_name_of(lookup_body, "lookup attribute")
    _unique(call, schema)
    if referencing.by_logical_name(lookup_schema.lower()) is not None:
        raise DataverseError(
            400,
            "0x80047013",
            f"An attribute with the specified name '{lookup_schema}' already exists on entity "
            f"'{referencing.logical_name}'.",
        )
    required = lookup_body.get("RequiredLevel")
    lookup = AttributeMeta(
        lookup_schema.lower(),
        AttributeKind.LOOKUP,
        label_text(lookup_body.get("DisplayName"), lookup_schema),
        target=referenced.logical_name,
        navigation=valid_name(
            body.get("ReferencingEntityNavigationPropertyName") or lookup_schema, "navigation property"
        ),
        required=str(required.get("Value") or "None") if isinstance(required, dict) else "None",
        schema=lookup_schema,
        custom=True,
        given_id=str(uuid.uuid4()),
    )
    collection = CollectionNavigation(
        valid_name(body.get("ReferencedEntityNavigationPropertyName") or schema, "navigation property"),
        referencing.logical_name,
        lookup.logical_name,
        relationship=schema,
        custom=True,
    )
    service = call.service
    with service.storage.transaction():
        service.storage.add_column(referencing, lookup)
        service.put_table(with_changes(referencing, attributes=(*referencing.attributes, lookup)))
        target = service.catalog[referenced.logical_name]
        service.put_table(with_changes(target, collections=(*target.collections, collection)))
    return call.empty(204, {"OData-EntityId": _relationship_url(call, schema)})


def _intersect_table(name: str, first: EntityMeta, second: EntityMeta) -> tuple[EntityMeta, str, str]:
    one = f"{first.logical_name}id"
    two = f"{second.logical_name}id"
    if one == two:
        one, two = f"{one}one", f"{two}two"
    kind = AttributeKind
    entity = EntityMeta(
        logical_name=name,
        entity_set_name=f"{name}collection",
        display_name=name,
        primary_id=f"{name}id",
        primary_name=f"{name}id",
        object_type_code=0,
        metadata_id=str(uuid.uuid4()),
        attributes=(
            AttributeMeta(f"{name}id", kind.UNIQUEIDENTIFIER, name, valid_for_create=False, valid_for_update=False),
            AttributeMeta(one, kind.UNIQUEIDENTIFIER, one, valid_for_update=False),
            AttributeMeta(two, kind.UNIQUEIDENTIFIER, two, valid_for_update=False),
            AttributeMeta("versionnumber", kind.BIGINT, "Version Number", valid_for_create=False),
        ),
        change_tracking=False,
        writable=False,
        schema=name,
        custom=True,
        intersect=True,
    )
    return entity, one, two


def _many_to_many(call: Call, body: dict[str, Any]) -> Response:
    schema = schema_name_of(body, "relationship")
    first = _table(call, body.get("Entity1LogicalName"))
    second = _table(call, body.get("Entity2LogicalName"))
    _unique(call, schema)
    name = valid_name(body.get("IntersectEntityName") or schema, "intersect entity").lower()
    if name in call.service.catalog:
        raise DataverseError(
            400, "0x80044363", f"An entity with the specified name '{name}' already exists. Specify a unique name."
        )
    intersect, one, two = _intersect_table(name, first, second)
    nav1 = valid_name(body.get("Entity1NavigationPropertyName") or schema, "navigation property")
    nav2 = valid_name(body.get("Entity2NavigationPropertyName") or schema, "navigation property")
    item = {
        "MetadataId": str(uuid.uuid4()),
        "SchemaName": schema,
        "RelationshipType": "ManyToManyRelationship",
        "IsCustomRelationship": True,
        "IsManaged": False,
        "Entity1LogicalName": first.logical_name,
        "Entity2LogicalName": second.logical_name,
        "IntersectEntityName": name,
        "Entity1IntersectAttribute": one,
        "Entity2IntersectAttribute": two,
        "Entity1NavigationPropertyName": nav1,
        "Entity2NavigationPropertyName": nav2,
    }
    service = call.service
    navs = [
        (first, ManyToManyNavigation(nav1, second.logical_name, name, one, two, schema)),
        (second, ManyToManyNavigation(nav2, first.logical_name, name, two, one, schema)),
    ]
    if first.logical_name == second.logical_name and navs[0][1].name == navs[1][1].name:
        navs.pop()
    with service.storage.transaction():
        service.storage.add_table(intersect)
        # A pair is linked once: associating it again is Dataverse's "Cannot insert duplicate key".
        service.storage.add_key(intersect, AlternateKey("pair", (one, two)))
        service.put_table(intersect)
        for table, nav in navs:
            current = service.catalog[table.logical_name]
            service.put_table(with_changes(current, associations=(*current.associations, nav)))
        service.set_many_to_many([*service.many_to_many, item])
    return call.empty(204, {"OData-EntityId": f"{call.root}RelationshipDefinitions({item['MetadataId']})"})


def _delete(call: Call, head: Segment) -> Response:
    pairs = parse_parameters(head.args or "", call.aliases)
    name, value = pairs[0] if len(pairs) == 1 else (None, None)
    for item in all_relationships(call):
        if (name in (None, "MetadataId") and value == item["MetadataId"]) or (
            name == "SchemaName" and value == item["SchemaName"]
        ):
            break
    else:
        raise unknown_segment(head.raw)
    if not item["IsCustomRelationship"]:
        raise DataverseError(
            400,
            "0x80040203",
            f"The relationship '{item['SchemaName']}' is not a custom relationship and cannot be deleted.",
        )
    service = call.service
    with service.storage.transaction():
        if item["RelationshipType"] == "ManyToManyRelationship":
            service.set_many_to_many([m for m in service.many_to_many if m["MetadataId"] != item["MetadataId"]])
            drop_intersect(call, item["IntersectEntityName"])
        else:
            referencing = service.catalog[item["ReferencingEntity"]]
            lookup = referencing.by_logical_name(item["ReferencingAttribute"])
            assert lookup is not None
            drop_columns(call, referencing, [lookup])
    return call.empty(204)


def change_relationships(call: Call, segments: Sequence[Segment]) -> Response:
    """Serve ``POST RelationshipDefinitions`` and ``DELETE RelationshipDefinitions(<id>)``.

    :raises DataverseError: 400 for a definition the sandbox cannot read, 404 for an unknown table or relationship,
        405 for any other method.
    """
    require_customizer(call)
    head = segments[0]
    if len(segments) > 1:
        raise method_not_allowed(f"The method {call.method} is not allowed on {segments[1].raw}.")
    if head.args is None and call.method == "POST":
        body = read_body(call)
        odata_type = str(body.get("@odata.type") or "").lstrip("#").removeprefix("Microsoft.Dynamics.CRM.")
        if odata_type == _ONE_TO_MANY:
            return _one_to_many(call, body)
        if odata_type == _MANY_TO_MANY:
            return _many_to_many(call, body)
        raise invalid_argument(
            f"'{odata_type}' is not a relationship type: use {_ONE_TO_MANY} or {_MANY_TO_MANY} in @odata.type."
        )
    if head.args is not None and call.method == "DELETE":
        return _delete(call, head)
    raise method_not_allowed(f"The method {call.method} is not allowed on RelationshipDefinitions.")
