"""The recursive-descent parser that turns ``$filter`` text into a syntax tree.

Precedence follows the OData libraries Dataverse uses, loosest first: ``or``, ``and``, the comparisons
(``eq ne gt ge lt le``, left to right), then ``not``, which binds to the operand right after it, so
``not name eq 'x'`` negates ``name`` (a type error for a text column) and ``not (name eq 'x')`` is what a user means.
Parameter aliases (``@p1``) are replaced by their parsed values here; an alias without a value is ``null``.

Not for types: the parser accepts ``name eq 5``; :mod:`.compiler` checks operands against the columns.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from .errors import ODataQueryError, echo, invalid_argument, syntax_error
from .nodes import (
    ArrayLiteral,
    Comparison,
    ComparisonOperator,
    FunctionCall,
    Literal,
    LiteralKind,
    Logical,
    Negation,
    Node,
    PropertyPath,
)
from .tokens import Token, tokenize

__all__ = ["MAX_NESTING", "normalize_aliases", "parse_filter"]

#: How deep parentheses, ``not`` and chained comparisons may nest; bounds recursion for hostile input.
MAX_NESTING = 64

_COMPARISONS: dict[str, ComparisonOperator] = {
    "eq": "eq", "ne": "ne", "gt": "gt", "ge": "ge", "lt": "lt", "le": "le"
}  # fmt: skip
# Words that can never start an operand; naming them in a message beats "unknown property 'and'".
_OPERATOR_WORDS = frozenset({"and", "or", *_COMPARISONS})
_LITERAL_TYPES: dict[str, tuple[LiteralKind, str]] = {
    "string": ("string", "Edm.String"),
    "json_string": ("string", "Edm.String"),
    "guid": ("guid", "Edm.Guid"),
    "datetime": ("datetime", "Edm.DateTimeOffset"),
    "date": ("date", "Edm.Date"),
}


def normalize_aliases(aliases: Mapping[str, str] | None) -> dict[str, str]:
    """:returns: the alias values keyed by name without the ``@`` (callers may pass ``@p1`` or ``p1``)."""
    return {key.removeprefix("@"): value for key, value in (aliases or {}).items()}


def parse_filter(text: str, aliases: Mapping[str, str] | None = None) -> Node:
    """Parse a ``$filter`` expression.

    :param text: the decoded option value.
    :param aliases: parameter alias values from the query string (``{"@p1": "'x'"}``), as raw OData text.
    :returns: the syntax tree.
    :raises ODataQueryError: ``0x80040203`` for a syntax error, with its position.
    """
    values = normalize_aliases(aliases)
    return _parse_cached(text, tuple(sorted(values.items())))


# Trees are immutable, so a filter seen before (every page of a paged query repeats it) is parsed once.
@functools.lru_cache(maxsize=256)
def _parse_cached(text: str, aliases: tuple[tuple[str, str], ...]) -> Node:
    return _Parser(text, dict(aliases), frozenset()).parse()


class _Parser:
    def __init__(self, text: str, aliases: dict[str, str], resolving: frozenset[str]) -> None:
        self._text = text
        self._tokens = tokenize(text)
        self._index = 0
        self._nesting = 0
        self._aliases = aliases
        self._resolving = resolving  # aliases being expanded, to refuse @a=@b, @b=@a

    # -- token access ----------------------------------------------------------------------------------------

    def _peek(self, ahead: int = 0) -> Token:
        # Never past the final "end" token, which _advance does not step over.
        return self._tokens[min(self._index + ahead, len(self._tokens) - 1)] if ahead else self._tokens[self._index]

    def _advance(self) -> Token:
        token = self._tokens[self._index]
        if token.kind != "end":
            self._index += 1
        return token

    def _at(self, kind: str, text: str) -> bool:
        token = self._tokens[self._index]
        return token.kind == kind and token.text == text

    def _error(self, token: Token, detail: str) -> ODataQueryError:
        return syntax_error(self._text, token.position, detail)

    def _expect(self, text: str, why: str) -> Token:
        token = self._advance()
        if token.kind != "punct" or token.text != text:
            raise self._error(token, f"expected '{text}' {why} but found {_describe(token)}.")
        return token

    # -- grammar ---------------------------------------------------------------------------------------------

    def parse(self) -> Node:
        if self._peek().kind == "end":
            raise self._error(self._peek(), "an expression is expected.")
        node = self._or()
        token = self._peek()
        if token.kind != "end":
            raise self._error(token, f"expected 'and', 'or' or the end of the expression but found {_describe(token)}.")
        return node

    def _or(self) -> Node:
        first = self._and()
        if not self._at("ident", "or"):
            return first
        operands = [first]
        while self._at("ident", "or"):
            self._advance()
            operands.append(self._and())
        return Logical("or", tuple(operands), first.position)

    def _and(self) -> Node:
        first = self._comparison()
        if not self._at("ident", "and"):
            return first
        operands = [first]
        while self._at("ident", "and"):
            self._advance()
            operands.append(self._comparison())
        return Logical("and", tuple(operands), first.position)

    def _comparison(self) -> Node:
        left = self._unary()
        chained = 0
        while (token := self._peek()).kind == "ident" and token.text in _COMPARISONS:
            chained += 1
            self._check_nesting(token, chained)
            self._advance()
            left = Comparison(_COMPARISONS[token.text], left, self._unary(), left.position)
        return left

    def _unary(self) -> Node:
        token = self._peek()
        self._nesting += 1
        try:
            self._check_nesting(token)
            if token.kind == "ident" and token.text == "not":
                self._advance()
                return Negation(self._unary(), token.position)
            return self._primary()
        finally:
            self._nesting -= 1

    def _check_nesting(self, token: Token, extra: int = 0) -> None:
        if self._nesting + extra > MAX_NESTING:
            raise self._error(token, f"the expression nests more than {MAX_NESTING} levels deep.")

    def _primary(self) -> Node:
        token = self._advance()
        kind = token.kind
        if kind == "punct":
            if token.text == "(":
                inner = self._or()
                self._expect(")", f"to close the '(' at position {token.position}")
                return inner
            if token.text == "[":
                return self._array(token)
        elif kind == "ident":
            return self._name(token)
        elif kind == "alias":
            return self._alias(token)
        elif kind == "json_string":
            raise self._error(token, "double quotes are only for values inside [...]; quote strings with ' .")
        elif kind != "end":
            return _literal(token)
        raise self._error(token, f"expected a property, a value or '(' but found {_describe(token)}.")

    def _name(self, token: Token) -> Node:
        name = token.text
        keyword = _keyword_literal(token)
        if keyword is not None:
            return keyword
        if name in _OPERATOR_WORDS or name == "not":
            raise self._error(token, f"expected a property, a value or '(' but found '{name}'.")
        if self._at("punct", "("):
            return self._call(token)
        segments = [name]
        while self._at("punct", "/"):
            self._advance()
            segment = self._advance()
            if segment.kind != "ident":
                raise self._error(segment, f"expected a property name after '/' but found {_describe(segment)}.")
            if self._at("punct", "("):
                raise invalid_argument(
                    f"Lambda operators and functions on navigation properties ('{'/'.join(segments)}/"
                    f"{segment.text}(…)' at position {segment.position}) are not supported by the sandbox.",
                    position=segment.position,
                )
            segments.append(segment.text)
        return PropertyPath(tuple(segments), token.position)

    def _call(self, name: Token) -> FunctionCall:
        self._advance()  # the '('
        arguments: list[Node] = []
        named: list[tuple[str, Node]] = []
        if self._at("punct", ")"):
            self._advance()
            return FunctionCall(name.text, (), (), name.position)
        while True:
            token = self._peek()
            if token.kind == "ident" and self._peek(1).kind == "punct" and self._peek(1).text == "=":
                self._index += 2
                named.append((token.text, self._or()))
            else:
                arguments.append(self._or())
            separator = self._advance()
            if separator.kind == "punct" and separator.text == ")":
                return FunctionCall(name.text, tuple(arguments), tuple(named), name.position)
            if separator.kind != "punct" or separator.text != ",":
                raise self._error(separator, f"expected ',' or ')' in the call to '{name.text}' but found "
                                  f"{_describe(separator)}.")  # fmt: skip

    def _array(self, opening: Token) -> ArrayLiteral:
        items: list[Literal] = []
        if self._at("punct", "]"):
            self._advance()
            return ArrayLiteral((), opening.position)
        while True:
            token = self._advance()
            keyword = _keyword_literal(token)
            if keyword is not None:
                items.append(keyword)
            elif token.kind in _LITERAL_TYPES or token.kind == "number":
                items.append(_literal(token))
            else:
                raise self._error(token, f"a [...] collection holds values only, but found {_describe(token)}.")
            separator = self._advance()
            if separator.kind == "punct" and separator.text == "]":
                return ArrayLiteral(tuple(items), opening.position)
            if separator.kind != "punct" or separator.text != ",":
                raise self._error(separator, f"expected ',' or ']' in the collection but found {_describe(separator)}.")

    def _alias(self, token: Token) -> Node:
        name = str(token.value)
        raw = self._aliases.get(name)
        if raw is None:
            # Dataverse: an alias used in $filter but not assigned in the query string is null.
            return Literal("null", None, "null", token.text, token.position)
        if name in self._resolving:
            raise invalid_argument(f"The parameter alias '@{name}' refers to itself.", position=token.position)
        try:
            return _Parser(raw, self._aliases, self._resolving | {name}).parse()
        except ODataQueryError as exc:
            raise ODataQueryError(
                exc.code,
                f"In the value of the parameter alias '@{name}' ('{echo(raw)}'): {exc.message}",
                position=exc.position,
            ) from exc


def _keyword_literal(token: Token) -> Literal | None:
    if token.kind != "ident":
        return None
    if token.text in ("true", "false"):
        return Literal("boolean", token.text == "true", "Edm.Boolean", token.text, token.position)
    if token.text == "null":
        return Literal("null", None, "null", token.text, token.position)
    return None


def _literal(token: Token) -> Literal:
    if token.kind == "number":
        return Literal("number", token.value, token.edm_type, token.text, token.position)
    if token.kind == "enum":
        # The OData type of an enum literal is its qualified type name, the text before the quote.
        return Literal("enum", token.value, token.text.partition("'")[0], token.text, token.position)
    kind, edm_type = _LITERAL_TYPES[token.kind]
    return Literal(kind, token.value, edm_type, token.text, token.position)


def _describe(token: Token) -> str:
    return "the end of the expression" if token.kind == "end" else f"'{echo(token.text)}'"
