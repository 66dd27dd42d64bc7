"""``GET /<set>?sql=SELECT …``: the SQL query preview of the Web API, for the subset the sandbox can answer exactly.

Microsoft's Python client sends its ``query.sql`` as ``GET /<entity set>?sql=<statement>`` (Dataverse's SQL preview;
Microsoft Learn, "Use SQL to query data", power-apps/developer/data-platform/dataverse-sql-query). The sandbox
answers ``SELECT [TOP n] <columns> FROM <table> [WHERE <conditions>] [ORDER BY <column> [ASC|DESC], …]`` on the
table of the entity set, by translating it to ``$select``/``$filter``/``$orderby``/``$top`` and running that query,
so the rows are exactly those OData would return. Conditions: ``= <> != > >= < <=`` with string, number and GUID
literals, ``IS [NOT] NULL``, ``LIKE`` with a ``%`` at the start, the end or both, ``AND``/``OR``/``NOT`` and
parentheses. Anything else (joins, grouping, functions, sub-queries, writes) is a 400 naming what is not
supported: never other rows than asked for.
Not for FetchXML (:mod:`.fetch_queries`) or OData queries (:mod:`.queries`).
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from . import queries
from .context import Call
from .errors import DataverseError
from .metadata import AttributeKind, EntityMeta

__all__ = ["sql_query"]

_STATEMENT = re.compile(
    r"^\s*SELECT\s+(?:TOP\s+(?P<top>\d+)\s+)?(?P<columns>.+?)\s+FROM\s+(?P<table>[A-Za-z_]\w*)"
    r"(?:\s+(?:AS\s+)?(?P<alias>(?!WHERE\b|ORDER\b)[A-Za-z_]\w*))?"
    r"(?:\s+WHERE\s+(?P<where>.+?))?(?:\s+ORDER\s+BY\s+(?P<order>.+?))?\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_TOKEN = re.compile(
    r"\s*(?:(?P<string>N?'(?:[^']|'')*')|(?P<number>-?\d+(?:\.\d+)?)|(?P<op><>|!=|>=|<=|=|>|<)"
    r"|(?P<paren>[()])|(?P<word>[A-Za-z_][\w.]*))",
)
_COMPARISONS = {"=": "eq", "<>": "ne", "!=": "ne", ">": "gt", ">=": "ge", "<": "lt", "<=": "le"}
_REFUSED = re.compile(r"\b(JOIN|GROUP|HAVING|UNION|INSERT|UPDATE|DELETE|INTO|EXEC|SELECT)\b", re.IGNORECASE)
_GUIDS = (AttributeKind.UNIQUEIDENTIFIER, AttributeKind.LOOKUP)


def _refuse(message: str) -> DataverseError:
    return DataverseError(
        400,
        "0x80040203",
        f"{message} The sandbox's SQL supports SELECT [TOP n] columns FROM "  # noqa: S608 - an error message
        "table [WHERE conditions] [ORDER BY columns].",
    )


def _column(entity: EntityMeta, name: str, alias: str | None) -> tuple[str, AttributeKind]:
    bare = name.split(".", 1)[1] if "." in name and alias and name.lower().startswith(alias.lower() + ".") else name
    attribute = entity.by_logical_name(bare.lower())
    if attribute is None:
        raise DataverseError(400, "0x80041103", f"Invalid column name '{name}'.")
    return attribute.property_name, attribute.kind


def _literal(text: str, kind: AttributeKind) -> str:
    if text.upper().startswith("N'"):
        text = text[1:]
    if kind in _GUIDS and text.startswith("'"):
        return text[1:-1]
    return text


def _where(entity: EntityMeta, text: str, alias: str | None) -> str:
    tokens = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            if not text[position:].strip():
                break
            raise _refuse(f"The WHERE clause cannot be read at '{text[position : position + 20]}'.")
        tokens.append((match.lastgroup or "", match.group(match.lastgroup or "")))
        position = match.end()
    out: list[str] = []
    index = 0
    while index < len(tokens):
        kind, value = tokens[index]
        upper = value.upper()
        if kind == "paren" or upper in ("AND", "OR", "NOT"):
            out.append(value.lower() if kind == "word" else value)
            index += 1
            continue
        if kind != "word":
            raise _refuse(f"A condition must start with a column, not '{value}'.")
        name, column_kind = _column(entity, value, alias)
        rest = [t[1].upper() for t in tokens[index + 1 : index + 4]]
        if rest[:2] == ["IS", "NULL"]:
            out.append(f"{name} eq null")
            index += 3
        elif rest[:3] == ["IS", "NOT", "NULL"]:
            out.append(f"{name} ne null")
            index += 4
        elif rest[:1] == ["LIKE"] and index + 2 < len(tokens) and tokens[index + 2][0] == "string":
            pattern = tokens[index + 2][1].lstrip("Nn")[1:-1]
            core = pattern.strip("%")
            quoted = "'" + core + "'"
            if pattern.startswith("%") and pattern.endswith("%") and len(pattern) > 1:
                out.append(f"contains({name},{quoted})")
            elif pattern.endswith("%"):
                out.append(f"startswith({name},{quoted})")
            elif pattern.startswith("%"):
                out.append(f"endswith({name},{quoted})")
            else:
                out.append(f"{name} eq {quoted}")
            index += 3
        elif index + 2 < len(tokens) and tokens[index + 1][0] == "op" and tokens[index + 2][0] in ("string", "number"):
            operator = _COMPARISONS[tokens[index + 1][1]]
            out.append(f"{name} {operator} {_literal(tokens[index + 2][1], column_kind)}")
            index += 3
        else:
            raise _refuse(f"The condition on '{value}' is not supported.")
    return " ".join(out)


def _order(entity: EntityMeta, text: str, alias: str | None) -> str:
    terms = []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1].upper() not in ("ASC", "DESC")):
            raise _refuse(f"The ORDER BY term '{part.strip()}' is not supported.")
        name, _ = _column(entity, words[0], alias)
        terms.append(f"{name} {words[1].lower()}" if len(words) == 2 else name)
    return ",".join(terms)


def sql_query(call: Call, entity: EntityMeta) -> Response:
    """Answer ``?sql=`` on ``entity``'s set.

    :returns: the rows as an OData collection (the same rows the translated OData query returns).
    :raises DataverseError: 400 for a statement outside the supported subset or about another table.
    """
    statement = call.request.args.get("sql", "")
    others = sorted(set(call.request.args) - {"sql"})
    if others:
        raise _refuse(f"'sql' cannot be combined with other query options ({', '.join(others)}).")
    match = _STATEMENT.match(statement)
    if match is None:
        raise _refuse("The statement is not a single SELECT the sandbox can answer.")
    body = " ".join(match.group(name) or "" for name in ("columns", "alias", "where", "order"))
    if _REFUSED.search(re.sub(r"'(?:[^']|'')*'", "''", body)):
        raise _refuse("Joins, grouping, sub-queries and writes are not supported.")
    if match.group("table").lower() != entity.logical_name:
        raise _refuse(f"The table '{match.group('table')}' is not the table of '{entity.entity_set_name}'.")
    alias = match.group("alias")
    options: dict[str, str] = {}
    columns = match.group("columns").strip()
    if columns != "*":
        options["$select"] = ",".join(_column(entity, c.strip(), alias)[0] for c in columns.split(","))
    if match.group("where"):
        options["$filter"] = _where(entity, match.group("where"), alias)
    if match.group("order"):
        options["$orderby"] = _order(entity, match.group("order"), alias)
    if match.group("top"):
        options["$top"] = match.group("top")
    environ = EnvironBuilder(
        path=call.request.path, query_string=urlencode(options), headers=list(call.request.headers.items())
    ).get_environ()
    translated = Call(call.service, Request(environ), call.root, call.principal, call.preferences, {}, call.path)
    return queries.query(translated, entity)
