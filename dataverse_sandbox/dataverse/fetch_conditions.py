"""FetchXML filters to SQL: ``<filter>`` trees and ``<condition>`` operators, checked against a table's columns.

Comparisons reuse the ``$filter`` compiler's typed binding (:mod:`dataverse_sandbox.odata.conditions`), so a value
means the same in FetchXML as in OData: text compares case-insensitively, GUIDs with or without braces, dates
against datetime columns by their UTC date. Values arrive as text and are read as the column's type.

Operators: ``eq`` ``ne`` ``neq`` ``gt`` ``ge`` ``lt`` ``le``; ``like`` ``not-like`` (SQL Server ``LIKE`` patterns),
``begins-with`` ``not-begin-with`` ``ends-with`` ``not-end-with``; ``null`` ``not-null``; ``in`` ``not-in``
(``<value>`` children); ``between`` ``not-between`` (two ``<value>`` children); ``on`` ``on-or-after``
``on-or-before`` (by date). Any other operator is 400 ``0x80041120``. Null follows SQL: a row whose column is null
matches no comparison and no negated comparison, only ``null``.
Not for parsing the XML (:mod:`.fetchxml`) or running the query (:mod:`.fetch_queries`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from dataverse_sandbox.odata.columns import ColumnInfo
from dataverse_sandbox.odata.conditions import Scope, bind_value, compare_value, typed_from_text
from dataverse_sandbox.odata.errors import ODataQueryError
from dataverse_sandbox.odata.nodes import ComparisonOperator, Literal
from dataverse_sandbox.odata.patterns import ascii_lower, like_to_glob

from .errors import DataverseError, invalid_argument
from .fetchxml import FetchCondition, FetchFilter
from .metadata import AttributeMeta, EntityMeta

__all__ = ["NO_ATTRIBUTE", "OPERATORS", "compile_fetch_filter", "find_attribute"]

#: QueryBuilderNoAttribute: the table has no column with that logical name.
NO_ATTRIBUTE = "0x80041103"
_INVALID_OPERATOR = "0x80041120"

_COMPARISONS: dict[str, ComparisonOperator] = {
    "eq": "eq", "ne": "ne", "neq": "ne", "gt": "gt", "ge": "ge", "lt": "lt", "le": "le",
    "on": "eq", "on-or-after": "ge", "on-or-before": "le",
}  # fmt: skip
#: ``like``-family operators: (GLOB prefix, GLOB suffix, negated).
_PATTERNS: dict[str, tuple[str, str, bool]] = {
    "like": ("", "", False), "not-like": ("", "", True),
    "begins-with": ("", "*", False), "not-begin-with": ("", "*", True),
    "ends-with": ("*", "", False), "not-end-with": ("*", "", True),
}  # fmt: skip
_DATE_OPERATORS = frozenset({"on", "on-or-after", "on-or-before"})

_Builder = Callable[[Scope, AttributeMeta, ColumnInfo, FetchCondition], str]


def find_attribute(entity: EntityMeta, name: str) -> AttributeMeta:
    """:returns: the column with logical name ``name``.

    :raises DataverseError: 400 ``0x80041103`` in Dataverse's words when the table has none.
    """
    attribute = entity.by_logical_name(name)
    if attribute is None:
        raise DataverseError(
            400,
            NO_ATTRIBUTE,
            f"'{entity.display_name}' entity doesn't contain attribute with Name = '{name}' and NameMapping = "
            "'Logical'.",
        )
    return attribute


def compile_fetch_filter(entity: EntityMeta, fetch_filter: FetchFilter | None, now: float) -> tuple[str, list[object]]:
    """Compile the entity's filters.

    :param entity: the table queried.
    :param fetch_filter: the filter tree, or ``None``.
    :param now: the sandbox clock (epoch seconds), for the compiler's scope.
    :returns: an SQL condition (``1`` without a filter) and its parameters.
    :raises DataverseError: 400 for an unknown column (``0x80041103``) or operator (``0x80041120``), a value that
        does not fit the column, or the wrong number of values.
    """
    if fetch_filter is None:
        return "1", []
    scope = Scope({}, entity.logical_name, datetime.fromtimestamp(int(now), UTC))
    try:
        sql = _filter(scope, entity, fetch_filter)
    except ODataQueryError as exc:
        raise DataverseError(400, exc.code, exc.message) from exc
    return sql, scope.params


def _filter(scope: Scope, entity: EntityMeta, fetch_filter: FetchFilter) -> str:
    parts = [
        _filter(scope, entity, item) if isinstance(item, FetchFilter) else _condition(scope, entity, item)
        for item in fetch_filter.items
    ]
    if not parts:
        return "1"
    joiner = " AND " if fetch_filter.type == "and" else " OR "
    return "(" + joiner.join(parts) + ")"


def _condition(scope: Scope, entity: EntityMeta, condition: FetchCondition) -> str:
    attribute = find_attribute(entity, condition.attribute)
    info = ColumnInfo(attribute.column, attribute.kind.value.lower())
    builder = _BUILDERS.get(condition.operator)
    if builder is None:
        raise DataverseError(
            400,
            _INVALID_OPERATOR,
            f"The condition operator '{condition.operator}' on '{condition.attribute}' is not valid or not supported "
            f"by the sandbox. Supported: {', '.join(sorted(_BUILDERS))}.",
        )
    return builder(scope, attribute, info, condition)


def _values(condition: FetchCondition, count: int | None) -> tuple[str, ...]:
    values = condition.values
    if count is None:
        if not values:
            raise invalid_argument(
                f"The '{condition.operator}' condition on '{condition.attribute}' needs at least one <value>."
            )
    elif len(values) != count:
        expected = "a value" if count == 1 else f"{count} <value> elements"
        raise invalid_argument(
            f"The '{condition.operator}' condition on '{condition.attribute}' needs {expected}, got {len(values)}."
        )
    return values


def _literal(attribute: AttributeMeta, info: ColumnInfo, text: str, *, by_date: bool) -> Literal:
    literal = Literal("string", text, "Edm.String", f"'{text}'", 0)
    if by_date:
        if info.family not in ("date", "datetime"):
            raise invalid_argument(
                f"The date operators need a date or datetime column; '{attribute.logical_name}' is '{info.edm_type}'."
            )
        # Only the date part counts, whatever time the value carries.
        literal = Literal("string", text.strip()[:10], "Edm.String", f"'{text}'", 0)
    return typed_from_text(attribute.logical_name, info, literal)


def _comparison(scope: Scope, attribute: AttributeMeta, info: ColumnInfo, condition: FetchCondition) -> str:
    (text,) = _values(condition, 1)
    by_date = condition.operator in _DATE_OPERATORS
    literal = _literal(attribute, info, text, by_date=by_date)
    return compare_value(scope, attribute.logical_name, info, _COMPARISONS[condition.operator], literal)


def _pattern(scope: Scope, attribute: AttributeMeta, info: ColumnInfo, condition: FetchCondition) -> str:
    (text,) = _values(condition, 1)
    if info.family != "text":
        raise invalid_argument(
            f"The '{condition.operator}' operator needs a text column; '{attribute.logical_name}' is '{info.edm_type}'."
        )
    before, after, negated = _PATTERNS[condition.operator]
    scope.params.append(before + like_to_glob(ascii_lower(text)) + after)
    # GLOB is case-sensitive, so both sides are lower-cased; lower(NULL) is NULL, so null rows never match.
    sql = f"lower({info.quoted}) GLOB ?"
    return f"({info.quoted} IS NOT NULL AND NOT ({sql}))" if negated else sql


def _null(scope: Scope, attribute: AttributeMeta, info: ColumnInfo, condition: FetchCondition) -> str:
    return f"{info.quoted} IS {'NOT ' if condition.operator == 'not-null' else ''}NULL"


def _membership(scope: Scope, attribute: AttributeMeta, info: ColumnInfo, condition: FetchCondition) -> str:
    name = attribute.logical_name
    bound = [
        bind_value(name, info, "eq", _literal(attribute, info, text, by_date=False))
        for text in _values(condition, None)
    ]
    scope.params.extend(parameter for _, _, parameter in bound)
    columns = {column for column, _, _ in bound}
    if len(columns) == 1:
        # One IN list, not a chain of ORs: SQLite refuses expression trees deeper than 1000.
        sql = f"{columns.pop()} IN ({', '.join('?' * len(bound))})"
    else:
        # Dates and datetimes mixed for one datetime column compare different expressions: one condition each.
        sql = "(" + " OR ".join(f"{column} = ?" for column, _, _ in bound) + ")"
    return f"({info.quoted} IS NOT NULL AND NOT {sql})" if condition.operator == "not-in" else sql


def _range(scope: Scope, attribute: AttributeMeta, info: ColumnInfo, condition: FetchCondition) -> str:
    low, high = _values(condition, 2)
    name = attribute.logical_name
    sql = (
        f"({compare_value(scope, name, info, 'ge', _literal(attribute, info, low, by_date=False))} AND "
        f"{compare_value(scope, name, info, 'le', _literal(attribute, info, high, by_date=False))})"
    )
    return f"({info.quoted} IS NOT NULL AND NOT {sql})" if condition.operator == "not-between" else sql


_BUILDERS: dict[str, _Builder] = {
    **dict.fromkeys(_COMPARISONS, _comparison),
    **dict.fromkeys(_PATTERNS, _pattern),
    "null": _null,
    "not-null": _null,
    "in": _membership,
    "not-in": _membership,
    "between": _range,
    "not-between": _range,
}

#: Every supported operator.
OPERATORS = frozenset(_BUILDERS)
