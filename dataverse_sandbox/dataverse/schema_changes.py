"""Metadata writes: tables, columns and alternate keys created, changed and deleted through the Web API.

* ``POST EntityDefinitions`` and the ``CreateEntities`` action: a new custom table (:func:`create_entities`);
  ``PUT EntityDefinitions(<id>)`` changes its labels (metadata is updated with ``PUT`` only: ``PATCH`` is 405);
  ``DELETE EntityDefinitions(<id>)`` (or ``(LogicalName='x')``) drops a custom table with its relationships.
* ``POST EntityDefinitions(…)/Attributes``, ``PUT …/Attributes(<id>)`` (the whole definition; labels are merged
  with ``MSCRM.MergeLabels``), ``DELETE …/Attributes(<id>)``.
* ``POST EntityDefinitions(…)/Keys``, ``DELETE …/Keys(<id>)``: the unique index is built at once, so
  ``EntityKeyIndexStatus`` is ``Active`` on the first read (Dataverse builds it in a system job: ``Pending`` first),
  or ``Failed`` when existing rows hold duplicate values (as Dataverse's job ends).
* Relationships (``RelationshipDefinitions``): :mod:`.schema_relationships`.

Changes apply at once, without ``PublishXml``: a new column is readable and writable on the next request. Not for
reading metadata: see :mod:`.entity_definitions`; definitions are read by :mod:`.schema_definitions`.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from typing import Any

from werkzeug.wrappers import Response

from dataverse_sandbox.numbers import finite

from .context import Call
from .entities import read_json
from .entity_definitions import entity_json, find_entity, key_json
from .errors import DataverseError, invalid_argument, method_not_allowed, privilege_denied, unknown_segment
from .metadata import AlternateKey, AttributeKind, AttributeMeta, EntityMeta
from .paths import Segment, parse_parameters
from .schema_definitions import label_text, read_attribute, read_entity, schema_name_of

__all__ = [
    "change_entity_definitions",
    "create_entities",
    "drop_columns",
    "drop_intersect",
    "read_body",
    "require_customizer",
    "with_changes",
]


#: Column types an alternate key may use (Learn: decimal, whole number, single line of text, date and time, choice;
#: lookups too, which the sandbox's keys do not take).
_KEY_KINDS = frozenset(
    {
        AttributeKind.STRING,
        AttributeKind.INTEGER,
        AttributeKind.DECIMAL,
        AttributeKind.DATETIME,
        AttributeKind.DATEONLY,
        AttributeKind.PICKLIST,
    }
)


def require_customizer(call: Call) -> None:
    """Refuse a metadata write when the principal may only read.

    :raises DataverseError: 403 ``0x80040220`` (the System Customizer's ``prvCreateEntity``).
    """
    if call.principal.access != "full":
        raise privilege_denied(call.principal.user_id, "prvCreateEntity", "entity", 9800)


def with_changes(entity: EntityMeta, **changes: Any) -> EntityMeta:
    """:returns: a copy of ``entity`` with some fields replaced (its attribute index rebuilt)."""
    return dataclasses.replace(entity, _by_property={}, **changes)


def read_body(call: Call) -> dict[str, Any]:
    """:returns: the request's JSON object.

    :raises DataverseError: 400 when the body is not a JSON object.
    """
    body = read_json(call)
    if not isinstance(body, dict):
        raise invalid_argument("The request body must be a JSON object.")
    return body


def _entity_url(call: Call, entity: EntityMeta) -> str:
    return f"{call.root}EntityDefinitions({entity.metadata_id})"


def _next_type_code(call: Call) -> int:
    return max([10000, *(entity.object_type_code for entity in call.service.catalog.values())]) + 1


def _add_entity(call: Call, body: dict[str, Any]) -> EntityMeta:
    schema = schema_name_of(body, "entity")
    entity = read_entity(body, _next_type_code(call))
    catalog = call.service.catalog
    taken = {e.entity_set_name for e in catalog.values()}
    if entity.logical_name in catalog or {entity.logical_name, entity.entity_set_name} & taken:
        raise DataverseError(
            400, "0x80044363", f"An entity with the specified name '{schema}' already exists. Specify a unique name."
        )
    storage = call.service.storage
    with storage.transaction():
        storage.add_table(entity)
        call.service.put_table(entity)
    return entity


def _create_entity(call: Call) -> Response:
    """``POST EntityDefinitions``: 204 + ``OData-EntityId``, or 201 + the definition with ``return=representation``."""
    entity = _add_entity(call, read_body(call))
    url = _entity_url(call, entity)
    if call.preferences.return_representation:
        call.preferences.apply("return")
        item = {"@odata.context": f"{call.root}$metadata#EntityDefinitions/$entity", **entity_json(entity)}
        return call.json(item, 201, {"OData-EntityId": url})
    return call.empty(204, {"OData-EntityId": url})


def create_entities(call: Call) -> Response:
    """``POST CreateEntities`` with ``{"Entities": [ComplexEntityMetadata…]}``: every table, or none.

    :returns: 200 with the new tables' ``MetadataId`` values (``EntityIds``).
    """
    require_customizer(call)
    body = read_body(call)
    definitions = body.get("Entities")
    if not isinstance(definitions, list) or not definitions:
        raise invalid_argument("CreateEntities needs a non-empty 'Entities' collection.")
    created: list[EntityMeta] = []
    try:
        for definition in definitions:
            if not isinstance(definition, dict):
                raise invalid_argument("Each item of 'Entities' must be an entity definition.")
            created.append(_add_entity(call, definition))
    except DataverseError:
        for entity in created:
            _drop_entity(call, entity)
        raise
    return call.json(
        {
            "@odata.context": f"{call.root}$metadata#Microsoft.Dynamics.CRM.CreateEntitiesResponse",
            "EntityIds": [entity.metadata_id for entity in created],
        }
    )


def _drop_entity(call: Call, entity: EntityMeta) -> None:
    """Drop a table: its rows, the lookups on other tables that point at it and its many-to-many relationships."""
    service = call.service
    storage = service.storage
    with storage.transaction():
        for other in list(service.catalog.values()):
            if other.logical_name == entity.logical_name:
                continue
            lookups = [
                a for a in other.attributes if a.kind is AttributeKind.LOOKUP and a.target == entity.logical_name
            ]
            if lookups:
                other = drop_columns(call, other, lookups)
            kept = tuple(c for c in other.collections if c.target != entity.logical_name)
            if kept != other.collections:
                service.put_table(with_changes(other, collections=kept))
        for item in service.many_to_many:
            if entity.logical_name in (item["Entity1LogicalName"], item["Entity2LogicalName"]):
                service.set_many_to_many([m for m in service.many_to_many if m is not item])
                drop_intersect(call, item["IntersectEntityName"])
        storage.drop_table(entity)
        service.drop_table(entity)


def drop_intersect(call: Call, name: str) -> None:
    """Drop a many-to-many relationship's intersect table and the navigation properties that go through it."""
    service = call.service
    with service.storage.transaction():
        for other in list(service.catalog.values()):
            kept = tuple(nav for nav in other.associations if nav.intersect != name)
            if kept != other.associations:
                service.put_table(with_changes(other, associations=kept))
        intersect = service.catalog.get(name)
        if intersect is not None:
            service.storage.drop_table(intersect)
            service.drop_table(intersect)


def _delete_entity(call: Call, entity: EntityMeta) -> Response:
    if not entity.custom or entity.intersect:
        raise DataverseError(
            400,
            "0x80040203",
            f"The entity '{entity.logical_name}' is not a custom entity and cannot be deleted.",
        )
    _drop_entity(call, entity)
    return call.empty(204)


def _update_entity(call: Call, entity: EntityMeta) -> Response:
    body = read_body(call)
    changes: dict[str, Any] = {}
    if "DisplayName" in body:
        changes["display_name"] = label_text(body["DisplayName"], entity.display_name)
    if isinstance(body.get("ChangeTrackingEnabled"), bool):
        changes["change_tracking"] = body["ChangeTrackingEnabled"]
    with call.service.storage.transaction():
        call.service.put_table(with_changes(entity, **changes))
    return call.empty(204)


def drop_columns(call: Call, entity: EntityMeta, columns: Sequence[AttributeMeta]) -> EntityMeta:
    """Drop columns with the columns that belong to them, their keys and the collections that follow them.

    :returns: the table's new metadata (already in the catalog).
    """
    names = {column.logical_name for column in columns}
    names |= {a.logical_name for a in entity.attributes if a.attribute_of in names}
    storage = call.service.storage
    with storage.transaction():
        keys = []
        for key in entity.alternate_keys:
            if names & set(key.attributes):
                storage.drop_key(entity, key)
            else:
                keys.append(key)
        for attribute in entity.attributes:
            if attribute.logical_name in names:
                storage.drop_column(entity, attribute)
        changed = with_changes(
            entity,
            attributes=tuple(a for a in entity.attributes if a.logical_name not in names),
            alternate_keys=tuple(keys),
        )
        call.service.put_table(changed)
        # The referenced side of a dropped lookup loses its collection-valued navigation property.
        for other in list(call.service.catalog.values()):
            kept = tuple(c for c in other.collections if not (c.target == entity.logical_name and c.lookup in names))
            if kept != other.collections:
                call.service.put_table(with_changes(other, collections=kept))
    return changed


def _find_attribute(call: Call, entity: EntityMeta, segment: Segment) -> AttributeMeta:
    pairs = parse_parameters(segment.args or "", call.aliases)
    if len(pairs) == 1:
        name, value = pairs[0]
        for attribute in entity.attributes:
            if (name in (None, "MetadataId") and value == attribute.metadata_id) or (
                name == "LogicalName" and value == attribute.logical_name
            ):
                return attribute
    raise unknown_segment(segment.raw)


def _add_attribute(call: Call, entity: EntityMeta, base: str) -> Response:
    """``POST …/Attributes``: 204 + ``OData-EntityId`` under the table's address as the request spelt it."""
    columns = read_attribute(entity.logical_name, read_body(call))
    for column in columns:
        if entity.by_logical_name(column.logical_name) is not None:
            raise DataverseError(
                400,
                "0x80047013",
                f"An attribute with the specified name '{column.schema_name}' already exists on entity "
                f"'{entity.logical_name}'.",
            )
    storage = call.service.storage
    with storage.transaction():
        for column in columns:
            storage.add_column(entity, column)
        call.service.put_table(with_changes(entity, attributes=(*entity.attributes, *columns)))
    url = f"{base}/Attributes({columns[0].metadata_id})"
    return call.empty(204, {"OData-EntityId": url})


def _update_attribute(call: Call, entity: EntityMeta, attribute: AttributeMeta) -> Response:
    """``PUT …/Attributes(<id>)``: the whole definition; the type cannot change."""
    body = read_body(call)
    sent_type = str(body.get("@odata.type") or "").lstrip("#")
    if sent_type and sent_type != attribute.kind.metadata_type.lstrip("#"):
        raise invalid_argument(f"The attribute type of '{attribute.logical_name}' cannot be changed to '{sent_type}'.")
    changes: dict[str, Any] = {}
    if "DisplayName" in body:
        changes["display_name"] = label_text(body["DisplayName"], attribute.display_name)
    if attribute.max_length is not None and isinstance(body.get("MaxLength"), int):
        changes["max_length"] = body["MaxLength"]
    for field, name in (("min_value", "MinValue"), ("max_value", "MaxValue")):
        if attribute.min_value is not None and isinstance(body.get(name), (int, float)):
            if not finite(body[name]):  # float() of an integer past a double's range raised OverflowError
                raise invalid_argument(f"The attribute's {name} must be a finite number.")
            changes[field] = float(body[name])
    required = body.get("RequiredLevel")
    if isinstance(required, dict) and isinstance(required.get("Value"), str):
        changes["required"] = required["Value"]
    updated = dataclasses.replace(attribute, **changes)
    attributes = tuple(updated if a is attribute else a for a in entity.attributes)
    with call.service.storage.transaction():
        call.service.put_table(with_changes(entity, attributes=attributes))
    return call.empty(204)


def _delete_attribute(call: Call, entity: EntityMeta, attribute: AttributeMeta) -> Response:
    if attribute.logical_name in (entity.primary_id, entity.primary_name) or not attribute.custom:
        raise DataverseError(
            400,
            "0x80040203",
            f"The attribute '{attribute.logical_name}' is not a custom attribute of '{entity.logical_name}' and "
            "cannot be deleted.",
        )
    used = [key.schema_name for key in entity.alternate_keys if attribute.logical_name in key.attributes]
    if used:
        raise DataverseError(
            400,
            "0x80040203",
            f"The attribute '{attribute.logical_name}' cannot be deleted: the alternate key '{used[0]}' uses it.",
        )
    if attribute.kind is AttributeKind.LOOKUP:
        raise DataverseError(
            400,
            "0x80040203",
            f"The lookup '{attribute.logical_name}' is deleted with its relationship (DELETE RelationshipDefinitions).",
        )
    drop_columns(call, entity, [attribute])
    return call.empty(204)


def _add_key(call: Call, entity: EntityMeta, base: str) -> Response:
    """``POST …/Keys``: 204 + ``OData-EntityId`` under the table's address as the request spelt it.

    Microsoft's client reads the first ``(<guid>)`` of that header as the key's id, so with
    ``EntityDefinitions(LogicalName='x')/Keys`` the key's id is the only GUID in it.
    """
    body = read_body(call)
    schema = schema_name_of(body, "entity key")
    columns = body.get("KeyAttributes")
    if not isinstance(columns, list) or not 1 <= len(columns) <= 16:
        raise invalid_argument("An entity key needs between 1 and 16 KeyAttributes.")
    for name in columns:
        attribute = entity.by_logical_name(str(name))
        if attribute is None or attribute.kind not in _KEY_KINDS:
            raise invalid_argument(f"'{name}' is not a valid key attribute of entity '{entity.logical_name}'.")
    if any(key.schema_name.lower() == schema.lower() for key in entity.alternate_keys):
        raise DataverseError(400, "0x80044363", f"An entity key with the name '{schema}' already exists.")
    key = AlternateKey(schema, tuple(str(c) for c in columns), metadata_id=str(uuid.uuid4()))
    storage = call.service.storage
    with storage.transaction():
        if not storage.add_key(entity, key):
            key = dataclasses.replace(key, index_status="Failed")
        call.service.put_table(with_changes(entity, alternate_keys=(*entity.alternate_keys, key)))
    url = f"{base}/Keys({key.metadata_id})"
    return call.empty(204, {"OData-EntityId": url})


def _delete_key(call: Call, entity: EntityMeta, segment: Segment) -> Response:
    pairs = parse_parameters(segment.args or "", call.aliases)
    name, value = pairs[0] if len(pairs) == 1 else (None, None)
    for index, key in enumerate(entity.alternate_keys):
        item = key_json(entity, index)
        if (name in (None, "MetadataId") and value == item["MetadataId"]) or (
            name == "LogicalName" and value == item["LogicalName"]
        ):
            storage = call.service.storage
            with storage.transaction():
                storage.drop_key(entity, key)
                keys = tuple(k for k in entity.alternate_keys if k is not key)
                call.service.put_table(with_changes(entity, alternate_keys=keys))
            return call.empty(204)
    raise unknown_segment(segment.raw)


def change_entity_definitions(call: Call, segments: Sequence[Segment]) -> Response:
    """Serve ``POST``/``PUT``/``DELETE`` under ``EntityDefinitions``.

    :raises DataverseError: 405 for a method the path does not take, 404 for an unknown table, column or key.
    """
    require_customizer(call)
    head = segments[0]
    if head.args is None:
        if len(segments) == 1 and call.method == "POST":
            return _create_entity(call)
        raise method_not_allowed(f"The method {call.method} is not allowed on EntityDefinitions.")
    entity = find_entity(call, head)
    if len(segments) == 1:
        if call.method == "DELETE":
            return _delete_entity(call, entity)
        if call.method == "PUT":
            return _update_entity(call, entity)
        raise method_not_allowed(f"The method {call.method} is not allowed on an entity definition.")
    child = segments[1]
    if len(segments) > 2:
        raise unknown_segment(segments[2].raw)
    if child.name == "Attributes":
        if child.args is None:
            if call.method == "POST":
                return _add_attribute(call, entity, call.root + head.raw)
        else:
            attribute = _find_attribute(call, entity, child)
            if call.method == "PUT":
                return _update_attribute(call, entity, attribute)
            if call.method == "DELETE":
                return _delete_attribute(call, entity, attribute)
        raise method_not_allowed(f"The method {call.method} is not allowed on {child.raw}.")
    if child.name == "Keys":
        if child.args is None and call.method == "POST":
            return _add_key(call, entity, call.root + head.raw)
        if child.args is not None and call.method == "DELETE":
            return _delete_key(call, entity, child)
        raise method_not_allowed(f"The method {call.method} is not allowed on {child.raw}.")
    raise method_not_allowed(f"The method {call.method} is not allowed on {child.raw}.")
