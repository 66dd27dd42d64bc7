"""End to end against the sandbox: a Query read as primary-key ranges concurrently returns exactly the records of a
sequential read (compared as id sets), with filters, selects and FetchXML, while records are created, updated and
deleted, under throttling and a concurrency limit; partition plans cover every record once.
"""

from __future__ import annotations

import itertools
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs

from connector.results import ResultStatus
from dataverse_sandbox.limits import LimitSettings
from tests.support.operations import Live

SEEDED = 12_000
API_PATH = "/api/data/v9.2/"
MAX_CONCURRENCY = 6
PARALLEL: dict[str, Any] = {"mode": "on", "max_concurrency": MAX_CONCURRENCY, "initial_concurrency": 3}


def stored_ids(live: Live, where: str = "1 = 1", params: Iterable[Any] = ()) -> Counter[str]:
    return Counter(str(row["accountid"]) for row in live.rows("account", where, params))


def read_ids(live: Live, options: Mapping[str, Any]) -> Counter[str]:
    results = live.run("query", options, [{}])
    assert all(result.status is ResultStatus.SUCCESS for result in results), [r.error for r in results if r.error]
    return Counter(result.properties["id"] for result in results)


def peak_concurrency(live: Live, since: float) -> int:
    reads = live.sandbox.stats.requests(method="GET", path_prefix=f"{API_PATH}accounts", since=since)
    moments = sorted([(r.time, 1) for r in reads] + [(r.finished, -1) for r in reads])
    return max(itertools.accumulate(step for _, step in moments))


def test_the_same_records_as_a_sequential_read(live: Live) -> None:
    base = {"entity_set": "accounts", "select": ["name"], "page_size": 1000}
    since = live.sandbox.clock.now()
    partitioned = read_ids(live, {**base, "parallel": PARALLEL})
    assert 1 < peak_concurrency(live, since) <= MAX_CONCURRENCY
    sequential = read_ids(live, {**base, "parallel": {"mode": "off"}})
    assert partitioned == sequential == stored_ids(live)
    assert set(partitioned.values()) == {1}


def test_filters_and_selects_apply_to_every_range(live: Live) -> None:
    options = {
        "entity_set": "accounts",
        "select": ["name", "revenue"],
        "page_size": 500,
        "filter": {
            "operator": "and",
            "conditions": [
                {"field": "revenue", "operator": "gt", "value": 20_000_000, "type": "number"},
                {"custom": "industrycode ne 3"},
            ],
        },
    }
    partitioned = live.run("query", {**options, "parallel": PARALLEL}, [{}])
    sequential = read_ids(live, {**options, "parallel": {"mode": "off"}})
    expected = stored_ids(live, "revenue > ? AND industrycode <> 3", [20_000_000])
    assert Counter(result.properties["id"] for result in partitioned) == sequential == expected
    assert len(expected) > 1000
    assert all(set(result.payload or {}) >= {"name", "revenue"} for result in partitioned)


def test_fetchxml_is_partitioned_with_key_conditions(live: Live) -> None:
    fetch = (
        "<fetch><entity name='account'><attribute name='name'/>"
        "<filter><condition attribute='industrycode' operator='eq' value='2'/></filter></entity></fetch>"
    )
    options = {"entity_set": "accounts", "mode": "fetchxml", "fetch_xml": fetch, "page_size": 300}
    since = live.sandbox.clock.now()
    partitioned = read_ids(live, {**options, "parallel": PARALLEL})
    assert (
        partitioned == read_ids(live, {**options, "parallel": {"mode": "off"}}) == stored_ids(live, "industrycode = 2")
    )
    ranged = [
        parse_qs(r.query)["fetchXml"][0]
        for r in live.sandbox.stats.requests(method="GET", path_prefix=f"{API_PATH}accounts", since=since)
        if 'operator="gt"' in parse_qs(r.query).get("fetchXml", [""])[0]
    ]
    assert ranged
    assert all('<order attribute="accountid" />' in text for text in ranged)


def test_records_created_updated_and_deleted_during_the_read(live: Live) -> None:
    before = stored_ids(live)
    victims = sorted(before)[::500]  # spread over the key space
    changed = sorted(before)[250::500]
    stream = live.stream(
        "query", {"entity_set": "accounts", "select": ["name"], "page_size": 500, "parallel": PARALLEL}, [{}]
    )
    seen = Counter(result.properties["id"] for result in itertools.islice(stream, 1500))
    created = [str(uuid.uuid4()) for _ in range(40)]
    writes = live.run("create", {"entity_set": "accounts"}, [{"accountid": key, "name": "new"} for key in created])
    writes += live.run(
        "update",
        {"entity_set": "accounts"},
        [{"@odata.editLink": f"accounts({key})", "name": "changed"} for key in changed],
    )
    writes += live.run(
        "delete", {"entity_set": "accounts"}, [{"@odata.editLink": f"accounts({key})"} for key in victims]
    )
    assert all(result.ok for result in writes)
    seen.update(result.properties["id"] for result in stream)
    # Guaranteed: every record that existed for the whole read once; nothing twice; new and deleted ones at most once.
    assert set(seen.values()) == {1}
    assert set(before) - set(victims) <= set(seen)
    assert set(seen) <= set(before) | set(created)
    assert set(changed) <= set(seen)


def test_throttling_is_waited_out_by_every_range(live: Live) -> None:
    since = live.sandbox.clock.now()
    stream = live.stream(
        "query", {"entity_set": "accounts", "select": ["name"], "page_size": 500, "parallel": PARALLEL}, [{}]
    )
    seen = Counter(result.properties["id"] for result in itertools.islice(stream, 1000))
    live.sandbox.limits.force_throttle(3, retry_after=3)
    seen.update(result.properties["id"] for result in stream)
    assert seen == stored_ids(live)
    throttled = live.sandbox.stats.requests(status=429, since=since)
    assert len(throttled) == 3
    # A request already on its way when a 429 was sent cannot obey it; none was sent once the run knew of one.
    late = [v for v in live.sandbox.stats.retry_after_violations() if v.early.time >= since and v.waited > 1.0]
    assert late == []


def test_the_concurrency_limit_is_learned(live: Live) -> None:
    # A service that refuses a third concurrent request but advises more (x-ms-dop-hint): only its refusal teaches.
    live.sandbox.limits.update(LimitSettings(max_concurrent=2, dop_hint=8))
    since = live.sandbox.clock.now()
    try:
        parallel = {"mode": "on", "max_concurrency": 8, "initial_concurrency": 8}
        seen = read_ids(live, {"entity_set": "accounts", "select": ["name"], "page_size": 400, "parallel": parallel})
    finally:
        live.sandbox.limits.update(LimitSettings())
    assert seen == stored_ids(live)
    refused = [r for r in live.sandbox.stats.requests(status=429, since=since) if r.throttled == "0x80072326"]
    assert refused


def test_a_plan_covers_every_record_once(live: Live) -> None:
    base = {"entity_set": "accounts", "select": ["name"], "page_size": 1000}
    plan = live.run("query", {**base, "plan_partitions": 5}, [{}])
    assert [result.payload["index"] for result in plan if result.payload] == list(range(5))
    ranges = [result.payload["key_range"] for result in plan if result.payload]
    assert "after" not in ranges[0]
    assert "up_to" not in ranges[-1]
    seen: Counter[str] = Counter()
    for index, key_range in enumerate(ranges):
        parallel = {"mode": "off" if index % 2 else "auto"}
        seen.update(read_ids(live, {**base, "key_range": key_range, "parallel": parallel}))
    assert seen == stored_ids(live)
