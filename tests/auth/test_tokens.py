"""The token lifecycle: cache, refresh margin, single flight, renew after a 401, the token store as the place every new
token set goes before it is used, refresh-token rotation across workers, and ``invalid_grant``.

A fake token service (a real class with the transport's ``send``) issues numbered tokens and enforces single-use
refresh tokens, as Entra and oidc-provider do; a fake clock moves time.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import pytest
import requests

from connector.auth.entra_errors import AUTHORIZATION_REQUIRED
from connector.auth.tokens import STORE_KEY_PREFIX, TokenSource, build_token_source, token_store_key
from connector.context import RuntimeContext
from connector.errors import AuthError, TransientError
from connector.results import AuthorizationCallback, TokenSet
from connector.transport import Transport
from tests.support.auth import (
    CANARY_CLIENT_SECRET,
    CANARY_ID_TOKEN,
    RESOURCE,
    RecordingStore,
    code_oauth,
    secret_oauth,
    settings_for,
)
from tests.support.clock import FakeClock

WAIT_S = 5.0


class FakeTokenService:
    """Issues ``access-N`` / ``refresh-N``; a refresh token works once (rotation), as Entra and oidc-provider."""

    def __init__(self, *, lifetime: int = 3600) -> None:
        self.lifetime = lifetime
        self.forms: list[dict[str, str]] = []
        self.live_refresh_tokens: set[str] = set()
        self.gate: threading.Event | None = None
        self.arrived = threading.Event()
        self._issued = 0
        self._lock = threading.Lock()

    def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        data_factory: Callable[[], Any] | None = None,
        authenticate: bool = True,
        idempotent: bool | None = None,
    ) -> requests.Response:
        assert (method, authenticate) == ("POST", False)
        assert data_factory is not None
        form = dict(data_factory())
        with self._lock:
            self.forms.append(form)
        self.arrived.set()
        if self.gate is not None:
            assert self.gate.wait(WAIT_S)
        with self._lock:
            if form["grant_type"] == "refresh_token":
                if form["refresh_token"] not in self.live_refresh_tokens:
                    return _answer(400, {"error": "invalid_grant", "error_description": "grant request is invalid"})
                self.live_refresh_tokens.discard(form["refresh_token"])
            self._issued += 1
            body: dict[str, Any] = {
                "access_token": f"access-{self._issued}",
                "token_type": "Bearer",
                "expires_in": self.lifetime,
                "id_token": CANARY_ID_TOKEN,
            }
            if form["grant_type"] != "client_credentials":
                body["refresh_token"] = f"refresh-{self._issued}"
                body["scope"] = "user_impersonation"
                self.live_refresh_tokens.add(body["refresh_token"])
            return _answer(200, body)

    def grant(self) -> TokenSet:
        """Issue an authorization-code token set directly (as if the callback had been redeemed)."""
        with self._lock:
            self._issued += 1
            refresh = f"refresh-{self._issued}"
            self.live_refresh_tokens.add(refresh)
            return TokenSet(f"access-{self._issued}", refresh_token=refresh, expires_at=None)

    @property
    def requests(self) -> int:
        return len(self.forms)


def _answer(status: int, body: dict[str, Any]) -> requests.Response:
    answer = requests.Response()
    answer.status_code = status
    answer._content = json.dumps(body).encode()
    answer.headers["Content-Type"] = "application/json"
    return answer


def source_for(
    oauth: dict[str, Any],
    service: FakeTokenService,
    clock: FakeClock,
    store: RecordingStore | None = None,
) -> TokenSource:
    context = RuntimeContext(token_store=store or RecordingStore())
    return TokenSource(settings_for(oauth).oauth, context, service, clock=clock)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def service() -> FakeTokenService:
    return FakeTokenService()


def run_threads(count: int, target: Any) -> list[Any]:
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            results[index] = target()
        except BaseException as error:  # collected and re-raised in the test thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S)
    assert not errors, errors
    return results


# --- client credentials ----------------------------------------------------------------------------------------


def test_token_is_cached_until_the_refresh_margin(clock: FakeClock, service: FakeTokenService) -> None:
    source = source_for(secret_oauth(refresh_margin_seconds=300), service, clock)
    assert source.bearer() == "access-1"
    clock.advance(3600 - 300 - 1)
    assert source.bearer() == "access-1"
    assert service.requests == 1
    clock.advance(2)  # now inside the margin
    assert source.bearer() == "access-2"
    assert service.requests == 2


def test_margin_is_capped_at_half_a_short_lifetime(clock: FakeClock) -> None:
    service = FakeTokenService(lifetime=60)
    source = source_for(secret_oauth(refresh_margin_seconds=300), service, clock)
    source.bearer()
    clock.advance(29)
    assert source.bearer() == "access-1"
    clock.advance(2)
    assert source.bearer() == "access-2"


class CountingLock:
    """A lock that counts the threads waiting for it, so a test can see contention instead of sleeping."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._guard = threading.Lock()
        self.waiting = 0

    def __enter__(self) -> None:
        with self._guard:
            self.waiting += 1
        self._lock.acquire()
        with self._guard:
            self.waiting -= 1

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


def test_many_threads_cause_one_token_request(clock: FakeClock, service: FakeTokenService) -> None:
    source = source_for(secret_oauth(), service, clock)
    lock = CountingLock()
    source._lock = lock  # type: ignore[assignment]
    service.gate = threading.Event()
    threads = 16
    contended: list[bool] = []

    def release_when_all_wait() -> None:
        # One thread is inside the token request; the other fifteen must be queued behind the lock.
        deadline = time.monotonic() + WAIT_S
        while not (service.arrived.is_set() and lock.waiting == threads - 1) and time.monotonic() < deadline:
            time.sleep(0.001)
        contended.append(lock.waiting == threads - 1)
        assert service.gate is not None
        service.gate.set()

    releaser = threading.Thread(target=release_when_all_wait)
    releaser.start()
    tokens = run_threads(threads, source.bearer)
    releaser.join(WAIT_S)
    assert contended == [True]
    assert set(tokens) == {"access-1"}
    assert service.requests == 1


def test_renew_replaces_the_rejected_token_once(clock: FakeClock, service: FakeTokenService) -> None:
    source = source_for(secret_oauth(), service, clock)
    first = source.bearer()
    renewed = run_threads(8, lambda: source.renew(first))
    assert set(renewed) == {"access-2"}
    assert service.requests == 2
    # A thread that saw the old token get rejected late does not cause another request.
    assert source.renew(first) == "access-2"
    assert service.requests == 2


def test_every_new_token_is_saved_before_it_is_returned(clock: FakeClock, service: FakeTokenService) -> None:
    store = RecordingStore()
    source = source_for(secret_oauth(), service, clock, store)
    token = source.bearer()
    assert [saved["access_token"] for _, saved in store.saves] == [token]
    assert store.saves[0][0] == source.store_key


def test_a_failing_store_keeps_the_tokens_and_saves_them_before_use(
    clock: FakeClock, service: FakeTokenService
) -> None:
    store = RecordingStore()
    store.fail_saves = 1
    source = source_for(secret_oauth(), service, clock, store)
    with pytest.raises(TransientError) as caught:
        source.bearer()
    assert "access-1" not in str(caught.value)  # the careless store's message is not passed on
    assert store.saves == []
    assert source.bearer() == "access-1"  # the same token: saved now, then used; no second request
    assert service.requests == 1
    assert [saved["access_token"] for _, saved in store.saves] == ["access-1"]


def test_a_valid_token_saved_by_another_worker_is_adopted(clock: FakeClock, service: FakeTokenService) -> None:
    store = RecordingStore()
    first = source_for(secret_oauth(), service, clock, store)
    second = source_for(secret_oauth(), service, clock, store)
    assert first.bearer() == second.bearer() == "access-1"
    assert service.requests == 1


def test_fetch_always_gets_a_new_token(clock: FakeClock, service: FakeTokenService) -> None:
    source = source_for(secret_oauth(), service, clock)
    assert source.bearer() == "access-1"
    assert source.fetch().access_token == "access-2"
    assert source.bearer() == "access-2"


def test_the_access_token_is_returned_never_the_id_token(clock: FakeClock, service: FakeTokenService) -> None:
    store = RecordingStore()
    source = source_for(code_oauth(), service, clock, store)
    store.items[source.store_key] = service.grant().to_dict()
    clock.advance(10)
    token_set = source.fetch()
    assert source.bearer() == token_set.access_token
    assert CANARY_ID_TOKEN not in repr(store.items) + repr(token_set.to_dict())


def test_unknown_lifetime_is_used_until_rejected(clock: FakeClock) -> None:
    class NoExpiry(FakeTokenService):
        def send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
            answer = super().send(method, url, **kwargs)
            body = answer.json()
            del body["expires_in"]
            return _answer(200, body)

    service = NoExpiry()
    source = source_for(secret_oauth(), service, clock)
    token = source.bearer()
    clock.advance(10 * 86400)
    assert source.bearer() == token
    assert source.renew(token) == "access-2"


# --- authorization code ----------------------------------------------------------------------------------------


def authorized(service: FakeTokenService, clock: FakeClock, store: RecordingStore) -> TokenSource:
    """A source whose store holds a token set from a completed authorization."""
    source = source_for(code_oauth(), service, clock, store)
    store.items[source.store_key] = {**service.grant().to_dict(), "expires_at": clock() + 3600}
    return source


def test_stored_tokens_are_used_then_refreshed_with_rotation(clock: FakeClock, service: FakeTokenService) -> None:
    store = RecordingStore()
    source = authorized(service, clock, store)
    assert source.bearer() == "access-1"
    assert service.requests == 0
    clock.advance(3600)
    assert source.bearer() == "access-2"
    assert service.forms[-1]["refresh_token"] == "refresh-1"
    assert store.items[source.store_key]["refresh_token"] == "refresh-2"  # the rotated one, saved
    clock.advance(3600)
    assert source.bearer() == "access-3"
    assert service.forms[-1]["refresh_token"] == "refresh-2"


def test_rotated_refresh_token_is_saved_before_the_access_token_is_used(
    clock: FakeClock, service: FakeTokenService
) -> None:
    store = RecordingStore()
    source = authorized(service, clock, store)
    clock.advance(3600)
    store.fail_saves = 1
    with pytest.raises(TransientError):
        source.bearer()
    # Not lost: the next call saves the rotated set and uses it without asking again (which would be a reuse).
    assert source.bearer() == "access-2"
    assert store.items[source.store_key]["refresh_token"] == "refresh-2"
    assert service.requests == 1


def test_refused_refresh_asks_for_authorization_and_never_retries_it(
    clock: FakeClock, service: FakeTokenService
) -> None:
    store = RecordingStore()
    source = authorized(service, clock, store)
    service.live_refresh_tokens.clear()  # revoked behind our back
    clock.advance(3600)
    with pytest.raises(AuthError) as caught:
        source.bearer()
    assert caught.value.code == AUTHORIZATION_REQUIRED
    with pytest.raises(AuthError) as again:
        source.bearer()
    assert again.value.code == AUTHORIZATION_REQUIRED
    assert service.requests == 1  # the stale refresh token was sent once, never again


def test_authorizing_again_recovers_after_a_refused_refresh(clock: FakeClock, service: FakeTokenService) -> None:
    store = RecordingStore()
    source = authorized(service, clock, store)
    service.live_refresh_tokens.clear()
    clock.advance(3600)
    with pytest.raises(AuthError):
        source.bearer()
    callback = AuthorizationCallback({"code": "c", "state": "s"}, state="s", code_verifier="v")
    token_set = source.complete_authorization(callback)
    assert store.items[source.store_key]["refresh_token"] == token_set.refresh_token
    assert source.bearer() == token_set.access_token


def test_a_second_worker_adopts_the_rotated_refresh_token(clock: FakeClock, service: FakeTokenService) -> None:
    store = RecordingStore()
    worker_a = authorized(service, clock, store)
    worker_b = source_for(code_oauth(), service, clock, store)
    assert worker_a.bearer() == worker_b.bearer() == "access-1"
    clock.advance(3600)
    assert worker_a.bearer() == "access-2"  # A rotates refresh-1 into refresh-2
    # B's own copy says refresh-1, which is now dead; it takes A's fresh set from the store instead.
    assert worker_b.bearer() == "access-2"
    assert service.requests == 1
    worker_b.renew("access-2")  # a 401 for B: refreshes with refresh-2, the live one
    assert service.forms[-1]["refresh_token"] == "refresh-2"


def test_no_stored_tokens_means_authorize_first(clock: FakeClock, service: FakeTokenService) -> None:
    source = source_for(code_oauth(), service, clock)
    with pytest.raises(AuthError) as caught:
        source.bearer()
    assert caught.value.code == AUTHORIZATION_REQUIRED
    assert service.requests == 0


def test_an_unreadable_stored_entry_is_ignored(clock: FakeClock, service: FakeTokenService) -> None:
    store = RecordingStore()
    source = source_for(secret_oauth(), service, clock, store)
    store.items[source.store_key] = {"expires_at": "soon"}
    assert source.bearer() == "access-1"


# --- store key, construction, reprs --------------------------------------------------------------------------------


def test_store_key_is_stable_distinct_and_reveals_nothing() -> None:
    base = settings_for(secret_oauth()).oauth
    key = token_store_key(base)
    assert key.startswith(STORE_KEY_PREFIX)
    assert key == token_store_key(settings_for(secret_oauth()).oauth)
    others = {
        token_store_key(settings_for(secret_oauth(client_id="other")).oauth),
        token_store_key(settings_for(secret_oauth(access_token_url="https://login.example/t/oauth2/token")).oauth),
        token_store_key(
            settings_for(
                secret_oauth(access_token_parameters=[{"name": "resource", "value": "https://f.crm4.dynamics.com"}])
            ).oauth
        ),
        token_store_key(settings_for(code_oauth()).oauth),
    }
    assert key not in others
    assert len(others) == 4
    assert "535fb089" not in key
    assert RESOURCE not in key
    # Changing only the secret keeps the key: the tokens are the application's either way.
    assert key == token_store_key(settings_for(secret_oauth(client_secret="another")).oauth)


def test_build_token_source_uses_a_transport_over_the_connection_settings() -> None:
    settings = settings_for(secret_oauth())
    source = build_token_source(settings, RuntimeContext())
    assert isinstance(source._transport, Transport)
    assert source._transport.bearer is None


def test_repr_shows_no_secret_or_token(clock: FakeClock, service: FakeTokenService) -> None:
    source = source_for(secret_oauth(), service, clock)
    token = source.bearer()
    assert token not in repr(source)
    assert CANARY_CLIENT_SECRET not in repr(source)
