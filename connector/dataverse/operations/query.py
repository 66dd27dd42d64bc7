"""The Query operation: every matching record, one result each, streamed page by page.

For each input document the query runs once, as a generator: it requests the first page (with the operation's
custom query parameters, which never go on later pages: they are taken out of the next link, which repeats the
first request's query string), yields its records, then follows ``@odata.nextLink`` (OData) or the paging cookie
(FetchXML), holding one page at a time (two with ``read_ahead``, which requests the next page while the current
one is handed over), so memory does not depend on how many records match. A next link to
another origin is not followed. ``$top`` is honoured across pages; Dataverse ignores ``$top`` together with
``odata.maxpagesize``, so a limit larger than a page is applied while reading.
An error on any page ends that document's query with one error result after the records already returned.
With the ``change_tracking`` option the document's query is incremental instead: see
:mod:`connector.dataverse.operations.changes`; with the ``watermark`` option, by a watermark column: see
:mod:`connector.dataverse.operations.watermarks`. With the ``parallel`` option (``auto`` by default) a read whose first
page comes back full goes on as primary-key ranges read concurrently: see :mod:`connector.dataverse.partitions`;
``key_range`` restricts any read to a range of keys, and ``plan_partitions`` returns ranges instead of records.
Progress (records so far, failed, rate) goes to the runtime context's progress callback.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import requests

from connector.context import CheckpointStore, RuntimeContext
from connector.dataverse.metadata.tables import EntityInfo
from connector.dataverse.odata.fetchxml import (
    MORE_RECORDS,
    PAGING_ANNOTATIONS,
    PAGING_COOKIE,
    paging_cookie_of,
    parse_fetch,
)
from connector.dataverse.odata.filters import AttributeTypes, FilterValueError, render_filter
from connector.dataverse.operations.changes import track_changes
from connector.dataverse.operations.document_headers import for_document
from connector.dataverse.operations.inputs import as_document, document_query_parameters
from connector.dataverse.operations.outcomes import failure_result, internal_failure
from connector.dataverse.operations.pages import RecordResults, follow_pages, read_page, records_of, without_parameters
from connector.dataverse.operations.progress import ProgressMeter
from connector.dataverse.operations.query_options import QueryOptions
from connector.dataverse.operations.running import OperationContext, network_failure
from connector.dataverse.operations.watermarks import read_since_watermark
from connector.dataverse.partitions.ahead import FirstPageAhead
from connector.dataverse.partitions.plan import plan_partitions, plan_results
from connector.dataverse.partitions.ranges import joined_filter, query_range, range_query
from connector.dataverse.partitions.reader import read_partitioned
from connector.errors import ConnectorError, OperationError
from connector.results import OperationResult, ResultStatus

__all__ = ["query_records", "run_query", "without_parameters"]

_log = logging.getLogger(__name__)


def query_records(
    context: OperationContext[QueryOptions], documents: Iterable[Any], runtime: RuntimeContext
) -> Iterator[OperationResult]:
    """Run the query once per input document.

    :param context: the run.
    :param documents: the input documents (each may override custom query parameters and hold filter values).
    :param runtime: the host's runtime context: its progress callback, and its checkpoint store for
        change tracking.
    :returns: one result per record (a deletion too, with change tracking), and one failed result for a query
        that could not finish.
    """
    if runtime.progress is None:
        # Nothing to report to: no per-record counting.
        for index, raw in enumerate(documents):
            yield from _guarded_query(context, runtime.checkpoint_store, index, raw)
        return
    meter = ProgressMeter(runtime.progress, context.name)
    for index, raw in enumerate(documents):
        for result in _guarded_query(context, runtime.checkpoint_store, index, raw):
            meter.add(failed=1 if result.status is ResultStatus.FAILED else 0)
            yield result
    meter.finish()


def _guarded_query(
    context: OperationContext[QueryOptions], store: CheckpointStore, index: int, raw: Any
) -> Iterator[OperationResult]:
    try:
        document = as_document(raw)
        yield from run_query(for_document(context, document), index, document, store)
    except ConnectorError as error:
        yield failure_result(error, index)
    except requests.RequestException as error:
        yield failure_result(network_failure(error), index)
    except Exception as error:
        # A defect, not a document problem; the document still gets its result and the run goes on.
        _log.exception("query failed on document %s", index)
        yield internal_failure(index, type(error).__name__)


def run_query(
    context: OperationContext[QueryOptions], index: int, document: Mapping[str, Any], store: CheckpointStore
) -> Iterator[OperationResult]:
    """Run the query for one input document.

    :param context: the run.
    :param index: the document's index.
    :param document: the document.
    :param store: where change tracking keeps its checkpoints.
    :returns: the records' results, lazily.
    :raises ConnectorError: for a failure before or between pages (turned into one failed result by the caller).
    """
    parameters = document_query_parameters(document, context.common.query_parameters)
    if context.options.change_tracking:
        yield from track_changes(context, store, index, parameters)
        return
    if context.options.watermark is not None:
        yield from read_since_watermark(context, store, index, document, parameters)
        return
    ahead = _first_page_ahead(context, index, document, parameters)
    try:
        entity = context.metadata.entity(context.entity_set)
        options = context.options
        ranged = options.key_after is not None or options.key_up_to is not None
        if (ranged or options.plan_partitions) and not entity.primary_id:
            raise OperationError(f"{context.entity_set} has no primary key to partition by", field="options.key_range")
        if options.plan_partitions and entity.primary_id:
            ranges = plan_partitions(context, entity.primary_id, query_range(options), options.plan_partitions)
            yield from plan_results(ranges)
            return
        if entity.primary_id and options.parallel.mode != "off" and options.partition_refusal() is None:
            yield from _partitioned(context, index, entity, entity.primary_id, document, parameters, ahead)
        elif options.mode == "fetchxml":
            yield from _fetch_pages(context, index, entity, parameters)
        else:
            yield from _odata_pages(context, index, entity, document, parameters)
    finally:
        if ahead is not None:
            ahead.discard()


def _first_page_ahead(
    context: OperationContext[QueryOptions],
    index: int,
    document: Mapping[str, Any],
    parameters: Sequence[tuple[str, str]],
) -> FirstPageAhead | None:
    """Request the first page while the table's metadata is read, when the read will be partitioned if it can and
    its first request does not need the metadata (decision D58).
    """
    options = context.options
    if (
        context.metadata.knows(context.entity_set)
        or options.mode != "odata"
        or options.parallel.mode == "off"
        or options.partition_refusal() is not None
        or options.plan_partitions
        or query_range(options).conditions()
        or _filter_needs_metadata(context)
    ):
        return None
    # The primary key is not known yet; a first page without a key range does not name it.
    return FirstPageAhead.start(range_query(context, index, "", _filter_expression(context, document), parameters))


def _partitioned(
    context: OperationContext[QueryOptions],
    index: int,
    entity: EntityInfo,
    primary_key: str,
    document: Mapping[str, Any],
    parameters: Sequence[tuple[str, str]],
    ahead: FirstPageAhead | None,
) -> Iterator[OperationResult]:
    expression = _filter_expression(context, document) if context.options.mode == "odata" else ""
    source = range_query(context, index, primary_key, expression, parameters)
    first = ahead.take(source.first_url()) if ahead is not None else None
    result_of = RecordResults(context.client, entity)
    for outcome in read_partitioned(source, primary_key, context.options.parallel, first):
        if isinstance(outcome, OperationResult):
            yield outcome
            return
        for record in records_of(outcome):
            yield result_of(record)


def _odata_pages(
    context: OperationContext[QueryOptions],
    index: int,
    entity: EntityInfo,
    document: Mapping[str, Any],
    parameters: Sequence[tuple[str, str]],
) -> Iterator[OperationResult]:
    options = context.options
    top = options.top
    page_size = options.page_size
    query = options.select_expand()
    expression = _filter_expression(context, document)
    if entity.primary_id:
        expression = joined_filter(expression, query_range(options), entity.primary_id)
    if expression:
        query.append(("$filter", expression))
    if options.order_by:
        query.append(("$orderby", ",".join(str(key) for key in options.order_by)))
    prefer: list[str] = []
    if 0 <= top <= page_size:
        query.append(("$top", str(top)))
    else:
        prefer.append(f"odata.maxpagesize={page_size}")
    annotations = options.annotation_preference()
    if annotations:
        prefer.append(annotations)
    if top == 0:
        return
    url = context.client.url(context.entity_set, [*query, *parameters])
    result_of = RecordResults(context.client, entity)
    returned = 0
    for outcome in follow_pages(context, index, url, prefer, parameters, read_ahead=options.read_ahead, limit=top):
        if isinstance(outcome, OperationResult):
            yield outcome
            return
        for record in records_of(outcome):
            yield result_of(record)
            returned += 1
            if returned == top:
                return


def _fetch_pages(
    context: OperationContext[QueryOptions], index: int, entity: EntityInfo, parameters: Sequence[tuple[str, str]]
) -> Iterator[OperationResult]:
    options = context.options
    fetch = parse_fetch(options.fetch_xml or "")
    key_range = query_range(options)
    if entity.primary_id and key_range.conditions():
        fetch = fetch.with_key_conditions(entity.primary_id, key_range.conditions(), ordered=False)
    top = options.top
    page_size = options.page_size
    annotations = options.annotation_preference(PAGING_ANNOTATIONS)
    prefer = [annotations] if annotations else []
    result_of = RecordResults(context.client, entity)
    page = fetch.first_page
    cookie: str | None = None
    returned = 0
    first = True
    if top == 0:
        return
    while True:
        query = [("fetchXml", fetch.page(page, page_size, cookie))]
        url = context.client.url(context.entity_set, [*query, *(parameters if first else ())])
        first = False
        outcome = read_page(context, index, url, prefer)
        if isinstance(outcome, OperationResult):
            yield outcome
            return
        for record in records_of(outcome):
            yield result_of(record)
            returned += 1
            if returned == top:
                return
        if fetch.has_top or outcome.get(f"@{MORE_RECORDS}") is not True:
            return
        cookie = paging_cookie_of(outcome.get(f"@{PAGING_COOKIE}"))
        del outcome
        page += 1


def _filter_needs_metadata(context: OperationContext[QueryOptions]) -> bool:
    """:returns: whether rendering the filter reads the table's attribute types (a value without a literal type)."""
    group = context.options.filter
    return group is not None and any(condition.literal_type in (None, "option_set") for condition in group.conditions())


def _filter_expression(context: OperationContext[QueryOptions], document: Mapping[str, Any]) -> str:
    group = context.options.filter
    if group is None:
        return ""
    types: AttributeTypes | None = None
    if _filter_needs_metadata(context):
        # Only then is the table's metadata worth reading (once per connection).
        types = context.metadata.describe(context.entity_set)
    try:
        return render_filter(group, types, document)
    except FilterValueError as error:
        raise OperationError(f"{error.field}: {error.message}", field=error.field) from None
