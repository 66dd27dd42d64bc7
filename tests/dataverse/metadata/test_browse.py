"""Browse: list entity sets through a case-sensitive ``?``/``*`` filter, describe one, with and without the cache."""

from __future__ import annotations

import pytest
import responses

from connector import plugin
from connector.dataverse.client import DataverseClient
from connector.dataverse.metadata.browse import browse, name_pattern
from connector.errors import ConfigError
from connector.results import BrowseRequest, Connection
from tests.support.dataverse import API, add_description, add_entity

TABLES = [
    {
        "LogicalName": "account",
        "EntitySetName": "accounts",
        "DisplayName": {"UserLocalizedLabel": {"Label": "Account"}},
    },
    {"LogicalName": "contact", "EntitySetName": "contacts"},
    {"LogicalName": "sample_Thing", "EntitySetName": "sample_Things"},
    {"LogicalName": "accountleads", "EntitySetName": "accountleadscollection"},
]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("acc*", ["accountleadscollection", "accounts"]),
        ("*s", ["accounts", "contacts", "sample_Things"]),
        ("?ontacts", ["contacts"]),
        ("Acc*", []),
        ("sample_T*", ["sample_Things"]),
        ("sample_t*", []),
        ("", ["accountleadscollection", "accounts", "contacts", "sample_Things"]),
        ("a.c*", []),
    ],
)
def test_list_filters_names_case_sensitively(
    mocked: responses.RequestsMock, client: DataverseClient, pattern: str, expected: list[str]
) -> None:
    mocked.add("GET", f"{API}EntityDefinitions", json={"value": TABLES})
    result = browse(client, BrowseRequest("list", name_filter=pattern))
    assert [item.name for item in result.object_types] == expected


def test_the_list_is_cached_unless_asked_not_to(mocked: responses.RequestsMock, client: DataverseClient) -> None:
    mocked.add("GET", f"{API}EntityDefinitions", json={"value": TABLES})
    mocked.add("GET", f"{API}EntityDefinitions", json={"value": TABLES[:1]})
    assert len(browse(client, BrowseRequest("list")).object_types) == 4
    assert len(browse(client, BrowseRequest("list")).object_types) == 4
    assert len(browse(client, BrowseRequest("list", use_cache=False)).object_types) == 1
    assert len(mocked.calls) == 2
    first = browse(client, BrowseRequest("list")).object_types[0]
    assert (first.name, first.label, first.logical_name) == ("accounts", "Account", "account")


def test_name_patterns_treat_regex_characters_literally() -> None:
    assert name_pattern("a+b").fullmatch("a+b")
    assert not name_pattern("a+b").fullmatch("aab")


def test_describe_through_the_hook_gives_both_profiles(mocked: responses.RequestsMock, connection: Connection) -> None:
    add_entity(mocked)
    add_description(mocked)
    result = plugin.browse("dynamics365-ce", connection, BrowseRequest("describe", object_type="accounts"))
    assert result is not None
    assert result.request_schema is not None
    assert result.response_schema is not None
    assert "primarycontactid@odata.bind" in result.request_schema["properties"]
    assert result.request_schema["properties"]["industrycode"]["oneOf"][1] == {"const": 7, "title": "Consulting"}
    assert result.object_types[0].name == "accounts"
    # Cached: a second describe makes no request (the mock would fail on an unexpected one).
    plugin.browse("dynamics365-ce", connection, BrowseRequest("describe", object_type="accounts"))


def test_describe_without_an_object_type_is_a_config_error(client: DataverseClient) -> None:
    with pytest.raises(ConfigError) as caught:
        browse(client, BrowseRequest("describe"))
    assert caught.value.fields == ["request.object_type"]
