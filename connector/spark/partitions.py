"""A read's partitions: ranges of a date-time column (``createdon`` by default), one Spark task each.

The range of values is found by probing: the first and the last record of the filtered table ordered by the column
(``$orderby`` with ``$top=1``, nulls left out). It is cut into equal spans of whole seconds; each partition is a
``ge``/``lt`` filter, the first also open below (and taking the records whose column is null), the last open above.
The partitions therefore cover every value exactly once, whatever was probed: a record whose column never changes
is read by exactly one partition. ``createdon`` never changes, so a record that exists for the whole read is read
once; one created during the read has a ``createdon`` after the probe and is read only if the last partition reads
after it was created; one deleted during the read may or may not be read; one updated is read once, as it was when
its partition's page was read (no snapshot across partitions). A column that does change (``modifiedon``) can move
a record updated during the read from one range to another, so it may be read twice or not at all.

Spans are equal in time, not in records: a table whose records cluster in time gets uneven partitions (more
partitions than Spark cores even that out). Not for Spark's own filters: :mod:`connector.spark.filters`.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pyspark.sql.datasource import InputPartition

from connector.errors import OperationError
from connector.spark.connection import OpenConnection

__all__ = ["RangePartition", "Span", "probe_span", "range_partitions", "split_span"]


@dataclass(frozen=True)
class Span:
    """The first and last value of the partition column among the records to read.

    :param low: the earliest value.
    :param high: the latest value.
    """

    low: datetime
    high: datetime


@dataclass(frozen=True)
class RangePartition(InputPartition):
    """One partition of a read.

    :param index: its position, from 0.
    :param conditions: the Query filter conditions that select its range (none: the whole table).
    :param label: the range, for messages (``createdon in [2024-01-01T00:00:00Z, 2024-02-01T00:00:00Z)``).
    """

    index: int
    conditions: tuple[Mapping[str, Any], ...]
    label: str


def probe_span(
    connection: OpenConnection, entity_set: str, column: str, conditions: Sequence[Mapping[str, Any]]
) -> Span | None:
    """Find the first and last value of a date-time column among the records the conditions select.

    :param connection: an open connection.
    :param entity_set: the table.
    :param column: the partition column.
    :param conditions: the read's filter conditions (the user's and Spark's).
    :returns: the span, or ``None`` when no record has a value.
    :raises OperationError: when a probe fails.
    """
    ends = []
    for direction in ("asc", "desc"):
        options = {
            "entity_set": entity_set,
            "select": [column],
            "filter": {"operator": "and", "conditions": [*conditions, _not_null(column)]},
            "order_by": [{"field": column, "direction": direction}],
            "top": 1,
        }
        found = None
        for result in connection.run("query", options, [{}]):
            if not result.ok:
                message = result.error.message if result.error else "no reason given"
                raise OperationError(f"Could not find the range of {entity_set}.{column} to partition by: {message}")
            found = (result.payload or {}).get(column)
        if found is None:
            return None
        ends.append(_parse(found))
    return Span(ends[0], ends[1])


def split_span(span: Span, count: int) -> list[datetime]:
    """Cut a span into at most ``count`` equal parts of whole seconds.

    :param span: the first and last value.
    :param count: the most parts wanted.
    :returns: the inner boundaries, strictly increasing, each after ``span.low`` and at most ``span.high``
        (``count - 1`` of them, fewer when the span has fewer whole seconds).
    """
    start = span.low.replace(microsecond=0)
    seconds = int((span.high - start).total_seconds())
    parts = max(1, min(count, seconds))
    boundaries: list[datetime] = []
    for index in range(1, parts):
        boundary = start + timedelta(seconds=seconds * index // parts)
        if boundary > span.low and (not boundaries or boundary > boundaries[-1]):
            boundaries.append(boundary)
    return boundaries


def range_partitions(column: str, boundaries: Sequence[datetime]) -> list[RangePartition]:
    """Build the partitions between boundaries: ``(-inf, b1)`` with nulls, ``[b1, b2)`` … ``[bk, +inf)``.

    :param column: the partition column.
    :param boundaries: strictly increasing inner boundaries; none gives one partition reading everything.
    :returns: the partitions, in order.
    """
    if not boundaries:
        return [RangePartition(0, (), f"{column}: every value")]
    texts = [_format(boundary) for boundary in boundaries]
    first = {
        "operator": "or",
        "conditions": [
            _compare(column, "lt", texts[0]),
            {"field": column, "operator": "eq", "value": None, "type": "null"},
        ],
    }
    partitions = [RangePartition(0, (first,), f"{column} < {texts[0]} or null")]
    for index, (low, high) in enumerate(itertools.pairwise(texts), start=1):
        conditions = (_compare(column, "ge", low), _compare(column, "lt", high))
        partitions.append(RangePartition(index, conditions, f"{column} in [{low}, {high})"))
    partitions.append(RangePartition(len(texts), (_compare(column, "ge", texts[-1]),), f"{column} >= {texts[-1]}"))
    return partitions


def _compare(column: str, operator: str, value: str) -> dict[str, Any]:
    return {"field": column, "operator": operator, "value": value, "type": "datetime"}


def _not_null(column: str) -> dict[str, Any]:
    return {"field": column, "operator": "ne", "value": None, "type": "null"}


def _parse(value: Any) -> datetime:
    parsed = datetime.fromisoformat(str(value))
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _format(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
