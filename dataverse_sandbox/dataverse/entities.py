"""Single-record requests: create (POST), retrieve (GET), update and upsert (PATCH), delete, and single properties.

Implements the conditional headers (``If-Match``, ``If-None-Match``; the literal ``null`` is ignored), the
``Prefer: return=representation`` variants and ``OData-EntityId`` echoes of reference §3.1 to §3.5.
Not for collections (see :mod:`.queries`) or for validating bodies (see :mod:`.writes`).
"""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Response

from dataverse_sandbox.middleware import ENVIRON_BATCH
from dataverse_sandbox.request_body import InvalidJsonError, decode_json

from .context import Call
from .errors import (
    alternate_key_not_found,
    bad_request,
    duplicate_record,
    method_not_allowed,
    not_found,
    unknown_property,
    version_mismatch,
)
from .keys import find_row, require_row
from .metadata import AttributeKind, AttributeMeta, EntityMeta
from .paths import KeyPredicate
from .projection import Projection, parse_projection
from .rendering import etag_of
from .storage import Row
from .values import to_json, to_storage
from .writes import create_row, delete_row, update_row

__all__ = [
    "create",
    "delete",
    "entity_url",
    "parse_etags",
    "patch",
    "read_json",
    "render_entity",
    "retrieve",
    "single_property",
]


def read_json(call: Call) -> Any:
    """:returns: the request body decoded as JSON.

    :raises DataverseError: 400 when it is not JSON.
    """
    raw = call.request.get_data(cache=True)
    if not raw.strip():
        raise bad_request("The request body is empty; a JSON object was expected.")
    try:
        return decode_json(raw)
    except InvalidJsonError as exc:
        raise bad_request(str(exc)) from None


def parse_etags(raw: str | None) -> tuple[bool, set[str]] | None:
    """Parse an ``If-Match``/``If-None-Match`` header.

    :returns: ``(is_star, versions)``; ``None`` when absent or the literal ``null`` (reference §2.1).
    """
    if raw is None or raw.strip().lower() in ("", "null"):
        return None
    if raw.strip() == "*":
        return True, set()
    versions = set()
    for part in raw.split(","):
        tag = part.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        versions.add(tag.strip('"'))
    return False, versions


def entity_url(call: Call, entity: EntityMeta, record_id: str) -> str:
    """:returns: the absolute URL of a row, by primary key."""
    return f"{call.root}{entity.entity_set_name}({record_id})"


def render_entity(call: Call, projection: Projection, row: Row) -> dict[str, Any]:
    """:returns: a row as a ``$entity`` response body."""
    body: dict[str, Any] = {
        "@odata.context": f"{call.root}$metadata#{projection.entity.entity_set_name}"
        f"{projection.context_fragment()}/$entity"
    }
    body.update(call.renderer().render(projection, [row])[0])
    return body


def _projection(call: Call, entity: EntityMeta, *, expand: bool = True) -> Projection:
    args = call.request.args
    return parse_projection(call.service.catalog, entity, args.get("$select"), args.get("$expand") if expand else None)


def create(call: Call, entity: EntityMeta) -> Response:
    """``POST /<set>``: 204 + ``OData-EntityId``, or 201 + body with ``return=representation``."""
    projection = _projection(call, entity, expand=False)
    row = create_row(call, entity, read_json(call))
    if call.preferences.return_representation:
        call.preferences.apply("return")
        return call.json(render_entity(call, projection, row), 201, {"ETag": etag_of(row)})
    url = entity_url(call, entity, str(row[entity.primary_id]))
    if call.request.environ.get(ENVIRON_BATCH):
        # Inside $batch a 204 create part carries Location as well (reference §3.1).
        return call.empty(204, {"Location": url, "OData-EntityId": url})
    return call.empty(204, {"OData-EntityId": url})


def retrieve(call: Call, entity: EntityMeta, key: KeyPredicate) -> Response:
    """``GET /<set>(<key>)``: the row, or 304 when ``If-None-Match`` names its current ETag."""
    projection = _projection(call, entity)
    row = require_row(call.service, entity, key)
    condition = parse_etags(call.request.headers.get("If-None-Match"))
    if condition is not None and not condition[0] and str(row["versionnumber"]) in condition[1]:
        return call.empty(304, {"ETag": etag_of(row)})
    return call.json(render_entity(call, projection, row), 200, {"ETag": etag_of(row)})


def _missing(entity: EntityMeta, key: KeyPredicate) -> Exception:
    if key.record_id is not None:
        return not_found(entity.logical_name, key.record_id)
    return alternate_key_not_found(entity.logical_name)


def patch(call: Call, entity: EntityMeta, key: KeyPredicate) -> Response:
    """``PATCH /<set>(<key>)``: update, or create (upsert) unless ``If-Match`` forbids it."""
    projection = _projection(call, entity, expand=False)
    body = read_json(call)
    if_match = parse_etags(call.request.headers.get("If-Match"))
    if_none_match = parse_etags(call.request.headers.get("If-None-Match"))
    storage = call.service.storage
    with storage.transaction():
        row = find_row(call.service, entity, key)
        if if_none_match is not None and if_none_match[0] and row is not None:
            raise duplicate_record()
        if if_match is not None:
            if row is None:
                raise _missing(entity, key)
            if not if_match[0] and str(row["versionnumber"]) not in if_match[1]:
                raise version_mismatch()
        if row is None:
            defaults = dict(key.values)
            stored = create_row(call, entity, body, record_id=key.record_id, defaults=defaults)
            created = True
        else:
            keep = frozenset(column for column, _ in key.values)
            stored = update_row(call, entity, row, body, keep=keep)
            created = False
    location = f"{call.root}{key.raw}" if key.record_id is None else entity_url(call, entity, key.record_id)
    if call.preferences.return_representation:
        call.preferences.apply("return")
        return call.json(render_entity(call, projection, stored), 201 if created else 200, {"ETag": etag_of(stored)})
    if created or call.service.behaviour.update_returns_entity_id:
        return call.empty(204, {"OData-EntityId": location})
    return call.empty(204)


def delete(call: Call, entity: EntityMeta, key: KeyPredicate) -> Response:
    """``DELETE /<set>(<key>)``: 204; 404 when missing; 412 when ``If-Match`` names another version."""
    with call.service.storage.transaction():
        row = require_row(call.service, entity, key)
        if_match = parse_etags(call.request.headers.get("If-Match"))
        if if_match is not None and not if_match[0] and str(row["versionnumber"]) not in if_match[1]:
            raise version_mismatch()
        delete_row(call, entity, row)
    return call.empty(204)


def single_property(call: Call, entity: EntityMeta, key: KeyPredicate, name: str, raw: bool) -> Response:
    """``GET|PUT|DELETE /<set>(<key>)/<property>[/$value]``.

    :param name: the property segment.
    :param raw: whether ``/$value`` followed (plain-text value).
    """
    attribute = entity.by_property(name)
    if attribute is None:
        raise unknown_property(name, entity.logical_name)
    row = require_row(call.service, entity, key)
    record_id = str(row[entity.primary_id])
    if call.method == "GET":
        value = to_json(attribute, row[attribute.column])
        if raw:
            if value is None:
                return call.empty(204)
            return call.text(_raw_text(value))
        context = f"{call.root}$metadata#{entity.entity_set_name}({record_id})/{attribute.property_name}"
        return call.json({"@odata.context": context, "value": value})
    if call.method == "PUT" and not raw:
        body = read_json(call)
        if not isinstance(body, dict) or "value" not in body:
            raise bad_request("The body of a property update must be an object with a 'value' member.")
        _write_property(call, entity, row, attribute, body["value"])
        return call.empty(204)
    if call.method == "DELETE" and not raw:
        if attribute.kind is AttributeKind.LOOKUP:
            raise bad_request(f"The property '{name}' is a lookup: clear it through its navigation property.")
        _write_property(call, entity, row, attribute, None)
        return call.empty(204)
    raise method_not_allowed(f"The method {call.method} is not allowed on a property.")


def _write_property(call: Call, entity: EntityMeta, row: Row, attribute: AttributeMeta, value: Any) -> None:
    if attribute.kind is AttributeKind.LOOKUP or not attribute.valid_for_update:
        raise bad_request(f"The property '{attribute.property_name}' cannot be updated.")
    to_storage(entity, attribute, value)
    update_row(call, entity, row, {attribute.logical_name: value})


def _raw_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
