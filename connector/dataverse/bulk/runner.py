"""Bulk Create, Update and Upsert: the input streamed into bounded chunks, written concurrently, results in order.

:func:`write_in_bulk` is the runner of the three write operations. It reads the documents lazily, prepares each
(:mod:`connector.dataverse.bulk.plan`), and groups them by route (a bulk action, or ``$batch``) into chunks of at
most ``max_request_bytes`` bytes and as many records as the route's request size allows (small first, then larger
as the service answers: :mod:`connector.dataverse.bulk.sizing`). Chunks are written by worker threads
(:mod:`connector.dataverse.bulk.chunks`) within an adaptive concurrency limit
(:mod:`connector.dataverse.bulk.concurrency`). Results come out **in input order**, each with ``input_index`` set: a
chunk's results wait until every earlier document's result is out. Memory stays bounded for an input of any
length: at most the limit plus two chunks are in flight, and the input is not read further until one of them is
done. Every input document ends as exactly one result, so ``succeeded + failed == input``. Two documents that
write the same record are written in input order: the second waits until the first one's request is answered. A
chunk smaller than ``min_batch_size`` (a short run, or the last chunk of a route) is sent one request per document,
each exactly as without bulk.

With ``bulk.mode`` ``off`` the operation sends one request per document, in order, on the calling thread
(:func:`write_record`, which picks the write by the options' class, also sends a document alone in a bulk run).
:func:`metered` counts any operation's results for the host's progress callback. Not for building or reading
requests.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping, Sized
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import requests

from connector.context import RuntimeContext
from connector.dataverse.bulk.chunks import ChunkWriter
from connector.dataverse.bulk.concurrency import AdaptiveLimit
from connector.dataverse.bulk.options import BulkOptions
from connector.dataverse.bulk.plan import BATCH, BulkItem, Planner
from connector.dataverse.bulk.sender import BulkSender
from connector.dataverse.bulk.sizing import RequestSizes, request_budget
from connector.dataverse.operations.creates import create_record
from connector.dataverse.operations.document_headers import document_scoped
from connector.dataverse.operations.inputs import as_document
from connector.dataverse.operations.options import WriteOptions
from connector.dataverse.operations.outcomes import failure_result, internal_failure
from connector.dataverse.operations.progress import ProgressMeter
from connector.dataverse.operations.running import (
    DocumentHandler,
    OperationContext,
    each_document,
    network_failure,
    runs_with,
)
from connector.dataverse.operations.write import update_record, upsert_record
from connector.dataverse.operations.write_options import CreateOptions, RecordWriteOptions, UpdateOptions, UpsertOptions
from connector.errors import ConnectorError
from connector.results import OperationResult, ResultStatus

__all__ = ["ItemPlanner", "bulk_results", "metered", "write_in_bulk", "write_record"]

_log = logging.getLogger(__name__)

_YIELD_EVERY: Final = 32
"""Documents prepared between two offers of the GIL to the workers while requests are out. Preparing documents is
pure Python and holds the GIL; a worker that wants it back after each read or write of its connection (a TLS
handshake, a body sent, an answer read) would otherwise wait out CPython's switch interval (5 ms) every time: a new
connection's request reached the service 30 ms after it was sent, while the service sat idle (D68)."""

_FAILED: Final = frozenset({ResultStatus.FAILED, ResultStatus.APPLICATION_ERROR, ResultStatus.UNKNOWN})


def write_in_bulk(
    context: OperationContext[RecordWriteOptions], documents: Iterable[Any], runtime: RuntimeContext
) -> Iterator[OperationResult]:
    """Run Create, Update or Upsert over documents, in bulk requests unless ``bulk.mode`` is ``off``.

    :param context: a run of Create, Update or Upsert (its options say which, and hold the ``bulk`` option).
    :param documents: the input documents, read lazily.
    :param runtime: the host's runtime context: progress (documents done, failed, rate) goes to its callback.
    :returns: one result per document, in input order, streamed.
    """
    options = context.options.bulk
    total = len(documents) if isinstance(documents, Sized) else None
    meter = ProgressMeter(runtime.progress, context.name, total=total)
    single = document_scoped(write_record)  # each document with its own headers (@connector.headers)
    if options.mode == "off":
        results = each_document(context, documents, single)
    else:
        results = bulk_results(context, options, single, Planner(context, options), documents)
    yield from metered(results, meter)


def write_record(
    context: OperationContext[RecordWriteOptions], index: int, document: Mapping[str, Any]
) -> OperationResult:
    """Create, update or upsert the record one document describes, as the run's options say.

    :param context: a run of Create, Update or Upsert.
    :param index: the document's index.
    :param document: the record.
    :returns: the document's result.
    :raises TypeError: for options of another kind (a defect).
    """
    if runs_with(context, CreateOptions):
        return create_record(context, index, document)
    if runs_with(context, UpdateOptions):
        return update_record(context, index, document)
    if runs_with(context, UpsertOptions):
        return upsert_record(context, index, document)
    raise TypeError(f"{type(context.options).__name__} are not the options of a record write")


def metered(results: Iterator[OperationResult], meter: ProgressMeter) -> Iterator[OperationResult]:
    """Count results as they are handed over, for the host's progress callback.

    :param results: an operation's results.
    :param meter: the run's progress meter (its final report is sent when the results end or are abandoned).
    :returns: the same results.
    """
    try:
        for result in results:
            status = result.status
            meter.add(1, failed=0 if status is ResultStatus.SUCCESS or status not in _FAILED else 1)
            yield result
    finally:
        meter.finish()


@dataclass
class _Chunk:
    route: str
    items: list[BulkItem] = field(default_factory=list)
    size: int = 0


class ItemPlanner(Protocol):
    """Prepares one document of a bulk run: :class:`~connector.dataverse.bulk.plan.Planner` for record writes,
    :class:`~connector.dataverse.bulk.deletes.DeletePlanner` for deletes.
    """

    def plan(self, index: int, document: Mapping[str, Any]) -> BulkItem:
        """:returns: the document's item. :raises ConnectorError: when it cannot be written (its own failure)."""
        ...


def bulk_results(
    context: OperationContext[WriteOptions],
    options: BulkOptions,
    single: DocumentHandler[Any],
    planner: ItemPlanner,
    documents: Iterable[Any],
) -> Iterator[OperationResult]:
    """Write documents in bulk requests: one result per document, in input order.

    :param context: the run (a record write's or a delete's).
    :param options: its bulk options.
    :param single: the operation's handler for a document sent on its own.
    :param planner: prepares each document.
    :param documents: the input documents, read lazily.
    :returns: the results, streamed.
    """
    return _BulkRun(context, options, single, planner).results(documents)


class _BulkRun:
    """One run's chunks, workers and results."""

    def __init__(
        self,
        context: OperationContext[WriteOptions],
        options: BulkOptions,
        single: DocumentHandler[Any],
        planner: ItemPlanner,
    ) -> None:
        self.context = context
        self.options = options
        self.limit = AdaptiveLimit(options.initial_concurrency, options.max_concurrency)
        self.sender = BulkSender(context.client.transport, self.limit)
        # Each route's first chunk is small and each next one larger: the first request goes out after a few records
        # are prepared, not a thousand, and the service starts while the rest are. A request is meant to take at most
        # a share of the read time-out, and of Dataverse's own 2 minutes when the user allows more.
        self.sizes = RequestSizes(options, request_budget(context.client.transport.settings.timeouts.read))
        self.writer = ChunkWriter(context, options, self.sender, single, self.sizes)
        self.planner = planner
        self._open: dict[str, _Chunk] = {}
        self._in_flight: dict[Future[list[OperationResult]], list[int]] = {}
        self._records_out = 0
        self._records: set[str] = set()
        self._ready: dict[int, OperationResult] = {}
        self._next = 0

    def results(self, documents: Iterable[Any]) -> Iterator[OperationResult]:
        executor = ThreadPoolExecutor(max_workers=self.options.max_concurrency, thread_name_prefix="bulk-write")
        try:
            for index, document in enumerate(documents):
                planned = self._plan(index, document)
                if isinstance(planned, OperationResult):
                    self._ready[index] = planned
                else:
                    self._add(executor, planned)
                if self._next in self._ready:
                    yield from self._drain()
                if self._in_flight and not index % _YIELD_EVERY:
                    time.sleep(0)  # the GIL to the workers now, not after the interpreter's 5 ms (see _YIELD_EVERY)
            for route in list(self._open):
                self._submit(executor, self._open.pop(route))
            while self._in_flight:
                self._collect(block=True)
                yield from self._drain()
            yield from self._drain()
        finally:
            # A host that stops reading abandons the rest; requests already sent finish, the queued ones do not.
            executor.shutdown(wait=True, cancel_futures=True)
            self.sender.close()
            _log.debug("bulk %s: %s", self.context.name, self.limit.snapshot())

    def _plan(self, index: int, document: Any) -> BulkItem | OperationResult:
        try:
            return self.planner.plan(index, as_document(document))
        except ConnectorError as error:
            return failure_result(error, index)
        except requests.RequestException as error:
            return failure_result(network_failure(error), index)
        except Exception as error:
            _log.exception("preparing document %s failed", index)
            return internal_failure(index, type(error).__name__)

    def _add(self, executor: ThreadPoolExecutor, item: BulkItem) -> None:
        if item.record is not None and item.record in self._records:
            # The same record again: what is written first must be answered first, as without bulk.
            for route in list(self._open):
                self._submit(executor, self._open.pop(route))
            while self._in_flight:
                self._collect(block=True)
            self._records.clear()
        if item.record is not None:
            self._records.add(item.record)
        route = item.route if self.writer.actions_supported else BATCH
        chunk = self._open.get(route)
        size = item.size
        if chunk is not None and chunk.items and chunk.size + size > self.options.max_request_bytes:
            self._submit(executor, self._open.pop(route))
            chunk = None
        if chunk is None:
            chunk = self._open[route] = _Chunk(route)
        chunk.items.append(item)
        chunk.size += size
        elastic = item.prepared.entity.elastic
        if len(chunk.items) >= self.sizes.size(route, elastic=elastic):
            self.sizes.closed(route, elastic=elastic)
            self._submit(executor, self._open.pop(route))

    def _submit(self, executor: ThreadPoolExecutor, chunk: _Chunk) -> None:
        # Bounded in flight: the input is not read further while the limit's worth of chunks (plus two) is out, nor
        # while the records out would pass what that many chunks of the suggested size hold (requests grown past it
        # are fewer at once, so memory stays where it was before they could grow: D67).
        records = len(chunk.items)
        while self._in_flight and (
            len(self._in_flight) >= self.limit.snapshot().limit + 2 or self._records_out + records > self.sizes.most_out
        ):
            self._collect(block=True)
        self._records_out += records
        future = executor.submit(self.writer.write, chunk.route, tuple(chunk.items))
        self._in_flight[future] = [item.index for item in chunk.items]
        self._collect(block=False)

    def _collect(self, *, block: bool) -> None:
        if not self._in_flight:
            return
        if block:
            done, _ = wait(self._in_flight, return_when=FIRST_COMPLETED)
        else:
            done = {future for future in self._in_flight if future.done()}
        for future in done:
            indexes = self._in_flight.pop(future)
            self._records_out -= len(indexes)
            for index, result in zip(indexes, future.result(), strict=True):
                self._ready[index] = result

    def _drain(self) -> Iterator[OperationResult]:
        while self._next in self._ready:
            yield self._ready.pop(self._next)
            self._next += 1
