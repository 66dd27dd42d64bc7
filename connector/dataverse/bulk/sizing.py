"""How many records each bulk request of a run holds: few at first, twice as many each time, and more than 1000 only
while the service's answers say that a request that large is answered well within its time.

Microsoft's guidance for the bulk actions on standard tables (Learn, "Use bulk operation messages", *Number of
records*): a request becomes more efficient per record as it holds more, which "gives you an incentive to send the
largest number of records you can in each request"; there is no set limit, only the request's size and the time it
takes; "1,000 records per request is a reasonable place to start if the size of the record data is small and there
are no plug-ins", and clients should let the number be configured "so that you can adapt by sending fewer". For
elastic tables it recommends 100 records per request, sent in parallel. A ``$batch`` holds at most 1000 requests.

So a route's requests (one route per bulk action, and ``$batch``) close at:

* first, an eighth of the smaller of ``batch_size`` and :data:`SUGGESTED` (at least ``min_batch_size``), so the
  service starts while the rest of the input is prepared; with ``all_or_nothing``, a whole request from the first,
  as its change sets are the unit of rollback the user chose;
* then twice the last size, up to :data:`SUGGESTED` while nothing is answered yet; past it, twice the last or as
  many as the route's latest answer predicts are answered within the **time budget** if that is fewer (a quarter of
  the read time-out, and of Dataverse's 2 minutes when the read time-out is longer: 30 s by default); never above
  ``batch_size`` (nor :data:`ELASTIC` on an elastic table, nor :data:`BATCH_PARTS` for ``$batch`` and change sets);
* an answer that predicts the current size takes longer than the budget (plug-ins, a busy environment) makes the
  route's requests smaller, as small as fits the budget but not below ``min_batch_size``: the sending "fewer"
  Microsoft advises; a request that got no answer in time (a time-out, a gateway's ``502``/``503``/``504`` once the
  retries are spent) counts as one that took twice the budget, so the next ones hold half as many (a connection
  reset says nothing of the service's speed and teaches nothing);
* never more than the run may have out at once (:attr:`RequestSizes.most_out`: its concurrency limit plus two
  chunks of 1000), so its memory does not grow with its requests. A route whose limit is below ``min_batch_size``
  (an elastic table's 100) still sends whole requests of its limit.

The prediction is the time the latest answer took (from sending to its headers, without the time spent waiting for a
place within the concurrency limit) divided by its records, times the next size. Byte size bounds every request as
well (``max_request_bytes``, the runner's). Not for grouping documents: :mod:`connector.dataverse.bulk.runner`.
"""

from __future__ import annotations

import threading
from typing import Final

from connector.dataverse.bulk.options import BulkOptions
from connector.dataverse.bulk.plan import BATCH
from connector.settings import DEFAULT_TIMEOUT_MS

__all__ = ["BATCH_PARTS", "BUDGET_SHARE", "ELASTIC", "RAMP", "SUGGESTED", "RequestSizes", "request_budget"]

SUGGESTED: Final = 1000
"""Microsoft's suggested start for small records: requests grow to it without asking the service."""
BATCH_PARTS: Final = 1000
"""The most requests in one ``$batch`` (Dataverse's limit), and so in one change set."""
ELASTIC: Final = 100
"""Records per bulk request on an elastic table (Microsoft's recommendation)."""
RAMP: Final = 8
"""A route's first request holds ``1 / RAMP`` of its suggested size."""
BUDGET_SHARE: Final = 0.25
"""The share of the read time-out a request is expected to take at most."""


def request_budget(read_timeout: float | None) -> float:
    """:returns: the seconds a request is expected to take at most: :data:`BUDGET_SHARE` of the read time-out, and
    of Dataverse's own 2 minutes when the read time-out is longer (or unbounded).
    """
    dataverse = DEFAULT_TIMEOUT_MS / 1000
    return BUDGET_SHARE * min(read_timeout or dataverse, dataverse)


class RequestSizes:
    """The record counts at which a run's requests close, by route. Thread-safe: the run's thread closes requests,
    its workers report answers.

    :param options: the run's bulk options.
    :param budget: the seconds a request is expected to take at most (:func:`request_budget`).
    """

    def __init__(self, options: BulkOptions, budget: float) -> None:
        self.options = options
        self.budget = budget
        self.most_out = (options.max_concurrency + 2) * min(options.batch_size, SUGGESTED)
        """The most records a run has out at once: what its concurrency limit plus two chunks held before requests
        could grow past 1000 (a run's memory does not grow with its requests)."""
        self._sizes: dict[str, int] = {}
        self._seconds_per_record: dict[str, float] = {}
        self._lock = threading.Lock()

    def most(self, route: str, *, elastic: bool = False) -> int:
        """:returns: the most records a request of ``route`` may hold."""
        if route == BATCH or self.options.all_or_nothing:
            return min(self.options.batch_size, BATCH_PARTS)
        if elastic:
            return min(self.options.batch_size, ELASTIC)
        return min(self.options.batch_size, self.most_out)

    def first(self, route: str, *, elastic: bool = False) -> int:
        """:returns: the records of a route's first request."""
        most = self.most(route, elastic=elastic)
        if self.options.all_or_nothing:
            return most
        return self._within(most, -(-min(most, SUGGESTED) // RAMP))

    def size(self, route: str, *, elastic: bool = False) -> int:
        """:returns: the records at which the route's open request closes."""
        with self._lock:
            size = self._sizes.get(route)
        return size if size is not None else self.first(route, elastic=elastic)

    def closed(self, route: str, *, elastic: bool = False) -> None:
        """A request of ``route`` was closed at its size: the next may hold twice as many, or as many as the route's
        latest answer predicts fit the budget if that is fewer, within the limits.
        """
        most = self.most(route, elastic=elastic)
        with self._lock:
            current = self._sizes.get(route) or self.first(route, elastic=elastic)
            grown = 2 * current
            rate = self._seconds_per_record.get(route)
            if rate is None:
                if grown > SUGGESTED:  # nothing answered yet: no further than Microsoft's suggestion
                    grown = max(current, SUGGESTED)
            elif rate * grown > self.budget:
                grown = int(self.budget / rate)
            self._sizes[route] = self._within(most, grown)

    def answered(self, route: str, records: int, seconds: float, *, elastic: bool = False) -> None:
        """A request of ``route`` holding ``records`` was answered after ``seconds``: what the next ones can hold.

        :param route: the request's route.
        :param records: the records it held.
        :param seconds: from sending it to its answer's headers (nothing is learnt from zero).
        """
        if records > 0 and seconds > 0:
            self._learn(route, seconds / records, elastic=elastic)

    def unanswered(self, route: str, records: int, *, elastic: bool = False) -> None:
        """A request of ``route`` holding ``records`` got no answer in time (a time-out, a gateway's error once the
        retries were spent): it counts as one that took twice the budget, so the next ones hold half as many.
        """
        if records > 0:
            self._learn(route, 2 * self.budget / records, elastic=elastic)

    def _learn(self, route: str, rate: float, *, elastic: bool) -> None:
        with self._lock:
            self._seconds_per_record[route] = rate
            current = self._sizes.get(route) or self.first(route, elastic=elastic)
            if rate * current > self.budget:
                self._sizes[route] = self._within(self.most(route, elastic=elastic), int(self.budget / rate))

    def _within(self, most: int, records: int) -> int:
        """:returns: ``records``, but at least ``min_batch_size`` (fewer go one request per record) and at most
        ``most``.
        """
        return min(most, max(self.options.min_batch_size, records))
