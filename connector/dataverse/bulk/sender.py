"""Sending one bulk request: within the run's adaptive concurrency limit, retried as the transport's table says.

A bulk run sends through a :class:`~connector.transport.Transport` of its own that never retries (same settings,
same token source as the connection's), so that every ``429`` comes back here at once: the run's
:class:`~connector.dataverse.bulk.concurrency.AdaptiveLimit` closes its gate for ``Retry-After`` before any other thread
of the run sends again, and halves the concurrency. The rest follows :data:`~connector.transport.HTTP_ACTIONS`:
``502``/``504`` (and ``503`` without ``Retry-After``) back off with jitter; a network failure is retried only when
re-sending is safe (the request is idempotent, or it never left); all bounded by the connection's
:class:`~connector.transport.RetryPolicy`. A ``401`` still renews the token once (the transport does that).
Not for building requests or reading answers: :mod:`connector.dataverse.bulk.runner`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from typing import Final

import requests

from connector.dataverse.bulk.concurrency import AdaptiveLimit, Outcome
from connector.errors import TransientError
from connector.transport import HTTP_ACTIONS, Action, RetryPolicy, Transport, dataverse_error, parse_retry_after

__all__ = ["BUDGET_HEADER", "CONCURRENCY_LIMIT_CODE", "BulkSender"]

CONCURRENCY_LIMIT_CODE: Final = "0x80072326"
"""Dataverse's error code for "Number of concurrent requests exceeded the limit" (reference §5)."""
BUDGET_HEADER: Final = "x-ms-ratelimit-burst-remaining-xrm-requests"
"""Requests left in the service's window (reference §5: a debug header, not to be relied on)."""

_log = logging.getLogger(__name__)


class BulkSender:
    """Sends the bulk requests of one run. Thread-safe; close it when the run ends.

    :param transport: the connection's transport (its settings, token source and retry policy are used).
    :param limit: the run's concurrency limit.
    :param sleep: how to wait between retries (injectable for tests).
    :param clock: monotonic seconds, for the policy's time bound.
    :param rng: the jitter's random source.
    """

    def __init__(
        self,
        transport: Transport,
        limit: AdaptiveLimit,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.limit = limit
        self.policy = transport.policy
        self._transport = Transport(
            transport.settings,
            bearer=transport.bearer,
            policy=RetryPolicy(max_attempts=1, max_total_seconds=transport.policy.max_total_seconds),
            pool_size=limit.maximum + 1,
        )
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._wall_clock = time.time

    def close(self) -> None:
        """Close the run's pooled connections."""
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
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            ticket = self.limit.acquire()
            try:
                response = self._transport.send(method, url, headers=headers, data=body, idempotent=idempotent)
            except TransientError as error:
                self.limit.release(ticket, Outcome.FAILED)
                wait = self._backoff(attempt)
                if error.ambiguous or not self._may_retry(attempt, started, wait):
                    raise
                _log.debug("bulk request failed on the network; retrying in %.1f s (attempt %d)", wait, attempt)
                self._sleep(wait)
                continue
            except BaseException:
                self.limit.release(ticket, Outcome.FAILED)
                raise
            action, _ = HTTP_ACTIONS.get(response.status_code, (Action.SUCCEED, None))
            retry_after = parse_retry_after(response.headers.get("Retry-After"), self._wall_clock())
            if action is Action.RETRY_AFTER and retry_after is not None:
                concurrency = response.status_code == 429 and dataverse_error(response)[0] == CONCURRENCY_LIMIT_CODE
                self.limit.release(ticket, Outcome.THROTTLED, retry_after, concurrency=concurrency)
                if not self._may_retry(attempt, started, retry_after):
                    return response
                _log.info("bulk request answered %d; every thread waits %.1f s", response.status_code, retry_after)
                response.close()
                continue  # the limit's gate makes the wait, for every thread of the run
            if action in (Action.RETRY_AFTER, Action.RETRY_BACKOFF):
                self.limit.release(ticket, Outcome.FAILED)
                wait = self._backoff(attempt)
                if not self._may_retry(attempt, started, wait):
                    return response
                _log.info("bulk request answered %d; retrying in %.1f s", response.status_code, wait)
                response.close()
                self._sleep(wait)
                continue
            self.limit.release(ticket, Outcome.HEALTHY, remaining=_remaining(response))
            return response

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.policy.backoff_cap_seconds, self.policy.backoff_base_seconds * 2 ** (attempt - 1))
        return self._rng.uniform(0, ceiling)

    def _may_retry(self, attempt: int, started: float, wait: float) -> bool:
        if attempt >= self.policy.max_attempts or wait > self.policy.max_retry_after_seconds:
            return False
        return self._clock() + wait - started <= self.policy.max_total_seconds


def _remaining(response: requests.Response) -> int | None:
    """The requests left in the service's budget, from its debug header (a hint only; absent or odd: ``None``)."""
    value = response.headers.get(BUDGET_HEADER, "").strip()
    return int(value) if value.isdigit() else None
