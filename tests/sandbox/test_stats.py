"""What the sandbox saw (dataverse_sandbox.stats): records, counters, Retry-After compliance."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

import pytest
from werkzeug.test import Client

from dataverse_sandbox.contracts import Clock, TokenEventRecorder
from dataverse_sandbox.faults import FaultInjector, FaultSettings, InjectedResetError
from dataverse_sandbox.limits import CONCURRENCY_CODE, LimitSettings, ServiceProtection
from dataverse_sandbox.middleware import memoize_principal
from dataverse_sandbox.stats import RequestRecorder, SandboxStats

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

SECRET_TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.canary-token-value.signature"


def principal_of(environ: WSGIEnvironment) -> str | None:
    authorization: str = environ.get("HTTP_AUTHORIZATION", "")
    return authorization.removeprefix("Bearer ")[-5:] or None if authorization.startswith("Bearer ") else None


def ok_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "application/json")])
    return [b"{}"]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def stats(clock: Clock) -> SandboxStats:
    return SandboxStats(clock)


def bearer(principal: str) -> dict[str, str]:
    """An Authorization header whose last five characters are the principal (see ``principal_of``)."""
    return {"Authorization": f"Bearer {SECRET_TOKEN}{principal}"}


def test_records_what_the_server_saw_without_secrets(stats: SandboxStats) -> None:
    client = Client(RequestRecorder(ok_app, stats, principal_of))
    client.get(
        "/api/data/v9.2/accounts",
        query_string={"$select": "name", "code": "auth-code-canary"},
        headers={**bearer("alice"), "Host": "contoso.crm.dynamics.com"},
    ).close()
    client.post("/tenant/oauth2/v2.0/token", data={"client_secret": "secret-canary"}).close()
    first, second = stats.requests()
    assert first.method == "GET"
    assert first.path == "/api/data/v9.2/accounts"
    assert first.query == "$select=name&code=***"
    assert first.principal == "alice"
    assert first.authorization is True
    assert first.host == "contoso.crm.dynamics.com"
    assert first.status == 200
    assert first.time <= first.finished
    assert second.principal is None
    assert second.authorization is False
    dumped = json.dumps(stats.snapshot(include_records=True))
    for canary in (SECRET_TOKEN, "auth-code-canary", "secret-canary"):
        assert canary not in dumped


def test_throttled_responses_are_recorded_with_their_code_and_retry_after(stats: SandboxStats, clock: Clock) -> None:
    limits = ServiceProtection(ok_app, LimitSettings(), clock, principal_of)
    client = Client(RequestRecorder(limits, stats, principal_of))
    limits.force_throttle(1, CONCURRENCY_CODE, retry_after=4)
    client.get("/api/data/v9.2/WhoAmI", headers=bearer("alice")).close()
    client.get("/api/data/v9.2/WhoAmI", headers=bearer("alice")).close()
    throttled = stats.requests(status=429)
    assert len(throttled) == 1
    assert throttled[0].throttled == CONCURRENCY_CODE
    assert throttled[0].retry_after == 4
    snapshot = stats.snapshot()
    assert snapshot["throttled_total"] == 1
    assert snapshot["throttled_by_code"] == {CONCURRENCY_CODE: 1}
    assert snapshot["requests_by_principal"] == {"alice": 2}
    assert snapshot["requests_by_status"] == {"200": 1, "429": 1}


def test_injected_faults_are_recorded_even_when_the_connection_is_reset(stats: SandboxStats) -> None:
    faults = FaultInjector(ok_app, FaultSettings(), seed=1)
    client = Client(RequestRecorder(faults, stats, principal_of))
    faults.schedule("reset_before", 1)
    faults.schedule("error", 1, status=503)
    with pytest.raises(InjectedResetError):
        client.get("/api/data/v9.2/accounts")
    client.get("/api/data/v9.2/accounts").close()
    reset, error = stats.requests()
    assert (reset.status, reset.fault) == (None, "reset_before")
    assert (error.status, error.fault) == (503, "error")
    assert stats.snapshot()["faults_by_kind"] == {"reset_before": 1, "error": 1}


def test_tokens_issued_are_counted_per_client_and_grant(stats: SandboxStats) -> None:
    stats.record_token("app-1", "client_credentials")
    stats.record_token("app-1", "refresh_token")
    stats.record_token("app-2", "client_credentials")
    snapshot = stats.snapshot()
    assert snapshot["tokens_issued"] == 3
    assert snapshot["tokens_by_client"] == {"app-1": 2, "app-2": 1}
    assert snapshot["tokens_by_grant"] == {"client_credentials": 2, "refresh_token": 1}


def test_token_events_arrive_through_the_token_services_interface(stats: SandboxStats) -> None:
    recorder: TokenEventRecorder = stats
    recorder.record_issued("app-1", "client_credentials")
    recorder.record_refused(7000215)
    recorder.record_refused(7000215)
    recorder.record_refused(50126)
    snapshot = stats.snapshot()
    assert snapshot["tokens_by_grant"] == {"client_credentials": 1}
    assert snapshot["tokens_refused"] == 3
    assert snapshot["tokens_refused_by_code"] == {"7000215": 2, "50126": 1}
    stats.reset()
    assert stats.snapshot()["tokens_refused_by_code"] == {}


def test_request_filters(stats: SandboxStats, clock: Clock) -> None:
    client = Client(RequestRecorder(ok_app, stats, principal_of))
    client.get("/api/data/v9.2/accounts", headers=bearer("alice")).close()
    clock.advance(10)
    middle = clock.now()
    client.post("/api/data/v9.2/contacts", headers=bearer("bobby")).close()
    client.get("/tenant/oauth2/v2.0/token").close()
    assert [r.path for r in stats.requests(principal="bobby")] == ["/api/data/v9.2/contacts"]
    assert len(stats.requests(method="get")) == 2
    assert len(stats.requests(path_prefix="/api/")) == 2
    assert len(stats.requests(since=middle)) == 2
    assert stats.requests(status=404) == []


def test_retry_after_violations_show_a_client_that_came_back_too_early(stats: SandboxStats, clock: Clock) -> None:
    limits = ServiceProtection(
        ok_app, LimitSettings(max_requests=1, window_seconds=60, retry_after_seconds=5), clock, principal_of
    )
    client = Client(RequestRecorder(limits, stats, principal_of))

    def call(principal: str) -> int:
        response = client.get("/api/data/v9.2/WhoAmI", headers=bearer(principal))
        response.close()
        return response.status_code

    assert call("alice") == 200
    assert call("alice") == 429  # Retry-After: 5
    clock.advance(2)
    assert call("alice") == 429  # came back after 2 s: a violation (and a new 429)
    assert call("bobby") == 200  # another principal is not concerned
    clock.advance(5.5)
    call("alice")  # 5.5 s after the last 429: fine
    violations = stats.retry_after_violations()
    assert len(violations) == 1
    assert violations[0].early.principal == "alice"
    assert 1.9 < violations[0].waited < 2.5
    assert stats.retry_after_violations("bobby") == []
    assert stats.retry_after_violations(tolerance=3) == []


def test_reset_forgets_everything(stats: SandboxStats) -> None:
    Client(RequestRecorder(ok_app, stats, principal_of)).get("/x").close()
    stats.record_token("app", "client_credentials")
    stats.reset()
    snapshot = stats.snapshot()
    assert snapshot["requests_total"] == 0
    assert snapshot["tokens_issued"] == 0
    assert stats.requests() == []


def test_records_are_bounded_but_counters_stay_exact(clock: Clock) -> None:
    stats = SandboxStats(clock, max_records=3)
    client = Client(RequestRecorder(ok_app, stats, principal_of))
    for i in range(5):
        client.get(f"/r{i}").close()
    assert [r.path for r in stats.requests()] == ["/r2", "/r3", "/r4"]
    assert stats.snapshot()["requests_total"] == 5


def test_concurrent_recording_loses_nothing(stats: SandboxStats) -> None:
    lookups: list[int] = []

    def counting_principal(environ: WSGIEnvironment) -> str | None:
        lookups.append(1)
        return principal_of(environ)

    cached = memoize_principal(counting_principal)
    limits = ServiceProtection(ok_app, LimitSettings(), Clock(), cached)
    recorder = RequestRecorder(limits, stats, cached)

    def hammer(principal: str) -> None:
        client = Client(recorder)
        for _ in range(50):
            client.get("/api/data/v9.2/WhoAmI", headers=bearer(principal)).close()

    threads = [threading.Thread(target=hammer, args=(f"user{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    snapshot = stats.snapshot()
    assert snapshot["requests_total"] == 400
    assert set(snapshot["requests_by_principal"].values()) == {50}
    assert len(lookups) == 400  # one principal lookup per request, shared by the recorder and the limits
