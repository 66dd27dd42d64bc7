"""What became of a create whose answer did not say: a create with its own key refused as a duplicate is done when
the record holds exactly what was sent; one whose answer was lost, cut off, malformed or a gateway's error is read
back; one without a key whose answer was lost is ``outcome_unknown``, never ``failed`` (issue 12, item 15).
"""

from __future__ import annotations

import pytest
import requests
import responses

from connector.results import Connection, ResultStatus
from tests.support.dataverse import API, add_description, add_entity, run

ID = "7eb682f1-ca75-e511-80d4-00155d2a68d1"
CONTACT = "00000000-0000-0000-0000-000000000009"
DUPLICATE = {"error": {"code": "0x80040237", "message": "A record with matching key values already exists."}}


def lost_then_refused(mocked: responses.RequestsMock) -> None:
    add_entity(mocked)
    mocked.add("POST", f"{API}accounts", body=requests.ConnectionError("connection reset by peer"))
    mocked.add("POST", f"{API}accounts", status=412, json=DUPLICATE)


def test_a_replayed_create_that_was_processed_is_reported_done(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    lost_then_refused(mocked)
    stored = {
        "@odata.etag": 'W/"5"',
        "accountid": ID,
        "name": "Sample",
        "revenue": 5000000.0,
        "creditonhold": False,
        "lastonholdtime": "2016-09-28T22:57:53Z",
        "_primarycontactid_value": CONTACT,
    }
    mocked.add("GET", f"{API}accounts({ID})", json=stored)
    add_description(mocked)
    document = {
        "accountid": ID,
        "name": "Sample",
        "revenue": 5000000,
        "creditonhold": False,
        "lastonholdtime": "2016-09-28T22:57:53.000+00:00",
        "primarycontactid@odata.bind": f"/contacts({CONTACT.upper()})",
    }
    [result] = run(connection, "create", {"entity_set": "accounts"}, [document])
    assert result.status is ResultStatus.SUCCESS
    assert result.properties["already_stored"] == "true"
    assert result.properties["id"] == ID
    assert result.properties["etag"] == 'W/"5"'


def test_a_duplicate_with_other_values_stays_a_failure(mocked: responses.RequestsMock, connection: Connection) -> None:
    lost_then_refused(mocked)
    mocked.add("GET", f"{API}accounts({ID})", json={"accountid": ID, "name": "Someone else"})
    [result] = run(connection, "create", {"entity_set": "accounts"}, [{"accountid": ID, "name": "Sample"}])
    assert result.status is ResultStatus.FAILED
    assert result.properties["reason"] == "already_exists"
    assert result.error is not None
    assert result.error.field == "accountid"
    # The refusal answered the create sent again after the connection was reset, and the message says so.
    assert result.error.message == (
        "(0x80040237)A record with matching key values already exists.[412]; it answers a repeat of the request, "
        "sent after an earlier attempt the service may have carried out"
    )


def test_what_cannot_be_compared_stays_a_failure(mocked: responses.RequestsMock, connection: Connection) -> None:
    add_entity(mocked)
    mocked.add("POST", f"{API}accounts", status=412, json=DUPLICATE)
    mocked.add("GET", f"{API}accounts({ID})", json={"accountid": ID, "name": "Sample"})
    document = {"accountid": ID, "name": "Sample", "contact_customer_accounts": [{"lastname": "x"}]}
    [result] = run(connection, "create", {"entity_set": "accounts"}, [document])
    assert result.status is ResultStatus.FAILED


CREATED = {"@odata.etag": 'W/"7"', "accountid": ID, "name": "Sample"}
MALFORMED = b'{"value":['
KEYED = {"entity_set": "accounts", "client_keys": "never"}


def test_a_create_whose_answers_were_all_lost_is_read_back(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    add_entity(mocked)
    mocked.add("POST", f"{API}accounts", body=requests.ConnectionError("connection reset by peer"))
    mocked.add("GET", f"{API}accounts({ID})", body=MALFORMED, status=200, content_type="application/json")
    mocked.add("GET", f"{API}accounts({ID})", json=CREATED)
    [result] = run(connection, "create", KEYED, [{"accountid": ID, "name": "Sample"}])
    assert result.status is ResultStatus.SUCCESS
    assert result.properties["already_stored"] == "true"
    assert result.properties["id"] == ID
    posts = [call for call in mocked.calls if call.request.method == "POST"]
    assert len(posts) == 8  # the retry policy's attempts, all lost; then read back (twice: one was malformed)


@pytest.mark.parametrize("status", [200, 201])
def test_a_keyed_create_answered_with_a_malformed_body_is_read_back(
    mocked: responses.RequestsMock, connection: Connection, status: int
) -> None:
    add_entity(mocked)
    mocked.add("POST", f"{API}accounts", body=MALFORMED, status=status, content_type="application/json")
    mocked.add("GET", f"{API}accounts({ID})", json={**CREATED, "name": "Changed by a plug-in"})
    options = {**KEYED, "return_representation": status == 201}
    [result] = run(connection, "create", options, [{"accountid": ID, "name": "Sample"}])
    assert result.status is ResultStatus.SUCCESS  # a success status: the record is this create's, whatever it holds
    assert result.payload is not None
    assert result.payload["name"] == "Changed by a plug-in"
    assert result.properties["etag"] == 'W/"7"'


def test_a_keyed_create_not_stored_fails_and_says_it_is_safe_to_send_again(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    add_entity(mocked)
    mocked.add("POST", f"{API}accounts", status=504, json={"error": {"code": "0x80040216", "message": "Timed out"}})
    mocked.add("GET", f"{API}accounts({ID})", status=404, json={"error": {"code": "0x80040217", "message": "No"}})
    [result] = run(connection, "create", KEYED, [{"accountid": ID, "name": "Sample"}])
    assert result.status is ResultStatus.FAILED
    assert result.error is not None
    assert result.error.failure_type == "transient"
    assert f"was not stored, so sending it again with the same id {ID} is safe" in result.error.message
    assert result.properties["id"] == ID


def test_a_keyed_create_that_cannot_be_read_back_is_unknown_with_its_id(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    add_entity(mocked)
    mocked.add("POST", f"{API}accounts", body=MALFORMED, status=200, content_type="application/json")
    mocked.add("GET", f"{API}accounts({ID})", body=MALFORMED, status=200, content_type="application/json")
    [result] = run(connection, "create", KEYED, [{"accountid": ID, "name": "Sample"}])
    assert result.status is ResultStatus.UNKNOWN
    assert result.properties["id"] == ID
    assert result.error is not None
    assert f"look for the id {ID}" in result.error.message
    reads = [call for call in mocked.calls if call.request.method == "GET" and ID in str(call.request.url)]
    assert len(reads) == 4


def test_a_refused_re_sent_create_that_cannot_be_read_back_is_unknown_not_already_exists(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    lost_then_refused(mocked)
    mocked.add("GET", f"{API}accounts({ID})", body=requests.ConnectionError("reset"))
    [result] = run(connection, "create", KEYED, [{"accountid": ID, "name": "Sample"}])
    assert result.status is ResultStatus.UNKNOWN
    assert "reason" not in result.properties


def test_a_keyless_create_answered_with_a_malformed_body_is_unknown_never_failed(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    add_entity(mocked)
    mocked.add("POST", f"{API}accounts", body=MALFORMED, status=200, content_type="application/json")
    [result] = run(connection, "create", KEYED, [{"name": "Sample"}])
    assert result.status is ResultStatus.UNKNOWN
    assert result.error is not None
    assert "its id is unknown" in result.error.message
    assert len([call for call in mocked.calls if call.request.method == "POST"]) == 1


def test_a_keyless_create_whose_malformed_answer_names_the_record_is_read_back(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    add_entity(mocked)
    headers = {"OData-EntityId": f"{API}accounts({ID})"}
    mocked.add("POST", f"{API}accounts", body=MALFORMED, status=201, headers=headers, content_type="application/json")
    mocked.add("GET", f"{API}accounts({ID})", json=CREATED)
    [result] = run(connection, "create", {**KEYED, "return_representation": True}, [{"name": "Sample"}])
    assert result.status is ResultStatus.SUCCESS
    assert result.properties["id"] == ID


def test_a_keyless_create_answered_by_a_gateway_error_is_unknown(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    add_entity(mocked)
    mocked.add("POST", f"{API}accounts", status=502, json={"error": {"code": "0x80040216", "message": "Bad gateway"}})
    [result] = run(connection, "create", KEYED, [{"name": "Sample"}])
    assert result.status is ResultStatus.UNKNOWN
    assert result.properties["http_status"] == "502"
