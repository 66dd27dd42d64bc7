"""Keyset paging: opaque ``$skiptoken`` values and the SQL condition that resumes after the last row served.

A token carries the sort-key values of the last row of a page (always ending with the primary key, so the order
is total) and a fingerprint of the query it belongs to. Resuming with "rows after these values" rather than an
offset means each row is served exactly once while other clients insert and delete. NULLs sort first ascending
and last descending, as in SQL Server and SQLite.
Not for running queries: see :mod:`.queries`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from dataverse_sandbox.numbers import finite, fits_int64

from .errors import bad_request

__all__ = ["PageToken", "after_condition", "build_link", "fingerprint"]

# Characters left as they are in query option values of links, as Dataverse's own links leave them.
_SAFE = ",()'$@:/"


@dataclass(frozen=True)
class PageToken:
    """Where the next page starts.

    :param last: the sort-key values of the last row served (primary key last).
    :param query: the fingerprint of the query the token was issued for.
    :param snapshot: for change tracking, the version the delta link will start from.
    :param phase: for delta pages, 0 while serving changed rows, 1 while serving deletions.
    """

    last: tuple[Any, ...]
    query: str
    snapshot: int | None = None
    phase: int = 0

    def encode(self) -> str:
        """:returns: the opaque token text."""
        document = {"l": list(self.last), "q": self.query, "s": self.snapshot, "p": self.phase}
        raw = json.dumps(document, separators=(",", ":")).encode("utf-8")
        return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")

    @classmethod
    def decode(cls, text: str, query: str) -> PageToken:
        """Read a token issued for ``query``.

        :raises DataverseError: 400 when the token is malformed or belongs to another query.
        """
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            document = json.loads(raw)
            token = cls(tuple(document["l"]), str(document["q"]), document.get("s"), int(document.get("p", 0)))
        except (ValueError, KeyError, TypeError, OverflowError):
            raise bad_request("The $skiptoken value is not valid.") from None
        # The fingerprint is no secret: a client can forge values SQLite cannot bind (2**70, 1e400): a 500 before.
        if not all(_bindable(value) for value in (*token.last, token.snapshot)):
            raise bad_request("The $skiptoken value is not valid.")
        if token.query != query:
            raise bad_request("The $skiptoken does not belong to this query; follow @odata.nextLink unchanged.")
        return token


def _bindable(value: Any) -> bool:
    """Whether SQLite can bind a token's value: text, null, a boolean, a 64-bit integer or a finite float."""
    if value is None or isinstance(value, str | bool):
        return True
    if isinstance(value, int):
        return fits_int64(value)
    return isinstance(value, float) and finite(value)


def fingerprint(*parts: str | None) -> str:
    """:returns: a short digest of the query options a token is bound to."""
    digest = hashlib.sha256("\x1f".join(part or "" for part in parts).encode("utf-8")).hexdigest()
    return digest[:16]


def after_condition(terms: Sequence[tuple[str, bool]], last: Sequence[Any]) -> tuple[str, list[Any]]:
    """The condition "sorts after ``last``" for an ``ORDER BY`` of ``terms``.

    :param terms: ``(sql expression, descending)`` pairs; the last one must make the order total.
    :param last: the values of the terms for the last row served.
    :returns: an SQL condition and its parameters.
    """
    if len(terms) != len(last):
        raise bad_request("The $skiptoken value is not valid.")
    disjuncts: list[str] = []
    params: list[Any] = []
    for index, ((expression, descending), value) in enumerate(zip(terms, last, strict=True)):
        if value is None and descending:
            # NULLs come last when descending: nothing sorts after a NULL but ties on later terms.
            continue
        conjuncts: list[str] = []
        for (previous, _), previous_value in zip(terms[:index], last[:index], strict=True):
            conjuncts.append(f"({previous}) IS ?")
            params.append(previous_value)
        if value is None:
            conjuncts.append(f"({expression}) IS NOT NULL")
        elif descending:
            conjuncts.append(f"(({expression}) < ? OR ({expression}) IS NULL)")
            params.append(value)
        else:
            conjuncts.append(f"({expression}) > ?")
            params.append(value)
        disjuncts.append("(" + " AND ".join(conjuncts) + ")")
    if not disjuncts:
        return "0", []
    return "(" + " OR ".join(disjuncts) + ")", params


def build_link(root: str, path: str, options: Sequence[tuple[str, str]]) -> str:
    """:returns: ``root + path`` with the query options, percent-encoded the way Dataverse writes them."""
    if not options:
        return f"{root}{path}"
    query = "&".join(f"{quote(name, safe='$@')}={quote(value, safe=_SAFE)}" for name, value in options)
    return f"{root}{path}?{query}"
