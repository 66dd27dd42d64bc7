"""Conversion of attribute values between JSON, storage and display text.

JSON in (request bodies, key literals) is validated against the attribute's type and converted to the storage
convention of :mod:`.metadata`; stored values are converted back to JSON; formatted values are the
``@OData.Community.Display.V1.FormattedValue`` texts. Not for whole records: see :mod:`.serialization`.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from dataverse_sandbox.numbers import ascii_integer, finite

from .errors import DataverseError, bad_request, string_too_long
from .metadata import AttributeKind, AttributeMeta, EntityMeta

__all__ = [
    "converter_for",
    "format_timestamp",
    "formatted_value",
    "formatter_for",
    "parse_guid",
    "to_json",
    "to_storage",
]

_NUMBERS = (
    AttributeKind.INTEGER,
    AttributeKind.BIGINT,
    AttributeKind.DECIMAL,
    AttributeKind.DOUBLE,
    AttributeKind.MONEY,
)


def format_timestamp(epoch_seconds: float) -> str:
    """:returns: ``YYYY-MM-DDTHH:MM:SSZ`` in UTC, without fractional seconds (Dataverse's wire format)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_seconds))


_CANONICAL_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def parse_guid(text: str) -> str | None:
    """:returns: the lower-case canonical form of a GUID (braces allowed), or ``None`` when it is not one."""
    if _CANONICAL_GUID.fullmatch(text if isinstance(text, str) else ""):
        return text.lower()  # the usual form, without building a UUID (a bulk request carries thousands)
    try:
        return str(uuid.UUID(text.strip().strip("{}")))
    except (ValueError, AttributeError):
        return None


def _conversion_error(value: Any, attribute: AttributeMeta) -> DataverseError:
    return bad_request(f"Cannot convert the literal '{value}' to the expected type '{attribute.kind.edm_type}'.")


def to_storage(entity: EntityMeta, attribute: AttributeMeta, value: Any) -> Any:
    """Validate a JSON value for a column and convert it to the storage convention.

    :param entity: the table (for error messages).
    :param attribute: the column.
    :param value: the decoded JSON value; ``None`` clears the column.
    :returns: the value to store.
    :raises DataverseError: 400 when the value has the wrong type, is out of range or too long.
    """
    if value is None:
        return None
    kind = attribute.kind
    if kind is AttributeKind.UNIQUEIDENTIFIER:  # first: every record of a keyed bulk create carries one
        return _guid(attribute, value)
    if kind is AttributeKind.IMAGE:
        # An image column takes the image's bytes in base64 (Learn: "Use image column data").
        if not isinstance(value, str):
            raise _conversion_error(value, attribute)
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise _conversion_error(value, attribute) from None
        return value
    if kind in (AttributeKind.STRING, AttributeKind.MEMO):
        if not isinstance(value, str):
            raise _conversion_error(value, attribute)
        if attribute.max_length is not None and len(value) > attribute.max_length:
            raise string_too_long(attribute.logical_name, entity.logical_name, attribute.max_length)
        return value
    if kind is AttributeKind.BOOLEAN:
        if not isinstance(value, bool):
            raise _conversion_error(value, attribute)
        return int(value)
    if kind in _NUMBERS:
        return _number(entity, attribute, value)
    if kind is AttributeKind.MULTISELECT:
        return _choices(entity, attribute, value)
    if kind.is_option_set:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _conversion_error(value, attribute)
        if attribute.option_label(value) is None:
            raise DataverseError(
                400,
                "0x8004431a",
                f"A validation error occurred. The value {value} of '{attribute.logical_name}' on record of type "
                f"'{entity.logical_name}' is outside the valid range.",
            )
        return value
    if kind is AttributeKind.DATETIME:
        return _datetime(attribute, value)
    if kind is AttributeKind.DATEONLY:
        if not isinstance(value, str):
            raise _conversion_error(value, attribute)
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            pass
        try:
            return datetime.fromisoformat(value).date().isoformat()
        except ValueError:
            raise _conversion_error(value, attribute) from None
    return _guid(attribute, value)  # lookups and the rest of the identifiers


def _guid(attribute: AttributeMeta, value: Any) -> str:
    guid = parse_guid(value) if isinstance(value, str) else None
    if guid is None:
        raise _conversion_error(value, attribute)
    return guid


def _choices(entity: EntityMeta, attribute: AttributeMeta, value: Any) -> str:
    """A multi-select choice: text of option values separated by commas (``"1,2"``), each one of the column's."""
    parts = [part.strip() for part in value.split(",")] if isinstance(value, str) else []
    numbers = [number for number in map(ascii_integer, parts) if number is not None]
    if not parts or len(numbers) != len(parts):
        raise _conversion_error(value, attribute)
    for part, number in zip(parts, numbers, strict=True):
        if attribute.option_label(number) is None:
            raise DataverseError(
                400,
                "0x8004431a",
                f"A validation error occurred. The value {part} of '{attribute.logical_name}' on record of type "
                f"'{entity.logical_name}' is outside the valid range.",
            )
    return ",".join(parts)


def _number(entity: EntityMeta, attribute: AttributeMeta, value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _conversion_error(value, attribute)
    if attribute.kind in (AttributeKind.INTEGER, AttributeKind.BIGINT):
        if isinstance(value, float):
            if not value.is_integer():
                raise _conversion_error(value, attribute)
            value = int(value)
    elif not finite(value):
        raise _conversion_error(value, attribute)
    low, high = attribute.min_value, attribute.max_value
    if (low is not None and value < low) or (high is not None and value > high):
        raise DataverseError(
            400,
            "0x80044330",
            f"A validation error occurred. The value {value} of '{attribute.logical_name}' on record of type "
            f"'{entity.logical_name}' is outside the valid range. Accepted Values: {_bound(low)} to {_bound(high)}",
        )
    return value if attribute.kind in (AttributeKind.INTEGER, AttributeKind.BIGINT) else float(value)


def _bound(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if value.is_integer() else str(value)


def _datetime(attribute: AttributeMeta, value: Any) -> str:
    if not isinstance(value, str):
        raise _conversion_error(value, attribute)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _conversion_error(value, attribute) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before the first representable instant
        raise _conversion_error(value, attribute) from None


def to_json(attribute: AttributeMeta, stored: Any) -> Any:
    """:returns: the JSON value of a stored value (booleans as ``true``/``false``, money as a number)."""
    if stored is None:
        return None
    kind = attribute.kind
    if kind is AttributeKind.BOOLEAN:
        return bool(stored)
    if kind in (AttributeKind.DECIMAL, AttributeKind.DOUBLE, AttributeKind.MONEY):
        return float(stored)
    return stored


def formatted_value(attribute: AttributeMeta, stored: Any) -> str | None:
    """Display text of a stored value, as Dataverse's ``FormattedValue`` annotation (user time zone: UTC).

    :returns: the text, or ``None`` for a null value or a type without a formatted value (strings, GUIDs).
        Lookups are resolved elsewhere: they need the target's primary name.
    """
    if stored is None:
        return None
    kind = attribute.kind
    if kind.is_option_set or kind is AttributeKind.BOOLEAN:
        return attribute.option_label(int(stored))
    if kind is AttributeKind.MULTISELECT:
        return "; ".join(str(attribute.option_label(int(part))) for part in str(stored).split(","))
    if kind is AttributeKind.MONEY:
        return _money(stored)
    if kind in (AttributeKind.INTEGER, AttributeKind.BIGINT):
        return f"{int(stored):,}"
    if kind is AttributeKind.DECIMAL:
        return f"{float(stored):,.2f}"
    if kind is AttributeKind.DATETIME:
        moment = datetime.strptime(str(stored), "%Y-%m-%dT%H:%M:%SZ")
        hour = moment.hour % 12 or 12
        return f"{moment.month}/{moment.day}/{moment.year} {hour}:{moment.minute:02d} {moment.strftime('%p')}"
    if kind is AttributeKind.DATEONLY:
        day = date.fromisoformat(str(stored))
        return f"{day.month}/{day.day}/{day.year}"
    return None


def converter_for(attribute: AttributeMeta) -> Callable[[Any], Any] | None:
    """:returns: the stored-to-JSON conversion of a column (as :func:`to_json`), ``None`` when values pass as they are.

    Used when rendering thousands of rows: deciding per column once is much cheaper than per value.
    """
    if attribute.kind is AttributeKind.BOOLEAN:
        return bool
    if attribute.kind in (AttributeKind.DECIMAL, AttributeKind.DOUBLE, AttributeKind.MONEY):
        return float
    return None


def formatter_for(attribute: AttributeMeta) -> Callable[[Any], str | None] | None:
    """:returns: the formatted-value function of a column (as :func:`formatted_value`), ``None`` when it has none."""
    kind = attribute.kind
    if kind.is_option_set or kind is AttributeKind.BOOLEAN:
        labels = {option.value: option.label for option in attribute.options}
        return labels.get
    if kind in (AttributeKind.LOOKUP, AttributeKind.UNIQUEIDENTIFIER, AttributeKind.STRING, AttributeKind.MEMO):
        return None
    if kind is AttributeKind.MULTISELECT:
        return lambda stored: formatted_value(attribute, stored)
    if kind is AttributeKind.MONEY:
        return _money
    return lambda stored: formatted_value(attribute, stored)


def _money(stored: Any) -> str:
    amount = float(stored)
    return f"-${-amount:,.2f}" if amount < 0 else f"${amount:,.2f}"
