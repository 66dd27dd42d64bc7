"""The data source's options without Spark running: defaults, and every bad option reported at once."""

from __future__ import annotations

import json

import pytest

from connector.errors import ConfigError
from connector.spark.connection import load_settings
from connector.spark.options import DEFAULT_PARTITIONS, parse_read_options, parse_write_options

SETTINGS = json.dumps({"connection": {"base_url": "org.example"}, "oauth2": {"grant_type": "client_credentials"}})


def test_read_defaults() -> None:
    options = parse_read_options({"SETTINGS": SETTINGS, "Entity_Set": "accounts"})
    assert options.entity_set == "accounts"
    assert options.select == ()
    assert options.partition_column == "createdon"
    assert options.num_partitions == DEFAULT_PARTITIONS
    assert options.read_ahead is True
    assert options.filter_pushdown is True


def test_every_bad_read_option_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_read_options(
            {"config": "a.json", "settings": "{", "select": "name, bad-name, name", "num_partitions": "0"}
        )
    assert caught.value.fields == [
        "options.config",
        "options.settings",
        "options.entity_set",
        "options.select",
        "options.select",
        "options.num_partitions",
    ]
    assert "must be comma-separated column names (got 'bad-name')" in caught.value.user_message


def test_write_options() -> None:
    options = parse_write_options(
        {"settings": SETTINGS, "entity_set": "accounts", "operation": "Upsert", "key_fields": "accountnumber"}
    )
    assert (options.operation, options.key_fields, options.on_error) == ("upsert", ("accountnumber",), "fail")


def test_report_needs_an_errors_path_and_key_fields_need_upsert() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_write_options(
            {"settings": SETTINGS, "entity_set": "accounts", "on_error": "report", "key_fields": "accountnumber"}
        )
    assert caught.value.fields == ["options.errors_path", "options.key_fields"]


def test_a_grant_that_keeps_a_refresh_token_is_refused() -> None:
    settings = json.dumps({"connection": {}, "oauth2": {"grant_type": "authorization_code"}})
    with pytest.raises(ConfigError) as caught:
        load_settings(parse_read_options({"settings": settings, "entity_set": "accounts"}).connection)
    assert caught.value.fields == ["oauth2.grant_type"]
