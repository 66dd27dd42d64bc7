"""Reading a collection one page at a time: what a plain Query and a change-tracking Query share.

:func:`read_page` GETs one page and reads it again when its body arrives cut off or malformed (GET is safe to
repeat); :func:`follow_pages` follows ``@odata.nextLink`` from page to page, optionally reading the next page
while the caller handles the current one; :func:`follow_link` resolves the service's ``@odata.nextLink`` (or
``@odata.deltaLink``) without the operation's custom query parameters, refusing a link to another origin;
:class:`RecordResults` turns a page's records into results. Not for building the first request: see
:mod:`connector.dataverse.operations.query` and :mod:`connector.dataverse.operations.changes`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Final
from urllib.parse import unquote

import requests

from connector.dataverse.client import DataverseClient, ForeignLinkError, MalformedLinkError
from connector.dataverse.metadata.tables import EntityInfo
from connector.dataverse.odata.answers import json_body
from connector.dataverse.operations.inputs import EDIT_LINK, ETAG
from connector.dataverse.operations.options import OperationOptions
from connector.dataverse.operations.outcomes import error_result
from connector.dataverse.operations.output_records import record_result
from connector.dataverse.operations.running import OperationContext, network_failure
from connector.errors import OperationError, TransientError
from connector.results import OperationResult, ResultStatus

__all__ = [
    "PAGE_READ_ATTEMPTS",
    "PageSender",
    "RecordResults",
    "follow_link",
    "follow_pages",
    "read_page",
    "records_of",
    "without_parameters",
]

_log = logging.getLogger(__name__)

PAGE_READ_ATTEMPTS: Final = 3
"""Reads of one page whose body arrives malformed or cut off (GET is safe to repeat)."""

PageSender = Callable[[str, Sequence[str]], requests.Response]
"""Sends the GET of one page (its URL and ``Prefer`` values) and returns the final answer."""


def read_page(
    context: OperationContext[OperationOptions],
    index: int,
    url: str,
    prefer: Sequence[str],
    *,
    send: PageSender | None = None,
) -> Mapping[str, Any] | OperationResult:
    """GET one page of a collection.

    :param context: the run.
    :param index: the input document's index (for an error result).
    :param url: the page's absolute URL.
    :param prefer: the ``Prefer`` values every page of the query sends.
    :param send: how to send the request (``None``: the connection's client; a partitioned read sends through its
        own concurrency limit).
    :returns: the page's body (a mapping with a ``value`` list), or the error result of an error answer.
    :raises ConnectorError: when the page could not be read in :data:`PAGE_READ_ATTEMPTS` attempts.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            response = context.client.send("GET", url, prefer=prefer) if send is None else send(url, prefer)
        except requests.RequestException as error:
            # A body cut off while it was read; the transport retries only failures before an answer.
            if attempt >= PAGE_READ_ATTEMPTS:
                raise network_failure(error) from None
            _log.info("re-reading a query page after %s (attempt %d)", type(error).__name__, attempt)
            continue
        if response.status_code >= 400:
            return error_result(
                context.client.transport,
                response,
                index,
                application_errors=context.common.return_application_errors,
            )
        try:
            body = json_body(response)
            if not isinstance(body, Mapping) or not isinstance(body.get("value"), list):
                raise TransientError("The service answered a query page without a record collection")
        except TransientError:
            if attempt >= PAGE_READ_ATTEMPTS:
                raise
            _log.info("re-reading a malformed query page (attempt %d)", attempt)
            continue
        return body


def follow_pages(
    context: OperationContext[OperationOptions],
    index: int,
    url: str,
    prefer: Sequence[str],
    parameters: Sequence[tuple[str, str]],
    *,
    read_ahead: bool,
    limit: int = -1,
) -> Iterator[Mapping[str, Any] | OperationResult]:
    """Read a collection page after page, following ``@odata.nextLink``.

    With ``read_ahead``, the next page is requested (on a helper thread) as soon as a page has arrived, while the
    caller works through that page's records: the service prepares page N+1 while the process hands over page N,
    instead of one waiting for the other. Still one request at a time, and at most two pages in memory (the one
    being handed over and the next). No page is read ahead once the pages read hold ``limit`` records; a caller
    that stops early for another reason leaves at most one page read in vain.

    :param context: the run.
    :param index: the input document's index (for an error result).
    :param url: the first page's absolute URL.
    :param prefer: the ``Prefer`` values every page sends.
    :param parameters: the custom query parameters (taken out of next links).
    :param read_ahead: request the next page before the caller asks for it.
    :param limit: the most records the caller will take (``-1``: all).
    :returns: each page's body in order (the last one carries no next link; a change-tracking query's last one
        carries ``@odata.deltaLink``), or, instead of a page, the error result of an error answer, which ends it.
    :raises ConnectorError: when a page cannot be read, or a next link leaves the API's origin (after the page
        that carried it was handed over).
    """
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="query-read-ahead") if read_ahead else None
    pending: Future[Mapping[str, Any] | OperationResult] | None = None
    seen = 0
    try:
        while url:
            outcome = pending.result() if pending is not None else read_page(context, index, url, prefer)
            pending = None
            if isinstance(outcome, OperationResult):
                yield outcome
                return
            next_link = outcome.get("@odata.nextLink")
            refused: OperationError | None = None
            try:
                url = follow_link(context, next_link, parameters) if isinstance(next_link, str) and next_link else ""
            except OperationError as error:
                refused, url = error, ""
            seen += len(outcome["value"])
            if url and executor is not None and (limit < 0 or seen < limit):
                pending = executor.submit(read_page, context, index, url, prefer)
            yield outcome
            # Let this page go before the next one is taken: never more than two pages alive.
            del outcome
            if refused is not None:
                raise refused
    finally:
        if executor is not None:
            # A caller that stopped early does not wait for a page it will never read.
            executor.shutdown(wait=False, cancel_futures=True)


def records_of(page: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """:returns: the page's records (members of ``value`` that are objects)."""
    for record in page["value"]:
        if isinstance(record, Mapping):
            yield record


_CANONICAL_GUID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class RecordResults:
    """Builds the ``success`` result of each record of a query, exactly as
    :func:`~connector.dataverse.operations.output_records.record_result` does, at a fraction of its cost per record.

    A query turns every record into a result, so this is the connector's own work per record (the B1 benchmark
    measures it against a loop that only parses pages). The edit link and entity URL prefixes are written once per
    query, and a record whose primary key is already in Dataverse's form (a lower-case GUID without braces, as the
    service sends it) needs no parsing; any other record goes through ``record_result``.

    :param client: the Web API client (for absolute URLs).
    :param entity: the queried table.
    """

    def __init__(self, client: DataverseClient, entity: EntityInfo) -> None:
        self._client = client
        self._entity = entity
        self._primary_id = entity.primary_id
        self._link_prefix = f"{entity.entity_set}("
        self._url_prefix = client.url(self._link_prefix)

    def __call__(self, record: Mapping[str, Any]) -> OperationResult:
        """:returns: the record's ``success`` result (payload: the record plus its edit link; properties ``etag``,
        ``id``, ``entity_url``).
        """
        record_id = record.get(self._primary_id) if self._primary_id else None
        if type(record_id) is not str or _CANONICAL_GUID.fullmatch(record_id) is None:
            return record_result(self._client, self._entity, record, None)
        payload = dict(record)
        if EDIT_LINK not in payload:
            payload[EDIT_LINK] = f"{self._link_prefix}{record_id})"
        properties = {"id": record_id, "entity_url": f"{self._url_prefix}{record_id})"}
        etag = record.get(ETAG)
        if isinstance(etag, str):
            properties = {"etag": etag, **properties}
        return OperationResult(ResultStatus.SUCCESS, payload, properties)


def follow_link(
    context: OperationContext[OperationOptions],
    link: str,
    parameters: Sequence[tuple[str, str]],
    field: str = "@odata.nextLink",
) -> str:
    """Resolve a link the service gave for the next request of this query.

    :param context: the run.
    :param link: the service's next link or delta link.
    :param parameters: the operation's custom query parameters (taken out of the link).
    :param field: the annotation the link came from, for the error.
    :returns: the absolute URL to GET.
    :raises OperationError: when the link points to another origin (it is not followed, and no token goes there), or
        is no URL.
    """
    try:
        return without_parameters(context.client.link(link), {name for name, _ in parameters})
    except ForeignLinkError as error:
        raise OperationError(
            f"The service's {field} points to another origin ({error}); it was not followed, and the query "
            "stopped after the records already returned",
            field=field,
        ) from None
    except MalformedLinkError as error:
        raise OperationError(
            f"The service's {field} {error}; it was not followed, and the query stopped after the records already "
            "returned",
            field=field,
        ) from None


def without_parameters(url: str, names: Collection[str]) -> str:
    """Remove the custom query parameters a next link repeats.

    The service builds ``@odata.nextLink`` from the first request's query string, so it repeats the operation's
    custom parameters; they belong to the first page only. Everything else is kept byte for byte: the link stays
    the service's own.

    :param url: the next link.
    :param names: the custom parameters' names.
    :returns: the link without them.
    """
    if not names or "?" not in url:
        return url
    base, _, query = url.partition("?")
    kept = [part for part in query.split("&") if unquote(part.partition("=")[0]) not in names]
    return f"{base}?{'&'.join(kept)}" if kept else base
