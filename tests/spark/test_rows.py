"""Values both ways without Spark running: records into rows of the inferred schema, rows into documents."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from pyspark.sql import Row
from pyspark.sql.types import DecimalType, LongType, StringType

from connector.spark.rows import document_of
from connector.spark.schema import BatchConverter, is_guid_column, spark_schema

PROFILE = {
    "x-entity-set": "accounts",
    "properties": {
        "@odata.etag": {"type": "string"},
        "accountid": {
            "type": ["string", "null"],
            "pattern": "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
        },
        "name": {"type": ["string", "null"]},
        "numberofemployees": {"type": ["integer", "null"]},
        "revenue": {"type": ["number", "null"]},
        "creditonhold": {"type": ["boolean", "null"]},
        "createdon": {"type": ["string", "null"], "format": "date-time"},
        "sample_establishedon": {"type": ["string", "null"], "format": "date"},
        "industrycode": {"oneOf": [{"const": 1, "title": "Accounting"}, {"const": None, "title": "(none)"}]},
        "entityimage": {"title": "an untyped column"},
    },
}


def test_inferred_schema() -> None:
    schema = spark_schema(PROFILE)
    assert schema.simpleString() == (
        "struct<accountid:string,name:string,numberofemployees:bigint,revenue:decimal(38,10),creditonhold:boolean,"
        "createdon:timestamp,sample_establishedon:date,industrycode:bigint>"
    )
    assert is_guid_column(schema["accountid"])
    assert not is_guid_column(schema["name"])


def test_selected_columns_keep_their_order_and_untyped_ones_are_text() -> None:
    schema = spark_schema(PROFILE, ("revenue", "entityimage", "numberofemployees"))
    assert [(field.name, field.dataType) for field in schema.fields] == [
        ("revenue", DecimalType(38, 10)),
        ("entityimage", StringType()),
        ("numberofemployees", LongType()),
    ]


def test_records_become_typed_batches() -> None:
    converter = BatchConverter(spark_schema(PROFILE))
    records: list[dict[str, Any]] = [
        {
            "accountid": "4b757ff7-9c85-ee11-8179-000d3a9933c9",
            "name": "Contoso",
            "numberofemployees": 12,
            "revenue": 0.1,
            "creditonhold": False,
            "createdon": "2024-01-02T03:04:05Z",
            "sample_establishedon": "1999-12-31",
        },
        {"revenue": 2, "numberofemployees": None, "name": None},
    ]
    assert converter.batch(records).to_pylist() == [
        {
            "accountid": "4b757ff7-9c85-ee11-8179-000d3a9933c9",
            "name": "Contoso",
            "numberofemployees": 12,
            "revenue": Decimal("0.1000000000"),
            "creditonhold": False,
            "createdon": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
            "sample_establishedon": date(1999, 12, 31),
            "industrycode": None,
        },
        {
            "accountid": None,
            "name": None,
            "numberofemployees": None,
            "revenue": Decimal("2.0000000000"),
            "creditonhold": None,
            "createdon": None,
            "sample_establishedon": None,
            "industrycode": None,
        },
    ]


@pytest.mark.parametrize(
    ("column", "value"), [("numberofemployees", 1.5), ("creditonhold", 1), ("revenue", "12"), ("createdon", "soon")]
)
def test_a_value_that_does_not_fit_names_its_column(column: str, value: object) -> None:
    converter = BatchConverter(spark_schema(PROFILE, (column,)))
    with pytest.raises(ValueError, match=rf"column {column}: a value does not fit its type"):
        converter.batch([{column: value}])


def test_untyped_selected_columns_come_as_json_text() -> None:
    converter = BatchConverter(spark_schema(PROFILE, ("entityimage",)))
    assert converter.batch([{"entityimage": {"a": 1}}, {"entityimage": "x"}]).column(0).to_pylist() == ['{"a":1}', "x"]


def test_rows_become_documents() -> None:
    row = Row(
        name="Contoso",
        revenue=Decimal("12.5000"),
        numberofemployees=None,
        whole=Decimal("3.0000"),
        createdon=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        day=date(2024, 1, 2),
    )
    assert document_of(row) == {
        "name": "Contoso",
        "revenue": 12.5,
        "whole": 3,
        "createdon": "2024-01-02T03:04:05Z",
        "day": "2024-01-02",
    }
    assert document_of(row, write_nulls=True)["numberofemployees"] is None
