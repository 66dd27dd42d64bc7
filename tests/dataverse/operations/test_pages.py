"""Pages: a query's records become exactly the results record_result gives, whatever shape their key has; reading
ahead requests the next page early without changing what is handed over, or in which order.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import responses

from connector.dataverse.metadata.tables import EntityInfo
from connector.dataverse.operations.output_records import record_result
from connector.dataverse.operations.pages import RecordResults, without_parameters
from connector.dataverse.registry import run_operation
from connector.results import Connection, ResultStatus
from tests.support.dataverse import API, add_entity, make_client, url_of

GUID = "49b0be2e-d01c-ed11-b83e-000d3a572421"
ACCOUNTS = EntityInfo(
    entity_set="accounts", logical_name="account", primary_id="accountid", primary_name="name", label="Account"
)
NO_KEY = EntityInfo(
    entity_set="activities", logical_name="activity", primary_id=None, primary_name=None, label="Activity"
)


@pytest.mark.parametrize(
    "record",
    [
        {"@odata.etag": 'W/"1"', "accountid": GUID, "name": "Contoso"},
        {"accountid": GUID},
        {"@odata.etag": 7, "accountid": GUID},
        {"accountid": GUID.upper()},
        {"accountid": "{" + GUID + "}"},
        {"accountid": GUID + "\n"},
        {"accountid": "not-a-guid"},
        {"accountid": None},
        {"name": "no key"},
        {"accountid": GUID, "@odata.editLink": "accounts(other)"},
    ],
)
@pytest.mark.parametrize("entity", [ACCOUNTS, NO_KEY])
def test_record_results_match_record_result(record: dict[str, Any], entity: EntityInfo) -> None:
    client = make_client()
    assert RecordResults(client, entity)(record) == record_result(client, entity, record, None)


def test_the_record_is_copied_not_changed() -> None:
    record = {"accountid": GUID}
    result = RecordResults(make_client(), ACCOUNTS)(record)
    assert record == {"accountid": GUID}
    assert result.payload == {"accountid": GUID, "@odata.editLink": f"accounts({GUID})"}


def test_custom_parameters_are_taken_out_of_links_and_the_rest_kept_byte_for_byte() -> None:
    link = "https://x/api/data/v9.2/accounts?$select=name&tag=a&$skiptoken=%3Ccookie%20p=%222%22%20/%3E&t%61g=b"
    assert without_parameters(link, {"tag"}) == (
        "https://x/api/data/v9.2/accounts?$select=name&$skiptoken=%3Ccookie%20p=%222%22%20/%3E"
    )
    assert without_parameters(link, set()) == link
    assert without_parameters("https://x/api/data/v9.2/accounts?tag=a", {"tag"}) == "https://x/api/data/v9.2/accounts"


GUIDS = [f"00000000-0000-0000-0000-{index:012d}" for index in range(1, 7)]


def accounts_page(ids: list[str], next_link: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"value": [{"accountid": guid} for guid in ids]}
    if next_link:
        body["@odata.nextLink"] = next_link
    return body


def wait_for_calls(mocked: responses.RequestsMock, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(mocked.calls) < count:
        assert time.monotonic() < deadline, f"{len(mocked.calls)} requests, expected {count}"
        time.sleep(0.01)


def test_read_ahead_requests_the_next_page_while_this_one_is_handed_over(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    add_entity(mocked)
    mocked.add("GET", f"{API}accounts", json=accounts_page(GUIDS[:2], f"{API}accounts?$skiptoken=2"))
    mocked.add("GET", f"{API}accounts?$skiptoken=2", json=accounts_page(GUIDS[2:4], f"{API}accounts?$skiptoken=4"))
    mocked.add("GET", f"{API}accounts?$skiptoken=4", json=accounts_page(GUIDS[4:]))
    results = run_operation(
        connection, "query", {"entity_set": "accounts", "read_ahead": True, "parallel": {"mode": "off"}}, [{}]
    )
    first = next(results)
    wait_for_calls(mocked, 3)  # metadata, page 1, and page 2 before its records are asked for
    assert [first.properties["id"], *(result.properties["id"] for result in results)] == GUIDS
    assert [url_of(call) for call in mocked.calls][1:] == [
        f"{API}accounts",
        f"{API}accounts?$skiptoken=2",
        f"{API}accounts?$skiptoken=4",
    ]


def test_read_ahead_keeps_errors_after_the_records_before_them(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    add_entity(mocked)
    mocked.add("GET", f"{API}accounts", json=accounts_page(GUIDS[:2], f"{API}accounts?$skiptoken=2"))
    mocked.add("GET", f"{API}accounts?$skiptoken=2", json=accounts_page(GUIDS[2:4], "https://evil.example/next"))
    results = list(
        run_operation(
            connection, "query", {"entity_set": "accounts", "read_ahead": True, "parallel": {"mode": "off"}}, [{}]
        )
    )
    assert [result.status for result in results] == [ResultStatus.SUCCESS] * 4 + [ResultStatus.FAILED]
    assert results[4].error is not None
    assert results[4].error.field == "@odata.nextLink"


def test_read_ahead_hands_over_an_error_page_in_its_place(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    add_entity(mocked)
    mocked.add("GET", f"{API}accounts", json=accounts_page(GUIDS[:2], f"{API}accounts?$skiptoken=2"))
    mocked.add(
        "GET",
        f"{API}accounts?$skiptoken=2",
        status=503,
        json={"error": {"code": "0x80040203", "message": "Unavailable."}},
    )
    results = list(
        run_operation(
            connection, "query", {"entity_set": "accounts", "read_ahead": True, "parallel": {"mode": "off"}}, [{}]
        )
    )
    assert [result.status for result in results] == [ResultStatus.SUCCESS] * 2 + [ResultStatus.FAILED]


def test_no_page_is_read_ahead_once_the_pages_read_hold_the_maximum(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    add_entity(mocked)
    mocked.add("GET", f"{API}accounts", json=accounts_page(GUIDS[:2], f"{API}accounts?$skiptoken=2"))
    results = run_operation(
        connection, "query", {"entity_set": "accounts", "read_ahead": True, "top": 2, "page_size": 1}, [{}]
    )
    assert [result.properties["id"] for result in results] == GUIDS[:2]
    assert len(mocked.calls) == 2


def test_with_a_maximum_beyond_the_pages_read_the_next_page_is_read_ahead(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    add_entity(mocked)
    mocked.add("GET", f"{API}accounts", json=accounts_page(GUIDS[:2], f"{API}accounts?$skiptoken=2"))
    mocked.add("GET", f"{API}accounts?$skiptoken=2", json=accounts_page(GUIDS[2:4], f"{API}accounts?$skiptoken=4"))
    results = run_operation(
        connection, "query", {"entity_set": "accounts", "read_ahead": True, "top": 3, "page_size": 2}, [{}]
    )
    next(results)
    wait_for_calls(mocked, 3)
    assert [result.properties["id"] for result in results] == GUIDS[1:3]
    assert len(mocked.calls) == 3
