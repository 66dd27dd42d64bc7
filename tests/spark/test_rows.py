"""Values both ways without Spark running: records into rows of the inferred schema, rows into documents."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from pyspark.sql import Row
from pyspark.sql.types import DecimalType, LongType, StringType

from connector.spark.rows import document_of
from connector.spark.schema import RowConverter, is_guid_column, spark_schema

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


def test_records_become_typed_rows() -> None:
    converter = RowConverter(spark_schema(PROFILE))
    record = {
        "accountid": "4b757ff7-9c85-ee11-8179-000d3a9933c9",
        "name": "Contoso",
        "numberofemployees": 12.0,
        "revenue": 0.1,
        "creditonhold": False,
        "createdon": "2024-01-02T03:04:05Z",
        "sample_establishedon": "1999-12-31",
    }
    assert converter.row(record) == (
        "4b757ff7-9c85-ee11-8179-000d3a9933c9",
        "Contoso",
        12,
        Decimal("0.1000000000"),
        False,
        datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        date(1999, 12, 31),
        None,
    )


def test_a_value_that_does_not_fit_names_its_column() -> None:
    converter = RowConverter(spark_schema(PROFILE, ("numberofemployees",)))
    with pytest.raises(ValueError, match=r"column numberofemployees: 1\.5 does not fit"):
        converter.row({"numberofemployees": 1.5})


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
