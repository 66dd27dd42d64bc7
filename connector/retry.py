"""The one retry engine: a loop that sends a request until its answer is final, steered by injected policies.

:class:`Retrier` is the loop. What it does with each outcome comes from what it is given:

* **the outcome table** (:data:`HTTP_ACTIONS`): which statuses are retried after ``Retry-After`` (429, 503), retried
  with backoff (502, 504), renew the token once (401), or fail. Any other 2xx/3xx is final, any other 4xx/5xx fails;
* **the bounds** (:class:`RetryPolicy`): attempts, total time, the longest ``Retry-After`` worth waiting;
* **a backoff** (:class:`Backoff`; :class:`JitteredBackoff`: exponential with full jitter);
* **a gate** (:class:`Gate`): admits each attempt and hears how it ended. A connection's transport uses a
  :class:`SharedPause` (while one thread waits out a ``Retry-After``, every thread of the connection waits); a bulk
  run plugs in its adaptive concurrency limit (:mod:`connector.dataverse.bulk.sender`);
* **the resend rule** (:class:`ResendRule`) with the request's ``idempotent`` flag: whether a request the service
  may have acted on is sent again;
* **a clock, a sleep and a wall clock**, so tests never sleep.

A send that got no answer raises :class:`NoAnswerError` to the loop; the loop gives up with a
:class:`~connector.errors.TransientError` (``ambiguous`` when the request may have been processed and was therefore
not sent again). Not for building requests, attaching tokens or turning error answers into errors:
:mod:`connector.transport` does that, and knows which exceptions of ``requests`` mean "no answer".
"""

from __future__ import annotations

import email.utils
import enum
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol, TypeVar

import requests

from connector.errors import FailureType, TransientError

__all__ = [
    "HTTP_ACTIONS",
    "Action",
    "Attempt",
    "Backoff",
    "Gate",
    "JitteredBackoff",
    "NoAnswerError",
    "ResendRule",
    "Retrier",
    "RetryPolicy",
    "SharedPause",
    "action_for",
    "parse_retry_after",
]

_log = logging.getLogger(__name__)


class Action(enum.Enum):
    """What to do with an HTTP outcome."""

    SUCCEED = "succeed"
    RETRY_AFTER = "retry_after"
    """Wait for ``Retry-After`` (or back off when absent), then retry."""
    RETRY_BACKOFF = "retry_backoff"
    """Back off exponentially with jitter, then retry."""
    RENEW_TOKEN = "renew_token"  # noqa: S105 - an action name, not a secret
    """Renew the access token once and retry; a second 401 fails."""
    FAIL = "fail"


HTTP_ACTIONS: Final[Mapping[int, tuple[Action, FailureType]]] = {
    401: (Action.RENEW_TOKEN, FailureType.AUTH),
    407: (Action.FAIL, FailureType.CONFIG),
    429: (Action.RETRY_AFTER, FailureType.TRANSIENT),
    502: (Action.RETRY_BACKOFF, FailureType.TRANSIENT),
    503: (Action.RETRY_AFTER, FailureType.TRANSIENT),
    504: (Action.RETRY_BACKOFF, FailureType.TRANSIENT),
}
"""HTTP statuses that are not plain success or plain failure. Any other 2xx/3xx succeeds; any other 4xx/5xx fails
without a retry (``REMOTE``): 400, 403, 404, 405, 409, 412, 413, 500 among them."""


def action_for(
    status: int, table: Mapping[int, tuple[Action, FailureType]] = HTTP_ACTIONS
) -> tuple[Action, FailureType | None]:
    """:returns: the action for an HTTP status, and the failure type when it is an error."""
    if status in table:
        return table[status]
    if status < 400:
        return Action.SUCCEED, None
    return Action.FAIL, FailureType.REMOTE


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds on retrying.

    :param max_attempts: attempts per request, the first included.
    :param max_total_seconds: give up when the next wait would end later than this after the first attempt.
    :param backoff_base_seconds: the first backoff's ceiling; it doubles with each retry.
    :param backoff_cap_seconds: the largest backoff ceiling.
    :param max_retry_after_seconds: the longest single ``Retry-After`` the connector agrees to wait.
    """

    max_attempts: int = 8
    max_total_seconds: float = 600.0
    backoff_base_seconds: float = 0.5
    backoff_cap_seconds: float = 30.0
    max_retry_after_seconds: float = 300.0


@dataclass(frozen=True)
class ResendRule:
    """When a request that is not idempotent is sent again. An idempotent one always may be (within the bounds).

    A failure once the request may have left (a connection reset or a time-out while waiting for the answer) never
    re-sends it: the service may have acted on it. A connection that was never made always may be retried.

    :param after_statuses: retryable answers after which it is sent again. The default is every retryable status
        of :data:`HTTP_ACTIONS`, the rule the connector has always had; 502 and 504 come from a gateway that may
        have passed the request on, so a stricter rule leaves them out.
    """

    after_statuses: frozenset[int] = frozenset({429, 502, 503, 504})


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Read a ``Retry-After`` header.

    :param value: the header: seconds (``"30"``) or an HTTP date.
    :param now: the current wall-clock time (epoch seconds), for dates.
    :returns: seconds to wait (never negative), or ``None`` when absent or unreadable.
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


class Backoff(Protocol):
    """How long to wait before a retry the service gave no time for."""

    def delay(self, attempt: int) -> float:
        """:param attempt: the number of the attempt that failed, the first being 1.
        :returns: seconds to wait.
        """
        ...


class JitteredBackoff:
    """Exponential backoff with full jitter: a uniform wait below a ceiling that doubles with each attempt.

    :param base_seconds: the first ceiling.
    :param cap_seconds: the largest ceiling.
    :param rng: the jitter's random source.
    """

    def __init__(self, base_seconds: float, cap_seconds: float, rng: random.Random | None = None) -> None:
        self.base_seconds = base_seconds
        self.cap_seconds = cap_seconds
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography

    def delay(self, attempt: int) -> float:
        """:returns: a wait between 0 and ``min(cap, base * 2 ** (attempt - 1))``."""
        return self._rng.uniform(0, min(self.cap_seconds, self.base_seconds * 2 ** (attempt - 1)))


@dataclass(frozen=True)
class Attempt:
    """How one attempt ended, and what the engine does next: what a :class:`Gate` hears.

    :param number: the attempt's number, the first being 1.
    :param response: the answer; ``None`` when there was none (a network failure, or an error raised while sending).
    :param action: what the outcome table says about the answer.
    :param retry_after: the seconds the answer's ``Retry-After`` asked for, when it said (retryable answers only).
    :param wait: the seconds before the next attempt.
    :param again: whether the engine sends the request again.
    """

    number: int
    response: requests.Response | None = None
    action: Action | None = None
    retry_after: float | None = None
    wait: float = 0.0
    again: bool = False


PassT = TypeVar("PassT")


class Gate(Protocol[PassT]):
    """Admits each attempt and hears how it ended: where concurrency limits and service-wide pauses live."""

    def enter(self) -> PassT:
        """Wait until the attempt may be sent.

        :returns: the pass to hand back to :meth:`leave`.
        """
        ...

    def leave(self, admitted: PassT, attempt: Attempt) -> bool:
        """Hear how an attempt ended; called exactly once per :meth:`enter`, also when sending raised.

        :param admitted: what :meth:`enter` returned for it.
        :param attempt: how it ended.
        :returns: whether the gate makes the wait before the next attempt (holding back every thread it admits);
            if not, the engine sleeps :attr:`Attempt.wait` in this thread alone.
        """
        ...


class SharedPause:
    """A gate shared by the threads of one connection: after a ``Retry-After`` answer (429, 503), no thread sends
    until the wait has passed. Concurrency is not limited.

    :param clock: monotonic seconds.
    :param sleep: how to wait.
    """

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._not_before = 0.0
        self._lock = threading.Lock()

    def hold_until(self, moment: float) -> None:
        """Let no thread send before ``moment`` (monotonic seconds); an earlier moment changes nothing."""
        with self._lock:
            self._not_before = max(self._not_before, moment)

    def enter(self) -> None:
        """Sleep until the pause is over."""
        # Wait again only if another thread pushed the pause further meanwhile. Progress is tracked from what was
        # slept, not from re-reading the clock, so an injected clock that does not move while sleeping cannot spin.
        waited_until = self._clock()
        while True:
            with self._lock:
                not_before = self._not_before
            if not_before <= waited_until:
                return
            self._sleep(not_before - waited_until)
            waited_until = not_before

    def leave(self, admitted: None, attempt: Attempt) -> bool:
        """Pause every thread when an answer asked for a wait (``Retry-After`` or, without one, the backoff)."""
        if attempt.again and attempt.action is Action.RETRY_AFTER:
            self.hold_until(self._clock() + attempt.wait)
            return True
        return False


class NoAnswerError(Exception):
    """An attempt got no answer: the connection failed, was reset, timed out, or the body was cut off.

    Raised by the send function a :class:`Retrier` calls; the loop retries or turns it into a
    :class:`~connector.errors.TransientError`.

    :param origin: where the request went (``https://host``), for the message.
    :param timed_out: whether the attempt timed out (else the connection failed).
    :param reached: whether the request may have reached the service; ``False`` when the connection was never
        made, so sending again cannot duplicate anything.
    :param cause: the underlying exception's type name, for the internal message.
    """

    def __init__(self, origin: str, *, timed_out: bool, reached: bool, cause: str) -> None:
        super().__init__(f"no answer from {origin} ({cause})")
        self.origin = origin
        self.timed_out = timed_out
        self.reached = reached
        self.cause = cause

    def as_error(self, *, ambiguous: bool) -> TransientError:
        """:param ambiguous: whether the request may have been processed and was not sent again for that reason.
        :returns: the error to raise.
        """
        message = f"The connection to {self.origin} {'timed out' if self.timed_out else 'failed'}"
        if ambiguous:
            message += "; the request may have been processed, so it was not sent again"
        return TransientError(message, internal_message=f"{message}: {self.cause}", ambiguous=ambiguous)


class Retrier:
    """Sends a request until its answer is final. Thread-safe when its gate is.

    :param policy: the bounds.
    :param table: the outcome table.
    :param backoff: waits the service gave no time for; defaults to :class:`JitteredBackoff` from the policy.
    :param gate: admits attempts; defaults to a :class:`SharedPause` of this retrier's own.
    :param resend: when a request that is not idempotent is sent again.
    :param clock: monotonic seconds, for the total-time bound.
    :param sleep: how to wait when the gate does not.
    :param wall_clock: epoch seconds, for ``Retry-After`` dates.
    """

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        table: Mapping[int, tuple[Action, FailureType]] = HTTP_ACTIONS,
        backoff: Backoff | None = None,
        gate: Gate[Any] | None = None,
        resend: ResendRule | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self.table = table
        self.backoff = backoff or JitteredBackoff(self.policy.backoff_base_seconds, self.policy.backoff_cap_seconds)
        self.gate: Gate[Any] = gate or SharedPause(clock, sleep)
        self.resend = resend or ResendRule()
        self._clock = clock
        self._sleep = sleep
        self._wall_clock = wall_clock

    def run(
        self,
        send: Callable[[], requests.Response],
        *,
        idempotent: bool,
        renew: Callable[[], bool] | None = None,
        label: str = "request",
    ) -> requests.Response:
        """Send until the answer is final or the bounds are spent.

        :param send: sends the request once; raises :class:`NoAnswerError` when no answer came.
        :param idempotent: whether sending again after the service may have acted on the request is safe.
        :param renew: renews the access token after a 401; returns ``False`` when it cannot (no token was sent).
            Called at most once per request.
        :param label: names the request in logs (method and path; never a query string).
        :returns: the final answer, whatever its status: a retryable one once the bounds are spent.
        :raises TransientError: when no answer came and the request was not, or could no longer be, sent again.
        """
        started = self._clock()
        number = 0
        renewed = False
        while True:
            number += 1
            admitted = self.gate.enter()
            attempt = Attempt(number)  # what the gate hears if sending raises
            try:
                attempt = self._attempt(send, number, started, idempotent, None if renewed else renew, label)
            finally:
                held = self.gate.leave(admitted, attempt)
            if attempt.response is not None:
                if not attempt.again:
                    return attempt.response
                renewed = renewed or attempt.action is Action.RENEW_TOKEN
                attempt.response.close()
            if not held and attempt.wait > 0:
                self._sleep(attempt.wait)

    def _attempt(
        self,
        send: Callable[[], requests.Response],
        number: int,
        started: float,
        idempotent: bool,
        renew: Callable[[], bool] | None,
        label: str,
    ) -> Attempt:
        try:
            response = send()
        except NoAnswerError as failure:
            if failure.reached and not idempotent:
                raise failure.as_error(ambiguous=True) from None
            wait = self.backoff.delay(number)
            if not self._within_bounds(number, started, wait):
                raise failure.as_error(ambiguous=False) from None
            _log.debug("retrying %s after %s (attempt %d)", label, failure.cause, number)
            return Attempt(number, wait=wait, again=True)
        status = response.status_code
        action, _ = action_for(status, self.table)
        _log.debug("%s -> %d", label, status)
        if action is Action.RENEW_TOKEN and renew is not None and renew():
            return Attempt(number, response, action, again=True)
        if action not in (Action.RETRY_AFTER, Action.RETRY_BACKOFF):
            return Attempt(number, response, action)
        retry_after = None
        if action is Action.RETRY_AFTER:
            retry_after = parse_retry_after(response.headers.get("Retry-After"), self._wall_clock())
        wait = self.backoff.delay(number) if retry_after is None else retry_after
        again = self._within_bounds(number, started, wait) and (idempotent or status in self.resend.after_statuses)
        if again:
            _log.info("%s answered %d; retrying in %.1f s", label, status, wait)
        return Attempt(number, response, action, retry_after, wait, again)

    def _within_bounds(self, number: int, started: float, wait: float) -> bool:
        if number >= self.policy.max_attempts or wait > self.policy.max_retry_after_seconds:
            return False
        return self._clock() + wait - started <= self.policy.max_total_seconds
