"""Bulk actions and custom functions/actions of the sandbox Web API."""

from __future__ import annotations

import uuid

from tests.support.sandbox import WebApiSession, unique

ACCOUNT = "Microsoft.Dynamics.CRM.account"


def test_create_multiple_returns_ids_in_order(api: WebApiSession) -> None:
    names = [unique("bulk") for _ in range(3)]
    response = api.post(
        "accounts/Microsoft.Dynamics.CRM.CreateMultiple",
        json={"Targets": [{"name": name, "@odata.type": ACCOUNT} for name in names]},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["@odata.context"] == f"{api.root}$metadata#Microsoft.Dynamics.CRM.CreateMultipleResponse"
    assert len(body["Ids"]) == 3
    for record_id, name in zip(body["Ids"], names, strict=True):
        assert api.get(f"accounts({record_id})?$select=name").json()["name"] == name


def test_bulk_targets_need_odata_type(api: WebApiSession) -> None:
    response = api.post("accounts/Microsoft.Dynamics.CRM.CreateMultiple", json={"Targets": [{"name": "untyped"}]})
    assert response.status_code == 400
    assert "@odata.type" in response.json()["error"]["message"]
    wrong = api.post(
        "accounts/Microsoft.Dynamics.CRM.CreateMultiple",
        json={"Targets": [{"lastname": "x", "@odata.type": "Microsoft.Dynamics.CRM.contact"}]},
    )
    assert wrong.status_code == 400


def test_create_multiple_is_all_or_nothing(api: WebApiSession) -> None:
    marker = unique("atomic")
    response = api.post(
        "accounts/Microsoft.Dynamics.CRM.CreateMultiple",
        json={
            "Targets": [
                {"name": "ok", "address1_city": marker, "@odata.type": ACCOUNT},
                {"name": "x" * 161, "address1_city": marker, "@odata.type": ACCOUNT},
            ]
        },
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "0x80044331"
    assert api.get(f"accounts?$filter=address1_city eq '{marker}'").json()["value"] == []


def test_create_multiple_refused_by_storage_writes_none_of_its_targets(api: WebApiSession) -> None:
    # The taken key is found by the storage itself, after the targets before it were inserted in the same
    # transaction: those must go too (a row is written without a savepoint of its own).
    marker = unique("taken")
    taken = api.create("accounts", {"name": "first owner"})
    response = api.post(
        "accounts/Microsoft.Dynamics.CRM.CreateMultiple",
        json={
            "Targets": [
                {"name": "before", "address1_city": marker, "@odata.type": ACCOUNT},
                {"name": "again", "address1_city": marker, "accountid": taken, "@odata.type": ACCOUNT},
                {"name": "after", "address1_city": marker, "@odata.type": ACCOUNT},
            ]
        },
    )
    assert response.status_code == 412
    assert api.get(f"accounts?$filter=address1_city eq '{marker}'").json()["value"] == []
    assert api.get(f"accounts({taken})?$select=name").json()["name"] == "first owner"


def test_deep_insert_whose_child_key_is_taken_creates_nothing(api: WebApiSession) -> None:
    name, child = unique("deeptaken"), unique("child")
    taken = api.create("contacts", {"lastname": "first owner"})
    response = api.post(
        "accounts",
        json={"name": name, "contact_customer_accounts": [{"lastname": child}, {"lastname": "x", "contactid": taken}]},
    )
    assert response.status_code == 412
    assert api.get(f"accounts?$filter=name eq '{name}'").json()["value"] == []
    assert api.get(f"contacts?$filter=lastname eq '{child}'").json()["value"] == []


def test_update_multiple_updates_all_or_fails_on_a_missing_record(api: WebApiSession) -> None:
    first = api.create("accounts", {"name": "u1"})
    second = api.create("accounts", {"name": "u2"})
    response = api.post(
        "accounts/Microsoft.Dynamics.CRM.UpdateMultiple",
        json={
            "Targets": [
                {"accountid": first, "name": "u1 changed", "@odata.type": ACCOUNT},
                {"accountid": second, "name": "u2 changed", "@odata.type": ACCOUNT},
            ]
        },
    )
    assert response.status_code == 204
    assert api.get(f"accounts({second})?$select=name").json()["name"] == "u2 changed"
    failing = api.post(
        "accounts/Microsoft.Dynamics.CRM.UpdateMultiple",
        json={
            "Targets": [
                {"accountid": first, "name": "rolled back", "@odata.type": ACCOUNT},
                {"accountid": str(uuid.uuid4()), "name": "missing", "@odata.type": ACCOUNT},
            ]
        },
    )
    assert failing.status_code == 404
    assert failing.json()["error"]["code"] == "0x80040217"
    assert api.get(f"accounts({first})?$select=name").json()["name"] == "u1 changed"


def test_upsert_multiple_by_alternate_key_creates_and_updates(api: WebApiSession) -> None:
    existing_number, new_number = unique("UM")[:20], unique("UN")[:20]
    existing = api.create("accounts", {"name": "before", "accountnumber": existing_number})
    response = api.post(
        "accounts/Microsoft.Dynamics.CRM.UpsertMultiple",
        json={
            "Targets": [
                {"@odata.type": ACCOUNT, "@odata.id": f"accounts(accountnumber='{existing_number}')", "name": "after"},
                {"@odata.type": ACCOUNT, "@odata.id": f"accounts(accountnumber='{new_number}')", "name": "created"},
            ]
        },
    )
    assert response.status_code == 204
    assert response.content == b""
    assert api.get(f"accounts({existing})?$select=name").json()["name"] == "after"
    created = api.get(f"accounts(accountnumber='{new_number}')?$select=name").json()
    assert created["name"] == "created"


def test_delete_multiple_is_not_available_on_standard_tables(api: WebApiSession) -> None:
    response = api.post(
        "accounts/Microsoft.Dynamics.CRM.DeleteMultiple",
        json={"Targets": [{"@odata.type": ACCOUNT, "accountid": str(uuid.uuid4())}]},
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "DeleteMultiple has not yet been implemented."


def test_read_only_principal_cannot_run_bulk_writes(read_only_api: WebApiSession) -> None:
    response = read_only_api.post(
        "accounts/Microsoft.Dynamics.CRM.CreateMultiple", json={"Targets": [{"name": "x", "@odata.type": ACCOUNT}]}
    )
    assert response.status_code == 403


def test_unbound_action_echoes_its_parameters(api: WebApiSession) -> None:
    response = api.post("sample_Echo", json={"Text": "hello", "Number": 3})
    assert response.status_code == 200
    body = response.json()
    assert body["@odata.context"] == f"{api.root}$metadata#Microsoft.Dynamics.CRM.sample_EchoResponse"
    assert (body["Text"], body["Number"], body["Length"]) == ("hello", 3, 5)
    assert api.post("sample_Echo", json={"Number": 3}).status_code == 400
    assert api.post("sample_Echo", json={"Text": "x", "Bogus": 1}).status_code == 400
    assert api.get("sample_Echo").status_code == 405


def test_unbound_function_with_inline_parameters_and_aliases(api: WebApiSession) -> None:
    assert api.get("sample_Add(A=1,B=2)").json()["Sum"] == 3
    assert api.get("sample_Add(A=@a,B=@b)?@a=40&@b=2").json()["Sum"] == 42
    assert api.get("sample_Add(A='x',B=2)").status_code == 400
    assert api.post("sample_Add(A=1,B=2)", json={}).status_code == 405


def test_bound_action_and_function_on_an_account(api: WebApiSession, read_only_api: WebApiSession) -> None:
    account_id = api.create("accounts", {"name": "promotable", "accountcategorycode": 2})
    api.create("contacts", {"lastname": "c1", "parentcustomerid_account@odata.bind": f"/accounts({account_id})"})
    promoted = api.post(f"accounts({account_id})/Microsoft.Dynamics.CRM.sample_Promote", json={"Reason": "loyal"})
    assert promoted.status_code == 200
    assert promoted.json()["PreviousCategory"] == 2
    assert api.get(f"accounts({account_id})?$select=accountcategorycode").json()["accountcategorycode"] == 1
    counted = api.get(f"accounts({account_id})/Microsoft.Dynamics.CRM.sample_CountContacts()")
    assert counted.json()["Count"] == 1
    denied = read_only_api.post(f"accounts({account_id})/Microsoft.Dynamics.CRM.sample_Promote", json={})
    assert denied.status_code == 403
    missing = api.post(f"accounts({uuid.uuid4()})/Microsoft.Dynamics.CRM.sample_Promote", json={})
    assert missing.status_code == 404


def test_unknown_operation_is_404(api: WebApiSession) -> None:
    assert api.post("sample_Nothing", json={}).status_code == 404
    account_id = api.create("accounts", {"name": "ops"})
    assert api.post(f"accounts({account_id})/Microsoft.Dynamics.CRM.sample_Nothing", json={}).status_code == 404


def test_retrieve_version(api: WebApiSession) -> None:
    assert api.get("RetrieveVersion()").json()["Version"].startswith("9.2.")


def test_ids_the_service_assigns_ascend_in_its_key_order_as_dataverses_do(api: WebApiSession) -> None:
    # Dataverse assigns sequential ids (its CreateMultiple example: 8f4c3f92-…, then 904c3f92-…): a table's key
    # order is then its creation order, and new records go to the end of the primary-key index.
    marker = unique("order")
    names = [f"{marker} {index:02d}" for index in range(20)]
    response = api.post(
        "accounts/Microsoft.Dynamics.CRM.CreateMultiple",
        json={"Targets": [{"name": name, "@odata.type": ACCOUNT} for name in names[:10]]},
    )
    assert response.status_code == 200
    for name in names[10:]:
        assert api.post("accounts", json={"name": name}).status_code == 204
    listed = api.get(f"accounts?$select=name&$filter=startswith(name,'{marker}')&$orderby=accountid").json()["value"]
    assert [row["name"] for row in listed] == names
