"""Writing through the data source in a local Spark session against the sandbox: 100,000 rows through the bulk
writer with invalid rows among them, every invalid row in the errors output and every valid one stored (counted in
the sandbox's storage); ``on_error=fail``; upsert by an alternate key.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from pyspark.errors import PySparkException
from pyspark.sql import DataFrame, SparkSession

from tests.support.operations import Live

ROWS = 100_000
INVALID_EVERY = 1000
"""Every 1000th row has a name longer than the column's 160 characters: 100 invalid rows, in 100 bulk requests."""


def accounts(spark: SparkSession, prefix: str, rows: int, invalid_every: int) -> DataFrame:
    return spark.range(rows, numPartitions=2).selectExpr(
        f"concat('{prefix}-', id) AS accountnumber",
        f"CASE WHEN id % {invalid_every} = {invalid_every - 1} THEN repeat('x', 161) ELSE concat('Spark ', id) END"
        " AS name",
        "CAST(id % 5000 AS BIGINT) AS numberofemployees",
        "CAST(id AS DECIMAL(19, 4)) / 4 AS revenue",
    )


def stored_numbers(live: Live, prefix: str) -> set[str]:
    return {str(row["accountnumber"]) for row in live.rows("account", "accountnumber LIKE ?", [f"{prefix}-%"])}


def write(frame: DataFrame, settings: str, **options: str) -> None:
    frame.write.format("dynamics365").mode("append").option("settings", settings).options(**options).save()


@pytest.mark.slow
def test_100k_rows_every_invalid_row_reported_every_valid_row_stored(
    spark: SparkSession, spark_settings: str, spark_live: Live, tmp_path: Path
) -> None:
    prefix = f"S{uuid.uuid4().hex[:8]}"
    errors = tmp_path / "errors"
    write(
        accounts(spark, prefix, ROWS, INVALID_EVERY),
        spark_settings,
        entity_set="accounts",
        errors_path=str(errors),
        on_error="report",
    )
    invalid = {f"{prefix}-{index}" for index in range(INVALID_EVERY - 1, ROWS, INVALID_EVERY)}
    assert stored_numbers(spark_live, prefix) == {f"{prefix}-{index}" for index in range(ROWS)} - invalid
    lines = [json.loads(line) for path in sorted(errors.glob("part-*.jsonl")) for line in path.read_text().splitlines()]
    assert {line["record"]["accountnumber"] for line in lines} == invalid
    assert len(lines) == len(invalid)
    assert all(line["http_status"] == 400 and line["code"] == "0x80044331" for line in lines)
    assert all("maximum allowed length" in line["error"] for line in lines)
    [summary_file] = errors.glob("_summary-*.json")
    summary = json.loads(summary_file.read_text())
    assert (summary["rows"], summary["written"], summary["failed"]) == (ROWS, ROWS - len(invalid), len(invalid))
    assert sorted(summary["errors_files"]) == sorted(str(path) for path in errors.glob("part-*.jsonl"))
    assert summary["aborted"] is False


def test_on_error_fail_raises_after_writing_the_valid_rows(
    spark: SparkSession, spark_settings: str, spark_live: Live
) -> None:
    prefix = f"F{uuid.uuid4().hex[:8]}"
    with pytest.raises(PySparkException) as caught:
        write(accounts(spark, prefix, 1000, 250), spark_settings, entity_set="accounts")
    message = str(caught.value)
    assert "4 of 1000 rows were not written to accounts (create); 996 were" in message
    assert "(0x80044331)" in message
    assert len(stored_numbers(spark_live, prefix)) == 996


def test_upsert_by_alternate_key_updates_the_stored_rows(
    spark: SparkSession, spark_settings: str, spark_live: Live
) -> None:
    prefix = f"U{uuid.uuid4().hex[:8]}"
    write(accounts(spark, prefix, 300, 10**9), spark_settings, entity_set="accounts")
    changed = accounts(spark, prefix, 300, 10**9).selectExpr("accountnumber", "concat('Changed ', name) AS name")
    write(changed, spark_settings, entity_set="accounts", operation="upsert", key_fields="accountnumber")
    rows = spark_live.rows("account", "accountnumber LIKE ?", [f"{prefix}-%"])
    assert len(rows) == 300
    assert all(str(row["name"]).startswith("Changed Spark ") for row in rows)


def test_overwrite_is_refused(spark: SparkSession, spark_settings: str) -> None:
    frame = accounts(spark, "never", 3, 10**9)
    with pytest.raises(PySparkException) as caught:
        frame.write.format("dynamics365").mode("overwrite").option("settings", spark_settings).option(
            "entity_set", "accounts"
        ).save()
    assert "overwrite is not supported" in str(caught.value)
