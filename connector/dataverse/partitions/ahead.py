"""A query's first page requested while the table's metadata is read.

A connection's first query of a table reads the table's metadata (its primary key) before anything else, one round
trip to the service before the first page is even asked for. When the first page's request does not depend on that
metadata (an OData read with no key range and no filter value that needs the table's types), it is sent at the
same time, on a thread of its own, and the read takes its answer once it knows the request it would have sent
first is exactly that one. Not for deciding whether a read is partitioned: :mod:`connector.dataverse.operations.query`.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor

from connector.dataverse.partitions.ranges import PageOutcome, RangeQuery

__all__ = ["FirstPageAhead"]

_log = logging.getLogger(__name__)


class FirstPageAhead:
    """The first page of a read, requested ahead.

    :param url: the page's URL.
    :param answer: the page's outcome, once read (it raises what :meth:`RangeQuery.read_first` raises).
    """

    def __init__(self, url: str, answer: Future[PageOutcome]) -> None:
        self.url = url
        self._answer: Future[PageOutcome] | None = answer

    @classmethod
    def start(cls, source: RangeQuery) -> FirstPageAhead:
        """Request ``source``'s first page on a thread of its own.

        :param source: the read's requests (its primary key need not be known: the first page's URL does not name
            it when the read has no key range).
        :returns: the page ahead.
        """
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="query-first-page")
        try:
            return cls(source.first_url(), executor.submit(source.read_first))
        finally:
            executor.shutdown(wait=False)

    def take(self, url: str) -> PageOutcome | None:
        """The page's outcome, when ``url`` is the request it answers.

        :param url: the first request the read would send.
        :returns: the outcome, or ``None`` when the read's first request is another one (the page ahead is dropped).
        :raises ConnectorError: as reading the page would.
        """
        answer, self._answer = self._answer, None
        if answer is None:
            return None
        if url != self.url:
            _log.debug("the first page read ahead is not the read's first request; dropped")
            _settle(answer)
            return None
        return answer.result()

    def discard(self) -> None:
        """Drop the page if it was not taken, once its request has ended (idempotent)."""
        answer, self._answer = self._answer, None
        if answer is not None:
            _settle(answer)


def _settle(answer: Future[PageOutcome]) -> None:
    """Wait for a page nobody takes, so that no request outlives the read; its failure is nobody's failure."""
    error = answer.exception()
    if error is not None:
        _log.debug("a first page read ahead and dropped failed: %s", type(error).__name__)
