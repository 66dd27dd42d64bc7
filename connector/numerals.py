"""Whole numbers written in text from outside the connector (a header's value, a document's member, a person's answer).

``str.isdigit`` accepts characters that ``int`` refuses (``"²"``) or reads as another script's digits (``"٣"``), and
``int`` refuses more than 4300 digits; text from a service, a document or a person must neither fail deep inside
with a ``ValueError`` nor be taken for a number that was not written in ASCII digits. Not for numbers in JSON: the
JSON parser reads those.
"""

from __future__ import annotations

from typing import Final

__all__ = ["LARGEST", "integer", "whole_number"]

LARGEST: Final = 2**63 - 1
"""The largest number read: a signed 64-bit integer's (:func:`integer` reads down to ``-LARGEST - 1``)."""
MOST_DIGITS: Final = len(str(LARGEST))
"""The most digits read: as many as :data:`LARGEST` has (leading zeros do not count)."""


def whole_number(text: str | None) -> int | None:
    """:returns: the number ``text`` writes in ASCII digits (surrounding whitespace allowed) if it is at most
    :data:`LARGEST`, else ``None``.
    """
    return _digits((text or "").strip())


def integer(text: str | None) -> int | None:
    """:returns: the number ``text`` writes in ASCII digits right after an optional ``-`` (surrounding whitespace
    allowed) if it fits a signed 64-bit integer, else ``None``.
    """
    value = (text or "").strip()
    if value.startswith("-"):
        number = _digits(value[1:], most=LARGEST + 1)
        return None if number is None else -number
    return _digits(value)


def _digits(value: str, most: int = LARGEST) -> int | None:
    if not value.isascii() or not value.isdigit():
        return None
    significant = value.lstrip("0") or "0"  # a header may pad with zeros (HTTP's 1*DIGIT allows it)
    if len(significant) > MOST_DIGITS:
        return None
    number = int(significant)
    return number if number <= most else None
