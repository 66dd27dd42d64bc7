"""How the sandbox orders and compares GUIDs: as SQL Server orders ``uniqueidentifier`` values, not as text.

Dataverse stores primary keys and lookups as SQL Server ``uniqueidentifier`` columns; ``$orderby`` on them, ``gt``
and ``lt`` comparisons in ``$filter`` and the keyset paging behind ``@odata.nextLink`` all follow SQL Server's order,
which Microsoft documents for ``SqlGuid``: the last six bytes are the most significant, then bytes 8-9, 6-7, 4-5 and
0-3 of the value's byte form (``Guid.ToByteArray``, whose first three groups are little-endian)
(learn.microsoft.com/dotnet/framework/data/adonet/sql/comparing-guid-and-uniqueidentifier-values;
…/api/system.data.sqltypes.sqlguid.compareto). In the written form ``aabbccdd-eeff-gghh-iijj-kkllmmnnoopp`` that is:
``kkllmmnnoopp``, then ``iijj``, then ``hhgg``, ``ffee``, ``ddccbbaa`` (the bytes of the first three groups read
backwards). :func:`sql_order_key` writes that as text whose plain order is SQL Server's, and :func:`register`
installs it as the SQLite collation ``UNIQUEIDENTIFIER`` that the GUID columns are declared with
(:mod:`.storage`), so ``ORDER BY``, ``<``/``>`` and the primary key's index all use it.

The behaviour switch ``guid_order`` (``InferredBehaviour``) can make the collation plain text order instead.
Not for parsing GUIDs: see :mod:`.values`.
"""

from __future__ import annotations

import sqlite3
from typing import Final, Literal

__all__ = ["COLLATION", "GuidOrder", "register", "sql_order_key"]

COLLATION: Final = "UNIQUEIDENTIFIER"
"""The collation name GUID columns are declared with."""

GuidOrder = Literal["sqlserver", "text"]
"""``sqlserver``: SQL Server's ``uniqueidentifier`` order (Dataverse's); ``text``: the lower-case text's order."""


def sql_order_key(text: str) -> str:
    """:returns: the GUID's hex digits rearranged so that their text order is SQL Server's order (a value that is
    not a 36-character GUID is returned as it is).
    """
    if len(text) != 36:
        return text
    return (
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


def _sqlserver(left: str, right: str) -> int:
    # The last group decides most comparisons; build the whole keys only when it ties (SQLite calls this for every
    # comparison in the key's index, so seeding 100,000 rows calls it a few million times).
    if len(left) != 36 or len(right) != 36:
        return (left > right) - (left < right)  # not GUIDs (the sandbox never stores such): a total order still
    first, second = left[24:], right[24:]
    if first == second:
        first, second = sql_order_key(left), sql_order_key(right)
    return (first > second) - (first < second)


def _text(left: str, right: str) -> int:
    return (left > right) - (left < right)


def register(connection: sqlite3.Connection, order: GuidOrder) -> None:
    """Install the ``UNIQUEIDENTIFIER`` collation on a connection (before any table declared with it is used).

    :param connection: the storage's connection.
    :param order: which order the collation implements.
    """
    connection.create_collation(COLLATION, _sqlserver if order == "sqlserver" else _text)
