"""Whole numbers in a client's text (a header, an XML attribute, a multi-select value), read as Dataverse reads them.

``str.isdigit`` accepts characters ``int`` refuses (``"²"``) or reads as another script's digits (``"٣"``): a client's
text that passed such a check then failed deep inside with a ``ValueError``, a ``500`` where the service answers
``400``. Only ASCII digits are numbers here. Not for JSON numbers (the JSON parser reads those).
"""

from __future__ import annotations

import math
from typing import Final

__all__ = ["ascii_int64", "ascii_integer", "ascii_whole_number", "finite", "fits_int64"]

_MOST_DIGITS: Final = 19
"""The longest number read: as many digits as the largest 64-bit integer has (``int`` refuses 4301)."""


def ascii_whole_number(text: str) -> int | None:
    """:returns: the number ``text`` writes in ASCII digits (surrounding whitespace allowed; leading zeros do not count
    towards the most digits read) when it fits in 64 bits, else ``None``.
    """
    value = text.strip()
    if not value.isascii() or not value.isdigit():
        return None
    significant = value.lstrip("0") or "0"
    if len(significant) > _MOST_DIGITS:
        return None
    number = int(significant)
    return number if fits_int64(number) else None  # 19 nines have 19 digits, and no 64-bit field holds them


def ascii_integer(text: str) -> int | None:
    """:returns: the number ``text`` writes in ASCII digits right after an optional ``-``, else ``None``."""
    value = text.strip()
    if value.startswith("-"):
        number = ascii_whole_number(value[1:]) if value[1:2].isdigit() else None
        return None if number is None else -number
    return ascii_whole_number(value)


def ascii_int64(text: str) -> int | None:
    """:returns: the number ``text`` writes in ASCII digits after an optional sign, leading zeros allowed (a URL's
    literal may have any number of them), when it fits in 64 bits; else ``None``.
    """
    value = text.strip()
    sign = value[:1] if value[:1] in ("+", "-") else ""
    digits = value[len(sign) :]
    if not digits.isascii() or not digits.isdigit():
        return None
    significant = digits.lstrip("0") or "0"
    if len(significant) > _MOST_DIGITS:
        return None
    number = -int(significant) if sign == "-" else int(significant)
    return number if fits_int64(number) else None


def fits_int64(number: int) -> bool:
    """:returns: whether an integer fits in 64 bits (SQLite's INTEGER, Dataverse's Edm.Int64)."""
    return -(2**63) <= number < 2**63


def finite(value: float) -> bool:
    """:returns: whether a JSON number is a finite double (an integer past a double's range is not: ``math.isfinite``
    raises ``OverflowError`` for it).
    """
    try:
        return math.isfinite(value)
    except OverflowError:
        return False
