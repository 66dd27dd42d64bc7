"""`connector demo`, the README's main job, end to end in a subprocess: every step reported, exit 0, quickly, no
secret printed, nothing left running.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

STEPS = [
    "Sandbox",
    "Entry point",
    "Config",
    "Client credentials",
    "Authorization code",
    "Test Connection",
    "Browse",
    "Create ",
    "Create (bulk)",
    "Get",
    "Query",
    "Update with ETag",
    "Upsert by alt. key",
    "Execute action",
    "Delete",
    "Done",
]


def test_demo_runs_every_step_and_exits_0(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "connector.host.cli", "demo", "--state-dir", str(tmp_path / "state")],
        env={**os.environ, "CONNECTOR_HOME": str(tmp_path / "home"), "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("[")]
    titles = [line[9:31].strip() + (" " if line[9:31].strip() == "Create" else "") for line in lines]
    assert [title.strip() for title in titles] == [step.strip() for step in STEPS]
    assert "Test Connection        passed" in result.stdout
    assert "500 of 500 created, 0 failed" in result.stdout
    assert "created, then updated" in result.stdout
    assert "changed_since_read" in result.stdout
    assert "Traceback" not in result.stderr
    # Its files lived in a temporary directory that is gone. (How long it takes is in its own output.)
    assert not list(tmp_path.glob("connector-demo-*"))
    # No secret: none of the sandbox's generated secrets, passwords or keys, and no token, reaches the output.
    state = tmp_path / "state" / "entra"
    secret_files = [p for p in state.iterdir() if p.suffix in {".secret", ".password", ".txt"}]
    secret_files += list(state.glob("*.key.pem"))
    assert len(secret_files) >= 6, sorted(p.name for p in state.iterdir())
    secrets = [p.read_text().strip() for p in secret_files]
    for secret in secrets:
        assert secret not in result.stdout + result.stderr
    assert "eyJ" not in result.stdout + result.stderr  # no JWT (access token, assertion)
