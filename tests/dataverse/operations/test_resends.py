"""A create with its own key refused as a duplicate: done when the record holds exactly what was sent."""

from __future__ import annotations

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
