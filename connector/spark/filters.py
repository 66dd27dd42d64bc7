"""Spark's pushed filters as the connector's Query conditions, and which of them Spark must still evaluate.

Spark hands the reader the conjuncts of a ``WHERE`` it could express (``pyspark.sql.datasource.Filter``). Each one
that has a Query form is sent to Dataverse, so fewer records cross the network. Whether Spark may then drop it
depends on whether Dataverse decides it exactly as Spark would:

* **exact** (Spark drops them): comparisons, null-safe equality and ``IN`` on whole numbers, decimals and
  booleans; ``IS NULL``, ``IS NOT NULL`` and ``<=> NULL`` on any column; ``<>`` as ``ne`` and ``ne null`` together
  (SQL's ``<>`` drops nulls, OData's ``ne`` keeps them).
* **narrowing** (sent, and Spark evaluates them again: what Dataverse returns is a superset of what Spark keeps):
  ``=`` and ``IN`` on text and GUIDs (Dataverse compares text without regard to case, Spark with it),
  ``LIKE 'abc%'``/``'%abc'``/``'%abc%'`` as ``startswith``/``endswith``/``contains`` with Dataverse's wildcards
  escaped; comparisons on timestamps (with a whole-second literal: Dataverse keeps date-times to the second) and
  dates.
* **not pushed**: ``<``, ``>`` and ``<>`` on text and GUIDs (Dataverse orders text without regard to case and GUIDs
  its own way, so it could leave out rows Spark keeps), a timestamp literal with a fraction of a second, ``NOT`` of
  anything but ``=``, ``IN`` lists longer than :data:`MAX_IN_VALUES`, values that do not fit their column (text
  compared with a GUID column, a number with a text one: Dataverse would refuse the query, Spark finds no match),
  and columns that are not in the read's schema.

Not for the partition ranges (:mod:`connector.spark.partitions`), though both end up in the same Query filter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Final

from pyspark.sql.datasource import (
    EqualNullSafe,
    EqualTo,
    Filter,
    GreaterThan,
    GreaterThanOrEqual,
    In,
    IsNotNull,
    IsNull,
    LessThan,
    LessThanOrEqual,
    Not,
    StringContains,
    StringEndsWith,
    StringStartsWith,
)
from pyspark.sql.types import (
    BooleanType,
    DateType,
    DecimalType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from connector.spark.schema import is_guid_column

__all__ = ["MAX_IN_VALUES", "PushedFilter", "translate"]

MAX_IN_VALUES: Final = 100
"""The longest ``IN`` list sent as ``or`` conditions (a URL has a length limit)."""

_GUID: Final = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_COMPARISONS: Final[Mapping[type[Filter], str]] = {
    EqualTo: "eq",
    GreaterThan: "gt",
    GreaterThanOrEqual: "ge",
    LessThan: "lt",
    LessThanOrEqual: "le",
}
_STRING_FUNCTIONS: Final[Mapping[type[Filter], str]] = {
    StringStartsWith: "startswith",
    StringEndsWith: "endswith",
    StringContains: "contains",
}


@dataclass(frozen=True)
class PushedFilter:
    """One Spark filter in the connector's Query filter language.

    :param condition: a condition, custom filter or group of the Query ``filter`` option.
    :param exact: whether Dataverse decides it exactly as Spark does (then Spark need not evaluate it again).
    """

    condition: Mapping[str, Any]
    exact: bool


def translate(spark_filter: Filter, schema: StructType) -> PushedFilter | None:
    """Translate one Spark filter.

    :param spark_filter: the filter Spark offers.
    :param schema: the read's schema (the columns, their types, which text columns hold GUIDs).
    :returns: its Query form, or ``None`` when it has none.
    """
    fields = {field.name: field for field in schema.fields}
    if isinstance(spark_filter, Not):
        child = _column(spark_filter.child, fields)
        if child is None or not isinstance(spark_filter.child, EqualTo):
            return None
        inner = _comparison(child, "ne", spark_filter.child.value)
        if inner is None:
            return None
        both = {"operator": "and", "conditions": [inner.condition, _null_check(child.name, "ne")]}
        return PushedFilter(both, exact=inner.exact)
    field = _column(spark_filter, fields)
    if field is None:
        return None
    if isinstance(spark_filter, IsNull):
        return PushedFilter(_null_check(field.name, "eq"), exact=True)
    if isinstance(spark_filter, IsNotNull):
        return PushedFilter(_null_check(field.name, "ne"), exact=True)
    if isinstance(spark_filter, EqualNullSafe):
        if spark_filter.value is None:
            return PushedFilter(_null_check(field.name, "eq"), exact=True)
        # Null-safe equality with a value is plain equality: a null never equals a value.
        return _comparison(field, "eq", spark_filter.value)
    operator = _COMPARISONS.get(type(spark_filter))
    if operator is not None:
        return _comparison(field, operator, getattr(spark_filter, "value", None))
    if isinstance(spark_filter, In):
        return _in(field, spark_filter.value)
    function = _STRING_FUNCTIONS.get(type(spark_filter))
    if function is not None and isinstance(field.dataType, StringType) and not is_guid_column(field):
        value = str(getattr(spark_filter, "value", ""))
        return PushedFilter({"custom": f"{function}({field.name},{_quoted_pattern(value)})"}, exact=False)
    return None


def _column(spark_filter: Filter, fields: Mapping[str, StructField]) -> StructField | None:
    attribute = getattr(spark_filter, "attribute", None)
    if not isinstance(attribute, tuple) or len(attribute) != 1:
        return None
    return fields.get(attribute[0])


def _comparison(field: StructField, operator: str, value: Any) -> PushedFilter | None:
    if value is None:
        # Spark never offers a comparison with null (it is never true); should one come, Spark keeps it.
        return None
    if operator != "eq" and isinstance(field.dataType, StringType):
        # Dataverse orders and compares text without regard to case ('a' < 'M' there, 'a' > 'M' in Spark), and
        # GUIDs in SQL Server's order: its 'gt' or 'ne' could leave out rows Spark keeps. Only 'eq' (a superset of
        # Spark's matches) is safe to send.
        return None
    if isinstance(value, datetime) and value.microsecond:
        # Dataverse keeps date-times to the second; a literal between two seconds is Spark's to compare.
        return None
    written = _value(value, field)
    if written is None:
        return None
    condition: dict[str, Any] = {"field": field.name, "operator": operator, "value": written[0]}
    if written[1] is not None:
        condition["type"] = written[1]
    return PushedFilter(condition, exact=isinstance(field.dataType, LongType | DecimalType | BooleanType))


def _in(field: StructField, values: tuple[Any, ...]) -> PushedFilter | None:
    present = [value for value in values if value is not None]
    if not present or len(present) > MAX_IN_VALUES:
        return None
    conditions = []
    exact = True
    for value in present:
        pushed = _comparison(field, "eq", value)
        if pushed is None:
            return None
        conditions.append(pushed.condition)
        exact = pushed.exact
    return PushedFilter({"operator": "or", "conditions": conditions}, exact=exact)


def _null_check(name: str, operator: str) -> dict[str, Any]:
    return {"field": name, "operator": operator, "value": None, "type": "null"}


def _value(value: Any, field: StructField) -> tuple[Any, str | None] | None:
    """:returns: the value as JSON and its literal type (``None``: the attribute's metadata decides), or ``None``
    when the value does not fit the column (Spark keeps such a filter; Dataverse would refuse the query).
    """
    data_type = field.dataType
    if isinstance(data_type, LongType):
        return (value, "integer") if isinstance(value, int) and not isinstance(value, bool) else None
    if isinstance(data_type, DecimalType):
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            return None
        return format(Decimal(str(value)) if isinstance(value, float) else Decimal(value), "f"), "number"
    if isinstance(data_type, BooleanType):
        return (value, "boolean") if isinstance(value, bool) else None
    if isinstance(data_type, TimestampType):
        if not isinstance(value, datetime):
            return None
        moment = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.isoformat().replace("+00:00", "Z"), "datetime"
    if isinstance(data_type, DateType):
        return (value.isoformat(), "date") if isinstance(value, date) and not isinstance(value, datetime) else None
    if not isinstance(value, str):
        return None
    if is_guid_column(field):
        return (value, "guid") if _GUID.fullmatch(value) else None
    # Text: the attribute's metadata says how the literal is written (a multi-select's too).
    return value, None


def _quoted_pattern(text: str) -> str:
    # Dataverse hands the text of startswith/endswith/contains to SQL LIKE: brackets make its wildcards literal.
    escaped = "".join(f"[{char}]" if char in "%_[" else char for char in text)
    return "'" + escaped.replace("'", "''") + "'"
