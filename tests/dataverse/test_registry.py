"""The operation table, the hooks' delegation, and the operation schemas kept in step with the manifest."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import responses
from jsonschema import Draft202012Validator

from connector import plugin
from connector.auth.tokens import TokenState, token_source_of
from connector.dataverse import registry
from connector.dataverse.operations.delete import DeleteOptions
from connector.dataverse.registry import OPERATIONS, WebApiState, client_of, run_operation
from connector.errors import ConfigError, ConnectorError
from connector.live import LiveConnection
from connector.resources import load_manifest, load_schema
from connector.results import Connection, OperationResult, ResultStatus
from connector.settings import ConnectionSettings
from tests.support.dataverse import API, run
from tests.support.paths import REPO_ROOT

COMMON = (
    "custom_query_parameters",
    "return_application_error_responses",
    "caller_object_id",
    "caller_id",
    "solution_unique_name",
    "tag",
    "custom_headers",
)


class Untouchable:
    """A document stream that fails the test when it is read."""

    def __iter__(self) -> Iterator[Any]:
        raise AssertionError("a document was read before the options were checked")


def untouchable() -> Untouchable:
    return Untouchable()


def test_an_unknown_operation_is_a_config_error_before_any_document(connection: Connection) -> None:
    with pytest.raises(ConfigError) as caught:
        run_operation(connection, "merge", {}, untouchable())
    assert caught.value.fields == ["operation"]
    assert "'merge' is not an operation" in caught.value.user_message


def test_bad_options_are_a_config_error_before_any_document(connection: Connection) -> None:
    with pytest.raises(ConfigError) as caught:
        plugin.execute_operation("dynamics365-ce", connection, "query", {"page_size": 0}, untouchable())
    assert set(caught.value.fields) == {"options.entity_set", "options.page_size"}


def test_malformed_fetchxml_is_a_config_error(connection: Connection) -> None:
    with pytest.raises(ConfigError) as caught:
        run_operation(connection, "query", {"entity_set": "a", "mode": "fetchxml", "fetch_xml": "<fetch>"}, [])
    assert caught.value.fields == ["options.fetch_xml"]


def test_static_filter_values_are_checked_up_front(connection: Connection) -> None:
    condition = {"field": "accountid", "operator": "eq", "value": "x", "type": "guid"}
    with pytest.raises(ConfigError) as caught:
        run_operation(connection, "query", {"entity_set": "a", "filter": {"conditions": [condition]}}, [])
    assert caught.value.fields == ["options.filter.conditions[0].value"]


def test_the_hooks_delegate_and_ignore_foreign_ids(mocked: responses.RequestsMock, connection: Connection) -> None:
    assert plugin.execute_operation("other", connection, "get", {}, untouchable()) is None
    mocked.add("GET", f"{API}WhoAmI()", json={"UserId": "u"})
    results = plugin.execute_operation(
        "dynamics365-ce", connection, "execute", {"name": "WhoAmI", "kind": "function"}, [{}]
    )
    assert results is not None
    assert [result.payload for result in results] == [{"UserId": "u"}]


def test_a_defect_fails_one_document_and_the_run_goes_on(
    monkeypatch: pytest.MonkeyPatch, mocked: responses.RequestsMock, connection: Connection
) -> None:
    calls: list[int] = []

    def flaky(context: Any, index: int, document: Any) -> OperationResult:
        calls.append(index)
        if index == 0:
            raise KeyError("bug")
        return OperationResult(ResultStatus.SUCCESS, input_index=index)

    monkeypatch.setitem(
        registry.OPERATIONS,
        "delete",
        registry.Operation("delete", DeleteOptions.from_values, registry._per_document(flaky)),
    )
    results = run(connection, "delete", {"entity_set": "accounts"}, [{}, {}])
    assert [result.status for result in results] == [ResultStatus.FAILED, ResultStatus.SUCCESS]
    assert results[0].error is not None
    assert "KeyError" in results[0].error.message


def test_the_plugins_live_state_is_what_operations_and_authorization_read(
    connection: Connection[ConnectionSettings],
) -> None:
    state = LiveConnection(connection.settings, connection.context)
    # Annotated so that mypy holds LiveConnection to the protocols the plugin narrows Connection.state with.
    web_api: WebApiState = state
    tokens: TokenState = state
    assert isinstance(web_api, WebApiState)
    assert isinstance(tokens, TokenState)
    live = Connection("dynamics365-ce", connection.settings, connection.context, state=state)
    assert client_of(live) is state.dataverse
    assert token_source_of(live) is state.token_source


def test_a_foreign_connection_state_is_refused(connection: Connection) -> None:
    foreign = Connection("dynamics365-ce", connection.settings, connection.context, state=object())
    with pytest.raises(ConnectorError):
        client_of(foreign)


def test_the_manifest_lists_exactly_the_operations() -> None:
    manifest = load_manifest()
    assert [operation["name"] for operation in manifest["operations"]] == list(OPERATIONS)
    for operation in manifest["operations"]:
        assert operation["options_schema"] == f"schemas/operations/{operation['name']}.schema.json"
    assert "browse" in manifest["capabilities"]


@pytest.mark.parametrize("name", list(OPERATIONS))
def test_operation_schemas_are_valid_and_their_examples_pass(name: str) -> None:
    schema = load_schema(f"operations/{name}")
    Draft202012Validator.check_schema(schema)
    assert schema["examples"]
    for example in schema["examples"]:
        Draft202012Validator(schema).validate(example)
    for common in COMMON:
        assert json.dumps(schema["properties"][common], sort_keys=True) == json.dumps(
            load_schema("operations/get")["properties"][common], sort_keys=True
        ), f"{name}.{common} differs from get's"


def operations_doc_sections() -> dict[str, str]:
    text = (REPO_ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    sections = re.split(r"^## ", text, flags=re.MULTILINE)
    return {section.split("\n", 1)[0].strip(): section for section in sections[1:]}


def test_every_option_is_documented() -> None:
    text = "\n".join(operations_doc_sections().values())
    missing = [
        f"{name}.{option}"
        for name in OPERATIONS
        for option in load_schema(f"operations/{name}")["properties"]
        if f"`{option}`" not in text
    ]
    assert not missing


@pytest.mark.parametrize(
    ("heading", "operation"),
    [
        ("Get", "get"),
        ("Query", "query"),
        ("Create", "create"),
        ("Update", "update"),
        ("Upsert", "upsert"),
        ("Delete", "delete"),
        ("Bulk delete", "bulk_delete"),
        ("Upload file", "upload_file"),
        ("Download file", "download_file"),
        ("Execute", "execute"),
        ("Associate and disassociate", "associate"),
    ],
)
def test_the_documented_examples_are_valid_options(heading: str, operation: str) -> None:
    blocks = re.findall(r"```json\n(.*?)```", operations_doc_sections()[heading], flags=re.DOTALL)
    assert blocks
    for block in blocks:
        Draft202012Validator(load_schema(f"operations/{operation}")).validate(json.loads(block))
