"""Watermark reads: the filter and sort each run sends, ties skipped and kept, the look-back window, the checkpoint
committed only after the last record, and the options a watermark cannot be combined with.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses
from responses import matchers

from connector.context import MemoryCheckpointStore, RuntimeContext
from connector.dataverse.client import DataverseClient
from connector.dataverse.operations.watermarks import WATERMARK_KEY_PREFIX
from connector.dataverse.registry import run_operation
from connector.errors import ConfigError
from connector.results import Connection, ResultStatus
from tests.support.dataverse import API, FakeState, add_description, add_entity

IDS = [f"00000000-0000-0000-0000-{index:012d}" for index in range(1, 6)]
KEY = f"{WATERMARK_KEY_PREFIX}nightly"
OPTIONS = {
    "entity_set": "accounts",
    "select": ["name"],
    "watermark": {"field": "lastonholdtime"},
    "checkpoint_key": "nightly",
    "page_size": 2,
}


def connect(client: DataverseClient, store: MemoryCheckpointStore) -> Connection:
    return Connection(
        "dynamics365-ce", client.transport.settings, RuntimeContext(checkpoint_store=store), state=FakeState(client)
    )


def record(index: int, when: str) -> dict[str, Any]:
    return {"name": f"A{index}", "lastonholdtime": when, "accountid": IDS[index]}


def page(
    mocked: responses.RequestsMock, query: dict[str, str], rows: list[dict[str, Any]], next_link: str = ""
) -> None:
    body: dict[str, Any] = {"value": rows}
    if next_link:
        body["@odata.nextLink"] = next_link
    mocked.add("GET", f"{API}accounts", match=[matchers.query_param_matcher(query)], json=body)


def first_query(since: str | None = None) -> dict[str, str]:
    condition = "lastonholdtime ne null" + (f" and lastonholdtime ge {since}" if since else "")
    return {
        "$select": "name,lastonholdtime,accountid",
        "$filter": condition,
        "$orderby": "lastonholdtime asc,accountid asc",
    }


def test_ties_are_skipped_and_the_watermark_committed_after_the_last_record(
    mocked: responses.RequestsMock, client: DataverseClient
) -> None:
    store = MemoryCheckpointStore()
    stored = {
        "format": 1,
        "entity_set": "accounts",
        "field": "lastonholdtime",
        "value": "2024-01-01T00:00:00Z",
        "ties": [IDS[0]],
    }
    store.save(KEY, json.dumps(stored))
    add_entity(mocked)
    add_description(mocked)
    next_link = f"{API}accounts?$skiptoken=2"
    page(
        mocked,
        first_query("2024-01-01T00:00:00Z"),
        [record(0, "2024-01-01T00:00:00Z"), record(1, "2024-01-01T00:00:00Z")],
        next_link,
    )
    mocked.add("GET", next_link, json={"value": [record(2, "2024-02-01T00:00:00Z"), record(3, "2024-02-01T00:00:00Z")]})
    results = run_operation(connect(client, store), "query", OPTIONS, [{}])
    names = []
    for result in results:
        assert result.status is ResultStatus.SUCCESS
        names.append((result.payload or {})["name"])
        assert json.loads(store.load(KEY) or "")["value"] == "2024-01-01T00:00:00Z"  # not yet committed
    assert names == ["A1", "A2", "A3"]  # A0 was a tie the previous run delivered
    committed = json.loads(store.load(KEY) or "")
    assert (committed["value"], committed["ties"]) == ("2024-02-01T00:00:00Z", [IDS[2], IDS[3]])


def test_the_look_back_window_never_moves_the_watermark_back(
    mocked: responses.RequestsMock, client: DataverseClient
) -> None:
    store = MemoryCheckpointStore()
    stored = {
        "format": 1,
        "entity_set": "accounts",
        "field": "lastonholdtime",
        "value": "2024-01-01T00:05:00Z",
        "ties": [IDS[1]],
    }
    store.save(KEY, json.dumps(stored))
    add_entity(mocked)
    add_description(mocked)
    page(
        mocked,
        first_query("2024-01-01T00:00:00Z"),
        [record(0, "2024-01-01T00:01:00Z"), record(1, "2024-01-01T00:05:00Z")],
    )
    options = {**OPTIONS, "watermark": {"field": "lastonholdtime", "lookback_seconds": 300}}
    results = list(run_operation(connect(client, store), "query", options, [{}]))
    assert [(result.payload or {})["name"] for result in results] == ["A0"]  # re-read in the window; A1 was a tie
    assert json.loads(store.load(KEY) or "") == stored


def test_a_failed_page_commits_nothing(mocked: responses.RequestsMock, client: DataverseClient) -> None:
    store = MemoryCheckpointStore()
    add_entity(mocked)
    add_description(mocked)
    next_link = f"{API}accounts?$skiptoken=2"
    page(mocked, first_query(), [record(0, "2024-01-01T00:00:00Z")], next_link)
    mocked.add("GET", next_link, status=400, json={"error": {"code": "0x80060888", "message": "bad"}})
    results = list(run_operation(connect(client, store), "query", OPTIONS, [{}]))
    assert [result.status for result in results] == [ResultStatus.SUCCESS, ResultStatus.FAILED]
    assert store.load(KEY) is None


@pytest.mark.parametrize(
    ("field", "words"),
    [("name", "its type is string"), ("nosuch", "its type is unknown")],
)
def test_the_column_must_grow(mocked: responses.RequestsMock, client: DataverseClient, field: str, words: str) -> None:
    add_entity(mocked)
    add_description(mocked)
    options = {**OPTIONS, "watermark": {"field": field}}
    [failed] = list(run_operation(connect(client, MemoryCheckpointStore()), "query", options, [{}]))
    assert failed.error is not None
    assert failed.error.field == "options.watermark.field"
    assert words in failed.error.message


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"order_by": [{"field": "name"}]}, "options.order_by"),
        ({"change_tracking": True}, "options.watermark"),
        ({"mode": "fetchxml", "fetch_xml": "<fetch><entity name='account'/></fetch>"}, "options.mode"),
    ],
)
def test_what_a_watermark_cannot_be_combined_with(client: DataverseClient, extra: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        run_operation(connect(client, MemoryCheckpointStore()), "query", {**OPTIONS, **extra}, [{}])
    assert field in caught.value.fields
