"""Spark's pushed filters as Query conditions, without Spark running: which are exact, which Spark evaluates again,
which are not sent.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from pyspark.sql.datasource import (
    EqualNullSafe,
    EqualTo,
    Filter,
    GreaterThan,
    In,
    IsNotNull,
    IsNull,
    LessThanOrEqual,
    Not,
    StringContains,
    StringEndsWith,
    StringStartsWith,
)
from pyspark.sql.types import (
    BooleanType,
    DateType,
    DecimalType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from connector.spark.filters import MAX_IN_VALUES, translate
from connector.spark.schema import GUID_METADATA

SCHEMA = StructType(
    [
        StructField("accountid", StringType(), metadata={GUID_METADATA: True}),
        StructField("name", StringType()),
        StructField("numberofemployees", LongType()),
        StructField("revenue", DecimalType(38, 10)),
        StructField("creditonhold", BooleanType()),
        StructField("createdon", TimestampType()),
        StructField("sample_establishedon", DateType()),
    ]
)
GUID = "4b757ff7-9c85-ee11-8179-000d3a9933c9"


@pytest.mark.parametrize(
    ("spark_filter", "condition", "exact"),
    [
        (
            GreaterThan(("numberofemployees",), 5),
            {"field": "numberofemployees", "operator": "gt", "value": 5, "type": "integer"},
            True,
        ),
        (
            LessThanOrEqual(("revenue",), Decimal("12.5000000000")),
            {"field": "revenue", "operator": "le", "value": "12.5000000000", "type": "number"},
            True,
        ),
        (
            EqualTo(("creditonhold",), True),
            {"field": "creditonhold", "operator": "eq", "value": True, "type": "boolean"},
            True,
        ),
        (EqualTo(("name",), "O'Brien"), {"field": "name", "operator": "eq", "value": "O'Brien"}, False),
        (
            EqualTo(("accountid",), GUID),
            {"field": "accountid", "operator": "eq", "value": GUID, "type": "guid"},
            False,
        ),
        (
            GreaterThan(("createdon",), datetime(2024, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2)))),
            {"field": "createdon", "operator": "gt", "value": "2024-01-02T03:04:05Z", "type": "datetime"},
            False,
        ),
        (
            EqualTo(("sample_establishedon",), date(1999, 12, 31)),
            {"field": "sample_establishedon", "operator": "eq", "value": "1999-12-31", "type": "date"},
            False,
        ),
        (IsNull(("name",)), {"field": "name", "operator": "eq", "value": None, "type": "null"}, True),
        (IsNotNull(("createdon",)), {"field": "createdon", "operator": "ne", "value": None, "type": "null"}, True),
        (EqualNullSafe(("name",), None), {"field": "name", "operator": "eq", "value": None, "type": "null"}, True),
        (
            Not(EqualTo(("numberofemployees",), 5)),
            {
                "operator": "and",
                "conditions": [
                    {"field": "numberofemployees", "operator": "ne", "value": 5, "type": "integer"},
                    {"field": "numberofemployees", "operator": "ne", "value": None, "type": "null"},
                ],
            },
            True,
        ),
        (
            In(("numberofemployees",), (1, None, 2)),
            {
                "operator": "or",
                "conditions": [
                    {"field": "numberofemployees", "operator": "eq", "value": 1, "type": "integer"},
                    {"field": "numberofemployees", "operator": "eq", "value": 2, "type": "integer"},
                ],
            },
            True,
        ),
        (StringStartsWith(("name",), "O'Br"), {"custom": "startswith(name,'O''Br')"}, False),
        (StringEndsWith(("name",), "50%"), {"custom": "endswith(name,'50[%]')"}, False),
        (StringContains(("name",), "a_[b"), {"custom": "contains(name,'a[_][[]b')"}, False),
    ],
)
def test_translated(spark_filter: Filter, condition: dict[str, object], exact: bool) -> None:
    pushed = translate(spark_filter, SCHEMA)
    assert pushed is not None
    assert pushed.condition == condition
    assert pushed.exact is exact


@pytest.mark.parametrize(
    "spark_filter",
    [
        EqualTo(("nosuchcolumn",), 1),
        EqualTo(("a", "b"), 1),
        EqualTo(("accountid",), "not a guid"),
        EqualTo(("numberofemployees",), "five"),
        Not(GreaterThan(("numberofemployees",), 5)),
        GreaterThan(("name",), "M"),
        LessThanOrEqual(("accountid",), GUID),
        Not(EqualTo(("name",), "x")),
        GreaterThan(("createdon",), datetime(2024, 1, 2, 3, 4, 5, 500_000)),
        StringStartsWith(("accountid",), "4b75"),
        In(("numberofemployees",), tuple(range(MAX_IN_VALUES + 1))),
    ],
)
def test_not_sent(spark_filter: Filter) -> None:
    assert translate(spark_filter, SCHEMA) is None


def test_a_naive_timestamp_is_utc() -> None:
    pushed = translate(GreaterThan(("createdon",), datetime(2024, 1, 2, 3, 4, 5)), SCHEMA)
    assert pushed is not None
    assert pushed.condition["value"] == "2024-01-02T03:04:05Z"
