"""The first page read ahead: requested while the table's metadata is read, taken only when it is the read's own
first request, and dropped (its failure too) when the metadata says the read cannot go on.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
import requests
import responses
from responses import matchers

from connector.dataverse.metadata.definitions import ENTITY_COLUMNS
from connector.dataverse.partitions.ahead import FirstPageAhead
from connector.dataverse.partitions.ranges import RangeQuery
from connector.dataverse.registry import run_operation
from connector.results import Connection, ResultStatus
from tests.dataverse.partitions.test_reader import COLLECTION, FakeService, ids, random_keys
from tests.support.dataverse import API, add_entity

METADATA = f"{API}EntityDefinitions"


def test_the_first_page_is_requested_while_the_metadata_is_read(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    service = FakeService(random_keys(40, seed=7))
    page_requested = threading.Event()
    overlapped: list[bool] = []

    def first_page(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        page_requested.set()
        return service(request)

    def metadata(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        # Answered only once the page has been asked for (or after a deadline, which fails the test).
        overlapped.append(page_requested.wait(10))
        body = {
            "value": [
                {
                    "LogicalName": "account",
                    "EntitySetName": "accounts",
                    "PrimaryIdAttribute": "accountid",
                    "PrimaryNameAttribute": "name",
                    "MetadataId": "70816501-edb9-4740-a16c-6a5efbc05d84",
                }
            ]
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    mocked.add_callback("GET", METADATA, callback=metadata)
    mocked.add_callback("GET", COLLECTION, callback=first_page)
    seen = ids(run_operation(connection, "query", {"entity_set": "accounts", "page_size": 10}, [{}]))
    assert overlapped == [True]
    assert sorted(seen) == sorted(service.keys)
    assert len(seen) == len(set(seen))


def test_an_unknown_table_fails_with_its_own_error_and_the_page_ahead_is_dropped(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    mocked.add(
        "GET",
        METADATA,
        match=[
            matchers.query_param_matcher({"$select": ",".join(ENTITY_COLUMNS), "$filter": "EntitySetName eq 'nope'"})
        ],
        json={"value": []},
    )
    mocked.add("GET", f"{API}nope", status=404, json={"error": {"code": "0x80060888", "message": "Resource not found"}})
    results = list(run_operation(connection, "query", {"entity_set": "nope"}, [{}]))
    assert [result.status for result in results] == [ResultStatus.FAILED]
    error = results[0].error
    assert error is not None
    assert "no entity set named 'nope'" in error.message


def test_a_read_one_page_at_a_time_asks_the_metadata_first(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    service = FakeService(random_keys(5, seed=8))
    add_entity(mocked)
    mocked.add_callback("GET", COLLECTION, callback=service)
    options: dict[str, Any] = {"entity_set": "accounts", "parallel": {"mode": "off"}}
    assert len(ids(run_operation(connection, "query", options, [{}]))) == 5
    assert [str(call.request.url).split("?")[0] for call in mocked.calls] == [METADATA, f"{API}accounts"]


def test_a_known_table_is_read_without_a_page_ahead(
    mocked: responses.RequestsMock, connection: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = FakeService(random_keys(5, seed=9))
    add_entity(mocked)
    mocked.add_callback("GET", COLLECTION, callback=service)
    started: list[str] = []
    start = FirstPageAhead.start

    def counted(source: RangeQuery) -> FirstPageAhead:
        started.append(source.first_url())
        return start(source)

    monkeypatch.setattr(FirstPageAhead, "start", staticmethod(counted))
    for _ in range(2):
        assert len(ids(run_operation(connection, "query", {"entity_set": "accounts"}, [{}]))) == 5
    # The first read looks the table up and sends its page ahead; the second knows the table and sends none.
    assert started == [f"{API}accounts"]
    assert [str(call.request.url).split("?")[0] for call in mocked.calls].count(f"{API}accounts") == 2
