"""FetchXML paging: the ``page``, ``count`` and ``paging-cookie`` attributes of a ``<fetch>``, and the paging cookie
the service returns.

Past 5000 rows FetchXML must page with the paging cookie, not with page numbers alone (peers lose records
otherwise). Each response asked with ``Prefer: odata.include-annotations="Microsoft.Dynamics.CRM.fetchxmlpagingcookie,
Microsoft.Dynamics.CRM.morerecords"`` carries ``<cookie pagenumber="2" pagingcookie="%253ccookie…" … />``; the
``pagingcookie`` attribute is URL-encoded twice, and its decoded text goes into the next request's
``paging-cookie`` attribute with ``page`` one higher. A query can also be restricted to a range of its table's
primary key (:meth:`FetchQuery.with_key_conditions`), for partitioned reads; :meth:`FetchQuery.partition_refusal`
says why one cannot be. This module edits and reads XML text; it sends nothing.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final
from urllib.parse import unquote

from connector.numerals import whole_number

__all__ = ["PAGING_ANNOTATIONS", "FetchQuery", "FetchXmlError", "paging_cookie_of", "parse_fetch"]

PAGING_COOKIE: Final = "Microsoft.Dynamics.CRM.fetchxmlpagingcookie"
MORE_RECORDS: Final = "Microsoft.Dynamics.CRM.morerecords"
PAGING_ANNOTATIONS: Final = (PAGING_COOKIE, MORE_RECORDS)

_COOKIE_ATTRIBUTE = re.compile(r'\bpagingcookie\s*=\s*"([^"]*)"')


class FetchXmlError(ValueError):
    """The FetchXML cannot be used; the message says why."""


@dataclass(frozen=True)
class FetchQuery:
    """A checked ``<fetch>`` query.

    :param text: the query as the user wrote it.
    :param first_page: the ``page`` attribute to start from (1 when absent).
    :param has_top: whether it has a ``top`` attribute (such a query cannot page).
    :param has_count: whether it sets its own page size (``count``).
    """

    text: str
    first_page: int
    has_top: bool
    has_count: bool

    def partition_refusal(self) -> str | None:
        """Why the query cannot be read as key ranges concurrently, if it cannot.

        Each range is read in the key's order, page after page from the last key read, so the query must return
        one row per record of its table in no other order: no ``link-entity`` (a joined row repeats its record),
        no aggregate or ``distinct``, no ``order``, no ``top`` and no starting ``page``.

        :returns: the reason, or ``None`` when it can be partitioned.
        """
        root = _parse(self.text)
        entity = root.find("entity")
        reasons = [
            ("a top attribute", self.has_top),
            ("a page attribute", self.first_page != 1),
            ("an aggregate", root.get("aggregate", "").lower() in ("true", "1")),
            ("distinct", root.get("distinct", "").lower() in ("true", "1")),
            ("order elements", entity is not None and entity.find(".//order") is not None),
            ("link-entity elements", entity is not None and entity.find(".//link-entity") is not None),
        ]
        found = [reason for reason, present in reasons if present]
        return f"FetchXML with {', '.join(found)} cannot be partitioned" if found else None

    def with_key_conditions(
        self, primary_key: str, conditions: Sequence[tuple[str, str]], *, ordered: bool
    ) -> FetchQuery:
        """Restrict the query to a range of its table's primary key.

        :param primary_key: the table's primary key attribute (``accountid``).
        :param conditions: ``(operator, guid)`` comparisons with the key (``gt``, ``le``), all required.
        :param ordered: also order the rows by the key (for reading the range page after page from the last key).
        :returns: the restricted query (the query's own filters still apply: they and the range are joined by
            ``and``).
        """
        root = _parse(self.text)
        entity = root.find("entity")
        if entity is None:  # parse_fetch refuses such a query
            raise FetchXmlError("its <fetch> has no <entity> element")
        if conditions:
            joined = ET.Element("filter", {"type": "and"})
            for existing in entity.findall("filter"):
                entity.remove(existing)
                joined.append(existing)
            for operator, value in conditions:
                ET.SubElement(joined, "condition", {"attribute": primary_key, "operator": operator, "value": value})
            entity.append(joined)
        if ordered:
            ET.SubElement(entity, "order", {"attribute": primary_key})
        return replace(self, text=ET.tostring(root, encoding="unicode"))

    def page(self, number: int, count: int | None, cookie: str | None) -> str:
        """Write the query for one page.

        :param number: the page number (1-based).
        :param count: the page size to set when the query has none of its own (and no ``top``).
        :param cookie: the decoded paging cookie of the previous page, if any.
        :returns: the FetchXML text.
        """
        root = _parse(self.text)
        if not self.has_top:
            root.set("page", str(number))
            if count is not None and not self.has_count:
                root.set("count", str(count))
            if cookie:
                root.set("paging-cookie", cookie)
            elif "paging-cookie" in root.attrib:
                del root.attrib["paging-cookie"]
        return ET.tostring(root, encoding="unicode")


def parse_fetch(text: str) -> FetchQuery:
    """Check a FetchXML query.

    :param text: the query.
    :returns: the checked query.
    :raises FetchXmlError: when it is not well-formed, has a DTD, or is not a ``<fetch>`` with an ``<entity>``.
    """
    root = _parse(text)
    if root.tag != "fetch":
        raise FetchXmlError(f"its root element must be <fetch>, not <{root.tag}>")
    if root.find("entity") is None:
        raise FetchXmlError("its <fetch> has no <entity> element")
    page = root.get("page", "1")
    first_page = whole_number(page)
    if first_page is None or first_page < 1:
        raise FetchXmlError(f"its page attribute must be a positive number, not {page!r}")
    return FetchQuery(text=text, first_page=first_page, has_top="top" in root.attrib, has_count="count" in root.attrib)


def paging_cookie_of(annotation: object) -> str | None:
    """Read the paging cookie to send with the next page.

    :param annotation: the ``@Microsoft.Dynamics.CRM.fetchxmlpagingcookie`` value.
    :returns: the decoded cookie (``<cookie page="1">…</cookie>``), or ``None`` when there is none.
    """
    if not isinstance(annotation, str):
        return None
    match = _COOKIE_ATTRIBUTE.search(annotation)
    if match is None:
        return None
    # The attribute value is XML-escaped text holding a cookie URL-encoded twice.
    cookie = unquote(unquote(html.unescape(match.group(1))))
    return cookie or None


def _parse(text: str) -> ET.Element:
    if "<!DOCTYPE" in text.upper() or "<!ENTITY" in text.upper():
        raise FetchXmlError("it must not contain a DTD")
    try:
        # The query is the operator's own configuration and carries no DTD (checked above).
        return ET.fromstring(text)  # noqa: S314
    except ET.ParseError as error:
        raise FetchXmlError(f"it is not well-formed XML ({error})") from None
