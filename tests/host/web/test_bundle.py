"""The committed page bundle is what its sources build to: ``npm ci && npm run build`` from the pinned lock file, in a
fresh folder, gives the same bytes as ``connector/host/web/static``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.paths import REPO_ROOT

WEB = REPO_ROOT / "connector" / "host" / "web"
BUNDLE = ("app.js", "app.css")


def test_the_committed_bundle_is_rebuilt_byte_for_byte(tmp_path: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is missing: scripts/test.sh needs node and npm")
    source = tmp_path / "frontend"
    shutil.copytree(WEB / "frontend", source, ignore=shutil.ignore_patterns("node_modules"))
    out = tmp_path / "static"
    env = {**os.environ, "CONNECTOR_UI_OUTDIR": str(out)}
    for command in ([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], [npm, "run", "build", "--silent"]):
        done = subprocess.run(command, cwd=source, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
    assert sorted(path.name for path in out.iterdir()) == sorted(BUNDLE)
    for name in BUNDLE:
        assert (out / name).read_bytes() == (WEB / "static" / name).read_bytes(), f"{name}: run npm run build"
