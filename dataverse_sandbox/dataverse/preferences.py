"""The ``Prefer`` request header: parsing, and which annotations a client asked for.

Preferences may come as several ``Prefer`` headers or one comma-separated header (reference §2.2); values may be
quoted and hold commas (``odata.include-annotations="A,B"``). Not for applying them: each handler decides what it
honours and reports it through :meth:`Preferences.applied`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from dataverse_sandbox.numbers import ascii_integer

from .errors import bad_request

__all__ = ["Preferences", "parse_preferences", "split_top_level"]

#: The largest page Dataverse serves.
MAX_PAGE_SIZE = 5000


def split_top_level(text: str, separator: str = ",") -> list[str]:
    """Split on ``separator`` outside double quotes, single quotes and parentheses.

    :returns: the stripped, non-empty parts.
    """
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    quote = ""
    for char in text:
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == separator and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    parts.append("".join(current).strip())
    return [part for part in parts if part]


@dataclass
class Preferences:
    """What the client preferred, and what the response applied.

    :param values: preference name (lower-case) to its value (``""`` for a bare token).
    """

    values: dict[str, str] = field(default_factory=dict)
    _applied: list[str] = field(default_factory=list)

    @property
    def return_representation(self) -> bool:
        """:returns: whether ``return=representation`` was asked for."""
        return self.values.get("return") == "representation"

    @property
    def track_changes(self) -> bool:
        """:returns: whether ``odata.track-changes`` was asked for."""
        return "odata.track-changes" in self.values

    @property
    def continue_on_error(self) -> bool:
        """:returns: whether ``odata.continue-on-error`` was asked for."""
        return "odata.continue-on-error" in self.values

    def max_page_size(self, *, clamp: bool) -> int | None:
        """:param clamp: serve at most 5000 when more is asked (else 400).

        :returns: the requested page size, or ``None`` when not asked for.
        :raises DataverseError: 400 for a value that is not a positive integer (or too large without ``clamp``).
        """
        raw = self.values.get("odata.maxpagesize")
        if raw is None:
            return None
        size = ascii_integer(raw)
        if size is None or size <= 0:
            raise bad_request(f"The value '{raw}' of odata.maxpagesize is not a valid page size.")
        if size > MAX_PAGE_SIZE:
            if not clamp:
                raise bad_request(f"The odata.maxpagesize preference cannot be larger than {MAX_PAGE_SIZE}.")
            size = MAX_PAGE_SIZE
        return size

    @property
    def annotation_patterns(self) -> tuple[str, ...]:
        """:returns: the patterns of ``odata.include-annotations`` (empty when absent)."""
        raw = self.values.get("odata.include-annotations")
        if raw is None:
            return ()
        return tuple(split_top_level(raw.strip('"')))

    def wants_annotation(self, term: str) -> bool:
        """:returns: whether ``term`` (e.g. ``OData.Community.Display.V1.FormattedValue``) matches a pattern."""
        return any(
            fnmatchcase(term, pattern) for pattern in self.annotation_patterns if not pattern.startswith("-")
        ) and not any(fnmatchcase(term, pattern[1:]) for pattern in self.annotation_patterns if pattern[:1] == "-")

    def apply(self, name: str) -> None:
        """Record that the response honoured a preference, echoing the client's spelling of its value."""
        value = self.values.get(name)
        if value is None:
            return
        token = name if value == "" else f"{name}={value}"
        if token not in self._applied:
            self._applied.append(token)

    def apply_value(self, name: str, value: str) -> None:
        """Record that the response honoured a preference with the given (possibly adjusted) value."""
        token = f"{name}={value}"
        if token not in self._applied:
            self._applied.append(token)

    def applied(self) -> str | None:
        """:returns: the ``Preference-Applied`` header value, or ``None`` when nothing was applied."""
        return ", ".join(self._applied) if self._applied else None


def parse_preferences(headers: Iterable[str]) -> Preferences:
    """Parse every ``Prefer`` header of a request.

    :param headers: the header values, in order (each may hold several comma-separated preferences).
    :returns: the preferences; a later duplicate overrides an earlier one.
    """
    values: dict[str, str] = {}
    for header in headers:
        for item in split_top_level(header):
            # A preference may carry parameters after ';' (RFC 7240); Dataverse's preferences use none.
            token = split_top_level(item, ";")[0] if item else item
            name, sep, value = token.partition("=")
            values[name.strip().lower()] = value.strip() if sep else ""
    return Preferences(values)
