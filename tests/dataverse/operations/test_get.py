"""Get: addressing by edit link, primary key and composite alternate key; $select/$expand; If-None-Match; errors."""

from __future__ import annotations

import responses
from responses import matchers

from connector.results import Connection, ResultStatus
from tests.support.dataverse import API, add_entity, run

ID = "00000000-0000-0000-0000-000000000001"
# The reference's retrieve example (§3.2).
RETRIEVED = {
    "@odata.context": f"{API}$metadata#accounts(name,revenue)/$entity",
    "@odata.etag": 'W/"502186"',
    "name": "A. Datum Corporation (sample)",
    "revenue": 10000,
    "accountid": ID,
    "_transactioncurrencyid_value": "b2a6b689-9a39-e611-80d2-00155db44581",
}
NOT_FOUND = {"error": {"code": "0x80040217", "message": f"account With Id = {ID} Does Not Exist"}}


def test_get_by_primary_key_with_select(mocked: responses.RequestsMock, connection: Connection) -> None:
    add_entity(mocked)
    mocked.add("GET", f"{API}accounts({ID})?$select=name,revenue", json=RETRIEVED)
    [result] = run(connection, "get", {"entity_set": "accounts", "select": ["name", "revenue"]}, [{"accountid": ID}])
    assert result.status is ResultStatus.SUCCESS
    assert result.input_index == 0
    assert result.payload is not None
    assert result.payload["name"] == "A. Datum Corporation (sample)"
    assert result.payload["@odata.editLink"] == f"accounts({ID})"
    assert result.properties == {"etag": 'W/"502186"', "id": ID, "entity_url": f"{API}accounts({ID})"}
    request = mocked.calls[1].request
    assert request.headers["Accept"] == "application/json"
    assert request.headers["OData-Version"] == "4.0"
    assert request.headers["OData-MaxVersion"] == "4.0"
    assert request.headers["Authorization"] == "Bearer token-1"


def test_get_by_composite_alternate_key_with_expand_and_formatted_values(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    add_entity(mocked, "contacts", "contact", "contactid", "fullname")
    mocked.add(
        "GET",
        f"{API}contacts(firstname='Joe',emailaddress1='abc@example.com')",
        match=[
            matchers.query_param_matcher({"$expand": "parentcustomerid_account($select=name)"}),
            matchers.header_matcher(
                {"Prefer": 'odata.include-annotations="OData.Community.Display.V1.FormattedValue"'}
            ),
        ],
        json={"@odata.etag": 'W/"1"', "contactid": ID, "firstname": "Joe"},
    )
    options = {
        "entity_set": "contacts",
        "key_fields": ["firstname", "emailaddress1"],
        "expand": ["parentcustomerid_account($select=name)"],
        "formatted_values": True,
    }
    [result] = run(connection, "get", options, [{"firstname": "Joe", "emailaddress1": "abc@example.com"}])
    assert result.status is ResultStatus.SUCCESS
    assert result.properties["id"] == ID


def test_get_by_edit_link_needs_no_key_member(mocked: responses.RequestsMock, connection: Connection) -> None:
    add_entity(mocked)
    mocked.add("GET", f"{API}accounts({ID})", json=RETRIEVED)
    mocked.add("GET", f"{API}accounts({ID})", json=RETRIEVED)
    documents = [{"@odata.editLink": f"accounts({ID})"}, {"@odata.editLink": f"{API}accounts({ID})"}]
    results = run(connection, "get", {"entity_set": "accounts"}, documents)
    assert [result.status for result in results] == [ResultStatus.SUCCESS, ResultStatus.SUCCESS]


def test_if_none_match_gives_not_modified(mocked: responses.RequestsMock, connection: Connection) -> None:
    add_entity(mocked)
    mocked.add(
        "GET", f"{API}accounts({ID})", status=304, match=[matchers.header_matcher({"If-None-Match": 'W/"502186"'})]
    )
    mocked.add("GET", f"{API}accounts({ID})", json=RETRIEVED)
    documents = [{"accountid": ID, "@odata.etag": 'W/"502186"'}, {"accountid": ID}]
    results = run(connection, "get", {"entity_set": "accounts", "concurrency_mode": "if_none_match"}, documents)
    assert results[0].status is ResultStatus.NOT_MODIFIED
    assert results[0].payload is None
    assert results[0].properties["etag"] == 'W/"502186"'
    assert "If-None-Match" not in mocked.calls[2].request.headers
    assert results[1].status is ResultStatus.SUCCESS


def test_not_found_fails_in_boomis_form_or_becomes_an_application_error(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    add_entity(mocked)
    mocked.add("GET", f"{API}accounts({ID})", status=404, json=NOT_FOUND)
    mocked.add("GET", f"{API}accounts({ID})", status=404, json=NOT_FOUND)
    [failed] = run(connection, "get", {"entity_set": "accounts"}, [{"accountid": ID}])
    assert failed.status is ResultStatus.FAILED
    assert failed.error is not None
    assert failed.error.message == f"(0x80040217)account With Id = {ID} Does Not Exist[404]"
    assert (failed.error.code, failed.error.status, failed.error.failure_type) == ("0x80040217", 404, "remote")
    assert failed.properties["reason"] == "not_found"
    options = {"entity_set": "accounts", "return_application_error_responses": True}
    [answered] = run(connection, "get", options, [{"accountid": ID}])
    assert answered.status is ResultStatus.APPLICATION_ERROR
    assert answered.payload == NOT_FOUND
    assert answered.properties["http_status"] == "404"


def test_bad_documents_fail_alone_and_name_the_member(mocked: responses.RequestsMock, connection: Connection) -> None:
    add_entity(mocked)
    mocked.add("GET", f"{API}accounts({ID})", json=RETRIEVED)
    documents = [
        ["not", "an", "object"],
        {"name": "no key"},
        {"accountid": "12"},
        {"accountid": ID},
        {"@odata.editLink": "https://evil.example/api/data/v9.2/accounts(1)"},
    ]
    results = run(connection, "get", {"entity_set": "accounts"}, documents)
    assert [result.status for result in results] == [ResultStatus.FAILED] * 3 + [
        ResultStatus.SUCCESS,
        ResultStatus.FAILED,
    ]
    assert [result.input_index for result in results] == [0, 1, 2, 3, 4]
    fields = [result.error.field if result.error else None for result in results]
    assert fields == ["(document)", "(document)", "accountid", None, "@odata.editLink"]
    assert results[0].error is not None
    assert "must be a JSON object, not a list" in results[0].error.message
    assert results[1].error is not None
    assert "'accountid'" in results[1].error.message


def test_a_missing_alternate_key_member_is_named(mocked: responses.RequestsMock, connection: Connection) -> None:
    options = {"entity_set": "contacts", "key_fields": ["firstname", "emailaddress1"]}
    [result] = run(connection, "get", options, [{"firstname": "Joe"}])
    assert result.error is not None
    assert result.error.field == "emailaddress1"
    assert "alternate key" in result.error.message
