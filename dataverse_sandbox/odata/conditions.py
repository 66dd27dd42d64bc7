"""Single-column SQL conditions: a property compared with a typed value, with another property, or with null.

This is where the storage convention meets OData's types: text compares with ``COLLATE NOCASE`` (Dataverse is
case-insensitive), booleans as 0/1, GUIDs in lower case, datetimes as ``YYYY-MM-DDTHH:MM:SSZ`` text (which sorts
chronologically) and date-only values as ``YYYY-MM-DD``. A date literal against a datetime column compares the
date part (UTC): ``createdon eq 2024-01-02`` is any time that day, ``createdon gt 2024-01-02`` is from the next day.

Every value becomes an SQL parameter; nothing from the query is spliced into the SQL text.
Not for parsing or the logic of and/or/not: :mod:`.parser` and :mod:`.compiler`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from dataverse_sandbox.numbers import ascii_int64

from .columns import ColumnInfo, Family, find_column
from .errors import ODataQueryError, invalid_argument
from .literals import (
    format_date,
    format_datetime,
    normalize_guid,
    parse_date,
    parse_datetime,
    parse_number,
)
from .nodes import ComparisonOperator, Literal, PropertyPath

__all__ = [
    "MIRRORED",
    "OPERATOR_KINDS",
    "SQL_OPERATORS",
    "Scope",
    "bind_value",
    "compare_columns",
    "compare_value",
    "typed_from_text",
]

SQL_OPERATORS: dict[ComparisonOperator, str] = {"eq": "=", "ne": "<>", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}
#: ``5 lt revenue`` is ``revenue gt 5``.
MIRRORED: dict[ComparisonOperator, ComparisonOperator] = {
    "eq": "eq", "ne": "ne", "gt": "lt", "ge": "le", "lt": "gt", "le": "ge"
}  # fmt: skip
# The OData libraries' operator names, which Dataverse's type errors use.
OPERATOR_KINDS: dict[ComparisonOperator, str] = {
    "eq": "Equal",
    "ne": "NotEqual",
    "gt": "GreaterThan",
    "ge": "GreaterThanOrEqual",
    "lt": "LessThan",
    "le": "LessThanOrEqual",
}
_INTEGER = re.compile(r"-?[0-9]+")
# What to tell a user who wrote the wrong kind of value.
_EXPECTED: dict[Family, str] = {
    "text": "a string such as 'text'",
    "number": "a number such as 42 or 5.5",
    "option": "the option's integer value such as 1",
    "boolean": "true or false",
    "datetime": "a datetime such as 2024-01-02T03:04:05Z or a date such as 2024-01-02",
    "date": "a date such as 2024-01-02",
    "guid": "a GUID such as 00000000-0000-0000-0000-000000000001",
}


@dataclass
class Scope:
    """What one compilation knows: the table, the clock and the parameters gathered so far.

    :param columns: the table's properties by OData name.
    :param entity: the entity's logical name, for messages.
    :param now: the current time (UTC, whole seconds) for relative date functions.
    :param params: SQL parameters, in the order of the ``?`` placeholders emitted so far.
    """

    columns: Mapping[str, ColumnInfo]
    entity: str
    now: datetime
    params: list[object] = field(default_factory=list)

    def column(self, path: PropertyPath) -> ColumnInfo:
        """:returns: the column a property path names.

        :raises ODataQueryError: ``0x80060888`` for an unknown property; ``0x80040203`` for a navigation path,
            which the sandbox does not join.
        """
        if len(path.segments) > 1:
            raise invalid_argument(
                f"The sandbox does not support navigation paths such as '{path.name}' (position {path.position}); "
                "filter on the lookup's _<name>_value property instead.",
                position=path.position,
            )
        return find_column(self.columns, path.segments[0], self.entity)


def compare_value(scope: Scope, name: str, info: ColumnInfo, operator: ComparisonOperator, value: Literal) -> str:
    """:returns: SQL for ``<property> <operator> <literal>``; ``eq null``/``ne null`` give ``IS [NOT] NULL``.

    :param name: the property's OData name, for messages.
    :raises ODataQueryError: ``0x80040203`` when the literal's type does not fit the column, or for null with an
        ordering operator.
    """
    if value.kind == "null":
        if operator == "eq":
            return f"{info.quoted} IS NULL"
        if operator == "ne":
            return f"{info.quoted} IS NOT NULL"
        raise _null_value(scope, name)
    column, sql_operator, parameter = bind_value(name, info, operator, value)
    scope.params.append(parameter)
    return f"{column} {sql_operator} ?"


def bind_value(name: str, info: ColumnInfo, operator: ComparisonOperator, value: Literal) -> tuple[str, str, object]:
    """Check a non-null literal against a column and convert it to its stored form.

    :returns: the SQL for the column side (with a collation, or the date part of a datetime), the SQL operator,
        and the parameter.
    :raises ODataQueryError: ``0x80040203`` when the types do not fit.
    """
    family = info.family
    column = info.quoted
    sql_operator = SQL_OPERATORS[operator]
    kind = value.kind
    parameter: object
    if family == "text" and kind == "string":
        return f"{column} COLLATE NOCASE", sql_operator, value.value
    if family == "number" and kind == "number":
        return column, sql_operator, value.value
    if family == "option" and kind == "number" and isinstance(value.value, int):
        return column, sql_operator, value.value
    if family == "option" and kind == "enum":
        return column, sql_operator, _enum_number(name, value)
    if family == "boolean" and kind == "boolean":
        return column, sql_operator, int(bool(value.value))
    if family == "guid" and kind in ("guid", "string"):
        # Dataverse's own examples quote GUIDs ('<guid>'); both forms compare as lower-case text.
        parameter = normalize_guid(str(value.value))
        if parameter is not None:
            return column, sql_operator, parameter
    if family in ("date", "datetime") and kind == "date" and isinstance(value.value, date):
        if family == "datetime":
            column = f"substr({column}, 1, 10)"
        return column, sql_operator, format_date(value.value)
    if family == "datetime" and kind == "datetime" and isinstance(value.value, datetime):
        return (column, *_datetime_operand(operator, value.value))
    raise _type_mismatch(name, info, operator, value)


def _datetime_operand(operator: ComparisonOperator, moment: datetime) -> tuple[str, str]:
    whole = format_datetime(moment)
    if not moment.microsecond:
        return SQL_OPERATORS[operator], whole
    # Stored datetimes are whole seconds S; a literal S + f (0 < f < 1) lies strictly between S and S + 1, so
    # "> S+f" and ">= S+f" are "> S", "< S+f" and "<= S+f" are "<= S", and nothing equals it. The fractional text
    # below differs from every stored value, which gives eq false and ne true for any non-null value.
    if operator in ("gt", "ge"):
        return ">", whole
    if operator in ("lt", "le"):
        return "<=", whole
    return SQL_OPERATORS[operator], f"{whole[:-1]}.{moment.microsecond:06d}Z"


def compare_columns(
    left_name: str, left: ColumnInfo, operator: ComparisonOperator, right_name: str, right: ColumnInfo
) -> str:
    """:returns: SQL comparing two columns of the same row.

    Dataverse requires matching column types; the sandbox accepts two columns of one family (any two numeric
    columns, say ``revenue gt numberofemployees``).

    :raises ODataQueryError: ``0x80040203`` when the families differ.
    """
    if left.family != right.family:
        raise invalid_argument(
            "A binary operator with incompatible types was detected. Found operand types "
            f"'{left.edm_type}' and '{right.edm_type}' for operator kind '{OPERATOR_KINDS[operator]}'. "
            f"The columns '{left_name}' and '{right_name}' cannot be compared: their types differ."
        )
    collation = " COLLATE NOCASE" if left.family == "text" else ""
    return f"{left.quoted}{collation} {SQL_OPERATORS[operator]} {right.quoted}"


def typed_from_text(name: str, info: ColumnInfo, value: Literal) -> Literal:
    """Read a string value as the column's type, as Dataverse's query functions do with ``PropertyValues``.

    :returns: ``value`` unchanged unless it is a string for a non-text column; else a literal of the column's type.
    :raises ODataQueryError: ``0x80040203`` when the text is not a value of that type.
    """
    family = info.family
    if value.kind != "string" or family in ("text", "guid") or not isinstance(value.value, str):
        return value
    text = value.value.strip()
    converted: object
    try:
        if family in ("number", "option"):
            converted, edm_type = parse_number(text)
            return Literal("number", converted, edm_type, value.text, value.position)
        if family == "boolean" and text.lower() in ("true", "false", "1", "0"):
            return Literal("boolean", text.lower() in ("true", "1"), "Edm.Boolean", value.text, value.position)
        if family == "date" or (family == "datetime" and "T" not in text.upper()):
            converted = parse_date(text[:10] if family == "date" and len(text) > 10 else text)
            return Literal("date", converted, "Edm.Date", value.text, value.position)
        if family == "datetime":
            converted = parse_datetime(text)
            return Literal("datetime", converted, "Edm.DateTimeOffset", value.text, value.position)
    except ValueError:
        pass
    raise invalid_argument(
        f"The value '{text}' is not valid for the property '{name}' of type '{info.edm_type}': "
        f"expected {_EXPECTED[family]}."
    )


def _enum_number(name: str, value: Literal) -> int:
    type_name, member = value.value if isinstance(value.value, tuple) else ("", "")
    text = str(member).strip()
    number = ascii_int64(text) if _INTEGER.fullmatch(text) else None
    if number is not None:
        return number
    raise invalid_argument(
        f"The enum value {value.text} cannot be compared with the choice property '{name}': the sandbox "
        f"maps enum members by number only, e.g. {type_name}'1'. Use the option's integer value instead."
    )


def _type_mismatch(name: str, info: ColumnInfo, operator: ComparisonOperator, value: Literal) -> ODataQueryError:
    return invalid_argument(
        "A binary operator with incompatible types was detected. Found operand types "
        f"'{info.edm_type}' and '{value.edm_type}' for operator kind '{OPERATOR_KINDS[operator]}'. "
        f"The property '{name}' needs {_EXPECTED[info.family]}, not {value.text}.",
        position=value.position,
    )


def _null_value(scope: Scope, name: str) -> ODataQueryError:
    return invalid_argument(
        f"Condition for attribute '{scope.entity}.{name}': null is not a valid value for an attribute. "
        "Use 'eq null' or 'ne null' instead."
    )
