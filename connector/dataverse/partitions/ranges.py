"""A Query restricted to a range of its table's primary key: the request that reads one page of a range, OData or
FetchXML, and how the read goes on when it is not partitioned after all.

Each range is read in the key's order, one page per request, each request a query of its own starting after the
last key read (``<key> gt <last>``, ``$orderby=<key>``): the paging the service does itself with its paging cookie,
written out, so that a range can be cut in two between two pages. Whether a range has more than the page it
returned is the service's word: ``@odata.nextLink`` (OData, read with ``Prefer: odata.maxpagesize``) or
``@Microsoft.Dynamics.CRM.morerecords`` (FetchXML). The first page of the whole query is exactly the request a
sequential read sends (no ``$orderby``: "If you don't add any order elements to your query, Dataverse adds an order
based on the primary key of the table", learn.microsoft.com/power-apps/developer/data-platform/fetchxml/order-rows,
"Ordering and paging"), so a read of one page costs what it did, and the read can go on sequentially from it
(:meth:`RangeQuery.continue_sequentially`) when the service turns out not to order keys as
:mod:`~connector.dataverse.partitions.keys` models, or refuses a comparison of keys.

:func:`range_query` builds the :class:`RangeQuery` of one input document. Not for scheduling ranges:
:mod:`connector.dataverse.partitions.reader`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connector.dataverse.odata.fetchxml import (
    MORE_RECORDS,
    PAGING_ANNOTATIONS,
    PAGING_COOKIE,
    FetchQuery,
    paging_cookie_of,
    parse_fetch,
)
from connector.dataverse.operations.pages import PageSender, follow_link, follow_pages, read_page
from connector.dataverse.operations.query_options import QueryOptions
from connector.dataverse.operations.running import OperationContext
from connector.dataverse.partitions.keys import KeyRange
from connector.errors import ConnectorError, OperationError
from connector.results import OperationResult

__all__ = ["RangeQuery", "joined_filter", "query_range", "range_query"]

PageOutcome = Mapping[str, Any] | OperationResult


def query_range(options: QueryOptions) -> KeyRange:
    """:returns: the key range the ``key_range`` option restricts the query to (every key when not given)."""
    return KeyRange(options.key_after, options.key_up_to)


def joined_filter(expression: str, key_range: KeyRange, primary_key: str) -> str:
    """:returns: a ``$filter`` expression and a key range joined by ``and`` (either may be empty)."""
    bounds = key_range.odata_filter(primary_key)
    if expression and bounds:
        return f"({expression}) and {bounds}"
    return expression or bounds


@dataclass(frozen=True)
class RangeQuery:
    """The requests of one input document's query, for any key range.

    :param context: the run.
    :param index: the input document's index.
    :param primary_key: the table's primary key (``accountid``).
    :param within: the range the whole query is restricted to (the ``key_range`` option); its first page is
        ``url(within)``.
    :param prefer: the ``Prefer`` values every request sends.
    :param parameters: the custom query parameters (sent with every request: each is a query of its own).
    :param expression: for OData, the user's ``$filter`` expression (empty for none).
    :param fetch: for FetchXML, the user's query.
    """

    context: OperationContext[QueryOptions]
    index: int
    primary_key: str
    within: KeyRange
    prefer: tuple[str, ...]
    parameters: tuple[tuple[str, str], ...]
    expression: str = ""
    fetch: FetchQuery | None = None

    @property
    def page_size(self) -> int:
        """The records one request returns at most."""
        return self.context.options.page_size

    def first_url(self) -> str:
        """:returns: the URL of the query's first page: exactly the request a sequential read sends first (no
        ``$orderby``: Dataverse orders a query that names no order by the primary key).
        """
        return self._url(self.within, ordered=False)

    def url(self, key_range: KeyRange) -> str:
        """:returns: the URL of the first page of a range (one within :attr:`within`), in the key's order."""
        return self._url(key_range, ordered=True)

    def _url(self, key_range: KeyRange, *, ordered: bool) -> str:
        client = self.context.client
        if self.fetch is not None:
            restricted = self.fetch.with_key_conditions(self.primary_key, key_range.conditions(), ordered=ordered)
            text = restricted.page(self.fetch.first_page, self.page_size, None)
            return client.url(self.context.entity_set, [("fetchXml", text), *self.parameters])
        query = self.context.options.select_expand()
        expression = joined_filter(self.expression, key_range, self.primary_key)
        if expression:
            query.append(("$filter", expression))
        if ordered:
            query.append(("$orderby", f"{self.primary_key} asc"))
        return client.url(self.context.entity_set, [*query, *self.parameters])

    def read_first(self) -> PageOutcome:
        """Read the query's first page, as a sequential read does.

        :returns: the page's body, or the error result of an error answer.
        :raises ConnectorError: when the page cannot be read.
        """
        return read_page(self.context, self.index, self.first_url(), self.prefer)

    def read(self, key_range: KeyRange, send: PageSender | None = None) -> PageOutcome:
        """Read the first page of a range.

        :param key_range: the range (its lower bound is the last key already read).
        :param send: how to send (``None``: the connection's client).
        :returns: the page's body, or the error result of an error answer.
        :raises ConnectorError: when the page cannot be read.
        """
        return read_page(self.context, self.index, self.url(key_range), self.prefer, send=send)

    def last_key(self, send: PageSender | None = None) -> str | None:
        """Ask for the query's last key (``$select=<key>&$orderby=<key> desc&$top=1``, with the query's OData filter
        and range; FetchXML queries are probed over their whole range): how far ranges are worth cutting.

        :param send: how to send (``None``: the connection's client).
        :returns: the key, or ``None`` when there is none or the probe failed (ranges are then cut without it).
        """
        query = [("$select", self.primary_key)]
        expression = joined_filter(self.expression, self.within, self.primary_key)
        if expression:
            query.append(("$filter", expression))
        query += [("$orderby", f"{self.primary_key} desc"), ("$top", "1")]
        url = self.context.client.url(self.context.entity_set, query)
        try:
            page = read_page(self.context, self.index, url, (), send=send)
        except ConnectorError:
            return None
        rows = [] if isinstance(page, OperationResult) else page["value"]
        key = rows[0].get(self.primary_key) if rows and isinstance(rows[0], Mapping) else None
        return key if isinstance(key, str) else None

    def more(self, page: Mapping[str, Any]) -> bool:
        """:returns: whether the range holds records after the page (the service says so)."""
        if self.fetch is not None:
            return page.get(f"@{MORE_RECORDS}") is True
        link = page.get("@odata.nextLink")
        return isinstance(link, str) and bool(link)

    def continue_sequentially(self, page: Mapping[str, Any]) -> Iterator[PageOutcome]:
        """Read the rest of the query one page after another, after its first page (read with the full range).

        :param page: the query's first page.
        :returns: the following pages' bodies, or an error result that ends them.
        :raises ConnectorError: when a page cannot be read, or a next link leaves the API's origin.
        """
        if not self.more(page):
            return
        if self.fetch is None:
            link = follow_link(self.context, str(page["@odata.nextLink"]), self.parameters)
            yield from follow_pages(
                self.context, self.index, link, self.prefer, self.parameters, read_ahead=self.context.options.read_ahead
            )
            return
        fetch = self.fetch.with_key_conditions(self.primary_key, self.within.conditions(), ordered=False)
        number = self.fetch.first_page + 1
        while True:
            cookie = paging_cookie_of(page.get(f"@{PAGING_COOKIE}"))
            text = fetch.page(number, self.page_size, cookie)
            url = self.context.client.url(self.context.entity_set, [("fetchXml", text)])
            outcome = read_page(self.context, self.index, url, self.prefer)
            yield outcome
            if isinstance(outcome, OperationResult) or not self.more(outcome):
                return
            page = outcome
            number += 1


def range_query(
    context: OperationContext[QueryOptions],
    index: int,
    primary_key: str,
    expression: str,
    parameters: Sequence[tuple[str, str]],
) -> RangeQuery:
    """Build the range requests of one input document's query.

    :param context: the run.
    :param index: the input document's index.
    :param primary_key: the table's primary key.
    :param expression: the document's ``$filter`` expression (OData; empty for none).
    :param parameters: the document's custom query parameters.
    :returns: the range query.
    :raises OperationError: when the FetchXML cannot be parsed (the options' check refuses that earlier).
    """
    options = context.options
    within = query_range(options)
    if options.mode == "fetchxml":
        try:
            fetch = parse_fetch(options.fetch_xml or "")
        except ValueError as error:
            raise OperationError(str(error), field="options.fetch_xml") from None
        annotations = options.annotation_preference(PAGING_ANNOTATIONS)
        prefer = (annotations,) if annotations else ()
        return RangeQuery(context, index, primary_key, within, prefer, tuple(parameters), fetch=fetch)
    preferences = [f"odata.maxpagesize={options.page_size}"]
    annotations = options.annotation_preference()
    if annotations:
        preferences.append(annotations)
    return RangeQuery(context, index, primary_key, within, tuple(preferences), tuple(parameters), expression)
