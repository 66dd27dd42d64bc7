"""End to end against the sandbox, through the reference host: single-record operations, associations, Execute and
browse, checked against the server's own view (its storage and its request records).
"""

from __future__ import annotations

import uuid

import pytest

from connector.results import BrowseRequest, ResultStatus
from tests.support.operations import Live


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def create_account(live: Live, **fields: object) -> dict[str, object]:
    [result] = live.run(
        "create", {"entity_set": "accounts", "return_representation": True}, [{"name": unique("acct"), **fields}]
    )
    assert result.status is ResultStatus.SUCCESS, result.error
    assert result.payload is not None
    return dict(result.payload)


def test_create_get_update_delete(live: Live) -> None:
    account = create_account(live, accountnumber=unique("N"), revenue=5000000)
    link = account["@odata.editLink"]
    [got] = live.run("get", {"entity_set": "accounts", "select": ["name", "revenue"]}, [{"@odata.editLink": link}])
    assert got.payload is not None
    assert got.payload["revenue"] == 5000000
    assert got.properties["etag"] == account["@odata.etag"]
    [updated] = live.run("update", {"entity_set": "accounts"}, [{**got.payload, "name": "renamed"}])
    assert updated.status is ResultStatus.SUCCESS
    assert live.rows("account", "accountid = ?", [account["accountid"]])[0]["name"] == "renamed"
    [deleted] = live.run("delete", {"entity_set": "accounts"}, [{"@odata.editLink": link}])
    assert deleted.status is ResultStatus.DELETED
    assert live.rows("account", "accountid = ?", [account["accountid"]]) == []


def test_a_create_with_its_own_key_keeps_it(live: Live) -> None:
    record_id = str(uuid.uuid4())
    [result] = live.run("create", {"entity_set": "accounts"}, [{"accountid": record_id.upper(), "name": "own key"}])
    assert result.properties["id"] == record_id
    assert live.rows("account", "accountid = ?", [record_id])[0]["name"] == "own key"


def test_get_by_composite_alternate_key_and_not_modified(live: Live) -> None:
    email = f"{unique('joe')}@example.com"
    [created] = live.run(
        "create", {"entity_set": "contacts"}, [{"firstname": "Joe", "lastname": "O'Hara", "emailaddress1": email}]
    )
    assert created.ok
    options = {
        "entity_set": "contacts",
        "key_fields": ["firstname", "emailaddress1"],
        "concurrency_mode": "if_none_match",
    }
    [first] = live.run("get", options, [{"firstname": "Joe", "emailaddress1": email}])
    assert first.payload is not None
    assert first.payload["lastname"] == "O'Hara"
    [again] = live.run(
        "get", options, [{"firstname": "Joe", "emailaddress1": email, "@odata.etag": first.properties["etag"]}]
    )
    assert again.status is ResultStatus.NOT_MODIFIED


def test_update_with_a_stale_etag_changes_nothing(live: Live) -> None:
    account = create_account(live)
    stale = account["@odata.etag"]
    live.run("update", {"entity_set": "accounts"}, [{"@odata.editLink": account["@odata.editLink"], "name": "first"}])
    [result] = live.run(
        "update",
        {"entity_set": "accounts"},
        [{"@odata.editLink": account["@odata.editLink"], "@odata.etag": stale, "name": "second"}],
    )
    assert result.status is ResultStatus.FAILED
    assert result.properties["reason"] == "changed_since_read"
    assert result.error is not None
    assert result.error.message.startswith("(0x80060882)")
    assert result.error.message.endswith("[412]")
    assert live.rows("account", "accountid = ?", [account["accountid"]])[0]["name"] == "first"


def test_update_only_create_only_and_upsert(live: Live) -> None:
    missing = str(uuid.uuid4())
    [not_found] = live.run("update", {"entity_set": "accounts", "etag": "*"}, [{"accountid": missing, "name": "x"}])
    assert not_found.properties["reason"] == "not_found"
    assert live.rows("account", "accountid = ?", [missing]) == []
    existing = create_account(live)
    options = {"entity_set": "accounts", "etag": "*", "concurrency_mode": "if_none_match"}
    [exists] = live.run("update", options, [{"accountid": existing["accountid"], "name": "y"}])
    assert exists.properties["reason"] == "already_exists"
    [upserted] = live.run("update", {"entity_set": "accounts"}, [{"accountid": missing, "name": "created by update"}])
    assert upserted.ok
    assert live.rows("account", "accountid = ?", [missing])[0]["name"] == "created by update"


def test_upsert_by_alternate_key_creates_then_updates(live: Live) -> None:
    number = unique("U")
    options = {"entity_set": "accounts", "key_fields": ["accountnumber"], "return_representation": True}
    created, updated = live.run(
        "upsert", options, [{"accountnumber": number, "name": "one"}, {"accountnumber": number, "name": "two"}]
    )
    assert (created.properties["created"], updated.properties["created"]) == ("true", "false")
    assert created.properties["id"] == updated.properties["id"]
    rows = live.rows("account", "accountnumber = ?", [number])
    assert [row["name"] for row in rows] == ["two"]


def test_binds_keep_their_case_and_deep_inserts_create_children(live: Live) -> None:
    account = create_account(live)
    bind = f"/accounts({account['accountid']})"
    [contact] = live.run(
        "create",
        {"entity_set": "contacts"},
        [{"lastname": unique("bound"), "parentcustomerid_account@odata.bind": bind}],
    )
    assert contact.ok
    assert (
        live.rows("contact", "contactid = ?", [contact.properties["id"]])[0]["_parentcustomerid_value"]
        == (account["accountid"])
    )
    # The navigation property is case-sensitive and sent as written: a wrong case is the service's to refuse.
    [wrong_case] = live.run(
        "create", {"entity_set": "contacts"}, [{"lastname": "x", "ParentCustomerId_Account@odata.bind": bind}]
    )
    assert wrong_case.status is ResultStatus.FAILED
    assert wrong_case.error is not None
    assert "ParentCustomerId_Account" in wrong_case.error.message
    # A maker's custom lookup: its navigation property is mixed case, and only that spelling binds.
    [mixed] = live.run(
        "create",
        {"entity_set": "contacts"},
        [{"lastname": unique("mixed"), "sample_PreferredAccountId@odata.bind": bind}],
    )
    assert mixed.ok
    stored = live.rows("contact", "contactid = ?", [mixed.properties["id"]])[0]
    assert stored["_sample_preferredaccountid_value"] == account["accountid"]
    [lowered] = live.run(
        "create", {"entity_set": "contacts"}, [{"lastname": "x", "sample_preferredaccountid@odata.bind": bind}]
    )
    assert lowered.status is ResultStatus.FAILED
    assert lowered.error is not None
    assert "sample_preferredaccountid" in lowered.error.message
    children = [{"lastname": unique("child")}, {"lastname": unique("child")}]
    document = {"name": "parent", "contact_customer_accounts": children}
    [parent] = live.run("create", {"entity_set": "accounts"}, [document])
    linked = live.rows("contact", "_parentcustomerid_value = ?", [parent.properties["id"]])
    assert sorted(row["lastname"] for row in linked) == sorted(child["lastname"] for child in children)


@pytest.mark.parametrize("application_errors", [False, True])
def test_return_application_error_responses(live: Live, application_errors: bool) -> None:
    options = {"entity_set": "accounts", "return_application_error_responses": application_errors}
    bad, good = live.run("create", options, [{"name": "x" * 161}, {"name": unique("fine")}])
    assert bad.error is not None
    assert bad.error.status == 400
    assert bad.error.message.startswith("(0x")
    assert bad.error.message.endswith("[400]")
    if application_errors:
        assert bad.status is ResultStatus.APPLICATION_ERROR
        assert bad.payload is not None
        assert bad.payload["error"]["code"] == bad.error.code
    else:
        assert bad.status is ResultStatus.FAILED
        assert bad.payload is None
    assert good.status is ResultStatus.SUCCESS


def test_custom_query_parameters_reach_the_service_and_documents_override_them(live: Live) -> None:
    tag = unique("tag")
    options = {"entity_set": "accounts", "custom_query_parameters": [{"name": "tag", "value": tag}]}
    since = live.sandbox.clock.now()
    live.run("create", options, [{"name": "a"}, {"name": "b", "@connector.query_parameters": {"tag": "other"}}])
    posts = live.sandbox.stats.requests(method="POST", path_prefix="/api/data/v9.2/accounts", since=since)
    # Two short-run creates may be sent concurrently: which arrives first is not the behaviour under test.
    assert sorted(record.query for record in posts) == sorted([f"tag={tag}", "tag=other"])
    metadata = live.sandbox.stats.requests(path_prefix="/api/data/v9.2/EntityDefinitions", since=since)
    assert metadata
    assert all("tag=" not in record.query for record in metadata)


def test_delete_with_a_stale_etag_keeps_the_record(live: Live) -> None:
    account = create_account(live)
    live.run("update", {"entity_set": "accounts"}, [{"@odata.editLink": account["@odata.editLink"], "name": "moved"}])
    [kept] = live.run("delete", {"entity_set": "accounts"}, [account])
    assert kept.properties["reason"] == "changed_since_read"
    assert live.rows("account", "accountid = ?", [account["accountid"]])


def test_associate_and_disassociate(live: Live) -> None:
    account = create_account(live)
    [contact] = live.run("create", {"entity_set": "contacts"}, [{"lastname": unique("assoc")}])
    contact_link = f"contacts({contact.properties['id']})"
    options = {"entity_set": "accounts", "relationship": "contact_customer_accounts"}
    document = {"@odata.editLink": account["@odata.editLink"], "@odata.id": contact_link}
    assert live.run("associate", options, [document])[0].ok
    assert (
        live.rows("contact", "contactid = ?", [contact.properties["id"]])[0]["_parentcustomerid_value"]
        == (account["accountid"])
    )
    assert live.run("disassociate", options, [document])[0].ok
    assert live.rows("contact", "contactid = ?", [contact.properties["id"]])[0]["_parentcustomerid_value"] is None
    single = {"entity_set": "accounts", "relationship": "primarycontactid", "single_valued": True}
    assert live.run("associate", single, [document])[0].ok
    assert (
        live.rows("account", "accountid = ?", [account["accountid"]])[0]["_primarycontactid_value"]
        == (contact.properties["id"])
    )
    assert live.run("disassociate", single, [{"@odata.editLink": account["@odata.editLink"]}])[0].ok
    assert live.rows("account", "accountid = ?", [account["accountid"]])[0]["_primarycontactid_value"] is None


def test_execute_functions_and_actions(live: Live) -> None:
    [who] = live.run("execute", {"name": "WhoAmI", "kind": "function"}, [{}])
    assert who.payload is not None
    assert who.payload["OrganizationId"] == live.sandbox.config.organization_id
    [added] = live.run("execute", {"name": "sample_Add", "kind": "function"}, [{"A": 2, "B": 3}])
    assert added.payload is not None
    assert added.payload["Sum"] == 5
    [echo] = live.run("execute", {"name": "sample_Echo"}, [{"Text": "it's (a) 'test'", "Number": 7}])
    assert echo.payload is not None
    assert echo.payload["Text"] == "it's (a) 'test'"
    account = create_account(live)
    bound = {"name": "sample_Promote", "binding": "entity", "entity_set": "accounts"}
    [promoted] = live.run("execute", bound, [{"@odata.editLink": account["@odata.editLink"], "Reason": "VIP"}])
    assert promoted.payload is not None
    assert promoted.payload["Reason"] == "VIP"
    assert live.rows("account", "accountid = ?", [account["accountid"]])[0]["accountcategorycode"] == 1


def test_browse_lists_and_describes(live: Live) -> None:
    listed = live.browse(BrowseRequest("list", name_filter="acc*"))
    assert [item.name for item in listed.object_types] == ["accounts"]
    described = live.browse(BrowseRequest("describe", object_type="contacts"))
    assert described.request_schema is not None
    assert described.response_schema is not None
    properties = described.request_schema["properties"]
    assert "lastname" in described.request_schema["required"]
    assert properties["gendercode"]["oneOf"][0] == {"const": 1, "title": "Male"}
    assert properties["birthdate"]["format"] == "date"
    binds = [name for name in properties if name.endswith("@odata.bind")]
    assert all("assumed" not in properties[bind]["description"] for bind in binds)
    assert "parentcustomerid_account@odata.bind" in binds


def test_an_edit_link_that_names_a_property_or_a_function_sends_nothing_and_clears_nothing(live: Live) -> None:
    account = create_account(live, accountnumber=unique("N"))
    record_id = str(account["accountid"])
    since = live.sandbox.clock.now()
    hostile = [f"accounts({record_id})/name", "../WhoAmI()", f"accounts({record_id})%2Fname", "WhoAmI()"]
    for operation in ("delete", "update", "get"):
        results = live.run(operation, {"entity_set": "accounts"}, [{"@odata.editLink": link} for link in hostile])
        assert [result.status for result in results] == [ResultStatus.FAILED] * len(hostile)
        assert all(result.error is not None and result.error.field == "@odata.editLink" for result in results)
    [row] = live.rows("account", "accountid = ?", [record_id])
    assert row["name"] == account["name"]
    sent = live.sandbox.stats.requests(since=since)
    assert [record.path for record in sent if "EntityDefinitions" not in record.path] == []
