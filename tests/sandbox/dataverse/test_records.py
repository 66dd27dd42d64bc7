"""Single-record requests of the sandbox Web API: create, retrieve, update, upsert, delete, binds, deep insert."""

from __future__ import annotations

import uuid

import pytest

from tests.support.sandbox import WebApiSession, unique


def _etag(api: WebApiSession, path: str) -> str:
    etag: str = api.get(path).json()["@odata.etag"]
    return etag


def test_create_answers_204_with_the_entity_id(api: WebApiSession) -> None:
    response = api.post("accounts", json={"name": "Sample Account", "revenue": 5000000, "creditonhold": False})
    assert response.status_code == 204
    assert response.content == b""
    entity_id = response.headers["OData-EntityId"]
    assert entity_id.startswith(api.root + "accounts(")
    record_id = entity_id[entity_id.rindex("(") + 1 : -1]
    assert str(uuid.UUID(record_id)) == record_id


def test_create_with_representation_answers_201_with_selected_columns(api: WebApiSession) -> None:
    response = api.post(
        "accounts?$select=name,revenue,createdon",
        json={"name": "Represented", "revenue": 5000000, "accountcategorycode": 1},
        headers={"Prefer": "return=representation"},
    )
    assert response.status_code == 201
    assert response.headers["Preference-Applied"] == "return=representation"
    assert "OData-EntityId" not in response.headers
    body = response.json()
    assert body["@odata.context"] == f"{api.root}$metadata#accounts(name,revenue,createdon)/$entity"
    assert body["@odata.etag"].startswith('W/"')
    assert body["name"] == "Represented"
    assert body["revenue"] == 5000000.0
    assert body["createdon"].endswith("Z")
    assert len(body["createdon"]) == 20
    assert "_transactioncurrencyid_value" in body
    assert "accountid" in body
    assert "accountcategorycode" not in body


def test_client_supplied_primary_key_is_honoured_and_reuse_is_412(api: WebApiSession) -> None:
    record_id = str(uuid.uuid4())
    assert api.create("accounts", {"accountid": record_id, "name": "chosen id"}) == record_id
    again = api.post("accounts", json={"accountid": record_id, "name": "again"})
    assert again.status_code == 412
    assert again.json()["error"]["code"] == "0x80040237"


def test_duplicate_alternate_key_on_create_is_412(api: WebApiSession) -> None:
    number = unique("AK")[:20]
    api.create("accounts", {"name": "first", "accountnumber": number})
    response = api.post("accounts", json={"name": "second", "accountnumber": number})
    assert response.status_code == 412
    error = response.json()["error"]
    assert error["code"] == "0x80060892"
    assert "accountnumber" in error["message"]


def test_retrieve_returns_every_column_with_typed_values(api: WebApiSession) -> None:
    record_id = api.create(
        "accounts",
        {
            "name": "Typed",
            "numberofemployees": 42,
            "sample_discountrate": 12.5,
            "creditonhold": True,
            "lastonholdtime": "2024-03-01T10:20:30+02:00",
            "sample_establishedon": "1999-12-31",
            "industrycode": 3,
        },
    )
    response = api.get(f"accounts({record_id})")
    assert response.status_code == 200
    body = response.json()
    assert response.headers["ETag"] == body["@odata.etag"]
    assert body["@odata.context"] == f"{api.root}$metadata#accounts/$entity"
    assert body["numberofemployees"] == 42
    assert body["sample_discountrate"] == 12.5
    assert body["creditonhold"] is True
    assert body["lastonholdtime"] == "2024-03-01T08:20:30Z"
    assert body["sample_establishedon"] == "1999-12-31"
    assert (body["statecode"], body["statuscode"]) == (0, 1)
    assert body["description"] is None
    assert body["_primarycontactid_value"] is None


def test_retrieve_with_select_and_the_primary_key_always_present(api: WebApiSession) -> None:
    record_id = api.create("accounts", {"name": "Selected", "telephone1": "555"})
    body = api.get(f"accounts({record_id})?$select=name").json()
    assert body["@odata.context"] == f"{api.root}$metadata#accounts(name)/$entity"
    assert set(body) == {"@odata.context", "@odata.etag", "name", "accountid"}


def test_retrieve_missing_record_is_404(api: WebApiSession) -> None:
    missing = str(uuid.uuid4())
    response = api.get(f"accounts({missing})")
    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "0x80040217",
        "message": f"Entity 'account' With Id = {missing} Does Not Exist",
    }


def test_conditional_retrieve_answers_304_but_ignores_the_null_literal(api: WebApiSession) -> None:
    record_id = api.create("accounts", {"name": "cached"})
    etag = _etag(api, f"accounts({record_id})")
    assert api.get(f"accounts({record_id})", headers={"If-None-Match": etag}).status_code == 304
    assert api.get(f"accounts({record_id})", headers={"If-None-Match": "null"}).status_code == 200
    api.patch(f"accounts({record_id})", json={"name": "changed"})
    assert api.get(f"accounts({record_id})", headers={"If-None-Match": etag}).status_code == 200


def test_every_write_changes_the_etag(api: WebApiSession) -> None:
    record_id = api.create("accounts", {"name": "versions"})
    first = _etag(api, f"accounts({record_id})")
    api.patch(f"accounts({record_id})", json={})
    second = _etag(api, f"accounts({record_id})")
    api.patch(f"accounts({record_id})", json={"name": "versions"})
    third = _etag(api, f"accounts({record_id})")
    assert len({first, second, third}) == 3


def test_update_answers_204_with_entity_id_and_changes_only_sent_columns(api: WebApiSession) -> None:
    record_id = api.create("accounts", {"name": "before", "telephone1": "111"})
    response = api.patch(f"accounts({record_id})", json={"name": "after"}, headers={"If-Match": "*"})
    assert response.status_code == 204
    assert response.headers["OData-EntityId"] == f"{api.root}accounts({record_id})"
    body = api.get(f"accounts({record_id})?$select=name,telephone1").json()
    assert (body["name"], body["telephone1"]) == ("after", "111")


def test_update_with_representation_answers_200(api: WebApiSession) -> None:
    record_id = api.create("accounts", {"name": "rep"})
    response = api.patch(
        f"accounts({record_id})?$select=name", json={"name": "rep2"}, headers={"Prefer": "return=representation"}
    )
    assert response.status_code == 200
    assert response.json()["name"] == "rep2"


def test_if_match_star_on_a_missing_record_is_404_and_creates_nothing(api: WebApiSession) -> None:
    missing = str(uuid.uuid4())
    response = api.patch(f"accounts({missing})", json={"name": "x"}, headers={"If-Match": "*"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "0x80040217"
    assert api.get(f"accounts({missing})").status_code == 404


def test_patch_without_if_match_upserts_with_the_url_id(api: WebApiSession) -> None:
    new_id = str(uuid.uuid4())
    created = api.patch(f"accounts({new_id})", json={"name": "upserted"})
    assert created.status_code == 204
    assert created.headers["OData-EntityId"] == f"{api.root}accounts({new_id})"
    assert api.get(f"accounts({new_id})?$select=name").json()["name"] == "upserted"
    rep = api.patch(f"accounts({uuid.uuid4()})", json={"name": "rep"}, headers={"Prefer": "return=representation"})
    assert rep.status_code == 201


def test_if_none_match_star_refuses_an_existing_record(api: WebApiSession) -> None:
    record_id = api.create("accounts", {"name": "exists"})
    response = api.patch(f"accounts({record_id})", json={"name": "x"}, headers={"If-None-Match": "*"})
    assert response.status_code == 412
    assert response.json()["error"] == {
        "code": "0x80040237",
        "message": "A record with matching key values already exists.",
    }
    fresh = str(uuid.uuid4())
    assert api.patch(f"accounts({fresh})", json={"name": "new"}, headers={"If-None-Match": "*"}).status_code == 204


def test_stale_etag_is_412_on_update_and_delete(api: WebApiSession) -> None:
    record_id = api.create("accounts", {"name": "optimistic"})
    etag = _etag(api, f"accounts({record_id})")
    assert api.patch(f"accounts({record_id})", json={"name": "v2"}, headers={"If-Match": etag}).status_code == 204
    stale = api.patch(f"accounts({record_id})", json={"name": "v3"}, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert stale.json()["error"]["code"] == "0x80060882"
    assert api.delete(f"accounts({record_id})", headers={"If-Match": etag}).status_code == 412
    assert api.delete(f"accounts({record_id})", headers={"If-Match": "*"}).status_code == 204


def test_alternate_key_addressing_and_upsert(api: WebApiSession) -> None:
    number = unique("ALT")[:20]
    created = api.patch(f"accounts(accountnumber='{number}')", json={"name": "by key"})
    assert created.status_code == 204
    assert created.headers["OData-EntityId"] == f"{api.root}accounts(accountnumber='{number}')"
    body = api.get(f"accounts(accountnumber='{number}')?$select=name,accountnumber").json()
    assert (body["name"], body["accountnumber"]) == ("by key", number)
    updated = api.patch(
        f"accounts(accountnumber='{number}')",
        json={"name": "again", "accountnumber": "IGNORED"},
        headers={"Prefer": "return=representation"},
    )
    assert updated.status_code == 200
    assert updated.json()["accountnumber"] == number
    missing = api.get("accounts(accountnumber='NO-SUCH-NUMBER')")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "0x80060891"


def test_composite_alternate_key_on_contact(api: WebApiSession) -> None:
    email = f"{unique()}@example.com"
    api.patch(f"contacts(firstname='Joe',emailaddress1='{email}')", json={"lastname": "Smith"})
    body = api.get(f"contacts(emailaddress1='{email}',firstname='Joe')?$select=fullname").json()
    assert body["fullname"] == "Joe Smith"


def test_key_of_columns_that_are_not_an_alternate_key_is_400(api: WebApiSession) -> None:
    response = api.get("accounts(name='x')")
    assert response.status_code == 400


def test_delete_then_404(api: WebApiSession) -> None:
    record_id = api.create("accounts", {"name": "doomed"})
    assert api.delete(f"accounts({record_id})").status_code == 204
    assert api.delete(f"accounts({record_id})").status_code == 404
    assert api.get(f"accounts({record_id})").status_code == 404


def test_bind_sets_a_lookup_and_null_clears_it(api: WebApiSession) -> None:
    account_id = api.create("accounts", {"name": "parent"})
    contact_id = api.create(
        "contacts", {"lastname": "Child", "parentcustomerid_account@odata.bind": f"/accounts({account_id})"}
    )
    assert api.get(f"contacts({contact_id})").json()["_parentcustomerid_value"] == account_id
    api.patch(f"contacts({contact_id})", json={"parentcustomerid_account@odata.bind": None})
    assert api.get(f"contacts({contact_id})").json()["_parentcustomerid_value"] is None
    api.patch(f"contacts({contact_id})", json={"parentcustomerid_account@odata.bind": f"accounts({account_id})"})
    assert api.get(f"contacts({contact_id})").json()["_parentcustomerid_value"] == account_id


def test_bind_accepts_absolute_urls_and_alternate_keys(api: WebApiSession) -> None:
    number = unique("B")[:20]
    account_id = api.create("accounts", {"name": "absolute", "accountnumber": number})
    contact_id = api.create(
        "contacts", {"lastname": "Abs", "parentcustomerid_account@odata.bind": f"{api.root}accounts({account_id})"}
    )
    assert api.get(f"contacts({contact_id})").json()["_parentcustomerid_value"] == account_id
    other = api.create(
        "contacts", {"lastname": "Alt", "parentcustomerid_account@odata.bind": f"/accounts(accountnumber='{number}')"}
    )
    assert api.get(f"contacts({other})").json()["_parentcustomerid_value"] == account_id


def test_bind_navigation_names_are_case_sensitive(api: WebApiSession) -> None:
    account_id = api.create("accounts", {"name": "case"})
    response = api.post(
        "contacts", json={"lastname": "Case", "ParentCustomerId_account@odata.bind": f"/accounts({account_id})"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "0x80060888",
        "message": (
            "Could not find a property named 'ParentCustomerId_account' on type 'Microsoft.Dynamics.CRM.contact'."
        ),
    }


def test_bind_to_a_missing_record_is_404(api: WebApiSession) -> None:
    bind = f"/accounts({uuid.uuid4()})"
    response = api.post("contacts", json={"lastname": "x", "parentcustomerid_account@odata.bind": bind})
    assert response.status_code == 404


def test_bind_that_is_not_a_url_is_400(api: WebApiSession) -> None:
    bind = f"https://[x/api/data/v9.2/accounts({uuid.uuid4()})"
    response = api.post("contacts", json={"lastname": "x", "parentcustomerid_account@odata.bind": bind})
    assert response.status_code == 400
    assert "not a valid URI" in response.json()["error"]["message"]


def test_deep_insert_creates_both_records(api: WebApiSession) -> None:
    response = api.post(
        "accounts",
        json={
            "name": "Deep",
            "primarycontactid": {"firstname": "Dee", "lastname": "Pinsert"},
            "contact_customer_accounts": [{"lastname": "Child One"}, {"lastname": "Child Two"}],
        },
    )
    assert response.status_code == 204
    account_id = response.headers["OData-EntityId"].rsplit("(", 1)[1][:-1]
    body = api.get(f"accounts({account_id})?$select=name&$expand=primarycontactid($select=fullname)").json()
    assert body["primarycontactid"]["fullname"] == "Dee Pinsert"
    children = api.get(f"accounts({account_id})/contact_customer_accounts?$select=lastname").json()["value"]
    assert sorted(c["lastname"] for c in children) == ["Child One", "Child Two"]


def test_failed_deep_insert_creates_nothing(api: WebApiSession) -> None:
    name = unique("deepfail")
    response = api.post("accounts", json={"name": name, "primarycontactid": {"lastname": "x" * 51}})
    assert response.status_code == 400
    assert api.get(f"accounts?$filter=name eq '{name}'").json()["value"] == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"nosuchcolumn": 1}, "0x80060888"),
        ({"name": "x" * 161}, "0x80044331"),
        ({"numberofemployees": "many"}, "0x80060888"),
        ({"accountcategorycode": 99}, "0x8004431a"),
        ({"_primarycontactid_value": str(uuid.uuid4())}, "0x80060888"),
    ],
    ids=["unknown", "too-long", "wrong-type", "bad-option", "lookup-column"],
)
def test_invalid_bodies_are_400_with_dataverse_codes(api: WebApiSession, body: dict[str, object], code: str) -> None:
    response = api.post("accounts", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


def test_string_too_long_message_names_the_attribute(api: WebApiSession) -> None:
    response = api.post("accounts", json={"name": "x" * 161})
    assert response.json()["error"]["message"] == (
        "A validation error occurred.  The length of the 'name' attribute of the 'account' entity exceeded the "
        "maximum allowed length of '160'."
    )


def test_unknown_property_in_select_is_400(api: WebApiSession) -> None:
    record_id = api.create("accounts", {"name": "sel"})
    response = api.get(f"accounts({record_id})?$select=name,Name")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        "Could not find a property named 'Name' on type 'Microsoft.Dynamics.CRM.account'."
    )


def test_expand_single_valued_lookup_with_nested_select(api: WebApiSession) -> None:
    contact_id = api.create("contacts", {"firstname": "Ex", "lastname": "Panded"})
    account_id = api.create("accounts", {"name": "expander", "primarycontactid@odata.bind": f"/contacts({contact_id})"})
    body = api.get(f"accounts({account_id})?$select=name&$expand=primarycontactid($select=contactid,fullname)").json()
    assert body["@odata.context"] == (
        f"{api.root}$metadata#accounts(name,primarycontactid(contactid,fullname))/$entity"
    )
    nested = body["primarycontactid"]
    assert nested["fullname"] == "Ex Panded"
    assert nested["@odata.etag"].startswith('W/"')
    assert set(nested) == {"@odata.etag", "contactid", "fullname"}


def test_statecode_and_statuscode_stay_consistent(api: WebApiSession) -> None:
    record_id = api.create("accounts", {"name": "state"})
    api.patch(f"accounts({record_id})", json={"statecode": 1})
    body = api.get(f"accounts({record_id})?$select=statecode,statuscode").json()
    assert (body["statecode"], body["statuscode"]) == (1, 2)
    bad = api.patch(f"accounts({record_id})", json={"statecode": 0, "statuscode": 2})
    assert bad.status_code == 400


def test_single_property_read_write_and_clear(api: WebApiSession) -> None:
    record_id = api.create("accounts", {"name": "prop", "description": "text"})
    value = api.get(f"accounts({record_id})/name").json()
    assert value == {"@odata.context": f"{api.root}$metadata#accounts({record_id})/name", "value": "prop"}
    assert api.get(f"accounts({record_id})/name/$value").text == "prop"
    assert api.put(f"accounts({record_id})/name", json={"value": "renamed"}).status_code == 204
    assert api.delete(f"accounts({record_id})/description").status_code == 204
    body = api.get(f"accounts({record_id})?$select=name,description").json()
    assert (body["name"], body["description"]) == ("renamed", None)


def test_wrong_methods_are_405(api: WebApiSession) -> None:
    assert api.patch("accounts", json={}).status_code == 405
    assert api.delete("accounts").status_code == 405
    record_id = api.create("accounts", {"name": "m"})
    assert api.post(f"accounts({record_id})", json={}).status_code == 405


def test_unknown_entity_set_is_404(api: WebApiSession) -> None:
    response = api.get("nosuchthings")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Resource not found for the segment 'nosuchthings'."
