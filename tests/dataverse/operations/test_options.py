"""Operation options: one ConfigError listing every bad option, before any document is read; schema defaults."""

from __future__ import annotations

from typing import Any

import pytest

from connector.dataverse.operations.options import CommonOptions, validate_options, write_headers
from connector.errors import ConfigError


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


def test_common_options_and_write_headers() -> None:
    options = validate_options(
        "create",
        {
            "entity_set": "accounts",
            "custom_query_parameters": [{"name": "tag", "value": "ä b&c"}],
            "return_application_error_responses": True,
            "duplicate_detection": True,
            "bypass_custom_plugins": True,
            "bypass_business_logic": "CustomSync,CustomAsync",
        },
    )
    common = CommonOptions.from_options(options)
    assert common == CommonOptions("accounts", (("tag", "ä b&c"),), True)
    assert write_headers(options) == {
        "MSCRM.SuppressDuplicateDetection": "false",
        "MSCRM.BypassCustomPluginExecution": "true",
        "MSCRM.BypassBusinessLogicExecution": "CustomSync,CustomAsync",
    }
    assert write_headers(validate_options("create", {"entity_set": "accounts"})) == {}
