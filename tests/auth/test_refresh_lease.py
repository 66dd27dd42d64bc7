"""A held refresh lock (``connector.auth.refresh_lock.Lease``) when the store fails to renew or release it: a refusal
that will not pass (a ``ConfigError``) ends the renewals after one attempt and is kept for the holder, naming the
setting; a transient failure is retried at the next interval; releasing waits for a renewal in progress, for as long
as the lease lasts; what is logged names the problem and never a secret.

The store is a scripted fake, except in the last test: a real Redis server whose user may take the lock but not run
the renewal's script. Leases are long enough never to be renewed on their own; a test renews with
``Lease.renew_once``, or sets the keeper renewing at once (``renew_every``) and waits on the store's events. They
assert no timing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any, Final

import pytest
from cryptography.fernet import Fernet

from connector.auth.refresh_lock import Lease, SharedLock
from connector.context import LockingTokenStore
from connector.errors import ConfigError, ConnectorError, FailureType, TransientError
from connector.host.redis_token_store import RedisTokenStore, shown_url
from connector.host.token_cipher import STORE_FIELD, token_store_error
from tests.support.redis_server import RedisServer
from tests.support.token_service import WAIT_S

KEY: Final = "dynamics365-ce/oauth2/0123456789abcdef"
CANARY_PASSWORD: Final = "canary-redis-password-7c1e"
LEASE_S: Final = 60.0  # never renewed by the keeper on its own within a test
AT_ONCE: Final = 0.001  # renew_every of a test that has the keeper renew
URL: Final = f"redis://connector:{CANARY_PASSWORD}@cache.example:6379/0"


def refused(command: str) -> ConfigError:
    """:returns: the error the Redis store raises when its user may not run ``command`` (its URL shown as it does)."""
    words = f"this user has no permissions to run the '{command}' command"  # redis-py drops the NOPERM code
    return token_store_error(STORE_FIELD, f"the Redis server at {shown_url(URL)} refused the store's command ({words})")


class ScriptedLockStore:
    """A locking token store whose renewals follow a script, and whose release can be told to fail.

    :param renewals: what each renewal does in turn: an exception to raise, or the answer; ``True`` once spent.
    :param release_error: raised by :meth:`release_lock` when set.
    :param gate: when set, each renewal waits for it to open (at most ``WAIT_S``) before it answers, as a slow store.
    """

    def __init__(
        self,
        renewals: list[Exception | bool],
        release_error: Exception | None = None,
        gate: threading.Event | None = None,
    ) -> None:
        self.renewals = list(renewals)
        self.release_error = release_error
        self.gate = gate
        self.attempts = 0
        self.keepers: list[threading.Thread] = []
        self.renewing = threading.Event()
        """Set once a renewal has begun."""
        self.in_renewal = False
        self.released_during_renewal = False
        self.released = 0
        self._lock = threading.Lock()

    def load(self, key: str) -> Mapping[str, Any] | None:
        return None

    def save(self, key: str, token_set: Mapping[str, Any]) -> None:
        raise AssertionError("a lease never saves")

    def acquire_lock(self, key: str, lease_seconds: float) -> str | None:
        return "holder-1"

    def renew_lock(self, key: str, holder: str, lease_seconds: float) -> bool:
        with self._lock:
            self.attempts += 1
            if threading.current_thread() not in self.keepers:
                self.keepers.append(threading.current_thread())
            outcome = self.renewals.pop(0) if self.renewals else True
            self.in_renewal = True
        self.renewing.set()
        try:
            if self.gate is not None:
                self.gate.wait(WAIT_S)
            if isinstance(outcome, Exception):
                raise outcome
            return outcome
        finally:
            with self._lock:
                self.in_renewal = False

    def release_lock(self, key: str, holder: str) -> bool:
        with self._lock:
            self.released += 1
            self.released_during_renewal |= self.in_renewal
        if self.release_error is not None:
            raise self.release_error
        return True


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.DEBUG):
        yield caplog


def test_a_configuration_error_ends_the_renewals_after_one_attempt_and_names_the_setting(
    logs: pytest.LogCaptureFixture,
) -> None:
    # The keeper caught it, logged its class and tried again every interval: the lease ended in silence.
    error = refused("evalsha")
    store = ScriptedLockStore([error])
    assert isinstance(store, LockingTokenStore)
    lease = Lease(store, KEY, "holder-1", LEASE_S, renew_every=AT_ONCE)
    assert store.renewing.wait(WAIT_S), "the keeper should try to renew"
    store.keepers[0].join(WAIT_S)
    assert not store.keepers[0].is_alive(), "the keeper should stop at a configuration error"
    assert store.attempts == 1
    assert lease.lost
    assert lease.failure is error
    with pytest.raises(ConfigError) as caught:
        lease.check()
    assert caught.value.field == STORE_FIELD
    assert caught.value.fields == [STORE_FIELD]
    message = caught.value.user_message
    assert message.startswith("The token store refused to renew the refresh lock")
    assert "token_store: the Redis server at redis://connector:***@cache.example:6379/0 refused" in message
    assert "no permissions to run the 'evalsha' command" in message
    assert "token_store: the Redis server" in logs.text  # the log names it too, at once
    lease.release()
    assert store.released == 1
    assert CANARY_PASSWORD not in logs.text + message + repr(caught.value) + repr(lease)


def test_another_error_that_retrying_will_not_change_is_raised_as_the_store_raised_it() -> None:
    error = ConnectorError("The token store's account may not renew locks.", failure_type=FailureType.AUTH)
    store = ScriptedLockStore([error])
    lease = Lease(store, KEY, "holder-1", LEASE_S)
    assert not lease.renew_once()
    assert lease.lost
    with pytest.raises(ConnectorError) as caught:
        lease.check()
    assert caught.value is error
    lease.release()


@pytest.mark.parametrize(
    "failure",
    [
        TransientError(f"The Redis server of the token store ({shown_url(URL)}) cannot be reached (ConnectionError)"),
        ConnectorError("The lock service is busy.", failure_type=FailureType.TRANSIENT),
        OSError(f"lock server gone while renewing {URL}"),  # a host's store's own exception: its words are not shown
    ],
    ids=["TransientError", "a ConnectorError classified transient", "any other exception"],
)
def test_a_transient_failure_is_retried_and_the_lease_kept(failure: Exception, logs: pytest.LogCaptureFixture) -> None:
    store = ScriptedLockStore([failure, failure, True])
    lease = Lease(store, KEY, "holder-1", LEASE_S)
    assert [lease.renew_once() for _ in range(3)] == [True, True, True]  # the renewals go on after each failure
    assert store.attempts == 3
    assert not lease.lost
    assert lease.failure is None
    lease.check()  # nothing to report
    lease.release()
    assert "could not renew the refresh lock" in logs.text
    assert CANARY_PASSWORD not in logs.text


def test_release_waits_for_a_renewal_in_progress_and_its_refusal_is_reported() -> None:
    # release() stopped the keeper without waiting: a refusal the renewal in progress brought came after check() had
    # found nothing, and was lost.
    gate = threading.Event()
    store = ScriptedLockStore([refused("evalsha")], gate=gate)
    lease = Lease(store, KEY, "holder-1", LEASE_S, renew_every=AT_ONCE)
    assert store.renewing.wait(WAIT_S), "the keeper should begin a renewal"

    class AnswersOnStop(threading.Event):
        def set(self) -> None:
            super().set()
            gate.set()  # the store answers once the lock is being released, not before

    lease._stop = AnswersOnStop()  # the keeper waits in the store now, not on the event
    lease.release()
    assert not store.keepers[0].is_alive()
    assert not store.released_during_renewal
    assert lease.lost
    with pytest.raises(ConfigError) as caught:
        lease.check()
    assert caught.value.field == STORE_FIELD
    assert store.attempts == 1
    assert store.released == 1


def test_release_waits_for_a_store_that_does_not_answer_no_longer_than_the_lease(
    logs: pytest.LogCaptureFixture,
) -> None:
    gate = threading.Event()  # opened only after release() returned: the renewal hangs until then
    store = ScriptedLockStore([], gate=gate)
    lease = Lease(store, KEY, "holder-1", 0.05, renew_every=AT_ONCE)
    assert store.renewing.wait(WAIT_S), "the keeper should begin a renewal"
    try:
        lease.release()
        assert store.in_renewal, "release() should return while the renewal still hangs"
        assert store.released == 1
        assert "has not answered the refresh lock's renewal within the lease (0.05 s)" in logs.text
        lease.check()  # no answer, nothing to report
    finally:
        gate.set()
        store.keepers[0].join(WAIT_S)
    assert not store.keepers[0].is_alive()


def test_release_without_waiting_leaves_a_hanging_renewal_and_releases_at_once(
    logs: pytest.LogCaptureFixture,
) -> None:
    # After the work under the lock failed (a Ctrl-C), nothing will check the lease: waiting for a hung store would
    # hold the interrupt back for the whole lease.
    gate = threading.Event()
    store = ScriptedLockStore([], gate=gate)
    lease = Lease(store, KEY, "holder-1", LEASE_S, renew_every=AT_ONCE)
    assert store.renewing.wait(WAIT_S), "the keeper should begin a renewal"
    try:
        lease.release(wait=False)
        assert store.in_renewal, "release(wait=False) should not wait for the renewal"
        assert store.released == 1
        assert "has not answered" not in logs.text
    finally:
        gate.set()
        store.keepers[0].join(WAIT_S)
    assert not store.keepers[0].is_alive()


def test_release_logs_the_stores_words_naming_the_setting_without_secrets(logs: pytest.LogCaptureFixture) -> None:
    # Only the error's class was logged ("ConfigError"): nothing said which setting to fix.
    store = ScriptedLockStore([], release_error=refused("evalsha"))
    lease = Lease(store, KEY, "holder-1", LEASE_S)
    lease.release()
    assert store.released == 1
    assert "could not release the refresh lock" in logs.text
    assert "token_store: the Redis server at redis://connector:***@cache.example:6379/0" in logs.text
    assert "no permissions to run the 'evalsha' command" in logs.text
    assert not lease.lost  # the lock stays taken until its lease ends: nobody else has it
    lease.check()  # a failed release is logged, not raised: the work under the lock is done
    careless = ScriptedLockStore([], release_error=OSError(f"cannot release on {URL}"))
    Lease(careless, KEY, "holder-1", LEASE_S).release()
    assert "could not release the refresh lock (OSError)" in logs.text
    assert CANARY_PASSWORD not in logs.text


def test_a_redis_user_without_scripting_loses_the_lease_and_is_told_which_setting(
    redis_server: RedisServer, logs: pytest.LogCaptureFixture
) -> None:
    # Such a user may take the lock (SET NX PX) but not renew or release it (EVALSHA): the keeper retried for ever.
    admin = redis_server.client()
    user = f"lease-{time.time_ns()}"
    admin.acl_setuser(
        user, enabled=True, passwords=[f"+{CANARY_PASSWORD}"], keys=["*"], commands=["+@all", "-@scripting"]
    )
    url = f"redis://{user}:{CANARY_PASSWORD}@127.0.0.1:{redis_server.port}/0"
    store = RedisTokenStore(url, key=Fernet.generate_key(), namespace=f"test-lease-{time.time_ns()}")
    try:
        lease = SharedLock(store, KEY, lease_seconds=LEASE_S).try_acquire()
        assert lease is not None
        assert not lease.renew_once()  # the keeper's renewal, at once
        assert lease.lost
        with pytest.raises(ConfigError) as caught:
            lease.check()
        lease.release()
    finally:
        store.close()
        admin.acl_deluser(user)
        admin.close()
    assert caught.value.field == STORE_FIELD
    assert f"redis://{user}:***@127.0.0.1:{redis_server.port}/0" in caught.value.user_message
    assert "no permissions to run the 'evalsha' command" in caught.value.user_message
    assert "could not release the refresh lock" in logs.text
    assert CANARY_PASSWORD not in caught.value.user_message + caught.value.internal_message + logs.text
