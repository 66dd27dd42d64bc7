"""Rows related through a many-to-many relationship (its intersect table), reached by a collection-valued navigation
property of either table (reference §3.6).

``GET <set>(<key>)/<nav>`` queries the related rows (``$filter``, ``$select``, paging, ``/$count``);
``POST <set>(<key>)/<nav>/$ref`` with ``{"@odata.id": …}`` associates a row (a pair already associated is 412
``0x80040237``, Dataverse's "Cannot insert duplicate key"); ``DELETE <set>(<key>)/<nav>(<id>)/$ref`` or
``…/<nav>/$ref?$id=<url>`` disassociates; ``GET …/<nav>/$ref`` lists references. Deleting a row drops its links
(:func:`.writes.delete_row`). Not for one-to-many navigation: see :mod:`.navigation`; the relationships are created in
:mod:`.schema_relationships`.
"""

from __future__ import annotations

import uuid

from werkzeug.wrappers import Response

from .context import Call
from .entities import entity_url, read_json
from .errors import bad_request, method_not_allowed
from .keys import parse_key, parse_reference, require_row
from .metadata import EntityMeta, ManyToManyNavigation
from .paths import Segment
from .queries import Scope, count, query
from .storage import Row

__all__ = ["navigate_association"]


def _reference(call: Call, target: EntityMeta, nav: ManyToManyNavigation, reference: object) -> Row:
    related_entity, related = parse_reference(call, reference)
    if related_entity.logical_name != target.logical_name:
        raise bad_request(f"'{reference}' is not a '{target.logical_name}' and cannot be linked through '{nav.name}'.")
    return related


def _refs(call: Call, entity: EntityMeta, row: Row, nav: ManyToManyNavigation, segment: Segment) -> Response:
    service = call.service
    target = service.catalog[nav.target]
    intersect = service.catalog[nav.intersect]
    record_id = str(row[entity.primary_id])
    if call.method == "POST":
        call.require_write(entity, "AppendTo")
        body = read_json(call)
        related = _reference(call, target, nav, body.get("@odata.id") if isinstance(body, dict) else None)
        with service.storage.transaction():  # the version drawn with the insert, under one lock
            link = {
                intersect.primary_id: str(uuid.uuid4()),
                nav.own: record_id,
                nav.other: str(related[target.primary_id]),
                "versionnumber": service.storage.next_version(),
            }
            service.storage.insert(intersect, link)
        return call.empty(204)
    if call.method == "DELETE":
        call.require_write(entity, "AppendTo")
        if segment.args is not None:
            child = require_row(service, target, parse_key(service, target, segment, call.aliases))
        else:
            reference = call.request.args.get("$id")
            if reference is None:
                raise bad_request(f"Removing a reference from '{nav.name}' needs '$id' or the related key.")
            child = _reference(call, target, nav, reference)
        service.storage.delete_where(
            intersect, f"{nav.own} = ? AND {nav.other} = ?", (record_id, str(child[target.primary_id]))
        )
        return call.empty(204)
    if call.method == "GET" and segment.args is None:
        ids = service.storage.column(
            f"SELECT {nav.other} FROM {nav.intersect} WHERE {nav.own} = ? ORDER BY {nav.other}",  # noqa: S608 - identifiers come from the table metadata
            (record_id,),
        )
        refs = [{"@odata.id": entity_url(call, target, str(related))} for related in ids]
        return call.json({"@odata.context": f"{call.root}$metadata#Collection($ref)", "value": refs})
    raise method_not_allowed(f"The method {call.method} is not allowed on '{nav.name}/$ref'.")


def navigate_association(
    call: Call, entity: EntityMeta, row: Row, nav: ManyToManyNavigation, segment: Segment, rest: list[str]
) -> Response:
    """Serve ``<set>(<key>)/<many-to-many nav>[(<id>)][/$ref|/$count]``.

    :param segment: the navigation segment (with the related key when ``…(<id>)/$ref``).
    :param rest: the names of the segments after it.
    """
    if rest == ["$ref"]:
        return _refs(call, entity, row, nav, segment)
    if segment.args is not None:
        raise bad_request(f"Address a related record as '{nav.name}/$ref' or through its own entity set.")
    target = call.service.catalog[nav.target]
    scope = Scope(
        f"{target.primary_id} IN (SELECT {nav.other} FROM {nav.intersect} WHERE {nav.own} = ?)",  # noqa: S608 - identifiers come from the table metadata
        (str(row[entity.primary_id]),),
    )
    if rest == ["$count"]:
        return count(call, target, scope)
    if call.method == "GET":
        return query(call, target, scope, context=target.entity_set_name)
    raise method_not_allowed(f"The method {call.method} is not allowed on '{nav.name}'.")
