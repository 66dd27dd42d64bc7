"""End to end under the sandbox's fault injection and service-protection limits: throttling storms, 503s, connections
reset after a create was processed, and a next link poisoned to point at another host. Every outcome is checked
from the server's side (its storage, its request records, the other host's records).
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from connector.results import ResultStatus
from dataverse_sandbox.config import SandboxConfig
from dataverse_sandbox.faults import FaultSettings
from dataverse_sandbox.server import Sandbox
from tests.support.operations import Live
from tests.support.sandbox import start_sandbox

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


SEEDED = 3000
API_PATH = "/api/data/v9.2/"


@pytest.fixture
def posts_only(op_sandbox: Sandbox) -> Iterator[None]:
    """Faults apply to Web API POSTs only (never to metadata reads or to the token request)."""
    op_sandbox.faults.update(FaultSettings(path_prefix=API_PATH, methods=("POST",)))
    try:
        yield
    finally:
        op_sandbox.faults.update(FaultSettings())


def recorded_posts(live: Live, since: float, count: int) -> list[Any]:
    """The server's records of POSTs to accounts since a time, once ``count`` of them are in (or a deadline passes):
    a reset request is recorded by the server thread after the client already saw the reset.
    """
    deadline = time.monotonic() + 5
    while True:
        posts = live.sandbox.stats.requests(method="POST", path_prefix=f"{API_PATH}accounts", since=since)
        if len(posts) >= count or time.monotonic() > deadline:
            return posts
        threading.Event().wait(0.01)


def marked(live: Live, marker: str) -> list[dict[str, Any]]:
    return live.rows("account", "name LIKE ?", [f"%{marker}%"])


def test_a_throttling_storm_loses_and_duplicates_nothing_and_waits_as_told(live: Live) -> None:
    marker = uuid.uuid4().hex
    since = live.sandbox.clock.now()
    live.run("get", {"entity_set": "accounts"}, [{"@odata.editLink": "accounts(00000000-0000-0000-0000-000000000000)"}])
    live.sandbox.limits.force_throttle(3, retry_after=1)
    results = live.run("create", {"entity_set": "accounts"}, [{"name": f"{marker} {n}"} for n in range(4)])
    assert [result.status for result in results] == [ResultStatus.SUCCESS] * 4
    assert sorted(row["name"] for row in marked(live, marker)) == [f"{marker} {n}" for n in range(4)]
    throttled = live.sandbox.stats.requests(status=429, since=since)
    assert len(throttled) == 3
    assert all(record.retry_after == 1 for record in throttled)
    assert live.sandbox.stats.retry_after_violations(tolerance=0.05) == []


def test_a_throttling_storm_in_the_middle_of_a_query(live: Live) -> None:
    since = live.sandbox.clock.now()
    options = {"entity_set": "accounts", "select": ["name"], "page_size": 500, "parallel": {"mode": "off"}}
    stream = live.stream("query", options, [{}])
    first = list(itertools.islice(stream, 600))
    live.sandbox.limits.force_throttle(2, retry_after=1)
    seen = [result.properties["id"] for result in itertools.chain(first, stream)]
    assert len(seen) == len(set(seen)) == len(live.rows("account"))
    assert len(live.sandbox.stats.requests(status=429, since=since)) == 2
    assert live.sandbox.stats.retry_after_violations(tolerance=0.05) == []


def test_503s_are_retried_without_duplicates_for_creates_with_client_assigned_keys(
    live: Live, posts_only: None
) -> None:
    marker = uuid.uuid4().hex
    live.sandbox.faults.schedule("error", 3, status=503)
    options = {"entity_set": "accounts", "client_keys": "always"}
    results = live.run("create", options, [{"name": f"{marker} {n}"} for n in range(3)])
    assert all(result.status is ResultStatus.SUCCESS for result in results)
    assert len(marked(live, marker)) == 3
    assert live.sandbox.faults.injected().get("error") == 3


@pytest.mark.parametrize("status", [502, 503, 504])
def test_a_gateway_error_does_not_resend_a_create_without_a_key(live: Live, posts_only: None, status: int) -> None:
    """Without Retry-After, nothing says the service did not act on the create: it is reported, not re-sent."""
    marker = uuid.uuid4().hex
    since = live.sandbox.clock.now()
    live.sandbox.faults.schedule("error", 1, status=status)
    [result] = live.run("create", {"entity_set": "accounts", "client_keys": "never"}, [{"name": marker}])
    assert result.status is ResultStatus.UNKNOWN
    assert result.error is not None
    assert result.error.failure_type == "transient"
    assert f"[{status}]" in result.error.message
    assert "may have been processed" in result.error.message
    assert [record.fault for record in recorded_posts(live, since, 1)] == ["error"]
    assert marked(live, marker) == []  # this sandbox answers its 5xx before processing; a gateway need not


def test_a_reset_after_a_processed_create_with_its_own_key_makes_no_duplicate(live: Live, posts_only: None) -> None:
    record_id = str(uuid.uuid4())
    since = live.sandbox.clock.now()
    live.sandbox.faults.schedule("reset_after", 1)
    document = {"accountid": record_id, "name": "own key", "revenue": 10}
    [result] = live.run("create", {"entity_set": "accounts"}, [document])
    assert result.status is ResultStatus.SUCCESS
    assert result.properties["id"] == record_id
    assert live.rows("account", "accountid = ?", [record_id])[0]["name"] == "own key"
    posts = recorded_posts(live, since, 2)
    assert sorted(str(record.fault) for record in posts) == ["None", "reset_after"]  # processed, reset, re-sent once
    assert len(live.rows("account", "name = ?", ["own key"])) == 1


def test_a_single_create_gets_a_key_by_default_so_a_reset_after_it_was_processed_makes_no_duplicate(
    live: Live, posts_only: None
) -> None:
    marker = uuid.uuid4().hex
    since = live.sandbox.clock.now()
    live.sandbox.faults.schedule("reset_after", 1)
    [result] = live.run("create", {"entity_set": "accounts", "bulk": {"mode": "off"}}, [{"name": marker}])
    assert result.status is ResultStatus.SUCCESS
    [row] = marked(live, marker)
    assert str(row["accountid"]) == result.properties["id"]
    posts = recorded_posts(live, since, 2)
    assert sorted(str(record.fault) for record in posts) == ["None", "reset_after"]  # re-sent once, with its key


def test_a_reset_after_a_processed_create_without_a_key_is_reported_not_re_sent(live: Live, posts_only: None) -> None:
    marker = uuid.uuid4().hex
    since = live.sandbox.clock.now()
    live.sandbox.faults.schedule("reset_after", 1)
    [result] = live.run("create", {"entity_set": "accounts", "client_keys": "never"}, [{"name": marker}])
    assert result.status is ResultStatus.UNKNOWN
    assert result.error is not None
    assert result.error.failure_type == "transient"
    assert "may have been processed" in result.error.message
    posts = recorded_posts(live, since, 1)
    assert [record.fault for record in posts] == ["reset_after"]
    assert len(marked(live, marker)) == 1  # the service did create it: the report says it may have


def poisoning(app: WSGIApplication, real: str, evil: str) -> WSGIApplication:
    """Wrap the sandbox so every ``@odata.nextLink`` it sends points at ``evil`` instead of ``real``."""

    def wrapped(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        captured: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured[:] = [status, headers]
            return lambda data: None

        body = b"".join(app(environ, capture))
        if b"@odata.nextLink" in body:
            body = body.replace(real.encode(), evil.encode())
        status, headers = captured
        headers = [(name, value) for name, value in headers if name.lower() != "content-length"]
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        return [body]

    return wrapped


def test_a_next_link_to_another_host_gets_no_request_and_no_token(live: Live) -> None:
    evil = start_sandbox(SandboxConfig())
    sandbox = live.sandbox
    original = sandbox._app  # the recorder stays inside the wrapper: the real server still logs every request
    sandbox._app = poisoning(original, sandbox.origin, evil.origin)
    try:
        options = {"entity_set": "accounts", "select": ["name"], "page_size": 1000, "parallel": {"mode": "off"}}
        results = live.run("query", options, [{}])
    finally:
        sandbox._app = original
        evil_requests = evil.stats.requests()
        evil.stop()
    assert [result.status for result in results[:-1]] == [ResultStatus.SUCCESS] * 1000
    assert results[-1].status is ResultStatus.FAILED
    assert results[-1].error is not None
    assert evil.origin in results[-1].error.message
    assert [record for record in evil_requests if record.authorization] == []
    assert evil_requests == []


@pytest.mark.parametrize("kind", ["truncate", "malformed"])
@pytest.mark.parametrize("one_page_at_a_time", [False, True])
def test_a_query_page_cut_off_or_malformed_is_read_again(live: Live, kind: str, one_page_at_a_time: bool) -> None:
    live.sandbox.faults.update(FaultSettings(path_prefix=f"{API_PATH}accounts", methods=("GET",)))
    options: dict[str, Any] = {"entity_set": "accounts", "select": ["name"], "page_size": 1000}
    try:
        if one_page_at_a_time:
            # The next page is asked for only once this one is handed over: the fault falls in the middle of the read.
            stream = live.stream("query", {**options, "parallel": {"mode": "off"}, "read_ahead": False}, [{}])
            first = [next(stream)]
            live.sandbox.faults.schedule(kind, 1)
        else:
            # The defaults ask for the other pages as soon as the first comes back (D58): the first one is cut off.
            live.sandbox.faults.schedule(kind, 1)
            stream, first = live.stream("query", options, [{}]), []
        seen = [result.properties["id"] for result in itertools.chain(first, stream)]
    finally:
        live.sandbox.faults.update(FaultSettings())
    assert live.sandbox.faults.injected().get(kind, 0) >= 1
    assert len(seen) == len(set(seen)) == len(live.rows("account"))
