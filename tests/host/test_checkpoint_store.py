"""The reference host's checkpoint store: survives processes, keeps other keys, private file; and `connector run`
with change tracking resumes from it.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from connector.context import CheckpointStore
from connector.errors import ConfigError, FailureType
from connector.host.checkpoint_store import FileCheckpointStore
from connector.host.sandbox_config import write_sandbox_config
from dataverse_sandbox.server import Sandbox
from tests.support.sandbox import WebApiSession, bearer_token, unique


def test_round_trip_keeps_other_keys_and_is_private(tmp_path: Path) -> None:
    store = FileCheckpointStore(tmp_path / "home" / "checkpoints.json")
    assert isinstance(store, CheckpointStore)
    assert store.load("a") is None
    store.save("a", "https://x/api/data/v9.2/accounts?$deltatoken=1")
    FileCheckpointStore(store.path).save("b", "delta-b")
    store.save("a", "delta-a2")
    assert (store.load("a"), store.load("b")) == ("delta-a2", "delta-b")
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


def test_connector_run_resumes_change_tracking_from_the_last_run(sandbox: Sandbox, tmp_path: Path) -> None:
    config = write_sandbox_config(sandbox, "client_secret", tmp_path / "d365.json")
    env = {**os.environ, "CONNECTOR_HOME": str(tmp_path / "home")}
    options = json.dumps({"entity_set": "contacts", "select": ["lastname"], "change_tracking": True})

    with WebApiSession(sandbox, bearer_token(sandbox)) as api:
        api.create("contacts", {"lastname": unique("before")})

    def run() -> list[dict[str, Any]]:
        result = subprocess.run(
            [sys.executable, "-m", "connector.host.cli", "run", str(config), "query", "--options", options],
            input="{}\n",
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return [json.loads(line) for line in result.stdout.splitlines()]

    first = run()
    assert first
    with WebApiSession(sandbox, bearer_token(sandbox)) as api:
        added = api.create("contacts", {"lastname": unique("added")})
    second = run()
    assert [(line["status"], line["properties"]["id"]) for line in second] == [("success", added)]
    assert run() == []
    assert FileCheckpointStore(tmp_path / "home" / "checkpoints.json").path.exists()


DAMAGED = {
    "garbled": b"{not json",
    "truncated": b'{"accounts": "https://x/api/data/v9.2/accounts?$delta',
    "not an object": b'["delta"]',
    "not text": b"\xff\xfe\x00garbage",
}


@pytest.mark.parametrize("content", DAMAGED.values(), ids=DAMAGED.keys())
def test_a_damaged_file_is_a_config_error_naming_it_and_is_never_overwritten(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "checkpoints.json"
    path.write_bytes(content)
    store = FileCheckpointStore(path)

    with pytest.raises(ConfigError) as loading:
        store.load("a")
    with pytest.raises(ConfigError) as saving:
        store.save("a", "delta")
    for caught in (loading, saving):
        assert caught.value.failure_type is FailureType.CONFIG
        assert str(path) in caught.value.user_message
        assert "Remove it" in caught.value.user_message
    assert path.read_bytes() == content


def test_a_directory_where_the_file_should_be_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints.json"
    path.mkdir()
    with pytest.raises(ConfigError, match="cannot be read"):
        FileCheckpointStore(path).load("a")


def test_connector_run_with_a_garbled_checkpoint_file_says_which_file_and_keeps_it(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    config = write_sandbox_config(sandbox, "client_secret", tmp_path / "d365.json")
    home = tmp_path / "home"
    home.mkdir()
    (home / "checkpoints.json").write_text("{garbled", encoding="utf-8")
    options = json.dumps({"entity_set": "contacts", "select": ["lastname"], "change_tracking": True})

    result = subprocess.run(
        [sys.executable, "-m", "connector.host.cli", "run", str(config), "query", "--options", options],
        input="{}\n",
        env={**os.environ, "CONNECTOR_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert "JSONDecodeError" not in output
    assert str(home / "checkpoints.json") in output
    assert (home / "checkpoints.json").read_text(encoding="utf-8") == "{garbled"
