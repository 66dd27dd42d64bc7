"""Reading a bulk create's records back with one request: the columns the comparison needs, not every column."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import responses

from connector.dataverse.bulk.concurrency import AdaptiveLimit
from connector.dataverse.bulk.sender import BulkSender
from connector.dataverse.bulk.stored import find_stored
from connector.dataverse.metadata.cache import MetadataCache
from connector.dataverse.operations.resends import compared_columns
from tests.support.dataverse import API, add_description, add_entity, make_client

KEYS = ["00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000002"]


def test_the_read_back_asks_only_for_the_columns_it_compares(mocked: responses.RequestsMock) -> None:
    client = make_client(max_attempts=1)
    mocked.add("POST", f"{API}$batch", status=500, json={"error": {"code": "0x0", "message": "no"}})
    sender = BulkSender(client.transport, AdaptiveLimit(1, 1), sleep=lambda seconds: None)
    assert find_stored(client, sender, "accounts", "accountid", KEYS, ["accountid", "name", "revenue"]) is None
    body = mocked.calls[0].request.body
    assert isinstance(body, bytes)
    parts = [line for line in unquote(body.decode()).splitlines() if line.startswith("GET ")]
    assert len(parts) == 1
    assert "$select=accountid,name,revenue" in parts[0]


def test_the_compared_columns_are_the_key_the_plain_members_and_the_bound_lookups(
    mocked: responses.RequestsMock,
) -> None:
    add_entity(mocked)
    add_description(mocked)
    metadata = MetadataCache(make_client())
    entity = metadata.entity("accounts")
    bodies: list[dict[str, Any]] = [
        {"accountid": KEYS[0], "name": "a", "@odata.type": "Microsoft.Dynamics.CRM.account"},
        {
            "accountid": KEYS[1],
            "revenue": 5,
            "primarycontactid@odata.bind": f"contacts({KEYS[0]})",
            "name@OData.Community.Display.V1.FormattedValue": "ignored",
            "contact_customer_accounts": [{"lastname": "nested, never compared"}],
            "nosuchnavigation@odata.bind": f"contacts({KEYS[0]})",
        },
    ]
    assert compared_columns(metadata, entity, bodies) == ["_primarycontactid_value", "accountid", "name", "revenue"]
