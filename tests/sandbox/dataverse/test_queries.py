"""Collection queries of the sandbox Web API: options, counts, paging, preferences and annotations."""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest

from dataverse_sandbox.server import Sandbox
from tests.support.sandbox import WebApiSession, bearer_token, unique

FORMATTED = "OData.Community.Display.V1.FormattedValue"


@pytest.fixture(scope="module")
def city(sandbox: Sandbox) -> str:
    """A city shared by exactly 12 accounts made for this module (names Q00..Q11, revenue 1000*i)."""
    marker = unique("city")
    with WebApiSession(sandbox, bearer_token(sandbox)) as session:
        for index in range(12):
            session.create(
                "accounts",
                {
                    "name": f"Q{index:02d} {'Contoso' if index % 2 else 'Fabrikam'}",
                    "address1_city": marker,
                    "revenue": 1000.0 * index,
                    "accountcategorycode": 1 + index % 2,
                    "creditonhold": index % 3 == 0,
                    "numberofemployees": None if index == 5 else index,
                },
            )
    return marker


def _names(response: Any) -> list[str]:
    return [row["name"] for row in response.json()["value"]]


def test_select_filter_orderby_top(api: WebApiSession, city: str) -> None:
    response = api.get(
        f"accounts?$select=name,revenue&$filter=address1_city eq '{city}' and revenue ge 3000"
        "&$orderby=revenue desc&$top=3"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["@odata.context"] == f"{api.root}$metadata#accounts(name,revenue)"
    assert _names(response) == ["Q11 Contoso", "Q10 Fabrikam", "Q09 Contoso"]
    assert "@odata.nextLink" not in body
    assert set(body["value"][0]) == {"@odata.etag", "name", "revenue", "_transactioncurrencyid_value", "accountid"}


def test_string_filters_are_case_insensitive(api: WebApiSession, city: str) -> None:
    response = api.get(f"accounts?$select=name&$filter=address1_city eq '{city.upper()}' and contains(name,'CONTOSO')")
    assert len(_names(response)) == 6


def test_null_sorts_first_and_filters_with_eq_null(api: WebApiSession, city: str) -> None:
    ordered = _names(api.get(f"accounts?$select=name&$filter=address1_city eq '{city}'&$orderby=numberofemployees"))
    assert ordered[0] == "Q05 Contoso"
    nulls = _names(api.get(f"accounts?$select=name&$filter=address1_city eq '{city}' and numberofemployees eq null"))
    assert nulls == ["Q05 Contoso"]


def test_bad_filter_is_400_with_the_compiler_message(api: WebApiSession) -> None:
    response = api.get("accounts?$filter=nosuch eq 1")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "0x80060888"
    assert api.get("accounts?$filter=name eq").status_code == 400


@pytest.mark.parametrize("option", ["$skip=1", "$search=x", "$format=json"])
def test_unsupported_options_are_400(api: WebApiSession, option: str) -> None:
    assert api.get(f"accounts?{option}").status_code == 400


def test_count_comes_before_value(api: WebApiSession, city: str) -> None:
    response = api.get(f"accounts?$select=name&$filter=address1_city eq '{city}'&$count=true&$top=2")
    body = response.json()
    assert list(body)[:3] == ["@odata.context", "@odata.count", "value"]
    assert body["@odata.count"] == 12
    assert len(body["value"]) == 2


def test_count_segment_is_plain_text(api: WebApiSession, city: str) -> None:
    response = api.get(f"accounts/$count?$filter=address1_city eq '{city}'")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.text == "12"


def test_maxpagesize_pages_with_next_links_and_ignores_top(api: WebApiSession, city: str) -> None:
    url: str | None = f"accounts?$select=name&$filter=address1_city eq '{city}'&$orderby=name&$top=2"
    pages: list[list[str]] = []
    while url:
        response = api.get(url, headers={"Prefer": "odata.maxpagesize=5"})
        assert response.headers["Preference-Applied"] == "odata.maxpagesize=5"
        body = response.json()
        pages.append([row["name"] for row in body["value"]])
        url = body.get("@odata.nextLink")
        if url:
            assert url.startswith(api.root + "accounts?")
            assert "$skiptoken=" in url
    assert [len(page) for page in pages] == [5, 5, 2]
    expected = [f"Q{i:02d} {'Contoso' if i % 2 else 'Fabrikam'}" for i in range(12)]
    assert [name for page in pages for name in page] == expected


def test_descending_keyset_paging_with_nulls_returns_every_row_once(api: WebApiSession, city: str) -> None:
    url: str | None = f"accounts?$select=name&$filter=address1_city eq '{city}'&$orderby=numberofemployees desc"
    seen: list[str] = []
    while url:
        body = api.get(url, headers={"Prefer": "odata.maxpagesize=4"}).json()
        seen.extend(row["name"] for row in body["value"])
        url = body.get("@odata.nextLink")
    assert len(seen) == 12
    assert len(set(seen)) == 12
    assert seen[-1] == "Q05 Contoso"


def test_tampered_skiptoken_is_400(api: WebApiSession, city: str) -> None:
    body = api.get(
        f"accounts?$select=name&$filter=address1_city eq '{city}'", headers={"Prefer": "odata.maxpagesize=2"}
    ).json()
    link = body["@odata.nextLink"].replace(city, "elsewhere")
    assert api.get(link, headers={"Prefer": "odata.maxpagesize=2"}).status_code == 400


def test_maxpagesize_over_5000_is_served_as_5000(api: WebApiSession) -> None:
    response = api.get("accounts?$select=name&$top=1", headers={"Prefer": "odata.maxpagesize=9000"})
    assert response.status_code == 200
    assert response.headers["Preference-Applied"] == "odata.maxpagesize=5000"


def test_formatted_values_and_lookup_annotations(api: WebApiSession, city: str) -> None:
    contact_id = api.create("contacts", {"firstname": "Ann", "lastname": "Otated"})
    api.create(
        "accounts",
        {
            "name": "Annotated",
            "address1_city": city + "-annotated",
            "revenue": 20000,
            "creditonhold": True,
            "accountcategorycode": 1,
            "primarycontactid@odata.bind": f"/contacts({contact_id})",
        },
    )
    prefer = 'odata.include-annotations="OData.Community.Display.V1.FormattedValue,Microsoft.Dynamics.CRM.*"'
    response = api.get(
        f"accounts?$select=revenue,creditonhold,accountcategorycode,statecode,_primarycontactid_value"
        f"&$filter=address1_city eq '{city}-annotated'",
        headers={"Prefer": prefer},
    )
    assert response.headers["Preference-Applied"] == prefer
    row = response.json()["value"][0]
    assert row[f"revenue@{FORMATTED}"] == "$20,000.00"
    assert row[f"creditonhold@{FORMATTED}"] == "Yes"
    assert row[f"accountcategorycode@{FORMATTED}"] == "Preferred Customer"
    assert row[f"statecode@{FORMATTED}"] == "Active"
    assert row[f"_primarycontactid_value@{FORMATTED}"] == "Ann Otated"
    assert row["_primarycontactid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "contact"
    assert row["_primarycontactid_value@Microsoft.Dynamics.CRM.associatednavigationproperty"] == "primarycontactid"


def test_annotations_only_when_asked(api: WebApiSession, city: str) -> None:
    row = api.get(f"accounts?$select=revenue&$filter=address1_city eq '{city}'&$top=1").json()["value"][0]
    assert not any("@" in key for key in row if key != "@odata.etag")
    formatted_only = api.get(
        f"accounts?$select=_primarycontactid_value,revenue&$filter=address1_city eq '{city}'&$top=1",
        headers={"Prefer": f'odata.include-annotations="{FORMATTED}"'},
    ).json()["value"][0]
    assert f"revenue@{FORMATTED}" in formatted_only
    assert not any(key.endswith("lookuplogicalname") for key in formatted_only)


def test_repeated_and_comma_separated_prefer_headers(api: WebApiSession, city: str) -> None:
    query = f"accounts?$select=revenue&$filter=address1_city eq '{city}'"
    combined = api.get(query, headers={"Prefer": 'odata.maxpagesize=3, odata.include-annotations="*"'})
    # requests cannot repeat a header; http.client can.
    target = urlsplit(api.root + query.replace(" ", "%20"))
    connection = http.client.HTTPConnection(target.hostname or "", target.port, timeout=10)
    connection.putrequest("GET", f"{target.path}?{target.query}")
    connection.putheader("Authorization", str(api.headers["Authorization"]))
    connection.putheader("Prefer", "odata.maxpagesize=3")
    connection.putheader("Prefer", 'odata.include-annotations="*"')
    connection.endheaders()
    repeated = connection.getresponse()
    repeated_body = json.loads(repeated.read())
    connection.close()
    for body, applied in (
        (combined.json(), combined.headers["Preference-Applied"]),
        (repeated_body, repeated.getheader("Preference-Applied") or ""),
    ):
        assert len(body["value"]) == 3
        assert f"revenue@{FORMATTED}" in body["value"][0]
        assert "odata.maxpagesize=3" in applied
        assert 'odata.include-annotations="*"' in applied


def test_expand_in_queries_and_collection_navigation(api: WebApiSession) -> None:
    account_id = api.create("accounts", {"name": unique("parent")})
    for name in ("A", "B", "C"):
        api.create("contacts", {"lastname": name, "parentcustomerid_account@odata.bind": f"/accounts({account_id})"})
    contacts = api.get(
        f"contacts?$select=lastname&$filter=_parentcustomerid_value eq {account_id}"
        "&$expand=parentcustomerid_account($select=name)&$orderby=lastname"
    ).json()["value"]
    assert [c["lastname"] for c in contacts] == ["A", "B", "C"]
    assert all(c["parentcustomerid_account"]["accountid"] == account_id for c in contacts)
    expanded = api.get(
        f"accounts({account_id})?$select=name"
        "&$expand=contact_customer_accounts($select=lastname;$orderby=lastname desc;$top=2)"
    ).json()
    assert [c["lastname"] for c in expanded["contact_customer_accounts"]] == ["C", "B"]
    assert api.get(f"accounts({account_id})/contact_customer_accounts/$count").text == "3"


def test_a_5000_row_page_with_annotations(make_sandbox: Callable[..., Sandbox]) -> None:
    # How fast it is served is measured by benchmarks/sandbox_rate.py; tests assert no timings.
    sb = make_sandbox()
    sb.seed(6000, 3000)
    session = WebApiSession(sb, bearer_token(sb))
    response = session.get(
        "accounts?$select=name,revenue,accountcategorycode,_primarycontactid_value",
        headers={"Prefer": 'odata.include-annotations="*"'},
    )
    assert len(response.json()["value"]) == 5000
    assert "@odata.nextLink" in response.json()
