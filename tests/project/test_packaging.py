"""A non-editable install in a fresh virtual environment: the host's listing shows the connector with its version,
manifest and schemas, loaded from site-packages and not from the source tree.
"""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT


@pytest.fixture(scope="module")
def fresh_install(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment with the project pip-installed (not editable), without the system's packages."""
    home = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(home)
    python = home / "bin" / "python"
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(ROOT)],
        check=True,
        timeout=600,
    )
    return home


def run_in(home: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": f"{home / 'bin'}:/usr/bin:/bin", "HOME": str(cwd)}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_listing_shows_the_installed_connector(fresh_install: Path, tmp_path: Path) -> None:
    result = run_in(fresh_install, str(fresh_install / "bin" / "connector"), "list", "--format", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (listed,) = json.loads(result.stdout)
    assert listed["id"] == "dynamics365-ce"
    assert listed["distribution"] == "dynamics365-ce-connector"
    assert listed["version"] == listed["manifest"]["version"]
    assert listed["module"] == "connector.plugin"
    assert listed["manifest"]["schemas"] == {
        "connection": "schemas/connection.schema.json",
        "oauth2": "schemas/oauth2.schema.json",
    }
    assert listed["manifest"]["ui_schemas"] == {
        "connection": "schemas/connection.ui.json",
        "oauth2": "schemas/oauth2.ui.json",
    }


def test_package_data_loads_from_site_packages(fresh_install: Path, tmp_path: Path) -> None:
    probe = (
        "import json, connector, connector.resources as r; "
        "print(json.dumps({'file': connector.__file__, 'title': r.load_schema('connection')['title'], "
        "'manifest': r.load_manifest()['id'], 'oauth2': len(r.load_schema('oauth2')['oneOf']), "
        "'ui': len(r.load_json_resource('schemas/oauth2.ui.json')['oneOf'])}))"
    )
    result = run_in(fresh_install, str(fresh_install / "bin" / "python"), "-c", probe, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert Path(loaded["file"]).is_relative_to(fresh_install)
    assert not Path(loaded["file"]).is_relative_to(ROOT)
    assert loaded["title"] == "Connection"
    assert loaded["manifest"] == "dynamics365-ce"
    methods = len(json.loads((ROOT / "schemas" / "oauth2.schema.json").read_text(encoding="utf-8"))["oneOf"])
    assert loaded["oauth2"] == methods  # every sign-in method
    assert loaded["ui"] == methods  # the UI schema beside it ships too


def test_about_runs_from_the_console_script(fresh_install: Path, tmp_path: Path) -> None:
    result = run_in(fresh_install, str(fresh_install / "bin" / "connector"), "about", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "dynamics365-ce" in result.stdout
    assert "oauth2.client_secret" in result.stdout
    assert sys.executable  # the test process's own interpreter is not the one used above
