"""Fixtures of the PySpark data source tests: one local Spark session for the whole run, and sandboxes with the
settings a Spark job passes to the data source.

- ``spark`` (session): a ``local[2]`` session (Spark UI off, few shuffle partitions) with the data source
  registered and Python filter pushdown on; stopped at the end of the run.
- ``spark_sandbox`` (module): a sandbox over plain HTTP seeded with the module's ``SEEDED`` accounts.
- ``spark_settings``: the settings JSON (option ``settings``) of a client-credentials connection to it.
- ``spark_live``: a connection to it through the reference host, for the sequential side of comparisons.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from pyspark.sql import SparkSession

import connector.spark
from connector.context import RuntimeContext
from connector.host.facade import ConnectorHost
from dataverse_sandbox.config import SandboxConfig
from dataverse_sandbox.server import Sandbox
from tests.support.diagnostics import sandbox_settings
from tests.support.operations import CONNECTOR_ID, Live
from tests.support.sandbox import start_sandbox

__all__ = ["spark", "spark_live", "spark_sandbox", "spark_settings"]


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    session = (
        SparkSession.builder.master("local[2]")
        .appName("dynamics365-connector-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2")
        # Keep the Python workers' start-up paid once: they are reused across tasks.
        .config("spark.python.worker.reuse", "true")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    connector.spark.register(session)
    try:
        yield session
    finally:
        session.stop()


@pytest.fixture(scope="module")
def spark_sandbox(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    sb = start_sandbox(SandboxConfig())
    sb.seed(getattr(request.module, "SEEDED", 0))
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def spark_settings(spark_sandbox: Sandbox) -> str:
    return json.dumps(sandbox_settings(spark_sandbox))


@pytest.fixture
def spark_live(spark_sandbox: Sandbox) -> Iterator[Live]:
    host = ConnectorHost()
    session = Live(spark_sandbox, host, host.connect(CONNECTOR_ID, sandbox_settings(spark_sandbox), RuntimeContext()))
    try:
        yield session
    finally:
        session.close()
