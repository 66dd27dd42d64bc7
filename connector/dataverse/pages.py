"""Reading a collection one page at a time: what a plain Query and a change-tracking Query share.

:func:`read_page` GETs one page and reads it again when its body arrives cut off or malformed (GET is safe to
repeat); :func:`follow_link` resolves the service's ``@odata.nextLink`` (or ``@odata.deltaLink``) without the
operation's custom query parameters, refusing a link to another origin. Not for building the first request: see
:mod:`connector.dataverse.query` and :mod:`connector.dataverse.changes`.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any, Final
from urllib.parse import unquote

import requests

from connector.dataverse.client import ForeignLinkError
from connector.dataverse.outcomes import error_result
from connector.dataverse.replies import json_body
from connector.dataverse.running import OperationContext, network_failure
from connector.errors import OperationError, TransientError
from connector.results import OperationResult

__all__ = ["PAGE_READ_ATTEMPTS", "follow_link", "read_page", "records_of", "without_parameters"]

_log = logging.getLogger(__name__)

PAGE_READ_ATTEMPTS: Final = 3
"""Reads of one page whose body arrives malformed or cut off (GET is safe to repeat)."""


def read_page(
    context: OperationContext, index: int, url: str, prefer: Sequence[str]
) -> Mapping[str, Any] | OperationResult:
    """GET one page of a collection.

    :param context: the run.
    :param index: the input document's index (for an error result).
    :param url: the page's absolute URL.
    :param prefer: the ``Prefer`` values every page of the query sends.
    :returns: the page's body (a mapping with a ``value`` list), or the error result of an error answer.
    :raises ConnectorError: when the page could not be read in :data:`PAGE_READ_ATTEMPTS` attempts.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            response = context.client.send("GET", url, prefer=prefer)
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


def records_of(page: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """:returns: the page's records (members of ``value`` that are objects)."""
    for record in page["value"]:
        if isinstance(record, Mapping):
            yield record


def follow_link(
    context: OperationContext, link: str, parameters: Sequence[tuple[str, str]], field: str = "@odata.nextLink"
) -> str:
    """Resolve a link the service gave for the next request of this query.

    :param context: the run.
    :param link: the service's next link or delta link.
    :param parameters: the operation's custom query parameters (taken out of the link).
    :param field: the annotation the link came from, for the error.
    :returns: the absolute URL to GET.
    :raises OperationError: when the link points to another origin (it is not followed, and no token goes there).
    """
    try:
        return without_parameters(context.client.link(link), {name for name, _ in parameters})
    except ForeignLinkError as error:
        raise OperationError(
            f"The service's {field} points to another origin ({error}); it was not followed, and the query "
            "stopped after the records already returned",
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
