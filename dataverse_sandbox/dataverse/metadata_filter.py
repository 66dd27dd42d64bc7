"""``$filter`` over metadata objects (``EntityDefinitions``, ``Attributes``), evaluated in memory.

Metadata queries filter a handful of JSON objects, not SQL rows, and use a small part of the grammar: comparisons
(``eq ne gt ge lt le``) of a property path (``LogicalName``, ``CanCreateAttributes/Value``) with a literal (strings,
numbers, booleans, ``null``, enum literals ``Microsoft.Dynamics.CRM.OwnershipTypes'UserOwned'``), joined with
``and``/``or``/``not`` and parentheses. Not for table queries: those go to :mod:`dataverse_sandbox.odata_query`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from typing import Any

from dataverse_sandbox.numbers import ascii_int64

from .errors import DataverseError, invalid_argument

__all__ = ["compile_metadata_filter"]

_TOKEN = re.compile(
    r"\s*(?:(?P<open>\()|(?P<close>\))|(?P<enum>[A-Za-z_][\w.]*'(?:[^']|'')*')|(?P<string>'(?:[^']|'')*')"
    r"|(?P<number>-?\d+(?:\.\d+)?)|(?P<word>[A-Za-z_][\w./]*))",
    re.ASCII,  # another script's digits are no number here (int() read them), nor a name's letters
)
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a is not None and b is not None and a > b,
    "ge": lambda a, b: a is not None and b is not None and a >= b,
    "lt": lambda a, b: a is not None and b is not None and a < b,
    "le": lambda a, b: a is not None and b is not None and a <= b,
}

Predicate = Callable[[Mapping[str, Any]], bool]


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise invalid_argument(f"Syntax error at position {position} in '{text}'.")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


def _value(kind: str, text: str) -> Any:
    if kind == "string":
        return text[1:-1].replace("''", "'")
    if kind == "enum":
        return text[text.index("'") + 1 : -1].replace("''", "'")
    if kind == "number":
        number = float(text) if "." in text else ascii_int64(text)  # int() refused 4301 digits: a 500
        if number is None:
            raise invalid_argument(f"The number {text[:40]} is out of range.")
        return number
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    raise invalid_argument(f"'{text}' is not a literal.")


def _lookup(item: Mapping[str, Any], path: str) -> Any:
    value: Any = item
    for part in path.split("/"):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


class _Parser:
    def __init__(self, text: str, known: Collection[str] | None, type_name: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.index = 0
        self.known = known
        self.type_name = type_name

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def _next(self) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise invalid_argument(f"Unexpected end of the $filter expression '{self.text}'.")
        self.index += 1
        return token

    def parse(self) -> Predicate:
        predicate = self._or()
        if self._peek() is not None:
            raise invalid_argument(f"Unexpected '{self._next()[1]}' in the $filter expression '{self.text}'.")
        return predicate

    def _or(self) -> Predicate:
        left = self._and()
        while self._peek() == ("word", "or"):
            self.index += 1
            right = self._and()
            left = (lambda a, b: lambda item: a(item) or b(item))(left, right)
        return left

    def _and(self) -> Predicate:
        left = self._unary()
        while self._peek() == ("word", "and"):
            self.index += 1
            right = self._unary()
            left = (lambda a, b: lambda item: a(item) and b(item))(left, right)
        return left

    def _unary(self) -> Predicate:
        token = self._next()
        if token == ("word", "not"):
            inner = self._unary()
            return lambda item: not inner(item)
        if token[0] == "open":
            inner = self._or()
            if self._next()[0] != "close":
                raise invalid_argument(f"Missing ')' in the $filter expression '{self.text}'.")
            return inner
        if token[0] != "word":
            raise invalid_argument(f"Expected a property name, found '{token[1]}' in '{self.text}'.")
        path = token[1]
        head = path.split("/", 1)[0]
        if self.known is not None and head not in self.known:
            # As Dataverse answers for $select: filtering on a property the type does not have is a bad request.
            raise DataverseError(
                400,
                "0x80060888",
                f"Could not find a property named '{head}' on type 'Microsoft.Dynamics.CRM.{self.type_name}'.",
            )
        operator = self._next()[1]
        compare = _OPERATORS.get(operator)
        if compare is None:
            raise invalid_argument(f"The operator '{operator}' is not supported in metadata queries.")
        kind, text = self._next()
        literal = _value(kind, text)
        return lambda item: compare(_lookup(item, path), literal)


def compile_metadata_filter(
    text: str | None, known: Collection[str] | None = None, type_name: str = "EntityMetadata"
) -> Predicate:
    """Compile a metadata ``$filter``.

    :param known: the property names of the type (``None``: any name, missing ones compare as null).
    :param type_name: the metadata type, for the message about an unknown property.
    :returns: a predicate over metadata objects (always true without a filter).
    :raises DataverseError: 400 ``0x80060888`` for a property the type does not have, 400 ``0x80040203`` for
        syntax the evaluator does not support.
    """
    if text is None or not text.strip():
        return lambda _item: True
    return _Parser(text, known, type_name).parse()
