"""Bulk Create, Update and Upsert end to end against the sandbox, through the reference host: thousands of records
with some invalid, a connection reset after a bulk request was processed, a throttling storm in the middle of a job,
change sets rolled back, updates and upserts by key, and progress reports. Outcomes are checked from the server's
side (its storage and its request records).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import pytest

from connector.context import Progress, RuntimeContext
from connector.dataverse.bulk import chunks
from connector.dataverse.bulk import runner as bulk
from connector.dataverse.bulk.concurrency import AdaptiveLimit, Outcome, Ticket
from connector.dataverse.bulk.options import BulkOptions
from connector.dataverse.bulk.sizing import RequestSizes
from connector.dataverse.bulk.stored import find_stored
from connector.host.facade import ConnectorHost
from connector.live import LiveConnection
from connector.results import OperationResult, ResultStatus
from connector.retry import RetryPolicy
from dataverse_sandbox.faults import FaultSettings
from dataverse_sandbox.limits import LimitSettings
from tests.support.dataverse import unanswered_requests
from tests.support.operations import CONNECTOR_ID, Live, sandbox_settings

API_PATH = "/api/data/v9.2/"


def marked(live: Live, marker: str) -> list[dict[str, Any]]:
    return live.rows("account", "name LIKE ?", [f"%{marker}%"])


FIRST_OF_100 = RequestSizes(BulkOptions.from_values("create", {"batch_size": 100}), budget=30).first("CreateMultiple")
"""The records of a run's first request with ``batch_size`` 100: where the ramp starts (13)."""


def posts_since(live: Live, since: float, path: str, count: int) -> list[Any]:
    """The server's records of POSTs to a path since a time, once ``count`` are in (a reset request is recorded
    by the server thread after the client already saw the reset).
    """
    deadline = time.monotonic() + 5
    while True:
        posts = live.sandbox.stats.requests(method="POST", path_prefix=f"{API_PATH}{path}", since=since)
        if len(posts) >= count or time.monotonic() > deadline:
            return posts
        threading.Event().wait(0.01)


@pytest.fixture
def posts_only(live: Live) -> Iterator[None]:
    """Faults apply to Web API POSTs only (never to metadata reads or to the token request)."""
    live.sandbox.faults.update(FaultSettings(path_prefix=API_PATH, methods=("POST",)))
    try:
        yield
    finally:
        live.sandbox.faults.update(FaultSettings())


def test_bulk_runs_send_through_the_connections_pooled_connections(live: Live) -> None:
    # Each run used to open a pool of its own and close it at the end: new TCP connections (and, on https, TLS
    # handshakes) for every run. A run now sends through the connection's pool and leaves its connections there.
    bulk_options = {"entity_set": "accounts", "bulk": {"initial_concurrency": 2, "max_concurrency": 2}}
    marker = uuid.uuid4().hex
    opened: list[int] = []
    for run in range(3):
        documents = [{"name": f"{marker} {run} {index}"} for index in range(400)]
        results = live.run("create", bulk_options, documents)
        assert [result.status for result in results] == [ResultStatus.SUCCESS] * 400
        opened.append(live.sandbox.connections_opened)
    assert opened[1] == opened[0]
    assert opened[2] == opened[0]
    assert len(marked(live, marker)) == 1200


def most_at_once(requests: list[Any]) -> int:
    """The most of the server's request records that overlapped in time."""
    events = sorted([(r.time, 1) for r in requests] + [(r.finished, -1) for r in requests], key=lambda e: (e[0], e[1]))
    now = most = 0
    for _, change in events:
        now += change
        most = max(most, now)
    return most


@pytest.mark.parametrize("hint", [1, 3])
def test_a_bulk_run_keeps_to_the_services_dop_hint(live: Live, hint: int) -> None:
    # Dataverse's x-ms-dop-hint is the parallelism it recommends for the environment: the run never goes above it.
    live.sandbox.limits.update(LimitSettings(dop_hint=hint))
    since = live.sandbox.clock.now()
    marker = uuid.uuid4().hex
    documents = [{"name": f"{marker} {index}"} for index in range(3000)]
    options = {"entity_set": "accounts", "bulk": {"batch_size": 50, "initial_concurrency": 1, "max_concurrency": 52}}
    try:
        results = live.run("create", options, documents)
    finally:
        live.sandbox.limits.update(LimitSettings())
    assert [result.status for result in results] == [ResultStatus.SUCCESS] * 3000
    posts = posts_since(live, since, "accounts/Microsoft.Dynamics.CRM.CreateMultiple", 60)
    assert len(posts) >= 60  # 3000 records in requests of at most 50 (a run's first ones hold fewer)
    assert most_at_once(posts) <= hint


def test_requests_grow_past_a_thousand_once_the_service_answers_quickly(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Requests grow past Microsoft's suggested 1000 only on what an answer says; the input waits for the first one.
    answered = threading.Event()
    original = RequestSizes.answered

    def answers(self: RequestSizes, route: str, records: int, seconds: float, *, elastic: bool = False) -> None:
        original(self, route, records, seconds, elastic=elastic)
        answered.set()

    monkeypatch.setattr(RequestSizes, "answered", answers)
    marker = uuid.uuid4().hex

    def documents() -> Iterator[dict[str, Any]]:
        for index in range(5000):
            if index == 125:  # the first request (125 records) has gone: wait for its answer
                assert answered.wait(10)
            yield {"name": f"{marker} {index}", "revenue": index}

    since = live.sandbox.clock.now()
    results = live.run("create", {"entity_set": "accounts"}, documents())
    assert [result.status for result in results] == [ResultStatus.SUCCESS] * 5000
    assert len({result.properties["id"] for result in results}) == 5000
    assert sorted(row["revenue"] for row in marked(live, marker)) == list(range(5000))
    # 125, 250, 500, 1000, then 2000 and the last 1125: six requests where a thousand at most would take eight.
    assert len(posts_since(live, since, "accounts/Microsoft.Dynamics.CRM.CreateMultiple", 6)) == 6


def test_an_elastic_tables_requests_hold_a_hundred_records(live: Live) -> None:
    # Microsoft recommends 100 records per bulk request on elastic tables; the table type comes from the metadata.
    marker = uuid.uuid4().hex
    since = live.sandbox.clock.now()
    documents = [{"sample_name": f"{marker} {index}"} for index in range(1000)]
    results = live.run("create", {"entity_set": "sample_events"}, documents)
    assert [result.status for result in results] == [ResultStatus.SUCCESS] * 1000
    assert len(live.rows("sample_event", "sample_name LIKE ?", [f"{marker} %"])) == 1000
    # 13, 26, 52, then nine of 100 and the last 9 on their own (fewer than the fewest records per bulk request).
    posts = posts_since(live, since, "sample_events/Microsoft.Dynamics.CRM.CreateMultiple", 12)
    assert len(posts) == 12
    assert len(posts_since(live, since, "sample_events", 21)) == 21


def test_five_thousand_creates_with_three_percent_invalid_fail_exactly_those(live: Live) -> None:
    marker = uuid.uuid4().hex
    invalid = set(range(7, 5000, 33))  # 152 documents, 3 %
    documents = [
        {"name": "x" * 161 if index in invalid else f"{marker} {index}", "revenue": index} for index in range(5000)
    ]
    since = live.sandbox.clock.now()
    results = live.run("create", {"entity_set": "accounts"}, documents)
    assert [result.input_index for result in results] == list(range(5000))
    failed = {result.input_index for result in results if result.status is ResultStatus.FAILED}
    succeeded = [result for result in results if result.status is ResultStatus.SUCCESS]
    assert failed == invalid
    assert len(succeeded) + len(failed) == len(documents)
    for result in results:
        if result.input_index in invalid:
            assert result.error is not None
            assert result.error.message.startswith("(0x80044331)")
            assert "'name'" in result.error.message
    rows = marked(live, marker)
    assert len(rows) == len(succeeded) == 5000 - len(invalid)
    assert {row["accountid"] for row in rows} == {result.properties["id"] for result in succeeded}
    assert sorted(row["revenue"] for row in rows) == sorted(i for i in range(5000) if i not in invalid)
    posts = live.sandbox.stats.requests(method="POST", path_prefix=API_PATH, since=since)
    assert len(posts) <= 2 * (5000 // 100 + 1)  # one bulk request per 100 records, plus one narrowing each


def test_a_reset_after_a_processed_bulk_request_makes_no_duplicates(live: Live, posts_only: None) -> None:
    marker = uuid.uuid4().hex
    since = live.sandbox.clock.now()
    live.sandbox.faults.schedule("reset_after", 1)
    documents = [{"name": f"{marker} {index}"} for index in range(250)]
    # One request at a time, so the reset one is the first (the ramp makes requests of different sizes).
    bulk = {"batch_size": 100, "initial_concurrency": 1, "max_concurrency": 1}
    results = live.run("create", {"entity_set": "accounts", "bulk": bulk}, documents)
    assert [result.status for result in results] == [ResultStatus.SUCCESS] * 250
    rows = marked(live, marker)
    assert sorted(row["name"] for row in rows) == sorted(document["name"] for document in documents)
    assert {row["accountid"] for row in rows} == {result.properties["id"] for result in results}
    # Requests of 13, 26, 52, 100 and 59 records (the ramp doubles from 13), and the reset one's re-send.
    posts = posts_since(live, since, "accounts/Microsoft.Dynamics.CRM.CreateMultiple", 6)
    assert [record.fault for record in posts].count("reset_after") == 1
    replayed = [result for result in results if result.properties.get("already_stored") == "true"]
    assert (
        len(replayed) == FIRST_OF_100
    )  # the reset request's records: refused as duplicates when re-sent, found as sent


@pytest.fixture
def two_attempts(live: Live, posts_only: None) -> Live:
    """Each request is sent at most twice, with no wait between: two faults spend a request's retries."""
    state = live.connection.state
    assert isinstance(state, LiveConnection)
    state.transport.policy = RetryPolicy(max_attempts=2, backoff_base_seconds=0.0, backoff_cap_seconds=0.0)
    return live


def first_request_faulted(
    live: Live, kind: str, status: int | None = None, **members: Any
) -> tuple[str, float, list[OperationResult]]:
    """250 creates, one request at a time, whose first request (the ramp's first) meets ``kind`` on both attempts.

    :param members: more members of every document.
    :returns: the run's marker, when it started (the sandbox's clock), and its results.
    """
    live.sandbox.faults.schedule(kind, 2, status=status)
    marker = uuid.uuid4().hex
    since = live.sandbox.clock.now()
    documents = [{"name": f"{marker} {index}", **members} for index in range(250)]
    bulk = {"batch_size": 100, "initial_concurrency": 1, "max_concurrency": 1}
    return marker, since, live.run("create", {"entity_set": "accounts", "bulk": bulk}, documents)


def columns_read(monkeypatch: pytest.MonkeyPatch) -> list[Sequence[str]]:
    """:returns: the columns each bulk read-back asks for (``[]``: every column), as they happen."""
    read: list[Sequence[str]] = []

    def reading(*args: Any) -> dict[str, Mapping[str, Any]] | None:
        read.append(args[-1])
        return find_stored(*args)

    monkeypatch.setattr(chunks, "find_stored", reading)
    return read


def test_a_bulk_request_whose_answers_are_all_lost_is_read_back_with_one_request(
    two_attempts: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every attempt of the first request is processed and its answer lost: its records are looked for with one
    # $batch of reads (not one GET per record) of the columns sent, found as sent, and reported stored; nothing is
    # written twice.
    live = two_attempts
    read_columns = columns_read(monkeypatch)
    marker, since, results = first_request_faulted(live, "reset_after")
    assert read_columns == [["accountid", "name"]]
    assert [result.status for result in results] == [ResultStatus.SUCCESS] * 250
    assert [result.properties.get("already_stored") for result in results[:FIRST_OF_100]] == ["true"] * FIRST_OF_100
    rows = marked(live, marker)
    assert sorted(row["name"] for row in rows) == [f"{marker} {index}" for index in sorted(range(250), key=str)]
    reads = live.sandbox.stats.requests(method="GET", path_prefix=f"{API_PATH}accounts(", since=since)
    assert reads == []  # no record read on its own
    assert len(posts_since(live, since, "$batch", 1)) == 1


def test_a_read_back_refused_for_its_columns_asks_for_every_column(
    two_attempts: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A lookup's navigation name set to null can be written but not selected: the service refuses the first read,
    # and the second, of every column, still finds the records with one request.
    live = two_attempts
    read_columns = columns_read(monkeypatch)
    _, since, results = first_request_faulted(live, "reset_after", primarycontactid=None)
    assert read_columns == [["accountid", "name", "primarycontactid"], []]
    assert [result.status for result in results] == [ResultStatus.SUCCESS] * 250
    assert [result.properties.get("already_stored") for result in results[:FIRST_OF_100]] == ["true"] * FIRST_OF_100
    assert live.sandbox.stats.requests(method="GET", path_prefix=f"{API_PATH}accounts(", since=since) == []


def test_a_gateway_error_after_the_retries_is_read_back_and_makes_requests_smaller(
    two_attempts: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A 503 without Retry-After may come from a gateway that passed the request on: its creates are read back (here
    # the service never ran them, so each is safe to send again), and the next requests hold fewer records.
    live = two_attempts
    unanswered = unanswered_requests(monkeypatch)
    _, since, results = first_request_faulted(live, "error", status=503)
    assert [result.status for result in results[:FIRST_OF_100]] == [ResultStatus.FAILED] * FIRST_OF_100
    for result in results[:FIRST_OF_100]:
        assert result.error is not None
        assert result.error.message.endswith(f"with the same id {result.properties['id']} is safe")
    assert [result.status for result in results[FIRST_OF_100:]] == [ResultStatus.SUCCESS] * (250 - FIRST_OF_100)
    assert live.sandbox.stats.requests(method="GET", path_prefix=f"{API_PATH}accounts(", since=since) == []
    assert unanswered == [("CreateMultiple", FIRST_OF_100)]  # the next requests hold fewer


def test_a_bulk_request_never_carried_out_is_found_absent_with_one_request(two_attempts: Live) -> None:
    # Every attempt is reset before the service runs it: one read finds none of its records, each fails as safe to
    # send again with its key, and the rest of the run is written.
    live = two_attempts
    marker, since, results = first_request_faulted(live, "reset_before")
    statuses = [result.status for result in results]
    assert statuses == [ResultStatus.FAILED] * FIRST_OF_100 + [ResultStatus.SUCCESS] * (250 - FIRST_OF_100)
    for result in results[:FIRST_OF_100]:
        assert result.error is not None
        assert "was not stored, so sending it again" in result.error.message
        assert result.error.message.endswith(f"with the same id {result.properties['id']} is safe")
    assert len(marked(live, marker)) == 250 - FIRST_OF_100
    assert live.sandbox.stats.requests(method="GET", path_prefix=f"{API_PATH}accounts(", since=since) == []


def test_a_reset_without_client_keys_is_reported_never_re_sent(live: Live, posts_only: None) -> None:
    marker = uuid.uuid4().hex
    since = live.sandbox.clock.now()
    live.sandbox.faults.schedule("reset_after", 1)
    options = {"entity_set": "accounts", "client_keys": "never", "bulk": {"initial_concurrency": 1, "batch_size": 100}}
    results = live.run("create", options, [{"name": f"{marker} {index}"} for index in range(120)])
    unknown = [result for result in results if result.status is ResultStatus.UNKNOWN]
    assert len(unknown) == FIRST_OF_100  # never "failed": a host would send them again, and they were written
    assert all(result.error is not None and "may have been processed" in result.error.message for result in unknown)
    assert len(marked(live, marker)) == 120  # the service did write the reset request: the results say it may have
    posts = posts_since(live, since, "accounts/Microsoft.Dynamics.CRM.CreateMultiple", 4)
    # 13, 26 and 52 records (the ramp), then the last 29; the reset request is not sent again.
    assert [record.fault for record in posts] == ["reset_after", None, None, None]


class Gate(NamedTuple):
    """What the run's concurrency limit did (monotonic seconds): when it granted each request, and when it learned
    of each 429 and for how long.
    """

    granted: list[float]
    throttled: list[tuple[float, float]]


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Gate:
    """Record every grant and every throttled answer of the bulk runs' concurrency limits."""
    seen = Gate([], [])

    class RecordingLimit(AdaptiveLimit):
        def acquire(self) -> Ticket:
            ticket = super().acquire()
            seen.granted.append(time.monotonic())
            return ticket

        def release(self, ticket: Ticket, outcome: Outcome, retry_after: float | None = None, **kwargs: Any) -> None:
            if outcome is Outcome.THROTTLED:
                seen.throttled.append((time.monotonic(), retry_after or 0.0))
            super().release(ticket, outcome, retry_after, **kwargs)

    monkeypatch.setattr(bulk, "AdaptiveLimit", RecordingLimit)
    return seen


def test_a_throttling_storm_during_a_bulk_job_loses_nothing_and_every_thread_waits(live: Live, gate: Gate) -> None:
    marker = uuid.uuid4().hex
    since = live.sandbox.clock.now()

    def documents() -> Iterator[dict[str, Any]]:
        for index in range(3000):
            if index == 1500:
                live.sandbox.limits.force_throttle(3, retry_after=1)
            yield {"name": f"{marker} {index}"}

    options = {"entity_set": "accounts", "bulk": {"initial_concurrency": 4, "batch_size": 100}}
    results = live.run("create", options, documents())
    assert [result.status for result in results] == [ResultStatus.SUCCESS] * 3000
    rows = marked(live, marker)
    assert len(rows) == len({row["name"] for row in rows}) == 3000
    throttled = live.sandbox.stats.requests(status=429, since=since)
    assert len(throttled) == 3
    assert all(record.retry_after == 1 for record in throttled)
    # The client: once any thread had a 429, no thread was let send until its Retry-After had passed.
    assert len(gate.throttled) == 3
    early = [at for at in gate.granted for when, wait in gate.throttled if when + 0.002 < at < when + wait - 0.01]
    assert early == []
    # The server: nothing came back early, except a request another thread had already sent when a 429 left the
    # server and that arrived a moment later (the sandbox cannot tell it from an early one; see the report).
    # On a loaded 2-core machine a request granted just before the 429 reached the client can arrive tens of ms after
    # it; the client-side check above (no grant inside a wait) is the exact one, this one catches gross misses.
    violations = live.sandbox.stats.retry_after_violations(tolerance=0.05)
    assert [violation for violation in violations if violation.waited > 0.25] == []


def test_all_or_nothing_rolls_a_change_set_back_around_its_bad_record(live: Live) -> None:
    marker = uuid.uuid4().hex
    documents = [{"name": "x" * 161 if index == 13 else f"{marker} {index}"} for index in range(30)]
    options = {"entity_set": "accounts", "bulk": {"all_or_nothing": True, "batch_size": 20}}
    results = live.run("create", options, documents)
    first, second = results[:20], results[20:]
    assert all(result.status is ResultStatus.FAILED for result in first)
    assert first[13].error is not None
    assert first[13].error.code == "0x80044331"
    assert all(result.properties.get("reason") == "rolled_back" for result in first if result.input_index != 13)
    assert [result.status for result in second] == [ResultStatus.SUCCESS] * 10
    assert sorted(row["name"] for row in marked(live, marker)) == sorted(f"{marker} {i}" for i in range(20, 30))


def test_a_change_set_written_before_its_answer_was_lost_is_read_back_with_one_request(
    live: Live, posts_only: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The change set is carried out and its answer lost; sent again, its first create is refused as a duplicate and
    # found as sent, so the whole change set was written: its other creates are read back together, not one each.
    read_columns = columns_read(monkeypatch)
    marker = uuid.uuid4().hex
    since = live.sandbox.clock.now()
    live.sandbox.faults.schedule("reset_after", 1)
    documents = [{"name": f"{marker} {index}"} for index in range(20)]
    options = {"entity_set": "accounts", "bulk": {"all_or_nothing": True, "batch_size": 20}}
    results = live.run("create", options, documents)
    assert [result.status for result in results] == [ResultStatus.SUCCESS] * 20
    assert [result.properties.get("already_stored") for result in results] == ["true"] * 20
    assert sorted(row["name"] for row in marked(live, marker)) == sorted(document["name"] for document in documents)
    assert read_columns == [["accountid", "name"]]  # the 19 besides the refused one, in one read
    reads = live.sandbox.stats.requests(method="GET", path_prefix=f"{API_PATH}accounts(", since=since)
    assert len(reads) == 1  # the refused create's own read-back only


def test_updates_and_upserts_in_bulk_by_primary_and_alternate_key(live: Live) -> None:
    marker = uuid.uuid4().hex
    created = live.run("create", {"entity_set": "accounts"}, [{"name": f"{marker} {i}"} for i in range(40)])
    ids = [result.properties["id"] for result in created]
    missing = str(uuid.uuid4())
    updates = [{"accountid": record_id, "name": f"{marker} updated"} for record_id in ids[:30]]
    updated = live.run("update", {"entity_set": "accounts", "etag": "*"}, [*updates, {"accountid": missing}])
    assert [result.properties.get("bulk") for result in updated[:30]] == ["$batch"] * 30  # narrowed
    assert all(result.status is ResultStatus.SUCCESS for result in updated[:30])
    assert updated[30].status is ResultStatus.FAILED
    assert updated[30].properties["reason"] == "not_found"
    upserts = [{"accountnumber": f"{marker[:8]}-{i}", "name": f"{marker} upserted"} for i in range(25)]
    options = {"entity_set": "accounts", "key_fields": ["accountnumber"]}
    first = live.run("upsert", options, upserts)
    again = live.run("upsert", options, [{**document, "telephone1": "555"} for document in upserts])
    assert {result.properties["bulk"] for result in first + again} == {"UpsertMultiple"}
    assert all(result.ok for result in first + again)
    names = Counter(row["name"] for row in marked(live, marker))
    assert names == {f"{marker} updated": 30, f"{marker} upserted": 25, **{f"{marker} {i}": 1 for i in range(30, 40)}}
    assert {row["telephone1"] for row in marked(live, marker) if row["name"].endswith("upserted")} == {"555"}


class Reports(list[Progress]):
    """A progress callback keeping every report."""

    def __call__(self, progress: Progress) -> None:
        self.append(progress)


def test_progress_reaches_the_runtime_callback(live: Live) -> None:
    reports = Reports()
    host = ConnectorHost()
    try:
        connection = host.connect(CONNECTOR_ID, sandbox_settings(live.sandbox), RuntimeContext(progress=reports))
        documents = [{"name": "x" * 161 if index % 50 == 0 else f"progress {index}"} for index in range(500)]
        options = {"entity_set": "accounts"}
        results = list(host.execute_operation(CONNECTOR_ID, connection, "create", options, documents))
    finally:
        host.close()
    assert len(results) == 500
    assert reports[-1].operation == "create"
    assert (reports[-1].done, reports[-1].failed, reports[-1].total) == (500, 10, 500)
    assert reports[-1].rate > 0
    assert [report.done for report in reports] == sorted(report.done for report in reports)


def test_a_rerun_after_a_crash_confirms_stored_records_in_bulk(live: Live) -> None:
    marker = uuid.uuid4().hex
    documents = [
        {"accountid": str(uuid.uuid4()), "name": f"{marker} {index}", "revenue": index} for index in range(600)
    ]
    first = live.run("create", {"entity_set": "accounts"}, documents[:250])  # the run that crashed midway
    assert all(result.ok for result in first)
    changed = documents[3]["accountid"]
    live.run("update", {"entity_set": "accounts"}, [{"@odata.editLink": f"accounts({changed})", "revenue": -1}])
    since = live.sandbox.clock.now()
    rerun = live.run("create", {"entity_set": "accounts"}, documents)
    statuses = Counter("stored" if result.properties.get("already_stored") else result.status.value for result in rerun)
    # Stored exactly as sent: done; stored otherwise (another writer changed it): not this job's record; new: written.
    assert statuses == Counter({"stored": 249, "failed": 1, "success": 350})
    assert rerun[3].error is not None
    assert rerun[3].properties.get("reason") == "already_exists"
    ids = [result.properties.get("id") for result in rerun]
    assert ids[:3] + ids[4:] == [document["accountid"] for document in documents[:3] + documents[4:]]
    assert len(marked(live, marker)) == 600
    requests = live.sandbox.stats.requests(since=since, path_prefix=API_PATH)
    one_by_one = [r for r in requests if r.method == "GET" and "accounts(" in r.path]
    assert len(one_by_one) <= 1  # only the record that differs is read back on its own
    assert len(requests) <= 2 * -(-600 // 100) + 4
