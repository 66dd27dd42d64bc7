"""Collection queries: ``GET /<set>`` and ``/<set>/$count``, with ``$select $filter $orderby $top $expand $count``.

Paging follows reference §3.8: ``Prefer: odata.maxpagesize`` (default and maximum 5000) and ``@odata.nextLink`` with
an opaque keyset ``$skiptoken`` (:mod:`.paging`); ``$top`` is ignored when a page size is asked for. Tracked queries
(``Prefer: odata.track-changes``) end with ``@odata.deltaLink``; following it is :mod:`.change_tracking`'s job.
Not for single records: see :mod:`.entities`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from werkzeug.wrappers import Response

from dataverse_sandbox.numbers import ascii_integer

from .context import Call
from .errors import DataverseError, bad_request
from .metadata import EntityMeta
from .paging import PageToken, after_condition, build_link, fingerprint
from .preferences import MAX_PAGE_SIZE
from .projection import Projection, parse_projection
from .query_compiler import compile_order, compile_where

__all__ = [
    "Scope",
    "count",
    "count_matching",
    "delta_token",
    "query",
    "query_options",
    "reject_unsupported",
    "total_annotations",
]

_UNSUPPORTED = ("$skip", "$search", "$format", "$apply", "fetchXml", "savedQuery", "userQuery")
_TRACKING_FORBIDDEN = ("$filter", "$orderby", "$expand", "$top")


@dataclass(frozen=True)
class Scope:
    """Rows a collection path is limited to before ``$filter`` (e.g. a parent's related rows).

    :param where: an SQL condition.
    :param params: its parameters.
    """

    where: str = "1"
    params: tuple[Any, ...] = ()


def reject_unsupported(call: Call) -> None:
    """:raises DataverseError: 400 for query options Dataverse (or the sandbox) does not support."""
    for name in _UNSUPPORTED:
        if name in call.request.args:
            raise bad_request(f"The query parameter {name} is not supported.")


def query_options(call: Call, *, drop: Sequence[str] = ("$skiptoken",)) -> list[tuple[str, str]]:
    """:returns: the request's query options in order, without ``drop``, for next and delta links."""
    pairs = parse_qsl(call.request.query_string.decode("latin-1"), keep_blank_values=True)
    return [(name, value) for name, value in pairs if name not in drop]


def delta_token(version: int, now: float) -> str:
    """:returns: a ``$deltatoken`` value in Dataverse's visible shape ``<version>!<MM/dd/yyyy HH:mm:ss>``."""
    return f"{version}!{time.strftime('%m/%d/%Y %H:%M:%S', time.gmtime(now))}"


def _page_size(call: Call) -> tuple[int, bool]:
    """:returns: the rows to serve and whether further pages are linked."""
    behaviour = call.service.behaviour
    size = call.preferences.max_page_size(clamp=behaviour.clamp_max_page_size)
    if size is not None:
        call.preferences.apply_value("odata.maxpagesize", str(size))
        return size, True
    top_text = call.request.args.get("$top")
    if top_text is None:
        return MAX_PAGE_SIZE, True
    top = ascii_integer(top_text)
    if top is None:
        raise bad_request(f"The value '{top_text}' of $top is not a valid integer.")
    if top < 0:
        raise bad_request(f"The value '{top_text}' of $top must not be negative.")
    if top > MAX_PAGE_SIZE and not behaviour.clamp_top:
        raise bad_request(f"The $top query option cannot be larger than {MAX_PAGE_SIZE}.")
    return min(top, MAX_PAGE_SIZE), False


def count(call: Call, entity: EntityMeta, scope: Scope = Scope()) -> Response:
    """``GET /<set>/$count``: the number of matching rows as plain text (capped like ``$count``)."""
    where, params = compile_where(entity, call.request.args.get("$filter"), call.aliases, call.service.clock.now())
    total = count_matching(call, entity, f"({scope.where}) AND ({where})", [*scope.params, *params])
    return call.text(str(min(total, call.service.behaviour.count_limit)))


def count_matching(call: Call, entity: EntityMeta, where: str, params: Sequence[Any]) -> int:
    """:returns: the rows of ``entity`` matching ``where``, counted up to one past the count limit."""
    limit = call.service.behaviour.count_limit
    value = call.service.storage.scalar(
        f"SELECT count(*) FROM (SELECT 1 FROM {entity.logical_name} WHERE {where} LIMIT {int(limit) + 1})",  # noqa: S608 - identifiers come from the table metadata; values are bound parameters
        params,
    )
    return int(value or 0)


def query(call: Call, entity: EntityMeta, scope: Scope = Scope(), context: str | None = None) -> Response:
    """``GET /<set>``: one page of matching rows.

    :param scope: a restriction applied before ``$filter`` (related rows of a parent).
    :param context: the ``@odata.context`` entity set path, when it is not ``entity``'s set.
    """
    reject_unsupported(call)
    args = call.request.args
    projection = parse_projection(call.service.catalog, entity, args.get("$select"), args.get("$expand"))
    tracking = call.preferences.track_changes
    if tracking:
        if not entity.change_tracking:
            raise DataverseError(
                call.service.behaviour.change_tracking_not_enabled_status,
                "0x80072491",
                f"Entity {entity.logical_name} isn't enabled for change tracking.",
            )
        for name in _TRACKING_FORBIDDEN:
            if name in args:
                raise bad_request(f'The "{name}" query parameter isn\'t supported when Change Tracking is enabled.')
        call.preferences.apply("odata.track-changes")
    where, params = compile_where(entity, args.get("$filter"), call.aliases, call.service.clock.now())
    terms = compile_order(entity, args.get("$orderby"), call.aliases)
    terms.append((entity.primary_id, False))
    size, paged = _page_size(call)
    query_id = fingerprint(entity.logical_name, call.path, args.get("$filter"), args.get("$orderby"))
    conditions = [f"({scope.where})", f"({where})"]
    condition_params: list[Any] = [*scope.params, *params]
    snapshot = call.service.storage.version if tracking else None
    skiptoken = args.get("$skiptoken")
    if skiptoken is not None:
        token = PageToken.decode(skiptoken, query_id)
        snapshot = token.snapshot
        after, after_params = after_condition(terms, token.last)
        conditions.append(after)
        condition_params.extend(after_params)
    order_sql = ", ".join(f"{sql} {'DESC' if descending else 'ASC'}" for sql, descending in terms)
    fetched = call.service.storage.fetch_page(
        entity,
        [f"{sql} AS __k{index}" for index, (sql, _) in enumerate(terms)],
        " AND ".join(conditions),
        condition_params,
        order_sql,
        size + 1 if paged else size,
        projection.columns(),
    )
    page = fetched[:size]
    body: dict[str, Any] = {"@odata.context": _context(call, context or entity.entity_set_name, projection)}
    if args.get("$count", "").lower() == "true":
        total = count_matching(call, entity, " AND ".join(conditions[:2]), [*scope.params, *params])
        body["@odata.count"] = min(total, call.service.behaviour.count_limit)
        total_annotations(call, body, total)
    body["value"] = call.renderer().render(projection, [row for row, _ in page])
    if paged and len(fetched) > size:
        token = PageToken(page[-1][1], query_id, snapshot)
        options = [*query_options(call), ("$skiptoken", token.encode())]
        body["@odata.nextLink"] = build_link(call.root, call.path, options)
    elif tracking and snapshot is not None:
        options = [*query_options(call), ("$deltatoken", delta_token(snapshot, call.service.clock.now()))]
        body["@odata.deltaLink"] = build_link(call.root, call.path, options)
    return call.json(body)


def _context(call: Call, entity_set: str, projection: Projection) -> str:
    return f"{call.root}$metadata#{entity_set}{projection.context_fragment()}"


def total_annotations(call: Call, body: dict[str, Any], total: int) -> None:
    """Add ``@Microsoft.Dynamics.CRM.totalrecordcount`` and ``…limitexceeded`` when the client asked for them."""
    limit = call.service.behaviour.count_limit
    if call.preferences.wants_annotation("Microsoft.Dynamics.CRM.totalrecordcount"):
        body["@Microsoft.Dynamics.CRM.totalrecordcount"] = min(total, limit)
    if call.preferences.wants_annotation("Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"):
        body["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] = total > limit
