"""``$orderby`` and ``$select``: lists of properties, checked against the table.

Not for ``$filter`` (:mod:`.parser`, :mod:`.compiler`) or for building the query: the Web API does that.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .columns import ColumnInfo, find_column
from .errors import invalid_argument, syntax_error
from .parser import normalize_aliases
from .tokens import Token, tokenize

__all__ = ["OrderTerm", "parse_orderby", "parse_select"]


@dataclass(frozen=True)
class OrderTerm:
    """One ``$orderby`` item.

    :param property: the OData property name.
    :param column: the quoted SQLite column.
    :param descending: ``desc`` was given.
    :param info: the column's description (its type decides how a keyset cursor compares it).
    """

    property: str
    column: str
    descending: bool
    info: ColumnInfo


def parse_orderby(
    text: str, columns: Mapping[str, ColumnInfo], *, entity: str, aliases: Mapping[str, str] | None = None
) -> list[OrderTerm]:
    """Parse ``name asc, revenue desc`` (``asc`` is the default).

    :param text: the decoded option value.
    :param columns: the table's properties by OData name.
    :param entity: the entity's logical name, for messages.
    :param aliases: parameter alias values; an item may be ``@p1`` with ``@p1=name``.
    :returns: the terms in order.
    :raises ODataQueryError: ``0x80060888`` for an unknown property; ``0x80040203`` for a syntax error, a path, or
        a property ordered twice.
    """
    values = normalize_aliases(aliases)
    tokens = tokenize(text)
    terms: list[OrderTerm] = []
    index = 0
    while True:
        token = tokens[index]
        name = _property_name(text, token, values)
        index += 1
        if tokens[index].kind == "punct" and tokens[index].text == "/":
            raise invalid_argument(
                f"The sandbox does not support ordering by a navigation path ('{name}/…' in $orderby).",
                position=tokens[index].position,
            )
        info = find_column(columns, name, entity)
        descending = False
        if tokens[index].kind == "ident" and tokens[index].text in ("asc", "desc"):
            descending = tokens[index].text == "desc"
            index += 1
        if any(term.property == name for term in terms):
            # The OData libraries' wording for a repeated $orderby property.
            raise invalid_argument(f"Duplicate property named '{name}' is not supported in '$orderby'.")
        terms.append(OrderTerm(name, info.quoted, descending, info))
        separator = tokens[index]
        if separator.kind == "end":
            return terms
        if separator.kind != "punct" or separator.text != ",":
            found = f"'{separator.text}'"
            raise syntax_error(text, separator.position, f"expected ',', 'asc', 'desc' or the end but found {found}.")
        index += 1


def _property_name(text: str, token: Token, aliases: dict[str, str]) -> str:
    if token.kind == "ident" and token.text not in ("asc", "desc"):
        return token.text
    if token.kind == "alias":
        value = aliases.get(str(token.value), "").strip()
        if value:
            return value
        raise invalid_argument(f"The parameter alias '{token.text}' in $orderby has no value; set it to a property.")
    found = "the end of the expression" if token.kind == "end" else f"'{token.text}'"
    raise syntax_error(text, token.position, f"expected a property name but found {found}.")


def parse_select(text: str, columns: Mapping[str, ColumnInfo], *, entity: str) -> list[str]:
    """Parse ``name,revenue`` into property names, duplicates removed (first occurrence kept).

    ``*`` selects every property, in the order of ``columns``.

    :param text: the decoded option value; spaces around names are ignored.
    :param columns: the table's properties by OData name.
    :param entity: the entity's logical name, for messages.
    :returns: OData property names (keys of ``columns``).
    :raises ODataQueryError: ``0x80060888`` for an unknown property; ``0x80040203`` for an empty item.
    """
    selected: dict[str, None] = {}  # a dict keeps the order and drops repeats
    position = 0
    for item in text.split(","):
        name = item.strip()
        if not name:
            raise syntax_error(text, position, "expected a property name; $select is a comma-separated list.")
        if name == "*":
            selected.update(dict.fromkeys(columns))
        else:
            find_column(columns, name, entity)
            selected[name] = None
        position += len(item) + 1
    return list(selected)
