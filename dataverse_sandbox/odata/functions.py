"""The functions ``$filter`` may call: OData's string functions and a set of Dataverse's query functions.

OData: ``contains``, ``startswith``, ``endswith`` on text properties, with Dataverse's wildcards (see
:mod:`.patterns`). Dataverse (fully qualified, ``Microsoft.Dynamics.CRM.<Name>(PropertyName='x', …)``):

* ``In``, ``NotIn`` (``PropertyValues``), ``Between``, ``NotBetween`` (``PropertyValues``, two values),
  ``Null``, ``NotNull``;
* ``On``, ``OnOrAfter``, ``OnOrBefore`` (``PropertyValue``, compared by date);
* ``Today``, ``Yesterday``, ``Tomorrow``, ``Last7Days``, ``Next7Days``, ``LastXDays``, ``NextXDays``
  (``PropertyValue``: X), all by UTC date, today included; ``LastXHours``, ``NextXHours`` (datetime columns,
  from X hours before now to now, or from now to X hours ahead). Dataverse evaluates these in the user's time
  zone, and whether today counts in ``LastXDays`` is not documented: both are the sandbox's choice.

Values in ``PropertyValues`` are strings or literals and are read as the property's type (``["5","2000"]`` for a
number). Not for and/or/not or plain comparisons: :mod:`.compiler`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

from dataverse_sandbox.numbers import ascii_whole_number

from .columns import ColumnInfo
from .conditions import Scope, bind_value, compare_value, typed_from_text
from .errors import ODataQueryError, invalid_argument
from .nodes import ArrayLiteral, ComparisonOperator, FunctionCall, Literal, Node, PropertyPath
from .patterns import ascii_lower, like_to_glob

__all__ = ["QUERY_FUNCTIONS", "STRING_FUNCTIONS", "call_function"]

NAMESPACE = "Microsoft.Dynamics.CRM."
#: The OData string functions Dataverse supports, with the GLOB pattern around the user's text.
STRING_FUNCTIONS: dict[str, tuple[str, str]] = {"contains": ("*", "*"), "startswith": ("", "*"), "endswith": ("*", "")}

_Builder = Callable[[Scope, str, ColumnInfo, dict[str, Node], FunctionCall], str]


def call_function(scope: Scope, call: FunctionCall) -> str:
    """:returns: the SQL condition for a function call in ``$filter``.

    :raises ODataQueryError: ``0x80040203`` for an unknown or unsupported function or bad arguments;
        ``0x80060888`` for an unknown property.
    """
    if call.name in STRING_FUNCTIONS:
        return _string_match(scope, call)
    short = call.name.removeprefix(NAMESPACE)
    entry = QUERY_FUNCTIONS.get(short) if call.name.startswith(NAMESPACE) else None
    if entry is None:
        raise _unknown_function(call)
    parameters, builder = entry
    arguments = _named_arguments(call, ("PropertyName", *parameters))
    name = _string_argument(call, arguments, "PropertyName")
    info = scope.column(PropertyPath((name,), call.position))
    return builder(scope, name, info, arguments, call)


def _unknown_function(call: FunctionCall) -> ODataQueryError:
    if call.name.startswith(NAMESPACE):
        return invalid_argument(
            f"The query function '{call.name}' is not supported by the sandbox. It supports "
            f"{', '.join(NAMESPACE + name for name in QUERY_FUNCTIONS)}.",
            position=call.position,
        )
    if call.name in QUERY_FUNCTIONS:
        return invalid_argument(
            f"An unknown function with name '{call.name}' was found. Dataverse's query functions need their "
            f"fully qualified name: {NAMESPACE}{call.name}.",
            position=call.position,
        )
    return invalid_argument(
        f"An unknown function with name '{call.name}' was found. $filter supports contains, startswith, "
        f"endswith and the {NAMESPACE}* query functions.",
        position=call.position,
    )


def _string_match(scope: Scope, call: FunctionCall) -> str:
    if len(call.arguments) != 2 or call.named:
        raise invalid_argument(
            f"The function '{call.name}' takes two arguments: {call.name}(property,'text').", position=call.position
        )
    target, text = call.arguments
    if not isinstance(target, PropertyPath):
        raise invalid_argument(
            f"The first argument of '{call.name}' must be a property, as in {call.name}(name,'text').",
            position=call.position,
        )
    info = scope.column(target)
    if info.family != "text":
        raise invalid_argument(
            f"The function '{call.name}' needs a string property, but '{target.name}' is '{info.edm_type}'.",
            position=target.position,
        )
    if not isinstance(text, Literal) or text.kind != "string" or not isinstance(text.value, str):
        raise invalid_argument(
            f"The second argument of '{call.name}' must be a string such as 'text'.", position=call.position
        )
    before, after = STRING_FUNCTIONS[call.name]
    scope.params.append(before + like_to_glob(ascii_lower(text.value)) + after)
    # lower() on both sides because GLOB is case-sensitive; lower(NULL) is NULL, so null never matches.
    return f"lower({info.quoted}) GLOB ?"


def _named_arguments(call: FunctionCall, allowed: tuple[str, ...]) -> dict[str, Node]:
    example = f"{call.name}({', '.join(f'{p}=…' for p in allowed)})"
    if call.arguments:
        raise invalid_argument(f"The function '{call.name}' takes named parameters: {example}.", position=call.position)
    arguments: dict[str, Node] = {}
    for parameter, value in call.named:
        if parameter not in allowed:
            raise invalid_argument(f"The function '{call.name}' has no parameter '{parameter}': {example}.")
        if parameter in arguments:
            raise invalid_argument(f"The parameter '{parameter}' of '{call.name}' is given twice.")
        arguments[parameter] = value
    missing = [parameter for parameter in allowed if parameter not in arguments]
    if missing:
        raise invalid_argument(f"The function '{call.name}' needs the parameter '{missing[0]}': {example}.")
    return arguments


def _string_argument(call: FunctionCall, arguments: dict[str, Node], parameter: str) -> str:
    value = arguments[parameter]
    if isinstance(value, Literal) and value.kind == "string" and isinstance(value.value, str):
        return value.value
    raise invalid_argument(f"The parameter '{parameter}' of '{call.name}' must be a string such as 'name'.")


def _values(call: FunctionCall, arguments: dict[str, Node]) -> tuple[Literal, ...]:
    values = arguments["PropertyValues"]
    if not isinstance(values, ArrayLiteral) or not values.items:
        raise invalid_argument(
            f"The parameter 'PropertyValues' of '{call.name}' must be a non-empty collection such as [\"a\",\"b\"]."
        )
    return values.items


def _count(call: FunctionCall, arguments: dict[str, Node]) -> int:
    value = arguments["PropertyValue"]
    number = value.value if isinstance(value, Literal) else None
    if isinstance(number, str):
        number = ascii_whole_number(number)
    if isinstance(number, int) and not isinstance(number, bool) and 0 <= number <= 100_000:
        return number
    raise invalid_argument(f"The parameter 'PropertyValue' of '{call.name}' must be a whole number of units.")


def _require_dates(call: FunctionCall, name: str, info: ColumnInfo, *, hours: bool = False) -> None:
    allowed = ("datetime",) if hours else ("datetime", "date")
    if info.family not in allowed:
        kind = "datetime" if hours else "date or datetime"
        raise invalid_argument(
            f"The function '{call.name}' needs a {kind} property, but '{name}' is '{info.edm_type}'."
        )


def _day(value: date, call: FunctionCall) -> Literal:
    return Literal("date", value, "Edm.Date", value.isoformat(), call.position)


def _moment(value: datetime, call: FunctionCall) -> Literal:
    return Literal("datetime", value, "Edm.DateTimeOffset", value.isoformat(), call.position)


def _between(scope: Scope, name: str, info: ColumnInfo, low: Literal, high: Literal) -> str:
    return f"({compare_value(scope, name, info, 'ge', low)} AND {compare_value(scope, name, info, 'le', high)})"


def _in(scope: Scope, name: str, info: ColumnInfo, arguments: dict[str, Node], call: FunctionCall) -> str:
    bound = []
    for item in _values(call, arguments):
        if item.kind == "null":
            raise invalid_argument(f"The values of '{call.name}' cannot be null; use {NAMESPACE}Null instead.")
        bound.append(bind_value(name, info, "eq", typed_from_text(name, info, item)))
    scope.params.extend(parameter for _, _, parameter in bound)
    columns = {column for column, _, _ in bound}
    if len(columns) == 1:  # every value binds as "<column> = ?"
        return f"{columns.pop()} IN ({', '.join('?' * len(bound))})"
    # Dates and datetimes mixed for one datetime column compare different expressions: one condition each.
    return "(" + " OR ".join(f"{column} = ?" for column, _, _ in bound) + ")"


def _not_in(scope: Scope, name: str, info: ColumnInfo, arguments: dict[str, Node], call: FunctionCall) -> str:
    return f"NOT ({_in(scope, name, info, arguments, call)})"


def _between_values(scope: Scope, name: str, info: ColumnInfo, arguments: dict[str, Node], call: FunctionCall) -> str:
    values = _values(call, arguments)
    if len(values) != 2:
        raise invalid_argument(f"The parameter 'PropertyValues' of '{call.name}' needs exactly two values.")
    low, high = (typed_from_text(name, info, value) for value in values)
    return _between(scope, name, info, low, high)


def _not_between(scope: Scope, name: str, info: ColumnInfo, arguments: dict[str, Node], call: FunctionCall) -> str:
    return f"NOT {_between_values(scope, name, info, arguments, call)}"


def _null(scope: Scope, name: str, info: ColumnInfo, arguments: dict[str, Node], call: FunctionCall) -> str:
    return f"{info.quoted} IS NULL"


def _not_null(scope: Scope, name: str, info: ColumnInfo, arguments: dict[str, Node], call: FunctionCall) -> str:
    return f"{info.quoted} IS NOT NULL"


def _on(operator: ComparisonOperator) -> _Builder:
    def build(scope: Scope, name: str, info: ColumnInfo, arguments: dict[str, Node], call: FunctionCall) -> str:
        _require_dates(call, name, info)
        value = arguments["PropertyValue"]
        if not isinstance(value, Literal):
            raise invalid_argument(f"The parameter 'PropertyValue' of '{call.name}' must be a date.")
        value = typed_from_text(name, info, value)
        if value.kind == "datetime" and isinstance(value.value, datetime):
            value = _day(value.value.date(), call)  # these functions compare whole days
        return compare_value(scope, name, info, operator, value)

    return build


def _days(first: int, last: int, *, counted: bool = False) -> _Builder:
    """Days from today + ``first`` to today + ``last``; with ``counted``, X from PropertyValue multiplies both."""

    def build(scope: Scope, name: str, info: ColumnInfo, arguments: dict[str, Node], call: FunctionCall) -> str:
        _require_dates(call, name, info)
        factor = _count(call, arguments) if counted else 1
        today = scope.now.date()
        low, high = today + timedelta(days=first * factor), today + timedelta(days=last * factor)
        if low == high:
            return compare_value(scope, name, info, "eq", _day(low, call))
        return _between(scope, name, info, _day(low, call), _day(high, call))

    return build


def _hours(sign: int) -> _Builder:
    def build(scope: Scope, name: str, info: ColumnInfo, arguments: dict[str, Node], call: FunctionCall) -> str:
        _require_dates(call, name, info, hours=True)
        edge = scope.now + timedelta(hours=sign * _count(call, arguments))
        low, high = sorted((scope.now, edge))
        return _between(scope, name, info, _moment(low, call), _moment(high, call))

    return build


#: Dataverse query functions the sandbox implements: extra parameters besides PropertyName, and the builder.
QUERY_FUNCTIONS: dict[str, tuple[tuple[str, ...], _Builder]] = {
    "In": (("PropertyValues",), _in),
    "NotIn": (("PropertyValues",), _not_in),
    "Between": (("PropertyValues",), _between_values),
    "NotBetween": (("PropertyValues",), _not_between),
    "Null": ((), _null),
    "NotNull": ((), _not_null),
    "On": (("PropertyValue",), _on("eq")),
    "OnOrAfter": (("PropertyValue",), _on("ge")),
    "OnOrBefore": (("PropertyValue",), _on("le")),
    "Today": ((), _days(0, 0)),
    "Yesterday": ((), _days(-1, -1)),
    "Tomorrow": ((), _days(1, 1)),
    "Last7Days": ((), _days(-7, 0)),
    "Next7Days": ((), _days(0, 7)),
    "LastXDays": (("PropertyValue",), _days(-1, 0, counted=True)),
    "NextXDays": (("PropertyValue",), _days(0, 1, counted=True)),
    "LastXHours": (("PropertyValue",), _hours(-1)),
    "NextXHours": (("PropertyValue",), _hours(1)),
}
