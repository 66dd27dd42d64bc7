"""Virtual environments the benchmarks create for third-party packages (peers' clients, the chart library), under a
cache directory, so none of those packages ever becomes a dependency of the project or enters its environment.

Each environment is created once per name and requirement list (a marker file records what was installed) and
reused by later runs. Not for the project's own environment.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import venv
from collections.abc import Sequence
from pathlib import Path

__all__ = ["CACHE_ENV", "VenvError", "cache_dir", "ensure_venv"]

_log = logging.getLogger(__name__)

CACHE_ENV = "D365_BENCHMARK_CACHE"
"""Environment variable naming the cache directory (default: ``~/.cache/dynamics365-ce-connector/benchmarks``)."""


class VenvError(RuntimeError):
    """An environment could not be created or its packages installed (the message says which and why)."""


def cache_dir() -> Path:
    """:returns: where benchmark environments live."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    return Path.home() / ".cache" / "dynamics365-ce-connector" / "benchmarks"


def ensure_venv(name: str, requirements: Sequence[str], root: Path | None = None) -> Path:
    """Create (once) a virtual environment with exactly these requirements.

    :param name: the environment's directory name under the cache directory.
    :param requirements: pip requirement specifiers (pinned versions recommended).
    :param root: the cache directory (default :func:`cache_dir`).
    :returns: the environment's Python interpreter.
    :raises VenvError: when pip cannot install the requirements (its last output lines are in the message).
    """
    home = (root or cache_dir()) / name
    python = home / "bin" / "python"
    marker = home / ".requirements"
    wanted = "\n".join(requirements)
    if python.exists() and marker.exists() and marker.read_text(encoding="utf-8") == wanted:
        return python
    _log.info("creating benchmark environment %s with %s", home, ", ".join(requirements))
    venv.EnvBuilder(with_pip=True, clear=True).create(home)
    completed = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *requirements],
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    if completed.returncode != 0:
        tail = "\n".join((completed.stdout + completed.stderr).strip().splitlines()[-15:])
        raise VenvError(f"pip could not install {', '.join(requirements)} into {home}:\n{tail}")
    marker.write_text(wanted, encoding="utf-8")
    print(f"benchmark environment ready: {home}", file=sys.stderr)
    return python
