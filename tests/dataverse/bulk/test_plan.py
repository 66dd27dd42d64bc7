"""Planning bulk writes: which request each document can travel in, the targets and parts built for it, client keys."""

from __future__ import annotations

import dataclasses
import json
import uuid
from typing import Any

import pytest
import responses

from connector.dataverse.bulk.options import BulkOptions
from connector.dataverse.bulk.plan import BATCH, BulkItem, Planner, encode_json
from connector.dataverse.client import DataverseClient
from connector.dataverse.metadata.cache import metadata_for
from connector.dataverse.operations.inputs import DocumentError
from connector.dataverse.operations.options import parse_options
from connector.dataverse.operations.running import OperationContext
from connector.dataverse.registry import OPERATIONS
from tests.support.dataverse import API, add_entity
from tests.support.paths import REPO_ROOT

ID = "00000000-0000-0000-0000-000000000001"


def plan(client: DataverseClient, operation: str, options: dict[str, Any], document: dict[str, Any]) -> BulkItem:
    parsed = parse_options(operation, {"entity_set": "accounts", **options}, OPERATIONS[operation].options)
    context = OperationContext(operation, client, metadata_for(client), parsed)
    return Planner(context, parsed.bulk).plan(0, document)


@pytest.fixture
def entity(mocked: responses.RequestsMock) -> None:
    add_entity(mocked)


def test_a_plain_create_goes_to_create_multiple_with_its_type_and_a_key_of_its_own(
    client: DataverseClient, entity: None
) -> None:
    item = plan(client, "create", {}, {"name": "Contoso", "@odata.etag": 'W/"1"'})
    assert item.route == "CreateMultiple"
    assert item.target is not None
    target = json.loads(item.target)
    assert target["@odata.type"] == "Microsoft.Dynamics.CRM.account"
    assert uuid.UUID(target["accountid"]).version == 4
    assert target["name"] == "Contoso"
    assert "@odata.etag" not in target
    assert item.idempotent
    assert (item.part.method, item.part.url) == ("POST", f"{API}accounts")
    assert json.loads(item.part.body or b"") == {"name": "Contoso", "accountid": target["accountid"]}
    assert item.record is None  # a key the connector made up cannot collide with another document's


def test_keys_differ_between_records_and_never_is_honoured(client: DataverseClient, entity: None) -> None:
    planner_items = [plan(client, "create", {}, {"name": str(n)}) for n in range(50)]
    keys = {json.loads(item.target or b"")["accountid"] for item in planner_items}
    assert len(keys) == 50
    item = plan(client, "create", {"client_keys": "never"}, {"name": "x"})
    assert "accountid" not in json.loads(item.target or b"")
    assert not item.idempotent


def test_a_document_with_its_own_key_keeps_it_and_is_one_record(client: DataverseClient, entity: None) -> None:
    item = plan(client, "create", {}, {"accountid": ID.upper(), "name": "x"})
    assert json.loads(item.target or b"")["accountid"] == ID
    assert item.record == f"accounts({ID})"


@pytest.mark.parametrize(
    ("options", "document"),
    [
        ({"return_representation": True}, {"name": "x"}),
        ({}, {"name": "x", "contact_customer_accounts": [{"lastname": "y"}]}),
        ({}, {"name": "x", "@connector.query_parameters": {"tag": "t"}}),
        ({"bulk": {"mode": "batch"}}, {"name": "x"}),
        ({"bulk": {"all_or_nothing": True}}, {"name": "x"}),
    ],
    ids=["return the record", "deep insert", "own query parameters", "batch mode", "all or nothing"],
)
def test_creates_a_bulk_action_cannot_carry_go_to_batch(
    client: DataverseClient, entity: None, options: dict[str, Any], document: dict[str, Any]
) -> None:
    item = plan(client, "create", options, document)
    assert item.route == BATCH
    assert item.target is None


def test_a_batch_part_carries_the_documents_own_query_and_the_preferences(
    client: DataverseClient, entity: None
) -> None:
    options = {"return_representation": True, "select": ["name"], "bypass_custom_plugins": True}
    item = plan(client, "create", options, {"name": "x", "@connector.query_parameters": {"tag": "t"}})
    assert item.part.url == f"{API}accounts?$select=name&tag=t"
    assert item.part.headers == {
        "Content-Type": "application/json; charset=utf-8",
        "MSCRM.BypassCustomPluginExecution": "true",
        "Prefer": "return=representation",
    }


@pytest.mark.parametrize(
    ("options", "document", "route", "header"),
    [
        ({}, {"accountid": ID, "name": "x"}, "UpsertMultiple", None),
        ({"etag": "*"}, {"accountid": ID, "name": "x"}, "UpdateMultiple", ("If-Match", "*")),
        ({}, {"accountid": ID, "@odata.etag": 'W/"5"', "name": "x"}, BATCH, ("If-Match", 'W/"5"')),
        ({"etag": "*", "concurrency_mode": "if_none_match"}, {"accountid": ID}, BATCH, ("If-None-Match", "*")),
    ],
    ids=["no etag is an upsert", "update only", "a version etag", "create only"],
)
def test_updates_go_where_the_bulk_action_means_the_same(
    client: DataverseClient,
    entity: None,
    options: dict[str, Any],
    document: dict[str, Any],
    route: str,
    header: tuple[str, str] | None,
) -> None:
    item = plan(client, "update", options, document)
    assert item.route == route
    assert (item.part.method, item.part.url) == ("PATCH", f"{API}accounts({ID})")
    if header is not None:
        assert item.part.headers[header[0]] == header[1]
    if route == "UpsertMultiple":
        assert json.loads(item.target or b"")["@odata.id"] == f"accounts({ID})"
    if route == "UpdateMultiple":
        assert json.loads(item.target or b"") == {
            "@odata.type": "Microsoft.Dynamics.CRM.account",
            "accountid": ID,
            "name": "x",
        }
    assert item.record == f"accounts({ID})"


def test_an_upsert_by_alternate_key_names_its_record_by_odata_id(client: DataverseClient, entity: None) -> None:
    item = plan(client, "upsert", {"key_fields": ["accountnumber"]}, {"accountnumber": "A-1", "name": "x"})
    assert item.route == "UpsertMultiple"
    assert json.loads(item.target or b"") == {
        "@odata.type": "Microsoft.Dynamics.CRM.account",
        "@odata.id": "accounts(accountnumber='A-1')",
        "accountnumber": "A-1",
        "name": "x",
    }
    assert item.idempotent
    assert item.record == "accounts(accountnumber='a-1')"


def _self_containing() -> dict[str, Any]:
    record: dict[str, Any] = {"name": "x"}
    record["primarycontactid"] = {"lastname": "y", "parent": record}
    return record


@pytest.mark.parametrize(
    "document",
    [
        {"name": "x", "revenue": float("nan")},
        {"name": "x", "revenue": float("-inf")},
        {"name": "x", "description": object()},
    ],
    ids=["NaN", "-Infinity", "not JSON"],
)
def test_a_value_json_cannot_carry_fails_the_document(
    client: DataverseClient, entity: None, document: dict[str, Any]
) -> None:
    with pytest.raises(DocumentError, match="JSON cannot carry"):
        plan(client, "create", {}, document)


def test_a_document_that_contains_itself_fails_naming_its_member(client: DataverseClient, entity: None) -> None:
    # A host's dicts can: write_body recursed until RecursionError before.
    with pytest.raises(DocumentError) as caught:
        plan(client, "create", {}, _self_containing())
    assert caught.value.field == "primarycontactid"
    with pytest.raises(DocumentError, match="JSON cannot carry"):
        encode_json(_self_containing())


@pytest.mark.parametrize(
    "value",
    [
        {"name": 'Zoë \u2028 "quoted" \\ \U0001f600', "revenue": 1.25, "count": 10**30, "flag": True, "none": None},
        {"nested": [{"a": []}, {}, [1, 2.5e-7]]},
        "text",
        12,
    ],
)
def test_bodies_are_serialised_as_the_standard_encoder_does(value: Any) -> None:
    assert encode_json(value) == json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize("operation", ["create", "update", "upsert"])
def test_the_bulk_options_fill_the_schemas_defaults(operation: str) -> None:
    schema = json.loads((REPO_ROOT / "schemas" / "operations" / f"{operation}.schema.json").read_text("utf-8"))
    defaults = {name: prop["default"] for name, prop in schema["properties"]["bulk"]["properties"].items()}
    assert dataclasses.asdict(BulkOptions.from_values(operation, None)) == defaults
    assert BulkOptions.from_values(operation, {}) == BulkOptions.from_values(operation, None)
    given = BulkOptions.from_values(operation, {"max_concurrency": 3, "initial_concurrency": 8})
    assert dataclasses.asdict(given) == {**defaults, "max_concurrency": 3, "initial_concurrency": 3}
