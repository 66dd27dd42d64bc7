"""Navigation properties of one row: related rows, and associate/disassociate through ``$ref`` (reference §3.6).

``GET <set>(<key>)/<single nav>`` returns the related row; ``GET <set>(<key>)/<collection nav>`` queries related rows
(with paging); ``POST`` to a collection navigation creates a related row. ``$ref``: ``POST`` on a collection,
``PUT`` on a single-valued navigation, ``DELETE`` in both forms (``…/<collection>(<id>)/$ref`` and
``…/<collection>/$ref?$id=<url>``) and ``GET`` to list references. Navigation names are case-sensitive.
Many-to-many navigation properties: :mod:`.associations`. Not for ``@odata.bind`` in bodies: see :mod:`.writes`.
"""

from __future__ import annotations

from collections.abc import Sequence

from werkzeug.wrappers import Response

from .associations import navigate_association
from .context import Call
from .entities import entity_url, read_json, render_entity
from .errors import bad_request, method_not_allowed, unknown_property
from .keys import parse_key, parse_reference, require_row
from .metadata import AttributeMeta, CollectionNavigation, EntityMeta
from .paths import KeyPredicate, Segment
from .projection import parse_projection
from .queries import Scope, count, query
from .storage import Row
from .writes import create_row, set_link

__all__ = ["navigate"]


def navigate(call: Call, entity: EntityMeta, key: KeyPredicate, segments: Sequence[Segment]) -> Response:
    """Serve ``<set>(<key>)/<navigation>[(<id>)][/$ref|/$count]``.

    :param segments: the segments after the keyed one, starting with the navigation property.
    """
    nav = segments[0]
    rest = [segment.name for segment in segments[1:]]
    if rest not in ([], ["$ref"], ["$count"]):
        raise bad_request(f"The path segment '{segments[1].raw}' is not supported after '{nav.name}'.")
    row = require_row(call.service, entity, key)
    lookup = entity.by_navigation(nav.name)
    if lookup is not None and nav.args is None and rest != ["$count"]:
        return _single(call, entity, row, lookup, is_ref=rest == ["$ref"])
    collection = entity.collection(nav.name)
    if collection is None:
        association = entity.association(nav.name)
        if association is None:
            raise unknown_property(nav.name, entity.logical_name)
        return navigate_association(call, entity, row, association, nav, rest)
    if rest == ["$ref"]:
        return _collection_ref(call, entity, row, collection, nav)
    if nav.args is not None:
        raise bad_request(f"Address a related record as '{nav.name}/$ref' or through its own entity set.")
    target = call.service.catalog[collection.target]
    link = target.by_logical_name(collection.lookup)
    assert link is not None
    scope = Scope(f"{link.column} = ?", (row[entity.primary_id],))
    if rest == ["$count"]:
        return count(call, target, scope)
    if call.method == "GET":
        return query(call, target, scope, context=target.entity_set_name)
    if call.method == "POST":
        created = create_row(call, target, read_json(call), defaults={link.column: row[entity.primary_id]})
        return call.empty(204, {"OData-EntityId": entity_url(call, target, str(created[target.primary_id]))})
    raise method_not_allowed(f"The method {call.method} is not allowed on '{nav.name}'.")


def _single(call: Call, entity: EntityMeta, row: Row, lookup: AttributeMeta, *, is_ref: bool) -> Response:
    assert lookup.target is not None
    record_id = str(row[entity.primary_id])
    target = call.service.catalog.get(lookup.target)
    if is_ref and call.method == "PUT":
        body = read_json(call)
        reference = body.get("@odata.id") if isinstance(body, dict) else None
        referenced_entity, referenced = parse_reference(call, reference)
        if referenced_entity.logical_name != lookup.target:
            raise bad_request(f"'{reference}' is not a '{lookup.target}' and cannot be set on '{lookup.navigation}'.")
        set_link(call, entity, record_id, lookup.logical_name, str(referenced[referenced_entity.primary_id]))
        return call.empty(204)
    if is_ref and call.method == "DELETE":
        set_link(call, entity, record_id, lookup.logical_name, None)
        return call.empty(204)
    if call.method != "GET" or target is None:
        raise method_not_allowed(f"The method {call.method} is not allowed on '{lookup.navigation}'.")
    related_id = row[lookup.column]
    related = call.service.storage.fetch_by_id(target, related_id) if related_id else None
    if related is None:
        return call.empty(204)
    if is_ref:
        return call.json(
            {"@odata.context": f"{call.root}$metadata#$ref", "@odata.id": entity_url(call, target, related_id)}
        )
    args = call.request.args
    projection = parse_projection(call.service.catalog, target, args.get("$select"), args.get("$expand"))
    return call.json(render_entity(call, projection, related))


def _collection_ref(
    call: Call, entity: EntityMeta, row: Row, collection: CollectionNavigation, nav: Segment
) -> Response:
    target = call.service.catalog[collection.target]
    link = target.by_logical_name(collection.lookup)
    assert link is not None
    record_id = str(row[entity.primary_id])
    if call.method == "POST":
        body = read_json(call)
        reference = body.get("@odata.id") if isinstance(body, dict) else None
        related_entity, related = parse_reference(call, reference)
        if related_entity is not target:
            raise bad_request(f"'{reference}' is not a '{target.logical_name}' and cannot be added to '{nav.name}'.")
        set_link(call, target, str(related[target.primary_id]), collection.lookup, record_id)
        return call.empty(204)
    if call.method == "DELETE":
        if nav.args is not None:
            child_key = parse_key(call.service, target, nav, call.aliases)
            child = require_row(call.service, target, child_key)
        else:
            reference = call.request.args.get("$id")
            if reference is None:
                raise bad_request(f"Removing a reference from '{nav.name}' needs '$id' or the related key.")
            related_entity, child = parse_reference(call, reference)
            if related_entity is not target:
                raise bad_request(f"'{reference}' is not a '{target.logical_name}'.")
        if child[link.column] == record_id:
            set_link(call, target, str(child[target.primary_id]), collection.lookup, None)
        return call.empty(204)
    if call.method == "GET" and nav.args is None:
        children = call.service.storage.fetch_all(target, f"{link.column} = ?", [record_id], order_by=target.primary_id)
        refs = [{"@odata.id": entity_url(call, target, str(c[target.primary_id]))} for c in children]
        return call.json({"@odata.context": f"{call.root}$metadata#Collection($ref)", "value": refs})
    raise method_not_allowed(f"The method {call.method} is not allowed on '{nav.name}/$ref'.")
