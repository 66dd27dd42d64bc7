"""Request headers per operation end to end against the sandbox, through the reference host and ``connector run``:
impersonation, solution, bypassed logic, tags and custom headers reach every request of a run (``$batch`` parts
included), a document's own headers override the run's, and a bad header name or value fails only its document,
before anything is sent. Checked from the server's side: the sandbox's log of the headers it saw.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from connector.host.sandbox_config import write_sandbox_config
from connector.results import ResultStatus
from dataverse_sandbox.dataverse.header_log import SeenRequest
from tests.support.operations import Live

USER = "e39c5d16-675b-48d1-8e67-667427e9c084"
OTHER = "0b5e0a4c-8a0e-4d7b-9a4a-0d8d3b3c0f11"
API = "/api/data/v9.2/"


def seen(live: Live, path: str, method: str | None = None) -> list[SeenRequest]:
    return live.sandbox.service.headers_seen.entries(path_prefix=f"{API}{path}", method=method)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def test_the_run_headers_reach_bulk_parts_and_a_document_overrides_them(live: Live) -> None:
    live.sandbox.service.headers_seen.clear()
    marker = unique("hdr")
    options = {
        "entity_set": "accounts",
        "caller_object_id": USER,
        "solution_unique_name": "contosocore",
        "bypass_business_logic": "CustomSync",
        "tag": "nightly",
        "custom_headers": [{"name": "x-correlation-id", "value": "run-1"}],
        "bulk": {"mode": "batch", "min_batch_size": 1},
    }
    documents = [
        {"name": f"{marker} a"},
        {"name": f"{marker} b", "@connector.headers": {"CallerObjectId": OTHER, "x-correlation-id": None}},
    ]
    results = live.run("create", options, documents)
    assert [result.status for result in results] == [ResultStatus.SUCCESS] * 2, [r.error for r in results]
    [batch] = seen(live, "$batch")
    assert batch.header("CallerObjectId") == USER
    assert batch.header("x-correlation-id") == "run-1"
    parts = seen(live, "accounts", "POST")
    assert len(parts) == 2
    assert all(part.in_batch for part in parts)
    first, second = parts
    assert (first.header("CallerObjectId"), first.header("x-correlation-id")) == (USER, "run-1")
    assert (second.header("CallerObjectId"), second.header("x-correlation-id")) == (OTHER, None)
    for part in parts:
        assert part.header("MSCRM.SolutionUniqueName") == "contosocore"
        assert part.header("MSCRM.BypassBusinessLogicExecution") == "CustomSync"
        assert "tag=nightly" in part.query
    # Metadata reads are the connection's own: never impersonated.
    assert all(entry.header("CallerObjectId") is None for entry in seen(live, "EntityDefinitions"))


def test_every_page_of_a_query_and_every_single_request_carries_them(live: Live) -> None:
    marker = unique("hdrq")
    live.run("create", {"entity_set": "accounts"}, [{"name": f"{marker} {i}"} for i in range(5)])
    live.sandbox.service.headers_seen.clear()
    options = {
        "entity_set": "accounts",
        "select": ["name"],
        "page_size": 2,
        "caller_id": OTHER,
        "custom_headers": [{"name": "x-run", "value": "q"}],
        "filter": {"conditions": [{"custom": f"startswith(name,'{marker}')"}]},
        "parallel": {"mode": "off"},
    }
    results = live.run("query", options, [{}])
    assert len(results) == 5
    pages = seen(live, "accounts", "GET")
    assert len(pages) == 3
    assert {(page.header("MSCRMCallerID"), page.header("x-run")) for page in pages} == {(OTHER, "q")}

    live.sandbox.service.headers_seen.clear()
    results = live.run("query", {**options, "parallel": {"mode": "on"}}, [{}])
    assert len(results) == 5
    requests_seen = seen(live, "accounts", "GET")
    assert requests_seen  # probes and partition pages alike
    assert {(page.header("MSCRMCallerID"), page.header("x-run")) for page in requests_seen} == {(OTHER, "q")}


def test_a_bad_header_fails_only_its_document_before_anything_is_sent(live: Live) -> None:
    live.sandbox.service.headers_seen.clear()
    marker = unique("hdrbad")
    documents = [
        {"name": f"{marker} good"},
        {"name": f"{marker} crlf", "@connector.headers": {"x-note": "a\r\nInjected: 1"}},
        {"name": f"{marker} name", "@connector.headers": {"bad name": "x"}},
        {"name": f"{marker} refused", "@connector.headers": {"Authorization": "Bearer stolen"}},
        {"name": f"{marker} guid", "@connector.headers": {"CallerObjectId": "not-a-guid"}},
    ]
    results = live.run("create", {"entity_set": "accounts", "bulk": {"mode": "off"}}, documents)
    assert [result.status for result in results] == [ResultStatus.SUCCESS] + [ResultStatus.FAILED] * 4
    fields = [result.error.field for result in results[1:] if result.error is not None]
    assert fields == [
        "@connector.headers.x-note",
        "@connector.headers.bad name",
        "@connector.headers.Authorization",
        "@connector.headers.CallerObjectId",
    ]
    assert "line break" in (results[1].error.message if results[1].error else "")
    assert "access token" in (results[3].error.message if results[3].error else "")
    assert [row["name"] for row in live.rows("account", "name LIKE ?", [f"{marker}%"])] == [f"{marker} good"]
    assert all(entry.header("Injected") is None for entry in seen(live, ""))


def test_connector_run_sends_the_headers(live: Live, tmp_path: Path) -> None:
    config = write_sandbox_config(live.sandbox, "client_secret", tmp_path / "d365.json")
    marker = unique("hdrcli")
    options = json.dumps(
        {"entity_set": "accounts", "caller_object_id": USER, "custom_headers": [{"name": "x-cli", "value": "1"}]}
    )
    live.sandbox.service.headers_seen.clear()
    result = subprocess.run(
        [sys.executable, "-m", "connector.host.cli", "run", str(config), "create", "--options", options],
        input=json.dumps({"name": marker}) + "\n",
        env={**os.environ, "CONNECTOR_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    [line] = [json.loads(text) for text in result.stdout.splitlines()]
    assert line["status"] == "success"
    [post] = seen(live, "accounts", "POST")
    assert (post.header("CallerObjectId"), post.header("x-cli")) == (USER, "1")
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "connector.host.cli",
            "run",
            str(config),
            "create",
            "--options",
            json.dumps({"entity_set": "accounts", "custom_headers": [{"name": "Host", "value": "evil"}]}),
        ],
        input="{}\n",
        env={**os.environ, "CONNECTOR_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bad.returncode != 0
    assert "options.custom_headers[0].name" in bad.stderr
