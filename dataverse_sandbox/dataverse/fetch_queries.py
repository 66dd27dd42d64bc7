"""``GET /<set>?fetchXml=…``: one page of a FetchXML query, in the Web API's collection shape (reference §3.9).

The ``<entity name>`` must be the table of the entity set (else 400 ``0x80041128``). Rows are rendered like OData
query results (``@odata.etag``, lookups as ``_x_value``, formatted values when annotations are asked for) except
that **null columns are left out**. Paging: ``count`` rows per page (default and maximum 5000), ``page`` from 1; with
``Prefer: odata.include-annotations`` naming them (or ``*``), a page that is not the last carries
``@Microsoft.Dynamics.CRM.fetchxmlpagingcookie`` and ``@Microsoft.Dynamics.CRM.morerecords: true``; the last page
carries neither. A cookie sent back for the next page resumes after the last row served (:mod:`.fetch_cookies`);
without one, the page number skips rows. ``top`` limits the rows and cannot page. ``distinct`` makes rows unique over
the selected columns (no ``@odata.etag``; pages by number only). ``$count=true`` adds ``@odata.count``;
``returntotalrecordcount`` adds the total-count annotations when asked for.

Other query options (``$select``, ``$filter``…) cannot be combined with ``fetchXml`` (400), and neither can change
tracking. ``Prefer: odata.maxpagesize`` does not apply to FetchXML and is not echoed.
Not for OData queries: :mod:`.queries`.
"""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Response

from dataverse_sandbox.odata.columns import quote_identifier

from .context import Call
from .errors import DataverseError, bad_request
from .fetch_conditions import compile_fetch_filter, find_attribute
from .fetch_cookies import PagingCookie, cookie_annotation, read_cookie
from .fetchxml import FetchLink, FetchSpec, parse_fetch
from .metadata import AttributeMeta, EntityMeta
from .paging import after_condition
from .preferences import MAX_PAGE_SIZE
from .projection import Projection
from .queries import count_matching, total_annotations
from .values import to_json

__all__ = ["ENTITIES_DONT_MATCH", "MORE_RECORDS", "PAGING_COOKIE", "fetch"]

PAGING_COOKIE = "Microsoft.Dynamics.CRM.fetchxmlpagingcookie"
MORE_RECORDS = "Microsoft.Dynamics.CRM.morerecords"
#: QueryBuilderEntitiesDontMatch: the ``<entity name>`` is not the entity set's table.
ENTITIES_DONT_MATCH = "0x80041128"

_EXCLUSIVE = (
    "$select",
    "$filter",
    "$orderby",
    "$top",
    "$expand",
    "$skiptoken",
    "$deltatoken",
    "$apply",
    "$skip",
    "$search",
)


def fetch(call: Call, entity: EntityMeta) -> Response:
    """Serve one page of the FetchXML query in the ``fetchXml`` query option.

    :param call: the request.
    :param entity: the table of the entity set in the path.
    :returns: the page.
    :raises DataverseError: 400 for malformed FetchXML, another entity, unknown columns or operators, bad values.
    """
    args = call.request.args
    for name in _EXCLUSIVE:
        if name in args:
            raise bad_request(f"The query option {name} cannot be combined with fetchXml; write it in the FetchXML.")
    if call.preferences.track_changes:
        raise bad_request("Change tracking (Prefer: odata.track-changes) is not available for fetchXml queries.")
    spec = parse_fetch(args.get("fetchXml", ""))
    if spec.entity != entity.logical_name:
        raise DataverseError(
            400,
            ENTITIES_DONT_MATCH,
            f"The entity '{spec.entity}' of the FetchXML does not match the entity set '{entity.entity_set_name}' "
            f"(entity '{entity.logical_name}').",
        )
    selected = None if spec.attributes is None else tuple(find_attribute(entity, name) for name in spec.attributes)
    projection = Projection(entity, selected)
    where, params = compile_fetch_filter(entity, spec.filter, call.service.clock.now())
    links = [_resolve_link(call, entity, link) for link in spec.links]
    for link, related, from_attribute, to_attribute, _ in links:
        if link.inner:
            # Rows without a related row are left out, before paging (identifiers come from the metadata).
            related_ids = f"SELECT {quote_identifier(from_attribute.column)} FROM {related.logical_name}"  # noqa: S608
            where = f"({where}) AND {quote_identifier(to_attribute.column)} IN ({related_ids})"
    size, paged = _page_size(call, spec)
    primary = entity.by_logical_name(entity.primary_id)
    assert primary is not None
    if spec.distinct and selected is not None and primary not in selected:
        rows, sort, more, keys = _distinct_page(call, spec, projection, where, params, size, paged)
    else:
        rows, sort, more, keys = _keyset_page(call, spec, projection, where, params, size, paged)
    body: dict[str, Any] = {
        "@odata.context": f"{call.root}$metadata#{entity.entity_set_name}{projection.context_fragment()}"
    }
    counted = args.get("$count", "").lower() == "true"
    if counted or spec.total_count:
        total = count_matching(call, entity, where, params)
        if counted:
            body["@odata.count"] = min(total, call.service.behaviour.count_limit)
        total_annotations(call, body, total)
    if more and call.preferences.wants_annotation(PAGING_COOKIE):
        cookie = PagingCookie(spec.page, tuple(a.logical_name for a in sort), keys[-1], keys[0])
        body[f"@{PAGING_COOKIE}"] = cookie_annotation(cookie, sort)
    if more and call.preferences.wants_annotation(MORE_RECORDS):
        body[f"@{MORE_RECORDS}"] = True
    rendered = call.renderer().render(projection, rows, omit_nulls=True)
    for row, out in zip(rows, rendered, strict=True):
        for link, related, from_attribute, to_attribute, columns in links:
            if to_attribute.column in row:
                value = row[to_attribute.column]
            else:
                whole = call.service.storage.fetch_by_id(entity, str(row[entity.primary_id]))
                value = whole.get(to_attribute.column) if whole is not None else None
            match = call.service.storage.fetch(related, f"{from_attribute.column} = ?", [value]) if value else None
            for column in columns:
                shown = to_json(column, match.get(column.column)) if match is not None else None
                if shown is not None:
                    out[f"{link.alias}.{column.logical_name}"] = shown
    if spec.distinct and sort == ():
        for out in rendered:
            out.pop("@odata.etag", None)
    body["value"] = rendered
    return call.json(body)


def _resolve_link(
    call: Call, entity: EntityMeta, link: FetchLink
) -> tuple[FetchLink, EntityMeta, AttributeMeta, AttributeMeta, list[AttributeMeta]]:
    """:returns: the link with its table, its ``from`` and ``to`` columns and the columns to return."""
    related = call.service.catalog.get(link.name)
    if related is None:
        raise DataverseError(400, "0x80041103", f"The entity '{link.name}' of a <link-entity> does not exist.")
    from_attribute = find_attribute(related, link.from_attribute)
    to_attribute = find_attribute(entity, link.to_attribute)
    return link, related, from_attribute, to_attribute, [find_attribute(related, a) for a in link.attributes]


def _page_size(call: Call, spec: FetchSpec) -> tuple[int, bool]:
    """:returns: the rows to serve and whether the query pages (``top`` does not)."""
    behaviour = call.service.behaviour
    if spec.top is not None:
        if spec.top > MAX_PAGE_SIZE and not behaviour.clamp_top:
            raise bad_request(f"The top attribute of <fetch> cannot be larger than {MAX_PAGE_SIZE}.")
        return min(spec.top, MAX_PAGE_SIZE), False
    size = spec.count or MAX_PAGE_SIZE
    if size > MAX_PAGE_SIZE:
        if not behaviour.clamp_max_page_size:
            raise bad_request(f"The count attribute of <fetch> cannot be larger than {MAX_PAGE_SIZE}.")
        size = MAX_PAGE_SIZE
    return size, True


_Page = tuple[list[dict[str, Any]], tuple[AttributeMeta, ...], bool, list[tuple[Any, ...]]]


def _keyset_page(
    call: Call, spec: FetchSpec, projection: Projection, where: str, params: list[object], size: int, paged: bool
) -> _Page:
    """Rows sorted by the ``<order>`` columns then the primary key, resuming after a matching paging cookie."""
    entity = projection.entity
    sort: list[AttributeMeta] = []
    descending: list[bool] = []
    for order in spec.orders:
        attribute = find_attribute(entity, order.attribute)
        if attribute not in sort:
            sort.append(attribute)
            descending.append(order.descending)
    primary = entity.by_logical_name(entity.primary_id)
    assert primary is not None
    if primary not in sort:
        sort.append(primary)
        descending.append(False)
    terms = [(quote_identifier(a.column), desc) for a, desc in zip(sort, descending, strict=True)]
    conditions, condition_params = [f"({where})"], list(params)
    offset = (spec.page - 1) * size
    if paged and spec.paging_cookie:
        cookie = read_cookie(spec.paging_cookie, sort)
        if cookie is not None and cookie.page == spec.page - 1:
            after, after_params = after_condition(terms, cookie.last)
            conditions.append(after)
            condition_params.extend(after_params)
            offset = 0
    fetched = call.service.storage.fetch_page(
        entity,
        [f"{sql} AS __k{index}" for index, (sql, _) in enumerate(terms)],
        " AND ".join(conditions),
        condition_params,
        ", ".join(f"{sql} {'DESC' if desc else 'ASC'}" for sql, desc in terms),
        size + 1 if paged else size,
        projection.columns(),
        offset=offset,
    )
    page = fetched[:size]
    return [row for row, _ in page], tuple(sort), paged and len(fetched) > size, [keys for _, keys in page]


def _distinct_page(
    call: Call, spec: FetchSpec, projection: Projection, where: str, params: list[object], size: int, paged: bool
) -> _Page:
    """Distinct combinations of the selected columns, paged by page number (there is no row key to resume after)."""
    entity = projection.entity
    columns = [a.column for a in projection.attributes() if a.logical_name != entity.primary_id]
    terms: list[str] = []
    for order in spec.orders:
        attribute = find_attribute(entity, order.attribute)
        if attribute.column not in columns:
            raise bad_request(
                f"With distinct, the order column '{order.attribute}' must also be one of the selected attributes."
            )
        terms.append(f"{quote_identifier(attribute.column)} {'DESC' if order.descending else 'ASC'}")
    fetched = call.service.storage.fetch_page(
        entity,
        [],
        where,
        params,
        ", ".join(terms or (quote_identifier(column) for column in columns)),
        size + 1 if paged else size,
        columns,
        offset=(spec.page - 1) * size,
        distinct=True,
    )
    rows = [{**row, "versionnumber": None, entity.primary_id: None} for row, _ in fetched[:size]]
    return rows, (), paged and len(fetched) > size, [() for _ in rows]
