"""Reading the Web API's answers: JSON bodies, the created record's URL, ETags and error bodies.

What the service says goes into messages and results capped (:mod:`connector.excerpts`). Bodies are read
defensively: a truncated or malformed body (a proxy cutting a response, a fault in the service)
becomes a :class:`~connector.errors.TransientError`, never a bare ``ValueError``. Dataverse's error shape
(``{"error": {"code": ..., "message": ...}}``) is read here and nowhere else: :func:`describe_error` is the error
describer the connection's :class:`~connector.transport.Transport` is given. Not for deciding what a status means
for a document: see :mod:`connector.dataverse.operations.outcomes`; nor for retrying: :mod:`connector.retry`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

from connector.errors import TransientError
from connector.excerpts import CODE_LIMIT, excerpt, excerpt_strings
from connector.transport import ErrorDescription

__all__ = ["describe_error", "entity_url_of", "error_body", "etag_of", "json_body"]


def json_body(response: requests.Response) -> Any:
    """Parse a response's JSON body.

    :param response: a response with a JSON body.
    :returns: the parsed JSON (``None`` for an empty body).
    :raises TransientError: when the body is not JSON (truncated or malformed).
    """
    if not response.content:
        return None
    try:
        return response.json()
    except (ValueError, RecursionError):  # RecursionError: nested thousands of levels deep
        raise TransientError(
            f"The service's answer ({response.status_code}) could not be read: its JSON body is malformed or cut off",
            status=response.status_code,
        ) from None


def error_body(response: requests.Response) -> dict[str, Any]:
    """The body of an error response as an output document.

    :param response: a response with status 400 or more.
    :returns: Dataverse's ``{"error": {"code": ..., "message": ...}}`` as sent, every string capped
        (:func:`~connector.excerpts.excerpt_strings`), or that shape built from the status when the body is not one.
    """
    body = _error_shaped(response)
    if body is not None:
        capped: dict[str, Any] = excerpt_strings(body)
        return capped
    return {"error": {"code": "", "message": _reason(response)}}


def describe_error(response: requests.Response) -> ErrorDescription:
    """Read Dataverse's error shape ``{"error": {"code": ..., "message": ...}}``.

    :param response: an error response.
    :returns: the code (``0x80040217``) or ``None``, and the message (the reason phrase when the body says none),
        each capped (:mod:`connector.excerpts`: 2,000 characters of the message, the rest only in the DEBUG log).
    """
    body = _error_shaped(response)
    if body is not None:
        error = body["error"]
        code = excerpt(str(error.get("code") or ""), limit=CODE_LIMIT, what="the service's error code") or None
        message = str(error.get("message") or "")
        if message:
            return ErrorDescription(code, excerpt(message, what="the service's error message"))
        return ErrorDescription(code, excerpt(response.reason or "", limit=CODE_LIMIT, what="the reason phrase"))
    return ErrorDescription(None, _reason(response))


def _reason(response: requests.Response) -> str:
    return excerpt(response.reason or "", limit=CODE_LIMIT, what="the reason phrase") or f"HTTP {response.status_code}"


def _error_shaped(response: requests.Response) -> Mapping[str, Any] | None:
    """:returns: the body when it is JSON in Dataverse's error shape, else ``None``."""
    try:
        body = response.json() if response.content else None
    except ValueError:
        return None
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        return body
    return None


def entity_url_of(response: requests.Response) -> str | None:
    """:returns: the record URL a write answered with (``OData-EntityId``, else ``Location``), if any."""
    return response.headers.get("OData-EntityId") or response.headers.get("Location")


def etag_of(response: requests.Response, body: Any = None) -> str | None:
    """:returns: the record's ETag: the body's ``@odata.etag``, else the ``ETag`` header, if any."""
    if isinstance(body, Mapping) and isinstance(body.get("@odata.etag"), str):
        return str(body["@odata.etag"])
    return response.headers.get("ETag")
