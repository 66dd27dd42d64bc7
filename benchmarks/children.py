"""Run a measurement in a fresh interpreter: the job goes in as JSON on standard input (so secrets never reach the
command line), and the measurement comes back as the last line of standard output, also JSON.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["run_json_child"]


def run_json_child(
    command: Sequence[str], job: Mapping[str, Any], *, env: Mapping[str, str] | None = None, timeout: float = 1800
) -> dict[str, Any]:
    """Run ``command`` with ``job`` on stdin and return the JSON object it printed last.

    :raises RuntimeError: when the child fails; the message ends with its standard error.
    """
    completed = subprocess.run(
        list(command),
        input=json.dumps(job),
        capture_output=True,
        text=True,
        env=None if env is None else dict(env),
        check=False,
        timeout=timeout,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{command[0]} failed: {completed.stderr.strip()[-2000:]}")
    measured: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return measured
