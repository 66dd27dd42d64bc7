"""The driver's side of a write without Spark running: the tasks' reports added up, the summary file, and when the
write fails.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pyspark.sql.datasource import WriterCommitMessage
from pyspark.sql.types import StructType

from connector.errors import OperationError
from connector.spark.options import parse_write_options
from connector.spark.writer import Dynamics365Writer, FailedRow, TaskReport

SETTINGS = json.dumps({"connection": {}, "oauth2": {"grant_type": "client_credentials"}})


def writer(**options: str) -> Dynamics365Writer:
    parsed = parse_write_options({"settings": SETTINGS, "entity_set": "accounts", **options})
    return Dynamics365Writer(parsed, StructType([]), write_id="w1")


def failures(partition: int, count: int) -> list[FailedRow]:
    return [FailedRow(partition, row, f"(0x1)bad {row}[400]", "remote") for row in range(count)]


def test_without_an_errors_path_the_write_fails_with_the_first_failures() -> None:
    reports: list[WriterCommitMessage | None] = [
        TaskReport(0, 0, rows=10, written=7, failed=3, samples=failures(0, 3)),
        TaskReport(1, 1, rows=5, written=5),
        None,
    ]
    with pytest.raises(OperationError) as caught:
        writer().commit(reports)
    assert caught.value.user_message.splitlines() == [
        "3 of 15 rows were not written to accounts (create); 12 were. The failures:",
        "  partition 0 row 0: (0x1)bad 0[400]",
        "  partition 0 row 1: (0x1)bad 1[400]",
        "  partition 0 row 2: (0x1)bad 2[400]",
    ]


def test_report_writes_the_summary_and_does_not_fail(tmp_path: Path) -> None:
    reports = [
        TaskReport(0, 0, rows=10, written=9, failed=1, errors_file=str(tmp_path / "part-0.jsonl")),
        TaskReport(1, 0, rows=10, written=10),
    ]
    writer(errors_path=str(tmp_path), on_error="report").commit(list(reports))
    summary = json.loads((tmp_path / "_summary-w1.json").read_text())
    assert summary == {
        "write_id": "w1",
        "entity_set": "accounts",
        "operation": "create",
        "rows": 20,
        "written": 19,
        "failed": 1,
        "errors_files": [str(tmp_path / "part-0.jsonl")],
        "aborted": False,
    }


def test_an_aborted_write_records_the_finished_tasks(tmp_path: Path) -> None:
    writer(errors_path=str(tmp_path)).abort([TaskReport(0, 0, rows=4, written=4), None])
    summary = json.loads((tmp_path / "_summary-w1.json").read_text())
    assert (summary["rows"], summary["written"], summary["aborted"]) == (4, 4, True)
