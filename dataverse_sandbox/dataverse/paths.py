"""Parsing of Web API resource paths: segments, key predicates, parameter lists and OData literals.

``accounts(accountnumber='A/1')/primarycontactid/$ref`` becomes three :class:`Segment` objects; a key predicate
becomes a :class:`KeyPredicate` (a primary key GUID or named alternate-key values). Not for resolving names against
the metadata or running anything: see :mod:`.router`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dataverse_sandbox.numbers import ascii_int64

from .errors import bad_request
from .values import parse_guid

__all__ = ["KeyPredicate", "Segment", "format_literal", "parse_literal", "parse_parameters", "split_path"]

# ASCII digits only (a literal in another script's digits is no number to Dataverse); an integer is one while it fits
# an Edm.Int64 (leading zeros allowed), a longer one is read as a decimal (int() refuses 4301 digits).
_INTEGER = re.compile(r"[+-]?\d+", re.ASCII)
_DECIMAL = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?[mMdDfF]?", re.ASCII)


@dataclass(frozen=True)
class Segment:
    """One path segment.

    :param name: the text before any parentheses (``accounts``, ``Microsoft.Dynamics.CRM.sample_Promote``).
    :param args: the text inside the parentheses, ``None`` when there are none (``""`` for ``()``).
    :param raw: the segment as written.
    """

    name: str
    args: str | None
    raw: str


@dataclass(frozen=True)
class KeyPredicate:
    """A key in parentheses after an entity set.

    :param record_id: the primary key, for ``(guid)`` or ``(accountid=guid)``.
    :param values: alternate-key column to value, in the order written.
    :param raw: the segment as written, echoed in ``OData-EntityId`` for alternate keys.
    """

    record_id: str | None
    values: tuple[tuple[str, Any], ...]
    raw: str


def split_path(path: str) -> list[Segment]:
    """Split a path below the service root into segments, honouring quotes and parentheses.

    :param path: e.g. ``accounts(name='a/b')/primarycontactid``.
    :returns: the segments (empty for the service root).
    :raises DataverseError: 400 for unbalanced quotes or parentheses.
    """
    segments: list[Segment] = []
    start = 0
    depth = 0
    in_quote = False
    for index, char in enumerate(path):
        if in_quote:
            if char == "'":
                in_quote = False
        elif char == "'":
            in_quote = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "/" and depth == 0:
            segments.append(_segment(path[start:index]))
            start = index + 1
    if in_quote or depth != 0:
        raise bad_request(f"Bad Request - Error in query syntax: the path '{path}' is malformed.")
    tail = path[start:]
    if tail:
        segments.append(_segment(tail))
    return [segment for segment in segments if segment.raw]


def _segment(raw: str) -> Segment:
    if raw.endswith(")") and "(" in raw:
        name, _, rest = raw.partition("(")
        return Segment(name, rest[:-1], raw)
    return Segment(raw, None, raw)


def parse_parameters(text: str, aliases: Mapping[str, str]) -> list[tuple[str | None, Any]]:
    """Parse ``name=literal`` pairs (or a single bare literal) inside parentheses.

    :param text: e.g. ``A=1,B=@b`` or ``00000000-0000-0000-0000-000000000001``.
    :param aliases: query-string parameter aliases (``@b`` → its literal text).
    :returns: ``(name, value)`` pairs; ``name`` is ``None`` for a bare literal.
    :raises DataverseError: 400 for a malformed list or literal.
    """
    pairs: list[tuple[str | None, Any]] = []
    for part in _split_commas(text):
        name, sep, literal = part.partition("=")
        if sep and not name.strip().startswith("'"):
            pairs.append((name.strip(), parse_literal(literal.strip(), aliases)))
        else:
            pairs.append((None, parse_literal(part.strip(), aliases)))
    return pairs


def _split_commas(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    in_quote = False
    for char in text:
        if char == "'":
            in_quote = not in_quote
        elif char == "," and not in_quote:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return [part for part in parts if part.strip()]


def parse_literal(text: str, aliases: Mapping[str, str]) -> Any:
    """Parse one OData literal: ``'str'`` (``''`` escapes a quote), GUID, integer, decimal, boolean, ``null``.

    :param text: the literal, or a parameter alias ``@name``.
    :param aliases: the query string's aliases; an unassigned alias is ``null`` (reference §3.7).
    :returns: the Python value (GUIDs as lower-case strings).
    :raises DataverseError: 400 when the text is not a literal.
    """
    if text.startswith("@"):
        assigned = aliases.get(text)
        return None if assigned is None else parse_literal(assigned, {})
    if len(text) >= 2 and text[0] == "'" and text[-1] == "'":
        return text[1:-1].replace("''", "'")
    lowered = text.lower()
    if lowered == "null":
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    guid = parse_guid(text) if len(text) in (36, 38) else None
    if guid is not None:
        return guid
    integer = ascii_int64(text) if _INTEGER.fullmatch(text) else None
    if integer is not None:
        return integer
    if _DECIMAL.fullmatch(text):
        number = float(text.rstrip("mMdDfF"))
        if math.isfinite(number):
            return number
        raise bad_request(f"Bad Request - Error in query syntax: '{text}' is out of range.")
    raise bad_request(f"Bad Request - Error in query syntax: '{text}' is not a valid literal.")


def format_literal(value: Any) -> str:
    """:returns: ``value`` written as an OData URL literal (the inverse of :func:`parse_literal`)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    if parse_guid(text) == text:
        return text
    return "'" + text.replace("'", "''") + "'"
