"""Outcomes under faults, checked against the sandbox's storage (issue 12, item 15): a create that carries its key
ends ``success`` and stored exactly once, or ``failed`` and not stored, whatever the network does to its answers;
a create without a key whose answer is lost, cut off or malformed ends ``outcome_unknown``, never ``failed``, and is
never sent again. A delete or upsert whose first attempt ran before its answer was lost is reported for what the
repeat can know (item 2): ``deleted`` with ``already_deleted``, and no ``created``.
"""

from __future__ import annotations

import collections
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from connector.live import LiveConnection
from connector.results import OperationResult, ResultStatus
from dataverse_sandbox.faults import FaultSettings
from tests.support.operations import Live

API_PATH = "/api/data/v9.2/"
FAULTS = ("reset_before", "reset_after", "truncate", "malformed")


class NoWait:
    """A backoff that waits nothing: the retries happen, the test never sleeps."""

    def delay(self, attempt: int) -> float:
        return 0.0


@pytest.fixture
def quick(live: Live) -> Live:
    """The connection's retries without backoff waits."""
    state = live.connection.state
    assert isinstance(state, LiveConnection)
    state.transport.retrier.backoff = NoWait()
    return live


@pytest.fixture
def faulty(quick: Live) -> Iterator[Live]:
    """About 30 % of Web API requests (writes, reads back, metadata) reset before or after they ran, cut off or
    malformed; the token service is spared.
    """
    rate = 0.075
    quick.sandbox.faults.update(
        FaultSettings(
            path_prefix=API_PATH,
            reset_before_rate=rate,
            reset_after_rate=rate,
            truncate_rate=rate,
            malformed_rate=rate,
        )
    )
    try:
        yield quick
    finally:
        quick.sandbox.faults.update(FaultSettings())


def stored_by_name(live: Live, marker: str) -> dict[str, list[dict[str, Any]]]:
    rows = live.rows("account", "name LIKE ?", [f"{marker}%"])
    by_name: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for row in rows:
        by_name[row["name"]].append(row)
    return by_name


def check_each_outcome(
    live: Live, marker: str, documents: list[dict[str, Any]], results: list[OperationResult]
) -> None:
    """Every result agrees with the storage: success is stored once under its id, failed is not stored at all."""
    assert [result.input_index for result in results] == list(range(len(documents)))
    stored = stored_by_name(live, marker)
    assert all(len(rows) == 1 for rows in stored.values()), "a record was stored twice"
    for document, result in zip(documents, results, strict=True):
        rows = stored.get(document["name"], [])
        if result.status is ResultStatus.SUCCESS:
            assert len(rows) == 1, (document, result)
            assert str(rows[0]["accountid"]) == result.properties["id"]
            if "accountid" in document:
                assert result.properties["id"] == document["accountid"]
        else:
            assert result.status is ResultStatus.FAILED, (document, result)  # keyed: never left unknown
            assert rows == [], f"reported failed although stored: {result.error}"


def test_three_hundred_keyed_creates_under_faults_are_each_stored_once_or_reported_failed(faulty: Live) -> None:
    marker = uuid.uuid4().hex
    before = dict(faulty.sandbox.faults.injected())
    own = [{"accountid": str(uuid.uuid4()), "name": f"{marker} own {n}", "revenue": n} for n in range(150)]
    assigned = [{"name": f"{marker} assigned {n}", "numberofemployees": n} for n in range(150)]
    plain = {"entity_set": "accounts", "client_keys": "always", "bulk": {"mode": "off"}}
    results = faulty.run("create", plain, own)
    results += faulty.run("create", {**plain, "return_representation": True}, assigned)
    after = faulty.sandbox.faults.injected()
    injected = {kind: after.get(kind, 0) - before.get(kind, 0) for kind in FAULTS}
    assert all(count >= 10 for count in injected.values()), injected
    check_each_outcome(faulty, marker, own + assigned, [*results[:150], *[_shifted(r, 150) for r in results[150:]]])
    counts = collections.Counter(result.status for result in results)
    assert counts[ResultStatus.UNKNOWN] == 0
    assert counts[ResultStatus.SUCCESS] >= 270, counts  # faults are settled by reading back, not given up on
    assert len([r for r in results if r.properties.get("already_stored") == "true"]) >= 10


def _shifted(result: OperationResult, offset: int) -> OperationResult:
    assert result.input_index is not None
    return OperationResult(result.status, result.payload, result.properties, result.error, result.input_index + offset)


@pytest.mark.parametrize("fault", ["truncate", "malformed", "reset_after"])
def test_a_keyless_create_whose_answer_is_cut_off_is_unknown_never_failed_and_never_re_sent(
    quick: Live, fault: str
) -> None:
    marker = uuid.uuid4().hex
    options = {"entity_set": "accounts", "client_keys": "never", "return_representation": True}
    quick.run("get", {"entity_set": "accounts"}, [{"accountid": str(uuid.uuid4())}])  # metadata read, unfaulted
    since = quick.sandbox.clock.now()
    quick.sandbox.faults.update(FaultSettings(path_prefix=API_PATH, methods=("POST",)))
    try:
        quick.sandbox.faults.schedule(fault, 1)
        [result] = quick.run("create", options, [{"name": marker}])
    finally:
        quick.sandbox.faults.update(FaultSettings())
    assert result.status is ResultStatus.UNKNOWN
    assert not result.ok
    assert result.error is not None
    assert result.error.message.startswith("Outcome unknown: ")
    assert len(stored_by_name(quick, marker)[marker]) == 1  # the service did store it: unknown, not failed
    deadline = time.monotonic() + 5
    posts: list[Any] = []
    while time.monotonic() < deadline and not posts:
        posts = quick.sandbox.stats.requests(method="POST", path_prefix=f"{API_PATH}accounts", since=since)
    assert len(posts) == 1  # never sent again


@pytest.mark.parametrize("fault", ["truncate", "malformed", "reset_after"])
def test_a_keyed_create_whose_answer_is_cut_off_is_read_back_and_succeeds(quick: Live, fault: str) -> None:
    marker = uuid.uuid4().hex
    options = {"entity_set": "accounts", "return_representation": True, "bulk": {"mode": "off"}}
    record_id = str(uuid.uuid4())
    quick.run("get", {"entity_set": "accounts"}, [{"accountid": record_id}])  # metadata read, unfaulted
    quick.sandbox.faults.update(FaultSettings(path_prefix=API_PATH, methods=("POST",)))
    try:
        quick.sandbox.faults.schedule(fault, 1)
        [result] = quick.run("create", options, [{"accountid": record_id, "name": marker}])
    finally:
        quick.sandbox.faults.update(FaultSettings())
    assert result.status is ResultStatus.SUCCESS, result.error
    assert result.properties["id"] == record_id
    assert len(stored_by_name(quick, marker)[marker]) == 1


def test_a_delete_whose_answer_is_lost_after_it_ran_is_deleted_not_not_found(quick: Live) -> None:
    """The service deletes the record and the connection is reset; the repeat finds nothing (issue 12, item 2)."""
    marker = uuid.uuid4().hex
    record_id = str(uuid.uuid4())
    [created] = quick.run("create", {"entity_set": "accounts"}, [{"accountid": record_id, "name": marker}])
    assert created.status is ResultStatus.SUCCESS
    quick.sandbox.faults.update(FaultSettings(path_prefix=API_PATH, methods=("DELETE",)))
    try:
        quick.sandbox.faults.schedule("reset_after", 1)
        [result] = quick.run("delete", {"entity_set": "accounts"}, [{"accountid": record_id}])
    finally:
        quick.sandbox.faults.update(FaultSettings())
    assert result.status is ResultStatus.DELETED, result.error
    assert result.properties["already_deleted"] == "true"
    assert stored_by_name(quick, marker) == {}
    [again] = quick.run("delete", {"entity_set": "accounts"}, [{"accountid": record_id}])
    assert again.properties["reason"] == "not_found"  # a delete of a record that is not there, said plainly


def test_an_upsert_that_created_the_record_before_its_answer_was_lost_does_not_say_it_updated(quick: Live) -> None:
    marker = uuid.uuid4().hex
    record_id = str(uuid.uuid4())
    options = {"entity_set": "accounts", "return_representation": True, "bulk": {"mode": "off"}}
    quick.run("get", {"entity_set": "accounts"}, [{"accountid": record_id}])  # metadata read, unfaulted
    quick.sandbox.faults.update(FaultSettings(path_prefix=API_PATH, methods=("PATCH",)))
    try:
        quick.sandbox.faults.schedule("reset_after", 1)
        [result] = quick.run("upsert", options, [{"accountid": record_id, "name": marker}])
    finally:
        quick.sandbox.faults.update(FaultSettings())
    assert result.status is ResultStatus.SUCCESS, result.error
    assert "created" not in result.properties  # the lost first attempt created it; the repeat was answered 200
    assert len(stored_by_name(quick, marker)[marker]) == 1
    [fresh] = quick.run("upsert", options, [{"accountid": str(uuid.uuid4()), "name": marker + "-2"}])
    assert fresh.properties["created"] == "true"
