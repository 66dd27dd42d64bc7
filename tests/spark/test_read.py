"""Reading through the data source in a local Spark session against the sandbox: the same records as a sequential
Query, range partitions on ``createdon``, a typed schema, and ``select``, ``filter`` and Spark's ``WHERE`` sent to
the service (checked in the sandbox's request records).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import unquote_plus

import pytest
from pyspark.errors import PySparkException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import BooleanType, DateType, DecimalType, LongType, StringType, TimestampType

from dataverse_sandbox.config import SandboxConfig
from tests.support.diagnostics import sandbox_settings
from tests.support.operations import Live
from tests.support.sandbox import start_sandbox

SEEDED = 20_000
API_PATH = "/api/data/v9.2/"


def read(spark: SparkSession, settings: str, **options: str) -> DataFrame:
    return spark.read.format("dynamics365").option("settings", settings).options(**options).load()


def queries_since(live: Live, since: float) -> list[str]:
    """:returns: the decoded query strings of the account queries the sandbox answered since then."""
    records = live.sandbox.stats.requests(method="GET", path_prefix=f"{API_PATH}accounts", since=since)
    return [unquote_plus(record.query) for record in records]


def test_partitions_read_the_same_ids_as_a_sequential_query(
    spark: SparkSession, spark_settings: str, spark_live: Live
) -> None:
    since = spark_live.sandbox.clock.now()
    frame = read(spark, spark_settings, entity_set="accounts", select="accountid", num_partitions="8")
    ids = [row.accountid for row in frame.collect()]
    sequential = [result.properties["id"] for result in spark_live.stream("query", {"entity_set": "accounts"}, [{}])]
    queries = queries_since(spark_live, since)
    assert len(ids) == len(set(ids)) >= SEEDED
    assert sorted(ids) == sorted(sequential)
    probes = [query for query in queries if "$orderby=createdon" in query]
    assert len(probes) == 2
    assert all("$top=1" in query for query in probes)
    first = [query for query in queries if "createdon lt" in query and "createdon eq null" in query]
    middle = [query for query in queries if "createdon ge" in query and "createdon lt" in query]
    last = [query for query in queries if "createdon ge" in query and "createdon lt" not in query]
    assert (len(first), len(middle), len(last)) == (1, 6, 1)
    assert frame.rdd.getNumPartitions() == 8


def test_schema_is_typed_from_the_table_metadata(spark: SparkSession, spark_settings: str, spark_live: Live) -> None:
    marker = uuid.uuid4().hex[:12]
    document = {
        "name": f"Typed {marker}",
        "numberofemployees": 42,
        "revenue": 1234.5,
        "creditonhold": True,
        "lastonholdtime": "2024-02-03T04:05:06Z",
        "sample_establishedon": "1999-12-31",
        "industrycode": 7,
    }
    [created] = spark_live.run("create", {"entity_set": "accounts"}, [document])
    assert created.ok
    frame = read(spark, spark_settings, entity_set="accounts", filter=f"name eq 'Typed {marker}'")
    types = {field.name: field.dataType for field in frame.schema.fields}
    assert types["accountid"] == StringType()
    assert types["name"] == StringType()
    assert types["numberofemployees"] == LongType()
    assert types["revenue"] == DecimalType(38, 10)
    assert types["creditonhold"] == BooleanType()
    assert types["createdon"] == TimestampType()
    assert types["sample_establishedon"] == DateType()
    assert types["industrycode"] == LongType()
    assert types["_primarycontactid_value"] == StringType()
    assert not any(name.startswith("@") for name in types)
    [row] = frame.collect()
    assert row.accountid == created.properties["id"]
    assert row.numberofemployees == 42
    assert row.revenue == Decimal("1234.5")
    assert row.creditonhold is True
    assert row.sample_establishedon == date(1999, 12, 31)
    assert row.industrycode == 7
    # Spark hands timestamps back as naive local time: compare the instants.
    assert row.lastonholdtime.astimezone(UTC) == datetime(2024, 2, 3, 4, 5, 6, tzinfo=UTC)


def test_select_is_sent_as_select(spark: SparkSession, spark_settings: str, spark_live: Live) -> None:
    since = spark_live.sandbox.clock.now()
    frame = read(spark, spark_settings, entity_set="accounts", select="name,revenue", num_partitions="2")
    assert frame.columns == ["name", "revenue"]
    assert frame.count() >= SEEDED
    reads = [query for query in queries_since(spark_live, since) if "$orderby" not in query]
    assert reads
    assert all("$select=name,revenue&" in query + "&" for query in reads)


def test_where_is_sent_to_the_service_and_the_result_is_spark_s(
    spark: SparkSession, spark_settings: str, spark_live: Live
) -> None:
    since = spark_live.sandbox.clock.now()
    frame = read(spark, spark_settings, entity_set="accounts", select="accountid,name,numberofemployees,industrycode")
    wanted = frame.where("numberofemployees > 20000 and industrycode in (3, 5) and name like 'Contoso%'")
    got = sorted(row.accountid for row in wanted.collect())
    expected = sorted(
        str(row["accountid"])
        for row in spark_live.rows(
            "account",
            "numberofemployees > 20000 AND industrycode IN (3, 5) AND name GLOB 'Contoso*'",
        )
    )
    assert got == expected
    assert got
    reads = [query for query in queries_since(spark_live, since) if "$orderby" not in query]
    assert reads
    for query in reads:
        assert "numberofemployees gt 20000" in query
        assert "industrycode eq 3 or industrycode eq 5" in query
        assert "startswith(name,'Contoso')" in query
    plan = wanted._jdf.queryExecution().executedPlan().toString()
    # Exact on numbers (Spark drops them), narrowing on text (Spark evaluates it again).
    [spark_filter] = [line for line in plan.splitlines() if " Filter " in line]
    assert "StartsWith(name" in spark_filter
    assert "numberofemployees" not in spark_filter
    assert "industrycode" not in spark_filter


def test_filter_option_and_pushdown_off(spark: SparkSession, spark_settings: str, spark_live: Live) -> None:
    frame = read(
        spark,
        spark_settings,
        entity_set="accounts",
        select="accountid,industrycode",
        filter="industrycode eq 7",
        filter_pushdown="false",
    )
    got = frame.where("industrycode = 7").count()
    assert got == len(spark_live.rows("account", "industrycode = 7"))
    assert frame.where("industrycode <> 7").count() == 0


def test_a_config_file_over_tls(spark: SparkSession, tmp_path: Path) -> None:
    sandbox = start_sandbox(SandboxConfig(tls=True))
    try:
        sandbox.seed(3000)
        settings = sandbox_settings(sandbox)
        assert sandbox.ca_cert_path is not None
        config = tmp_path / "dynamics.json"
        config.write_text(json.dumps({**settings, "runtime": {"ca_bundle": str(sandbox.ca_cert_path)}}))
        frame = (
            spark.read.format("dynamics365")
            .option("config", str(config))
            .option("entity_set", "accounts")
            .option("select", "accountid")
            .option("num_partitions", "3")
            .load()
        )
        assert frame.count() == 3000
    finally:
        sandbox.stop()


def test_bad_options_name_the_option(spark: SparkSession, spark_settings: str) -> None:
    with pytest.raises(PySparkException) as caught:
        read(spark, spark_settings, select="name").collect()
    assert "options.entity_set: is required" in str(caught.value)
    with pytest.raises(PySparkException) as caught:
        read(spark, spark_settings, entity_set="accounts", select="name,nosuchcolumn").collect()
    assert "options.select: accounts has no readable column 'nosuchcolumn'" in str(caught.value)
