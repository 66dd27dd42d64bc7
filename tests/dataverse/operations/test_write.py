"""Create, Update, Upsert and Delete: request bodies and headers, results, conditional outcomes, replay safety."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import requests
import responses
from responses import matchers

from connector.results import Connection, ResultStatus
from tests.support.dataverse import API, add_entity, run

NEW_ID = "7eb682f1-ca75-e511-80d4-00155d2a68d1"
ID = "00000000-0000-0000-0000-000000000001"
# The reference's create example (§3.1).
SAMPLE = {
    "name": "Sample Account",
    "creditonhold": False,
    "address1_latitude": 47.639583,
    "description": "This is the description of the sample account",
    "revenue": 5000000,
    "accountcategorycode": 1,
}
STALE = {
    "error": {
        "code": "0x80060882",
        "message": "The version of the existing record doesn't match the RowVersion property provided.",
    }
}


def body_of(call: Any) -> Any:
    return json.loads(call.request.body)


def echo_key(request: Any) -> tuple[int, dict[str, str], str]:
    """Answer a create as the service does: with the URL of the record, whose id is the one the create carried."""
    record_id = json.loads(request.body)["accountid"]
    return 204, {"OData-EntityId": f"{API}accounts({record_id})"}, ""


@pytest.mark.parametrize("bulk", ["off", "auto"])
def test_create_sends_the_document_with_a_key_of_its_own_and_reads_the_entity_id(
    mocked: responses.RequestsMock, connection: Connection, bulk: str
) -> None:
    add_entity(mocked)
    mocked.add_callback("POST", f"{API}accounts", callback=echo_key)
    [result] = run(connection, "create", {"entity_set": "accounts", "bulk": {"mode": bulk}}, [SAMPLE])
    sent = body_of(mocked.calls[1])
    record_id = sent.pop("accountid")
    assert sent == SAMPLE
    assert uuid.UUID(record_id).version == 4
    assert result.status is ResultStatus.SUCCESS
    assert result.properties == {"id": record_id, "entity_url": f"{API}accounts({record_id})", "http_status": "204"}
    assert result.payload == {"@odata.editLink": f"accounts({record_id})", "accountid": record_id}
    headers = mocked.calls[1].request.headers
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert "Prefer" not in headers


@pytest.mark.parametrize("bulk", ["off", "auto"])
def test_create_without_client_keys_sends_the_document_exactly(
    mocked: responses.RequestsMock, connection: Connection, bulk: str
) -> None:
    add_entity(mocked)
    mocked.add(
        "POST",
        f"{API}accounts",
        status=204,
        headers={"OData-EntityId": f"{API}accounts({NEW_ID})"},
        match=[matchers.json_params_matcher(SAMPLE)],
    )
    options = {"entity_set": "accounts", "client_keys": "never", "bulk": {"mode": bulk}}
    [result] = run(connection, "create", options, [SAMPLE])
    assert result.properties == {"id": NEW_ID, "entity_url": f"{API}accounts({NEW_ID})", "http_status": "204"}


def test_create_returning_the_record(mocked: responses.RequestsMock, connection: Connection) -> None:
    add_entity(mocked)
    created = {
        "@odata.context": f"{API}$metadata#accounts/$entity",
        "@odata.etag": 'W/"536530"',
        "accountid": "d6f193fc-ce85-e611-80d8-00155d2a68de",
        "name": "Sample Account",
        "createdon": "2016-09-28T22:57:53Z",
    }
    mocked.add(
        "POST",
        f"{API}accounts?$select=name,createdon",
        status=201,
        json=created,
        match=[matchers.header_matcher({"Prefer": "return=representation"})],
    )
    options = {"entity_set": "accounts", "return_representation": True, "select": ["name", "createdon"]}
    [result] = run(connection, "create", options, [{"name": "Sample Account"}])
    assert result.properties["etag"] == 'W/"536530"'
    assert result.properties["id"] == "d6f193fc-ce85-e611-80d8-00155d2a68de"
    assert result.payload is not None
    assert result.payload["createdon"] == "2016-09-28T22:57:53Z"


def test_a_create_answered_with_an_entity_url_that_is_no_url_keeps_its_key(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    # Reading the id from "https://[oops/…" raised ValueError: the record was created, its result a failure.
    add_entity(mocked)
    mocked.add("POST", f"{API}accounts", status=204, headers={"OData-EntityId": f"https://[oops/accounts({NEW_ID})"})
    [result] = run(connection, "create", {"entity_set": "accounts"}, [{"name": "x"}])
    assert result.status is ResultStatus.SUCCESS
    assert result.properties["id"] == body_of(mocked.calls[1])["accountid"]


def test_create_keeps_binds_and_deep_inserts_and_drops_read_annotations(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    add_entity(mocked, "contacts", "contact", "contactid", "fullname")
    mocked.add("POST", f"{API}contacts", status=204, headers={"OData-EntityId": f"{API}contacts({NEW_ID})"})
    document = {
        "lastname": "O'Brien",
        "ParentCustomerId_Account@odata.bind": "/accounts(00000000-0000-0000-0000-000000000002)",
        "sample_Tags@odata.bind": ["/sample_tags(00000000-0000-0000-0000-000000000003)"],
        "@odata.etag": 'W/"1"',
        "@odata.type": "Microsoft.Dynamics.CRM.contact",
        "@connector.query_parameters": {"tag": "x"},
        "gendercode@OData.Community.Display.V1.FormattedValue": "Female",
        "contact_customer_accounts": [{"name": "Child", "@odata.etag": 'W/"2"', "name@x.y": "z"}],
    }
    [result] = run(connection, "create", {"entity_set": "contacts"}, [document])
    assert result.status is ResultStatus.SUCCESS
    sent = body_of(mocked.calls[1])
    assert uuid.UUID(sent.pop("contactid"))
    assert sent == {
        "lastname": "O'Brien",
        "ParentCustomerId_Account@odata.bind": "/accounts(00000000-0000-0000-0000-000000000002)",
        "sample_Tags@odata.bind": ["/sample_tags(00000000-0000-0000-0000-000000000003)"],
        "@odata.type": "Microsoft.Dynamics.CRM.contact",
        "contact_customer_accounts": [{"name": "Child"}],
    }
    assert mocked.calls[1].request.url == f"{API}contacts?tag=x"


def test_create_sends_the_write_headers(mocked: responses.RequestsMock, connection: Connection) -> None:
    add_entity(mocked)
    mocked.add(
        "POST",
        f"{API}accounts",
        status=204,
        headers={"OData-EntityId": f"{API}accounts({NEW_ID})"},
        match=[
            matchers.header_matcher(
                {
                    "MSCRM.SuppressDuplicateDetection": "false",
                    "MSCRM.BypassCustomPluginExecution": "true",
                    "MSCRM.BypassBusinessLogicExecution": "CustomSync",
                }
            )
        ],
    )
    options = {
        "entity_set": "accounts",
        "duplicate_detection": True,
        "bypass_custom_plugins": True,
        "bypass_business_logic": "CustomSync",
    }
    assert run(connection, "create", options, [{"name": "x"}])[0].ok


def test_a_create_with_its_own_key_is_re_sent_after_a_lost_answer(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    add_entity(mocked)
    mocked.add("POST", f"{API}accounts", body=requests.ConnectionError("connection reset by peer"))
    mocked.add("POST", f"{API}accounts", status=204, headers={"OData-EntityId": f"{API}accounts({NEW_ID})"})
    [result] = run(connection, "create", {"entity_set": "accounts"}, [{"accountid": NEW_ID.upper(), "name": "x"}])
    assert result.status is ResultStatus.SUCCESS
    assert result.properties["id"] == NEW_ID
    assert body_of(mocked.calls[2])["accountid"] == NEW_ID
    assert len(mocked.calls) == 3


def test_by_default_a_single_create_gets_a_key_and_is_re_sent_with_it_after_a_lost_answer(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    add_entity(mocked)
    mocked.add("POST", f"{API}accounts", body=requests.ConnectionError("connection reset by peer"))
    mocked.add_callback("POST", f"{API}accounts", callback=echo_key)
    options = {"entity_set": "accounts", "bulk": {"mode": "off"}}
    [result] = run(connection, "create", options, [{"name": "x"}])
    assert result.status is ResultStatus.SUCCESS
    first, second = body_of(mocked.calls[1]), body_of(mocked.calls[2])
    assert first == second
    assert result.properties["id"] == first["accountid"]


def test_a_create_without_a_key_is_not_re_sent_after_a_lost_answer(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    add_entity(mocked)
    mocked.add("POST", f"{API}accounts", body=requests.ConnectionError("connection reset by peer"))
    [result] = run(connection, "create", {"entity_set": "accounts", "client_keys": "never"}, [{"name": "x"}])
    assert result.status is ResultStatus.UNKNOWN
    assert not result.ok
    assert result.error is not None
    assert result.error.failure_type == "transient"
    assert result.error.message.startswith("Outcome unknown: ")
    assert "may have been processed, so it was not sent again" in result.error.message
    assert len(mocked.calls) == 2


def test_a_create_without_a_key_answered_by_a_gateway_error_is_not_re_sent(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    """The gateway may have passed the create on: a second POST could store the record twice (issue 12)."""
    add_entity(mocked)
    mocked.add("POST", f"{API}accounts", status=504, json={"error": {"code": "0x80040216", "message": "timed out"}})
    [result] = run(connection, "create", {"entity_set": "accounts", "client_keys": "never"}, [{"name": "x"}])
    assert result.status is ResultStatus.UNKNOWN
    assert result.error is not None
    assert result.error.failure_type == "transient"
    assert "[504]" in result.error.message
    assert "may have been processed" in result.error.message
    assert len(mocked.calls) == 2


def test_a_create_without_a_key_is_re_sent_after_the_service_said_it_did_not_process_it(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    add_entity(mocked)
    busy = {"error": {"code": "0x80072322", "message": "Number of requests exceeded the limit"}}
    mocked.add("POST", f"{API}accounts", status=429, json=busy, headers={"Retry-After": "1"})
    mocked.add("POST", f"{API}accounts", status=503, headers={"Retry-After": "1"})
    mocked.add("POST", f"{API}accounts", status=204, headers={"OData-EntityId": f"{API}accounts({NEW_ID})"})
    [result] = run(connection, "create", {"entity_set": "accounts"}, [{"name": "x"}])
    assert result.status is ResultStatus.SUCCESS


def test_a_create_with_its_own_key_is_re_sent_after_a_gateway_error(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    add_entity(mocked)
    mocked.add("POST", f"{API}accounts", status=502)
    mocked.add("POST", f"{API}accounts", status=204, headers={"OData-EntityId": f"{API}accounts({NEW_ID})"})
    [result] = run(connection, "create", {"entity_set": "accounts"}, [{"accountid": NEW_ID, "name": "x"}])
    assert result.status is ResultStatus.SUCCESS


def test_a_bad_client_key_is_named(mocked: responses.RequestsMock, connection: Connection) -> None:
    add_entity(mocked)
    [result] = run(connection, "create", {"entity_set": "accounts"}, [{"accountid": "A-1"}])
    assert result.error is not None
    assert result.error.field == "accountid"


def test_update_with_a_stale_etag_fails_as_changed_since_read(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    add_entity(mocked)
    mocked.add(
        "PATCH",
        f"{API}accounts({ID})",
        status=412,
        json=STALE,
        match=[
            matchers.header_matcher({"If-Match": 'W/"468026"'}),
            matchers.json_params_matcher({"name": "Updated Sample Account ", "creditonhold": True}),
        ],
    )
    document = {
        "@odata.editLink": f"accounts({ID})",
        "@odata.etag": 'W/"468026"',
        "name": "Updated Sample Account ",
        "creditonhold": True,
    }
    [result] = run(connection, "update", {"entity_set": "accounts"}, [document])
    assert result.status is ResultStatus.FAILED
    assert result.error is not None
    assert result.error.message == (
        "(0x80060882)The version of the existing record doesn't match the RowVersion property provided.[412]"
    )
    assert result.error.field == "@odata.etag"
    assert result.properties["reason"] == "changed_since_read"
    assert result.properties["id"] == ID


@pytest.mark.parametrize(
    ("first", "options"),
    [
        (requests.ConnectionError("connection reset by peer"), {"entity_set": "accounts"}),
        (504, {"entity_set": "accounts"}),
        (502, {"entity_set": "accounts", "etag": "*", "concurrency_mode": "if_none_match"}),
    ],
    ids=["if-match after a reset", "if-match after a 504", "if-none-match after a 502"],
)
def test_a_conditional_update_refused_after_its_own_repeat_is_not_reported_as_the_records_state(
    mocked: responses.RequestsMock, connection: Connection, first: Any, options: dict[str, Any]
) -> None:
    """The first attempt may have been applied, changing the version the repeat's If-Match names (or creating the
    record its If-None-Match: * forbids): a 412 then says nothing about another writer (issue 12).
    """
    add_entity(mocked)
    if isinstance(first, Exception):
        mocked.add("PATCH", f"{API}accounts({ID})", body=first)
    else:
        mocked.add("PATCH", f"{API}accounts({ID})", status=first)
    mocked.add("PATCH", f"{API}accounts({ID})", status=412, json=STALE)
    document = {"@odata.editLink": f"accounts({ID})", "@odata.etag": 'W/"468026"', "name": "x"}
    [result] = run(connection, "update", options, [document])
    assert result.status is ResultStatus.UNKNOWN
    assert result.error is not None
    assert result.error.field is None
    assert result.error.message.startswith("Outcome unknown:")
    assert "[412]" in result.error.message
    assert result.properties["id"] == ID
    assert len(mocked.calls) == 3


def test_a_conditional_update_throttled_then_refused_is_changed_since_read(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    """A 429 says the first attempt was not processed: the 412 that follows is the record's own state."""
    add_entity(mocked)
    mocked.add("PATCH", f"{API}accounts({ID})", status=429, headers={"Retry-After": "1"})
    mocked.add("PATCH", f"{API}accounts({ID})", status=412, json=STALE)
    document = {"@odata.editLink": f"accounts({ID})", "@odata.etag": 'W/"468026"', "name": "x"}
    [result] = run(connection, "update", {"entity_set": "accounts"}, [document])
    assert result.properties["reason"] == "changed_since_read"


def test_update_only_and_create_only(mocked: responses.RequestsMock, connection: Connection) -> None:
    add_entity(mocked)
    mocked.add(
        "PATCH",
        f"{API}accounts({ID})",
        status=404,
        match=[matchers.header_matcher({"If-Match": "*"})],
        json={"error": {"code": "0x80040217", "message": "Does Not Exist"}},
    )
    mocked.add(
        "PATCH",
        f"{API}accounts({ID})",
        status=412,
        match=[matchers.header_matcher({"If-None-Match": "*"})],
        json={"error": {"code": "0x80040237", "message": "A record with matching key values already exists."}},
    )
    [missing] = run(connection, "update", {"entity_set": "accounts", "etag": "*"}, [{"accountid": ID, "name": "x"}])
    assert missing.properties["reason"] == "not_found"
    options = {"entity_set": "accounts", "etag": "*", "concurrency_mode": "if_none_match"}
    [exists] = run(connection, "update", options, [{"accountid": ID, "name": "x"}])
    assert exists.properties["reason"] == "already_exists"


def test_update_without_an_etag_sends_no_condition(mocked: responses.RequestsMock, connection: Connection) -> None:
    add_entity(mocked)
    mocked.add("PATCH", f"{API}accounts({ID})", status=204, headers={"OData-EntityId": f"{API}accounts({ID})"})
    [result] = run(connection, "update", {"entity_set": "accounts"}, [{"accountid": ID, "name": "x"}])
    headers = mocked.calls[1].request.headers
    assert "If-Match" not in headers
    assert "If-None-Match" not in headers
    assert result.properties == {"id": ID, "entity_url": f"{API}accounts({ID})", "http_status": "204"}


def test_upsert_by_alternate_key_created_then_updated(mocked: responses.RequestsMock, connection: Connection) -> None:
    add_entity(mocked)
    url = f"{API}accounts(accountnumber='A1')?$select=accountid"
    mocked.add("PATCH", url, status=201, json={"@odata.etag": 'W/"1"', "accountid": NEW_ID}, headers={"ETag": 'W/"1"'})
    mocked.add("PATCH", url, status=200, json={"@odata.etag": 'W/"2"', "accountid": NEW_ID})
    options = {
        "entity_set": "accounts",
        "key_fields": ["accountnumber"],
        "return_representation": True,
        "select": ["accountid"],
    }
    created, updated = run(connection, "upsert", options, [{"accountnumber": "A1", "name": "one"}] * 2)
    assert (created.properties["created"], updated.properties["created"]) == ("true", "false")
    assert created.properties["id"] == updated.properties["id"] == NEW_ID
    assert "If-Match" not in mocked.calls[1].request.headers


def test_upsert_without_representation_echoes_the_key_form(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    add_entity(mocked, "example_records", "example_record", "example_recordid", "example_name")
    key_url = f"{API}example_records(example_key1=2,example_key2=2)"
    mocked.add(
        "PATCH",
        key_url,
        status=204,
        headers={"OData-EntityId": key_url},
        match=[matchers.json_params_matcher({"example_key1": 2, "example_key2": 2, "example_name": "2:2"})],
    )
    options = {"entity_set": "example_records", "key_fields": ["example_key1", "example_key2"]}
    [result] = run(connection, "upsert", options, [{"example_key1": 2, "example_key2": 2, "example_name": "2:2"}])
    assert result.properties["entity_url"] == key_url
    assert result.payload == {"@odata.editLink": "example_records(example_key1=2,example_key2=2)"}


def test_delete_with_the_etag(mocked: responses.RequestsMock, connection: Connection) -> None:
    add_entity(mocked)
    mocked.add("DELETE", f"{API}accounts({ID})", status=204, match=[matchers.header_matcher({"If-Match": 'W/"7"'})])
    mocked.add(
        "DELETE",
        f"{API}accounts({ID})",
        status=404,
        json={"error": {"code": "0x80040217", "message": "Does Not Exist"}},
    )
    documents = [{"accountid": ID, "@odata.etag": 'W/"7"'}, {"@odata.editLink": f"/api/data/v9.2/accounts({ID})"}]
    deleted, missing = run(connection, "delete", {"entity_set": "accounts"}, documents)
    assert deleted.status is ResultStatus.DELETED
    assert deleted.properties["id"] == ID
    assert missing.status is ResultStatus.FAILED
    assert missing.properties["reason"] == "not_found"
    assert "If-Match" not in mocked.calls[2].request.headers


NOT_FOUND = {"error": {"code": "0x80040217", "message": "Does Not Exist"}}


@pytest.mark.parametrize(
    "first",
    [requests.ConnectionError("connection reset by peer"), 504, 502],
    ids=["answer lost", "504", "502"],
)
@pytest.mark.parametrize("etag", [None, 'W/"7"'], ids=["no etag", "if-match"])
def test_a_delete_whose_repeat_finds_nothing_is_deleted_not_not_found(
    mocked: responses.RequestsMock, connection: Connection, first: Any, etag: str | None
) -> None:
    """The first attempt may have deleted the record before its answer was lost: the repeat's 404 is not "the record
    never existed" (issue 12, item 2).
    """
    add_entity(mocked)
    if isinstance(first, Exception):
        mocked.add("DELETE", f"{API}accounts({ID})", body=first)
    else:
        mocked.add("DELETE", f"{API}accounts({ID})", status=first)
    mocked.add("DELETE", f"{API}accounts({ID})", status=404, json=NOT_FOUND)
    document = {"accountid": ID, **({"@odata.etag": etag} if etag else {})}
    [result] = run(connection, "delete", {"entity_set": "accounts"}, [document])
    assert result.status is ResultStatus.DELETED
    assert result.error is None
    assert result.properties["already_deleted"] == "true"
    assert result.properties["id"] == ID
    assert result.properties["http_status"] == "404"
    assert len(mocked.calls) == 3


def test_a_delete_throttled_then_not_found_is_not_found(mocked: responses.RequestsMock, connection: Connection) -> None:
    """A 429 says the first attempt was not processed: the 404 that follows is the record's own state."""
    add_entity(mocked)
    mocked.add("DELETE", f"{API}accounts({ID})", status=429, headers={"Retry-After": "1"})
    mocked.add("DELETE", f"{API}accounts({ID})", status=404, json=NOT_FOUND)
    [result] = run(connection, "delete", {"entity_set": "accounts"}, [{"accountid": ID}])
    assert result.status is ResultStatus.FAILED
    assert result.properties["reason"] == "not_found"
    assert "already_deleted" not in result.properties


@pytest.mark.parametrize(
    ("first", "then", "created"),
    [
        (requests.ConnectionError("connection reset by peer"), 200, None),
        (504, 200, None),
        (requests.ConnectionError("connection reset by peer"), 201, "true"),
        (429, 200, "false"),
    ],
    ids=["200 after a lost answer", "200 after a 504", "201 after a lost answer", "200 after a 429"],
)
def test_an_upsert_answered_after_its_own_repeat_does_not_claim_what_it_cannot_know(
    mocked: responses.RequestsMock, connection: Connection, first: Any, then: int, created: str | None
) -> None:
    """A 200 to a repeat says the record existed when the repeat arrived, perhaps created by the lost first attempt:
    ``created`` is left out rather than said to be false (issue 12, item 2). A 201 is this attempt's creation.
    """
    add_entity(mocked)
    url = f"{API}accounts(accountnumber='A1')?$select=accountid"
    if isinstance(first, Exception):
        mocked.add("PATCH", url, body=first)
    elif first == 429:
        mocked.add("PATCH", url, status=429, headers={"Retry-After": "1"})
    else:
        mocked.add("PATCH", url, status=first)
    mocked.add("PATCH", url, status=then, json={"@odata.etag": 'W/"2"', "accountid": NEW_ID})
    options = {
        "entity_set": "accounts",
        "key_fields": ["accountnumber"],
        "return_representation": True,
        "select": ["accountid"],
    }
    [result] = run(connection, "upsert", options, [{"accountnumber": "A1", "name": "one"}])
    assert result.status is ResultStatus.SUCCESS
    assert result.properties.get("created") == created
    assert result.properties["id"] == NEW_ID


@pytest.mark.parametrize(
    ("operation", "method", "document"),
    [
        ("delete", "DELETE", {"accountid": ID}),
        ("update", "PATCH", {"accountid": ID, "name": "x"}),
        ("get", "GET", {"accountid": ID}),
    ],
)
def test_a_redirect_is_a_configuration_failure_never_success(
    mocked: responses.RequestsMock, connection: Connection, operation: str, method: str, document: dict[str, Any]
) -> None:
    """A 302 was reported `deleted`/`success` with an entity_url on another origin, or "transient" (issue 12)."""
    add_entity(mocked)
    mocked.add(method, f"{API}accounts({ID})", status=302, headers={"Location": "https://elsewhere.example/x?t=1"})
    [result] = run(connection, operation, {"entity_set": "accounts"}, [document])
    assert result.status is ResultStatus.FAILED
    assert result.error is not None
    assert result.error.failure_type == "config"
    assert result.error.field == "connection.base_url"
    assert "redirecting to https://elsewhere.example:" in result.error.message
    assert "elsewhere.example" not in str(result.properties)


def test_application_errors_continue_the_run(mocked: responses.RequestsMock, connection: Connection) -> None:
    add_entity(mocked)
    error = {"error": {"code": "0x80044331", "message": "A validation error occurred."}}
    mocked.add("POST", f"{API}accounts", status=400, json=error)
    mocked.add("POST", f"{API}accounts", status=204, headers={"OData-EntityId": f"{API}accounts({NEW_ID})"})
    options = {"entity_set": "accounts", "return_application_error_responses": True}
    first, second = run(connection, "create", options, [{"name": "x" * 300}, {"name": "ok"}])
    assert first.status is ResultStatus.APPLICATION_ERROR
    assert first.payload == error
    assert first.ok
    assert first.error is not None
    assert first.error.message == "(0x80044331)A validation error occurred.[400]"
    assert second.status is ResultStatus.SUCCESS


def test_a_throttled_document_carries_the_retry_after_the_service_asked_for(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    """A 3600 s wait fails at once (beyond the longest wait accepted), and the host learns when to come back."""
    add_entity(mocked)
    throttled = {"error": {"code": "0x80072322", "message": "Number of requests exceeded the limit"}}
    mocked.add("POST", f"{API}accounts", status=429, json=throttled, headers={"Retry-After": "3600"})
    [result] = run(connection, "create", {"entity_set": "accounts"}, [{"name": "x"}])
    assert result.status is ResultStatus.FAILED
    assert result.retry_after == 3600.0
    assert result.error is not None
    assert (result.error.retry_after, result.error.failure_type) == (3600.0, "transient")
    [ok] = run(connection, "create", {"entity_set": "accounts"}, [{"accountid": "not-a-guid"}])
    assert ok.retry_after is None


def test_error_texts_in_messages_and_documents_are_capped(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    """A 2 MB error body must not become a 2 MB message or output document (issue 12)."""
    add_entity(mocked)
    huge = "v" * 2_000_000
    error = {"error": {"code": "0x80044331", "message": huge, "@Microsoft.PowerApps.CDS.TraceText": huge}}
    mocked.add("POST", f"{API}accounts", status=400, json=error)
    mocked.add("POST", f"{API}accounts", status=400, json=error)
    capped = "v" * 2000 + f"… {2_000_000 - 2000:,} more characters left out"
    [failed] = run(connection, "create", {"entity_set": "accounts"}, [{"name": "x"}])
    assert failed.error is not None
    assert failed.error.message == f"(0x80044331){capped}[400]"
    options = {"entity_set": "accounts", "return_application_error_responses": True}
    [document] = run(connection, "create", options, [{"name": "x"}])
    assert document.payload == {
        "error": {"code": "0x80044331", "message": capped, "@Microsoft.PowerApps.CDS.TraceText": capped}
    }
