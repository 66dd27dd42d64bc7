"""The conformance suite: pytest tests any host can run against an installed connector.

Adopt it with a subclass naming the connector id and two example settings::

    from connector.testing import ConnectorConformance

    class TestMyConnector(ConnectorConformance):
        connector_id = "dynamics365-ce"
        valid_settings = {...}                    # connects without network I/O
        invalid_settings = {...}                  # several bad fields at once
        invalid_fields = {"connection.base_url", "oauth2.client_id"}
        bad_credentials_settings = {...}          # optional: settings the service refuses

        @pytest.fixture
        def live_connection(self, host): ...      # optional: a connection to a running service
        @pytest.fixture
        def operation_samples(self, live_connection): ...  # its options and documents for every operation

Test Connection is run with bad credentials: ``bad_credentials_settings`` when given, else ``valid_settings`` with
every ``writeOnly`` value replaced by a canary that must appear nowhere in the report. To build them from a server
started by a fixture, override the ``bad_credentials`` fixture instead. Unless ``allow_network`` is set, name
resolution during that test answers loopback names only, so settings that name a real service never leave the
machine (the report then says the name could not be resolved, which is still a report).

Operations are checked by the :class:`~connector.testing.operations.OperationsConformance` part of the suite: offline,
and against a live service when the subclass provides a connection and samples.

The suite depends only on the hook contract, the entry points, the manifest and the schemas: it loads the connector
exactly as a host does and never imports the connector's own modules.
"""

from __future__ import annotations

import importlib.metadata
import socket
from collections.abc import Collection, Iterator, Mapping
from typing import Any, ClassVar, Final

import pytest
from jsonschema import Draft202012Validator

from connector import hookspecs
from connector.context import NetworkTimeouts, RuntimeContext
from connector.errors import ConfigError
from connector.host.facade import ConnectorHost
from connector.host.loader import HOOK_NAMES, InstalledConnector, get_plugin_manager, read_package_json
from connector.host.redaction import SECRET_KEY_PATTERN, secret_values, write_only_names
from connector.resources import load_schema
from connector.results import BrowseRequest, CheckStatus, Connection, TestReport
from connector.testing.operations import OperationSample, OperationsConformance

__all__ = ["ConnectorConformance", "OperationSample", "iter_properties", "replace_write_only"]

FOREIGN_ID = "conformance-foreign-connector"
CANARY_PREFIX: Final = "conformance-canary-"
"""Replacement values of ``writeOnly`` fields start with this; none may appear in a report."""
_LOOPBACK: Final = frozenset({"localhost", "::1"})


def iter_properties(schema: Any, path: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Walk every property declared anywhere in a schema (nested objects, ``$defs``, conditionals).

    :param schema: a JSON Schema.
    :param path: the path of ``schema`` itself.
    :returns: ``(path, property schema)`` pairs.
    """
    if isinstance(schema, Mapping):
        for name, subschema in (schema.get("properties") or {}).items():
            if isinstance(subschema, Mapping):
                yield f"{path}.{name}" if path else name, subschema
        for key, value in schema.items():
            child = path if key == "properties" else f"{path}/{key}" if path else key
            if key == "properties" and isinstance(value, Mapping):
                for name, subschema in value.items():
                    yield from iter_properties(subschema, f"{path}.{name}" if path else name)
            elif key not in {"const", "default", "examples", "enum"}:
                yield from iter_properties(value, child)
    elif isinstance(schema, list):
        for index, item in enumerate(schema):
            yield from iter_properties(item, f"{path}[{index}]")


def replace_write_only(value: Any, names: Collection[str], path: str = "") -> Any:
    """Copy settings with every non-empty string under a ``writeOnly`` property name replaced by a canary.

    :param value: the settings (nested dicts and lists).
    :param names: the ``writeOnly`` property names of the connector's schemas.
    :param path: the path of ``value``, which goes into each canary so that every one is distinct.
    :returns: the copy; each canary is :data:`CANARY_PREFIX` followed by the field's path.
    """
    if isinstance(value, Mapping):
        copy: dict[str, Any] = {}
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            secret = key in names and isinstance(item, str) and item
            copy[key] = f"{CANARY_PREFIX}{where}" if secret else replace_write_only(item, names, where)
        return copy
    if isinstance(value, list):
        return [replace_write_only(item, names, f"{path}[{index}]") for index, item in enumerate(value)]
    return value


class ConnectorConformance(OperationsConformance):
    """Subclass this with ``connector_id``, ``valid_settings``, ``invalid_settings`` and ``invalid_fields``; optionally
    ``bad_credentials_settings`` and ``allow_network``.
    """

    connector_id: ClassVar[str]
    valid_settings: ClassVar[Mapping[str, Any]]
    invalid_settings: ClassVar[Mapping[str, Any]]
    invalid_fields: ClassVar[Collection[str]]
    bad_credentials_settings: ClassVar[Mapping[str, Any] | None] = None
    """Settings whose credentials the service refuses; by default ``valid_settings`` with every ``writeOnly`` value
    replaced."""
    allow_network: ClassVar[bool] = False
    """Let the bad-credentials Test Connection resolve names other than loopback ones."""

    # -- fixtures ---------------------------------------------------------------------------------------------

    @pytest.fixture(scope="class")
    @classmethod
    def host(cls) -> Iterator[ConnectorHost]:
        """A host that loaded every installed connector through the entry points."""
        host = ConnectorHost(get_plugin_manager())
        yield host
        host.close()

    @pytest.fixture(scope="class")
    @classmethod
    def installed(cls, host: ConnectorHost) -> InstalledConnector:
        """The connector under test, as the host sees it."""
        return host.connector(cls.connector_id)

    @pytest.fixture(scope="class")
    @classmethod
    def manifest(cls, installed: InstalledConnector) -> Mapping[str, Any]:
        """The connector's manifest."""
        assert installed.manifest is not None, "the connector's package ships no manifest.json"
        return installed.manifest

    @pytest.fixture(scope="class")
    @classmethod
    def schemas(cls, host: ConnectorHost, manifest: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
        """Every form and operation schema the manifest names, read from the installed package."""
        plugin = host.manager.get_plugin(cls.connector_id)
        paths = dict(manifest["schemas"])
        paths.update({f"operations/{op['name']}": op["options_schema"] for op in manifest["operations"]})
        loaded: dict[str, Mapping[str, Any]] = {}
        for name, relative in paths.items():
            schema = read_package_json(plugin, relative)
            assert schema is not None, f"{relative} is named by the manifest but not shipped in the package"
            loaded[name] = schema
        return loaded

    @pytest.fixture
    def connection(self, host: ConnectorHost) -> Connection:
        """A connection made from ``valid_settings``."""
        return host.connect(self.connector_id, self.valid_settings, RuntimeContext())

    @pytest.fixture
    def write_only(self, schemas: Mapping[str, Mapping[str, Any]]) -> set[str]:
        """The names of the settings' ``writeOnly`` properties."""
        return set().union(*(write_only_names(schemas[part]) for part in ("connection", "oauth2")))

    @pytest.fixture
    def bad_credentials(self, write_only: set[str]) -> Mapping[str, Any]:
        """Settings the service should refuse; override to build them from a server a fixture started."""
        if self.bad_credentials_settings is not None:
            return self.bad_credentials_settings
        replaced: Mapping[str, Any] = replace_write_only(self.valid_settings, write_only)
        return replaced

    @pytest.fixture
    def loopback_names_only(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Unless ``allow_network``: names other than loopback ones fail to resolve, as unknown hosts do."""
        if self.allow_network:
            return
        real = socket.getaddrinfo

        def resolve(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            name = (host.decode() if isinstance(host, bytes) else str(host or "")).lower()
            if name in _LOOPBACK or name.startswith("127."):
                return real(host, port, *args, **kwargs)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

        monkeypatch.setattr(socket, "getaddrinfo", resolve)

    # -- discovery and packaging ------------------------------------------------------------------------------

    def test_entry_point_name_equals_manifest_id(
        self, installed: InstalledConnector, manifest: Mapping[str, Any]
    ) -> None:
        assert installed.distribution is not None, "the connector must be installed through an entry point"
        assert manifest["id"] == installed.id == self.connector_id
        assert manifest["entry_point"]["group"] == hookspecs.ENTRY_POINT_GROUP
        assert manifest["entry_point"]["module"] == installed.module

    def test_manifest_is_valid(self, manifest: Mapping[str, Any]) -> None:
        Draft202012Validator(load_schema("manifest")).validate(manifest)

    def test_manifest_version_equals_distribution_version(
        self, installed: InstalledConnector, manifest: Mapping[str, Any]
    ) -> None:
        assert installed.distribution is not None
        assert manifest["version"] == importlib.metadata.version(installed.distribution) == installed.version

    def test_implements_every_hook_of_the_contract(
        self, installed: InstalledConnector, manifest: Mapping[str, Any]
    ) -> None:
        assert set(installed.hooks) == set(HOOK_NAMES)
        assert manifest["hook_contract_version"] == hookspecs.HOOK_CONTRACT_VERSION

    def test_check_pending_passes(self, host: ConnectorHost) -> None:
        host.manager.check_pending()

    # -- schemas ----------------------------------------------------------------------------------------------

    def test_schemas_are_valid_2020_12(self, schemas: Mapping[str, Mapping[str, Any]]) -> None:
        for name, schema in schemas.items():
            assert schema.get("$schema") == "https://json-schema.org/draft/2020-12/schema", name
            Draft202012Validator.check_schema(schema)

    def test_every_property_has_title_and_description(self, schemas: Mapping[str, Mapping[str, Any]]) -> None:
        untitled = [
            f"{name}:{path}"
            for name, schema in schemas.items()
            for path, prop in iter_properties(schema)
            if not _is_conditional_only(prop) and not (prop.get("title") and prop.get("description"))
        ]
        assert not untitled, f"properties without title or description: {untitled}"

    def test_secrets_are_write_only(self, schemas: Mapping[str, Mapping[str, Any]]) -> None:
        exposed = [
            f"{name}:{path}"
            for name, schema in schemas.items()
            for path, prop in iter_properties(schema)
            if SECRET_KEY_PATTERN.search(path.rsplit(".", 1)[-1])
            and not _is_conditional_only(prop)
            and prop.get("type") == "string"
            and not prop.get("writeOnly")
        ]
        assert not exposed, f"secret-looking properties without writeOnly: {exposed}"

    def test_defaults_and_examples_validate(self, schemas: Mapping[str, Mapping[str, Any]]) -> None:
        wrong = []
        for name, schema in schemas.items():
            for path, prop in iter_properties(schema):
                if _is_conditional_only(prop):
                    continue
                validator = Draft202012Validator({**prop, "$defs": schema.get("$defs", {})})
                samples = ([prop["default"]] if "default" in prop else []) + list(prop.get("examples", []))
                wrong += [f"{name}:{path} = {sample!r}" for sample in samples if not validator.is_valid(sample)]
        assert not wrong, f"defaults or examples invalid against their own property: {wrong}"

    def test_example_settings_are_valid_against_the_schemas(self, schemas: Mapping[str, Mapping[str, Any]]) -> None:
        for part in ("connection", "oauth2"):
            Draft202012Validator(schemas[part]).validate(self.valid_settings[part])

    # -- dispatch etiquette -----------------------------------------------------------------------------------

    def test_every_hook_returns_none_for_a_foreign_id(self, host: ConnectorHost, connection: Connection) -> None:
        plugin = host.manager.get_plugin(self.connector_id)
        calls: dict[str, dict[str, Any]] = {
            "connect": {"settings": self.valid_settings, "context": RuntimeContext()},
            "authorize": {"connection": connection, "step": "token"},
            "test": {"connection": connection},
            "execute_operation": {"connection": connection, "operation": "get", "options": {}, "documents": [{}]},
            "browse": {"connection": connection, "request": BrowseRequest("list")},
        }
        for hook, kwargs in calls.items():
            assert getattr(plugin, hook)(connector_id=FOREIGN_ID, **kwargs) is None, hook

    # -- configuration errors ---------------------------------------------------------------------------------

    def test_valid_settings_connect(self, connection: Connection) -> None:
        assert connection.connector_id == self.connector_id

    def test_config_error_lists_every_bad_field(self, host: ConnectorHost) -> None:
        with pytest.raises(ConfigError) as caught:
            host.connect(self.connector_id, self.invalid_settings, RuntimeContext())
        assert set(self.invalid_fields) <= set(caught.value.fields)
        for field in self.invalid_fields:
            assert field in caught.value.user_message

    @pytest.mark.parametrize("bad", [None, [], "settings", {"connection": 5, "oauth2": []}])
    def test_malformed_settings_give_a_config_error(self, host: ConnectorHost, bad: Any) -> None:
        with pytest.raises(ConfigError):
            host.connect(self.connector_id, bad, RuntimeContext())

    # -- Test Connection ------------------------------------------------------------------------------------

    @pytest.mark.usefixtures("loopback_names_only")
    def test_test_returns_a_report_and_never_raises_for_bad_credentials(
        self, host: ConnectorHost, bad_credentials: Mapping[str, Any], write_only: set[str]
    ) -> None:
        context = RuntimeContext(network_timeouts=NetworkTimeouts(connect_ms=10_000, read_ms=10_000))
        connection = host.connect(self.connector_id, bad_credentials, context)
        report = host.test(self.connector_id, connection)
        assert isinstance(report, TestReport)
        assert report.connector_id == self.connector_id
        assert report.checks, "a report must hold at least one check"
        assert not report.ok, "bad credentials must fail a check"
        failed = [check for check in report.checks if check.status is CheckStatus.FAILED]
        for check in failed:
            assert check.field, f"the failed check {check.name!r} names no field to fix"
            assert check.remediation, f"the failed check {check.name!r} says nothing about what to do"
        shown = repr(report)
        for secret in secret_values(bad_credentials, write_only) | secret_values(self.valid_settings, write_only):
            assert secret not in shown, "a secret appears in the Test Connection report"
        assert CANARY_PREFIX not in shown, "a replaced secret appears in the Test Connection report"

    def test_connection_repr_shows_no_secret(self, connection: Connection) -> None:
        for secret in secret_values(self.valid_settings):
            assert secret not in repr(connection)
            assert secret not in str(connection.settings)


def _is_conditional_only(prop: Mapping[str, Any]) -> bool:
    # Properties inside if/then/else/contains only restate a constraint on a field declared elsewhere.
    restating = {"const", "minLength", "contains", "type", "enum", "required", "pattern"}
    return "title" not in prop and set(prop) <= restating
