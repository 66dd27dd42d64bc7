"""Key ranks follow SQL Server's uniqueidentifier order (SqlGuid: the last six bytes most significant), ranges cut
at the same boundaries are disjoint and cover every key, and a cut range's pieces cover it exactly.
"""

from __future__ import annotations

import random
import uuid

from connector.dataverse.partitions.keys import FULL_RANGE, KEY_SPACE, KeyRange, guid_at, in_sql_order, sql_order
from connector.dataverse.partitions.plan import cut_evenly

# .NET's SqlGuid compares the bytes of Guid.ToByteArray() (UUID.bytes_le) from index 10 to 15, then 8-9, 6-7, 4-5 and
# 0-3: the documented SQL Server order, written out independently of the module under test.
_SIGNIFICANCE = (10, 11, 12, 13, 14, 15, 8, 9, 6, 7, 4, 5, 0, 1, 2, 3)


def sqlguid_rank(value: uuid.UUID) -> int:
    return int.from_bytes(bytes(value.bytes_le[index] for index in _SIGNIFICANCE), "big")


def test_ranks_are_sql_server_order_and_invertible() -> None:
    rng = random.Random(11)
    for _ in range(5000):
        value = uuid.UUID(int=rng.getrandbits(128))
        assert sql_order(str(value)) == sqlguid_rank(value)
        assert sql_order("{" + str(value).upper() + "}") == sqlguid_rank(value)
        assert guid_at(sql_order(str(value))) == str(value)
    assert guid_at(0) == "00000000-0000-0000-0000-000000000000"
    assert guid_at(KEY_SPACE - 1) == "ffffffff-ffff-ffff-ffff-ffffffffffff"


def test_the_last_group_is_most_significant() -> None:
    ordered = [
        "ffffffff-ffff-ffff-ffff-000000000000",
        "00000000-0000-0000-0000-000000000001",
        "00000000-0000-0000-0000-000000000100",
    ]
    assert in_sql_order(ordered)
    assert not in_sql_order(sorted(ordered))
    assert not in_sql_order(["not a guid", ordered[0]])


def test_a_range_is_its_two_comparisons() -> None:
    low, high = "00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000100"
    key_range = KeyRange(low, high)
    assert key_range.conditions() == [("gt", low), ("le", high)]
    assert key_range.odata_filter("accountid") == f"accountid gt {low} and accountid le {high}"
    assert not key_range.contains(low)
    assert key_range.contains(high)
    assert FULL_RANGE.odata_filter("accountid") == ""
    assert FULL_RANGE.contains(low)


def test_even_cuts_are_disjoint_and_cover_every_key() -> None:
    rng = random.Random(5)
    keys = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(3000)]
    ranks = sorted(sql_order(key) for key in keys)
    for within in (FULL_RANGE, KeyRange(guid_at(ranks[100]), guid_at(ranks[2800]))):
        pieces = cut_evenly(within, ranks[0], ranks[-1], 7)
        assert len(pieces) == 7
        assert pieces[0].after == within.after
        assert pieces[-1].up_to == within.up_to
        for key in keys:
            holders = [piece for piece in pieces if piece.contains(key)]
            assert len(holders) == (1 if within.contains(key) else 0), key


def test_a_narrow_span_gives_fewer_pieces() -> None:
    assert cut_evenly(FULL_RANGE, 10, 10, 8) == [FULL_RANGE]
    assert len(cut_evenly(FULL_RANGE, 10, 13, 8)) == 3
