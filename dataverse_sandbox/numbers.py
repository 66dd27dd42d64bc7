"""Whole numbers in a client's text (a header, an XML attribute, a multi-select value), read as Dataverse reads them.

``str.isdigit`` accepts characters ``int`` refuses (``"²"``) or reads as another script's digits (``"٣"``): a client's
text that passed such a check then failed deep inside with a ``ValueError``, a ``500`` where the service answers
``400``. Only ASCII digits are numbers here. Not for JSON numbers (the JSON parser reads those).
"""

from __future__ import annotations

from typing import Final

__all__ = ["ascii_integer", "ascii_whole_number"]

_MOST_DIGITS: Final = 19
"""The longest number read: as many digits as the largest 64-bit integer has (``int`` refuses 4301)."""


def ascii_whole_number(text: str) -> int | None:
    """:returns: the number ``text`` writes in ASCII digits (surrounding whitespace allowed), else ``None``."""
    value = text.strip()
    if not value.isascii() or not value.isdigit() or len(value) > _MOST_DIGITS:
        return None
    return int(value)


def ascii_integer(text: str) -> int | None:
    """:returns: the number ``text`` writes in ASCII digits right after an optional ``-``, else ``None``."""
    value = text.strip()
    if value.startswith("-"):
        number = ascii_whole_number(value[1:]) if value[1:2].isdigit() else None
        return None if number is None else -number
    return ascii_whole_number(value)
