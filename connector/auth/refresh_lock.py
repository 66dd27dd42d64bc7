"""Single-flight token renewal across every connection, process and machine sharing a token store: the store's lock
of one key (:class:`~connector.context.LockingTokenStore`), taken by polling until a deadline, kept alive while held,
and released.

Rotated refresh tokens are single-use, and a server that sees one used twice revokes the whole grant (Entra's
AADSTS50173, oidc-provider, RFC 9700 §4.14.2). A lock inside one connection cannot stop two connections, processes
or machines from sending the same refresh token at the same moment; a lock the store lends can.

A store that refuses a renewal for a reason that will not pass (a ``ConfigError``: a Redis user allowed to take the
lock but not to run the renewal's script) ends the renewals at once and the lease counts as lost: retrying would let
the lease end in silence while its holder goes on as if it held the lock. The holder reports that error
(:meth:`Lease.check`); a transient failure is retried at the next interval. Releasing waits for a renewal in
progress, so its refusal is not lost, but no longer than the lease's length (a store that hangs must not hold the
holder up for ever).

Not for: deciding whether tokens need renewing or requesting them (:mod:`connector.auth.tokens`), or keeping
anything (the host's store does).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Final, TypeVar

from connector.context import LockingTokenStore, TokenStore
from connector.errors import ConfigError, ConnectorError, FailureType, TransientError

__all__ = ["DEFAULT_LEASE_SECONDS", "DEFAULT_WAIT_SECONDS", "Lease", "SharedLock"]

DEFAULT_LEASE_SECONDS: Final = 30.0
"""How long the lock stays taken without a renewal: a holder that dies blocks the others at most this long."""

DEFAULT_WAIT_SECONDS: Final = 120.0
"""How long a worker whose tokens have expired waits for another worker's renewal before it fails as transient."""

_FIRST_POLL_S: Final = 0.01
_LONGEST_POLL_S: Final = 0.25

_log = logging.getLogger(__name__)

T = TypeVar("T")


class Lease:
    """A held lock; renewed every third of its length by a daemon thread until :meth:`release`.

    :param store: the store that lent it.
    :param key: the token store key.
    :param holder: the holder token the store returned.
    :param lease_seconds: the lease's length.
    :param renew_every: seconds between renewals; a third of ``lease_seconds`` when ``None`` (a test renews at once
        while the lease stays long).
    """

    def __init__(
        self,
        store: LockingTokenStore,
        key: str,
        holder: str,
        lease_seconds: float,
        *,
        renew_every: float | None = None,
    ) -> None:
        self._store = store
        self._key = key
        self._holder = holder
        self._lease_seconds = lease_seconds
        self._renew_every = lease_seconds / 3 if renew_every is None else renew_every
        self._stop = threading.Event()
        self.lost = False
        """Whether the lock may have passed to another holder before :meth:`release`: a renewal found it taken (this
        process paused beyond the lease), or the store refused to renew it (:attr:`failure`)."""
        self.failure: ConnectorError | None = None
        """The store's error that ended the renewals, one retrying will not change (a ``ConfigError`` naming the
        ``token_store`` field); ``None`` while the renewals go on. :meth:`check` raises it."""
        self._keeper = threading.Thread(target=self._keep_alive, name="token-store-lease", daemon=True)
        self._keeper.start()

    def __repr__(self) -> str:
        return f"Lease(key={self._key!r}, lease_seconds={self._lease_seconds!r}, lost={self.lost!r})"

    def _keep_alive(self) -> None:
        while not self._stop.wait(self._renew_every):
            if not self.renew_once():
                return

    def renew_once(self) -> bool:
        """Renew the lease once, as the keeper thread does at every interval, and record what the store answered.

        Not for: the lease's holder, whose lease the keeper renews; tests call it to drive a renewal without waiting.

        :returns: whether the renewals go on: false once the store refused for a reason retrying will not change
            (:attr:`failure`), or found the lock taken (:attr:`lost`).
        """
        try:
            renewed = self._store.renew_lock(self._key, self._holder, self._lease_seconds)
        except ConnectorError as error:  # the store's own words: they name the field and never a secret
            if error.failure_type is FailureType.TRANSIENT:
                _log.warning("the token store could not renew the refresh lock, trying again: %s", error.user_message)
                return True
            # The same answer at every interval until a setting changes: the lease would end unnoticed, and
            # another worker could take the lock and send the same refresh token.
            self.failure = error
            self.lost = True
            _log.warning(
                "the token store refused to renew the refresh lock, so another worker may take it once its lease "
                "ends: %s",
                error.user_message,
            )
            return False
        except Exception as error:  # the host's store may fail in any way; try again at the next interval
            _log.warning("the token store could not renew the refresh lock (%s)", type(error).__name__)
            return True
        if not renewed and not self._stop.is_set():
            self.lost = True
            _log.warning("the refresh lock's lease ended before the renewal finished; another worker may renew")
            return False
        return True

    def release(self, *, wait: bool = True) -> None:
        """Stop renewing, wait for a renewal in progress, and release the lock. A failure is logged: the lease then
        ends by itself.

        The wait lets :meth:`check` see a refusal that renewal brings; it lasts at most the lease's length, after
        which the lease has ended anyway unless that renewal lands, and the lock is released without its answer
        (logged).

        :param wait: ``False`` when nothing will :meth:`check` (the work under the lock failed, perhaps interrupted):
            the lock is released at once, and a renewal in progress is left to end by itself.
        """
        self._stop.set()
        if wait:
            self._keeper.join(self._lease_seconds)
        if wait and self._keeper.is_alive():
            _log.warning(
                "the token store has not answered the refresh lock's renewal within the lease (%g s); releasing "
                "the lock without its answer",
                self._lease_seconds,
            )
        try:
            released = self._store.release_lock(self._key, self._holder)
        except ConnectorError as error:  # the store's own words: they name the field and never a secret
            _log.warning(
                "the token store could not release the refresh lock, so it stays taken until its lease ends: %s",
                error.user_message,
            )
            return
        except Exception as error:  # the host's store may fail in any way; its message may hold data
            _log.warning("the token store could not release the refresh lock (%s)", type(error).__name__)
            return
        if not released and not self.lost:
            self.lost = True
            _log.warning("the refresh lock's lease had ended before it was released")

    def check(self) -> None:
        """Report the store's refusal to renew the lock, once the work done under it is over and :meth:`release`
        has returned.

        Not for: work under the lock that ended in an exception: that exception is what the caller must see (an
        interrupt, the token service's refusal), and the refusal has been logged. Not for: a lease that ended because
        this process paused beyond it (:attr:`lost` without :attr:`failure`): no setting is wrong, and nothing is
        raised.

        :raises ConfigError: the store's configuration error, with its fields (``token_store``), under a summary
            saying the lock could not be kept.
        :raises ConnectorError: the store's other error that retrying will not change, as it raised it.
        """
        failure = self.failure
        if failure is None:
            return
        if isinstance(failure, ConfigError):
            raise ConfigError(
                failure.errors,
                summary=(
                    "The token store refused to renew the refresh lock, so another worker sharing it could renew the "
                    "tokens at the same time (and a server that sees a refresh token used twice revokes the "
                    "authorization)"
                ),
            )
        raise failure


class SharedLock:
    """The token store's lock of one key, as one token source uses it.

    :param store: the runtime context's token store; without the lock methods :attr:`available` is false.
    :param key: the token store key of the connection's tokens.
    :param lease_seconds: the lease's length (:data:`DEFAULT_LEASE_SECONDS`).
    :param wait_seconds: the longest wait in :meth:`acquire` (:data:`DEFAULT_WAIT_SECONDS`).
    :param sleep: waits between attempts; inject a fake one to test without waiting.
    :param monotonic: the clock of the deadline.
    """

    def __init__(
        self,
        store: TokenStore,
        key: str,
        *,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        wait_seconds: float = DEFAULT_WAIT_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store if isinstance(store, LockingTokenStore) else None
        self._key = key
        self.lease_seconds = lease_seconds
        self.wait_seconds = wait_seconds
        self._sleep = sleep
        self._monotonic = monotonic
        self.waits = 0
        """How many times this lock found another holder (for tests and diagnostics)."""

    @property
    def available(self) -> bool:
        """Whether the store lends a lock (else only the token source's own lock applies)."""
        return self._store is not None

    def try_acquire(self) -> Lease | None:
        """Take the lock once, without waiting.

        :returns: the lease, or ``None`` when another worker holds it.
        :raises TransientError: when the store fails (renewing without the lock could revoke the grant).
        :raises ConnectorError: the store's own error, as it raised it (a refused password names its field).
        """
        store = self._store
        if store is None:
            raise RuntimeError("the token store lends no lock")  # a bug: callers check `available` first
        try:
            holder = store.acquire_lock(self._key, self.lease_seconds)
        except ConnectorError:
            raise  # the store's own words, for the user (a refused password names the token_store field)
        except Exception as error:  # the host's store may fail in any way; its message may hold data
            _log.warning("the token store could not take the refresh lock (%s)", type(error).__name__)
            raise TransientError(
                "The host's token store could not lock the tokens for renewal. Try again.",
                internal_message=f"token store acquire_lock failed: {type(error).__name__}",
            ) from None
        if holder is None:
            self.waits += 1
            return None
        return Lease(store, self._key, holder, self.lease_seconds)

    def acquire(self, meanwhile: Callable[[], T | None]) -> Lease | T:
        """Take the lock, polling while another worker holds it.

        :param meanwhile: called after each refused attempt; a value other than ``None`` (tokens another worker
            saved, or ones still valid) ends the wait and is returned instead of a lease.
        :returns: the lease, or what ``meanwhile`` returned.
        :raises TransientError: when neither happened within :attr:`wait_seconds`, or the store fails.
        """
        deadline = self._monotonic() + self.wait_seconds
        pause = _FIRST_POLL_S
        while True:
            lease = self.try_acquire()
            if lease is not None:
                return lease
            value = meanwhile()
            if value is not None:
                return value
            remaining = deadline - self._monotonic()
            if remaining <= 0:
                raise TransientError(
                    "Another worker sharing the token store has been renewing the tokens for over "
                    f"{self.wait_seconds:.0f} s. Try again.",
                    internal_message="timed out waiting for the token store's refresh lock",
                )
            self._sleep(min(pause, remaining))
            pause = min(pause * 2, _LONGEST_POLL_S)
