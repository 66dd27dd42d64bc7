"""Structured query filters: conditions, AND/OR groups and the custom-filter pseudo-field, written as ``$filter``.

A filter comes from the Query operation's options (already valid against its schema) as nested groups; each
condition compares one property with one value through ``eq``, ``ne``, ``gt``, ``ge``, ``lt`` or ``le``. Values are
written by :func:`~connector.dataverse.odata.literals.format_literal`, typed by the condition's explicit ``type``, else
by the attribute's metadata, else by the JSON value, so a value is always matched literally. A custom filter splices a
raw expression at its place, as Boomi's does (``price eq 5 and NOT(name eq 'Smith')``), in parentheses only when
its own top-level ``and``/``or`` would otherwise change the group's meaning.
This module does not fetch metadata: the caller passes a type resolver.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol, cast

from connector.dataverse.odata.literals import LiteralError, LiteralType, format_literal
from connector.numerals import integer

__all__ = [
    "OPERATORS",
    "AttributeTypes",
    "Condition",
    "CustomFilter",
    "FilterGroup",
    "FilterValueError",
    "parse_filter",
    "render_filter",
]

OPERATORS: Final = ("eq", "ne", "gt", "ge", "lt", "le")


class AttributeTypes(Protocol):
    """What metadata says about a table's properties (implemented by the metadata description)."""

    def literal_type(self, property_name: str) -> LiteralType | None:
        """:returns: the literal type of the property's attribute, or ``None`` when unknown."""
        ...

    def option_value(self, property_name: str, label: str) -> int | None:
        """:returns: the option-set value whose label is ``label``, or ``None`` when there is none."""
        ...


@dataclass(frozen=True)
class Condition:
    """``<field> <operator> <value>``.

    :param field: the property (``name``, ``_primarycontactid_value``, ``primarycontactid/fullname``).
    :param operator: one of :data:`OPERATORS`.
    :param value: the value, when given statically.
    :param literal_type: how to write the value; ``None``: from metadata, else from the JSON value.
    :param parameter: the input document's member that holds the value, instead of ``value``.
    :param path: where the condition sits in the options (for messages).
    """

    field: str
    operator: str
    value: Any = None
    literal_type: LiteralType | None = None
    parameter: str | None = None
    path: str = ""


@dataclass(frozen=True)
class CustomFilter:
    """A raw ``$filter`` expression spliced where it stands.

    :param expression: the expression, e.g. ``NOT(name eq 'Smith')``.
    """

    expression: str


@dataclass(frozen=True)
class FilterGroup:
    """Conditions joined by one logical operator.

    :param operator: ``and`` or ``or``.
    :param items: conditions, custom filters and nested groups.
    """

    operator: Literal["and", "or"]
    items: tuple[Condition | CustomFilter | FilterGroup, ...]

    def conditions(self) -> Iterator[Condition]:
        """:returns: every condition, nested ones included."""
        for item in self.items:
            if isinstance(item, Condition):
                yield item
            elif isinstance(item, FilterGroup):
                yield from item.conditions()


class FilterValueError(ValueError):
    """A condition's value cannot be used.

    :param field: the option or document member to fix.
    :param message: what is wrong.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def parse_filter(
    raw: Mapping[str, Any] | None, path: str = "options.filter", *, default_operator: str
) -> FilterGroup | None:
    """Build a filter from its options form (valid against the Query schema).

    :param raw: ``{"operator": "and", "conditions": [...]}``, or ``None``.
    :param path: the option's location, for messages.
    :param default_operator: the operator of a group that names none (the schema's default, passed in so that it
        is written in the schema only).
    :returns: the filter, or ``None`` when there is none.
    """
    if not raw:
        return None
    operator = cast(Literal["and", "or"], str(raw.get("operator", default_operator)).lower())
    items: list[Condition | CustomFilter | FilterGroup] = []
    for index, item in enumerate(raw.get("conditions") or ()):
        item_path = f"{path}.conditions[{index}]"
        if "custom" in item:
            items.append(CustomFilter(str(item["custom"])))
        elif "conditions" in item:
            group = parse_filter(item, item_path, default_operator=default_operator)
            if group is not None:
                items.append(group)
        else:
            items.append(
                Condition(
                    field=str(item["field"]),
                    operator=str(item["operator"]).lower(),
                    value=item.get("value"),
                    literal_type=item.get("type"),
                    parameter=item.get("parameter"),
                    path=item_path,
                )
            )
    return FilterGroup(operator, tuple(items))


def render_filter(
    group: FilterGroup,
    types: AttributeTypes | None = None,
    document: Mapping[str, Any] | None = None,
) -> str:
    """Write a filter as ``$filter`` text.

    :param group: the filter.
    :param types: the table's metadata: literal types for conditions without an explicit type, and option-set
        labels (a condition may compare an option set with its label).
    :param document: the input document, for conditions that take their value from it.
    :returns: the expression (empty for an empty group).
    :raises FilterValueError: when a value does not fit its type or a document member is missing.
    """
    return _render_group(group, types, document or {}, top=True)


def _render_group(group: FilterGroup, types: AttributeTypes | None, document: Mapping[str, Any], *, top: bool) -> str:
    parts: list[str] = []
    several = len(group.items) > 1
    for item in group.items:
        if isinstance(item, Condition):
            parts.append(_render_condition(item, types, document))
        elif isinstance(item, CustomFilter):
            expression = item.expression.strip()
            if not expression:
                continue
            parts.append(f"({expression})" if several and _has_top_level_junction(expression) else expression)
        else:
            inner = _render_group(item, types, document, top=False)
            if inner:
                parts.append(inner)
    text = f" {group.operator} ".join(parts)
    return f"({text})" if len(parts) > 1 and not top else text


def _render_condition(condition: Condition, types: AttributeTypes | None, document: Mapping[str, Any]) -> str:
    value = condition.value
    if condition.parameter is not None:
        if condition.parameter not in document:
            raise FilterValueError(
                condition.parameter,
                f"is missing from the input document (the filter on {condition.field!r} takes its value from it)",
            )
        value = document[condition.parameter]
    literal_type = condition.literal_type
    if literal_type is None and types is not None and value is not None:
        literal_type = types.literal_type(condition.field)
    if literal_type == "option_set" and isinstance(value, str) and integer(value) is None:
        # A label: users think in labels, the service compares integers.
        option = types.option_value(condition.field, value) if types is not None else None
        if option is None:
            where = condition.parameter if condition.parameter is not None else f"{condition.path}.value"
            raise FilterValueError(where, f"{value!r} is not a label of the option set {condition.field!r}")
        value = option
    try:
        literal = format_literal(value, literal_type, condition.field)
    except LiteralError as error:
        where = condition.parameter if condition.parameter is not None else f"{condition.path}.value"
        raise FilterValueError(where, f"cannot be compared with {condition.field!r}: {error}") from None
    return f"{condition.field} {condition.operator} {literal}"


def _has_top_level_junction(expression: str) -> bool:
    # Scan outside string literals and parentheses for a bare ' and ' / ' or '.
    depth = 0
    in_string = False
    lowered = expression.lower()
    index = 0
    while index < len(lowered):
        char = lowered[index]
        if in_string:
            if char == "'":
                if lowered[index + 1 : index + 2] == "'":
                    index += 2
                    continue
                in_string = False
        elif char == "'":
            in_string = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif depth == 0 and char == " " and (lowered.startswith(" and ", index) or lowered.startswith(" or ", index)):
            return True
        index += 1
    return False
