"""Operation options: one ConfigError listing every bad option, before any document is read; parsed once into a
frozen object per operation whose defaults are the schema's.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from connector.dataverse.operations.delete import DeleteOptions
from connector.dataverse.operations.options import (
    CommonOptions,
    OperationOptions,
    parse_options,
    validate_options,
)
from connector.dataverse.operations.query_options import QueryOptions, SortKey
from connector.dataverse.operations.write_options import CreateOptions
from connector.dataverse.registry import OPERATIONS
from connector.errors import ConfigError
from tests.support.paths import REPO_ROOT

REQUIRED: Mapping[str, Mapping[str, Any]] = {
    "get": {"entity_set": "accounts"},
    "query": {"entity_set": "accounts"},
    "create": {"entity_set": "accounts"},
    "update": {"entity_set": "accounts"},
    "upsert": {"entity_set": "accounts"},
    "delete": {"entity_set": "accounts"},
    "bulk_delete": {"entity_set": "accounts", "criteria": {"conditions": [{"field": "name", "operator": "null"}]}},
    "upload_file": {"entity_set": "accounts", "column": "sample_contract"},
    "download_file": {"entity_set": "accounts", "column": "sample_contract"},
    "execute": {"name": "WhoAmI"},
    "associate": {"entity_set": "accounts", "relationship": "contact_customer_accounts"},
    "disassociate": {"entity_set": "accounts", "relationship": "contact_customer_accounts"},
}
"""The fewest options each operation accepts."""

RENAMED: Mapping[str, Callable[[Any], Any]] = {
    "custom_query_parameters": lambda parsed: [
        {"name": name, "value": value} for name, value in parsed.common.query_parameters
    ],
    "return_application_error_responses": lambda parsed: parsed.common.return_application_errors,
    "bulk": lambda parsed: {},  # its own defaults are checked property by property below
    # Request headers are read into the run's headers (connector.dataverse.request_headers.run_headers).
    "custom_headers": lambda parsed: [{"name": name, "value": value} for name, value in parsed.common.headers],
    "bypass_step_ids": lambda parsed: [value for name, value in parsed.common.headers if name.endswith("StepIds")],
    "bypass_custom_plugins": lambda parsed: getattr(
        parsed, "bypass_custom_plugins", ("MSCRM.BypassCustomPluginExecution", "true") in parsed.common.headers
    ),
    "bypass_business_logic": lambda parsed: getattr(
        parsed, "bypass_business_logic", dict(parsed.common.headers).get("MSCRM.BypassBusinessLogicExecution", "none")
    ),
    "parallel": lambda parsed: {},  # likewise
}
"""Options whose parsed form is not the attribute of the same name."""


def schema_of(operation: str) -> dict[str, Any]:
    """The operation's schema, read from the file in the repository (not through the code under test)."""
    path = REPO_ROOT / "schemas" / "operations" / f"{operation}.schema.json"
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


def parse(operation: str, options: Mapping[str, Any]) -> Any:
    return parse_options(operation, {**REQUIRED[operation], **options}, OPERATIONS[operation].options)


def as_json(value: Any) -> Any:
    """A parsed value in the form the schema writes it (tuples as lists, read-only mappings as dicts)."""
    if isinstance(value, tuple):
        return [as_json(item) for item in value]
    if isinstance(value, Mapping):
        return {key: as_json(item) for key, item in value.items()}
    return value


def test_every_operation_has_its_required_options_here() -> None:
    assert set(REQUIRED) == set(OPERATIONS)


@pytest.mark.parametrize("operation", sorted(REQUIRED))
def test_every_default_is_the_schemas(operation: str) -> None:
    parsed = parse(operation, {})
    assert isinstance(parsed, OperationOptions)
    defaults = {name: prop["default"] for name, prop in schema_of(operation)["properties"].items() if "default" in prop}
    assert defaults, operation
    for name, default in defaults.items():
        read = RENAMED.get(name, lambda parsed, name=name: as_json(getattr(parsed, name)))
        assert read(parsed) == default, name


@pytest.mark.parametrize("operation", ["create", "update", "upsert"])
def test_the_bulk_defaults_are_the_schemas(operation: str) -> None:
    bulk = schema_of(operation)["properties"]["bulk"]
    assert bulk["default"] == {}
    defaults = {name: prop["default"] for name, prop in bulk["properties"].items()}
    assert dataclasses.asdict(parse(operation, {}).bulk) == defaults


def test_the_parallel_defaults_are_the_schemas() -> None:
    parallel = schema_of("query")["properties"]["parallel"]
    assert parallel["default"] == {}
    defaults = {name: prop["default"] for name, prop in parallel["properties"].items()}
    parsed = parse("query", {})
    assert isinstance(parsed, QueryOptions)
    assert dataclasses.asdict(parsed.parallel) == defaults


def test_parallel_on_refuses_what_cannot_be_partitioned() -> None:
    with pytest.raises(ConfigError) as raised:
        parse("query", {"parallel": {"mode": "on"}, "order_by": [{"field": "name"}]})
    assert [error.path for error in raised.value.errors] == ["options.parallel.mode"]
    joined = "<fetch><entity name='account'><link-entity name='contact' from='contactid' to='primarycontactid'/>"
    with pytest.raises(ConfigError) as raised:
        parse("query", {"parallel": {"mode": "on"}, "mode": "fetchxml", "fetch_xml": joined + "</entity></fetch>"})
    assert "link-entity" in raised.value.errors[0].message
    # auto reads such queries one page at a time instead
    assert isinstance(parse("query", {"order_by": [{"field": "name"}]}), QueryOptions)


def test_key_ranges_and_plans_are_read_and_checked() -> None:
    guid = "0000000A-0000-0000-0000-000000000001"
    parsed = parse("query", {"key_range": {"after": guid}, "plan_partitions": 4})
    assert isinstance(parsed, QueryOptions)
    assert (parsed.key_after, parsed.key_up_to, parsed.plan_partitions) == (guid.lower(), None, 4)
    with pytest.raises(ConfigError) as raised:
        parse("query", {"key_range": {"up_to": guid}, "plan_partitions": 2, "change_tracking": True})
    assert {error.path for error in raised.value.errors} == {"options.key_range", "options.plan_partitions"}


def test_nested_defaults_are_the_schemas() -> None:
    schema = schema_of("query")
    direction = schema["properties"]["order_by"]["items"]["properties"]["direction"]["default"]
    operator = schema["$defs"]["filter_group"]["properties"]["operator"]["default"]
    parsed = parse(
        "query",
        {"order_by": [{"field": "name"}, {"field": "revenue", "direction": "desc"}], "filter": {"conditions": []}},
    )
    assert isinstance(parsed, QueryOptions)
    assert parsed.order_by == (SortKey("name", direction), SortKey("revenue", "desc"))
    assert parsed.filter is not None
    assert parsed.filter.operator == operator


def test_given_options_are_read_into_their_attributes() -> None:
    parsed = parse(
        "create",
        {
            "custom_query_parameters": [{"name": "tag", "value": "ä b&c"}],
            "return_application_error_responses": True,
            "select": ["name", "revenue"],
            "client_keys": "never",
            "bulk": {"mode": "batch", "max_concurrency": 3, "initial_concurrency": 8},
        },
    )
    assert isinstance(parsed, CreateOptions)
    assert parsed.common == CommonOptions("accounts", (("tag", "ä b&c"),), True, ())
    assert parsed.select == ("name", "revenue")
    assert parsed.client_keys == "never"
    assert (parsed.bulk.mode, parsed.bulk.max_concurrency, parsed.bulk.initial_concurrency) == ("batch", 3, 3)


def test_a_parallel_read_starts_at_its_maximum_concurrency_by_default() -> None:
    # Reads are GETs, sent again after any Retry-After: they need no slow start (D58), and a lower maximum given
    # alone lowers the start with it.
    parsed = parse("query", {})
    assert isinstance(parsed, QueryOptions)
    assert parsed.parallel.initial_concurrency == parsed.parallel.max_concurrency == 8
    lowered = parse("query", {"parallel": {"max_concurrency": 3}})
    assert isinstance(lowered, QueryOptions)
    assert lowered.parallel.initial_concurrency == 3


def test_options_are_frozen() -> None:
    parsed = parse("get", {})
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.select = ("name",)
    parameters = parse("execute", {"parameters": {"a": 1}}).parameters
    with pytest.raises(TypeError):
        parameters["a"] = 2


@pytest.mark.parametrize(
    ("operation", "options", "field"),
    [
        ("get", {"concurrency_mode": "if_match"}, "options.concurrency_mode"),
        ("query", {"page_size": 0}, "options.page_size"),
        ("query", {"order_by": [{"field": "name", "direction": "up"}]}, "options.order_by[0].direction"),
        ("create", {"client_keys": "sometimes"}, "options.client_keys"),
        ("create", {"bulk": {"batch_size": 0}}, "options.bulk.batch_size"),
        ("update", {"etag": 5}, "options.etag"),
        ("upsert", {"key_fields": ["bad name"]}, "options.key_fields[0]"),
        ("delete", {"concurrency_mode": "if_none_match"}, "options.concurrency_mode"),
        ("execute", {"binding": "record"}, "options.binding"),
        ("associate", {"single_valued": "yes"}, "options.single_valued"),
        ("disassociate", {"relationship": "not a name"}, "options.relationship"),
        # What only the parsed options can see:
        ("query", {"change_tracking": True, "top": 5}, "options.top"),
        ("query", {"mode": "fetchxml", "fetch_xml": "<fetch>"}, "options.fetch_xml"),
        (
            "execute",
            {"kind": "function", "parameters": {"UserId": "x"}, "parameter_types": {"UserId": "guid"}},
            "options.parameters.UserId",
        ),
    ],
)
def test_a_bad_option_is_a_config_error_naming_it(operation: str, options: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(operation, options)
    assert caught.value.fields == [field]
    assert caught.value.user_message.startswith(f"The options of the {operation} operation are invalid:")


def test_defaults_come_from_the_schema() -> None:
    options = validate_options("query", {"entity_set": "accounts"})
    assert options["top"] == -1
    assert options["page_size"] == 5000
    assert options["mode"] == "odata"
    assert options["custom_query_parameters"] == []
    assert options["return_application_error_responses"] is False


def test_every_bad_option_is_listed_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        validate_options(
            "query",
            {
                "entity_set": "accounts; DROP",
                "page_size": 5001,
                "top": -2,
                "select": ["name", "bad name"],
                "unknown": 1,
                "custom_query_parameters": [{"name": "", "value": "x"}],
            },
        )
    assert set(caught.value.fields) == {
        "options.entity_set",
        "options.page_size",
        "options.top",
        "options.select[1]",
        "options.unknown",
        "options.custom_query_parameters[0].name",
    }
    assert caught.value.user_message.startswith("The options of the query operation are invalid:")


def test_repeated_and_reserved_custom_parameter_names_are_refused() -> None:
    parameters = [
        {"name": "tag", "value": "a"},
        {"name": "tag", "value": "b"},
        {"name": "$filter", "value": "name eq 'x'"},
        {"name": "Tag", "value": "c"},
    ]
    with pytest.raises(ConfigError) as caught:
        validate_options("get", {"entity_set": "accounts", "custom_query_parameters": parameters})
    messages = {error.path: error.message for error in caught.value.errors}
    assert messages == {
        "options.custom_query_parameters[1].name": "repeats 'tag' (already parameter 0)",
        "options.custom_query_parameters[2].name": "'$filter' is set by the operation itself",
    }


@pytest.mark.parametrize("options", [None, {}])
def test_a_missing_entity_set_is_named(options: Any) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_options("create", options)
    assert caught.value.fields == ["options.entity_set"]


def test_options_must_be_an_object() -> None:
    with pytest.raises(ConfigError) as caught:
        validate_options("get", ["accounts"])
    assert caught.value.fields == ["options"]


def test_conditional_requirements() -> None:
    with pytest.raises(ConfigError) as fetch:
        validate_options("query", {"entity_set": "accounts", "mode": "fetchxml"})
    assert fetch.value.fields == ["options.fetch_xml"]
    with pytest.raises(ConfigError) as bound:
        validate_options("execute", {"name": "QualifyLead", "binding": "entity"})
    assert bound.value.fields == ["options.entity_set"]
    with pytest.raises(ConfigError) as condition:
        validate_options(
            "query",
            {
                "entity_set": "a",
                "filter": {"conditions": [{"field": "x", "operator": "eq", "value": 1, "parameter": "p"}]},
            },
        )
    assert condition.value.fields == ["options.filter.conditions[0]"]


def test_write_headers() -> None:
    options = {
        "duplicate_detection": True,
        "bypass_custom_plugins": True,
        "bypass_business_logic": "CustomSync,CustomAsync",
    }
    assert parse("create", options).headers() == {
        "MSCRM.SuppressDuplicateDetection": "false",
        "MSCRM.BypassCustomPluginExecution": "true",
        "MSCRM.BypassBusinessLogicExecution": "CustomSync,CustomAsync",
    }
    assert parse("create", {}).headers() == {}
    delete = parse("delete", {"bypass_custom_plugins": True})
    assert isinstance(delete, DeleteOptions)
    assert delete.headers() == {"MSCRM.BypassCustomPluginExecution": "true"}
