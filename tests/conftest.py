"""The suite's one place where fixtures are wired: fixture modules shared by several folders are registered here as
plugins, and a folder with fixtures of its own has one ``conftest.py`` (``tests/sandbox/entra``).
Test modules import helpers (functions, classes) from ``tests/support``, never fixtures.
"""

from pathlib import Path

import pytest

pytest_plugins = [
    "tests.support.network_guard",
    "tests.support.sandbox",
    "tests.support.dataverse",
    "tests.support.diagnostics",
    "tests.support.operations",
    "tests.support.interop",
    "tests.support.redis_server",
]


@pytest.fixture(autouse=True)
def isolated_connector_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The reference host's files (token store, its key, form secrets) go to a fresh directory, never to ~/.config."""
    home = tmp_path_factory.mktemp("connector-home")
    monkeypatch.setenv("CONNECTOR_HOME", str(home))
    monkeypatch.delenv("CONNECTOR_TOKEN_KEY", raising=False)
    monkeypatch.delenv("CONNECTOR_TOKEN_STORE", raising=False)  # a developer's own store is never the tests'
    return home
