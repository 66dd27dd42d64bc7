"""End to end against the sandbox: Query over many pages, literal filter values, custom parameters on the first page
only, $top, formatted values and FetchXML paging, checked against the server's storage and request records.
"""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs

from connector.results import ResultStatus
from tests.support.operations import Live

SEEDED = 20_000
API_PATH = "/api/data/v9.2/"


def account_ids(live: Live) -> list[str]:
    return sorted(str(row["accountid"]) for row in live.rows("account"))


def test_every_record_exactly_once_through_several_pages(live: Live) -> None:
    tag = uuid.uuid4().hex
    since = live.sandbox.clock.now()
    options = {
        "entity_set": "accounts",
        "select": ["name"],
        "page_size": 1500,
        "custom_query_parameters": [{"name": "tag", "value": tag}],
        "parallel": {"mode": "off"},
    }
    seen = [result.properties["id"] for result in live.stream("query", options, [{}])]
    assert len(seen) == len(set(seen))
    assert sorted(seen) == account_ids(live)
    assert len(seen) >= SEEDED
    pages = live.sandbox.stats.requests(method="GET", path_prefix=f"{API_PATH}accounts", since=since)
    assert len(pages) == -(-len(seen) // 1500)
    assert f"tag={tag}" in pages[0].query
    assert all("tag=" not in page.query for page in pages[1:])
    metadata = live.sandbox.stats.requests(path_prefix=f"{API_PATH}EntityDefinitions", since=since)
    assert metadata
    assert all("tag=" not in record.query for record in metadata)


def test_filter_values_are_matched_literally(live: Live) -> None:
    marker = uuid.uuid4().hex[:8]
    names = [f"O'Brien's {marker}", f"x' or name ne 'y {marker}", f"x {marker}", f"y {marker}"]
    live.run("create", {"entity_set": "accounts"}, [{"name": name} for name in names])
    for name in names[:2]:
        options = {
            "entity_set": "accounts",
            "select": ["name"],
            "filter": {"conditions": [{"field": "name", "operator": "eq", "value": name}]},
        }
        found = [result.payload["name"] for result in live.run("query", options, [{}]) if result.payload]
        assert found == [name]


def test_filters_typed_by_metadata_and_option_labels(live: Live) -> None:
    marker = uuid.uuid4().hex[:8]
    documents = [
        {"name": f"old {marker}", "sample_establishedon": "1999-12-31", "industrycode": 7},
        {"name": f"new {marker}", "sample_establishedon": "2020-01-01", "industrycode": 7},
        {"name": f"other {marker}", "sample_establishedon": "2020-01-01", "industrycode": 1},
    ]
    assert all(result.ok for result in live.run("create", {"entity_set": "accounts"}, documents))
    options = {
        "entity_set": "accounts",
        "select": ["name", "industrycode"],
        "formatted_values": True,
        "filter": {
            "operator": "and",
            "conditions": [
                {"field": "sample_establishedon", "operator": "ge", "value": "2000-01-01"},
                {"field": "industrycode", "operator": "eq", "value": "Consulting"},
                {"custom": f"endswith(name,'{marker}')"},
            ],
        },
    }
    [result] = live.run("query", options, [{}])
    assert result.payload is not None
    assert result.payload["name"] == f"new {marker}"
    assert result.payload["industrycode@OData.Community.Display.V1.FormattedValue"] == "Consulting"


def test_top_and_values_from_each_document(live: Live) -> None:
    assert len(live.run("query", {"entity_set": "accounts", "top": 7, "page_size": 3}, [{}])) == 7
    assert len(live.run("query", {"entity_set": "accounts", "top": 2}, [{}])) == 2
    numbers = [row["accountnumber"] for row in live.rows("account")[:2]]
    options = {
        "entity_set": "accounts",
        "select": ["accountnumber"],
        "filter": {"conditions": [{"field": "accountnumber", "operator": "eq", "parameter": "number"}]},
    }
    results = live.run("query", options, [{"number": number} for number in numbers])
    assert [result.payload["accountnumber"] for result in results if result.payload] == numbers


def test_fetchxml_pages_with_paging_cookies(live: Live) -> None:
    since = live.sandbox.clock.now()
    options = {
        "entity_set": "accounts",
        "mode": "fetchxml",
        "page_size": 5000,
        "fetch_xml": "<fetch><entity name='account'><attribute name='accountid'/><order attribute='accountid'/>"
        "</entity></fetch>",
        "custom_query_parameters": [{"name": "tag", "value": "fx"}],
    }
    seen = [result.properties["id"] for result in live.stream("query", options, [{}])]
    assert sorted(seen) == account_ids(live)
    pages = live.sandbox.stats.requests(method="GET", path_prefix=f"{API_PATH}accounts", since=since)
    assert len(pages) >= 4
    assert "tag=fx" in pages[0].query
    assert all("tag=" not in page.query for page in pages[1:])
    second = parse_qs(pages[1].query)["fetchXml"][0]
    assert 'page="2"' in second
    assert "paging-cookie=" in second


def test_an_unknown_entity_set_fails_the_document(live: Live) -> None:
    [result] = live.run("query", {"entity_set": "Accounts"}, [{}])
    assert result.status is ResultStatus.FAILED
    assert result.error is not None
    assert "'Accounts'" in result.error.message
