"""A table's Spark schema, inferred from the response profile the ``browse`` hook describes, and the conversion of
the records Query returns into rows of that schema.

The profile is JSON Schema built from the table's attribute metadata; its types map to Spark's:

=====================================================  ===================  ==========================================
profile                                                Spark                Dataverse attribute types
=====================================================  ===================  ==========================================
``integer``; ``oneOf`` of integer constants            ``bigint``           Integer, BigInt; Picklist, State, Status
``number``                                             ``decimal(38,10)``   Money, Decimal, Double (all fit exactly)
``boolean``                                            ``boolean``          Boolean
``string`` with ``format: date-time``                  ``timestamp`` (UTC)  DateTime
``string`` with ``format: date``                       ``date``             DateTime, date only
``string`` (GUIDs with their pattern too)              ``string``           String, Memo, Uniqueidentifier, lookups
=====================================================  ===================  ==========================================

Properties the profile leaves untyped (virtual columns, images, files) are left out of an inferred schema; named in
``select``, they come as strings. Annotations (``@odata.etag``) are never columns. Not for reading or partitioning:
:mod:`connector.spark.reader`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Final

from pyspark.sql.types import (
    BooleanType,
    DataType,
    DateType,
    DecimalType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from connector.errors import ConfigError, FieldError

__all__ = ["DECIMAL", "GUID_METADATA", "RowConverter", "is_guid_column", "spark_schema"]

DECIMAL: Final = DecimalType(38, 10)
"""Every Dataverse number: Money (15 integer digits, 4 decimals), Decimal (12 and 10), Double (12 and 5)."""
_GUID_PATTERN: Final = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_QUANTUM: Final = Decimal(1).scaleb(-DECIMAL.scale)
GUID_METADATA: Final = "dynamics365.guid"
"""A text column's metadata key, true when the column holds GUIDs (primary keys, lookups)."""


def spark_schema(profile: Mapping[str, Any], select: Sequence[str] = ()) -> StructType:
    """Build the Spark schema of a table from its response profile.

    :param profile: the ``browse`` hook's response schema of the table.
    :param select: the columns wanted, in order; empty: every typed, readable column in the profile's order.
    :returns: the schema (every column nullable).
    :raises ConfigError: naming ``options.select`` when a selected column is not in the table.
    """
    properties: Mapping[str, Any] = profile.get("properties") or {}
    if not select:
        fields = []
        for name, prop in properties.items():
            spark_type = _spark_type(prop)
            if spark_type is not None and not name.startswith("@"):
                fields.append(_field(name, spark_type, prop))
        return StructType(fields)
    unknown = [name for name in select if name not in properties]
    if unknown:
        table = profile.get("x-entity-set", "the table")
        raise ConfigError(
            [FieldError("options.select", f"{table} has no readable column {name!r}") for name in unknown],
            "The Dynamics 365 data source's options are invalid",
        )
    return StructType(
        [_field(name, _spark_type(properties[name]) or StringType(), properties[name]) for name in select]
    )


def is_guid_column(field: StructField) -> bool:
    """:returns: whether a column of the schema holds GUIDs (compared as GUIDs, not as text)."""
    return bool((field.metadata or {}).get(GUID_METADATA))


def _field(name: str, spark_type: DataType, prop: Mapping[str, Any]) -> StructField:
    guid = isinstance(spark_type, StringType) and prop.get("pattern") == _GUID_PATTERN
    return StructField(name, spark_type, nullable=True, metadata={GUID_METADATA: True} if guid else None)


def _spark_type(prop: Mapping[str, Any]) -> DataType | None:
    declared = prop.get("type")
    types = set(declared) if isinstance(declared, list) else {declared}
    if "integer" in types:
        return LongType()
    if "number" in types:
        return DECIMAL
    if "boolean" in types:
        return BooleanType()
    if "string" in types:
        if prop.get("format") == "date-time":
            return TimestampType()
        if prop.get("format") == "date":
            return DateType()
        return StringType()
    choices = [item.get("const") for item in prop.get("oneOf") or [] if isinstance(item, Mapping)]
    values = [value for value in choices if value is not None]
    if values and all(isinstance(value, int) and not isinstance(value, bool) for value in values):
        return LongType()
    return None


class RowConverter:
    """Turns Query's records (JSON values) into tuples in the schema's column order.

    :param schema: the read's schema.
    """

    def __init__(self, schema: StructType) -> None:
        self.names = tuple(schema.fieldNames())
        self._converters = tuple(_converter(field.dataType) for field in schema.fields)

    def row(self, record: Mapping[str, Any]) -> tuple[Any, ...]:
        """:returns: one row; a column the record lacks (or holds ``null``) is ``None``.

        :raises ValueError: when a value does not fit its column's type (the column is named).
        """
        values: list[Any] = []
        for name, convert in zip(self.names, self._converters, strict=True):
            value = record.get(name)
            if value is None:
                values.append(None)
                continue
            try:
                values.append(convert(value))
            except (ValueError, TypeError, ArithmeticError) as error:
                raise ValueError(f"column {name}: {value!r} does not fit its type ({error})") from None
        return tuple(values)


def _converter(data_type: DataType) -> Callable[[Any], Any]:
    if isinstance(data_type, TimestampType):
        return _timestamp
    if isinstance(data_type, DateType):
        return _date
    if isinstance(data_type, DecimalType):
        return _decimal
    if isinstance(data_type, LongType):
        return _integer
    if isinstance(data_type, BooleanType):
        return _boolean
    return _text


def _timestamp(value: Any) -> datetime:
    # Dataverse writes UTC with a Z; an aware datetime is converted by Spark whatever the session's time zone.
    parsed = datetime.fromisoformat(str(value))
    if parsed.tzinfo is None:
        raise ValueError("a date-time without an offset")
    return parsed


def _date(value: Any) -> date:
    return date.fromisoformat(str(value)[:10])


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise TypeError("a boolean")
    # str() of a float is its shortest round-trip form: 0.1 stays 0.1, not 0.1000000000000000055...
    return Decimal(str(value)).quantize(_QUANTUM, rounding=ROUND_HALF_EVEN)


def _integer(value: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise TypeError(f"not a whole number: {value!r}")
    return int(value)


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"not true or false: {value!r}")
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
