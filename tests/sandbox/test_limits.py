"""Service-protection limits of the sandbox (dataverse_sandbox.limits), driven through werkzeug's test client."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

import pytest
from werkzeug.test import Client, TestResponse

from dataverse_sandbox.contracts import Clock
from dataverse_sandbox.limits import (
    CONCURRENCY_CODE,
    EXECUTION_TIME_CODE,
    REQUEST_COUNT_CODE,
    LimitSettings,
    ServiceProtection,
    throttle_message,
)
from dataverse_sandbox.middleware import CompletionIterable, memoize_principal

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


def principal_header(environ: WSGIEnvironment) -> str | None:
    value: str | None = environ.get("HTTP_X_PRINCIPAL")
    return value


def ok_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "application/json")])
    return [b"{}"]


@pytest.fixture
def clock() -> Clock:
    return Clock()


def protected(clock: Clock, app: Callable[..., Iterable[bytes]] = ok_app, **settings: object) -> ServiceProtection:
    return ServiceProtection(app, LimitSettings(**settings), clock, principal_header)  # type: ignore[arg-type]


def get(client: Client, principal: str | None = "alice") -> TestResponse:
    headers = {"X-Principal": principal} if principal else {}
    return client.get("/api/data/v9.2/WhoAmI", headers=headers, buffered=True)


def assert_throttled(response: TestResponse, code: str, message: str, retry_after: int) -> None:
    assert response.status_code == 429
    assert response.headers["Content-Type"] == "application/json; odata.metadata=minimal"
    assert response.headers["OData-Version"] == "4.0"
    assert response.headers["Retry-After"] == str(retry_after)
    assert json.loads(response.data) == {"error": {"code": code, "message": message}}


def test_messages_quote_dataverse_wording_with_the_default_limits() -> None:
    defaults = LimitSettings()
    assert throttle_message(REQUEST_COUNT_CODE, defaults) == (
        "Number of requests exceeded the limit of 6000 over time window of 300 seconds."
    )
    assert throttle_message(CONCURRENCY_CODE, defaults) == "Number of concurrent requests exceeded the limit of 52."
    assert throttle_message(EXECUTION_TIME_CODE, defaults) == (
        "Combined execution time of incoming requests exceeded limit of 1,200,000  milliseconds over time "
        "window of 300 seconds. Decrease number of concurrent requests or reduce the duration of requests and "
        "try again later."
    )
    with pytest.raises(ValueError, match="not a service-protection error code"):
        throttle_message("0x80040217", defaults)


def test_request_count_over_a_sliding_window_answers_429_until_the_oldest_request_leaves_it(clock: Clock) -> None:
    client = Client(protected(clock, max_requests=3, window_seconds=10))
    for _ in range(3):
        assert get(client).status_code == 200
        clock.advance(1)
    # Arrivals at t=0, 1, 2; now t=3: the one at t=0 leaves the window at t=10.
    assert_throttled(
        get(client),
        REQUEST_COUNT_CODE,
        "Number of requests exceeded the limit of 3 over time window of 10 seconds.",
        7,
    )
    clock.advance(6.5)
    assert get(client).status_code == 429  # t=9.5: still three arrivals in the window
    clock.advance(0.5)
    assert get(client).status_code == 200  # t=10: one slot free again (sliding, not fixed)
    assert get(client).status_code == 429


def test_throttled_requests_do_not_count_against_the_window(clock: Clock) -> None:
    client = Client(protected(clock, max_requests=1, window_seconds=5))
    assert get(client).status_code == 200
    for _ in range(10):
        assert get(client).status_code == 429
    clock.advance(5)
    assert get(client).status_code == 200


def test_fixed_retry_after_overrides_the_computed_one(clock: Clock) -> None:
    client = Client(protected(clock, max_requests=1, window_seconds=300, retry_after_seconds=2))
    get(client)
    assert get(client).headers["Retry-After"] == "2"


def test_limits_are_per_principal_and_requests_without_one_are_never_limited(clock: Clock) -> None:
    client = Client(protected(clock, max_requests=1, max_concurrent=1))
    assert get(client, "alice").status_code == 200
    assert get(client, "alice").status_code == 429
    assert get(client, "bob").status_code == 200
    for _ in range(5):
        assert get(client, None).status_code == 200


def test_admitted_responses_carry_the_remaining_budget_headers(clock: Clock) -> None:
    client = Client(protected(clock, max_requests=5, execution_time_ms=1000))
    response = get(client)
    assert response.headers["x-ms-ratelimit-burst-remaining-xrm-requests"] == "4"
    assert float(response.headers["x-ms-ratelimit-time-remaining-xrm-requests"]) == 1000.0


class BlockingApp:
    """An inner app whose requests wait until released, so a test controls how many are in flight."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = 0
        self._condition = threading.Condition()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        with self._condition:
            self.entered += 1
            self._condition.notify_all()
        self.release.wait(timeout=10)
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"{}"]

    def wait_entered(self, count: int) -> None:
        with self._condition:
            assert self._condition.wait_for(lambda: self.entered >= count, timeout=5)


def test_concurrency_limit_is_immediate_and_released_when_responses_finish(clock: Clock) -> None:
    inner = BlockingApp()
    middleware = protected(clock, inner, max_concurrent=2, max_requests=100)
    statuses: list[int] = []

    def call() -> None:
        statuses.append(get(Client(middleware)).status_code)

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    inner.wait_entered(2)
    assert_throttled(
        get(Client(middleware)), CONCURRENCY_CODE, "Number of concurrent requests exceeded the limit of 2.", 1
    )
    inner.release.set()
    for thread in threads:
        thread.join(timeout=5)
    assert statuses == [200, 200]
    assert get(Client(middleware)).status_code == 200


def test_execution_time_over_the_window_answers_429_with_its_code(clock: Clock) -> None:
    def slow_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        clock.advance(1.5)  # the request "takes" 1.5 s of sandbox time
        start_response("200 OK", [])
        return [b"{}"]

    client = Client(protected(clock, slow_app, execution_time_ms=1000, window_seconds=10))
    finished_at = clock.now() + 1.5
    assert get(client).status_code == 200
    response = get(client)
    assert response.status_code == 429
    body = json.loads(response.data)
    assert body["error"]["code"] == EXECUTION_TIME_CODE
    assert body["error"]["message"].startswith(
        "Combined execution time of incoming requests exceeded limit of 1,000  milliseconds over time window "
        "of 10 seconds."
    )
    # The slow request leaves the window 10 s after it finished.
    assert int(response.headers["Retry-After"]) == 10
    clock.advance(finished_at + 10.01 - clock.now())  # just past the slow request leaving the window
    assert get(client).status_code == 200


def test_forced_throttling_answers_the_next_n_limited_requests(clock: Clock) -> None:
    middleware = protected(clock)
    client = Client(middleware)
    middleware.force_throttle(2, CONCURRENCY_CODE, retry_after=3)
    assert get(client, None).status_code == 200  # no principal: not limited, does not use up the count
    assert middleware.forced_remaining() == 2
    assert_throttled(get(client), CONCURRENCY_CODE, "Number of concurrent requests exceeded the limit of 52.", 3)
    assert get(client, "bob").status_code == 429
    assert middleware.forced_remaining() == 0
    assert get(client).status_code == 200
    with pytest.raises(ValueError, match="not a service-protection error code"):
        middleware.force_throttle(1, "0x12345678")


def test_forced_throttling_applies_even_when_limits_are_disabled(clock: Clock) -> None:
    middleware = protected(clock, enabled=False)
    client = Client(middleware)
    middleware.force_throttle(1)
    response = get(client)
    assert response.status_code == 429
    assert json.loads(response.data)["error"]["code"] == REQUEST_COUNT_CODE
    assert response.headers["Retry-After"] == "1"
    assert get(client).status_code == 200


def test_settings_change_at_run_time(clock: Clock) -> None:
    middleware = protected(clock, max_requests=100, window_seconds=60)
    client = Client(middleware)
    for _ in range(3):
        assert get(client).status_code == 200
    middleware.update(LimitSettings(max_requests=3, window_seconds=60))
    response = get(client)
    assert response.status_code == 429
    assert "limit of 3 over time window of 60 seconds" in json.loads(response.data)["error"]["message"]
    middleware.update(LimitSettings(max_requests=3, window_seconds=60, enabled=False))
    assert get(client).status_code == 200
    middleware.update(LimitSettings(max_requests=3, window_seconds=60))
    middleware.reset()
    assert get(client).status_code == 200


def test_enforcement_lag_lets_the_request_count_overshoot_for_a_while(clock: Clock) -> None:
    client = Client(protected(clock, max_requests=2, window_seconds=100, enforcement_lag_seconds=5))
    assert [get(client).status_code for _ in range(4)] == [200, 200, 200, 200]
    clock.advance(5)
    assert get(client).status_code == 429


def test_settings_reject_impossible_values() -> None:
    with pytest.raises(ValueError, match="max_requests"):
        LimitSettings(max_requests=0)
    with pytest.raises(ValueError, match="window_seconds"):
        LimitSettings(window_seconds=0)


def test_concurrent_hammering_admits_exactly_the_configured_number(clock: Clock) -> None:
    middleware = protected(clock, max_requests=50, window_seconds=300, max_concurrent=1000)
    statuses: list[int] = []
    lock = threading.Lock()

    def hammer() -> None:
        client = Client(middleware)
        for _ in range(20):
            status = get(client).status_code
            with lock:
                statuses.append(status)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert statuses.count(200) == 50
    assert statuses.count(429) == 110


def test_memoized_principal_lookup_runs_once_per_request() -> None:
    calls: list[int] = []

    def lookup(environ: WSGIEnvironment) -> str | None:
        calls.append(1)
        return None

    cached = memoize_principal(lookup)
    environ: dict[str, object] = {}
    assert cached(environ) is None
    assert cached(environ) is None
    assert len(calls) == 1
    assert cached({}) is None
    assert len(calls) == 2


def test_completion_is_reported_once_whether_the_body_is_exhausted_or_closed() -> None:
    done: list[float] = []
    body = CompletionIterable([b"a", b"b"], lambda: done.append(time.monotonic()))
    assert list(body) == [b"a", b"b"]
    body.close()
    assert len(done) == 1
    closed_early = CompletionIterable([b"a", b"b"], lambda: done.append(time.monotonic()))
    closed_early.close()
    assert len(done) == 2


def test_completion_is_reported_before_the_last_chunk_is_handed_over() -> None:
    done: list[str] = []
    body = CompletionIterable([b"a", b"b"], lambda: done.append("done"))
    assert next(body) == b"a"
    assert done == []
    # A client on a kept-alive connection may act on the response as soon as its last byte is written.
    assert next(body) == b"b"
    assert done == ["done"]
    assert list(body) == []


def test_an_error_while_reading_ahead_surfaces_after_the_chunk_before_it() -> None:
    def failing() -> Iterator[bytes]:
        yield b"a"
        raise RuntimeError("broken body")

    done: list[str] = []
    body = CompletionIterable(failing(), lambda: done.append("done"))
    assert next(body) == b"a"
    assert done == ["done"]
    with pytest.raises(RuntimeError, match="broken body"):
        next(body)
