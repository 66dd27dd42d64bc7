"""Typed literal values: parsing OData's literal forms and formatting them as the sandbox stores them.

Storage forms: datetimes ``YYYY-MM-DDTHH:MM:SSZ`` (UTC, whole seconds), dates ``YYYY-MM-DD``, GUIDs lower-case.
Not for tokenizing: :mod:`.tokens` finds where a literal starts and ends, this module gives it a value.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta, timezone

__all__ = [
    "INT32_RANGE",
    "INT64_RANGE",
    "format_date",
    "format_datetime",
    "normalize_guid",
    "parse_date",
    "parse_datetime",
    "parse_number",
]

INT32_RANGE = range(-(2**31), 2**31)
INT64_RANGE = range(-(2**63), 2**63)

_GUID = re.compile(r"\{?([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})\}?")
_NUMBER = re.compile(r"(-?[0-9]+)(\.[0-9]+)?([eE][+-]?[0-9]+)?([mMdDfFlL])?")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_DATETIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]+))?)?([Zz]|[+-][0-9]{2}:[0-9]{2})?"
)


def parse_number(text: str) -> tuple[int | float, str]:
    """Read an OData numeric literal.

    Integers stay integers while they fit in 64 bits (SQLite's INTEGER); suffixes ``m`` (decimal), ``d``/``f``
    (double) and ``L`` (64-bit integer) are accepted in either case.

    :param text: e.g. ``42``, ``-7``, ``5.5``, ``5.5m``, ``1e3``, ``9L``.
    :returns: the value and its OData type name (``Edm.Int32``, ``Edm.Int64``, ``Edm.Decimal``, ``Edm.Double``).
    :raises ValueError: when the text is not a number or is out of range.
    """
    match = _NUMBER.fullmatch(text)
    if match is None:
        raise ValueError("not a number")
    digits, fraction, exponent, suffix = match.groups()
    suffix = (suffix or "").lower()
    if fraction is None and exponent is None and suffix in ("", "l"):
        value = int(digits)
        if value not in INT64_RANGE:
            raise ValueError("integer out of the 64-bit range")
        return value, ("Edm.Int32" if value in INT32_RANGE and not suffix else "Edm.Int64")
    if suffix == "l":
        raise ValueError("the 'L' suffix needs an integer")
    number = float(text[: len(text) - len(suffix)])
    if not math.isfinite(number):  # 1e999
        raise ValueError("number out of range")
    is_double = suffix in ("d", "f") or (not suffix and exponent is not None)
    return number, ("Edm.Double" if is_double else "Edm.Decimal")


def parse_datetime(text: str) -> datetime:
    """Read a datetime literal and convert it to UTC.

    Seconds and the zone are optional (no zone means UTC); fractional seconds beyond microseconds are cut.

    :param text: e.g. ``2024-01-02T03:04:05Z``, ``2024-01-02T03:04:05.25+01:00``.
    :returns: an aware datetime in UTC.
    :raises ValueError: when the text is not a datetime or names an impossible date or time.
    """
    match = _DATETIME.fullmatch(text)
    if match is None:
        raise ValueError("not a datetime")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    tz = UTC
    if zone and zone not in "Zz":
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        if hours > 23 or minutes > 59:
            raise ValueError("bad zone offset")
        sign = -1 if zone[0] == "-" else 1
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    micro = int((fraction or "").ljust(6, "0")[:6])
    moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro, tz)
    try:
        return moment.astimezone(UTC)
    except OverflowError as exc:  # an offset that moves 0001-01-01 or 9999-12-31 out of range
        raise ValueError("datetime out of range") from exc


def parse_date(text: str) -> date:
    """:returns: the date of a ``YYYY-MM-DD`` literal.

    :raises ValueError: for any other text or an impossible date.
    """
    match = _DATE.fullmatch(text)
    if match is None:
        raise ValueError("not a date")
    return date(int(match[1]), int(match[2]), int(match[3]))


def normalize_guid(text: str) -> str | None:
    """:returns: the GUID in ``text`` (braces allowed) in lower case, or ``None`` when it is not a GUID."""
    match = _GUID.fullmatch(text.strip())
    if match is None or (text.strip().startswith("{") != text.strip().endswith("}")):
        return None
    return match[1].lower()


def format_datetime(moment: datetime) -> str:
    """:returns: the storage form of a UTC datetime, whole seconds (any fraction is dropped)."""
    # Not strftime: its %Y does not zero-pad years before 1000 on every platform, and the text must sort.
    utc = moment.astimezone(UTC)
    return f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}Z"


def format_date(day: date) -> str:
    """:returns: the storage form of a date."""
    return day.isoformat()
