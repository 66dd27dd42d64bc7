"""The reference host's loader and facade: discovery through entry points, coexistence of two connectors,
allow/block lists, check_pending, unknown ids and redacted tracing.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pluggy
import pytest

from connector.context import RuntimeContext
from connector.errors import ConfigError, ConnectorError, UnknownConnectorError
from connector.hookspecs import hookimpl
from connector.host.facade import ConnectorHost
from connector.host.loader import ALLOW_ENV, BLOCK_ENV, get_plugin_manager, installed_connectors
from connector.results import BrowseRequest, BrowseResult, Connection
from tests.support.examples import CANARY_SECRET, CLIENT_SECRET_SETTINGS

DUMMY_PLUGIN = textwrap.dedent(
    """
    from dataclasses import dataclass

    from connector.hookspecs import hookimpl
    from connector.results import BrowseResult, Connection, ObjectType

    @dataclass(frozen=True)
    class DummySettings:
        parts: tuple[str, ...]

    @hookimpl
    def connect(connector_id, settings, context):
        if connector_id != "dummy":
            return None
        return Connection("dummy", DummySettings(tuple(sorted(settings))), context)

    @hookimpl
    def browse(connector_id, connection, request):
        if connector_id != "dummy":
            return None
        return BrowseResult(object_types=(ObjectType("widgets", "Widgets"),))
    """
)


@pytest.fixture
def dummy_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A second connector installed as a real distribution with its own entry point (a dist-info on sys.path)."""
    package = tmp_path / "dummy_connector"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "plugin.py").write_text(DUMMY_PLUGIN)
    (package / "manifest.json").write_text(json.dumps({"id": "dummy", "name": "Dummy", "version": "1.2.3"}))
    dist_info = tmp_path / "dummy_connector-1.2.3.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: dummy-connector\nVersion: 1.2.3\n")
    (dist_info / "entry_points.txt").write_text("[integration_runtime.connectors]\ndummy = dummy_connector.plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield tmp_path
    sys.modules.pop("dummy_connector.plugin", None)
    sys.modules.pop("dummy_connector", None)


def test_two_connectors_coexist_and_each_hook_reaches_its_own(dummy_distribution: Path) -> None:
    host = ConnectorHost(get_plugin_manager(environ={}))
    assert [c.id for c in host.connectors()] == ["dummy", "dynamics365-ce"]
    ours = host.connect("dynamics365-ce", CLIENT_SECRET_SETTINGS, RuntimeContext())
    theirs = host.connect("dummy", {"anything": 1}, RuntimeContext())
    assert (ours.connector_id, theirs.connector_id) == ("dynamics365-ce", "dummy")
    assert host.browse("dummy", theirs, BrowseRequest("list")).object_types[0].name == "widgets"
    # Ours answers for its own id (an unknown operation is refused before any request); the dummy has no such hook.
    with pytest.raises(ConfigError, match="no_such_operation"):
        list(host.execute_operation("dynamics365-ce", ours, "no_such_operation", {}, [{}]))
    with pytest.raises(ConnectorError, match="does not implement the execute_operation hook"):
        host.execute_operation("dummy", theirs, "get", {}, [{}])


def test_unknown_id_is_a_clear_error(dummy_distribution: Path) -> None:
    host = ConnectorHost(get_plugin_manager(environ={}))
    with pytest.raises(UnknownConnectorError) as caught:
        host.connect("dynamics-356", {}, RuntimeContext())
    assert "'dynamics-356'" in caught.value.user_message
    assert "dummy, dynamics365-ce" in caught.value.user_message


def test_listing_shows_distribution_version_hooks_and_manifest(dummy_distribution: Path) -> None:
    listed = {c.id: c for c in installed_connectors(get_plugin_manager(environ={}))}
    dummy = listed["dummy"]
    assert (dummy.distribution, dummy.version, dummy.module) == ("dummy-connector", "1.2.3", "dummy_connector.plugin")
    assert dummy.hooks == ("connect", "browse")
    assert dummy.manifest == {"id": "dummy", "name": "Dummy", "version": "1.2.3"}
    ours = listed["dynamics365-ce"]
    assert ours.distribution == "dynamics365-ce-connector"
    assert ours.manifest is not None
    assert ours.manifest["schemas"]["connection"] == "schemas/connection.schema.json"


def test_allow_list_and_block_list(dummy_distribution: Path) -> None:
    only_dummy = get_plugin_manager(environ={ALLOW_ENV: " dummy "})
    assert [c.id for c in installed_connectors(only_dummy)] == ["dummy"]
    blocked = get_plugin_manager(environ={BLOCK_ENV: "dummy,other"})
    assert [c.id for c in installed_connectors(blocked)] == ["dynamics365-ce"]
    both = get_plugin_manager(environ={ALLOW_ENV: "dummy,dynamics365-ce", BLOCK_ENV: "dynamics365-ce"})
    assert [c.id for c in installed_connectors(both)] == ["dummy"]


def test_a_misspelt_hook_fails_loudly() -> None:
    misspelt = ModuleType("misspelt_connector")

    @hookimpl
    def conect(connector_id: str) -> None:  # the typo this check exists for
        return None

    misspelt.conect = conect  # type: ignore[attr-defined]
    with pytest.raises(pluggy.PluginValidationError):
        get_plugin_manager(extra_plugins={"misspelt": misspelt}, environ={})


@dataclass(frozen=True)
class _SilentSettings:
    """The settings of a connector that needs none: a connection's settings are the connector's own type."""


class _SilentConnector:
    """A buggy connector that answers None even for its own id."""

    @hookimpl
    def browse(self, connector_id: str, connection: Connection, request: BrowseRequest) -> BrowseResult | None:
        return None


def test_a_connector_that_ignores_its_own_id_is_reported() -> None:
    host = ConnectorHost(get_plugin_manager(extra_plugins={"silent": _SilentConnector()}, environ={}))
    connection = Connection("silent", _SilentSettings(), RuntimeContext())
    with pytest.raises(ConnectorError, match="returned nothing for its own id"):
        host.browse("silent", connection, BrowseRequest("list"))


def test_tracing_logs_every_hook_call_with_secrets_redacted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    host = ConnectorHost(get_plugin_manager(environ={}), trace=True)
    connection = host.connect("dynamics365-ce", CLIENT_SECRET_SETTINGS, RuntimeContext())
    with pytest.raises(ConfigError):
        list(host.execute_operation("dynamics365-ce", connection, "no_such_operation", {}, [{}]))
    host.close()
    messages = [record.getMessage() for record in caplog.records]
    assert any(m.startswith("hook connect(connector_id='dynamics365-ce'") for m in messages)
    assert any("hook connect returned Connection" in m for m in messages)
    assert any("hook execute_operation raised ConfigError" in m for m in messages)
    assert any("'client_secret': '***'" in m for m in messages)
    assert all(CANARY_SECRET not in m for m in messages)


def test_tracing_switch_from_environment(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    monkeypatch.setenv("INTEGRATION_RUNTIME_TRACE", "1")
    host = ConnectorHost(get_plugin_manager(environ={}))
    host.connect("dynamics365-ce", CLIENT_SECRET_SETTINGS, RuntimeContext())
    host.close()
    assert any("hook connect(" in record.getMessage() for record in caplog.records)
