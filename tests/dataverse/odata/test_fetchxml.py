"""FetchXML paging attributes and the twice-encoded paging cookie (reference §3.8, §3.9)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from connector.dataverse.odata.fetchxml import FetchXmlError, paging_cookie_of, parse_fetch

FETCH = (
    "<fetch mapping='logical'><entity name='account'><attribute name='accountid'/><attribute name='name'/>"
    "</entity></fetch>"
)

# The annotation as the reference shows it: the pagingcookie attribute is URL-encoded twice.
ANNOTATION = (
    '<cookie pagenumber="2" pagingcookie="%253ccookie%2520page%253d%25221%2522%253e%253caccountid%2520last%253d'
    "%2522%257bD5026A4D-D01C-ED11-B83E-000D3A572421%257d%2522%2520first%253d%2522%257b49B0BE2E-D01C-ED11-B83E-"
    '000D3A572421%257d%2522%2520%252f%253e%253c%252fcookie%253e" istracking="False" />'
)
COOKIE = (
    '<cookie page="1"><accountid last="{D5026A4D-D01C-ED11-B83E-000D3A572421}" '
    'first="{49B0BE2E-D01C-ED11-B83E-000D3A572421}" /></cookie>'
)


def attributes(text: str) -> dict[str, str]:
    return dict(ET.fromstring(text).attrib)  # noqa: S314 - the test's own XML


def test_the_paging_cookie_is_decoded_twice() -> None:
    assert paging_cookie_of(ANNOTATION) == COOKIE


def test_a_page_carries_page_count_and_the_cookie() -> None:
    query = parse_fetch(FETCH)
    first = attributes(query.page(1, 500, None))
    assert first == {"mapping": "logical", "page": "1", "count": "500"}
    second = attributes(query.page(2, 500, COOKIE))
    assert second["page"] == "2"
    assert second["paging-cookie"] == COOKIE


def test_the_querys_own_count_and_page_are_kept() -> None:
    query = parse_fetch("<fetch count='3' page='4'><entity name='account'/></fetch>")
    assert query.first_page == 4
    assert attributes(query.page(4, 500, None))["count"] == "3"


def test_a_query_with_top_is_not_paged() -> None:
    query = parse_fetch("<fetch top='10'><entity name='account'/></fetch>")
    assert query.has_top
    assert "page" not in attributes(query.page(1, 500, COOKIE))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<fetch><entity name='account'>", "not well-formed"),
        ("<query/>", "root element must be <fetch>"),
        ("<fetch/>", "no <entity>"),
        ("<fetch page='0'><entity name='a'/></fetch>", "positive number"),
        ("<fetch page='\u00b2'><entity name='a'/></fetch>", "positive number"),
        ('<!DOCTYPE x [<!ENTITY a "aaaa">]><fetch><entity name="a"/></fetch>', "DTD"),
    ],
)
def test_unusable_fetchxml_is_refused(text: str, message: str) -> None:
    with pytest.raises(FetchXmlError, match=message):
        parse_fetch(text)


def test_no_cookie_when_the_annotation_is_missing() -> None:
    assert paging_cookie_of(None) is None
    assert paging_cookie_of('<cookie pagenumber="2" istracking="False" />') is None
