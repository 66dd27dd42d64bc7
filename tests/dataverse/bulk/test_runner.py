"""The bulk runner: results in input order with every document accounted for, bounded reading of a streamed input,
two documents for one record written in order, per-document requests for short runs and with bulk off, progress.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest
import responses

from connector.context import Progress, RuntimeContext
from connector.dataverse.bulk import runner
from connector.dataverse.bulk.options import BulkOptions
from connector.dataverse.bulk.sizing import RequestSizes
from connector.dataverse.client import DataverseClient
from connector.dataverse.operations.options import validate_options
from connector.dataverse.registry import run_operation
from connector.results import Connection, ResultStatus
from tests.support.dataverse import API, FakeState, add_entity, first_requests_hold, run
from tests.support.paths import REPO_ROOT

MULTIPLE = f"{API}accounts/Microsoft.Dynamics.CRM.CreateMultiple"
ID = "00000000-0000-0000-0000-000000000001"
STEADY = {"min_batch_size": 2, "batch_size": 10, "initial_concurrency": 1, "max_concurrency": 1}


def ids_for(request: Any) -> tuple[int, dict[str, str], str]:
    targets = json.loads(request.body)["Targets"]
    return 200, {}, json.dumps({"Ids": [target["accountid"] for target in targets]})


def answers_held(mocked: responses.RequestsMock) -> threading.Event:
    """Answer bulk creates only once the returned event is set (at most 10 s)."""
    add_entity(mocked)
    release = threading.Event()

    def held(request: Any) -> tuple[int, dict[str, str], str]:
        release.wait(10)
        return ids_for(request)

    mocked.add_callback("POST", MULTIPLE, callback=held)
    return release


def test_every_document_gets_one_result_in_input_order(mocked: responses.RequestsMock, connection: Connection) -> None:
    add_entity(mocked)
    mocked.add_callback("POST", MULTIPLE, callback=ids_for)
    documents: list[Any] = [{"name": str(n)} for n in range(25)]
    documents[3] = "not an object"
    documents[17] = {"name": "x", "accountid": "not a guid"}
    results = run(connection, "create", {"entity_set": "accounts", "bulk": STEADY}, documents)
    assert [result.input_index for result in results] == list(range(25))
    failed = [result.input_index for result in results if result.status is ResultStatus.FAILED]
    assert failed == [3, 17]
    sent = [json.loads(call.request.body or b"") for call in list(mocked.calls)[1:]]
    assert sum(len(body["Targets"]) for body in sent) == 23


def test_a_streamed_input_is_read_only_a_bounded_way_ahead(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    release = answers_held(mocked)
    read = 0

    def documents() -> Iterator[dict[str, Any]]:
        nonlocal read
        for n in range(200):
            read += 1
            yield {"name": str(n)}

    results = run_operation(connection, "create", {"entity_set": "accounts", "bulk": STEADY}, documents())
    collected: list[Any] = []
    consumer = threading.Thread(target=lambda: collected.extend(results))
    consumer.start()
    deadline = time.monotonic() + 5
    while read < 24 and time.monotonic() < deadline:
        threading.Event().wait(0.01)
    threading.Event().wait(0.2)
    # One request out (the limit), two chunks queued behind it, one chunk being filled: 2 + 4 + 8 + 10 (the ramp).
    assert 24 <= read <= 25
    release.set()
    consumer.join(10)
    assert len(collected) == 200


def test_preparing_documents_offers_the_gil_to_the_workers_while_requests_are_out(
    mocked: responses.RequestsMock, connection: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Preparing holds the GIL; a worker reading or writing its connection would wait out the interpreter's switch
    # interval each time. So every 32 documents the run lets go of it, but only while a request is out.
    release = answers_held(mocked)
    read = [0]
    offered_after: list[tuple[int, float]] = []
    monkeypatch.setattr(runner, "time", SimpleNamespace(sleep=lambda seconds: offered_after.append((read[0], seconds))))

    def documents() -> Iterator[dict[str, Any]]:
        for index in range(70):
            read[0] = index + 1
            yield {"name": str(index)}

    # Six chunks may be out (2 + 4 + 8 + 10 + 10 + 10 = 44 documents), so the first 40 are read while the first
    # requests are held; the input is read no further until they are answered.
    options = {"entity_set": "accounts", "bulk": {**STEADY, "initial_concurrency": 4, "max_concurrency": 4}}
    results = run_operation(connection, "create", options, documents())
    collected: list[Any] = []
    consumer = threading.Thread(target=lambda: collected.extend(results))
    consumer.start()
    try:
        deadline = time.monotonic() + 5
        while read[0] < 44 and time.monotonic() < deadline:
            threading.Event().wait(0.01)
        assert offered_after == [(33, 0)]  # documents 0 (nothing out yet) and 32 (requests out)
    finally:
        release.set()
        consumer.join(10)
    assert len(collected) == 70


def test_chunks_start_small_and_double_up_to_the_batch_size(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    add_entity(mocked)
    mocked.add_callback("POST", MULTIPLE, callback=ids_for)
    documents = [{"name": str(n)} for n in range(50)]
    results = run(connection, "create", {"entity_set": "accounts", "bulk": {**STEADY, "batch_size": 16}}, documents)
    assert [result.input_index for result in results] == list(range(50))
    sizes = [len(json.loads(call.request.body or b"")["Targets"]) for call in list(mocked.calls)[1:]]
    # The first request goes out after an eighth of a batch (at least min_batch_size), each next one doubles.
    assert sizes == [2, 4, 8, 16, 16, 4]


def test_requests_grown_past_a_thousand_keep_the_records_out_where_they_were_before(
    mocked: responses.RequestsMock, connection: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With one request at a time, up to three chunks may be out (the limit plus two): 3000 records of 1000. Chunks of
    # 2500 may then be out only one at a time, or memory would grow with the requests' size.
    first_requests_hold(monkeypatch, 2500)
    add_entity(mocked)
    read = [0]
    read_when_answered: list[int] = []

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        if not read_when_answered:
            deadline = time.monotonic() + 0.3  # long enough for the input to be read past a second chunk, if allowed
            while read[0] < 7500 and time.monotonic() < deadline:
                threading.Event().wait(0.005)
            read_when_answered.append(read[0])
        return ids_for(request)

    def documents() -> Iterator[dict[str, Any]]:
        for index in range(10_000):
            read[0] = index
            yield {"name": str(index)}

    mocked.add_callback("POST", MULTIPLE, callback=answer)
    options = {"entity_set": "accounts", "bulk": {**STEADY, "batch_size": 2500}}
    results = list(run_operation(connection, "create", options, documents()))
    assert [result.status for result in results] == [ResultStatus.SUCCESS] * 10_000
    # The second chunk (documents 2500 to 4999) is formed and waits; nothing past it is read while the first is out.
    assert read_when_answered == [4999]


def test_the_first_chunk_is_an_eighth_of_a_batch_but_a_whole_one_all_or_nothing() -> None:
    options = BulkOptions.from_values("create", {"batch_size": 100, "min_batch_size": 10})

    def first(options: BulkOptions) -> int:
        return RequestSizes(options, budget=30).first("CreateMultiple")

    assert first(options) == 13
    assert first(replace(options, batch_size=40)) == 10
    assert first(replace(options, batch_size=5)) == 5
    assert first(replace(options, all_or_nothing=True)) == 100
    assert first(replace(options, batch_size=10_000)) == 125  # an eighth of the suggested 1000, not of the most


def test_two_documents_for_one_record_are_written_in_order(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    add_entity(mocked)
    upsert = f"{API}accounts/Microsoft.Dynamics.CRM.UpsertMultiple"
    mocked.add("POST", upsert, status=204)
    mocked.add("PATCH", f"{API}accounts({ID})", status=204)
    other = "00000000-0000-0000-0000-000000000002"
    documents = [{"accountid": ID, "name": "first"}, {"accountid": other}, {"accountid": ID, "name": "second"}]
    results = run(connection, "upsert", {"entity_set": "accounts", "bulk": STEADY}, documents)
    assert all(result.ok for result in results)
    assert [call.request.method for call in list(mocked.calls)[1:]] == ["POST", "PATCH"]
    assert json.loads(mocked.calls[2].request.body or b"") == {"accountid": ID, "name": "second"}


def test_a_short_run_and_bulk_off_send_one_request_per_document(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    add_entity(mocked)
    for _ in range(4):
        mocked.add("POST", f"{API}accounts", status=204, headers={"OData-EntityId": f"{API}accounts({ID})"})
    short = run(connection, "create", {"entity_set": "accounts"}, [{"name": "a"}, {"name": "b"}])
    off = run(
        connection, "create", {"entity_set": "accounts", "bulk": {"mode": "off"}}, [{"name": str(n)} for n in range(2)]
    )
    assert [result.properties for result in short + off] == [
        {"id": ID, "entity_url": f"{API}accounts({ID})", "http_status": "204"}
    ] * 4


class Reports(list[Progress]):
    """Progress reports, in the order the meter gave them."""

    def __call__(self, progress: Progress) -> None:
        self.append(progress)


def test_progress_counts_documents_done_and_failed(mocked: responses.RequestsMock, client: DataverseClient) -> None:
    add_entity(mocked)
    mocked.add_callback("POST", MULTIPLE, callback=ids_for)
    reports = Reports()
    settings = client.transport.settings
    connection = Connection("dynamics365-ce", settings, RuntimeContext(progress=reports), state=FakeState(client))
    documents: list[Any] = [{"name": str(n)} for n in range(12)] + [None]
    results = run(connection, "create", {"entity_set": "accounts", "bulk": STEADY}, documents)
    assert len(results) == 13
    assert (reports[-1].operation, reports[-1].done, reports[-1].failed, reports[-1].total) == ("create", 13, 1, 13)


def test_the_documented_bulk_examples_are_valid_options() -> None:
    text = (REPO_ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    section = text.split("## Bulk writes", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```json\n(.*?)```", section, flags=re.DOTALL)
    assert blocks
    for block in blocks:
        for operation in ("create", "update", "upsert"):
            validate_options(operation, json.loads(block))
