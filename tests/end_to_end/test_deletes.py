"""Bulk deletes end to end against the sandbox, through the reference host and ``connector run``: deletes in
``$batch`` requests with per-record results in input order (missing and changed records included), ``DeleteMultiple``
on the elastic table, the fallback from a standard table's refusal, change sets rolled back, and the asynchronous
``BulkDelete`` job by query, followed to its end. Checked against the server's own storage and request records.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from connector.dataverse.operations import delete_jobs
from connector.host.sandbox_config import write_sandbox_config
from connector.results import ResultStatus
from tests.support.operations import Live

API = "/api/data/v9.2/"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def create_accounts(live: Live, marker: str, count: int) -> list[dict[str, Any]]:
    options = {"entity_set": "accounts", "return_representation": True, "select": ["name"]}
    results = live.run("create", options, [{"name": f"{marker} {i:03}"} for i in range(count)])
    assert all(result.status is ResultStatus.SUCCESS for result in results)
    return [dict(result.payload or {}) for result in results]


def left(live: Live, marker: str) -> list[str]:
    return sorted(str(row["name"]) for row in live.rows("account", "name LIKE ?", [f"{marker}%"]))


def test_deletes_in_batch_requests_one_result_each_in_input_order(live: Live) -> None:
    marker = unique("del")
    accounts = create_accounts(live, marker, 30)
    live.run(
        "update",
        {"entity_set": "accounts"},
        [{"@odata.editLink": accounts[5]["@odata.editLink"], "name": f"{marker} moved"}],
    )
    documents: list[dict[str, Any]] = [{"@odata.editLink": account["@odata.editLink"]} for account in accounts]
    documents[5]["@odata.etag"] = accounts[5]["@odata.etag"]  # stale: the record changed since it was read
    documents.insert(12, {"accountid": str(uuid.uuid4())})  # never existed
    since = live.sandbox.clock.now()
    # One worker: the refusal of the first DeleteMultiple is learned before the next chunk is written.
    options = {"entity_set": "accounts", "bulk": {"batch_size": 10, "min_batch_size": 1, "max_concurrency": 1}}
    results = live.run("delete", options, documents)
    assert [result.input_index for result in results] == list(range(31))
    reasons = [result.properties.get("reason") for result in results]
    assert reasons[5] == "changed_since_read"
    assert reasons[12] == "not_found"
    assert [result.status for i, result in enumerate(results) if i not in (5, 12)] == [ResultStatus.DELETED] * 29
    assert {result.properties["bulk"] for result in results} == {"$batch"}
    assert left(live, marker) == [f"{marker} moved"]
    # One DeleteMultiple refused by the standard table, then $batch only: no DELETE of its own.
    posts = live.sandbox.stats.requests(method="POST", path_prefix=API, since=since)
    refused = [record for record in posts if record.path.endswith("DeleteMultiple")]
    assert [record.status for record in refused] == [400]
    assert not live.sandbox.stats.requests(method="DELETE", since=since)


def test_delete_multiple_on_the_elastic_table(live: Live) -> None:
    marker = unique("evt")
    created = live.run(
        "create",
        {"entity_set": "sample_events"},
        [{"sample_name": f"{marker} {i}", "partitionid": "p1"} for i in range(30)],
    )
    ids = [result.properties["id"] for result in created]
    since = live.sandbox.clock.now()
    documents = [{"sample_eventid": record_id, "partitionid": "p1"} for record_id in ids]
    results = live.run("delete", {"entity_set": "sample_events", "bulk": {"batch_size": 10}}, documents)
    assert [result.status for result in results] == [ResultStatus.DELETED] * 30
    assert {result.properties["bulk"] for result in results} == {"DeleteMultiple"}
    assert not live.rows("sample_event", "sample_name LIKE ?", [f"{marker}%"])
    actions = live.sandbox.stats.requests(method="POST", path_prefix=f"{API}sample_events/", since=since)
    assert [record.status for record in actions] == [204, 204, 204]


def test_multiple_mode_on_a_standard_table_fails_instead_of_falling_back(live: Live) -> None:
    marker = unique("delm")
    accounts = create_accounts(live, marker, 12)
    documents = [{"@odata.editLink": account["@odata.editLink"]} for account in accounts]
    results = live.run("delete", {"entity_set": "accounts", "bulk": {"mode": "multiple"}}, documents)
    assert {result.status for result in results} == {ResultStatus.FAILED}
    assert results[0].error is not None
    assert "DeleteMultiple has not yet been implemented." in results[0].error.message
    assert len(left(live, marker)) == 12


def test_all_or_nothing_deletes_nothing_around_a_missing_record(live: Live) -> None:
    marker = unique("delaon")
    accounts = create_accounts(live, marker, 4)
    documents: list[dict[str, Any]] = [{"@odata.editLink": account["@odata.editLink"]} for account in accounts]
    documents.append({"accountid": str(uuid.uuid4())})
    results = live.run("delete", {"entity_set": "accounts", "bulk": {"all_or_nothing": True}}, documents)
    assert [result.properties.get("reason") for result in results] == ["rolled_back"] * 4 + ["not_found"]
    assert len(left(live, marker)) == 4


@pytest.fixture
def jobs_finish(live: Live, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Instead of sleeping between polls, wait for the sandbox's running jobs to finish."""
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        live.sandbox.service.jobs.wait()

    monkeypatch.setattr(delete_jobs, "CLOCK", delete_jobs.JobClock(sleep=sleep))
    return waits


def test_a_bulk_delete_job_deletes_what_the_criteria_match(live: Live, jobs_finish: list[float]) -> None:
    marker = unique("job")
    create_accounts(live, marker, 6)
    kept = unique("kept")
    create_accounts(live, kept, 1)
    options = {
        "entity_set": "accounts",
        "job_name": "e2e purge",
        "caller_object_id": "e39c5d16-675b-48d1-8e67-667427e9c084",
        "criteria": {"conditions": [{"field": "name", "operator": "begins_with", "parameter": "prefix"}]},
    }
    [result] = live.run("bulk_delete", options, [{"prefix": marker}])
    assert result.status is ResultStatus.SUCCESS, result.error
    assert result.properties["job_status"] == "succeeded"
    assert result.payload is not None
    assert "6" in str(result.payload["message"])
    assert left(live, marker) == []
    assert len(left(live, kept)) == 1
    polls = live.sandbox.service.headers_seen.entries(path_prefix=f"{API}asyncoperations(", method="GET")
    assert polls
    assert {poll.header("CallerObjectId") for poll in polls} == {"e39c5d16-675b-48d1-8e67-667427e9c084"}
    [job] = live.rows("asyncoperation", "asyncoperationid = ?", [result.properties["job_id"]])
    assert (job["name"], job["statuscode"]) == ("e2e purge", 30)


def test_criteria_on_an_unknown_column_fail_before_any_job(live: Live) -> None:
    since = live.sandbox.clock.now()
    options = {"entity_set": "accounts", "criteria": {"conditions": [{"field": "nosuch", "operator": "null"}]}}
    [bad] = live.run("bulk_delete", options, [{}])
    assert bad.status is ResultStatus.FAILED
    assert bad.error is not None
    assert bad.error.field == "options.criteria.conditions[0].field"
    assert "accounts has no column 'nosuch'" in bad.error.message
    assert not live.sandbox.stats.requests(method="POST", path_prefix=f"{API}BulkDelete", since=since)


def cli(config: Path, tmp_path: Path, operation: str, options: dict[str, Any], lines: list[Any]) -> Any:
    return subprocess.run(
        [sys.executable, "-m", "connector.host.cli", "run", str(config), operation, "--options", json.dumps(options)],
        input="".join(json.dumps(line) + "\n" for line in lines),
        env={**os.environ, "CONNECTOR_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_connector_run_deletes_in_bulk_and_runs_a_job(live: Live, tmp_path: Path) -> None:
    config = write_sandbox_config(live.sandbox, "client_secret", tmp_path / "d365.json")
    marker = unique("delcli")
    accounts = create_accounts(live, marker, 12)
    documents = [{"@odata.editLink": account["@odata.editLink"]} for account in accounts[:10]]
    result = cli(config, tmp_path, "delete", {"entity_set": "accounts", "bulk": {"mode": "batch"}}, documents)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["status"] for line in lines] == ["deleted"] * 10
    assert [line["input_index"] for line in lines] == list(range(10))
    assert len(left(live, marker)) == 2
    options = {
        "entity_set": "accounts",
        "criteria": {"conditions": [{"field": "name", "operator": "begins_with", "value": marker}]},
        "poll_interval_seconds": 1,
    }
    job = cli(config, tmp_path, "bulk_delete", options, [{}])
    assert job.returncode == 0, job.stderr
    [line] = [json.loads(text) for text in job.stdout.splitlines()]
    assert line["status"] == "success"
    assert line["properties"]["job_status"] == "succeeded"
    assert left(live, marker) == []
