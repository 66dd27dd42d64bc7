"""The one retry engine: a loop that sends a request until its answer is final, steered by injected policies.

:class:`Retrier` is the loop. What it does with each outcome comes from what it is given:

* **the outcome table** (:data:`HTTP_ACTIONS`): which statuses are retried after ``Retry-After`` (429, 503), retried
  with backoff (502, 504), renew the token once (401), or fail. Any other 2xx (and 304) succeeds, a redirect (any
  other 3xx) fails as configuration, any other 4xx/5xx fails;
* **the bounds** (:class:`RetryPolicy`): attempts, total time, the longest ``Retry-After`` worth waiting;
* **a backoff** (:class:`Backoff`; :class:`JitteredBackoff`: exponential with full jitter);
* **a gate** (:class:`Gate`): admits each attempt and hears how it ended. A connection's transport uses a
  :class:`SharedPause` (while one thread waits out a ``Retry-After``, every thread of the connection waits); a bulk
  run plugs in its adaptive concurrency limit (:mod:`connector.dataverse.bulk.sender`);
* **the resend rule** (:class:`ResendRule`) with the request's ``idempotent`` flag: a request the service may
  have acted on (no answer once it may have left; a 502, a 504, a 503 without ``Retry-After``) is sent again only
  when it is idempotent by construction; a 429, or a 503 with ``Retry-After``, says the service did not act on it,
  so any request is sent again after one;
* **a clock, a sleep and a wall clock**, so tests never sleep.

A send that got no answer raises :class:`NoAnswerError` to the loop; the loop gives up with a
:class:`~connector.errors.TransientError` (``ambiguous`` when the request may have been processed and was therefore
not sent again). The final answer carries a :class:`Delivery` (:func:`delivery_of`): how many attempts it took,
whether the request was sent again after an attempt the service may have acted on (so that a 412 or 404 may answer
the earlier attempt's work), and whether the answer itself leaves open what the service did. Not for building
requests, attaching tokens or turning error answers into errors: :mod:`connector.transport` does that, and knows which
exceptions of ``requests`` mean "no answer".
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
from connector.numerals import whole_number

__all__ = [
    "HTTP_ACTIONS",
    "LONGEST_RETRY_AFTER",
    "Action",
    "Attempt",
    "Backoff",
    "Delivery",
    "Gate",
    "JitteredBackoff",
    "NoAnswerError",
    "ResendRule",
    "Retrier",
    "RetryPolicy",
    "SharedPause",
    "action_for",
    "delivery_of",
    "is_redirect",
    "note_delivery",
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
"""HTTP statuses that are not plain success or plain failure. Any other 2xx succeeds, and so does ``304 Not
Modified`` (a conditional read's answer); any other 3xx is a redirect, never success: it fails as configuration (no
request follows redirects, see :func:`is_redirect`). Any other 4xx/5xx fails without a retry (``REMOTE``): 400, 403,
404, 405, 409, 412, 413, 500 among them."""


def is_redirect(status: int) -> bool:
    """:returns: whether a status is a redirect: any 3xx but ``304 Not Modified``."""
    return 300 <= status < 400 and status != 304


def action_for(
    status: int, table: Mapping[int, tuple[Action, FailureType]] = HTTP_ACTIONS
) -> tuple[Action, FailureType | None]:
    """:returns: the action for an HTTP status, and the failure type when it is an error."""
    if status in table:
        return table[status]
    if is_redirect(status):
        return Action.FAIL, FailureType.CONFIG
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
    """Which retryable answers say that the service did not act on a request, so that any request may be sent again.

    Every other retryable answer leaves open whether the service acted on the request: a ``502`` or ``504`` comes
    from a gateway that may have passed it on, and a ``503`` without ``Retry-After`` may too (a front end whose
    origin timed out). So does a failure once the request may have left (a connection reset or a time-out while
    waiting for the answer). After one of those, only an idempotent request is sent again: one whose repeat cannot
    apply it twice (a client-assigned key checked by read-back, ``If-Match``, ``If-None-Match: *``, or a method that
    is idempotent). A connection that was never made always may be retried.

    :param not_processed: answers that refuse a request before it runs, whatever they carry: ``429``, Dataverse's
        service protection limits, whose documented remedy is to send the request again after ``Retry-After``
        seconds (reference: dataverse-webapi.md §5).
    :param not_processed_with_retry_after: answers that say so when they carry ``Retry-After``: ``503``, the service
        itself telling when to come back (RFC 9110 §15.6.4).
    """

    not_processed: frozenset[int] = frozenset({429})
    not_processed_with_retry_after: frozenset[int] = frozenset({503})

    def unprocessed(self, status: int, retry_after: float | None) -> bool:
        """:param status: a retryable answer's status.
        :param retry_after: the seconds its ``Retry-After`` asked for, ``None`` without one.
        :returns: whether the answer says the service did not act on the request.
        """
        if status in self.not_processed:
            return True
        return retry_after is not None and status in self.not_processed_with_retry_after


LONGEST_RETRY_AFTER: Final = 366 * 24 * 3600.0
"""The most seconds a ``Retry-After`` is read as (a year): longer than any wait a policy allows, and a number every
clock and ``time.sleep`` can add."""


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Read a ``Retry-After`` header.

    :param value: the header: seconds (``"30"``) or an HTTP date.
    :param now: the current wall-clock time (epoch seconds), for dates.
    :returns: seconds to wait (never negative, at most :data:`LONGEST_RETRY_AFTER`), or ``None`` when absent or
        unreadable.
    """
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        seconds = whole_number(value)
        # However many digits: the service asked for longer than anyone waits, not for a short default back-off.
        return LONGEST_RETRY_AFTER if seconds is None else min(float(seconds), LONGEST_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return min(max(0.0, when.timestamp() - now), LONGEST_RETRY_AFTER)


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
    :param unsettled: the service may have acted on this attempt (no answer once the request may have left, or a
        retryable answer that does not say it was not processed).
    """

    number: int
    response: requests.Response | None = None
    action: Action | None = None
    retry_after: float | None = None
    wait: float = 0.0
    again: bool = False
    unsettled: bool = False


@dataclass(frozen=True)
class Delivery:
    """How a request's final answer came about: what the code reading the answer needs to read it right.

    :param attempts: how many times the request was sent.
    :param idempotent: whether the request was sent as idempotent.
    :param resent: it was sent again after an attempt the service may have acted on, so a refusal (a ``412`` for a
        condition, a ``404``) may answer what that earlier attempt did rather than the state the request expected.
    :param unsettled: the final answer itself leaves open whether the service acted on the request (a ``502``,
        ``504``, or ``503`` without ``Retry-After``).
    """

    attempts: int = 1
    idempotent: bool = True
    resent: bool = False
    unsettled: bool = False

    @property
    def ambiguous(self) -> bool:
        """Whether the request may have been processed and was not sent again for that reason."""
        return self.unsettled and not self.idempotent


_DELIVERY: Final = "_connector_delivery"


def note_delivery(response: requests.Response, delivery: Delivery) -> None:
    """Attach a :class:`Delivery` to an answer (the engine does so for every final answer).

    :param response: the answer.
    :param delivery: how it came about.
    """
    vars(response)[_DELIVERY] = delivery


def delivery_of(response: requests.Response) -> Delivery:
    """:returns: how an answer came about: the engine's record, or a single plain attempt for an answer that did
    not come through the engine (a part of a batch answer is given its batch's record).
    """
    found = getattr(response, _DELIVERY, None)
    return found if isinstance(found, Delivery) else Delivery()


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
    :param said: what is known of the failure, for the message (a proxy's answer), replacing "failed".
    :param field: the settings field to check, when the failure points at one.
    """

    def __init__(
        self,
        origin: str,
        *,
        timed_out: bool,
        reached: bool,
        cause: str,
        said: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(f"no answer from {origin} ({cause})")
        self.origin = origin
        self.timed_out = timed_out
        self.reached = reached
        self.cause = cause
        self.said = said
        self.field = field

    def as_error(self, *, ambiguous: bool) -> TransientError:
        """:param ambiguous: whether the request may have been processed and was not sent again for that reason.
        :returns: the error to raise.
        """
        if self.said:
            message = f"The connection to {self.origin} failed: {self.said}"
        else:
            message = f"The connection to {self.origin} {'timed out' if self.timed_out else 'failed'}"
        if ambiguous:
            message += "; the request may have been processed, so it was not sent again"
        return TransientError(
            message,
            internal_message=f"{message}: {self.cause}",
            ambiguous=ambiguous,
            timed_out=self.timed_out,
            field=self.field,
        )


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
        :returns: the final answer, whatever its status: a retryable one once the bounds are spent, or one the
            service may have acted on when the request is not idempotent. It carries its :class:`Delivery`
            (:func:`delivery_of`).
        :raises TransientError: when no answer came and the request was not, or could no longer be, sent again.
        """
        started = self._clock()
        number = 0
        renewed = False
        resent = False  # sent again after an attempt the service may have acted on
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
                    note_delivery(attempt.response, Delivery(number, idempotent, resent, attempt.unsettled))
                    return attempt.response
                renewed = renewed or attempt.action is Action.RENEW_TOKEN
                attempt.response.close()
            resent = resent or attempt.unsettled
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
            return Attempt(number, wait=wait, again=True, unsettled=failure.reached)
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
        unsettled = not self.resend.unprocessed(status, retry_after)
        again = self._within_bounds(number, started, wait) and (idempotent or not unsettled)
        if again:
            _log.info("%s answered %d; retrying in %.1f s", label, status, wait)
        elif unsettled and not idempotent:
            _log.info("%s answered %d; the service may have acted on it, so it is not sent again", label, status)
        return Attempt(number, response, action, retry_after, wait, again, unsettled)

    def _within_bounds(self, number: int, started: float, wait: float) -> bool:
        if number >= self.policy.max_attempts or wait > self.policy.max_retry_after_seconds:
            return False
        return self._clock() + wait - started <= self.policy.max_total_seconds
