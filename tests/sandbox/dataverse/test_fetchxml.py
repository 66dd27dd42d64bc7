"""FetchXML queries (``GET /accounts?fetchXml=…``, reference §3.9) against the running sandbox, with plain requests."""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote
from xml.sax.saxutils import quoteattr

import pytest
import requests

from dataverse_sandbox.server import Sandbox
from tests.support.sandbox import WebApiSession, bearer_token, unique

ALL_ANNOTATIONS = {"Prefer": 'odata.include-annotations="*"'}
COOKIE = "@Microsoft.Dynamics.CRM.fetchxmlpagingcookie"
MORE = "@Microsoft.Dynamics.CRM.morerecords"
FORMATTED = "OData.Community.Display.V1.FormattedValue"


@pytest.fixture(scope="module")
def city(sandbox: Sandbox) -> str:
    """A city shared by 10 accounts made for this module: names F00..F09, revenue 100*i, F03 without a phone."""
    marker = unique("fx")
    with WebApiSession(sandbox, bearer_token(sandbox)) as session:
        for index in range(10):
            session.create(
                "accounts",
                {
                    "name": f"F{index:02d} {'Contoso' if index % 2 else 'Fabrikam'}",
                    "address1_city": marker,
                    "revenue": 100.0 * index,
                    "numberofemployees": index,
                    "telephone1": None if index == 3 else f"555-{index:04d}",
                    "accountcategorycode": 1 + index % 2,
                    "sample_establishedon": f"2020-01-{index + 1:02d}",
                },
            )
    return marker


def fetch(api: WebApiSession, xml: str, **kwargs: Any) -> requests.Response:
    """GET accounts with the FetchXML in the query string."""
    params = {"fetchXml": xml, **kwargs.pop("params", {})}
    return api.get("accounts", params=params, **kwargs)


def names(response: requests.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [row["name"] for row in response.json()["value"]]


def in_city(
    city: str,
    conditions: str = "",
    *,
    attributes: str = "<attribute name='name'/>",
    order: str = "<order attribute='name'/>",
    fetch_attributes: str = "",
) -> str:
    """FetchXML over this module's accounts, with extra conditions ANDed to the city."""
    return (
        f"<fetch{fetch_attributes}><entity name='account'>{attributes}{order}"
        f"<filter><condition attribute='address1_city' operator='eq' value='{city}'/>{conditions}</filter>"
        "</entity></fetch>"
    )


def decoded_cookie(annotation: str) -> str:
    """The paging cookie to send back: the annotation's pagingcookie attribute, URL-decoded twice."""
    match = re.search(r'pagingcookie="([^"]*)"', annotation)
    assert match is not None, annotation
    return unquote(unquote(html.unescape(match.group(1))))


def with_page(xml: str, page: int, cookie: str | None, count: int) -> str:
    attributes = f" count='{count}' page='{page}'" + (f" paging-cookie={quoteattr(cookie)}" if cookie else "")
    return xml.replace("<fetch", f"<fetch{attributes}", 1)


def test_selected_columns_come_back_with_etag_and_key_and_nulls_are_left_out(api: WebApiSession, city: str) -> None:
    xml = in_city(city, attributes="<attribute name='name'/><attribute name='telephone1'/>")
    response = fetch(api, xml)
    assert response.status_code == 200
    body = response.json()
    assert body["@odata.context"] == f"{api.root}$metadata#accounts(name,telephone1)"
    rows = {row["name"]: row for row in body["value"]}
    assert set(rows["F00 Fabrikam"]) == {"@odata.etag", "name", "telephone1", "accountid"}
    # OData would write "telephone1": null; FetchXML leaves the column out.
    assert set(rows["F03 Contoso"]) == {"@odata.etag", "name", "accountid"}
    odata = api.get(f"accounts?$select=telephone1&$filter=address1_city eq '{city}' and name eq 'F03 Contoso'")
    assert odata.json()["value"][0]["telephone1"] is None


@pytest.mark.parametrize("columns", ["<all-attributes/>", ""])
def test_all_attributes_or_none_named_returns_every_non_null_column(
    api: WebApiSession, city: str, columns: str
) -> None:
    response = fetch(
        api, in_city(city, "<condition attribute='name' operator='eq' value='F03 Contoso'/>", attributes=columns)
    )
    [row] = response.json()["value"]
    assert response.json()["@odata.context"] == f"{api.root}$metadata#accounts"
    assert row["revenue"] == 300.0
    assert row["_transactioncurrencyid_value"]
    assert "telephone1" not in row
    assert "description" not in row


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("<condition attribute='numberofemployees' operator='eq' value='4'/>", ["F04 Fabrikam"]),
        ("<condition attribute='numberofemployees' operator='ne' value='4'/>", 9),
        ("<condition attribute='numberofemployees' operator='neq' value='4'/>", 9),
        ("<condition attribute='revenue' operator='gt' value='700'/>", ["F08 Fabrikam", "F09 Contoso"]),
        ("<condition attribute='revenue' operator='ge' value='800'/>", ["F08 Fabrikam", "F09 Contoso"]),
        ("<condition attribute='revenue' operator='lt' value='100'/>", ["F00 Fabrikam"]),
        ("<condition attribute='revenue' operator='le' value='100'/>", ["F00 Fabrikam", "F01 Contoso"]),
        ("<condition attribute='name' operator='eq' value='f02 FABRIKAM'/>", ["F02 Fabrikam"]),
        ("<condition attribute='name' operator='like' value='%contoso'/>", 5),
        ("<condition attribute='name' operator='like' value='F0_ Fabrik%'/>", 5),
        ("<condition attribute='name' operator='not-like' value='%Contoso%'/>", 5),
        ("<condition attribute='name' operator='begins-with' value='F05'/>", ["F05 Contoso"]),
        ("<condition attribute='name' operator='not-begin-with' value='F0'/>", []),
        ("<condition attribute='name' operator='ends-with' value='tOSo'/>", 5),
        ("<condition attribute='name' operator='not-end-with' value='Contoso'/>", 5),
        ("<condition attribute='telephone1' operator='null'/>", ["F03 Contoso"]),
        ("<condition attribute='telephone1' operator='not-null'/>", 9),
        ("<condition attribute='telephone1' operator='not-like' value='%'/>", []),
        (
            "<condition attribute='numberofemployees' operator='in'><value>1</value><value>7</value></condition>",
            ["F01 Contoso", "F07 Contoso"],
        ),
        ("<condition attribute='numberofemployees' operator='not-in'><value>0</value><value>1</value></condition>", 8),
        (
            "<condition attribute='revenue' operator='between'><value>200</value><value>400</value></condition>",
            ["F02 Fabrikam", "F03 Contoso", "F04 Fabrikam"],
        ),
        (
            "<condition attribute='revenue' operator='not-between'><value>100</value><value>800</value></condition>",
            ["F00 Fabrikam", "F09 Contoso"],
        ),
        ("<condition attribute='accountcategorycode' operator='eq' value='2'/>", 5),
        ("<condition attribute='sample_establishedon' operator='on' value='2020-01-03'/>", ["F02 Fabrikam"]),
        ("<condition attribute='sample_establishedon' operator='on-or-after' value='2020-01-10'/>", ["F09 Contoso"]),
        ("<condition attribute='sample_establishedon' operator='on-or-before' value='2020-01-01'/>", ["F00 Fabrikam"]),
        (
            (
                "<filter type='or'><condition attribute='numberofemployees' operator='eq' value='2'/>"
                "<filter type='and'><condition attribute='name' operator='like' value='%Contoso'/>"
                "<condition attribute='revenue' operator='ge' value='800'/></filter></filter>"
            ),
            ["F02 Fabrikam", "F09 Contoso"],
        ),
    ],
)
def test_condition_operators_and_nested_filters(
    api: WebApiSession, city: str, condition: str, expected: list[str] | int
) -> None:
    found = names(fetch(api, in_city(city, condition)))
    if isinstance(expected, int):
        assert len(found) == expected
    else:
        assert found == expected


def test_lookup_condition_accepts_a_braced_upper_case_guid(api: WebApiSession) -> None:
    city = unique("fx-lookup")
    contact = api.create("contacts", {"lastname": unique("fx-contact")})
    account = api.create(
        "accounts",
        {"name": unique("fx-lookup"), "address1_city": city, "primarycontactid@odata.bind": f"/contacts({contact})"},
    )
    xml = in_city(
        city,
        f"<condition attribute='primarycontactid' operator='eq' value='{{{contact.upper()}}}'/>",
        attributes="<attribute name='primarycontactid'/>",
    )
    response = fetch(api, xml, headers=ALL_ANNOTATIONS)
    [row] = response.json()["value"]
    assert row["accountid"] == account
    assert row["_primarycontactid_value"] == contact
    assert row[f"_primarycontactid_value@{FORMATTED}"]


def test_order_descending_and_top(api: WebApiSession, city: str) -> None:
    xml = in_city(city, order="<order attribute='revenue' descending='true'/>", fetch_attributes=" top='3'")
    response = fetch(api, xml, headers=ALL_ANNOTATIONS)
    assert names(response) == ["F09 Contoso", "F08 Fabrikam", "F07 Contoso"]
    assert MORE not in response.json()
    assert COOKIE not in response.json()


def test_formatted_values_come_with_annotations(api: WebApiSession, city: str) -> None:
    xml = in_city(
        city,
        "<condition attribute='numberofemployees' operator='eq' value='1'/>",
        attributes="<attribute name='name'/><attribute name='accountcategorycode'/><attribute name='revenue'/>",
    )
    plain = fetch(api, xml).json()["value"][0]
    assert f"accountcategorycode@{FORMATTED}" not in plain
    response = fetch(api, xml, headers={"Prefer": f'odata.include-annotations="{FORMATTED}"'})
    row = response.json()["value"][0]
    assert row[f"accountcategorycode@{FORMATTED}"] == "Standard"
    assert row[f"revenue@{FORMATTED}"] == "$100.00"
    assert response.headers["Preference-Applied"] == f'odata.include-annotations="{FORMATTED}"'


def test_count_query_option_and_total_record_count(api: WebApiSession, city: str) -> None:
    xml = in_city(city, fetch_attributes=" count='2' returntotalrecordcount='true'")
    body = fetch(api, xml, params={"$count": "true"}, headers=ALL_ANNOTATIONS).json()
    assert body["@odata.count"] == 10
    assert body["@Microsoft.Dynamics.CRM.totalrecordcount"] == 10
    assert body["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] is False
    assert len(body["value"]) == 2


def test_paging_cookie_has_dataverse_shape_and_is_absent_on_the_last_page(api: WebApiSession, city: str) -> None:
    xml = in_city(city)
    first = fetch(api, with_page(xml, 1, None, 4), headers=ALL_ANNOTATIONS).json()
    annotation = first[COOKIE]
    assert re.fullmatch(r'<cookie pagenumber="2" pagingcookie="[^"]+" istracking="False" />', annotation)
    # URL-encoded twice with lower-case hex, as in the reference's example.
    assert "%253ccookie%2520page%253d%25221%2522%253e%253cname%2520last%253d%2522F03%2520Contoso%2522" in annotation
    cookie = decoded_cookie(annotation)
    last_id = first["value"][-1]["accountid"].upper()
    assert cookie.startswith('<cookie page="1"><name last="F03 Contoso" first="F00 Fabrikam" />')
    assert f'<accountid last="{{{last_id}}}"' in cookie
    assert first[MORE] is True
    last = fetch(api, with_page(xml, 3, None, 4), headers=ALL_ANNOTATIONS).json()
    assert [row["name"] for row in last["value"]] == ["F08 Fabrikam", "F09 Contoso"]
    assert COOKIE not in last
    assert MORE not in last


def test_paging_annotations_only_when_asked_for(api: WebApiSession, city: str) -> None:
    body = fetch(api, with_page(in_city(city), 1, None, 2)).json()
    assert COOKIE not in body
    assert MORE not in body
    named = fetch(
        api,
        with_page(in_city(city), 1, None, 2),
        headers={"Prefer": 'odata.include-annotations="Microsoft.Dynamics.CRM.morerecords"'},
    ).json()
    assert named[MORE] is True
    assert COOKIE not in named


def pages_with_cookies(api: WebApiSession, xml: str, count: int) -> Iterator[list[dict[str, Any]]]:
    """Follow the paging cookie from page 1 to the last page."""
    page, cookie = 1, None
    while True:
        response = fetch(api, with_page(xml, page, cookie, count), headers=ALL_ANNOTATIONS)
        assert response.status_code == 200, response.text
        body = response.json()
        yield body["value"]
        if not body.get(MORE):
            assert COOKIE not in body
            return
        cookie = decoded_cookie(body[COOKIE])
        page += 1


@pytest.mark.parametrize("order", ["<order attribute='name'/>", "<order attribute='revenue' descending='true'/>", ""])
def test_the_cookie_resumes_after_the_last_row_even_when_rows_are_inserted_before_it(
    api: WebApiSession, city: str, order: str
) -> None:
    xml = in_city(city, "<condition attribute='name' operator='like' value='F%'/>", order=order)
    seen: Counter[str] = Counter()
    inserted: list[str] = []
    for rows in pages_with_cookies(api, xml, 3):
        seen.update(row["accountid"] for row in rows)
        # Rows that sort before everything already served: page-number paging would serve a row twice.
        inserted.append(
            api.create("accounts", {"name": f"F-{len(inserted)}", "address1_city": city, "revenue": 5000.0})
        )
    for record in inserted:
        assert api.delete(f"accounts({record})").status_code == 204
    assert [record for record, times in seen.items() if times > 1] == []
    assert len(set(seen) - set(inserted)) == 10


def test_without_a_cookie_the_page_number_decides(api: WebApiSession, city: str) -> None:
    xml = in_city(city)
    first = names(fetch(api, with_page(xml, 1, None, 3)))
    stale = fetch(api, with_page(xml, 1, None, 3), headers=ALL_ANNOTATIONS).json()[COOKIE]
    # A cookie of page 1 sent with page 3 is not for the page before, so it is ignored, as in Dataverse.
    third = names(fetch(api, with_page(xml, 3, decoded_cookie(stale), 3)))
    assert first == ["F00 Fabrikam", "F01 Contoso", "F02 Fabrikam"]
    assert third == ["F06 Fabrikam", "F07 Contoso", "F08 Fabrikam"]


def test_distinct_returns_each_combination_once_without_etags(api: WebApiSession, city: str) -> None:
    xml = in_city(
        city,
        attributes="<attribute name='accountcategorycode'/>",
        order="<order attribute='accountcategorycode'/>",
        fetch_attributes=" distinct='true'",
    )
    body = fetch(api, xml).json()
    assert body["value"] == [{"accountcategorycode": 1}, {"accountcategorycode": 2}]


@pytest.mark.parametrize(
    ("xml", "code"),
    [
        ("<fetch><entity name='account'>", "0x80040201"),
        ("not xml", "0x80040201"),
        ("<!DOCTYPE x [<!ENTITY a 'b'>]><fetch><entity name='account'/></fetch>", "0x80040201"),
        ("<fetch><entity name='contact'><attribute name='fullname'/></entity></fetch>", "0x80041128"),
        ("<fetch><entity name='account'><attribute name='nosuch'/></entity></fetch>", "0x80041103"),
        ("<fetch><entity name='account'><order attribute='nosuch'/></entity></fetch>", "0x80041103"),
        (
            (
                "<fetch><entity name='account'><filter><condition attribute='nosuch' operator='eq' value='1'/>"
                "</filter></entity></fetch>"
            ),
            "0x80041103",
        ),
        (
            (
                "<fetch><entity name='account'><filter><condition attribute='name' operator='sounds-like' value='x'/>"
                "</filter></entity></fetch>"
            ),
            "0x80041120",
        ),
        ("<fetch><entity name='account'><filter type='xor'/></entity></fetch>", "0x80041122"),
        ("<query><entity name='account'/></query>", "0x8004111c"),
        ("<fetch><entity name='account'><atribute name='name'/></entity></fetch>", "0x8004111c"),
        (
            (
                "<fetch><entity name='account'><filter><condition attribute='revenue' operator='gt' value='lots'/>"
                "</filter></entity></fetch>"
            ),
            "0x80040203",
        ),
        (
            (
                "<fetch><entity name='account'><filter><condition attribute='revenue' operator='like' value='1%'/>"
                "</filter></entity></fetch>"
            ),
            "0x80040203",
        ),
        ("<fetch top='2' count='2'><entity name='account'/></fetch>", "0x80040203"),
        ("<fetch count='0'><entity name='account'/></fetch>", "0x80040203"),
        (
            (
                "<fetch><entity name='account'><link-entity name='contact' from='contactid' to='primarycontactid'>"
                "<filter><condition attribute='lastname' operator='eq' value='x'/></filter></link-entity>"
                "</entity></fetch>"
            ),
            "0x80040203",
        ),
        ("<fetch page='2' paging-cookie='not a cookie'><entity name='account'/></fetch>", "0x80040201"),
        # A digit to str.isdigit(), not to int(): refused, never a server error.
        ("<fetch count='\u00b2'><entity name='account'/></fetch>", "0x80040203"),
        (
            (
                "<fetch page='2' paging-cookie='&lt;cookie page=\"\u00b2\"&gt;&lt;/cookie&gt;'>"
                "<entity name='account'/></fetch>"
            ),
            "0x80040201",
        ),
    ],
)
def test_malformed_or_unknown_is_400_in_dataverse_shape(api: WebApiSession, xml: str, code: str) -> None:
    response = fetch(api, xml)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]


def test_other_query_options_cannot_be_combined(api: WebApiSession) -> None:
    response = fetch(api, "<fetch><entity name='account'/></fetch>", params={"$select": "name"})
    assert response.status_code == 400
    assert "$select" in response.json()["error"]["message"]


def test_unknown_attribute_message_names_it(api: WebApiSession) -> None:
    response = fetch(api, "<fetch><entity name='account'><attribute name='nosuch'/></entity></fetch>")
    assert "Name = 'nosuch'" in response.json()["error"]["message"]


def test_long_fetchxml_runs_as_a_get_inside_batch(api: WebApiSession, city: str) -> None:
    values = "".join(f"<value>{index}</value>" for index in range(2000))
    xml = in_city(city, f"<condition attribute='numberofemployees' operator='in'>{values}</condition>")
    target = requests.Request("GET", f"{api.root}accounts", params={"fetchXml": xml}).prepare().url
    body = (
        "--batch_fx\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        f"GET {target} HTTP/1.1\r\nAccept: application/json\r\n\r\n--batch_fx--\r\n"
    )
    response = api.post("$batch", data=body.encode(), headers={"Content-Type": "multipart/mixed; boundary=batch_fx"})
    assert response.status_code == 200, response.text
    assert "HTTP/1.1 200 OK" in response.text
    assert response.text.count('"name":"F0') == 10


def test_fetchxml_needs_a_bearer_token(sandbox: Sandbox) -> None:
    response = requests.get(
        f"{sandbox.api_root}accounts", params={"fetchXml": "<fetch><entity name='account'/></fetch>"}, timeout=10
    )
    assert response.status_code == 401


@pytest.mark.slow
def test_every_record_once_while_others_insert_and_delete_between_pages() -> None:
    with Sandbox() as sb:
        preexisting, _ = sb.seed(20_000)
        deleted: set[str] = set()
        seen: Counter[str] = Counter()
        xml = "<fetch><entity name='account'><attribute name='name'/><order attribute='name'/></entity></fetch>"
        victims = list(reversed(preexisting))
        with WebApiSession(sb, bearer_token(sb)) as api:
            for index, rows in enumerate(pages_with_cookies(api, xml, 1000)):
                seen.update(row["accountid"] for row in rows)
                for offset in range(3):
                    api.create("accounts", {"name": f"AAA inserted {index}-{offset}"})
                    victim = victims.pop()
                    if victim not in seen and api.delete(f"accounts({victim})").status_code == 204:
                        deleted.add(victim)
        assert [record for record, times in seen.items() if times > 1] == []
        assert [record for record in preexisting if record not in deleted and record not in seen] == []
        assert deleted


def test_link_entity_returns_related_columns_under_its_alias(api: WebApiSession) -> None:
    account = api.create("accounts", {"name": "Linked parent"})
    linked = api.create(
        "contacts", {"lastname": "Linkedchild", "parentcustomerid_account@odata.bind": f"/accounts({account})"}
    )
    api.create("contacts", {"lastname": "Linkedorphan"})
    fetch = (
        "<fetch><entity name='contact'><attribute name='lastname'/>"
        "<filter><condition attribute='lastname' operator='like' value='Linked%'/></filter>"
        "<link-entity name='account' from='accountid' to='parentcustomerid' alias='a' {kind}>"
        "<attribute name='name'/></link-entity></entity></fetch>"
    )
    inner = api.get("contacts", params={"fetchXml": fetch.format(kind="link-type='inner'")}).json()["value"]
    assert [(row["contactid"], row["a.name"]) for row in inner] == [(linked, "Linked parent")]
    outer = api.get("contacts", params={"fetchXml": fetch.format(kind="link-type='outer'")}).json()["value"]
    assert sorted(row["lastname"] for row in outer) == ["Linkedchild", "Linkedorphan"]
    assert sum("a.name" in row for row in outer) == 1
