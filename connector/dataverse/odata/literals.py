"""OData literals and record addresses: how a value is written into a URL, a key predicate or an entity path.

Every value that reaches a URL goes through :func:`format_literal`, typed by the attribute it is compared with:
strings are quoted with ``'`` doubled (so a value that looks like OData syntax stays a string), GUIDs are bare,
dates and date-times are checked and written in their own forms, numbers never use an exponent, and option-set
values are integers. A value that does not fit its type raises :class:`LiteralError` instead of producing text the
service would read differently. :func:`parse_entity_path` reads a record's path as the service would (percent-escapes
decoded first) and accepts ``<entity set>(<key>)`` only, so that a path taken from a document can be rebuilt by
:func:`entity_path` and never names a property, a function or another segment. This module builds text only; it
sends nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal, get_args
from urllib.parse import quote, unquote, urlsplit

from connector.numerals import LARGEST, integer

__all__ = [
    "LITERAL_TYPES",
    "LiteralError",
    "LiteralType",
    "RecordKey",
    "entity_path",
    "format_key",
    "format_literal",
    "guid_of",
    "infer_literal_type",
    "is_guid",
    "parse_entity_path",
    "quote_string",
    "record_id_of",
]

LiteralType = Literal[
    "string", "guid", "date", "datetime", "number", "integer", "boolean", "null", "option_set", "json"
]
"""How a value is written: the OData literal form of the attribute it belongs to."""

LITERAL_TYPES: Final[tuple[str, ...]] = get_args(LiteralType)

_GUID = re.compile(r"\{?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\}?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_DATETIME = re.compile(r"(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}(?::\d{2}(?:\.\d{1,7})?)?)(Z|[+-]\d{2}:\d{2})?", re.ASCII)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?", re.ASCII)
_LOOKUP_PROPERTY = re.compile(r"_(\w+)_value", re.ASCII)
_KEY_SAFE = "'-.:@$!*,;="
_BARE_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_RECORD = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\((.*)\)", re.DOTALL)
_KEY_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEY_TOKEN = re.compile(r"[0-9A-Za-z.:+-]+")
_KEY_NUMBER = re.compile(r"-?\d+(?:\.\d+)?", re.ASCII)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MOST_EXPONENT: Final = 400
"""The largest power of ten a number literal may have, either way (a double's range is about 1e308)."""
_WHOLE: Final = re.compile(r"-?[0-9]+")
"""A whole number in ASCII digits, of any length (to tell one out of range from text that is no number)."""

RecordKey = str | tuple[tuple[str, Any, LiteralType | None], ...]
"""A record's key: its primary key GUID, or ``(property, value, literal type)`` for each alternate-key property."""


class LiteralError(ValueError):
    """A value cannot be written as the literal its type asks for.

    :param message: what is wrong, naming the value.
    """


def is_guid(value: object) -> bool:
    """:returns: whether ``value`` is a GUID string (braces allowed)."""
    return isinstance(value, str) and _GUID.fullmatch(value) is not None


def guid_of(value: object) -> str:
    """:returns: the GUID in Dataverse's form: lower-case, no braces.

    :raises LiteralError: when ``value`` is not a GUID.
    """
    match = _GUID.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise LiteralError(f"{_show(value)} is not a GUID")
    return match.group(1).lower()


def quote_string(value: str) -> str:
    """:returns: an OData string literal: ``'`` around, every ``'`` inside doubled."""
    return "'" + value.replace("'", "''") + "'"


def infer_literal_type(value: Any, property_name: str | None = None) -> LiteralType:
    """Choose a literal type from a JSON value when nothing better is known.

    :param value: the value.
    :param property_name: the property it belongs to; ``_<attribute>_value`` properties hold GUIDs.
    :returns: the literal type: JSON strings are strings (never guessed to be GUIDs or dates, which would change
        how a value that merely looks like one is matched), except for lookup properties.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, dt.datetime):
        return "datetime"
    if isinstance(value, dt.date):
        return "date"
    if isinstance(value, Mapping | list | tuple):
        return "json"
    if property_name and _LOOKUP_PROPERTY.fullmatch(property_name) and is_guid(value):
        return "guid"
    return "string"


def format_literal(value: Any, literal_type: LiteralType | None = None, property_name: str | None = None) -> str:
    """Write a value as an OData literal.

    :param value: the value; ``None`` is ``null`` whatever the type.
    :param literal_type: the form to write; ``None`` infers it with :func:`infer_literal_type`.
    :param property_name: the property the value belongs to (for inference).
    :returns: the literal text, not yet percent-encoded.
    :raises LiteralError: when the value does not fit the type.
    """
    if value is None:
        return "null"
    kind = literal_type or infer_literal_type(value, property_name)
    return _WRITERS[kind](value)


def _write_string(value: Any) -> str:
    if isinstance(value, Mapping | list | tuple):
        raise LiteralError(f"{_show(value)} is not a text value")
    if isinstance(value, bool):
        return quote_string("true" if value else "false")
    return quote_string(str(value))


def _write_guid(value: Any) -> str:
    return guid_of(value)


def _write_date(value: Any) -> str:
    if isinstance(value, dt.datetime):
        raise LiteralError(f"{_show(value)} is a date and time, not a date")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str) and _DATE.fullmatch(value):
        _check_date(value)
        return value
    raise LiteralError(f"{_show(value)} is not a date of the form YYYY-MM-DD")


def _write_datetime(value: Any) -> str:
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        text = moment.isoformat()
        return text.replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return f"{value.isoformat()}T00:00:00Z"
    if isinstance(value, str):
        if _DATE.fullmatch(value):
            _check_date(value)
            return f"{value}T00:00:00Z"
        match = _DATETIME.fullmatch(value)
        if match:
            _check_date(match.group(1))
            time_part = match.group(2)
            if len(time_part) == 5:
                time_part += ":00"
            # Without an offset the value is taken as UTC, the service's own storage zone.
            return f"{match.group(1)}T{time_part}{match.group(3) or 'Z'}"
    raise LiteralError(f"{_show(value)} is not a date and time of the form YYYY-MM-DDTHH:MM:SSZ")


def _check_date(text: str) -> None:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        raise LiteralError(f"{text!r} is not a calendar date") from None


def _write_number(value: Any) -> str:
    if isinstance(value, bool):
        raise LiteralError(f"{_show(value)} is not a number")
    if isinstance(value, int):
        return str(value)
    number: Decimal | None = None
    if isinstance(value, float | Decimal):
        number = Decimal(str(value)) if isinstance(value, float) else value
        if not number.is_finite():
            raise LiteralError(f"{_show(value)} is not a finite number")
    elif isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            number = None
    if number is None:
        raise LiteralError(f"{_show(value)} is not a number")
    if number.is_zero():
        number = Decimal(0)  # 0E-500 is zero, whatever its exponent
    if abs(number.adjusted()) > _MOST_EXPONENT:
        # Written out in full, "1e999999999" would take a gigabyte; no Dataverse column holds such a number.
        raise LiteralError(f"{_show(value)} is out of range for a number")
    # Fixed-point: Edm.Decimal literals have no exponent.
    return format(number, "f")


def _write_integer(value: Any) -> str:
    if isinstance(value, bool):
        raise LiteralError(f"{_show(value)} is not a whole number")
    number: int | None = None
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        number = int(value)
    elif isinstance(value, str):
        number = integer(value)
        if number is None and _WHOLE.fullmatch(value.strip()):
            raise LiteralError(f"{_show(value)} is outside the range of a 64-bit whole number")
    if number is None:
        raise LiteralError(f"{_show(value)} is not a whole number")
    if not -LARGEST - 1 <= number <= LARGEST:
        raise LiteralError(f"{_show(value)} is outside the range of a 64-bit whole number")
    return str(number)


def _write_option_set(value: Any) -> str:
    try:
        return _write_integer(value)
    except LiteralError:
        raise LiteralError(f"{_show(value)} is not an option-set value (a whole number)") from None


def _write_boolean(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower()
    raise LiteralError(f"{_show(value)} is not true or false")


def _write_null(value: Any) -> str:
    raise LiteralError(f"{_show(value)} was given where only null is allowed")


def _write_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


_WRITERS: Final = {
    "string": _write_string,
    "guid": _write_guid,
    "date": _write_date,
    "datetime": _write_datetime,
    "number": _write_number,
    "integer": _write_integer,
    "boolean": _write_boolean,
    "null": _write_null,
    "option_set": _write_option_set,
    "json": _write_json,
}


def format_key(parts: str | Sequence[tuple[str, Any, LiteralType | None]]) -> str:
    """Write a key predicate (without the parentheses' owner).

    :param parts: a primary-key GUID, or ``(property, value, literal type or None)`` for each alternate-key
        property, in order.
    :returns: ``(<guid>)`` or ``(name='A1',number=2)``.
    :raises LiteralError: when a value does not fit, or a key value is null.
    """
    if isinstance(parts, str):
        return f"({guid_of(parts)})"
    written = []
    for name, value, literal_type in parts:
        if value is None:
            raise LiteralError(f"the key value of {name!r} is null")
        if literal_type is None and isinstance(value, Mapping | list | tuple):
            raise LiteralError(f"the key value of {name!r} is {_show(value)}: a key value is text, a number or a GUID")
        # Percent-encoded: a key value may hold '/', '?', '#' or '%', which would otherwise end the path.
        literal = format_literal(value, literal_type, name)
        try:
            written.append(f"{name}={quote(literal, safe=_KEY_SAFE)}")
        except UnicodeEncodeError:
            raise LiteralError(f"the key value of {name!r} is not valid Unicode text (a lone surrogate)") from None
    return "(" + ",".join(written) + ")"


def entity_path(entity_set: str, key: str | Sequence[tuple[str, Any, LiteralType | None]]) -> str:
    """:returns: the path of one record below the API root, e.g. ``accounts(<guid>)``."""
    return f"{entity_set}{format_key(key)}"


def parse_entity_path(path: str) -> tuple[str, RecordKey]:
    """Read one record's path below the API root as the service would, accepting nothing but a record.

    Percent-escapes are decoded first (the service decodes them before it reads the path), then the text must be
    ``<entity set>(<key>)`` exactly: a bare GUID, or ``name=value`` pairs whose values are quoted strings (``''`` for
    a quote), GUIDs, numbers, dates or date-times. A second segment (a property, ``$ref``, a bound operation), an
    empty key (a function call), ``..``, a query, control characters and escapes that are not UTF-8 are refused.

    :param path: the path below the API root, as written (``accounts(<guid>)``, ``contacts(emailaddress1='a%40b')``).
    :returns: the entity set and the key, to rebuild the path with :func:`entity_path`.
    :raises LiteralError: when the path is not exactly one record's.
    """
    try:
        text = unquote(path, errors="strict")
    except UnicodeDecodeError:
        raise LiteralError("holds percent-escapes that are not UTF-8 text") from None
    if _CONTROL.search(text) or any(0xD800 <= ord(char) <= 0xDFFF for char in text):
        raise LiteralError("holds control characters or invalid Unicode")
    match = _RECORD.fullmatch(text)
    if match is None:
        raise LiteralError("is not one record's path, <entity set>(<key>)")
    entity_set, inside = match.groups()
    if not inside:
        raise LiteralError("has an empty key: it calls a function, it does not name a record")
    if _BARE_GUID.fullmatch(inside):
        return entity_set, inside.lower()
    return entity_set, _key_pairs(inside)


def _key_pairs(inside: str) -> tuple[tuple[str, Any, LiteralType | None], ...]:
    pairs: list[tuple[str, Any, LiteralType | None]] = []
    position = 0
    while True:
        name = _KEY_NAME.match(inside, position)
        if name is None or inside[name.end() : name.end() + 1] != "=":
            raise LiteralError("has a key that is neither a GUID nor name=value pairs")
        position = name.end() + 1
        if inside[position : position + 1] == "'":
            value, position = _string_literal(inside, position)
            pairs.append((name.group(), value, "string"))
        else:
            token = _KEY_TOKEN.match(inside, position)
            if token is None:
                raise LiteralError(f"has no value for the key {name.group()!r}")
            pairs.append((name.group(), token.group(), _token_type(token.group())))
            position = token.end()
        if position == len(inside):
            break
        if inside[position] != ",":
            raise LiteralError("has text after its key")
        position += 1
    names = [pair[0] for pair in pairs]
    if len(set(names)) != len(names):
        raise LiteralError("names a key property twice")
    return tuple(pairs)


def _string_literal(text: str, start: int) -> tuple[str, int]:
    """:returns: the value of the quoted string at ``start`` and the position after it."""
    position = start + 1
    while True:
        end = text.find("'", position)
        if end < 0:
            raise LiteralError("has a quoted key value without its closing quote")
        if text[end + 1 : end + 2] == "'":
            position = end + 2
            continue
        return text[start + 1 : end].replace("''", "'"), end + 1


def _token_type(token: str) -> LiteralType:
    if _BARE_GUID.fullmatch(token):
        return "guid"
    if _KEY_NUMBER.fullmatch(token):
        return "number"
    if _DATE.fullmatch(token):
        return "date"
    if _DATETIME.fullmatch(token):
        return "datetime"
    raise LiteralError(f"has a key value {_show(token)} that is not a quoted string, GUID, number or date")


def record_id_of(url: str) -> str | None:
    """Read the record id from an entity URL (``OData-EntityId``, an edit link).

    :param url: an absolute or relative URL ending with a key predicate.
    :returns: the primary key GUID, or the key predicate's text for an alternate key, or ``None`` (also for text
        that is no URL).
    """
    try:
        path = urlsplit(url).path.rstrip("/")
    except ValueError:  # "https://[x/…": the service's header or a document's link, not a URL at all
        return None
    last = unquote(path.rsplit("/", 1)[-1])
    if "(" not in last or not last.endswith(")"):
        return None
    inside = last[last.index("(") + 1 : -1]
    return guid_of(inside) if is_guid(inside) else inside


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
