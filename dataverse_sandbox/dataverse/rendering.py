"""Stored rows to Web API JSON: ETags, typed values, expansions and the annotations a client asked for.

Rows of one response are rendered together so that lookup names (for formatted values) and expanded rows are read
with one query per lookup column instead of one per row: a 5000-row page stays fast.
Not for deciding which rows: see :mod:`.queries` and :mod:`.records`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from .metadata import USD_CURRENCY_ID, USD_CURRENCY_NAME, AttributeKind, AttributeMeta, EntityMeta
from .preferences import Preferences
from .projection import Expansion, Projection
from .storage import Row, Storage
from .values import converter_for, formatter_for

__all__ = ["FORMATTED", "LOOKUP_LOGICAL_NAME", "NAVIGATION_PROPERTY", "Renderer", "etag_of"]

FORMATTED = "OData.Community.Display.V1.FormattedValue"
NAVIGATION_PROPERTY = "Microsoft.Dynamics.CRM.associatednavigationproperty"
LOOKUP_LOGICAL_NAME = "Microsoft.Dynamics.CRM.lookuplogicalname"

#: Compiles an expansion's ``$filter``/``$orderby`` for a table: ``(where_sql, params, order_sql)``.
ExpansionCompiler = Callable[[EntityMeta, str | None, str | None], tuple[str, list[Any], str]]

_CHUNK = 900

#: How one column is written: SQL column, JSON name, value conversion, annotation writer.
_ColumnPlan = tuple[str, str, Callable[[Any], Any] | None, Callable[[dict[str, Any], Any], None] | None]


def etag_of(row: Row) -> str:
    """:returns: the weak ETag of a row, ``W/"<versionnumber>"``."""
    return f'W/"{row["versionnumber"]}"'


class Renderer:
    """Renders rows of one response.

    :param storage: where lookup names and expanded rows are read.
    :param catalog: every table.
    :param preferences: the request's preferences (which annotations to add).
    :param compile_expansion: compiles ``$filter``/``$orderby`` inside collection expansions.
    """

    def __init__(
        self,
        storage: Storage,
        catalog: Mapping[str, EntityMeta],
        preferences: Preferences,
        compile_expansion: ExpansionCompiler,
    ) -> None:
        self._storage = storage
        self._catalog = catalog
        self._formatted = preferences.wants_annotation(FORMATTED)
        self._navigation = preferences.wants_annotation(NAVIGATION_PROPERTY)
        self._logical = preferences.wants_annotation(LOOKUP_LOGICAL_NAME)
        self._compile_expansion = compile_expansion

    def render(self, projection: Projection, rows: Sequence[Row], *, omit_nulls: bool = False) -> list[dict[str, Any]]:
        """Render rows of ``projection.entity``.

        :param omit_nulls: leave null columns out (FetchXML results) instead of writing ``null`` (OData).
        :returns: one JSON object per row, in the same order.
        """
        attributes = projection.attributes()
        names = self._lookup_names(attributes, rows) if self._formatted else {}
        plan = [self._plan(attribute, names) for attribute in attributes]
        expanded = {e.navigation: self._expand(projection.entity, e, rows) for e in projection.expansions}
        primary = projection.entity.primary_id
        rendered = []
        for row in rows:
            out: dict[str, Any] = {"@odata.etag": f'W/"{row["versionnumber"]}"'}
            for column, name, convert, annotate in plan:
                stored = row[column]
                if stored is None:
                    if not omit_nulls:
                        out[name] = None
                    continue
                if annotate is not None:
                    annotate(out, stored)
                out[name] = stored if convert is None else convert(stored)
            for expansion in projection.expansions:
                key = row[expansion.lookup.column] if expansion.lookup is not None else row[primary]
                default: Any = None if expansion.lookup is not None else []
                out[expansion.navigation] = expanded[expansion.navigation].get(key, default)
            rendered.append(out)
        return rendered

    def _plan(self, attribute: AttributeMeta, names: Mapping[str, Mapping[str, str]]) -> _ColumnPlan:
        """Decide once per column how its values are written (rendering thousands of rows stays cheap)."""
        name = attribute.property_name
        annotate: Callable[[dict[str, Any], Any], None] | None = None
        if attribute.kind is AttributeKind.LOOKUP:
            extra: list[tuple[str, str]] = []
            if self._navigation and attribute.navigation is not None:
                extra.append((f"{name}@{NAVIGATION_PROPERTY}", attribute.navigation))
            if self._logical and attribute.target is not None:
                extra.append((f"{name}@{LOOKUP_LOGICAL_NAME}", attribute.target))
            labels = names.get(attribute.logical_name, {}) if self._formatted else {}
            if labels or extra:
                annotate = _lookup_annotator(f"{name}@{FORMATTED}", labels, extra)
        elif self._formatted:
            formatter = formatter_for(attribute)
            if formatter is not None:
                annotate = _value_annotator(f"{name}@{FORMATTED}", formatter)
        return attribute.column, name, converter_for(attribute), annotate

    def _lookup_names(self, attributes: Iterable[AttributeMeta], rows: Sequence[Row]) -> dict[str, dict[str, str]]:
        names: dict[str, dict[str, str]] = {}
        for attribute in attributes:
            if attribute.kind is not AttributeKind.LOOKUP or attribute.target is None:
                continue
            column = attribute.column
            ids = {row[column] for row in rows} - {None}
            if attribute.target == "transactioncurrency":
                names[attribute.logical_name] = {USD_CURRENCY_ID: USD_CURRENCY_NAME}
                continue
            target = self._catalog.get(attribute.target)
            if target is None or not ids:
                continue
            found: dict[str, str] = {}
            for chunk in _chunks(sorted(ids)):
                for related in self._storage.fetch_all(
                    target, f"{target.primary_id} IN ({','.join('?' * len(chunk))})", chunk
                ):
                    found[related[target.primary_id]] = related[target.primary_name] or ""
            names[attribute.logical_name] = found
        return names

    def _expand(self, entity: EntityMeta, expansion: Expansion, rows: Sequence[Row]) -> dict[str, Any]:
        target = expansion.projection.entity
        if expansion.lookup is not None:
            ids = sorted({row[expansion.lookup.column] for row in rows if row[expansion.lookup.column]})
            related: list[Row] = []
            for chunk in _chunks(ids):
                related.extend(
                    self._storage.fetch_all(target, f"{target.primary_id} IN ({','.join('?' * len(chunk))})", chunk)
                )
            rendered = self.render(expansion.projection, related)
            return {row[target.primary_id]: out for row, out in zip(related, rendered, strict=True)}
        if expansion.association is not None:
            return self._expand_association(entity, expansion, rows)
        assert expansion.collection is not None
        link = target.by_logical_name(expansion.collection.lookup)
        assert link is not None
        where, params, order = self._compile_expansion(target, expansion.filter, expansion.orderby)
        parents = sorted({row[entity.primary_id] for row in rows})
        children: list[Row] = []
        for chunk in _chunks(parents):
            children.extend(
                self._storage.fetch_all(
                    target,
                    f"({where}) AND {link.column} IN ({','.join('?' * len(chunk))})",
                    [*params, *chunk],
                    order_by=order or target.primary_id,
                )
            )
        grouped: dict[str, list[Row]] = {}
        for child in children:
            group = grouped.setdefault(child[link.column], [])
            if expansion.top is None or len(group) < expansion.top:
                group.append(child)
        return {parent: self.render(expansion.projection, group) for parent, group in grouped.items()}

    def _expand_association(self, entity: EntityMeta, expansion: Expansion, rows: Sequence[Row]) -> dict[str, Any]:
        """Related rows of a many-to-many navigation: the intersect table's pairs, then the rows they name."""
        nav = expansion.association
        assert nav is not None
        target = expansion.projection.entity
        intersect = self._catalog[nav.intersect]
        pairs: list[Row] = []
        for chunk in _chunks(sorted({row[entity.primary_id] for row in rows})):
            pairs.extend(self._storage.fetch_all(intersect, f"{nav.own} IN ({','.join('?' * len(chunk))})", chunk))
        where, params, order = self._compile_expansion(target, expansion.filter, expansion.orderby)
        related: dict[str, Row] = {}
        for chunk in _chunks(sorted({pair[nav.other] for pair in pairs})):
            for child in self._storage.fetch_all(
                target,
                f"({where}) AND {target.primary_id} IN ({','.join('?' * len(chunk))})",
                [*params, *chunk],
                order_by=order or target.primary_id,
            ):
                related[child[target.primary_id]] = child
        position = {key: index for index, key in enumerate(related)}
        grouped: dict[str, list[Row]] = {}
        for pair in sorted(pairs, key=lambda p: position.get(p[nav.other], -1)):
            linked = related.get(pair[nav.other])
            group = grouped.setdefault(pair[nav.own], [])
            if linked is not None and (expansion.top is None or len(group) < expansion.top):
                group.append(linked)
        return {parent: self.render(expansion.projection, group) for parent, group in grouped.items()}


def _lookup_annotator(
    key: str, labels: Mapping[str, str], extra: Sequence[tuple[str, str]]
) -> Callable[[dict[str, Any], Any], None]:
    def annotate(out: dict[str, Any], stored: Any) -> None:
        label = labels.get(stored)
        if label is not None:
            out[key] = label
        for annotation, value in extra:
            out[annotation] = value

    return annotate


def _value_annotator(key: str, formatter: Callable[[Any], str | None]) -> Callable[[dict[str, Any], Any], None]:
    def annotate(out: dict[str, Any], stored: Any) -> None:
        label = formatter(stored)
        if label is not None:
            out[key] = label

    return annotate


def _chunks(values: Sequence[str]) -> Iterable[list[str]]:
    for start in range(0, len(values), _CHUNK):
        yield list(values[start : start + _CHUNK])
