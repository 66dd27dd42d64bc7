"""A thin Web API client: URLs under the API root, the OData headers every request carries, ``Prefer`` values,
and the custom URL query parameters of an operation.

It sends through :class:`~connector.transport.Transport` (time-outs, proxy, retries, the bearer token) and returns
raw responses; the operations turn them into results. A run's own headers (impersonation, custom headers: see
:mod:`connector.dataverse.request_headers`) ride on a scoped view of the connection's client (:meth:`scoped`),
which shares its transport; metadata reads use the connection's client itself, so they never carry them. It also
resolves the links the service and documents carry (edit links, next links, ``OData-EntityId``) against the API
root, refusing any that leave the API's origin or are no URL at all, and finds the part of a record's link below the
API root (:meth:`DataverseClient.record_path`), refusing a link that leaves the root or carries what a record's URL
never has. Its refusals are typed (:class:`ForeignLinkError`, :class:`OutsideRootError`, :class:`MalformedLinkError`)
and never quote a whole link, so each caller can name the field the link came from. It knows nothing of any one
operation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final
from urllib.parse import SplitResult, quote, urlencode, urlsplit

import requests

from connector.dataverse.odata.answers import json_body
from connector.excerpts import excerpt
from connector.settings import ConnectionSettings
from connector.transport import Transport, origin_of

__all__ = [
    "ODATA_HEADERS",
    "DataverseClient",
    "ForeignLinkError",
    "MalformedLinkError",
    "OutsideRootError",
    "encode_query",
]

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


_ORIGIN_SHOWN: Final = 300
"""The most characters of a foreign origin quoted (a host name has at most 253; a hostile one may have millions)."""


class ForeignLinkError(ValueError):
    """A link points outside the API's origin: following it could hand records or the token to another host.

    :param link: the link; the message quotes only its origin (cut to :data:`_ORIGIN_SHOWN` characters).
    """

    def __init__(self, link: str) -> None:
        shown = excerpt(origin_of(link), limit=_ORIGIN_SHOWN, what="a foreign link's origin")
        super().__init__(f"{shown} is not the API's origin")
        self.link = link


class OutsideRootError(ValueError):
    """A link of the API's origin that is not below the API root, or that carries what a record's URL never has.

    :param reason: what is wrong, for the message (never the user name or password a link carried).
    """


class MalformedLinkError(ValueError):
    """A link that is no URL at all, so it names no host and no record: a broken IPv6 literal (``https://[x/…``), a
    port that is no number from 0 to 65535 (``https://host:99999/…``), a host the standard library refuses. Raised
    instead of the bare :class:`ValueError` of :mod:`urllib.parse`; never followed.

    :param reason: what is wrong, for the message (never the link: it may be huge, or carry a password).
    """


_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_AUTHORITY_END: Final = re.compile(r"[/\\?#]")


def _carries_user_info(link: str) -> bool:
    """:returns: whether the link may carry a user name or password. Parsers disagree on where a link's authority is
    (``https:u:pw@host/…``, ``https:\\\\u:pw@host/…`` and ``https:///u:pw@host/…`` have none for
    :func:`~urllib.parse.urlsplit` and one for a browser), so either of two readings finds it: an ``@`` before the
    first ``(`` (a record's link holds one only inside its key), or in the authority a browser reads (after the
    scheme and any slashes, or after two slashes, up to the next slash, ``?`` or ``#``: a password may hold a ``(``).
    """
    return "@" in link.partition("(")[0] or _authority_has_user_info(link)


def _authority_has_user_info(link: str) -> bool:
    """:returns: whether the authority a browser reads in the link (after the scheme and any slashes, or after two
    slashes, up to the next slash, ``?`` or ``#``) holds an ``@``. A path has none (``accounts(…)``, ``/accounts(…)``).
    """
    text = "".join(char for char in link if char > " ")  # urlsplit drops control characters and spaces too
    scheme = _SCHEME.match(text)
    if scheme is None and not (len(text) > 1 and text[0] in "/\\" and text[1] in "/\\"):
        return False
    rest = text[scheme.end() if scheme else 0 :].lstrip("/\\")
    return "@" in _AUTHORITY_END.split(rest, maxsplit=1)[0]


def _split(link: str) -> tuple[SplitResult, str]:
    """Read a link as the standard library does.

    :returns: its parts, and its origin (``""`` when it has no authority).
    :raises MalformedLinkError: when it is no URL (:mod:`urllib.parse` raises a bare :class:`ValueError` for it).
    """
    try:
        parts = urlsplit(link)
    except ValueError:  # "https://[x/…", "https://[zzz]/…", a host that NFKC normalization changes
        raise MalformedLinkError("is not a URL (its host is neither a name nor a bracketed IP address)") from None
    try:
        origin = origin_of(link) if parts.netloc else ""
    except ValueError:  # "https://host:99999/…", "https://host:http/…": urllib.parse reads the port only here
        raise MalformedLinkError("is not a URL (its port is not a number from 0 to 65535)") from None
    return parts, origin


class DataverseClient:
    """Sends Web API requests for one connection.

    :param transport: the connection's authenticated transport.
    :param settings: the connection's settings (for the API root).
    """

    def __init__(
        self, transport: Transport, settings: ConnectionSettings, default_headers: Mapping[str, str] | None = None
    ) -> None:
        self.transport = transport
        self.settings = settings
        self.api_root = settings.api_root
        self.origin = origin_of(settings.api_root)
        self.api_path = urlsplit(settings.api_root).path
        self.default_headers: Mapping[str, str] = dict(default_headers or {})

    def scoped(self, headers: Mapping[str, str]) -> DataverseClient:
        """A view of this client that sends ``headers`` on every request, over the same transport.

        :param headers: the headers (already checked: :mod:`connector.dataverse.request_headers`); they replace
            this client's own default headers.
        :returns: this client when ``headers`` are its own, else a new view.
        """
        if dict(headers) == dict(self.default_headers):
            return self
        return DataverseClient(self.transport, self.settings, headers)

    def url(self, path: str, query: Sequence[tuple[str, str]] = ()) -> str:
        """Build an absolute URL.

        :param path: relative to the API root (``accounts(…)``), or absolute (an edit link, a next link).
        :param query: query parameters, encoded with :func:`encode_query`.
        :returns: the URL.
        """
        absolute = path.startswith(("http://", "https://"))
        # Concatenated, not urljoin'ed: urljoin would rewrite "//" inside a key value such as 'http://x'.
        base = path if absolute else self.api_root + path.lstrip("/")
        if not query:
            return base
        return f"{base}{'&' if '?' in base else '?'}{encode_query(query)}"

    def headers(self, prefer: Sequence[str] = (), extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """:returns: the OData headers, the client's default headers, a ``Prefer`` header when there are preferences,
        and any extra headers.
        """
        headers = dict(ODATA_HEADERS)
        headers.update(self.default_headers)
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

    def get_json(self, path: str, query: Sequence[tuple[str, str]] = (), prefer: Sequence[str] = ()) -> Any:
        """GET a JSON resource, raising for an error status.

        :param path: relative to the API root, or absolute.
        :param query: query parameters.
        :param prefer: ``Prefer`` values.
        :returns: the parsed body.
        :raises ConnectorError: the transport's error for a failed status (``(<code>)<message>[<status>]``), or a
            :class:`~connector.errors.TransientError` for a malformed body.
        """
        response = self.send("GET", path, query=query, prefer=prefer)
        if response.status_code >= 400:
            raise self.transport.error_for(response)
        return json_body(response)

    def link(self, link: str) -> str:
        """Resolve a link a document or the service gave (edit link, next link, ``@odata.id``).

        :param link: absolute, relative to the API root (``accounts(…)``), or absolute-path
            (``/api/data/v9.2/accounts(…)``, or ``/accounts(…)`` as ``@odata.bind`` values are written).
        :returns: the absolute URL.
        :raises ForeignLinkError: when an absolute link leaves the API's origin.
        :raises MalformedLinkError: when an absolute link is no URL at all (``https://[x/…``, a port past 65535), or
            carries a user name or password (``requests`` would send them as Basic credentials instead of the token).
        """
        if _authority_has_user_info(link):
            raise MalformedLinkError("carries a user name or password, which no link of the service has")
        scheme, separator, rest = link.partition("://")
        if separator and scheme.lower() in ("http", "https"):
            link = scheme.lower() + separator + rest  # HTTPS://…: the rest of the connector compares it as written
            parts, origin = _split(link)
            if "@" in parts.netloc:  # https://evil\@own-host/…: urlsplit's host is ours, requests' is evil's
                raise MalformedLinkError("carries a user name or password, which no link of the service has")
            if origin != self.origin:
                raise ForeignLinkError(link)
            return link
        if link.startswith(self.api_path):
            return f"{self.origin}{link}"
        return self.api_root + link.lstrip("/")

    def record_path(self, link: str) -> str:
        """The part of a record's link below the API root, as written (still percent-encoded).

        :param link: absolute (same origin, below the API root), absolute-path (``/api/data/v9.2/accounts(…)``,
            or ``/accounts(…)`` as ``@odata.bind`` values are written) or relative to the API root (``accounts(…)``).
        :returns: the text after the API root, to be read by
            :func:`~connector.dataverse.odata.literals.parse_entity_path`.
        :raises ForeignLinkError: when an absolute link leaves the API's origin.
        :raises OutsideRootError: when it carries user info, a query or a fragment, is scheme-relative, or lies
            outside the API root.
        :raises MalformedLinkError: when it is no URL at all (``https://[x/…``, a port past 65535).
        """
        # Before anything else, so the refusal of a link with a password (whatever else is wrong with it) is this
        # one, which callers know never to quote the link with.
        if _carries_user_info(link):
            raise OutsideRootError("carries a user name or password; a record's URL never does")
        if "?" in link or "#" in link:
            raise OutsideRootError("has a query or a fragment; a record's URL has neither")
        parts, origin = _split(link)
        if parts.scheme or parts.netloc or link.startswith("//"):
            if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
                raise OutsideRootError("is neither an http(s) URL nor a path relative to the API root")
            if origin != self.origin:
                raise ForeignLinkError(link)
            path = parts.path
            if not path.startswith(self.api_path):
                raise OutsideRootError(f"is not below the API root {self.api_root}")
            return path[len(self.api_path) :]
        if link.startswith(self.api_path):
            return link[len(self.api_path) :]
        return link[1:] if link.startswith("/") else link

    def relative(self, url: str) -> str:
        """:returns: ``url`` relative to the API root when it lies below it (``accounts(…)``), else ``url``."""
        if url.startswith(self.api_root):
            return url[len(self.api_root) :]
        return url
