"""Sending bulk requests: every 429 reaches the run's limit (and its gate) before a retry, the transport's table for
5xx, re-sending after a network failure only when safe, and the policy's bounds.
"""

from __future__ import annotations

import threading
import time

import pytest
import requests
import responses

from connector.dataverse.bulk.concurrency import AdaptiveLimit, Outcome
from connector.dataverse.bulk.sender import BulkSender, dop_hint
from connector.errors import TransientError
from tests.support.dataverse import API, make_client

URL = f"{API}accounts/Microsoft.Dynamics.CRM.CreateMultiple"
THROTTLED = {"error": {"code": "0x80072322", "message": "Number of requests exceeded the limit of 6000"}}
TOO_MANY = {"error": {"code": "0x80072326", "message": "Number of concurrent requests exceeded the limit of 52."}}


class Sleeps(list[float]):
    """The waits the sender asked for, in order."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def sender(sleeps: Sleeps, limit: AdaptiveLimit | None = None, max_attempts: int = 8) -> BulkSender:
    return BulkSender(make_client(max_attempts=max_attempts).transport, limit or AdaptiveLimit(4, 8), sleep=sleeps)


def send(bulk: BulkSender, *, idempotent: bool = True) -> requests.Response:
    return bulk.send("POST", URL, headers={"Content-Type": "application/json"}, body=b"{}", idempotent=idempotent)


def test_a_429_is_reported_to_the_limit_then_retried_after_its_gate(mocked: responses.RequestsMock) -> None:
    mocked.add("POST", URL, status=429, json=THROTTLED, headers={"Retry-After": "0"})
    mocked.add("POST", URL, status=200, json={"Ids": []})
    sleeps = Sleeps()
    limit = AdaptiveLimit(4, 8)
    response = send(sender(sleeps, limit))
    assert response.status_code == 200
    assert len(mocked.calls) == 2
    snapshot = limit.snapshot()
    assert (snapshot.throttles, snapshot.decreases, snapshot.limit, snapshot.in_flight) == (1, 1, 2, 0)
    assert sleeps == []  # the gate waits, not a sleep of this thread's own
    assert mocked.calls[0].request.headers["Authorization"] == "Bearer token-1"


def test_a_concurrency_refusal_teaches_a_ceiling(mocked: responses.RequestsMock) -> None:
    mocked.add("POST", URL, status=429, json=TOO_MANY, headers={"Retry-After": "0"})
    mocked.add("POST", URL, status=200, json={"Ids": []})
    limit = AdaptiveLimit(4, 8)
    held = [limit.acquire() for _ in range(2)]  # two other requests in flight: this one is the third

    def finish_the_others() -> None:
        # They finish once the refusal is in; the retry (a lone probe) waits for them.
        deadline = time.monotonic() + 5
        while limit.snapshot().throttles == 0 and time.monotonic() < deadline:
            threading.Event().wait(0.01)
        for ticket in held:
            limit.release(ticket, Outcome.HEALTHY)

    others = threading.Thread(target=finish_the_others)
    others.start()
    assert send(sender(Sleeps(), limit)).status_code == 200
    others.join(5)
    assert limit.snapshot().ceiling == 2
    assert limit.snapshot().limit == 2


def test_gateway_errors_back_off_and_are_retried(mocked: responses.RequestsMock) -> None:
    mocked.add("POST", URL, status=503, json={"error": {"code": "", "message": "busy"}})
    mocked.add("POST", URL, status=502)
    mocked.add("POST", URL, status=200, json={"Ids": []})
    sleeps = Sleeps()
    assert send(sender(sleeps)).status_code == 200
    assert len(sleeps) == 2
    assert all(0 <= wait <= 1.0 for wait in sleeps)


def test_retries_are_bounded_by_the_policy(mocked: responses.RequestsMock) -> None:
    for _ in range(3):
        mocked.add("POST", URL, status=429, json=THROTTLED, headers={"Retry-After": "0"})
    response = send(sender(Sleeps(), max_attempts=3))
    assert response.status_code == 429
    assert len(mocked.calls) == 3


def test_a_network_failure_is_not_re_sent_when_the_request_may_have_been_processed(
    mocked: responses.RequestsMock,
) -> None:
    mocked.add("POST", URL, body=requests.ConnectionError("reset"))
    with pytest.raises(TransientError) as raised:
        send(sender(Sleeps()), idempotent=False)
    assert raised.value.ambiguous
    assert "may have been processed" in raised.value.user_message
    assert len(mocked.calls) == 1


def test_a_network_failure_is_re_sent_when_safe(mocked: responses.RequestsMock) -> None:
    mocked.add("POST", URL, body=requests.ConnectionError("reset"))
    mocked.add("POST", URL, status=200, json={"Ids": []})
    sleeps = Sleeps()
    assert send(sender(sleeps), idempotent=True).status_code == 200
    assert len(sleeps) == 1


def test_a_503_without_retry_after_backs_off_in_its_own_thread_and_teaches_the_limit_nothing(
    mocked: responses.RequestsMock,
) -> None:
    mocked.add("POST", URL, status=503, json={"error": {"code": "", "message": "busy"}})
    mocked.add("POST", URL, status=200, json={"Ids": []})
    sleeps = Sleeps()
    limit = AdaptiveLimit(4, 8)
    assert send(sender(sleeps, limit)).status_code == 200
    assert len(sleeps) == 1
    snapshot = limit.snapshot()
    assert (snapshot.throttles, snapshot.decreases, snapshot.in_flight) == (0, 0, 0)


def test_a_401_renews_the_token_once_and_the_retry_takes_a_place_in_the_limit(mocked: responses.RequestsMock) -> None:
    mocked.add("POST", URL, status=401)
    mocked.add("POST", URL, status=200, json={"Ids": []})
    client = make_client()
    limit = AdaptiveLimit(4, 8)
    bulk = BulkSender(client.transport, limit, sleep=Sleeps())
    assert send(bulk).status_code == 200
    assert [call.request.headers["Authorization"] for call in mocked.calls] == ["Bearer token-1", "Bearer token-2"]
    assert limit.snapshot().in_flight == 0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("4", 4),
        (" 12 ", 12),
        ("256", 256),
        ("0", None),
        ("257", None),
        ("99999", None),
        ("", None),
        ("²", None),
        ("٣", None),
        ("4.5", None),
        ("-3", None),
    ],
)
def test_only_a_plain_whole_dop_hint_in_range_is_taken(value: str, expected: int | None) -> None:
    response = requests.Response()
    response.headers["x-ms-dop-hint"] = value
    assert dop_hint(response) == expected


def test_a_budget_header_that_is_not_a_plain_number_is_ignored(mocked: responses.RequestsMock) -> None:
    # '²' passes str.isdigit but not int(): the service's header text must not fail the request.
    mocked.add("POST", URL, status=200, json={"Ids": []}, headers={"x-ms-ratelimit-burst-remaining-xrm-requests": "²"})
    limit = AdaptiveLimit(4, 8)
    assert send(sender(Sleeps(), limit)).status_code == 200
    assert limit.snapshot().in_flight == 0
