"""The syntax tree of a ``$filter`` expression: what the parser builds and the SQL compiler walks.

Nodes are immutable named tuples (cheap to make, which keeps parsing in microseconds) and carry the 0-based
position of their first character, so later errors can point at it. Dispatch on them with ``isinstance``.
Not for types or columns: nodes hold names and literal values only; :mod:`.compiler` checks them against columns.
"""

from __future__ import annotations

from typing import Literal as TypingLiteral
from typing import NamedTuple

__all__ = [
    "ArrayLiteral",
    "Comparison",
    "ComparisonOperator",
    "FunctionCall",
    "Literal",
    "LiteralKind",
    "Logical",
    "Negation",
    "Node",
    "PropertyPath",
]

LiteralKind = TypingLiteral["null", "string", "number", "boolean", "guid", "datetime", "date", "enum"]

#: The comparison operators of ``$filter``.
ComparisonOperator = TypingLiteral["eq", "ne", "gt", "ge", "lt", "le"]


class Literal(NamedTuple):
    """A constant.

    :param kind: what sort of constant.
    :param value: ``None``; ``str`` for strings and lower-case GUIDs; ``int``/``float``; ``bool``; an aware UTC
        ``datetime``; a ``date``; ``(type name, member)`` for an enum.
    :param edm_type: the OData type, for messages (``Edm.String``, ``Edm.Int32``…; the type name for enums).
    :param text: the source text.
    :param position: where it starts.
    """

    kind: LiteralKind
    value: object
    edm_type: str
    text: str
    position: int


class ArrayLiteral(NamedTuple):
    """A collection such as ``["a","b"]``, the ``PropertyValues`` of Dataverse's query functions."""

    items: tuple[Literal, ...]
    position: int


class PropertyPath(NamedTuple):
    """A property, or a navigation path ``a/b`` (segments in order)."""

    segments: tuple[str, ...]
    position: int

    @property
    def name(self) -> str:
        """:returns: the path as written, segments joined by ``/``."""
        return "/".join(self.segments)


class Comparison(NamedTuple):
    """``left <operator> right``."""

    operator: ComparisonOperator
    left: Node
    right: Node
    position: int


class Logical(NamedTuple):
    """``a and b and c`` or ``a or b or c``: one node per run of the same operator, so long chains stay flat."""

    operator: TypingLiteral["and", "or"]
    operands: tuple[Node, ...]
    position: int


class Negation(NamedTuple):
    """``not operand``."""

    operand: Node
    position: int


class FunctionCall(NamedTuple):
    """``name(a, b)`` or ``Namespace.Name(Param=value, …)``.

    :param name: as written, e.g. ``contains`` or ``Microsoft.Dynamics.CRM.In``.
    :param arguments: positional arguments.
    :param named: named arguments in source order, ``(name, value)``.
    """

    name: str
    arguments: tuple[Node, ...]
    named: tuple[tuple[str, Node], ...]
    position: int


Node = Literal | ArrayLiteral | PropertyPath | Comparison | Logical | Negation | FunctionCall
