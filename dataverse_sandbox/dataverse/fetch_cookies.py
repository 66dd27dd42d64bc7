"""FetchXML paging cookies: what the sandbox writes into ``@Microsoft.Dynamics.CRM.fetchxmlpagingcookie`` and reads
back from a ``<fetch paging-cookie>``.

The cookie has Dataverse's shape (reference §3.8, §3.9): ``<cookie page="1"><name last="…" first="…" /><accountid
last="{GUID}" first="{GUID}" /></cookie>``, one element per sort column (the query's ``<order>`` columns, then the
primary key), ``last`` holding the last row's value and ``first`` the first row's; GUIDs upper-case in braces. The
annotation wraps it as ``<cookie pagenumber="2" pagingcookie="…" istracking="False" />`` with the cookie URL-encoded
twice (lower-case hex, as Dataverse writes it). A ``last`` attribute left out stands for a null value (the
sandbox's choice).

Because the cookie carries the sort keys of the last row, the next page resumes *after* that row (keyset paging),
so each row is served once while others insert and delete. As in Dataverse, a cookie is used only for the page
right after the one it was issued for and for the same sort columns; otherwise the page number decides.
Not for running queries: :mod:`.fetch_queries`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import quoteattr

from dataverse_sandbox.numbers import ascii_int64, ascii_whole_number

from .errors import DataverseError
from .fetchxml import INVALID_XML, parse_xml
from .metadata import AttributeKind, AttributeMeta

__all__ = ["PagingCookie", "cookie_annotation", "read_cookie"]

_INTEGERS = frozenset(
    {
        AttributeKind.INTEGER,
        AttributeKind.BIGINT,
        AttributeKind.BOOLEAN,
        AttributeKind.PICKLIST,
        AttributeKind.STATE,
        AttributeKind.STATUS,
    }
)
_REALS = frozenset({AttributeKind.DECIMAL, AttributeKind.DOUBLE, AttributeKind.MONEY})
_GUIDS = frozenset({AttributeKind.UNIQUEIDENTIFIER, AttributeKind.LOOKUP})


@dataclass(frozen=True)
class PagingCookie:
    """The decoded paging cookie of one served page.

    :param page: the number of the page it was issued for.
    :param columns: the logical names of the sort columns, in order.
    :param last: the last row's stored values for those columns (``None`` for null).
    :param first: the first row's stored values.
    """

    page: int
    columns: tuple[str, ...]
    last: tuple[Any, ...]
    first: tuple[Any, ...] = ()

    def to_xml(self, attributes: Sequence[AttributeMeta]) -> str:
        """:returns: the cookie as Dataverse writes it (``<cookie page="1"><accountid last=… /></cookie>``)."""
        parts = [f'<cookie page="{self.page}">']
        for index, attribute in enumerate(attributes):
            values = ""
            for label, row in (("last", self.last), ("first", self.first)):
                if index < len(row) and row[index] is not None:
                    values += f" {label}={quoteattr(_to_text(attribute, row[index]))}"
            parts.append(f"<{attribute.logical_name}{values} />")
        parts.append("</cookie>")
        return "".join(parts)


def cookie_annotation(cookie: PagingCookie, attributes: Sequence[AttributeMeta]) -> str:
    """:returns: the ``@Microsoft.Dynamics.CRM.fetchxmlpagingcookie`` value that asks for the next page."""
    inner = _encode(_encode(cookie.to_xml(attributes)))
    return f'<cookie pagenumber="{cookie.page + 1}" pagingcookie="{inner}" istracking="False" />'


def read_cookie(text: str, attributes: Sequence[AttributeMeta]) -> PagingCookie | None:
    """Read the ``paging-cookie`` of a ``<fetch>``.

    :param text: the attribute's (XML-unescaped) text: ``<cookie page="1">…</cookie>``.
    :param attributes: the query's sort columns, to read the values with their types.
    :returns: the cookie, or ``None`` when it names other sort columns (the cookie is then ignored).
    :raises DataverseError: 400 ``0x80040201`` when it is not a cookie.
    """
    root = parse_xml(text, "paging cookie")
    page = ascii_whole_number(root.get("page", ""))
    if root.tag != "cookie" or page is None:
        raise DataverseError(400, INVALID_XML, 'The paging cookie must be <cookie page="N">…</cookie>.')
    columns = tuple(child.tag for child in root)
    if columns != tuple(a.logical_name for a in attributes):
        return None
    try:
        last = tuple(_from_text(a, child.get("last")) for a, child in zip(attributes, root, strict=True))
    except ValueError:
        raise DataverseError(400, INVALID_XML, "The paging cookie holds a value of the wrong type.") from None
    return PagingCookie(page, columns, last)


def _encode(text: str) -> str:
    # Dataverse percent-encodes with lower-case hex digits and keeps only letters, digits and -_.~ as they are.
    encoded = quote(text, safe="")
    out: list[str] = []
    index = 0
    while index < len(encoded):
        if encoded[index] == "%":
            out.append(encoded[index : index + 3].lower())
            index += 3
        else:
            out.append(encoded[index])
            index += 1
    return "".join(out)


def _to_text(attribute: AttributeMeta, value: Any) -> str:
    if attribute.kind in _GUIDS:
        return "{" + str(value).upper() + "}"
    if attribute.kind in _REALS:
        return repr(float(value))
    return str(value)


def _from_text(attribute: AttributeMeta, text: str | None) -> Any:
    if text is None:
        return None
    if attribute.kind in _GUIDS:
        return text.strip().strip("{}").lower()
    if attribute.kind in _INTEGERS:
        number = ascii_int64(text)  # int() read another script's digits, and any size (a 500 from SQLite)
        if number is None:
            raise ValueError("not a 64-bit integer")
        return number
    if attribute.kind in _REALS:
        return float(text)
    return text
