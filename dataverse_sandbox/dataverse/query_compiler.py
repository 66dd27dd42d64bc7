"""The seam to the ``$filter``/``$orderby`` compiler (:mod:`dataverse_sandbox.odata_query`).

Describes a table's columns to the compiler, calls it, and turns its errors into :class:`.DataverseError`.
Not for SQL assembly of a whole query (keyset paging, limits): see :mod:`.queries`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any

from .errors import DataverseError
from .metadata import EntityMeta

__all__ = ["OrderTerm", "compile_expansion", "compile_order", "compile_where"]

#: One ``ORDER BY`` term: an SQL expression and whether it sorts descending.
OrderTerm = tuple[str, bool]


@cache
def _columns(entity: EntityMeta) -> Mapping[str, Any]:
    from dataverse_sandbox.odata_query import ColumnInfo

    return {a.property_name: ColumnInfo(a.column, a.kind.value.lower()) for a in entity.attributes}


def compile_where(
    entity: EntityMeta, text: str | None, aliases: Mapping[str, str], now: float | None = None
) -> tuple[str, list[Any]]:
    """Compile ``$filter``.

    :param entity: the table filtered.
    :param text: the ``$filter`` value, or ``None``.
    :param aliases: parameter aliases of the query string.
    :param now: the sandbox clock's time (epoch seconds) for relative date functions; ``None``: wall clock.
    :returns: an SQL condition and its parameters (``1`` when there is no filter).
    :raises DataverseError: 400 with the compiler's code and message.
    """
    if text is None or not text.strip():
        return "1", []
    from dataverse_sandbox.odata_query import ODataQueryError, compile_filter

    moment = None if now is None else datetime.fromtimestamp(now, UTC)

    try:
        sql, params = compile_filter(
            text, _columns(entity), entity=entity.logical_name, aliases=dict(aliases), now=moment
        )
    except ODataQueryError as exc:
        raise DataverseError(400, exc.code, exc.message) from exc
    return sql, list(params)


def compile_order(entity: EntityMeta, text: str | None, aliases: Mapping[str, str]) -> list[OrderTerm]:
    """Compile ``$orderby``.

    :returns: the terms, in order (empty when there is no ``$orderby``).
    :raises DataverseError: 400 with the compiler's code and message.
    """
    if text is None or not text.strip():
        return []
    from dataverse_sandbox.odata_query import ODataQueryError, compile_orderby

    try:
        return compile_orderby(text, _columns(entity), entity=entity.logical_name, aliases=dict(aliases))
    except ODataQueryError as exc:
        raise DataverseError(400, exc.code, exc.message) from exc


def compile_expansion(entity: EntityMeta, filter_text: str | None, orderby: str | None) -> tuple[str, list[Any], str]:
    """Compile ``$filter``/``$orderby`` inside a collection ``$expand``.

    :returns: ``(where_sql, params, order_sql)``; ``order_sql`` is empty without ``$orderby``.
    """
    where, params = compile_where(entity, filter_text, {})
    order = ", ".join(f"{sql} {'DESC' if desc else 'ASC'}" for sql, desc in compile_order(entity, orderby, {}))
    return where, params, order
