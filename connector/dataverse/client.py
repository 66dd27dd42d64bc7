"""A thin Web API client: URLs under the API root, the OData headers every request carries, ``Prefer`` values,
and the custom URL query parameters of an operation.

It sends through :class:`~connector.transport.Transport` (time-outs, proxy, retries, the bearer token) and returns
raw responses; the operations turn them into results. It knows nothing of any one operation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final
from urllib.parse import quote, urlencode, urljoin

import requests

from connector.settings import ConnectionSettings
from connector.transport import Transport, origin_of

__all__ = ["ODATA_HEADERS", "DataverseClient", "encode_query"]

ODATA_HEADERS: Final[Mapping[str, str]] = {
    "Accept": "application/json",
    "OData-MaxVersion": "4.0",
    "OData-Version": "4.0",
}
"""Headers every Web API request carries (Dataverse's documented set)."""


def encode_query(params: Iterable[tuple[str, str]]) -> str:
    """Percent-encode query parameters as UTF-8, keeping OData's ``$`` and ``,`` readable.

    :param params: name/value pairs in order.
    :returns: the query string without the leading ``?``.
    """
    return urlencode(list(params), quote_via=quote, safe="$,()'@/:")


class DataverseClient:
    """Sends Web API requests for one connection.

    :param transport: the connection's authenticated transport.
    :param settings: the connection's settings (for the API root).
    """

    def __init__(self, transport: Transport, settings: ConnectionSettings) -> None:
        self.transport = transport
        self.api_root = settings.api_root
        self.origin = origin_of(settings.api_root)

    def url(self, path: str, query: Sequence[tuple[str, str]] = ()) -> str:
        """Build an absolute URL.

        :param path: relative to the API root (``accounts(…)``), or absolute (an edit link, a next link).
        :param query: query parameters, encoded with :func:`encode_query`.
        :returns: the URL.
        """
        base = path if "://" in path else urljoin(self.api_root, path.lstrip("/"))
        if not query:
            return base
        return f"{base}{'&' if '?' in base else '?'}{encode_query(query)}"

    def headers(self, prefer: Sequence[str] = (), extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """:returns: the OData headers, a ``Prefer`` header when there are preferences, and any extra headers."""
        headers = dict(ODATA_HEADERS)
        if prefer:
            headers["Prefer"] = ",".join(prefer)
        if extra:
            headers.update(extra)
        return headers

    def send(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, str]] = (),
        prefer: Sequence[str] = (),
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
    ) -> requests.Response:
        """Send one request and return the final response (any status).

        :param method: the HTTP method.
        :param path: relative to the API root, or absolute.
        :param query: query parameters.
        :param prefer: ``Prefer`` values.
        :param headers: extra headers (``If-Match``, ``MSCRM.*`` ...).
        :param json: the JSON body.
        :param idempotent: see :meth:`Transport.send`.
        :returns: the response.
        """
        request_headers = self.headers(prefer, headers)
        if json is not None:
            request_headers["Content-Type"] = "application/json; charset=utf-8"
        return self.transport.send(
            method, self.url(path, query), headers=request_headers, json=json, idempotent=idempotent
        )
