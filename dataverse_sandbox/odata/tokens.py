"""The tokenizer for ``$filter`` and ``$orderby`` text.

It turns an expression into tokens with their 0-based positions and, for literals, their typed values. It knows
nothing of grammar or columns; :mod:`.parser` does. Any run of whitespace separates tokens (URLs use one space).
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from typing import Literal, NamedTuple

from .errors import ODataQueryError, echo, invalid_argument, syntax_error
from .literals import normalize_guid, parse_date, parse_datetime, parse_number

__all__ = ["Token", "TokenKind", "tokenize"]

TokenKind = Literal[
    "string",  # 'text' with '' for a quote
    "json_string",  # "text" with JSON escapes; only inside [...] collections, as Dataverse reads those as JSON
    "number",
    "guid",
    "datetime",
    "date",
    "enum",  # Namespace.Type'Member'
    "ident",  # a name, possibly dotted (Microsoft.Dynamics.CRM.In)
    "alias",  # @p1
    "punct",  # ( ) [ ] , = / :
    "end",
]

# One pattern, tried at each position after any whitespace. Alternatives are ordered by how often they occur, and
# the order matters where they overlap: a name must not swallow the start of a GUID (deadbeef-…), and a GUID or a
# date starts with digits that would otherwise read as a number.
_TOKEN = re.compile(
    r"""
    \s*(?:
    (?P<ident>(?![0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-)[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)(?P<enum>'(?:[^']|'')*')?
  | (?P<punct>[()\[\],=/:])
  | (?P<string>'(?:[^']|'')*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:[Zz]|[+-]\d{2}:\d{2})?)(?![\w.:-])
  | (?P<guid>[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})(?![\w.-])
  | (?P<date>\d{4}-\d{2}-\d{2})(?![\w.:-])
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[mMdDfFlL]?)(?![\w.-])
  | (?P<json_string>"(?:[^"\\]|\\.)*")
  | (?P<alias>@[A-Za-z_]\w*)
    )""",
    re.VERBOSE | re.ASCII,
)


class Token(NamedTuple):
    """One token (a named tuple: tokens are made by the thousand, and tuples are the cheapest to make).

    :param kind: what it is.
    :param text: the source text.
    :param position: 0-based offset in the expression.
    :param value: the typed value of a literal: ``str`` for strings (quotes decoded), GUIDs (lower case), names and
        punctuation; ``int``/``float`` for numbers; ``datetime`` (UTC) and ``date``; ``(type, member)`` for enums.
    :param edm_type: the OData type of a number literal (``Edm.Int32``…), else ``""``.
    """

    kind: TokenKind
    text: str
    position: int
    value: object = None
    edm_type: str = ""


def tokenize(text: str) -> list[Token]:
    """Split an expression into tokens, ending with one ``end`` token.

    :param text: the decoded query option value.
    :returns: the tokens.
    :raises ODataQueryError: for an unterminated string, a character that starts no token, or a malformed
        literal (an impossible date, an out-of-range number).
    """
    tokens: list[Token] = []
    append = tokens.append
    position = 0
    length = len(text)
    match_at = _TOKEN.match
    while position < length:
        match = match_at(text, position)
        if match is None:
            rest = text[position:]
            if rest.isspace():
                break
            raise _no_token(text, position + len(rest) - len(rest.lstrip()))
        kind = match.lastgroup or ""  # never empty: every alternative is a named group
        position = match.end()
        if kind == "ident":
            source = match.group(kind)
            append(Token("ident", source, match.start(kind), source))
        elif kind == "punct":
            source = match.group(kind)
            append(Token("punct", source, match.start(kind), source))
        elif kind == "enum":  # the enum group closes after ident, so lastgroup names it
            type_name = match.group("ident")
            start = match.start("ident")
            quoted = match.group(kind)
            if "." in type_name:
                member = quoted[1:-1].replace("''", "'")
                append(Token("enum", type_name + quoted, start, (type_name, member)))
            else:  # not a qualified type name: a name glued to a string, as in "name eq'x'"
                append(Token("ident", type_name, start, type_name))
                append(_literal("string", quoted, match.start(kind), text))
        else:
            append(_literal(kind, match.group(kind), match.start(kind), text))
    tokens.append(Token("end", "", length))
    return tokens


def _literal(kind: str, source: str, start: int, text: str) -> Token:
    try:
        if kind == "string":
            return Token("string", source, start, source[1:-1].replace("''", "'"))
        if kind == "json_string":
            decoded = str(json.loads(source))
            decoded.encode("utf-8")  # a lone surrogate from a \u escape could not be bound as an SQL parameter
            return Token("json_string", source, start, decoded)
        if kind == "number":
            number, edm_type = parse_number(source)
            return Token("number", source, start, number, edm_type)
        if kind == "guid":
            return Token("guid", source, start, normalize_guid(source))
        if kind == "datetime":
            moment: datetime = parse_datetime(source)
            return Token("datetime", source, start, moment)
        if kind == "date":
            day: date = parse_date(source)
            return Token("date", source, start, day)
        if kind == "alias":
            return Token("alias", source, start, source[1:])
    except ValueError as exc:
        raise invalid_argument(
            f"The literal '{source}' at position {start} in '{echo(text)}' is not valid: {exc}.",
            position=start,
        ) from exc
    raise AssertionError(f"unhandled token kind {kind}")  # pragma: no cover - the pattern has no other groups


def _no_token(text: str, position: int) -> ODataQueryError:
    char = text[position]
    if char == "'":
        # The wording of the OData libraries, which Dataverse returns for an unbalanced quote.
        return invalid_argument(
            f"There is an unterminated literal at position {len(text)} in '{echo(text)}'.", position=position
        )
    if char == '"':
        return syntax_error(text, position, "the double-quoted string is not terminated.")
    run = re.match(r"[^\s()\[\],=]+", text[position:])
    found = run.group() if run else char
    return syntax_error(text, position, f"'{echo(found)}' is not valid here.")
