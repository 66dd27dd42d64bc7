"""How many requests a bulk run keeps in flight: an adaptive limit that honours ``Retry-After`` for every thread.

:class:`AdaptiveLimit` is additive-increase/multiplicative-decrease, the way TCP shares a link: it starts low, grows
by one request for every request answered without throttling (slow start) until the first ``429``, then by one
request per round of answers; each ``429`` halves it (once per round: the answers of requests sent before the
decrease do not halve it again) and it never exceeds the configured maximum (Dataverse's 52 concurrent requests
per user by default). A ``429`` also closes a gate until its ``Retry-After`` has passed, for every thread of the run,
and after the gate opens only one request goes out (a probe) until one is answered without throttling, so no
thread sends into a throttled window it has already been told about. A ``429`` that says the concurrent-request
limit was hit (Dataverse's ``0x80072326``) teaches a ceiling instead of a halving: the number of requests that were
in flight, minus one; the limit stays under it, and probes one higher again only after a long healthy stretch (the
user's other clients may have been the cause). When an answer says that little of the request budget is left
(``x-ms-ratelimit-burst-remaining-xrm-requests``, no more than the limit), requests go one at a time until an
answer says more is left: the request that finds the budget spent is then the only one out, and no other thread's
request arrives after its ``429`` (Dataverse says not to rely on the header, so it only ever makes the limit more
careful). An answer that carries ``x-ms-dop-hint``, the degree of parallelism Dataverse recommends for the
environment (Learn, "Send parallel requests": use that value rather than a fixed number), caps the limit at it from
then on; each answer's hint replaces the last, since the environment's resources change.

Not for sending or retrying: the retry engine (:mod:`connector.retry`) does that, with this limit as its gate
through :class:`connector.dataverse.bulk.sender.LimitGate`, which reports each answer here.
"""

from __future__ import annotations

import enum
import threading
import time
from dataclasses import dataclass

__all__ = ["AdaptiveLimit", "LimitSnapshot", "Outcome", "Ticket"]


class Outcome(enum.Enum):
    """What became of one request, as far as the limit is concerned."""

    HEALTHY = "healthy"
    """Answered without throttling (whatever its status)."""
    THROTTLED = "throttled"
    """Answered ``429`` (or ``503`` with ``Retry-After``): the service asks for less."""
    FAILED = "failed"
    """No usable answer (a network failure, a gateway error): says nothing about the service's limits."""


@dataclass(frozen=True)
class Ticket:
    """Permission to send one request.

    :param epoch: how many decreases had happened when it was issued.
    :param throttles: how many throttled answers had been seen when it was issued.
    :param in_flight: requests in flight once it was issued, itself included.
    """

    epoch: int
    throttles: int
    in_flight: int = 1


@dataclass(frozen=True)
class LimitSnapshot:
    """The limit's state, for logs, tests and benchmarks.

    :param limit: the current concurrency limit.
    :param in_flight: requests sent and not yet answered.
    :param peak_in_flight: the most requests ever in flight at once.
    :param throttles: ``429`` answers seen.
    :param decreases: times the limit was lowered.
    :param ceiling: the concurrency the service was seen to refuse, minus one, if it was.
    :param hint: the degree of parallelism the service last recommended (``x-ms-dop-hint``), if it did.
    """

    limit: int
    in_flight: int
    peak_in_flight: int
    throttles: int
    decreases: int
    ceiling: int | None = None
    hint: int | None = None


class AdaptiveLimit:
    """A concurrency limit shared by the threads of one bulk run. Thread-safe.

    :param initial: the limit at the start.
    :param maximum: the limit never goes above this.
    """

    def __init__(self, initial: int, maximum: int) -> None:
        if maximum < 1:
            raise ValueError(f"maximum must be at least 1, got {maximum}")
        self.maximum = maximum
        # Real monotonic time: the gate waits on a condition variable, which only real time can wake.
        self._clock = time.monotonic
        self._limit = float(min(max(initial, 1), maximum))
        self._condition = threading.Condition()
        self._in_flight = 0
        self._peak = 0
        self._not_before = 0.0
        self._probing = False
        self._slow_start = True
        self._epoch = 0
        self._throttles = 0
        self._ceiling: int | None = None
        self._hint: int | None = None
        self._healthy_streak = 0

    def acquire(self) -> Ticket:
        """Wait until a request may be sent: the gate is open and fewer than the limit are in flight.

        :returns: the ticket to hand back to :meth:`release` with the request's outcome.
        """
        with self._condition:
            while True:
                wait = self._not_before - self._clock()
                if wait > 0:
                    self._condition.wait(wait)
                    continue
                allowed = 1 if self._probing else int(self._limit)
                if self._in_flight < allowed:
                    self._in_flight += 1
                    self._peak = max(self._peak, self._in_flight)
                    return Ticket(self._epoch, self._throttles, self._in_flight)
                self._condition.wait()

    def release(
        self,
        ticket: Ticket,
        outcome: Outcome,
        retry_after: float | None = None,
        *,
        concurrency: bool = False,
        remaining: int | None = None,
        hint: int | None = None,
    ) -> None:
        """Report a request's outcome and free its place.

        :param ticket: what :meth:`acquire` returned for it.
        :param outcome: what became of it.
        :param retry_after: for a throttled request, the seconds the service asked to wait.
        :param concurrency: for a throttled request, whether the service's concurrent-request limit refused it.
        :param remaining: for a healthy answer, the requests left in the service's budget, when it said.
        :param hint: for a healthy answer, the degree of parallelism the service recommends, when it said: the limit
            never grows above it, and comes down to it at once.
        """
        with self._condition:
            self._in_flight -= 1
            if outcome is Outcome.THROTTLED:
                self._throttled(ticket, retry_after, concurrency)
            elif outcome is Outcome.HEALTHY:
                if hint is not None:
                    self._hint = hint
                self._healthy(ticket, remaining)
            self._condition.notify_all()

    def _throttled(self, ticket: Ticket, retry_after: float | None, concurrency: bool) -> None:
        self._throttles += 1
        self._healthy_streak = 0
        self._not_before = max(self._not_before, self._clock() + max(retry_after or 0.0, 0.0))
        self._probing = True
        self._slow_start = False
        if concurrency:
            ceiling = max(1, ticket.in_flight - 1)
            self._ceiling = ceiling if self._ceiling is None else min(self._ceiling, ceiling)
            if self._limit > self._ceiling:
                self._limit = float(self._ceiling)
                self._epoch += 1
        elif ticket.epoch == self._epoch:
            # Answers to requests sent before this decrease describe the old limit: halve once per round.
            self._limit = max(1.0, self._limit / 2)
            self._epoch += 1

    def _healthy(self, ticket: Ticket, remaining: int | None) -> None:
        if remaining is not None and remaining <= int(self._limit):
            self._probing = True  # the budget is nearly spent: one at a time, so one request finds out
        elif ticket.throttles == self._throttles:
            # Only a request sent after the last throttle shows the service takes requests again.
            self._probing = False
        self._healthy_streak += 1
        if self._ceiling is not None and self._healthy_streak >= 20 * self._ceiling:
            self._ceiling += 1  # the ceiling may have been other clients' doing: probe one higher now and then
            self._healthy_streak = 0
        top = float(min(self.maximum, self._ceiling or self.maximum, self._hint or self.maximum))
        if ticket.epoch == self._epoch:
            growth = 1.0 if self._slow_start else 1.0 / self._limit
            self._limit = min(top, self._limit + growth)
        elif self._limit > top:
            self._limit = top

    def snapshot(self) -> LimitSnapshot:
        """:returns: the current state."""
        with self._condition:
            return LimitSnapshot(
                limit=int(self._limit),
                in_flight=self._in_flight,
                peak_in_flight=self._peak,
                throttles=self._throttles,
                decreases=self._epoch,
                ceiling=self._ceiling,
                hint=self._hint,
            )
