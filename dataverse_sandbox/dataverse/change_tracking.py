"""Delta queries: following an ``@odata.deltaLink`` (reference §3.12).

A ``$deltatoken`` names the global version a client has seen (``<version>!<timestamp>``, parsed up to ``!``). The
delta answer lists rows written after it (new and updated, oldest write first), then ``$deletedEntity`` entries
for rows deleted after it, paged with ``odata.maxpagesize`` and ending with a fresh ``@odata.deltaLink``. Every
write takes a unique version, so the version alone is a total order; the upper bound is fixed at the first page,
so writes made while a client pages are reported by the next delta link rather than lost.
Not for the initial tracked query: see :mod:`.queries`.
"""

from __future__ import annotations

from typing import Any, TypeGuard

from werkzeug.wrappers import Response

from dataverse_sandbox.numbers import ascii_int64, fits_int64

from .context import Call
from .errors import DataverseError, bad_request
from .metadata import EntityMeta
from .paging import PageToken, build_link, fingerprint
from .preferences import MAX_PAGE_SIZE
from .projection import parse_projection
from .queries import delta_token, query_options, reject_unsupported

__all__ = ["count_changes", "delta"]

_FORBIDDEN = ("$filter", "$orderby", "$expand", "$top")


def _since(token: str) -> int:
    since = ascii_int64(token.split("!", 1)[0])
    if since is None or since < 0:
        raise bad_request(f"The $deltatoken '{token}' is not valid.")
    return since


def _whole(value: object) -> TypeGuard[int]:
    """:returns: whether a paging token's value is a 64-bit whole number (not a bool, not a float)."""
    return type(value) is int and fits_int64(value)


def _check(call: Call, entity: EntityMeta) -> None:
    reject_unsupported(call)
    if not entity.change_tracking:
        raise DataverseError(
            call.service.behaviour.change_tracking_not_enabled_status,
            "0x80072491",
            f"Entity {entity.logical_name} isn't enabled for change tracking.",
        )
    for name in _FORBIDDEN:
        if name in call.request.args:
            raise bad_request(f'The "{name}" query parameter isn\'t supported when Change Tracking is enabled.')


def delta(call: Call, entity: EntityMeta, token: str) -> Response:
    """``GET /<set>?$deltatoken=…``: the changes since the token."""
    _check(call, entity)
    call.preferences.apply("odata.track-changes")
    since = _since(token)
    projection = parse_projection(call.service.catalog, entity, call.request.args.get("$select"), None)
    size = call.preferences.max_page_size(clamp=call.service.behaviour.clamp_max_page_size)
    if size is not None:
        call.preferences.apply_value("odata.maxpagesize", str(size))
    size = size or MAX_PAGE_SIZE
    query_id = fingerprint("delta", entity.logical_name, str(since))
    storage = call.service.storage
    upper = storage.version
    phase, cursor = 0, since
    skiptoken = call.request.args.get("$skiptoken")
    if skiptoken is not None:
        page_token = PageToken.decode(skiptoken, query_id)
        # The token's fingerprint is no secret: a client can forge one whose values are no 64-bit whole numbers
        # (1e300 passed int() and failed in SQLite, a 500).
        snapshot = page_token.snapshot if page_token.snapshot is not None else upper
        last = page_token.last[0] if page_token.last else None
        if not _whole(snapshot) or not _whole(last) or not _whole(page_token.phase):
            raise bad_request(f"The $skiptoken '{skiptoken}' is not valid.")
        upper, phase, cursor = snapshot, page_token.phase, last
    values: list[dict[str, Any]] = []
    next_token: PageToken | None = None
    if phase == 0:
        fetched = storage.fetch_page(
            entity, [], "versionnumber > ? AND versionnumber <= ?", [cursor, upper], "versionnumber ASC", size + 1
        )
        rows = [row for row, _ in fetched[:size]]
        values = call.renderer().render(projection, rows)
        if len(fetched) > size:
            next_token = PageToken((rows[-1]["versionnumber"],), query_id, upper, 0)
        phase, cursor = 1, since
    remaining = size - len(values)
    if next_token is None:
        deleted = storage.deletions(entity, cursor, upper, remaining + 1)
        shown = deleted[:remaining]
        if len(deleted) > remaining:
            next_token = PageToken((shown[-1][0] if shown else cursor,), query_id, upper, 1)
        ids = [record_id for _, record_id in shown]
        present = (
            {
                row[entity.primary_id]
                for row in storage.fetch_all(entity, f"{entity.primary_id} IN ({','.join('?' * len(ids))})", ids)
            }
            if ids
            else set()
        )
        context = f"{call.root}$metadata#{entity.entity_set_name}/$deletedEntity"
        values.extend(
            {"@odata.context": context, "id": record_id, "reason": "deleted"}
            for record_id in ids
            if record_id not in present
        )
    body: dict[str, Any] = {
        "@odata.context": f"{call.root}$metadata#{entity.entity_set_name}{projection.context_fragment()}/$delta",
        "value": values,
    }
    if next_token is not None:
        body["@odata.nextLink"] = build_link(
            call.root, call.path, [*query_options(call), ("$skiptoken", next_token.encode())]
        )
    else:
        options = [
            *query_options(call, drop=("$skiptoken", "$deltatoken")),
            ("$deltatoken", delta_token(upper, call.service.clock.now())),
        ]
        body["@odata.deltaLink"] = build_link(call.root, call.path, options)
    return call.json(body)


def count_changes(call: Call, entity: EntityMeta, token: str) -> Response:
    """``GET /<set>/$count?$deltatoken=…``: how many rows changed or were deleted since the token."""
    _check(call, entity)
    since = _since(token)
    storage = call.service.storage
    changed = storage.scalar(f"SELECT count(*) FROM {entity.logical_name} WHERE versionnumber > ?", [since])  # noqa: S608 - identifiers come from the table metadata; values are bound parameters
    deleted = storage.scalar(
        "SELECT count(*) FROM sandbox_deleted WHERE entity = ? AND version > ?", [entity.logical_name, since]
    )
    return call.text(str(int(changed or 0) + int(deleted or 0)))
