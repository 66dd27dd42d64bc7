"""Links taken from documents (issue 12, item 1): an edit link or ``@odata.id`` must name exactly one record of an
entity set below the API root, on the API's origin, or the document fails naming the member and nothing is sent.
Ids, keys and ETags are checked before they reach a URL or a header. Every operation that takes a link is run with
the same hostile values, with one good document last, against strict mocks: a request for anything but the good
document (and the metadata it needs) fails the test.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
import responses
from responses import matchers

from connector.dataverse.client import DataverseClient, ForeignLinkError, MalformedLinkError, OutsideRootError
from connector.dataverse.odata.literals import LiteralError, entity_path, parse_entity_path
from connector.errors import ConfigError
from connector.results import Connection, OperationResult, ResultStatus
from tests.support.dataverse import API, ORIGIN, add_entity, run, url_of

ID = "00000000-0000-0000-0000-0000000000a1"
OTHER = "00000000-0000-0000-0000-0000000000b2"

HOSTILE_LINKS: list[Any] = [
    "../WhoAmI()",
    "WhoAmI()",
    "/api/data/WhoAmI()",
    "/api/data/v9.2/../WhoAmI()",
    f"accounts({ID})/name",
    f"accounts({ID})/name/$value",
    f"accounts({ID})/Microsoft.Dynamics.CRM.Merge",
    f"{API}accounts({ID})/name",
    f"accounts({ID})%2Fname",
    f"accounts({ID})%2F..%2F..%2FWhoAmI()",
    "%2e%2e/WhoAmI()",
    f"accounts({ID})/../../WhoAmI()",
    f"accounts({ID})\\..\\WhoAmI()",
    "accounts()",
    f"accounts({ID}",
    f"accounts({ID},{OTHER})",
    f"accounts({{{ID}}})",
    f"contacts({ID})",
    "accounts(name='x')/name",
    "accounts(name='x'%29%2Fname%28'')",
    "accounts(name='x%27)/name(%27')",
    "accounts(name=x y)",
    "accounts(name=%ff)",
    "accounts(name='a\r\nX-Evil: 1')",
    f"accounts({ID})\r\nX-Evil: 1",
    "accounts(name='\ud800')",
    f"accounts({ID})?$select=name",
    f"accounts({ID})#top",
    f"https://evil.example/api/data/v9.2/accounts({ID})",
    f"//evil.example/api/data/v9.2/accounts({ID})",
    f"http://contoso.crm.dynamics.com/api/data/v9.2/accounts({ID})",
    f"https://contoso.crm.dynamics.com:8443/api/data/v9.2/accounts({ID})",
    f"https://contoso.crm.dynamics.com:99999/api/data/v9.2/accounts({ID})",
    "https://h:99999/",
    "https://[x/",
    f"https://[x/api/data/v9.2/accounts({ID})",
    f"https://contoso.crm.dynamics.com/api/data/v9.1/accounts({ID})",
    f"https://contoso.crm.dynamics.com/api/data/v9.2/accounts({ID})/name",
    f"https://user:s3cret-canary@contoso.crm.dynamics.com/api/data/v9.2/accounts({ID})",
    # A password in a link that is also wrong otherwise: the message quoted the link, password and all.
    f"https://user:s3cret-canary@[x/api/data/v9.2/accounts({ID})",
    f"https://user:s3cret-canary@contoso.crm.dynamics.com:99999/api/data/v9.2/accounts({ID})",
    f"https://user:s3cret-canary@contoso.crm.dynamics.com/api/data/v9.2/accounts({ID})?$select=name",
    f"//user:s3cret-canary@evil.example/api/data/v9.2/accounts({ID})",
    # Links a browser reads with a password and urlsplit without an authority (another refusal quoted them).
    f"https:user:s3cret-canary@contoso.crm.dynamics.com/api/data/v9.2/accounts({ID})",
    f"https:/user:s3cret-canary@contoso.crm.dynamics.com/api/data/v9.2/accounts({ID})",
    f"https:\\\\user:s3cret-canary@contoso.crm.dynamics.com/api/data/v9.2/accounts({ID})",
    f"https:///user:s3cret-canary@contoso.crm.dynamics.com/api/data/v9.2/accounts({ID})",
    f"\\\\user:s3cret-canary@evil.example/api/data/v9.2/accounts({ID})",
    # A password holding a "(": the @ comes after the first ( of the link.
    f"https:user:s3cret-canary(@contoso.crm.dynamics.com/api/data/v9.2/accounts({ID})",
    f"https://user:s3cret-canary(@contoso.crm.dynamics.com/api/data/v9.1/accounts({ID})",
    "javascript:alert(1)",
    "file:///etc/passwd",
    "",
    "   ",
    42,
    ["accounts", ID],
]
GOOD = {"@odata.editLink": f"/api/data/v9.2/accounts({ID.upper()})"}
RECORD = f"{API}accounts({ID})"


def hostile_documents(extra: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    return [{"@odata.editLink": link, **(extra or {})} for link in HOSTILE_LINKS]


def assert_refused(results: list[OperationResult], member: str, count: int) -> None:
    """The first ``count`` results failed on ``member``, without any secret in the message; the last succeeded."""
    assert [result.input_index for result in results] == list(range(count + 1))
    for result in results[:count]:
        assert result.status is ResultStatus.FAILED, result
        assert result.error is not None
        assert result.error.field == member, result.error
        assert result.error.failure_type == "operation"
        assert result.error.message.startswith(f"{member}: ")
        assert "s3cret-canary" not in result.error.message
        assert "\r" not in result.error.message
        assert "\n" not in result.error.message
    assert results[-1].status in (ResultStatus.SUCCESS, ResultStatus.DELETED), results[-1]


# -- the checks themselves --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "rebuilt"),
    [
        (f"accounts({ID.upper()})", f"accounts({ID})"),
        (
            "contacts(firstname='Jo''e',emailaddress1='a%40b%2Fc')",
            "contacts(firstname='Jo''e',emailaddress1='a@b%2Fc')",
        ),
        ("accounts(name='a/b?c#d')", "accounts(name='a%2Fb%3Fc%23d')"),
        ("accounts(name='%252e%252e')", "accounts(name='%252e%252e')"),
        ("x(a=1.5,b=2020-01-01,c=2020-01-01T00:00:00Z)", "x(a=1.5,b=2020-01-01,c=2020-01-01T00:00:00Z)"),
        (f"contacts(_parentcustomerid_value={ID})", f"contacts(_parentcustomerid_value={ID})"),
        (f"accounts%28{ID}%29", f"accounts({ID})"),
    ],
)
def test_a_record_path_is_rebuilt_from_what_the_service_would_read(path: str, rebuilt: str) -> None:
    assert entity_path(*parse_entity_path(path)) == rebuilt


@pytest.mark.parametrize(
    "path",
    [
        link
        for link in HOSTILE_LINKS
        # Another set's record and links to strip first are refused by the caller, not by the parser.
        if isinstance(link, str) and link.strip() and link != f"contacts({ID})" and not link.startswith(("/", "http"))
    ]
    + ["accounts(name=1,name=2)", "accounts(name='x')x", "accounts(name)", "accounts(='x')", "accounts(a=)"],
)
def test_anything_but_one_record_is_refused(path: str) -> None:
    with pytest.raises(LiteralError):
        parse_entity_path(path)


@pytest.mark.parametrize(
    ("link", "below"),
    [
        (f"accounts({ID})", f"accounts({ID})"),
        (f"/accounts({ID})", f"accounts({ID})"),
        (f"/api/data/v9.2/accounts({ID})", f"accounts({ID})"),
        (f"{API}accounts({ID})", f"accounts({ID})"),
        (f"HTTPS://CONTOSO.crm.dynamics.com:443/api/data/v9.2/accounts({ID})", f"accounts({ID})"),
        # An "@" past the host is no user name.
        (f"{API}contacts(emailaddress1='a@b.example')", "contacts(emailaddress1='a@b.example')"),
    ],
)
def test_the_part_below_the_api_root(client: DataverseClient, link: str, below: str) -> None:
    assert client.record_path(link) == below


@pytest.mark.parametrize(
    ("link", "error"),
    [
        (f"https://evil.example/api/data/v9.2/accounts({ID})", ForeignLinkError),
        (f"http://contoso.crm.dynamics.com/api/data/v9.2/accounts({ID})", ForeignLinkError),
        (f"//evil.example/api/data/v9.2/accounts({ID})", OutsideRootError),
        (f"{ORIGIN}/api/data/v9.1/accounts({ID})", OutsideRootError),
        (f"{ORIGIN}/accounts({ID})", OutsideRootError),
        (f"https://u:p@contoso.crm.dynamics.com/api/data/v9.2/accounts({ID})", OutsideRootError),
        (f"{ORIGIN}:notaport/api/data/v9.2/accounts({ID})", MalformedLinkError),
        ("https://[zzz]/api/data/v9.2/accounts(1)", MalformedLinkError),
        ("https://[x/", MalformedLinkError),
        ("https://h:99999/", MalformedLinkError),
        (f"accounts({ID})?$select=name", OutsideRootError),
        ("mailto:someone@example.com", OutsideRootError),
    ],
)
def test_links_outside_the_api_root_are_refused(client: DataverseClient, link: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        client.record_path(link)


@pytest.mark.parametrize(
    "link",
    [
        f"https://u:s3cret@[x/api/data/v9.2/accounts({ID})",
        f"https://u:s3cret@contoso.crm.dynamics.com:99999/api/data/v9.2/accounts({ID})",
        f"https://u:s3cret@contoso.crm.dynamics.com/api/data/v9.2/accounts({ID})?$select=name",
        f"//u:s3cret@evil.example/api/data/v9.2/accounts({ID})",
        f"https:/\t/u:s3cret@contoso.crm.dynamics.com/api/data/v9.2/accounts({ID})",
        f"ftp://u:s3cret@contoso.crm.dynamics.com/api/data/v9.2/accounts({ID})",
        f"https:u:s3cret@contoso.crm.dynamics.com/api/data/v9.2/accounts({ID})",
        f"https:\\\\u:s3cret@contoso.crm.dynamics.com/api/data/v9.2/accounts({ID})",
        f"https:///u:s3cret@contoso.crm.dynamics.com/api/data/v9.2/accounts({ID})",
    ],
)
def test_a_link_with_a_password_is_refused_for_it_whatever_else_is_wrong(client: DataverseClient, link: str) -> None:
    # The caller quotes the link after any other refusal: this one must come first.
    with pytest.raises(OutsideRootError, match=r"^carries a user name or password"):
        client.record_path(link)


# -- every operation that takes a link --------------------------------------------------------------------------


def test_get_sends_nothing_for_a_hostile_edit_link(mocked: responses.RequestsMock, connection: Connection) -> None:
    add_entity(mocked)
    mocked.add("GET", RECORD, json={"accountid": ID, "name": "A"})
    results = run(connection, "get", {"entity_set": "accounts"}, [*hostile_documents(), GOOD])
    assert_refused(results, "@odata.editLink", len(HOSTILE_LINKS))
    assert [url_of(call) for call in mocked.calls][-1] == RECORD


def test_update_sends_nothing_for_a_hostile_edit_link(mocked: responses.RequestsMock, connection: Connection) -> None:
    add_entity(mocked)
    mocked.add("PATCH", RECORD, status=204, match=[matchers.json_params_matcher({"name": "x"})])
    options = {"entity_set": "accounts", "bulk": {"mode": "off"}}
    results = run(connection, "update", options, [*hostile_documents({"name": "x"}), {**GOOD, "name": "x"}])
    assert_refused(results, "@odata.editLink", len(HOSTILE_LINKS))


def test_upsert_sends_nothing_for_a_hostile_edit_link(mocked: responses.RequestsMock, connection: Connection) -> None:
    add_entity(mocked)
    mocked.add("PATCH", RECORD, status=204)
    options = {"entity_set": "accounts", "bulk": {"mode": "off"}}
    results = run(connection, "upsert", options, [*hostile_documents({"name": "x"}), {**GOOD, "name": "x"}])
    assert_refused(results, "@odata.editLink", len(HOSTILE_LINKS))


def test_delete_sends_nothing_for_a_hostile_edit_link(mocked: responses.RequestsMock, connection: Connection) -> None:
    add_entity(mocked)
    mocked.add("DELETE", RECORD, status=204)
    results = run(connection, "delete", {"entity_set": "accounts"}, [*hostile_documents(), GOOD])
    assert_refused(results, "@odata.editLink", len(HOSTILE_LINKS))
    assert [call.request.method for call in mocked.calls] == ["GET", "DELETE"]


def test_a_bound_execute_sends_nothing_for_a_hostile_edit_link(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    mocked.add("POST", f"{RECORD}/Microsoft.Dynamics.CRM.Recalculate", status=204)
    options = {"name": "Recalculate", "kind": "action", "binding": "entity", "entity_set": "accounts"}
    results = run(connection, "execute", options, [*hostile_documents(), GOOD])
    assert_refused(results, "@odata.editLink", len(HOSTILE_LINKS))


@pytest.mark.parametrize("operation", ["associate", "disassociate"])
def test_associations_send_nothing_for_a_hostile_source(
    mocked: responses.RequestsMock, connection: Connection, operation: str
) -> None:
    method = "POST" if operation == "associate" else "DELETE"
    mocked.add(method, f"{RECORD}/contact_customer_accounts/$ref", status=204)
    options = {"entity_set": "accounts", "relationship": "contact_customer_accounts"}
    related = {"@odata.id": f"contacts({OTHER})"}
    results = run(connection, operation, options, [*hostile_documents(related), {**GOOD, **related}])
    assert_refused(results, "@odata.editLink", len(HOSTILE_LINKS))


@pytest.mark.parametrize("operation", ["associate", "disassociate"])
def test_associations_send_nothing_for_a_hostile_related_record(
    mocked: responses.RequestsMock, connection: Connection, operation: str
) -> None:
    method = "POST" if operation == "associate" else "DELETE"
    mocked.add(method, f"{RECORD}/contact_customer_accounts/$ref", status=204)
    mocked.add("GET", f"{API}EntityDefinitions", json={"value": []})  # a function, not an entity set
    hostile: list[Any] = [
        link for link in HOSTILE_LINKS if link != f"contacts({ID})" and link != f"accounts({{{ID}}})"
    ] + [
        "GetTimeZoneCodeByLocalizedName(LocalizedStandardName='Pacific Standard Time',LocaleId=1033)",
        f"contacts({OTHER})/fullname",
    ]
    options = {"entity_set": "accounts", "relationship": "contact_customer_accounts"}
    documents = [{**GOOD, "@odata.id": link} for link in hostile] + [{**GOOD, "@odata.id": f"contacts({OTHER})"}]
    results = run(connection, operation, options, documents)
    assert_refused(results, "@odata.id", len(hostile))
    sent = mocked.calls[-1].request
    if operation == "associate":
        assert json.loads(sent.body or b"") == {"@odata.id": f"{API}contacts({OTHER})"}
    else:
        assert url_of(mocked.calls[-1]).endswith(f"$ref?$id={API}contacts({OTHER})")


NO_URL = {
    "https://[x/": "its host is neither a name nor a bracketed IP address",
    "https://h:99999/": "its port is not a number from 0 to 65535",
}
ASSOCIATION = {"entity_set": "accounts", "relationship": "contact_customer_accounts"}
RELATED = {"@odata.id": f"contacts({OTHER})"}
REFERENCES = f"{RECORD}/contact_customer_accounts/$ref"


@pytest.mark.parametrize(
    ("operation", "options", "member", "method", "url", "extra"),
    [
        ("get", {"entity_set": "accounts"}, "@odata.editLink", "GET", RECORD, {}),
        (
            "update",
            {"entity_set": "accounts", "bulk": {"mode": "off"}},
            "@odata.editLink",
            "PATCH",
            RECORD,
            {"name": "x"},
        ),
        ("delete", {"entity_set": "accounts"}, "@odata.editLink", "DELETE", RECORD, {}),
        ("associate", ASSOCIATION, "@odata.editLink", "POST", REFERENCES, RELATED),
        ("associate", ASSOCIATION, "@odata.id", "POST", REFERENCES, {}),
        ("disassociate", ASSOCIATION, "@odata.id", "DELETE", REFERENCES, {}),
    ],
)
def test_a_link_that_is_no_url_fails_its_document_naming_the_member(
    mocked: responses.RequestsMock,
    connection: Connection,
    operation: str,
    options: dict[str, Any],
    member: str,
    method: str,
    url: str,
    extra: dict[str, Any],
) -> None:
    if url == RECORD:
        add_entity(mocked)
    mocked.add(method, url, status=204 if method != "GET" else 200, json=None if method != "GET" else {})
    if member == "@odata.id":
        documents = [{**GOOD, "@odata.id": link} for link in NO_URL] + [{**GOOD, **RELATED}]
    else:
        documents = [{"@odata.editLink": link, **extra} for link in NO_URL] + [{**GOOD, **extra}]
    results = run(connection, operation, options, documents)
    assert_refused(results, member, len(NO_URL))
    for result, (link, reason) in zip(results, NO_URL.items(), strict=False):
        assert result.error is not None
        assert result.error.message == f"{member}: is not a URL ({reason}); nothing was sent (got {link!r})"
    # Nothing was sent for the refused documents; the good one after them was.
    sent = [call.request.method for call in mocked.calls if "EntityDefinitions" not in url_of(call)]
    assert sent == [method]


@pytest.mark.parametrize(
    ("operation", "options"),
    [
        ("update", {"entity_set": "accounts", "bulk": {"mode": "batch", "min_batch_size": 2}}),
        ("upsert", {"entity_set": "accounts", "bulk": {"mode": "auto", "min_batch_size": 2}}),
    ],
)
def test_bulk_requests_carry_no_hostile_edit_link(
    mocked: responses.RequestsMock, connection: Connection, operation: str, options: dict[str, Any]
) -> None:
    add_entity(mocked)
    bodies: list[bytes] = []

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        bodies.append(request.body if isinstance(request.body, bytes) else str(request.body).encode())
        if "$batch" in request.url:
            boundary = "batchresponse_1"
            parts = "".join(
                f"--{boundary}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
                f"Content-ID: {number}\r\n\r\nHTTP/1.1 204 No Content\r\nOData-EntityId: {RECORD}\r\n\r\n\r\n"
                for number in (1, 2)
            )
            return 200, {"Content-Type": f"multipart/mixed; boundary={boundary}"}, parts + f"--{boundary}--\r\n"
        return 204, {}, ""

    url = f"{API}$batch" if operation == "update" else f"{API}accounts/Microsoft.Dynamics.CRM.UpsertMultiple"
    mocked.add_callback("POST", url, callback=answer)
    good = [{**GOOD, "name": "one"}, {"@odata.editLink": f"accounts({OTHER})", "name": "two"}]
    results = run(connection, operation, options, [*hostile_documents({"name": "x"}), *good])
    assert [result.input_index for result in results] == list(range(len(HOSTILE_LINKS) + 2))
    refused = results[: len(HOSTILE_LINKS)]
    assert all(result.error is not None and result.error.field == "@odata.editLink" for result in refused)
    assert [result.status for result in results[-2:]] == [ResultStatus.SUCCESS] * 2
    [body] = bodies
    for needle in (b"WhoAmI", b"evil", b"/name", b"X-Evil", b"..", b"v9.1", b"s3cret"):
        assert needle not in body
    assert f"accounts({ID})".encode() in body
    assert f"accounts({OTHER})".encode() in body


# -- ids, keys and header values --------------------------------------------------------------------------------

HOSTILE_ETAGS = ['W/"1"\r\nX-Evil: 1', 'W/"1"\nX-Evil: 1', 'W/"1" , "2"', "W/1", '"\x00"', 'W/"\u00e9"', "**"]


@pytest.mark.parametrize(
    ("operation", "options", "method"),
    [
        ("update", {"entity_set": "accounts", "bulk": {"mode": "off"}}, "PATCH"),
        ("update", {"entity_set": "accounts", "bulk": {"mode": "batch", "min_batch_size": 2}}, None),
        ("delete", {"entity_set": "accounts"}, "DELETE"),
        ("get", {"entity_set": "accounts", "concurrency_mode": "if_none_match"}, "GET"),
    ],
)
def test_an_etag_that_is_not_an_entity_tag_never_reaches_a_header(
    mocked: responses.RequestsMock,
    connection: Connection,
    operation: str,
    options: dict[str, Any],
    method: str | None,
) -> None:
    add_entity(mocked)
    if method is not None:
        mocked.add(method, RECORD, status=204 if method != "GET" else 200, json=None if method != "GET" else {})
    documents: list[dict[str, Any]] = [{**GOOD, "@odata.etag": etag, "name": "x"} for etag in HOSTILE_ETAGS]
    if method is not None:
        documents.append({**GOOD, "@odata.etag": 'W/"12"', "name": "x"})
    results = run(connection, operation, options, documents)
    for result in results[: len(HOSTILE_ETAGS)]:
        assert result.status is ResultStatus.FAILED
        assert result.error is not None
        assert result.error.field == "@odata.etag"
    if method is not None:
        assert results[-1].ok
        assert mocked.calls[-1].request.headers["If-Match" if method != "GET" else "If-None-Match"] == 'W/"12"'


@pytest.mark.parametrize(
    ("options", "document", "field"),
    [
        ({"entity_set": "accounts"}, {"accountid": f"{ID}) or (1"}, "accountid"),
        ({"entity_set": "accounts"}, {"accountid": {"@odata.id": "WhoAmI()"}}, "accountid"),
        ({"entity_set": "accounts", "key_fields": ["accountnumber"]}, {"accountnumber": "\ud800"}, "accountnumber"),
        ({"entity_set": "accounts", "key_fields": ["accountnumber"]}, {"accountnumber": {"a": 1}}, "accountnumber"),
        ({"entity_set": "accounts", "key_fields": ["accountnumber"]}, {"accountnumber": float("nan")}, "accountnumber"),
        ({"entity_set": "accounts"}, {**GOOD, "@connector.query_parameters": {"tag": "\udfff"}}, None),
    ],
)
def test_ids_and_keys_are_checked_before_they_reach_a_url(
    mocked: responses.RequestsMock, connection: Connection, options: dict[str, Any], document: Any, field: str | None
) -> None:
    if "key_fields" not in options:
        add_entity(mocked)
    [result] = run(connection, "get", options, [document])
    assert result.status is ResultStatus.FAILED
    assert result.error is not None
    assert result.error.failure_type == "operation", result.error
    if field is not None:
        assert result.error.field == field
    else:
        assert result.error.field == "@connector.query_parameters.tag"


def test_an_alternate_key_value_that_looks_like_a_path_stays_a_value(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    add_entity(mocked)
    url = f"{API}accounts(accountnumber='..%2FWhoAmI%28%29%3F%23')"
    mocked.add("GET", url, json={"accountid": ID})
    options = {"entity_set": "accounts", "key_fields": ["accountnumber"]}
    [result] = run(connection, "get", options, [{"accountnumber": "../WhoAmI()?#"}])
    assert result.ok
    assert url_of(mocked.calls[-1]) == url


def test_the_etag_option_must_be_an_entity_tag(connection: Connection) -> None:
    with pytest.raises(ConfigError) as caught:
        run(connection, "update", {"entity_set": "accounts", "etag": 'W/"1"\r\nX-Evil: 1'}, [])
    assert caught.value.fields == ["options.etag"]
