"""``python -m dataverse_sandbox`` as a user runs it: a subprocess with a fresh state directory, plain requests."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from dataverse_sandbox.cli import main


def test_one_command_serves_whoami_and_stops_on_sigterm(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "dataverse_sandbox", "--state-dir", str(tmp_path / "state")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines: list[str] = []
        while not lines or not lines[-1].startswith("Serving"):
            line = process.stdout.readline()
            assert line, f"the sandbox exited early: {''.join(lines)}"
            lines.append(line)
        banner = "".join(lines)
        fields = {
            name: re.search(pattern, banner)
            for name, pattern in {
                "root": r"API root: (\S+)",
                "resource": r"Resource \(token audience\): (\S+)",
                "token": r"Token endpoint \(v1\): (\S+)",
                "client": r"secret client \[full access\]: (\S+)",
                "secret_file": r"client secret file: (\S+)",
            }.items()
        }
        found = {name: match.group(1) for name, match in fields.items() if match is not None}
        assert found.keys() == fields.keys(), banner
        secret = Path(found["secret_file"]).read_text(encoding="utf-8").strip()
        assert secret not in banner
        token = requests.post(
            found["token"],
            data={
                "grant_type": "client_credentials",
                "client_id": found["client"],
                "client_secret": secret,
                "resource": found["resource"],
            },
            timeout=5,
        ).json()["access_token"]
        who = requests.get(found["root"] + "WhoAmI", headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert who.status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=10)
    assert process.returncode == 0
    assert "Sandbox stopped." in out


@pytest.mark.parametrize(
    "argv",
    [
        ["--token-store", "redis://:canary-5f3a@cache:6379/0"],
        ["--port=canary-5f3a"],
        ["--port", "canary-5f3a"],
        ["canary-5f3a"],
        ["--verbose=canary-5f3a"],
        ["-pcanary-5f3a"],
        ["--client-secret", "-canary-5f3a"],
        ["--canary-5f3a"],  # shaped as an option, defined by none
    ],
)
def test_a_usage_error_shows_no_value_typed(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_status:
        main(argv)
    assert exit_status.value.code == 2
    output = capsys.readouterr()
    assert "canary-5f3a" not in output.out + output.err
    assert "error:" in output.err
