"""Shared fixtures: each family lives in its own module and is imported here so every test file can use it."""

from pathlib import Path

import pytest

from tests.interop_fixtures import oidc_interop
from tests.network_guard import loopback_only_network
from tests.sandbox_fixtures import api, make_sandbox, no_access_api, read_only_api, sandbox

__all__ = [
    "api",
    "isolated_connector_home",
    "loopback_only_network",
    "make_sandbox",
    "no_access_api",
    "oidc_interop",
    "read_only_api",
    "sandbox",
]


@pytest.fixture(autouse=True)
def isolated_connector_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The reference host's files (token store, its key, form secrets) go to a fresh directory, never to ~/.config."""
    home = tmp_path_factory.mktemp("connector-home")
    monkeypatch.setenv("CONNECTOR_HOME", str(home))
    monkeypatch.delenv("CONNECTOR_TOKEN_KEY", raising=False)
    return home
