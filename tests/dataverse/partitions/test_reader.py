"""The partitioned reader against a fake service that pages by key as Dataverse does: every record once whatever
the keys' spread, pages in memory bounded by the concurrency limit, and a sequential read when the service refuses
key comparisons or does not order keys as modelled.
"""

from __future__ import annotations

import itertools
import random
import re
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from connector.dataverse.bulk.concurrency import AdaptiveLimit
from connector.dataverse.partitions.keys import KeyRange, guid_at, sql_order
from connector.dataverse.partitions.reader import _Cursor, _Run
from connector.dataverse.registry import run_operation
from connector.results import Connection, ResultStatus
from tests.support.dataverse import API, add_entity

COLLECTION = re.compile(re.escape(f"{API}accounts") + r"(\?.*)?$")
_CONDITION = re.compile(r"accountid (gt|le) ([0-9a-f-]{36})")


class FakeService:
    """Serves ``accounts`` from a fixed set of keys, in SQL Server's order, as Dataverse pages them.

    :param keys: the records' keys.
    :param refuse_comparisons: answer 400 to a ``$filter`` comparing keys.
    """

    def __init__(self, keys: Sequence[str], *, refuse_comparisons: bool = False) -> None:
        self.keys = sorted(keys, key=sql_order)
        self.refuse_comparisons = refuse_comparisons
        self.served: list[str] = []

    def __call__(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        query = parse_qs(urlsplit(str(request.url)).query)
        size = int(str(request.headers.get("Prefer", "odata.maxpagesize=5000")).split("=")[1])
        expression = query.get("$filter", [""])[0]
        if "$skiptoken" in query:
            start = int(query["$skiptoken"][0])
            return self.page(self.keys[start : start + size], start + size < len(self.keys), start + size)
        if expression and self.refuse_comparisons:
            return 400, {}, '{"error": {"code": "0x80040203", "message": "Invalid comparison for Edm.Guid."}}'
        key_range = KeyRange()
        for operator, value in _CONDITION.findall(expression):
            key_range = KeyRange(value, key_range.up_to) if operator == "gt" else KeyRange(key_range.after, value)
        inside = [key for key in self.keys if key_range.contains(key)]
        if "desc" in query.get("$orderby", [""])[0]:
            inside.reverse()
        if "$top" in query:
            return self.page(inside[: int(query["$top"][0])], False, 0)
        return self.page(inside[:size], len(inside) > size, size)

    def page(self, keys: list[str], more: bool, skip: int) -> tuple[int, dict[str, str], str]:
        self.served.extend(keys)
        rows = ",".join(f'{{"accountid": "{key}", "name": "n"}}' for key in keys)
        link = f', "@odata.nextLink": "{API}accounts?$skiptoken={skip}"' if more else ""
        return 200, {"Content-Type": "application/json"}, f'{{"value": [{rows}]{link}}}'


def serve(mocked: responses.RequestsMock, service: FakeService) -> None:
    add_entity(mocked)
    mocked.add_callback("GET", COLLECTION, callback=service)


def random_keys(count: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(count)]


def clustered_keys(count: int) -> list[str]:
    """Dataverse-like sequential keys from three web servers: the last group (most significant) is the server's."""
    nodes = ["000d3a9933c9", "0022481d68cd", "6045bd8c1a22"]
    keys = []
    for number in range(count):
        node = nodes[0] if number < count * 0.6 else nodes[1] if number < count * 0.9 else nodes[2]
        tick = 1000 + number * 7
        keys.append(f"{tick & 0xFFFFFFFF:08x}-{tick >> 32:04x}-ee11-8179-{node}")
    return keys


def ids(results: Iterator[Any]) -> list[str]:
    return [result.properties["id"] for result in results if result.status is ResultStatus.SUCCESS]


@pytest.mark.parametrize("make_keys", [random_keys, clustered_keys], ids=["random", "clustered"])
def test_every_record_once_whatever_the_keys_spread(
    mocked: responses.RequestsMock, connection: Connection, make_keys: Callable[[int], list[str]]
) -> None:
    service = FakeService(make_keys(2000))
    serve(mocked, service)
    options = {"entity_set": "accounts", "page_size": 50, "parallel": {"max_concurrency": 6}}
    seen = ids(run_operation(connection, "query", options, [{}]))
    assert Counter(seen) == Counter(service.keys)
    reads = [call for call in mocked.calls if "EntityDefinitions" not in str(call.request.url)]
    assert len(reads) > len(service.keys) // 50  # ranges, some of them short or empty
    assert any("$orderby=accountid" in str(call.request.url) for call in reads)


class HeldService:
    """A source whose range reads wait until released, so that the test decides when pages arrive."""

    page_size = 100

    def __init__(self) -> None:
        self.release = threading.Event()
        self.reads = 0

    def read(self, key_range: KeyRange, send: object = None) -> dict[str, Any]:
        self.reads += 1
        self.release.wait(30)
        return {"value": []}

    def more(self, page: object) -> bool:
        return False


@pytest.mark.parametrize(("held", "out"), [(0, 4), (3, 1), (4, 0)])
def test_no_request_goes_out_while_the_pages_held_reach_the_limit(held: int, out: int) -> None:
    source = HeldService()
    executor = ThreadPoolExecutor(max_workers=4)
    run = _Run(cast(Any, source), "accountid", AdaptiveLimit(4, 4), cast(Any, None), executor)
    try:
        run.cursors.append(_Cursor(KeyRange(guid_at(1 << 100)), rate=1 << 10))
        run.ready.extend([{"value": []}] * held)  # pages received and not yet handed over
        run.schedule()
        run.schedule()
        # Pages held plus requests out never pass the limit; each request is a piece split off the range's front,
        # the rest of the range waiting for the next free place.
        assert len(run.pending) == out
        assert len(run.cursors) == out + 1
    finally:
        source.release.set()
        executor.shutdown(wait=True)
    assert source.reads == out


def test_a_service_that_refuses_key_comparisons_is_read_sequentially(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    service = FakeService(random_keys(250, seed=3), refuse_comparisons=True)
    serve(mocked, service)
    seen = ids(run_operation(connection, "query", {"entity_set": "accounts", "page_size": 100}, [{}]))
    assert Counter(seen) == Counter(service.keys)
    urls = [str(call.request.url) for call in mocked.calls]
    assert any("$skiptoken=100" in url for url in urls)
    assert any("$skiptoken=200" in url for url in urls)


def test_keys_out_of_the_modelled_order_are_read_sequentially(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    service = FakeService(random_keys(250, seed=4))
    service.keys.sort()  # text order: the service does not order keys as SQL Server does
    serve(mocked, service)
    seen = ids(run_operation(connection, "query", {"entity_set": "accounts", "page_size": 100}, [{}]))
    assert seen == service.keys
    assert not any("$orderby" in str(call.request.url) for call in mocked.calls)


def test_one_page_is_one_request_as_without_the_option(mocked: responses.RequestsMock, connection: Connection) -> None:
    service = FakeService(random_keys(30, seed=5))
    serve(mocked, service)
    seen = ids(run_operation(connection, "query", {"entity_set": "accounts", "select": ["name"]}, [{}]))
    assert Counter(seen) == Counter(service.keys)
    urls = [str(call.request.url) for call in mocked.calls]
    # The page may go out before the metadata lookup answers (the first page read ahead).
    assert [url for url in urls if not url.startswith(f"{API}EntityDefinitions")] == [f"{API}accounts?$select=name"]


def test_a_cut_covers_its_range_exactly() -> None:
    keys = sorted(random_keys(500, seed=6), key=sql_order)
    ranks = [sql_order(key) for key in keys]
    rng = random.Random(7)
    bounds = [guid_at(rank) for rank in sorted({rng.randrange(ranks[0], ranks[-1]) for _ in range(9)})]
    pieces = [KeyRange(after, up_to) for after, up_to in itertools.pairwise([None, *bounds, None])]
    for key in keys:
        assert sum(piece.contains(key) for piece in pieces) == 1
