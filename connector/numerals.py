"""Whole numbers written in text from outside the connector (a header's value, a document's attribute).

``str.isdigit`` accepts characters that ``int`` refuses (``"²"``) or reads as another script's digits (``"٣"``), and
``int`` refuses more than 4300 digits; a header is the service's text, and reading it must neither fail a request nor
take a number that was not written in ASCII digits. Not for numbers in JSON: the JSON parser reads those.
"""

from __future__ import annotations

from typing import Final

__all__ = ["whole_number"]

MOST_DIGITS: Final = 18
"""The longest number read (it fits a signed 64-bit integer)."""


def whole_number(text: str | None) -> int | None:
    """:returns: the number ``text`` writes in ASCII digits (surrounding whitespace allowed), else ``None``."""
    value = (text or "").strip()
    if not value.isascii() or not value.isdigit() or len(value) > MOST_DIGITS:
        return None
    return int(value)
