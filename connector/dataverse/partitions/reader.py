"""Reading one query as primary-key ranges, concurrently: the Query option ``parallel``.

How a read goes:

1. The query's first page is requested exactly as a sequential read requests it (Dataverse orders a query that
   names no order by its primary key), or handed in when it was requested ahead (:mod:`.ahead`). When it holds
   every record, that is the whole read: one request, as without this option. Its keys, in the order the service
   returned them, must be in SQL Server's order as :mod:`~connector.dataverse.partitions.keys` models it; if they
   are not, the model is not the service's order and the read goes on sequentially.
2. Otherwise the rest of the query, the keys after the last one of page 1, is a *range* read page after page from
   its last key (:mod:`~connector.dataverse.partitions.ranges`), and the query's last key is asked for once
   (``$orderby=<key> desc&$top=1``). Whenever a request may go out, a waiting range gives a *piece* of it: its first
   nine tenths of a page's worth of keys, estimated from how densely the keys of its last page lay (the denser half
   of that page, so a page that straddles a gap between clusters of keys does not spread the estimate); the rest of
   the range keeps waiting, so the next free place goes to it at once. Pieces stop at the query's last key (past it
   there was nothing when the read began). A piece that holds more than a page is read on from its last
   key and split again by its own density; a piece that comes back empty makes the ranges after it forget their
   density, so their next request reads a page whole and finds where the keys go on. So the read follows however
   the keys are spread (Dataverse's sequential GUIDs cluster by the server that created them; client-assigned ones
   are uniform).
3. Requests go out through an adaptive concurrency limit
   (:class:`~connector.dataverse.bulk.concurrency.AdaptiveLimit`, the bulk writer's): it starts at
   ``initial_concurrency``, grows while answers come back unthrottled, halves on a ``429``, learns a ceiling from
   ``0x80072326``, and a ``429`` closes its gate for every thread until ``Retry-After`` has passed.
4. Pages are handed over **in the order they arrive**: the records of one page together, in key order; the pages of
   different ranges interleaved. No request goes out while the pages in flight plus the pages received and not yet
   handed over reach the current limit, so at most the limit plus the page being handed over are in memory.

Ranges are disjoint and together cover the query's range, so every record that exists for the whole read is
returned exactly once, with its values as of the moment its page was read. A record created during the read is
returned at most once (when its key falls where a range has not read yet), a record deleted during it at most once
(when its page was read first); no record is returned twice.

If the first request that compares keys (``<key> gt <guid>``) is answered ``400`` before any page of the parallel
part arrived, the service does not take such comparisons: the read goes on sequentially from page 1's next link (or
paging cookie). An error answer after that ends the read with that error, after the records already handed over, as
an error page ends a sequential read. Not for building requests: :mod:`~connector.dataverse.partitions.ranges`.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Final

import requests

from connector.dataverse.bulk.concurrency import AdaptiveLimit
from connector.dataverse.bulk.sender import BulkSender
from connector.dataverse.odata.fetchxml import MORE_RECORDS, PAGING_COOKIE
from connector.dataverse.operations.query_options import ParallelOptions
from connector.dataverse.partitions.keys import KeyRange, guid_at, in_sql_order, sql_order
from connector.dataverse.partitions.ranges import PageOutcome, RangeQuery
from connector.errors import OperationError
from connector.results import OperationResult

__all__ = ["FILL", "read_partitioned"]

_log = logging.getLogger(__name__)

FILL: Final = 0.9
"""A range cut ahead is sized to hold this share of a page, by the density it was estimated from, so that it is
usually read in one request."""

_CONTINUATION: Final = ("@odata.nextLink", f"@{PAGING_COOKIE}", f"@{MORE_RECORDS}")


@dataclass(eq=False)
class _Cursor:
    """A range still to read.

    :param remaining: its keys not read yet: after the last key read, up to its bound.
    :param rate: key ranks per record where it was last seen full (``None``: unknown).
    :param busy: a request for it is out.
    """

    remaining: KeyRange
    rate: int | None = None
    busy: bool = False


@dataclass
class _Run:
    """The state of one partitioned read's parallel part."""

    source: RangeQuery
    primary_key: str
    limit: AdaptiveLimit
    sender: BulkSender
    executor: ThreadPoolExecutor
    cursors: list[_Cursor] = field(default_factory=list)
    pending: dict[Future[PageOutcome], _Cursor] = field(default_factory=dict)
    ready: deque[Mapping[str, Any]] = field(default_factory=deque)
    accepted: bool = False
    sent: int = 0
    last_key: Future[str | None] | None = None

    def send(self, url: str, prefer: Sequence[str]) -> requests.Response:
        headers = self.source.context.client.headers(prefer)
        return self.sender.send("GET", url, headers=headers, body=b"", idempotent=True)

    def submit(self, cursor: _Cursor) -> None:
        cursor.busy = True
        self.sent += 1
        self.pending[self.executor.submit(self.source.read, cursor.remaining, self.send)] = cursor

    def capacity(self) -> int:
        """Requests allowed out, counting received pages not yet handed over."""
        return max(1, self.limit.snapshot().limit) - len(self.pending) - len(self.ready)

    @property
    def end(self) -> int | None:
        """The rank of the query's last key when the probe has said it (``None`` before, or for an empty answer)."""
        if self.last_key is None or not self.last_key.done() or self.last_key.exception() is not None:
            return None
        found = self.last_key.result()
        return sql_order(found) if found is not None else None

    def schedule(self) -> None:
        """Send a request for each waiting range while there is room, each time splitting a piece of at most
        :data:`FILL` pages off the range's front, so that the rest of it stays waiting and the next free place can
        go to it at once, without waiting for any page.
        """
        free = self.capacity()
        end = self.end
        if end is not None:
            # Past the query's last key there was nothing when the read began: a record created there since need
            # not be read (nor can a sequential read promise it), so no request goes there.
            self.cursors = [c for c in self.cursors if c.busy or c.remaining.low < end]
        while free > 0:
            waiting = [cursor for cursor in self.cursors if not cursor.busy]
            if not waiting:
                return
            # Bounded ranges first (pieces that turned out to hold more), then the rest of the query, in key order.
            cursor = min(waiting, key=lambda item: (item.remaining.up_to is None, item.remaining.low))
            self.submit(self.split_off(cursor))
            free -= 1

    def split_off(self, cursor: _Cursor) -> _Cursor:
        """The piece of a waiting range to request now: the whole range when it is expected to fit one request,
        else its first :data:`FILL` pages' worth of keys (by its density), the rest staying waiting.
        """
        if cursor.rate is None:
            return cursor
        low, high, end = cursor.remaining.low, cursor.remaining.high, self.end
        step = max(1, int(FILL * self.source.page_size * cursor.rate))
        cut = low + step
        if end is not None and cut >= end:
            cut = end  # the data ends within this step: the piece up to the last key, nothing past it
        if cut >= high:
            return cursor
        piece = _Cursor(KeyRange(cursor.remaining.after, guid_at(cut)), cursor.rate)
        cursor.remaining = KeyRange(guid_at(cut), cursor.remaining.up_to)
        self.cursors.append(piece)
        return piece

    def collect(self) -> OperationResult | None:
        """Wait for at least one answer and take in every answer that has come.

        :returns: the first error answer, if one came (the read ends with it).
        :raises ConnectorError: when a page could not be read at all.
        """
        done, _ = wait(self.pending, return_when=FIRST_COMPLETED)
        for future in done:
            cursor = self.pending.pop(future)
            outcome = future.result()
            if isinstance(outcome, OperationResult):
                return outcome
            self.accepted = True
            cursor.busy = False
            if self.source.more(outcome):
                keys = _keys(outcome, self.primary_key)
                if not keys:
                    raise OperationError("The service said a range has more records, but its page held no key")
                cursor.remaining = KeyRange(keys[-1], cursor.remaining.up_to)
                cursor.rate = _rate(keys) or cursor.rate
            else:
                self.cursors.remove(cursor)
                if not outcome["value"]:
                    self.lost_density(cursor.remaining.high)
            self.ready.append(outcome)
        return None

    def lost_density(self, after: int) -> None:
        """A piece came back empty: past it the keys may lie anywhere (a gap between clusters of keys), so the
        waiting ranges after it forget their density, and the next request for each reads its first page whole,
        which finds where the keys go on and how densely.
        """
        for cursor in self.cursors:
            if not cursor.busy and cursor.remaining.low >= after:
                cursor.rate = None


def read_partitioned(
    source: RangeQuery, primary_key: str, options: ParallelOptions, first: PageOutcome | None = None
) -> Iterator[PageOutcome]:
    """Read a query's pages, the rest of it in parallel once its first page comes back full.

    :param source: the query's range requests.
    :param primary_key: the table's primary key.
    :param options: the ``parallel`` option.
    :param first: the first page's outcome when it was read already (:mod:`~connector.dataverse.partitions.ahead`).
    :returns: the pages' bodies in the order they are handed over, or an error result that ends them.
    :raises ConnectorError: when a page cannot be read.
    """
    if first is None:
        first = source.read_first()
    if isinstance(first, OperationResult) or not source.more(first):
        yield first
        return
    keys = _keys(first, primary_key)
    continuation = {name: first[name] for name in _CONTINUATION if name in first}
    if len(keys) < 2 or not in_sql_order(keys):
        # Not the order the ranges would be cut in: this service (or this query) must be read as it pages.
        _log.warning("the first page's keys are not in SQL Server's uniqueidentifier order; reading sequentially")
        yield first
        yield from source.continue_sequentially(continuation)
        return
    limit = AdaptiveLimit(options.initial_concurrency, options.max_concurrency)
    executor = ThreadPoolExecutor(max_workers=options.max_concurrency, thread_name_prefix="query-range")
    sender = BulkSender(source.context.client.transport, limit)
    run = _Run(source, primary_key, limit, sender, executor)
    failure: OperationResult | None = None
    try:
        run.cursors.append(_Cursor(KeyRange(keys[-1], source.within.up_to), _rate(keys)))
        run.last_key = executor.submit(source.last_key, run.send)
        run.schedule()
        del keys
        yield first  # handed over while the next requests run
        del first
        while run.ready or (run.pending and failure is None):
            if not run.ready:
                failure = run.collect()
                if failure is not None:
                    _stop(run)
                    if not run.accepted and failure.error is not None and failure.error.status == 400:
                        _log.warning("the service refused comparing keys (%s); reading sequentially", failure.error)
                        yield from source.continue_sequentially(continuation)
                        return
                continue
            page = run.ready.popleft()
            if failure is None:
                run.schedule()
            yield page
            del page
        if failure is not None:
            # The pages already received are handed over first, as a sequential read returns what it read.
            yield failure
    finally:
        _stop(run)
        _log.debug("partitioned read: %d requests, %s", run.sent, limit.snapshot())


def _stop(run: _Run) -> None:
    """Cancel the requests not yet sent, wait for those out, and close the run's connections (idempotent)."""
    run.executor.shutdown(wait=True, cancel_futures=True)
    run.pending.clear()
    run.sender.close()


def _keys(page: Mapping[str, Any], primary_key: str) -> list[str]:
    """:returns: the primary keys of a page's records, in the page's order (records without one are skipped)."""
    found = []
    for record in page.get("value") or ():
        key = record.get(primary_key) if isinstance(record, Mapping) else None
        if isinstance(key, str):
            found.append(key)
    return found


def _rate(keys: Sequence[str]) -> int | None:
    """Key ranks per record among keys read in order: from the denser half of them (``None`` for fewer than 2)."""
    if len(keys) < 2:
        return None
    middle = len(keys) // 2
    first, half, last = sql_order(keys[0]), sql_order(keys[middle]), sql_order(keys[-1])
    spans = [(half - first, middle), (last - half, len(keys) - 1 - middle)]
    rates = [span // count for span, count in spans if count > 0 and span > 0]
    return max(1, min(rates)) if rates else None
