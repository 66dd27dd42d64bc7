"""Single-flight renewal across token sources that share a store (``connector.auth.refresh_lock``): without the store's
lock two workers send the same refresh token; with it one worker renews while the others wait, keep using a token that
has not expired, or adopt what the renewer saved. A held lock is renewed while the token request runs, kept while new
tokens wait to be saved, and a holder that stopped renewing blocks the others no longer than its lease. A store that
refuses to renew the lock for a reason that will not pass fails the renewal naming the setting, the new tokens saved;
a renewal that failed otherwise meanwhile (an interrupt, the token service's refusal) raises its own error.

Each worker is its own ``TokenSource`` (as each connection, process or machine has its own); the store is a recording
one that lends the lock. Lease ends and waits run on a fake clock where a test is about time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import pytest
import requests

from connector.auth.entra_errors import AUTHORIZATION_REQUIRED
from connector.auth.refresh_lock import DEFAULT_LEASE_SECONDS, DEFAULT_WAIT_SECONDS
from connector.auth.tokens import TokenSource
from connector.context import RuntimeContext
from connector.errors import AuthError, ConfigError, TransientError
from connector.host.token_cipher import STORE_FIELD, token_store_error
from connector.results import AuthorizationCallback
from tests.support.auth import LockingRecordingStore, RecordingStore, code_oauth, secret_oauth, settings_for
from tests.support.clock import FakeClock
from tests.support.token_service import WAIT_S, FakeTokenService, json_answer

LIFETIME = 3600


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def service() -> FakeTokenService:
    return FakeTokenService(lifetime=LIFETIME)


def worker(
    service: FakeTokenService,
    clock: FakeClock,
    store: RecordingStore,
    *,
    oauth: dict[str, Any] | None = None,
    wait_clock: FakeClock | None = None,
    sleep: Callable[[float], None] | None = None,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
) -> TokenSource:
    """One worker's token source; with a ``wait_clock`` its waits for the lock move that fake clock, not time, and a
    ``sleep`` runs instead of each wait (to play another worker).
    """
    context = RuntimeContext(token_store=store)
    waits: dict[str, Any] = {"sleep": wait_clock.sleep, "monotonic": wait_clock} if wait_clock else {}
    if sleep is not None:
        waits["sleep"] = sleep
    settings = settings_for(oauth or code_oauth()).oauth
    return TokenSource(settings, context, service, clock=clock, lease_seconds=lease_seconds, **waits)


def grant(service: FakeTokenService, clock: FakeClock, store: RecordingStore, key: str) -> None:
    """Store a token set from a completed authorization (access-N, refresh-N), valid for an hour."""
    store.items[key] = {**service.grant().to_dict(), "expires_at": clock() + LIFETIME, "obtained_at": clock()}


def poll(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.001)


def in_threads(targets: list[Callable[[], Any]]) -> tuple[list[Any], list[BaseException]]:
    results: list[Any] = [None] * len(targets)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            results[index] = targets[index]()
        except BaseException as error:  # collected for the test thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(targets))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S * 2)
    return results, errors


# --- the risk without a lock, and what the lock changes ------------------------------------------------------------


def test_without_the_store_lock_two_workers_send_the_same_refresh_token(
    clock: FakeClock, service: FakeTokenService
) -> None:
    store = RecordingStore()  # load and save only: the contract's backwards-compatible minimum
    workers = [worker(service, clock, store) for _ in range(2)]
    grant(service, clock, store, workers[0].store_key)
    clock.advance(LIFETIME)
    service.gate = threading.Event()

    def open_gate_when_both_arrived() -> None:
        poll(lambda: service.requests == 2, "both workers should reach the token service")
        assert service.gate is not None
        service.gate.set()

    opener = threading.Thread(target=open_gate_when_both_arrived)
    opener.start()
    _, errors = in_threads([w.bearer for w in workers])
    opener.join(WAIT_S)
    assert [form["refresh_token"] for form in service.forms] == ["refresh-1", "refresh-1"]
    # The second use of a rotated refresh token: Entra and oidc-provider revoke the whole grant here.
    assert [error.code for error in errors if isinstance(error, AuthError)] == [AUTHORIZATION_REQUIRED]


@pytest.mark.parametrize("oauth", [code_oauth(), secret_oauth()], ids=["authorization_code", "client_credentials"])
def test_with_the_store_lock_eight_workers_renew_once_and_share_the_result(
    clock: FakeClock, service: FakeTokenService, oauth: dict[str, Any]
) -> None:
    store = LockingRecordingStore(clock)
    workers = [worker(service, clock, store, oauth=oauth) for _ in range(8)]
    key = workers[0].store_key
    if oauth["grant_type"] == "authorization_code":
        grant(service, clock, store, key)
    else:
        assert workers[0].bearer() == "access-1"
    clock.advance(LIFETIME)  # expired for everybody: nobody can keep using the old token
    service.gate = threading.Event()

    def open_gate_when_the_others_wait() -> None:
        poll(lambda: service.arrived.is_set() and store.refused >= 7, "the other workers should find the lock taken")
        assert service.gate is not None
        service.gate.set()

    opener = threading.Thread(target=open_gate_when_the_others_wait)
    opener.start()
    tokens, errors = in_threads([w.bearer for w in workers])
    opener.join(WAIT_S)
    assert not errors, errors
    assert set(tokens) == {"access-2"}
    assert len(service.forms) == (1 if oauth["grant_type"] == "authorization_code" else 2)  # one renewal
    # Workers that took the lock after the renewer found its tokens in the store and adopted them.
    assert store.acquired == store.releases >= 1
    assert not store.held(key)
    assert [saved["access_token"] for _, saved in store.saves][-1] == "access-2"


def test_a_worker_keeps_its_unexpired_token_while_another_renews(clock: FakeClock, service: FakeTokenService) -> None:
    store = LockingRecordingStore(clock)
    renewer, other = worker(service, clock, store), worker(service, clock, store)
    grant(service, clock, store, renewer.store_key)
    clock.advance(LIFETIME - 100)  # inside the refresh margin, not expired
    service.gate = threading.Event()
    result: list[str] = []
    thread = threading.Thread(target=lambda: result.append(renewer.bearer()))
    thread.start()
    poll(service.arrived.is_set, "the renewer should reach the token service")
    assert other.bearer() == "access-1"  # no wait: the old token still works for 100 s
    service.gate.set()
    thread.join(WAIT_S)
    assert result == ["access-2"]
    assert other.bearer() == "access-2"  # adopted from the store
    assert service.requests == 1


# --- under the lock: load again, adopt, or renew and save before releasing -------------------------------------------


def test_tokens_saved_while_waiting_are_adopted_without_a_request(clock: FakeClock, service: FakeTokenService) -> None:
    store = LockingRecordingStore(clock)

    def the_other_worker_finishes(seconds: float) -> None:
        store.save(key, {**service.grant().to_dict(), "expires_at": clock() + LIFETIME})  # access-2, refresh-2
        store.release_lock(key, "holder-1")

    source = worker(service, clock, store, sleep=the_other_worker_finishes)
    key = source.store_key
    grant(service, clock, store, key)
    clock.advance(LIFETIME)
    assert store.acquire_lock(key, 60.0) == "holder-1"  # another worker is renewing
    assert source.bearer() == "access-2"
    assert service.requests == 0
    clock.advance(LIFETIME)
    assert source.bearer() == "access-3"
    assert [form["refresh_token"] for form in service.forms] == ["refresh-2"]  # the live one, never refresh-1


def test_a_worker_that_gave_up_without_saving_is_followed_by_a_renewal(
    clock: FakeClock, service: FakeTokenService
) -> None:
    store = LockingRecordingStore(clock)

    def the_other_worker_gives_up(seconds: float) -> None:
        assert store.release_lock(key, "holder-1")  # its request failed; it let go without saving anything

    source = worker(service, clock, store, sleep=the_other_worker_gives_up)
    key = source.store_key
    grant(service, clock, store, key)
    clock.advance(LIFETIME)
    assert store.acquire_lock(key, 60.0) == "holder-1"
    assert source.bearer() == "access-2"
    assert [form["refresh_token"] for form in service.forms] == ["refresh-1"]


def test_a_holder_that_stopped_renewing_blocks_the_others_only_for_its_lease(
    clock: FakeClock, service: FakeTokenService
) -> None:
    store = LockingRecordingStore(clock)
    source = worker(service, clock, store, wait_clock=clock)  # the lease ends on the clock the waits move
    key = source.store_key
    grant(service, clock, store, key)
    clock.advance(LIFETIME)
    assert store.acquire_lock(key, DEFAULT_LEASE_SECONDS)  # then killed: it never renews or releases
    assert source.bearer() == "access-2"
    assert DEFAULT_LEASE_SECONDS <= sum(clock.sleeps) <= DEFAULT_LEASE_SECONDS + 0.3


def test_waiting_longer_than_the_limit_is_transient(clock: FakeClock, service: FakeTokenService) -> None:
    store = LockingRecordingStore(clock)
    source = worker(service, clock, store, wait_clock=clock)
    key = source.store_key
    grant(service, clock, store, key)
    clock.advance(LIFETIME)
    assert store.acquire_lock(key, 10 * DEFAULT_WAIT_SECONDS)  # a live holder still renewing
    with pytest.raises(TransientError, match="renewing the tokens"):
        source.bearer()
    assert DEFAULT_WAIT_SECONDS - 0.3 <= sum(clock.sleeps) <= DEFAULT_WAIT_SECONDS
    assert service.requests == 0


def test_the_lease_is_renewed_while_a_slow_token_request_runs(clock: FakeClock, service: FakeTokenService) -> None:
    store = LockingRecordingStore(clock)
    source = worker(service, clock, store, lease_seconds=0.03)  # renewed every 10 ms
    grant(service, clock, store, source.store_key)
    clock.advance(LIFETIME)
    service.gate = threading.Event()
    thread = threading.Thread(target=source.bearer)
    thread.start()
    poll(lambda: store.renewals >= 3, "the lease should be renewed while the request is in flight")
    service.gate.set()
    thread.join(WAIT_S)
    assert store.releases == 1
    renewals = store.renewals
    poll(lambda: not any(t.name == "token-store-lease" for t in threading.enumerate()), "the keeper should stop")
    assert store.renewals == renewals


def test_new_tokens_that_could_not_be_saved_keep_the_lock_until_they_are(
    clock: FakeClock, service: FakeTokenService
) -> None:
    store = LockingRecordingStore(clock)
    waits = FakeClock()  # the other worker's waits pass while the renewer's lease stays renewed
    renewer, other = worker(service, clock, store), worker(service, clock, store, wait_clock=waits)
    key = renewer.store_key
    grant(service, clock, store, key)
    clock.advance(LIFETIME)
    store.fail_saves = 1
    with pytest.raises(TransientError):
        renewer.bearer()
    # refresh-2 exists only in the renewer's memory: a worker renewing now would send the spent refresh-1.
    assert store.held(key)
    with pytest.raises(TransientError, match="renewing the tokens"):
        other.bearer()
    assert renewer.bearer() == "access-2"  # saved now, then used, and the lock released
    assert not store.held(key)
    assert other.bearer() == "access-2"
    assert [form["refresh_token"] for form in service.forms] == ["refresh-1"]


def test_a_store_that_cannot_lock_fails_transient_without_a_token_request(
    clock: FakeClock, service: FakeTokenService
) -> None:
    store = LockingRecordingStore(clock)
    source = worker(service, clock, store)
    grant(service, clock, store, source.store_key)
    clock.advance(LIFETIME)
    store.fail_locks = True
    with pytest.raises(TransientError) as caught:
        source.bearer()
    assert "lock server" not in str(caught.value)  # the store's own message may hold data: not passed on
    assert service.requests == 0


def test_fetch_renews_under_the_lock_even_when_the_stored_tokens_are_fresh(
    clock: FakeClock, service: FakeTokenService
) -> None:
    store = LockingRecordingStore(clock)
    source = worker(service, clock, store)
    grant(service, clock, store, source.store_key)
    assert source.fetch().access_token == "access-2"
    assert (store.acquired, store.releases) == (1, 1)


def test_a_401_renews_under_the_lock_and_adopts_a_different_stored_token(
    clock: FakeClock, service: FakeTokenService
) -> None:
    store = LockingRecordingStore(clock)
    first, second = worker(service, clock, store), worker(service, clock, store)
    grant(service, clock, store, first.store_key)
    assert first.bearer() == second.bearer() == "access-1"
    assert first.renew("access-1") == "access-2"  # the service rejected access-1
    assert second.renew("access-1") == "access-2"  # adopts, does not refresh again
    assert service.requests == 1


def test_an_authorization_completed_while_another_worker_renews_waits_for_the_lock(
    clock: FakeClock, service: FakeTokenService
) -> None:
    store = LockingRecordingStore(clock)
    redeemed_while_held: list[int] = []
    holder: list[str] = []

    def the_renewer_finishes(seconds: float) -> None:
        # Called while this worker waits for the lock: the code must not have been redeemed yet.
        redeemed_while_held.append(service.requests)
        store.release_lock(key, holder[0])

    source = worker(service, clock, store, sleep=the_renewer_finishes)
    key = source.store_key
    taken = store.acquire_lock(key, DEFAULT_LEASE_SECONDS)
    assert taken is not None
    holder.append(taken)
    callback = AuthorizationCallback({"code": "c", "state": "s"}, state="s", code_verifier="v")
    token_set = source.complete_authorization(callback)
    assert redeemed_while_held == [0]
    assert service.forms[-1]["grant_type"] == "authorization_code"
    assert store.items[key]["refresh_token"] == token_set.refresh_token
    assert store.acquire_lock(key, DEFAULT_LEASE_SECONDS) is not None  # released once the new tokens were saved


# --- a store that will not renew the lock ----------------------------------------------------------------------------


class RefusingRenewals(LockingRecordingStore):
    """A locking store whose renewals fail: the first ``transient`` ones as transient, then every one with ``error``
    (as a Redis user allowed to take the lock but not to run the renewal's script), and that records its keepers.
    """

    def __init__(self, clock: Callable[[], float], *, error: Exception | None = None, transient: int = 0) -> None:
        super().__init__(clock)
        self.error = error
        self.transient = transient
        self.refusals = 0
        self.keepers: list[threading.Thread] = []
        self.refusing = threading.Event()

    def renew_lock(self, key: str, holder: str, lease_seconds: float) -> bool:
        with self.lock:
            self.keepers.append(threading.current_thread())
            if self.transient:
                self.transient -= 1
                raise TransientError("The Redis server of the token store (redis://cache:6379/0) cannot be reached")
            if self.error is not None:
                self.refusals += 1
                self.refusing.set()
                raise self.error
        return super().renew_lock(key, holder, lease_seconds)

    def wait_for_refusal(self) -> None:
        """Wait until a renewal was refused and the keeper that asked for it has stopped (the lease's failure set)."""
        assert self.refusing.wait(WAIT_S), "the keeper should ask to renew the lock"
        with self.lock:
            keeper = self.keepers[-1]
        keeper.join(WAIT_S)
        assert not keeper.is_alive(), "the keeper should stop at the store's refusal"

    def keepers_stopped(self) -> bool:
        with self.lock:
            return bool(self.keepers) and not any(keeper.is_alive() for keeper in self.keepers)


def no_scripting() -> ConfigError:
    return token_store_error(
        STORE_FIELD,
        "the Redis server at redis://connector:***@cache:6379/0 refused the store's command (this user has no "
        "permissions to run the 'evalsha' command)",
    )


def test_a_refused_renewal_fails_the_renewal_naming_the_setting_after_saving_the_tokens(
    clock: FakeClock, service: FakeTokenService
) -> None:
    # The keeper retried for ever: the lease ended in silence, and another worker could refresh at the same time.
    store = RefusingRenewals(clock, error=no_scripting())
    source = worker(service, clock, store, lease_seconds=0.03)  # renewed every 10 ms
    key = source.store_key
    grant(service, clock, store, key)
    clock.advance(LIFETIME)
    service.gate = threading.Event()
    errors: list[BaseException] = []

    def renew() -> None:
        try:
            source.bearer()
        except BaseException as error:  # collected for the test thread
            errors.append(error)

    thread = threading.Thread(target=renew)
    thread.start()
    poll(store.keepers_stopped, "the keeper should stop at the store's refusal")
    service.gate.set()  # the token request ends after the lease was lost
    thread.join(WAIT_S)
    assert store.refusals == 1
    assert len(errors) == 1
    error = errors[0]
    assert isinstance(error, ConfigError)
    assert error.field == STORE_FIELD
    assert error.user_message.startswith("The token store refused to renew the refresh lock")
    assert "no permissions to run the 'evalsha' command" in error.user_message
    # The rotated refresh token is the only valid one: saved before the error, and used from then on.
    assert store.items[key]["access_token"] == "access-2"
    assert (store.releases, store.held(key)) == (1, False)
    assert source.bearer() == "access-2"
    assert [form["refresh_token"] for form in service.forms] == ["refresh-1"]


def test_a_refused_renewal_of_a_lock_kept_for_unsaved_tokens_is_reported_once_they_are_saved(
    clock: FakeClock, service: FakeTokenService
) -> None:
    store = RefusingRenewals(clock, error=no_scripting())
    source = worker(service, clock, store, lease_seconds=0.03)
    key = source.store_key
    grant(service, clock, store, key)
    clock.advance(LIFETIME)
    store.fail_saves = 1
    with pytest.raises(TransientError):
        source.bearer()  # refresh-2 is only in memory: the lock is kept, and its renewal refused
    poll(store.keepers_stopped, "the keeper should stop at the store's refusal")
    with pytest.raises(ConfigError) as caught:
        source.bearer()
    assert caught.value.field == STORE_FIELD
    assert store.items[key]["access_token"] == "access-2"
    assert source.bearer() == "access-2"
    assert (store.refusals, store.releases, service.requests) == (1, 1, 1)


def test_a_transient_failure_to_renew_is_retried_and_the_renewal_succeeds(
    clock: FakeClock, service: FakeTokenService
) -> None:
    store = RefusingRenewals(clock, transient=2)
    source = worker(service, clock, store, lease_seconds=0.03)
    grant(service, clock, store, source.store_key)
    clock.advance(LIFETIME)
    service.gate = threading.Event()
    result: list[str] = []
    thread = threading.Thread(target=lambda: result.append(source.bearer()))
    thread.start()
    poll(lambda: store.renewals >= 1, "the lease should be renewed after the transient failures")
    service.gate.set()
    thread.join(WAIT_S)
    assert result == ["access-2"]
    assert (store.transient, store.releases) == (0, 1)


class FailingOnceRefused:
    """A token service whose request fails once the token store has refused to renew the lock: the failure is raised
    (an interrupt during a slow request) or is its answer (a refusal).

    :param store: the store whose refusal the request waits for.
    :param failure: the exception to raise, or the answer to give.
    """

    def __init__(self, store: RefusingRenewals, failure: BaseException | requests.Response) -> None:
        self.store = store
        self.failure = failure
        self.requests = 0

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
        self.requests += 1
        self.store.wait_for_refusal()
        if isinstance(self.failure, BaseException):
            raise self.failure
        return self.failure


def failing_worker(store: RefusingRenewals, clock: FakeClock, service: FailingOnceRefused) -> TokenSource:
    """A worker whose token requests fail once the store refused to renew its lock (renewed every 10 ms)."""
    settings = settings_for(code_oauth()).oauth
    return TokenSource(settings, RuntimeContext(token_store=store), service, clock=clock, lease_seconds=0.03)


@pytest.mark.parametrize(
    "interruption", [KeyboardInterrupt(), SystemExit(130)], ids=["KeyboardInterrupt", "SystemExit"]
)
def test_an_interrupt_during_a_renewal_whose_lock_the_store_refused_stays_an_interrupt(
    clock: FakeClock, service: FakeTokenService, interruption: BaseException, caplog: pytest.LogCaptureFixture
) -> None:
    # The refusal was raised from a finally: block over the interrupt: Ctrl-C ended as a ConfigError (exit 1, not 130).
    store = RefusingRenewals(clock, error=no_scripting())
    interrupted = FailingOnceRefused(store, interruption)
    source = failing_worker(store, clock, interrupted)
    key = source.store_key
    grant(service, clock, store, key)
    clock.advance(LIFETIME)
    with caplog.at_level(logging.WARNING), pytest.raises(type(interruption)) as caught:
        source.bearer()
    assert caught.value is interruption
    assert (interrupted.requests, store.refusals) == (1, 1)
    assert (store.releases, store.held(key)) == (1, False)  # released all the same
    assert "the token store refused to renew the refresh lock" in caplog.text  # the refusal is logged, not lost
    assert "token_store: the Redis server" in caplog.text


def test_an_expired_authorization_code_is_reported_as_such_when_the_store_refused_to_renew_the_lock(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    # The refusal was raised over the AuthError: the user was sent to fix token_store, not to authorize again.
    store = RefusingRenewals(clock, error=no_scripting())
    expired = json_answer(
        400,
        {
            "error": "invalid_grant",
            "error_codes": [70008],
            "error_description": "AADSTS70008: The provided authorization code or refresh token has expired.",
        },
    )
    service = FailingOnceRefused(store, expired)
    source = failing_worker(store, clock, service)
    callback = AuthorizationCallback({"code": "c", "state": "s"}, state="s", code_verifier="v")
    with caplog.at_level(logging.WARNING), pytest.raises(AuthError) as caught:
        source.complete_authorization(callback)
    assert caught.value.field != STORE_FIELD
    assert "AADSTS70008" in caught.value.user_message
    assert store.refusals == 1
    assert source.store_key not in store.items  # nothing was redeemed, nothing saved
    assert (store.releases, store.held(source.store_key)) == (1, False)
    assert "the token store refused to renew the refresh lock" in caplog.text
