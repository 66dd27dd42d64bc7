"""The SQL generator for ``$filter``: walks the syntax tree and emits an SQLite condition with ``?`` parameters.

It decides what may stand where: a condition (comparison, function, ``and``/``or``/``not``, a boolean property or
``true``/``false``) where SQL needs a truth value; a property or a literal on each side of a comparison. Null
follows SQL: a comparison with a null column is not true, so ``ne``/``not`` never return rows whose column is null,
which matches Dataverse ("records aren't returned if the expression evaluates to null").

Not for column types and stored forms (:mod:`.conditions`) or functions (:mod:`.functions`).
"""

from __future__ import annotations

from .conditions import MIRRORED, OPERATOR_KINDS, Scope, compare_columns, compare_value
from .errors import echo, invalid_argument
from .functions import call_function
from .nodes import ArrayLiteral, Comparison, FunctionCall, Literal, Logical, Negation, Node, PropertyPath

__all__ = ["compile_condition"]

_CONDITIONS = (Comparison, Logical, Negation, FunctionCall)


def compile_condition(scope: Scope, node: Node) -> str:
    """:returns: SQL for ``node`` where a truth value is needed; parameters go to ``scope.params``.

    :raises ODataQueryError: when ``node`` is not a condition, or for any error inside it.
    """
    if isinstance(node, Logical):
        joiner = " AND " if node.operator == "and" else " OR "
        return "(" + joiner.join(compile_condition(scope, operand) for operand in node.operands) + ")"
    if isinstance(node, Negation):
        if not _is_condition(scope, node.operand):
            raise invalid_argument(
                "A unary operator with an incompatible type was detected. Found operand type "
                f"'{_type_of(scope, node.operand)}' for operator kind 'Not'. 'not' applies to the operand right "
                f"after it (position {node.position}): write not (<condition>) to negate a comparison.",
                position=node.position,
            )
        return f"NOT ({compile_condition(scope, node.operand)})"
    if isinstance(node, Comparison):
        return _comparison(scope, node)
    if isinstance(node, FunctionCall):
        return call_function(scope, node)
    if isinstance(node, PropertyPath) and (info := scope.column(node)).family == "boolean":
        return f"{info.quoted} = 1"
    if isinstance(node, Literal) and node.kind == "boolean":
        return "1" if node.value else "0"
    raise invalid_argument(
        f"The expression {_source(node)} at position {node.position} is of type '{_type_of(scope, node)}', but a "
        "condition (true or false) is needed there, such as a comparison: name eq 'x'.",
        position=node.position,
    )


def _comparison(scope: Scope, node: Comparison) -> str:
    left, right, operator = node.left, node.right, node.operator
    if isinstance(left, _CONDITIONS) or isinstance(right, _CONDITIONS):
        # OData allows "contains(name,'x') eq false"; a condition compares with true or false only.
        condition, other = (left, right) if isinstance(left, _CONDITIONS) else (right, left)
        # Compiled first so that an error inside it (not name eq 'x' reads as (not name) eq 'x') is the one shown.
        sql = compile_condition(scope, condition)
        if isinstance(other, Literal) and other.kind == "boolean" and operator in ("eq", "ne"):
            return sql if other.value == (operator == "eq") else f"NOT ({sql})"
        raise invalid_argument(
            f"The comparison at position {node.position} compares a condition with {_source(other)}; a "
            "condition can only be compared with true or false using eq or ne.",
            position=node.position,
        )
    if isinstance(left, ArrayLiteral) or isinstance(right, ArrayLiteral):
        raise invalid_argument(
            f"A [...] collection cannot be compared (position {node.position}); use "
            'Microsoft.Dynamics.CRM.In(PropertyName=\'name\',PropertyValues=["a","b"]).',
            position=node.position,
        )
    if isinstance(left, PropertyPath) and isinstance(right, PropertyPath):
        return compare_columns(left.name, scope.column(left), operator, right.name, scope.column(right))
    if isinstance(left, Literal) and isinstance(right, PropertyPath):
        left, right, operator = right, left, MIRRORED[operator]
    if isinstance(left, PropertyPath) and isinstance(right, Literal):
        info = scope.column(left)
        if info.family == "guid" and right.kind == "string":
            # Dataverse's OData layer types a quoted value as Edm.String and refuses it against Edm.Guid; only the
            # query functions (PropertyValue='<guid>') read text as the column's type.
            raise invalid_argument(
                "A binary operator with incompatible types was detected. Found operand types "
                f"'{info.edm_type}' and 'Edm.String' for operator kind '{OPERATOR_KINDS[operator]}'. "
                f"Write the GUID without quotes: {left.name} {operator} {str(right.value).strip('{}')}.",
                position=right.position,
            )
        return compare_value(scope, left.name, info, operator, right)
    raise invalid_argument(
        f"The comparison at position {node.position} has no property on either side; compare a property with a "
        "value or another property, e.g. name eq 'x'.",
        position=node.position,
    )


def _is_condition(scope: Scope, node: Node) -> bool:
    if isinstance(node, _CONDITIONS):
        return True
    if isinstance(node, PropertyPath):
        return scope.column(node).family == "boolean"
    return isinstance(node, Literal) and node.kind == "boolean"


def _type_of(scope: Scope, node: Node) -> str:
    if isinstance(node, PropertyPath):
        return scope.column(node).edm_type
    if isinstance(node, Literal):
        return node.edm_type
    if isinstance(node, ArrayLiteral):
        return "Collection"
    return "Edm.Boolean"


def _source(node: Node) -> str:
    if isinstance(node, PropertyPath):
        return f"'{node.name}'"
    if isinstance(node, Literal):
        return echo(node.text)
    if isinstance(node, FunctionCall):
        return f"{node.name}(…)"
    return "[…]" if isinstance(node, ArrayLiteral) else "…"
