"""The products' boundaries are executable: import contracts (``[tool.importlinter]`` in pyproject.toml) hold on
the tree, and each contract fails when an import crosses it on purpose; the plugin's hook module stays cheap to
import.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO_ROOT

LINT_IMPORTS = [
    sys.executable,
    "-c",
    "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())",
]


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LINT_IMPORTS, "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_every_import_contract_is_kept_by_the_tree() -> None:
    run = _lint_imports(REPO_ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


CROSSINGS = [
    pytest.param(
        "dataverse_sandbox/server.py", "import connector.settings", "The sandbox is an independent", id="sandbox"
    ),
    pytest.param("connector/results.py", "import connector.settings", "The hook contract", id="contract"),
    pytest.param("connector/host/cli.py", "import connector.dataverse.registry", "The reference host", id="host"),
    pytest.param(
        "connector/testing/suite.py", "import connector.host.token_store", "The conformance suite", id="testing"
    ),
    pytest.param(
        "connector/auth/tokens.py", "import connector.host.token_store", "The plugin's internals", id="plugin"
    ),
]


@pytest.mark.parametrize(("module", "crossing", "contract"), CROSSINGS)
def test_an_import_across_a_boundary_breaks_its_contract(
    tmp_path: Path, module: str, crossing: str, contract: str
) -> None:
    for package in ("connector", "dataverse_sandbox"):
        shutil.copytree(REPO_ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    broken = tmp_path / module
    broken.write_text(broken.read_text(encoding="utf-8") + f"\n{crossing}  # deliberately across a boundary\n")

    run = _lint_imports(tmp_path)

    assert run.returncode != 0
    broken_section = run.stdout.split("Broken contracts", 1)[1]
    assert contract in " ".join(broken_section.split())


def test_the_hook_module_imports_only_the_contract_and_pluggy() -> None:
    """A host imports every installed connector at start-up: ``connector.plugin`` must not pull in the plugin's
    internals or its heavy dependencies (they are imported lazily, inside the hook implementations).
    """
    probe = (
        "import sys, json; before = set(sys.modules); import connector.plugin; "
        "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    run = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    loaded = set(json.loads(run.stdout))
    heavy = {"requests", "jsonschema", "cryptography", "jwt", "urllib3", "dataverse_sandbox"}
    assert not {name.split(".")[0] for name in loaded} & heavy
    ours = {name for name in loaded if name.startswith("connector.")}
    assert ours <= {
        "connector.plugin",
        "connector.hookspecs",
        "connector.results",
        "connector.context",
        "connector.secrets",
    }
