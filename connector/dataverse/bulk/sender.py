"""Sending one bulk request: through the connection's retry engine, with the run's adaptive concurrency limit as its
gate.

A bulk run sends through a :class:`~connector.transport.Transport` of its own (same settings, token source, retry
bounds and error describer as the connection's, and the connection's pool of open connections:
:meth:`~connector.transport.Transport.sharing_pool`) whose
:class:`~connector.retry.Gate` is a :class:`LimitGate` over the run's
:class:`~connector.dataverse.bulk.concurrency.AdaptiveLimit`. So the retries are :class:`~connector.retry.Retrier`'s,
as for every other request, and only what the limit learns is bulk's own: every ``429`` (or ``503``) with
``Retry-After`` reaches the limit at once, which closes its gate for that long before any other thread of the run
sends again and halves the concurrency (or, for Dataverse's concurrent-request refusal, learns a ceiling); a
``502``/``504``, a ``503`` without ``Retry-After`` or a network failure backs off in its own thread and tells the
limit nothing. A network failure is retried only when re-sending is safe (the request is idempotent, or it never
left); a ``401`` renews the token once.
Not for building requests or reading answers: :mod:`connector.dataverse.bulk.runner`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from typing import Final

import requests

from connector.dataverse.bulk.concurrency import AdaptiveLimit, Outcome, Ticket
from connector.dataverse.odata.answers import describe_error
from connector.numerals import whole_number
from connector.retry import Action, Attempt
from connector.transport import Transport

__all__ = ["BUDGET_HEADER", "CONCURRENCY_LIMIT_CODE", "DOP_HINT_HEADER", "BulkSender", "LimitGate", "dop_hint"]

CONCURRENCY_LIMIT_CODE: Final = "0x80072326"
"""Dataverse's error code for "Number of concurrent requests exceeded the limit" (reference §5)."""
DOP_HINT_HEADER: Final = "x-ms-dop-hint"
"""The degree of parallelism the service recommends (Learn, "Send parallel requests": use its value)."""
MOST_PARALLEL: Final = 256
"""The largest hint taken: the most concurrency the bulk option allows."""
BUDGET_HEADER: Final = "x-ms-ratelimit-burst-remaining-xrm-requests"
"""Requests left in the service's window (reference §5: a debug header, not to be relied on)."""


class LimitGate:
    """A run's :class:`~connector.dataverse.bulk.concurrency.AdaptiveLimit` as the retry engine's gate: each attempt
    takes a place within the limit, and each answer tells the limit what it learns.

    :param limit: the run's concurrency limit.
    """

    def __init__(self, limit: AdaptiveLimit) -> None:
        self.limit = limit

    def enter(self) -> Ticket:
        """:returns: the limit's ticket, once the limit's gate is open and a place is free."""
        return self.limit.acquire()

    def leave(self, admitted: Ticket, attempt: Attempt) -> bool:
        """Report the attempt to the limit.

        :returns: ``True`` for an answer with ``Retry-After``: the limit's gate makes the wait, for every thread.
        """
        response = attempt.response
        if response is None or (attempt.again and attempt.action is Action.RENEW_TOKEN):
            self.limit.release(admitted, Outcome.FAILED)  # no answer, or a 401: nothing about the service's limits
            return False
        if attempt.action is Action.RETRY_AFTER and attempt.retry_after is not None:
            concurrency = response.status_code == 429 and describe_error(response).code == CONCURRENCY_LIMIT_CODE
            self.limit.release(admitted, Outcome.THROTTLED, attempt.retry_after, concurrency=concurrency)
            return True
        if attempt.action in (Action.RETRY_AFTER, Action.RETRY_BACKOFF):
            self.limit.release(admitted, Outcome.FAILED)
            return False
        self.limit.release(admitted, Outcome.HEALTHY, remaining=_remaining(response), hint=dop_hint(response))
        return False


class BulkSender:
    """Sends the bulk requests of one run. Thread-safe; close it when the run ends.

    :param transport: the connection's transport (its settings, token source, retry policy and error describer are
        used).
    :param limit: the run's concurrency limit.
    :param sleep: how to wait between retries (injectable for tests).
    :param clock: monotonic seconds, for the policy's time bound.
    :param wall_clock: epoch seconds, for ``Retry-After`` dates.
    :param rng: the jitter's random source.
    """

    def __init__(
        self,
        transport: Transport,
        limit: AdaptiveLimit,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.limit = limit
        self.policy = transport.policy
        self._transport = transport.sharing_pool(
            gate=LimitGate(limit), concurrency=limit.maximum, clock=clock, sleep=sleep, wall_clock=wall_clock, rng=rng
        )

    def close(self) -> None:
        """Close the run's own pooled connections, if it has any (normally it shares the connection's)."""
        self._transport.close()

    def send(
        self, method: str, url: str, *, headers: Mapping[str, str], body: bytes, idempotent: bool
    ) -> requests.Response:
        """Send one request and return its final answer (any status but a retried one).

        :param method: the HTTP method.
        :param url: the absolute URL.
        :param headers: the request's headers (the bearer token is added by the transport).
        :param body: the request body.
        :param idempotent: whether re-sending after the request may have reached the service is safe.
        :returns: the answer; a ``429`` or ``5xx`` only once the policy's bounds are spent.
        :raises TransientError: when the network fails and re-sending is not safe (``ambiguous``), or retries are
            spent.
        :raises ConfigError: when the proxy, TLS or URL setup is wrong.
        """
        return self._transport.send(method, url, headers=headers, data=body, idempotent=idempotent)


def dop_hint(response: requests.Response) -> int | None:
    """The degree of parallelism the service recommends for the environment (``x-ms-dop-hint``: Learn, "Send parallel
    requests"), or ``None`` when the answer has none or an unusable one (the header is the service's text: only a
    whole number from 1 to :data:`MOST_PARALLEL` is taken).
    """
    hint = whole_number(response.headers.get(DOP_HINT_HEADER))
    return hint if hint is not None and 1 <= hint <= MOST_PARALLEL else None


def _remaining(response: requests.Response) -> int | None:
    """The requests left in the service's budget, from its debug header (a hint only; absent or odd: ``None``)."""
    return whole_number(response.headers.get(BUDGET_HEADER))
