"""Incremental Query by a watermark column end to end against the sandbox, through the reference host and
``connector run``: equal timestamps across page boundaries and across runs (ties), records updated while a run
reads, runs stopped midway, ``top`` as micro-batches, and ``versionnumber`` as the watermark. Timestamps are set in
the sandbox's own storage (the server's view), so ties are exact and deterministic; nothing is lost in any case.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Generator
from pathlib import Path
from typing import Any

from connector.context import MemoryCheckpointStore, RuntimeContext
from connector.host.facade import ConnectorHost
from connector.host.sandbox_config import write_sandbox_config
from connector.results import OperationResult, ResultStatus
from tests.support.operations import CONNECTOR_ID, Live, sandbox_settings
from tests.support.sandbox import WebApiSession, bearer_token

T0 = "2020-01-01T00:00:00Z"
T1 = "2020-01-01T00:00:01Z"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class Reader:
    """Runs the watermark query with one checkpoint store, a fresh connection each run (as a new worker would)."""

    def __init__(self, live: Live, marker: str, **options: Any) -> None:
        self.live = live
        self.store = MemoryCheckpointStore()
        self.options = {
            "entity_set": "accounts",
            "select": ["name"],
            "filter": {"conditions": [{"custom": f"startswith(name,'{marker}')"}]},
            "watermark": {"field": "modifiedon"},
            "checkpoint_key": marker,
            "page_size": 3,
            **options,
        }

    def stream(self) -> Generator[OperationResult, None, None]:
        host = ConnectorHost()
        context = RuntimeContext(checkpoint_store=self.store)
        connection = host.connect(CONNECTOR_ID, sandbox_settings(self.live.sandbox), context)
        try:
            yield from host.execute_operation(CONNECTOR_ID, connection, "query", self.options, [{}])
        finally:
            host.close()

    def run(self) -> list[str]:
        results = list(self.stream())
        assert all(result.status is ResultStatus.SUCCESS for result in results), [r.error for r in results]
        return [str((result.payload or {})["name"]) for result in results]

    def checkpoint(self) -> dict[str, Any] | None:
        text = self.store.load(f"dynamics365-ce/watermark/{self.options['checkpoint_key']}")
        return json.loads(text) if text else None


def create(live: Live, names: list[str], **fields: Any) -> list[str]:
    results = live.run(
        "create", {"entity_set": "accounts", "bulk": {"mode": "off"}}, [{"name": n, **fields} for n in names]
    )
    return [result.properties["id"] for result in results]


def stamp(live: Live, ids: list[str], when: str) -> None:
    """Set modifiedon in the server's storage (what a write at that moment would have left)."""
    service = live.sandbox.service
    for record_id in ids:
        service.storage.update(service.catalog["account"], record_id, {"modifiedon": when})


def test_equal_timestamps_across_page_boundaries_and_runs(live: Live) -> None:
    marker = unique("wm")
    first = create(live, [f"{marker} {i}" for i in range(7)])
    stamp(live, first, T0)
    reader = Reader(live, marker)
    # Seven records with one timestamp over pages of three: each exactly once.
    assert sorted(reader.run()) == sorted(f"{marker} {i}" for i in range(7))
    checkpoint = reader.checkpoint()
    assert checkpoint is not None
    assert (checkpoint["value"], sorted(checkpoint["ties"])) == (T0, sorted(first))
    # Two more written with the same timestamp after the run, one whose id sorts before every earlier one.
    late = create(live, [f"{marker} late"], accountid="00000000-0000-0000-0000-000000000001")
    late += create(live, [f"{marker} later"])
    stamp(live, late, T0)
    assert sorted(reader.run()) == [f"{marker} late", f"{marker} later"]
    # A newer record and an old one updated: exactly those two.
    newer = create(live, [f"{marker} newer"])
    stamp(live, newer + first[:1], T1)
    assert sorted(reader.run()) == [f"{marker} 0", f"{marker} newer"]
    assert reader.run() == []
    checkpoint = reader.checkpoint()
    assert checkpoint is not None
    assert (checkpoint["value"], sorted(checkpoint["ties"])) == (T1, sorted(newer + first[:1]))


def test_records_updated_during_the_read_are_not_lost(live: Live) -> None:
    marker = unique("wmu")
    ids = create(live, [f"{marker} {i}" for i in range(6)])
    for i, record_id in enumerate(ids):
        stamp(live, [record_id], f"2020-01-01T00:00:0{i}Z")
    reader = Reader(live, marker, page_size=2)
    seen: list[str] = []
    with WebApiSession(live.sandbox, bearer_token(live.sandbox)) as api:
        for result in reader.stream():
            seen.append(str((result.payload or {})["name"]))
            if len(seen) == 1:
                # While the run reads: one record already read and one not yet read are updated (now > 2020).
                for i in (0, 5):
                    assert api.patch(f"accounts({ids[i]})", json={"description": "touched"}).status_code == 204
    counts = Counter(seen)
    assert set(counts) == {f"{marker} {i}" for i in range(6)}  # nothing lost
    assert counts[f"{marker} 0"] == 2  # what may repeat: the record updated after it was read
    assert counts[f"{marker} 5"] == 1
    assert reader.run() == []


def test_a_run_stopped_midway_commits_nothing(live: Live) -> None:
    marker = unique("wms")
    stamp(live, create(live, [f"{marker} {i}" for i in range(5)]), T0)
    reader = Reader(live, marker)
    stream = reader.stream()
    taken = [next(stream) for _ in range(4)]
    stream.close()
    assert len(taken) == 4
    assert reader.checkpoint() is None
    assert len(reader.run()) == 5
    assert reader.run() == []


def test_top_reads_in_micro_batches_through_ties(live: Live) -> None:
    marker = unique("wmt")
    stamp(live, create(live, [f"{marker} {i}" for i in range(7)]), T0)
    reader = Reader(live, marker, top=4)
    batches = [reader.run(), reader.run(), reader.run()]
    assert [len(batch) for batch in batches] == [4, 3, 0]
    assert sorted(batches[0] + batches[1]) == sorted(f"{marker} {i}" for i in range(7))


def test_versionnumber_as_the_watermark(live: Live) -> None:
    marker = unique("wmv")
    ids = create(live, [f"{marker} {i}" for i in range(4)])
    reader = Reader(live, marker, watermark={"field": "versionnumber"}, page_size=2)
    assert len(reader.run()) == 4
    live.run("update", {"entity_set": "accounts"}, [{"accountid": ids[2], "description": "changed"}])
    assert reader.run() == [f"{marker} 2"]


def test_a_checkpoint_of_another_read_is_refused(live: Live) -> None:
    marker = unique("wmx")
    reader = Reader(live, marker)
    reader.store.save(f"dynamics365-ce/watermark/{marker}", "https://elsewhere/accounts?$deltatoken=1")
    [failed] = list(reader.stream())
    assert failed.status is ResultStatus.FAILED
    assert failed.error is not None
    assert failed.error.field == "options.checkpoint_key"


def test_connector_run_resumes_from_the_stored_watermark(live: Live, tmp_path: Path) -> None:
    config = write_sandbox_config(live.sandbox, "client_secret", tmp_path / "d365.json")
    marker = unique("wmcli")
    stamp(live, create(live, [f"{marker} {i}" for i in range(3)]), T0)
    options = json.dumps(
        {
            "entity_set": "accounts",
            "select": ["name"],
            "filter": {"conditions": [{"custom": f"startswith(name,'{marker}')"}]},
            "watermark": {"field": "modifiedon"},
        }
    )

    def run() -> list[str]:
        result = subprocess.run(
            [sys.executable, "-m", "connector.host.cli", "run", str(config), "query", "--options", options],
            input="{}\n",
            env={**os.environ, "CONNECTOR_HOME": str(tmp_path / "home")},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return sorted(json.loads(line)["payload"]["name"] for line in result.stdout.splitlines())

    assert run() == [f"{marker} {i}" for i in range(3)]
    stamp(live, create(live, [f"{marker} new"]), T0)
    assert run() == [f"{marker} new"]
    assert run() == []
