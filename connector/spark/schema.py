"""A table's Spark schema, inferred from the response profile the ``browse`` hook describes, and the conversion of
the records Query returns into Arrow batches of that schema.

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
from collections.abc import Mapping, Sequence
from typing import Any, Final

import pyarrow as pa
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

__all__ = ["DECIMAL", "GUID_METADATA", "BatchConverter", "is_guid_column", "spark_schema"]

DECIMAL: Final = DecimalType(38, 10)
"""Every Dataverse number: Money (15 integer digits, 4 decimals), Decimal (12 and 10), Double (12 and 5)."""
_GUID_PATTERN: Final = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
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


class BatchConverter:
    """Turns pages of Query's records (JSON values) into Arrow record batches of the schema, column by column.

    Spark takes a reader's Arrow batches as they are, instead of converting each value of each row in Python: the
    values are gathered per column and cast by Arrow (ISO 8601 text to UTC timestamps and dates, JSON numbers to
    ``decimal(38,10)`` rounded to the nearest at ten places, whole numbers to ``bigint``). A value that does not
    fit its column (a fraction in a whole-number column, text where a number belongs) fails the batch, naming the
    column.

    :param schema: the read's schema.
    """

    def __init__(self, schema: StructType) -> None:
        from pyspark.sql.pandas.types import to_arrow_schema

        self.names = tuple(schema.fieldNames())
        # The exact Arrow schema Spark compares a reader's batches with.
        self.arrow_schema = to_arrow_schema(schema, timezone="UTC")

    def batch(self, records: Sequence[Mapping[str, Any]]) -> pa.RecordBatch:
        """:returns: one batch of the records; a member a record lacks (or holds as ``null``) is null.

        :raises ValueError: when a value does not fit its column's type (the column is named).
        """
        arrays = []
        for name, field in zip(self.names, self.arrow_schema, strict=True):
            values = [record.get(name) for record in records]
            try:
                arrays.append(_column(values, field.type))
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError) as error:
                raise ValueError(f"column {name}: a value does not fit its type ({error})") from None
        return pa.RecordBatch.from_arrays(arrays, schema=self.arrow_schema)


def _column(values: list[Any], arrow_type: pa.DataType) -> pa.Array[Any]:
    if pa.types.is_string(arrow_type):
        try:
            return pa.array(values, type=pa.string())
        except pa.ArrowTypeError:
            # An untyped column named in select may hold numbers or objects: their JSON text.
            texts = [value if value is None or isinstance(value, str) else _json_text(value) for value in values]
            return pa.array(texts, type=pa.string())
    inferred: pa.Array[Any] = pa.array(values)
    if pa.types.is_null(inferred.type) or inferred.type == arrow_type:
        return inferred.cast(arrow_type)
    if pa.types.is_boolean(arrow_type) or pa.types.is_boolean(inferred.type):
        # Arrow would read 1 as true and true as 1; Dataverse never sends one for the other.
        raise TypeError(f"{inferred.type} values in a {arrow_type} column")
    if pa.types.is_string(inferred.type) and not pa.types.is_temporal(arrow_type):
        raise TypeError(f"text values in a {arrow_type} column")
    return inferred.cast(arrow_type)


def _json_text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
