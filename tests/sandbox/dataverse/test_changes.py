"""Change tracking (delta links) and associations through ``$ref`` in the sandbox Web API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dataverse_sandbox.server import Sandbox
from tests.support.sandbox import WebApiSession, bearer_token

TRACK = {"Prefer": "odata.track-changes"}


def _follow(session: WebApiSession, url: str, headers: dict[str, str]) -> tuple[list[dict[str, Any]], str]:
    """:returns: every value across pages, and the final delta link."""
    values: list[dict[str, Any]] = []
    while True:
        response = session.get(url, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        values.extend(body["value"])
        if "@odata.nextLink" in body:
            url = body["@odata.nextLink"]
            continue
        return values, body["@odata.deltaLink"]


def test_tracked_query_then_delta_lists_changes_and_deletions(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox()
    api = WebApiSession(sb, bearer_token(sb))
    kept = api.create("accounts", {"name": "kept"})
    changed = api.create("accounts", {"name": "to change"})
    removed = api.create("accounts", {"name": "to remove"})
    first = api.get("accounts?$select=name", headers=TRACK)
    assert first.headers["Preference-Applied"] == "odata.track-changes"
    body = first.json()
    assert {row["accountid"] for row in body["value"]} == {kept, changed, removed}
    delta_link = body["@odata.deltaLink"]
    assert delta_link.startswith(api.root + "accounts?$select=name&$deltatoken=")

    api.patch(f"accounts({changed})", json={"name": "changed"})
    api.delete(f"accounts({removed})")
    added = api.create("accounts", {"name": "added"})
    transient = api.create("accounts", {"name": "created then deleted"})
    api.delete(f"accounts({transient})")

    delta = api.get(delta_link, headers=TRACK).json()
    assert delta["@odata.context"] == f"{api.root}$metadata#accounts(name)/$delta"
    rows = [item for item in delta["value"] if "reason" not in item]
    deletions = [item for item in delta["value"] if "reason" in item]
    assert [row["accountid"] for row in rows] == [changed, added]
    assert rows[0]["name"] == "changed"
    assert deletions == [
        {"@odata.context": f"{api.root}$metadata#accounts/$deletedEntity", "id": removed, "reason": "deleted"},
        {"@odata.context": f"{api.root}$metadata#accounts/$deletedEntity", "id": transient, "reason": "deleted"},
    ]
    assert delta["value"].index(deletions[0]) > delta["value"].index(rows[-1])

    quiet = api.get(delta["@odata.deltaLink"], headers=TRACK).json()
    assert quiet["value"] == []
    assert "$deltatoken=" in quiet["@odata.deltaLink"]


def test_tracked_paging_puts_the_delta_link_on_the_last_page(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox()
    sb.seed(25)
    api = WebApiSession(sb, bearer_token(sb))
    headers = {"Prefer": "odata.track-changes, odata.maxpagesize=10"}
    values, delta_link = _follow(api, "accounts?$select=name", headers)
    assert len(values) == 25
    for index in range(12):
        api.create("accounts", {"name": f"later {index}"})
    changes, _ = _follow(api, delta_link, {"Prefer": "odata.maxpagesize=5"})
    assert [row["name"] for row in changes] == [f"later {index}" for index in range(12)]


def test_change_count_and_tracking_restrictions(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox()
    api = WebApiSession(sb, bearer_token(sb))
    delta_link = api.get("accounts?$select=name", headers=TRACK).json()["@odata.deltaLink"]
    api.create("accounts", {"name": "one"})
    api.create("accounts", {"name": "two"})
    token = delta_link.split("$deltatoken=", 1)[1]
    assert api.get(f"accounts/$count?$deltatoken={token}").text == "2"
    refused = api.get("accounts?$select=name&$filter=name eq 'x'", headers=TRACK)
    assert refused.status_code == 400
    assert "isn't supported when Change Tracking is enabled" in refused.json()["error"]["message"]
    assert api.get("accounts?$deltatoken=garbage").status_code == 400


def test_associate_and_disassociate_through_ref(api: WebApiSession) -> None:
    account_id = api.create("accounts", {"name": "ref parent"})
    first = api.create("contacts", {"lastname": "ref one"})
    second = api.create("contacts", {"lastname": "ref two"})

    added = api.post(
        f"accounts({account_id})/contact_customer_accounts/$ref", json={"@odata.id": f"{api.root}contacts({first})"}
    )
    assert added.status_code == 204
    api.post(f"accounts({account_id})/contact_customer_accounts/$ref", json={"@odata.id": f"contacts({second})"})
    refs = api.get(f"accounts({account_id})/contact_customer_accounts/$ref").json()
    assert refs["@odata.context"] == f"{api.root}$metadata#Collection($ref)"
    assert sorted(ref["@odata.id"] for ref in refs["value"]) == sorted(
        f"{api.root}contacts({c})" for c in (first, second)
    )

    removed = api.delete(f"accounts({account_id})/contact_customer_accounts({first})/$ref")
    assert removed.status_code == 204
    by_id = api.delete(
        f"accounts({account_id})/contact_customer_accounts/$ref", params={"$id": f"{api.root}contacts({second})"}
    )
    assert by_id.status_code == 204
    for contact_id in (first, second):
        assert api.get(f"contacts({contact_id})").json()["_parentcustomerid_value"] is None


def test_single_valued_ref_put_get_and_delete(api: WebApiSession) -> None:
    account_id = api.create("accounts", {"name": "single ref"})
    contact_id = api.create("contacts", {"lastname": "primary"})
    assert (
        api.put(
            f"accounts({account_id})/primarycontactid/$ref", json={"@odata.id": f"contacts({contact_id})"}
        ).status_code
        == 204
    )
    ref = api.get(f"accounts({account_id})/primarycontactid/$ref").json()
    assert ref["@odata.id"] == f"{api.root}contacts({contact_id})"
    related = api.get(f"accounts({account_id})/primarycontactid?$select=lastname").json()
    assert related["lastname"] == "primary"
    assert api.delete(f"accounts({account_id})/primarycontactid/$ref").status_code == 204
    assert api.get(f"accounts({account_id})").json()["_primarycontactid_value"] is None
    assert api.get(f"accounts({account_id})/primarycontactid").status_code == 204


def test_ref_to_the_wrong_table_is_400(api: WebApiSession) -> None:
    account_id = api.create("accounts", {"name": "wrong ref"})
    other = api.create("accounts", {"name": "not a contact"})
    response = api.put(f"accounts({account_id})/primarycontactid/$ref", json={"@odata.id": f"accounts({other})"})
    assert response.status_code == 400


def test_deleting_a_record_clears_lookups_that_point_at_it(api: WebApiSession) -> None:
    account_id = api.create("accounts", {"name": "going away"})
    contact_id = api.create(
        "contacts", {"lastname": "orphan", "parentcustomerid_account@odata.bind": f"/accounts({account_id})"}
    )
    before = api.get(f"contacts({contact_id})").json()["@odata.etag"]
    api.delete(f"accounts({account_id})")
    after = api.get(f"contacts({contact_id})").json()
    assert after["_parentcustomerid_value"] is None
    assert after["@odata.etag"] != before
