"""The data source is a host: it reaches the connector through the entry point and the hooks (the reference host's
facade and config loader), never through the plugin's internals, as DESIGN.md §3 draws the boundary for hosts.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.paths import REPO_ROOT

FORBIDDEN = ("connector.plugin", "connector.auth", "connector.dataverse", "connector.transport", "connector.settings")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_data_source_imports_no_connector_internals() -> None:
    modules = sorted((REPO_ROOT / "connector" / "spark").glob("*.py"))
    assert modules
    for module in modules:
        crossing = [name for name in imported_modules(module) if name.startswith(FORBIDDEN)]
        assert not crossing, f"{module.name} imports {crossing}"
