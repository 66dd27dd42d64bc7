"""Primary-key ranges in SQL Server's ``uniqueidentifier`` order: the order Dataverse sorts and compares GUID keys in.

Dataverse keeps records in SQL Server, where a table's primary key is a ``uniqueidentifier``; when a query names no
order, Dataverse orders it by that key, and paging resumes "with the next record after the last one on the
preceding page" (learn.microsoft.com/power-apps/developer/data-platform/fetchxml/page-results, "Ordering and
paging"), so ``$orderby=<key>`` and ``<key> gt <guid>`` are the order and the comparison the service itself pages
with. SQL Server does not compare GUIDs as text: it treats the last six bytes as the most significant, then bytes
8-9, 6-7, 4-5 and 0-3 of the value's byte form, whose first three groups are little-endian
(learn.microsoft.com/dotnet/framework/data/adonet/sql/comparing-guid-and-uniqueidentifier-values;
learn.microsoft.com/dotnet/api/system.data.sqltypes.sqlguid.compareto). :func:`sql_order` maps a GUID to an integer
whose order is that one, and :func:`guid_at` maps back, so ranges can be cut by arithmetic; :func:`in_sql_order`
checks a page of keys the service ordered against this model before it is trusted.

:class:`KeyRange` is ``(after, up_to]``: a record belongs to it when its key is after ``after`` (or ``after`` is
``None``) and at most ``up_to`` (or ``up_to`` is ``None``). Ranges cut at the same boundaries are disjoint and
cover every key. Not for reading: :mod:`connector.dataverse.partitions.reader`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

__all__ = ["FULL_RANGE", "KEY_SPACE", "KeyRange", "guid_at", "in_sql_order", "sql_order"]

KEY_SPACE: Final = 1 << 128
"""How many keys there are; :func:`sql_order` returns ``0 <= n < KEY_SPACE``."""

_GUID: Final = re.compile(r"\{?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\}?")


def sql_order(guid: str) -> int:
    """:returns: the key's rank in SQL Server's ``uniqueidentifier`` order, as a 128-bit integer.

    :raises ValueError: when ``guid`` is not a GUID.
    """
    match = _GUID.fullmatch(guid)
    if match is None:
        raise ValueError(f"{guid!r} is not a GUID")
    text = match.group(1)
    # Written aabbccdd-eeff-gghh-iijj-kkllmmnnoopp, compared kkllmmnnoopp, iijj, hhgg, ffee, ddccbbaa.
    ordered = (
        text[24:36]
        + text[19:23]
        + text[16:18]
        + text[14:16]
        + text[11:13]
        + text[9:11]
        + text[6:8]
        + text[4:6]
        + text[2:4]
        + text[0:2]
    )
    return int(ordered, 16)


def guid_at(rank: int) -> str:
    """:returns: the GUID whose :func:`sql_order` is ``rank`` (lower-case, no braces).

    :raises ValueError: when ``rank`` is outside ``0 .. KEY_SPACE - 1``.
    """
    if not 0 <= rank < KEY_SPACE:
        raise ValueError(f"{rank} is not a key rank")
    o = f"{rank:032x}"
    # The inverse of sql_order's rearrangement: o = kkllmmnnoopp iijj hhgg ffee ddccbbaa.
    return f"{o[30:32]}{o[28:30]}{o[26:28]}{o[24:26]}-{o[22:24]}{o[20:22]}-{o[18:20]}{o[16:18]}-{o[12:16]}-{o[0:12]}"


def in_sql_order(keys: Sequence[str]) -> bool:
    """:returns: whether the keys are GUIDs strictly increasing in SQL Server's order (as the service returned them
    for ``$orderby=<key>``: the check that this model is the service's order).
    """
    try:
        ranks = [sql_order(key) for key in keys]
    except (TypeError, ValueError):
        return False
    return all(first < second for first, second in itertools.pairwise(ranks))


@dataclass(frozen=True)
class KeyRange:
    """The records whose primary key is after ``after`` and up to ``up_to`` (``None``: unbounded on that side).

    :param after: the exclusive lower bound, a lower-case GUID.
    :param up_to: the inclusive upper bound, a lower-case GUID.
    """

    after: str | None = None
    up_to: str | None = None

    @property
    def low(self) -> int:
        """The lower bound's rank (``-1`` when unbounded: every key is after it)."""
        return -1 if self.after is None else sql_order(self.after)

    @property
    def high(self) -> int:
        """The upper bound's rank (``KEY_SPACE - 1`` when unbounded)."""
        return KEY_SPACE - 1 if self.up_to is None else sql_order(self.up_to)

    def contains(self, key: str) -> bool:
        """:returns: whether a key lies in the range (by this module's model of the service's order)."""
        return self.low < sql_order(key) <= self.high

    def conditions(self) -> list[tuple[str, str]]:
        """:returns: the range as comparisons with the key, ``("gt", after)`` and ``("le", up_to)`` when bounded."""
        found: list[tuple[str, str]] = []
        if self.after is not None:
            found.append(("gt", self.after))
        if self.up_to is not None:
            found.append(("le", self.up_to))
        return found

    def odata_filter(self, primary_key: str) -> str:
        """:returns: the ``$filter`` expression selecting the range (empty for the full range)."""
        return " and ".join(f"{primary_key} {operator} {value}" for operator, value in self.conditions())

    def label(self) -> str:
        """:returns: the range for messages: ``(after, up_to]`` with ``-`` for an open end."""
        return f"({self.after or '-'}, {self.up_to or '-'}]"


FULL_RANGE: Final = KeyRange()
"""Every key."""
