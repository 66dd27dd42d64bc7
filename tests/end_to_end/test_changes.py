"""End to end against the sandbox: incremental Query through change tracking.

Three runs with creates, updates and deletes in between return exactly what changed; a run interrupted midway (a
page that fails, a consumer that stops, a child process killed with SIGKILL) commits no checkpoint, and the resumed
run delivers every change since the previous checkpoint: none lost. Writes between runs go through plain
``requests`` (never the connector), and the connection runs through the reference host as a host runs it.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterable
from pathlib import Path
from typing import Any

import pytest

from connector.context import MemoryCheckpointStore, RuntimeContext
from connector.host.facade import ConnectorHost
from connector.results import OperationResult, ResultStatus
from dataverse_sandbox.faults import FaultKind
from dataverse_sandbox.server import Sandbox
from tests.support.operations import CONNECTOR_ID, sandbox_settings
from tests.support.paths import REPO_ROOT
from tests.support.sandbox import WebApiSession, bearer_token

PAGE = 50
OPTIONS = {
    "entity_set": "accounts",
    "select": ["name"],
    "change_tracking": True,
    "page_size": PAGE,
    "checkpoint_key": "e2e",
}
KEY = "dynamics365-ce/changes/e2e"


class Changes:
    """One run's results, by kind."""

    def __init__(self, results: list[OperationResult]) -> None:
        assert all(result.status in (ResultStatus.SUCCESS, ResultStatus.DELETED) for result in results), [
            result.error for result in results if result.error
        ]
        self.changed = {
            result.properties["id"]: (result.payload or {}).get("name")
            for result in results
            if result.status is ResultStatus.SUCCESS
        }
        self.deleted = {result.properties["id"] for result in results if result.status is ResultStatus.DELETED}


class Reader:
    """Runs the tracked query through the reference host with a given checkpoint store (a fresh connection each
    time, as a new worker would).
    """

    def __init__(self, sb: Sandbox, store: MemoryCheckpointStore, **options: Any) -> None:
        self.sandbox = sb
        self.store = store
        self.options = {**OPTIONS, **options}

    def stream(self) -> Generator[OperationResult, None, None]:
        host = ConnectorHost()
        connection = host.connect(
            CONNECTOR_ID, sandbox_settings(self.sandbox), RuntimeContext(checkpoint_store=self.store)
        )
        try:
            yield from host.execute_operation(CONNECTOR_ID, connection, "query", self.options, [{}])
        finally:
            host.close()

    def run(self) -> Changes:
        return Changes(list(self.stream()))


@pytest.fixture
def seeded(make_sandbox: Callable[..., Sandbox]) -> tuple[Sandbox, WebApiSession, list[str]]:
    sb = make_sandbox()
    ids, _ = sb.seed(n_accounts=3 * PAGE - 10)
    return sb, WebApiSession(sb, bearer_token(sb)), ids


def rename(api: WebApiSession, ids: list[str], tag: str) -> dict[str, str]:
    for record_id in ids:
        assert api.patch(f"accounts({record_id})", json={"name": f"{tag} {record_id}"}).status_code == 204
    return {record_id: f"{tag} {record_id}" for record_id in ids}


def delete(api: WebApiSession, ids: list[str]) -> set[str]:
    for record_id in ids:
        assert api.delete(f"accounts({record_id})").status_code == 204
    return set(ids)


def create(api: WebApiSession, count: int, tag: str) -> dict[str, str]:
    return {api.create("accounts", {"name": f"{tag} {n}"}): f"{tag} {n}" for n in range(count)}


@pytest.mark.parametrize("read_ahead", [False, True])
def test_three_runs_return_everything_then_exactly_what_changed(
    seeded: tuple[Sandbox, WebApiSession, list[str]], read_ahead: bool
) -> None:
    sb, api, ids = seeded
    store = MemoryCheckpointStore()
    reader = Reader(sb, store, read_ahead=read_ahead)
    since = sb.clock.now()

    first = reader.run()
    assert set(first.changed) == set(ids)
    assert first.deleted == set()
    checkpoint = store.load(KEY)
    assert checkpoint is not None
    assert "$deltatoken=" in checkpoint
    pages = sb.stats.requests(method="GET", path_prefix="/api/data/v9.2/accounts", since=since)
    assert len(pages) == -(-len(ids) // PAGE)

    created = create(api, 3, "second")
    short_lived = next(iter(create(api, 1, "short-lived")))
    delete(api, [short_lived])
    updated = rename(api, ids[:4], "second")
    removed = delete(api, ids[4:6])
    since = sb.clock.now()
    second = reader.run()
    assert second.changed == {**created, **updated}
    assert second.deleted == removed | {short_lived}
    delta_request = sb.stats.requests(method="GET", path_prefix="/api/data/v9.2/accounts", since=since)[0]
    assert "$deltatoken=" in delta_request.query
    assert store.load(KEY) != checkpoint

    created_again = create(api, 1, "third")
    updated_again = rename(api, [*list(created)[:1], ids[0]], "third")
    removed_again = delete(api, ids[1:2])
    third = reader.run()
    assert third.changed == {**created_again, **updated_again}
    assert third.deleted == removed_again

    quiet = reader.run()
    assert (quiet.changed, quiet.deleted) == ({}, set())


def test_a_run_stopped_midway_commits_nothing_and_the_next_run_loses_no_change(
    seeded: tuple[Sandbox, WebApiSession, list[str]],
) -> None:
    sb, api, ids = seeded
    store = MemoryCheckpointStore()
    reader = Reader(sb, store)
    reader.run()
    checkpoint = store.load(KEY)
    before = rename(api, ids[: 2 * PAGE], "before")

    stream = reader.stream()
    handed_over = [next(stream) for _ in range(PAGE + 5)]  # past the first page
    stream.close()  # the consumer stops: as a host that crashed
    assert len({result.properties["id"] for result in handed_over}) == PAGE + 5
    assert store.load(KEY) == checkpoint

    after = {**rename(api, [ids[0], ids[-1]], "after"), **create(api, 2, "after")}
    removed = delete(api, ids[5:7])
    resumed = reader.run()
    assert resumed.changed == {**{k: v for k, v in before.items() if k not in removed}, **after}
    assert resumed.deleted == removed
    assert store.load(KEY) != checkpoint


def test_a_page_that_fails_ends_the_run_without_a_checkpoint_and_the_rerun_loses_no_change(
    seeded: tuple[Sandbox, WebApiSession, list[str]],
) -> None:
    sb, api, ids = seeded
    store = MemoryCheckpointStore()
    reader = Reader(sb, store, read_ahead=False)  # the second page is requested when the first is handed over
    reader.run()
    checkpoint = store.load(KEY)
    changed = rename(api, ids[: 2 * PAGE], "changed")

    stream = reader.stream()
    handed_over = [next(stream) for _ in range(PAGE)]
    sb.faults.schedule(FaultKind.ERROR, 1, status=500)  # the second page's request
    rest = list(stream)
    assert [result.status for result in rest] == [ResultStatus.FAILED]
    assert rest[0].error is not None
    assert rest[0].error.status == 500
    assert len(handed_over) == PAGE
    assert store.load(KEY) == checkpoint

    rerun = reader.run()
    assert rerun.changed == changed


CHILD = """
import json, sys
from pathlib import Path
from typing import Any
from connector.context import RuntimeContext
from connector.host.facade import ConnectorHost

class FileCheckpointStore:
    def __init__(self, path):
        self.path = Path(path)
    def load(self, key):
        return json.loads(self.path.read_text()).get(key) if self.path.exists() else None
    def save(self, key, checkpoint):
        data = json.loads(self.path.read_text()) if self.path.exists() else {}
        data[key] = checkpoint
        self.path.write_text(json.dumps(data))

settings, options, path = json.loads(sys.stdin.readline())
host = ConnectorHost()
connection = host.connect("dynamics365-ce", settings, RuntimeContext(checkpoint_store=FileCheckpointStore(path)))
for result in host.execute_operation("dynamics365-ce", connection, "query", options, [{}]):
    print(json.dumps([result.status.value, result.properties.get("id")]), flush=True)
    sys.stdin.readline()  # the parent's go-ahead before the next result is pulled
print("done", flush=True)
"""


def forward(stream: Iterable[str], lines: queue.Queue[str]) -> None:
    """Move a child's output lines into a queue, so the test can wait for them with a deadline."""
    for line in stream:
        lines.put(line)


def test_a_process_killed_midway_resumes_from_the_previous_checkpoint(
    seeded: tuple[Sandbox, WebApiSession, list[str]], tmp_path: Path
) -> None:
    sb, api, ids = seeded
    path = tmp_path / "checkpoints.json"
    first_store = MemoryCheckpointStore()
    Reader(sb, first_store).run()
    checkpoint = first_store.load(KEY)
    assert checkpoint is not None
    path.write_text(json.dumps({KEY: checkpoint}))
    before = rename(api, ids[: 2 * PAGE], "before")

    child = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
    )
    assert child.stdin is not None
    assert child.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=forward, args=(child.stdout, lines), daemon=True).start()
    try:
        child.stdin.write(json.dumps([sandbox_settings(sb), OPTIONS, str(path)]) + "\n")
        child.stdin.flush()
        received: list[tuple[str, str]] = []
        deadline = time.monotonic() + 60
        while len(received) < PAGE + 5:
            received.append(json.loads(lines.get(timeout=max(0.1, deadline - time.monotonic()))))
            if len(received) < PAGE + 5:
                child.stdin.write("\n")
                child.stdin.flush()
        os.kill(child.pid, signal.SIGKILL)  # mid-run: it has handed over PAGE + 5 records of 2 * PAGE
    finally:
        child.kill()
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert {record_id for _, record_id in received} <= set(before)
    assert json.loads(path.read_text()) == {KEY: checkpoint}

    after = {**rename(api, [ids[1], ids[-2]], "after"), **create(api, 1, "after")}
    removed = delete(api, ids[2:3])
    resumed_store = MemoryCheckpointStore()
    resumed_store.save(KEY, json.loads(path.read_text())[KEY])
    resumed = Reader(sb, resumed_store).run()
    assert resumed.changed == {**{k: v for k, v in before.items() if k not in removed}, **after}
    assert resumed.deleted == removed
