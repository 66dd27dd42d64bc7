"""Planning a read's partitions for a distributed engine: disjoint primary-key ranges that cover the query's range,
one per task, each read by the Query operation with the ``key_range`` option.

:func:`plan_partitions` asks the service for the first and the last key of the table (two requests,
``$select=<key>&$orderby=<key> asc|desc&$top=1``, within the query's own ``key_range``) and cuts the span between
them into ranges of equal width in SQL Server's ``uniqueidentifier`` order
(:mod:`~connector.dataverse.partitions.keys`). The first range is open below and the last open above, so a key
created after planning still falls in exactly one range: the ranges cover every key whatever the probes found, and
no key is in two. Balance is by key width, not by record count: client-assigned (random) keys spread evenly;
Dataverse's own sequential keys cluster by the server that created them, so plan more partitions than the engine
has cores (each partition's read is itself parallel by default, which evens out a heavy one). The user's filter is
not applied to the probes: it changes how many records a range holds, never which range a record is in.

Through the hook, ``plan_partitions: N`` in a Query's options returns the plan (one result per range, see
:func:`plan_results`) instead of records; a task reads its range by running the same query with the result's
``key_range``. Not for reading: :mod:`~connector.dataverse.partitions.reader`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from typing import Any

from connector.dataverse.operations.query_options import QueryOptions
from connector.dataverse.operations.running import OperationContext
from connector.dataverse.partitions.keys import KeyRange, guid_at, sql_order
from connector.dataverse.partitions.ranges import joined_filter
from connector.errors import OperationError
from connector.results import OperationResult, ResultStatus

__all__ = ["cut_evenly", "plan_partitions", "plan_results"]


def plan_partitions(
    context: OperationContext[QueryOptions], primary_key: str, within: KeyRange, count: int
) -> list[KeyRange]:
    """Plan up to ``count`` partitions of a query's key range.

    :param context: the run (its client sends the probes).
    :param primary_key: the table's primary key.
    :param within: the query's own key range (the ``key_range`` option).
    :param count: the partitions wanted.
    :returns: disjoint ranges, in key order, covering ``within``; fewer than ``count`` when the table's keys span
        fewer ranks, one (``within`` itself) when the table is empty.
    :raises ConnectorError: when a probe fails.
    """
    ends = [_probe(context, primary_key, within, direction) for direction in ("asc", "desc")]
    first, last = ends
    if first is None or last is None:
        return [within]
    return cut_evenly(within, sql_order(first), sql_order(last), count)


def cut_evenly(within: KeyRange, first: int, last: int, count: int) -> list[KeyRange]:
    """Cut a range into up to ``count`` ranges, at equal steps between two key ranks.

    :param within: the range to cut (its ends stay the ends of the first and last ranges).
    :param first: the rank of the first key known to be in it.
    :param last: the rank of the last key known to be in it.
    :param count: the ranges wanted.
    :returns: the ranges, in key order; the boundaries are strictly increasing ranks from ``first`` up to below
        ``last``.
    """
    width = last - first
    parts = max(1, min(count, width))
    bounds: list[str] = []
    for number in range(1, parts):
        bounds.append(guid_at(first + width * number // parts))
    edges: list[str | None] = [within.after, *bounds, within.up_to]
    return [KeyRange(after, up_to) for after, up_to in itertools.pairwise(edges)]


def plan_results(ranges: list[KeyRange]) -> Iterator[OperationResult]:
    """:returns: one ``success`` result per range: payload ``{"index", "key_range", "label"}``, where
    ``key_range`` is the Query option that reads exactly that range.
    """
    for index, key_range in enumerate(ranges):
        option: dict[str, str] = {}
        if key_range.after is not None:
            option["after"] = key_range.after
        if key_range.up_to is not None:
            option["up_to"] = key_range.up_to
        payload: Mapping[str, Any] = {"index": index, "key_range": option, "label": key_range.label()}
        yield OperationResult(ResultStatus.SUCCESS, payload, {"partition": str(index)})


def _probe(context: OperationContext[QueryOptions], primary_key: str, within: KeyRange, direction: str) -> str | None:
    query = [("$select", primary_key), ("$orderby", f"{primary_key} {direction}"), ("$top", "1")]
    bounds = joined_filter("", within, primary_key)
    if bounds:
        query.insert(1, ("$filter", bounds))
    body = context.client.get_json(context.entity_set, query)
    rows = body.get("value") if isinstance(body, Mapping) else None
    if not isinstance(rows, list):
        raise OperationError("The service answered a key probe without a record collection")
    key = rows[0].get(primary_key) if rows and isinstance(rows[0], Mapping) else None
    return key if isinstance(key, str) else None
