"""The sandbox's OData query-option compiler: ``$filter``, ``$orderby`` and ``$select`` for SQLite.

Pure (no HTTP, no database): the Web API (:mod:`dataverse_sandbox.dataverse`) passes the decoded option text and
the table's properties, and gets back SQL with ``?`` parameters, ordering terms and property names, or an
:class:`ODataQueryError` to return as a 400 with Dataverse's ``code`` and ``message``. Behaviour follows the
behavioural reference §3.7 (``docs``: dataverse-webapi.md); the sandbox's own choices are marked *choice*.

``$filter``
    * ``eq ne gt ge lt le``, ``and or not``, parentheses. Precedence, loosest first: ``or``, ``and``,
      comparisons, ``not``; ``not`` binds to the operand right after it, as in the OData libraries, so negate a
      comparison with ``not (name eq 'x')``. A bare boolean property or ``true``/``false`` is a condition, and a
      condition compares with ``true``/``false`` (``contains(name,'x') eq false``).
    * Literals: ``'O''Bryan'``; ``42``, ``-7``, ``5.5``, ``5.5m``, ``1e3``, ``9L``; ``true``/``false``; ``null``;
      GUIDs bare or quoted (lower-cased); ``2024-01-02T03:04:05Z`` with optional seconds, fraction and offset
      (converted to UTC; no zone means UTC); ``2024-01-02``; ``Microsoft.Dynamics.CRM.Type'1'`` for choice
      columns (numeric members only).
    * Text compares case-insensitively (``COLLATE NOCASE``: ASCII letters only, like SQLite). ``eq null`` and
      ``ne null`` are ``IS [NOT] NULL``; any other comparison with null is an error, as in Dataverse. Otherwise
      null behaves as in SQL: a row whose column is null matches neither ``eq`` nor ``ne`` nor their ``not``.
    * Date literal against a datetime column (*choice*): compares the UTC date part.
    * ``contains``/``startswith``/``endswith`` on text properties; ``%``, ``_``, ``[…]``, ``[^…]`` are wildcards
      and ``[%]`` matches a literal ``%`` (details in :mod:`dataverse_sandbox.odata.patterns`).
    * Column against column in the same row; two columns of one family (*choice*: Dataverse wants equal types).
    * ``Microsoft.Dynamics.CRM.*`` functions: see :mod:`dataverse_sandbox.odata.functions`.
    * Parameter aliases ``@p1`` with values from the query string; an alias without a value is null.
    * Not supported (an error says so): navigation paths ``a/b``, lambdas ``any``/``all``, arithmetic, other
      OData functions.

Errors: ``0x80060888`` (unknown property, Dataverse's text) or ``0x80040203`` (syntax, with the 0-based position;
types, naming the property). Dataverse may use other codes for some parse errors; the messages are the contract.
Storage assumed: datetimes ``YYYY-MM-DDTHH:MM:SSZ`` (whole seconds, so text order is time order), dates
``YYYY-MM-DD``, GUIDs lower case, booleans 0/1, choices INTEGER.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from .odata.clauses import OrderTerm, parse_orderby, parse_select
from .odata.columns import ColumnInfo
from .odata.compiler import compile_condition
from .odata.conditions import Scope
from .odata.errors import INVALID_ARGUMENT, UNKNOWN_PROPERTY, ODataQueryError
from .odata.parser import parse_filter

__all__ = [
    "INVALID_ARGUMENT",
    "UNKNOWN_PROPERTY",
    "ColumnInfo",
    "ODataQueryError",
    "OrderTerm",
    "compile_filter",
    "compile_orderby",
    "parse_orderby",
    "parse_select",
]


def compile_filter(
    expr: str,
    columns: Mapping[str, ColumnInfo],
    *,
    entity: str,
    aliases: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> tuple[str, list[object]]:
    """Compile a ``$filter`` expression to an SQLite condition.

    :param expr: the decoded option value, e.g. ``name eq 'Contoso' and revenue gt 5``.
    :param columns: the table's properties by OData name.
    :param entity: the entity's logical name (``account``), for messages.
    :param aliases: parameter alias values from the query string, as raw OData text (``{"@p1": "'Contoso'"}``).
    :param now: the time relative date functions (``Today``, ``LastXHours``…) use (naive means UTC); default: the
        current time.
    :returns: a boolean SQL expression with ``?`` placeholders, and its parameters in order.
    :raises ODataQueryError: for any expression Dataverse would refuse, and constructs the sandbox lacks.
    """
    moment = now or datetime.now(UTC)
    moment = (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)).replace(microsecond=0)
    scope = Scope(columns, entity, moment)
    sql = compile_condition(scope, parse_filter(expr, aliases))
    return sql, scope.params


def compile_orderby(
    expr: str, columns: Mapping[str, ColumnInfo], *, entity: str, aliases: Mapping[str, str] | None = None
) -> list[tuple[str, bool]]:
    """Compile ``$orderby`` for the caller's ``ORDER BY`` and keyset paging.

    :param expr: e.g. ``name asc, revenue desc``; ``asc`` is the default.
    :param columns: the table's properties by OData name.
    :param entity: the entity's logical name, for messages.
    :param aliases: parameter alias values (an item may be ``@p1``).
    :returns: ``(quoted column, descending)`` per term. Text sorts case-insensitively only if the column is
        declared ``COLLATE NOCASE``; :func:`parse_orderby` gives each term's type to decide that per term.
    :raises ODataQueryError: ``0x80060888`` for an unknown property; ``0x80040203`` for bad syntax or a repeat.
    """
    return [(term.column, term.descending) for term in parse_orderby(expr, columns, entity=entity, aliases=aliases)]
