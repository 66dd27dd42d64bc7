"""Query: lazy paging through @odata.nextLink and FetchXML paging cookies, $top, filters, custom parameters."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from responses import matchers

from connector.dataverse.operations.query import without_parameters
from connector.dataverse.registry import run_operation
from connector.results import Connection, ResultStatus
from tests.support.dataverse import API, add_description, add_entity, run, url_of

GUIDS = [f"00000000-0000-0000-0000-{index:012d}" for index in range(1, 7)]
# The reference's next link shape (§3.8), pointing at page 2 of a two-record page query.
NEXT = (
    f"{API}contacts?$select=fullname&$skiptoken=%3Ccookie%20pagenumber=%222%22%20pagingcookie=%22%253ccookie"
    "%2520page%253d%25221%2522%253e%253ccontactid%2520last%253d%2522%257bD5026A4D-D01C-ED11-B83E-000D3A572421"
    "%257d%2522%2520first%253d%2522%257b49B0BE2E-D01C-ED11-B83E-000D3A572421%257d%2522%2520%252f%253e%253c%252f"
    "cookie%253e%22%20istracking=%22False%22%20/%3E"
)


def page(ids: list[str], next_link: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "@odata.context": f"{API}$metadata#contacts(fullname)",
        "value": [
            {"@odata.etag": f'W/"{n}"', "fullname": f"Person {n}", "contactid": guid} for n, guid in enumerate(ids)
        ],
    }
    if next_link:
        body["@odata.nextLink"] = next_link
    body.update(extra)
    return body


def contacts(mocked: responses.RequestsMock) -> None:
    add_entity(mocked, "contacts", "contact", "contactid", "fullname")


def test_pages_are_followed_and_custom_parameters_go_on_the_first_only(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    contacts(mocked)
    mocked.add(
        "GET",
        f"{API}contacts?$select=fullname&tag=nightly",
        match=[matchers.header_matcher({"Prefer": "odata.maxpagesize=2"})],
        json=page(GUIDS[:2], NEXT),
    )
    mocked.add(
        "GET",
        NEXT,
        match=[matchers.header_matcher({"Prefer": "odata.maxpagesize=2"})],
        json=page(GUIDS[2:4], f"{API}contacts?$select=fullname&$skiptoken=3"),
    )
    mocked.add("GET", f"{API}contacts?$select=fullname&$skiptoken=3", json=page(GUIDS[4:]))
    options = {
        "entity_set": "contacts",
        "select": ["fullname"],
        "page_size": 2,
        "custom_query_parameters": [{"name": "tag", "value": "nightly"}],
        "parallel": {"mode": "off"},
    }
    results = run(connection, "query", options, [{}])
    assert [result.properties["id"] for result in results] == GUIDS
    assert all(result.status is ResultStatus.SUCCESS and result.input_index is None for result in results)
    assert results[0].payload is not None
    assert results[0].payload["@odata.editLink"] == f"contacts({GUIDS[0]})"
    assert results[0].properties["entity_url"] == f"{API}contacts({GUIDS[0]})"
    urls = [url_of(call) for call in mocked.calls]
    assert "tag=" not in urls[0]  # the metadata request
    assert "tag=nightly" in urls[1]
    assert all("tag=" not in url for url in urls[2:])
    assert urls[2] == NEXT  # followed exactly as given


def test_the_query_is_lazy(mocked: responses.RequestsMock, connection: Connection) -> None:
    contacts(mocked)
    mocked.add("GET", f"{API}contacts", json=page(GUIDS[:2], f"{API}contacts?$skiptoken=2"))
    mocked.add("GET", f"{API}contacts?$skiptoken=2", json=page(GUIDS[2:4]))
    options = {"entity_set": "contacts", "parallel": {"mode": "off"}, "read_ahead": False}
    results = run_operation(connection, "query", options, [{}])
    assert len(mocked.calls) == 0
    next(results)
    next(results)
    assert len(mocked.calls) == 2
    next(results)
    assert len(mocked.calls) == 3
    assert len(list(results)) == 1


def test_top_within_a_page_is_sent_as_top(mocked: responses.RequestsMock, connection: Connection) -> None:
    contacts(mocked)
    mocked.add("GET", f"{API}contacts?$top=3&$orderby=fullname%20desc,contactid%20asc", json=page(GUIDS[:3]))
    options = {
        "entity_set": "contacts",
        "top": 3,
        "page_size": 10,
        "order_by": [{"field": "fullname", "direction": "desc"}, {"field": "contactid"}],
    }
    assert len(run(connection, "query", options, [{}])) == 3
    assert "Prefer" not in mocked.calls[1].request.headers


def test_top_across_pages_stops_reading(mocked: responses.RequestsMock, connection: Connection) -> None:
    contacts(mocked)
    mocked.add("GET", f"{API}contacts", json=page(GUIDS[:2], f"{API}contacts?$skiptoken=2"))
    mocked.add("GET", f"{API}contacts?$skiptoken=2", json=page(GUIDS[2:4], f"{API}contacts?$skiptoken=4"))
    results = run(connection, "query", {"entity_set": "contacts", "top": 3, "page_size": 2}, [{}])
    assert [result.properties["id"] for result in results] == GUIDS[:3]


def test_filter_values_are_typed_by_metadata_and_matched_literally(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    add_entity(mocked)
    add_description(mocked)
    mocked.add("GET", f"{API}accounts", json={"value": []})
    options = {
        "entity_set": "accounts",
        "filter": {
            "conditions": [
                {"field": "name", "operator": "eq", "value": "O'Brien & Sons' or 1 eq 1"},
                {"field": "sample_establishedon", "operator": "ge", "value": "2020-01-31"},
                {"field": "industrycode", "operator": "eq", "value": "Consulting"},
                {"custom": "NOT(name eq 'Smith')"},
            ]
        },
    }
    assert run(connection, "query", options, [{}]) == []
    url = url_of(mocked.calls[-1])
    assert url == (
        f"{API}accounts?$filter=name%20eq%20'O''Brien%20%26%20Sons''%20or%201%20eq%201'%20and%20"
        "sample_establishedon%20ge%202020-01-31%20and%20industrycode%20eq%207%20and%20NOT(name%20eq%20'Smith')"
    )
    assert parse_qs(urlsplit(url).query)["$filter"] == [
        (
            "name eq 'O''Brien & Sons'' or 1 eq 1' and sample_establishedon ge 2020-01-31 and industrycode eq 7 "
            "and NOT(name eq 'Smith')"
        )
    ]


def test_explicit_types_need_no_attribute_metadata(mocked: responses.RequestsMock, connection: Connection) -> None:
    add_entity(mocked)
    mocked.add("GET", f"{API}accounts?$filter=accountid%20eq%20{GUIDS[0]}", json={"value": []})
    options = {
        "entity_set": "accounts",
        "filter": {"conditions": [{"field": "accountid", "operator": "eq", "value": GUIDS[0], "type": "guid"}]},
    }
    assert run(connection, "query", options, [{}]) == []


def test_each_input_document_runs_the_query_with_its_own_values(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    add_entity(mocked)
    mocked.add(
        "GET", f"{API}accounts?$filter=accountnumber%20eq%20'A1'&tag=one", json={"value": [{"accountid": GUIDS[0]}]}
    )
    mocked.add("GET", f"{API}accounts?$filter=accountnumber%20eq%20'A2'", json={"value": []})
    options = {
        "entity_set": "accounts",
        "filter": {
            "conditions": [
                {"field": "accountnumber", "operator": "eq", "parameter": "number", "type": "string"},
            ]
        },
        "custom_query_parameters": [{"name": "tag", "value": "one"}],
    }
    documents = [{"number": "A1"}, {"number": "A2", "@connector.query_parameters": {"tag": None}}, {}]
    results = run(connection, "query", options, documents)
    assert [result.status for result in results] == [ResultStatus.SUCCESS, ResultStatus.FAILED]
    assert results[1].input_index == 2
    assert results[1].error is not None
    assert results[1].error.field == "number"


def test_an_error_page_ends_the_query_with_one_result(mocked: responses.RequestsMock, connection: Connection) -> None:
    contacts(mocked)
    mocked.add("GET", f"{API}contacts", json=page(GUIDS[:2], f"{API}contacts?$skiptoken=2"))
    mocked.add(
        "GET",
        f"{API}contacts?$skiptoken=2",
        status=400,
        json={"error": {"code": "0x80040203", "message": "Invalid argument."}},
    )
    results = run(connection, "query", {"entity_set": "contacts", "parallel": {"mode": "off"}}, [{}])
    assert [result.status for result in results] == [ResultStatus.SUCCESS] * 2 + [ResultStatus.FAILED]
    assert results[2].error is not None
    assert results[2].error.message == "(0x80040203)Invalid argument.[400]"
    assert results[2].input_index == 0


@pytest.mark.parametrize("scheme", ["https", "HTTPS"])  # an upper-case one was glued onto the API root, unchecked
def test_a_next_link_to_another_origin_is_not_followed(
    mocked: responses.RequestsMock, connection: Connection, scheme: str
) -> None:
    contacts(mocked)
    mocked.add("GET", f"{API}contacts", json=page(GUIDS[:2], f"{scheme}://evil.example/api/data/v9.2/contacts?p=2"))
    results = run(connection, "query", {"entity_set": "contacts", "parallel": {"mode": "off"}}, [{}])
    assert [result.status for result in results] == [ResultStatus.SUCCESS] * 2 + [ResultStatus.FAILED]
    assert results[2].error is not None
    assert "https://evil.example is not the API's origin" in results[2].error.message
    assert all("evil" not in url_of(call) for call in mocked.calls)


@pytest.mark.parametrize("read_ahead", [False, True])
@pytest.mark.parametrize(
    ("link", "reason"),
    [
        ("https://[x/", "its host is neither a name nor a bracketed IP address"),
        ("https://[x/api/data/v9.2/contacts?p=2", "its host is neither a name nor a bracketed IP address"),
        ("https://h:99999/", "its port is not a number from 0 to 65535"),
        ("https://contoso.crm.dynamics.com:99999/api/data/v9.2/contacts", "its port is not a number from 0 to 65535"),
    ],
)
def test_a_next_link_that_is_no_url_ends_the_query_after_its_page(
    mocked: responses.RequestsMock, connection: Connection, link: str, reason: str, read_ahead: bool
) -> None:
    # urlsplit raised ValueError before the page was handed over: its records were lost, the query an internal failure.
    contacts(mocked)
    mocked.add("GET", f"{API}contacts?tag=a", json=page(GUIDS[:2], link))
    mocked.add("GET", f"{API}contacts?tag=b", json=page(GUIDS[2:3]))
    options = {"entity_set": "contacts", "parallel": {"mode": "off"}, "read_ahead": read_ahead}
    documents = [{"@connector.query_parameters": {"tag": tag}} for tag in ("a", "b")]
    results = run(connection, "query", options, documents)
    assert [result.status for result in results] == [ResultStatus.SUCCESS] * 2 + [ResultStatus.FAILED] + [
        ResultStatus.SUCCESS
    ]
    assert results[3].properties["id"] == GUIDS[2]  # the next document's query ran
    assert results[2].error is not None
    assert results[2].error.field == "@odata.nextLink"
    assert results[2].error.message == (
        f"The service's @odata.nextLink is not a URL ({reason}); it was not followed, and the query stopped after "
        "the records already returned"
    )
    assert len(mocked.calls) == 3  # the table's metadata, then one page per document: the link was not followed


@pytest.mark.parametrize(
    "link",
    [
        "https://user:canary-pw@contoso.crm.dynamics.com/api/data/v9.2/contacts?p=2",
        "https:user:canary-pw@contoso.crm.dynamics.com/api/data/v9.2/contacts?p=2",
        "//user:canary-pw@contoso.crm.dynamics.com/api/data/v9.2/contacts?p=2",
        # urlsplit reads contoso as the host, requests evil.example: the token would have gone there.
        "https://evil.example\\@contoso.crm.dynamics.com/api/data/v9.2/contacts?p=2",
    ],
)
def test_a_next_link_with_a_password_is_not_followed(
    mocked: responses.RequestsMock, connection: Connection, link: str
) -> None:
    # Followed, requests sent the user and password as Basic credentials in place of the token: a 401, a needless
    # token renewal, then an authorization failure.
    contacts(mocked)
    mocked.add("GET", f"{API}contacts", json=page(GUIDS[:2], link))
    results = run(connection, "query", {"entity_set": "contacts", "parallel": {"mode": "off"}}, [{}])
    assert [result.status for result in results] == [ResultStatus.SUCCESS] * 2 + [ResultStatus.FAILED]
    assert results[2].error is not None
    assert results[2].error.field == "@odata.nextLink"
    assert "carries a user name or password" in results[2].error.message
    assert "canary-pw" not in results[2].error.message
    assert len(mocked.calls) == 2  # the table's metadata and the first page


def test_a_next_link_with_an_upper_case_scheme_to_the_api_is_followed(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    # It was glued onto the API root (https://…/api/data/v9.2/HTTPS://…) and its page never read.
    contacts(mocked)
    mocked.add("GET", f"{API}contacts", json=page(GUIDS[:2], f"{API.replace('https://', 'HTTPS://')}contacts?p=2"))
    mocked.add("GET", f"{API}contacts?p=2", json=page(GUIDS[2:3]))
    results = run(connection, "query", {"entity_set": "contacts", "parallel": {"mode": "off"}}, [{}])
    assert [result.properties["id"] for result in results] == GUIDS[:3], [result.error for result in results]


def test_a_malformed_page_is_read_again(mocked: responses.RequestsMock, connection: Connection) -> None:
    contacts(mocked)
    mocked.add("GET", f"{API}contacts", body='{"value": [{"contactid": "', content_type="application/json")
    mocked.add("GET", f"{API}contacts", json=page(GUIDS[:1]))
    results = run(connection, "query", {"entity_set": "contacts"}, [{}])
    assert [result.properties["id"] for result in results] == GUIDS[:1]


def test_fetchxml_pages_with_the_paging_cookie(mocked: responses.RequestsMock, connection: Connection) -> None:
    add_entity(mocked)
    cookie = (
        '<cookie pagenumber="2" pagingcookie="%253ccookie%2520page%253d%25221%2522%253e%253caccountid%2520last'
        '%253d%2522%257bAAA%257d%2522%2520%252f%253e%253c%252fcookie%253e" istracking="False" />'
    )
    wanted = {
        "Prefer": 'odata.include-annotations="Microsoft.Dynamics.CRM.fetchxmlpagingcookie,'
        'Microsoft.Dynamics.CRM.morerecords"'
    }
    mocked.add(
        "GET",
        f"{API}accounts",
        match=[matchers.header_matcher(wanted)],
        json={
            "value": [{"accountid": GUIDS[0]}, {"accountid": GUIDS[1]}],
            "@Microsoft.Dynamics.CRM.fetchxmlpagingcookie": cookie,
            "@Microsoft.Dynamics.CRM.morerecords": True,
        },
    )
    mocked.add("GET", f"{API}accounts", json={"value": [{"accountid": GUIDS[2]}]})
    options = {
        "entity_set": "accounts",
        "mode": "fetchxml",
        "page_size": 2,
        "fetch_xml": "<fetch><entity name='account'><attribute name='accountid'/></entity></fetch>",
        "custom_query_parameters": [{"name": "tag", "value": "x"}],
        "parallel": {"mode": "off"},
    }
    results = run(connection, "query", options, [{}])
    assert [result.properties["id"] for result in results] == GUIDS[:3]
    first = parse_qs(urlsplit(url_of(mocked.calls[1])).query)
    second = parse_qs(urlsplit(url_of(mocked.calls[2])).query)
    assert first["tag"] == ["x"]
    assert "tag" not in second
    assert first["fetchXml"] == [
        '<fetch page="1" count="2"><entity name="account"><attribute name="accountid" /></entity></fetch>'
    ]
    assert second["fetchXml"] == [
        (
            '<fetch page="2" count="2" paging-cookie="&lt;cookie page=&quot;1&quot;&gt;&lt;accountid last=&quot;{AAA}'
            '&quot; /&gt;&lt;/cookie&gt;"><entity name="account"><attribute name="accountid" /></entity></fetch>'
        )
    ]


def test_no_documents_no_query(connection: Connection, mocked: responses.RequestsMock) -> None:
    assert run(connection, "query", {"entity_set": "contacts"}, []) == []


def test_next_links_lose_only_the_custom_parameters() -> None:
    link = f"{API}contacts?$select=fullname&tag=a%20b&$skiptoken=%3Ccookie%20x%3D%221%22%2F%3E&keep=1"
    assert without_parameters(link, {"tag"}) == (
        f"{API}contacts?$select=fullname&$skiptoken=%3Ccookie%20x%3D%221%22%2F%3E&keep=1"
    )
    assert without_parameters(f"{API}contacts?tag=1", {"tag"}) == f"{API}contacts"
    assert without_parameters(link, set()) == link
