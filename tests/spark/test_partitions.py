"""Range partitions without Spark running: the spans cover every value once, whatever the probe found."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connector.spark.partitions import Span, range_partitions, split_span

LOW = datetime(2024, 1, 1, 0, 0, 0, 500_000, tzinfo=UTC)


def test_a_span_is_cut_into_equal_whole_seconds() -> None:
    boundaries = split_span(Span(LOW, LOW + timedelta(days=4)), 4)
    assert [boundary.isoformat() for boundary in boundaries] == [
        "2024-01-02T00:00:00+00:00",
        "2024-01-03T00:00:00+00:00",
        "2024-01-04T00:00:00+00:00",
    ]


@pytest.mark.parametrize(("seconds", "count", "expected"), [(0, 8, 0), (1, 8, 0), (3, 8, 2), (10_000, 1, 0)])
def test_a_short_span_gets_fewer_parts(seconds: int, count: int, expected: int) -> None:
    boundaries = split_span(Span(LOW, LOW + timedelta(seconds=seconds)), count)
    assert len(boundaries) == expected
    assert boundaries == sorted(set(boundaries))
    assert all(LOW < boundary <= LOW + timedelta(seconds=seconds) for boundary in boundaries)


def test_the_ranges_are_open_at_both_ends_and_take_nulls_first() -> None:
    boundaries = split_span(Span(LOW, LOW + timedelta(days=3)), 3)
    first, middle, last = range_partitions("createdon", boundaries)
    assert [partition.index for partition in (first, middle, last)] == [0, 1, 2]
    assert first.conditions == (
        {
            "operator": "or",
            "conditions": [
                {"field": "createdon", "operator": "lt", "value": "2024-01-02T00:00:00Z", "type": "datetime"},
                {"field": "createdon", "operator": "eq", "value": None, "type": "null"},
            ],
        },
    )
    assert middle.conditions == (
        {"field": "createdon", "operator": "ge", "value": "2024-01-02T00:00:00Z", "type": "datetime"},
        {"field": "createdon", "operator": "lt", "value": "2024-01-03T00:00:00Z", "type": "datetime"},
    )
    assert last.conditions == (
        {"field": "createdon", "operator": "ge", "value": "2024-01-03T00:00:00Z", "type": "datetime"},
    )
    assert last.label == "createdon >= 2024-01-03T00:00:00Z"


def test_without_boundaries_one_partition_reads_everything() -> None:
    [only] = range_partitions("createdon", [])
    assert only.conditions == ()
