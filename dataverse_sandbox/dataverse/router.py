"""Routing of one authenticated Web API request below the service root to the handler that serves it.

Resource paths (reference §1): the service document, ``$metadata``, ``EntityDefinitions``, unbound functions and
actions (``CreateEntities`` creates tables: :mod:`.schema_changes`), entity sets (collections, ``$count``, bulk
actions), keyed rows (their properties, navigation properties, ``$ref`` and bound operations). Unknown names are
404 ``Resource not found for the segment '…'``; wrong methods 405.
Not for authentication or ``$batch``: see :mod:`.app`.
"""

from __future__ import annotations

from werkzeug.wrappers import Response

from . import entities, fetch_queries, files, navigation, queries
from .bulk import run_bulk_action
from .change_tracking import count_changes, delta
from .context import Call
from .csdl import render_csdl
from .entity_definitions import entity_definitions, relationship_definitions
from .errors import bad_request, method_not_allowed, unknown_segment
from .keys import parse_key, require_row
from .metadata import AttributeKind, EntityMeta
from .operations import NAMESPACE, find, invoke
from .paths import Segment, split_path
from .schema_changes import create_entities
from .sql_queries import sql_query

__all__ = ["route"]


def route(call: Call) -> Response:
    """Serve ``call``.

    :returns: the response.
    :raises DataverseError: for every failure, rendered by the caller.
    """
    segments = split_path(call.path)
    if not segments:
        return _service_document(call)
    head = segments[0]
    if head.name == "$metadata" and head.args is None and len(segments) == 1:
        if call.method != "GET":
            raise method_not_allowed("$metadata is read-only.")
        annotations = call.request.args.get("annotations", "").lower() == "true"
        return Response(
            render_csdl(call.service.catalog, annotations=annotations),
            content_type=call.service.behaviour.metadata_content_type,
        )
    if head.name == "EntityDefinitions":
        return entity_definitions(call, segments)
    if head.name == "CreateEntities" and head.args is None and len(segments) == 1:
        if call.method != "POST":
            raise method_not_allowed("The action 'CreateEntities' must be called with POST.")
        return create_entities(call)
    if head.name == "RelationshipDefinitions":
        return relationship_definitions(call, segments)
    operation = find(head.name, None)
    if operation is not None:
        if len(segments) > 1:
            raise unknown_segment(segments[1].raw)
        body = entities.read_json(call) if call.method == "POST" and call.request.get_data(cache=True).strip() else None
        return invoke(call, head, operation, None, body)
    entity = call.service.by_entity_set(head.name)
    if entity is None:
        raise unknown_segment(head.name)
    if head.args is None:
        return _collection(call, entity, segments)
    return _keyed(call, entity, head, segments[1:])


def _service_document(call: Call) -> Response:
    if call.method != "GET":
        raise method_not_allowed("The service document is read-only.")
    sets = [
        {"name": e.entity_set_name, "kind": "EntitySet", "url": e.entity_set_name}
        for e in sorted(call.service.catalog.values(), key=lambda e: e.entity_set_name)
    ]
    return call.json({"@odata.context": f"{call.root}$metadata", "value": sets})


def _collection(call: Call, entity: EntityMeta, segments: list[Segment]) -> Response:
    if len(segments) == 1:
        if call.method == "GET":
            token = call.request.args.get("$deltatoken")
            if token is not None:
                return delta(call, entity, token)
            if "fetchXml" in call.request.args:
                return fetch_queries.fetch(call, entity)
            if "sql" in call.request.args:
                return sql_query(call, entity)
            return queries.query(call, entity)
        if call.method == "POST":
            return entities.create(call, entity)
        raise method_not_allowed(
            f"The method {call.method} is not allowed on the collection '{entity.entity_set_name}'."
        )
    second = segments[1]
    if len(segments) > 2:
        raise unknown_segment(segments[2].raw)
    if second.name == "$count" and second.args is None:
        if call.method != "GET":
            raise method_not_allowed("$count is read-only.")
        token = call.request.args.get("$deltatoken")
        if token is not None:
            return count_changes(call, entity, token)
        return queries.count(call, entity)
    if second.name.startswith(NAMESPACE):
        if call.method != "POST":
            raise method_not_allowed(f"The action '{second.name}' must be called with POST.")
        return run_bulk_action(call, entity, second.name.removeprefix(NAMESPACE))
    raise unknown_segment(second.raw)


def _keyed(call: Call, entity: EntityMeta, head: Segment, rest: list[Segment]) -> Response:
    key = parse_key(call.service, entity, head, call.aliases)
    if not rest:
        if call.method == "GET":
            return entities.retrieve(call, entity, key)
        if call.method == "PATCH":
            return entities.patch(call, entity, key)
        if call.method == "DELETE":
            return entities.delete(call, entity, key)
        raise method_not_allowed(f"The method {call.method} is not allowed on a record.")
    second = rest[0]
    if second.name.startswith(NAMESPACE):
        operation = find(second.name, entity)
        if operation is None or len(rest) > 1:
            raise unknown_segment(second.raw)
        row = require_row(call.service, entity, key)
        has_body = call.method == "POST" and call.request.get_data(cache=True).strip()
        return invoke(call, second, operation, row, entities.read_json(call) if has_body else None)
    attribute = entity.by_property(second.name)
    if attribute is not None and second.args is None:
        raw = [segment.name for segment in rest[1:]]
        if raw not in ([], ["$value"]):
            raise unknown_segment(rest[1].raw)
        if attribute.kind in (AttributeKind.FILE, AttributeKind.IMAGE):
            served = files.column_request(call, entity, key, attribute, raw == ["$value"])
            if served is not None:
                return served
        return entities.single_property(call, entity, key, second.name, raw == ["$value"])
    if (
        entity.by_navigation(second.name) is not None
        or entity.collection(second.name) is not None
        or entity.association(second.name) is not None
    ):
        return navigation.navigate(call, entity, key, rest)
    if second.name.startswith("$"):
        raise bad_request(f"The segment '{second.raw}' is not valid after a record.")
    raise unknown_segment(second.raw)
