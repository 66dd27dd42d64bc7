"""GUID columns sort and compare in SQL Server's ``uniqueidentifier`` order (the last six bytes first), as Dataverse's
storage does: ``$orderby`` on the primary key, ``gt``/``lt`` on it, and the paging behind next links agree.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from dataverse_sandbox.config import InferredBehaviour, SandboxConfig
from dataverse_sandbox.dataverse.guid_order import sql_order_key
from dataverse_sandbox.server import Sandbox
from tests.support.sandbox import WebApiSession, bearer_token

# The order .NET's SqlGuid (SQL Server's comparison) gives these, smallest first: bytes 10-15 of the byte form are
# the most significant, then 8-9, 6-7, 4-5, 0-3, and the first three groups are little-endian in the byte form.
SQL_SERVER_ORDER = [
    "01000000-0000-0000-0000-000000000000",
    "10000000-0000-0000-0000-000000000000",
    "00010000-0000-0000-0000-000000000000",
    "00000001-0000-0000-0000-000000000000",
    "00000000-0100-0000-0000-000000000000",
    "00000000-0001-0000-0000-000000000000",
    "00000000-0000-0100-0000-000000000000",
    "00000000-0000-0001-0000-000000000000",
    "00000000-0000-0000-0001-000000000000",
    "00000000-0000-0000-0100-000000000000",
    "00000000-0000-0000-0000-000000000001",
    "00000000-0000-0000-0000-010000000000",
]
_BYTE_ORDER = (10, 11, 12, 13, 14, 15, 8, 9, 6, 7, 4, 5, 0, 1, 2, 3)


def test_the_key_is_sqlguid_byte_order() -> None:
    for number in range(2000):
        value = uuid.UUID(int=(number * 0x9E3779B97F4A7C15F39CC0605CEDC835) % (1 << 128))
        expected = bytes(value.bytes_le[index] for index in _BYTE_ORDER).hex()
        assert sql_order_key(str(value)) == expected
    assert sorted(sorted(SQL_SERVER_ORDER, reverse=True), key=sql_order_key) == SQL_SERVER_ORDER


def _create(sb: Sandbox, ids: list[str]) -> None:
    with WebApiSession(sb, bearer_token(sb)) as session:
        for record_id in ids:
            assert session.post("accounts", json={"accountid": record_id, "name": record_id}).status_code == 204


@pytest.fixture
def keyed() -> Iterator[Sandbox]:
    """A sandbox holding exactly the accounts of :data:`SQL_SERVER_ORDER`."""
    with Sandbox() as sb:
        _create(sb, list(reversed(SQL_SERVER_ORDER)))
        yield sb


def _ids(session: WebApiSession, url: str, page_size: int = 5000) -> list[str]:
    seen: list[str] = []
    next_url: str | None = url
    while next_url:
        response = session.get(next_url, headers={"Prefer": f"odata.maxpagesize={page_size}"})
        assert response.status_code == 200, response.text
        body = response.json()
        seen.extend(row["accountid"] for row in body["value"])
        next_url = body.get("@odata.nextLink")
    return seen


def test_orderby_and_paging_follow_sql_server_order(keyed: Sandbox) -> None:
    with WebApiSession(keyed, bearer_token(keyed)) as session:
        assert _ids(session, "accounts?$select=name&$orderby=accountid") == SQL_SERVER_ORDER
        assert _ids(session, "accounts?$select=name&$orderby=accountid desc") == SQL_SERVER_ORDER[::-1]
        # Without $orderby the service orders by the primary key; pages resume after the last key served.
        assert _ids(session, "accounts?$select=name", page_size=5) == SQL_SERVER_ORDER


def test_comparisons_follow_sql_server_order(keyed: Sandbox) -> None:
    middle = SQL_SERVER_ORDER[5]
    with WebApiSession(keyed, bearer_token(keyed)) as session:
        assert _ids(session, f"accounts?$select=name&$filter=accountid gt {middle}") == SQL_SERVER_ORDER[6:]
        assert _ids(session, f"accounts?$select=name&$filter=accountid le {middle}") == SQL_SERVER_ORDER[:6]
        low, high = SQL_SERVER_ORDER[2], SQL_SERVER_ORDER[9]
        between = f"accounts?$select=name&$filter=accountid gt {low} and accountid le {high}&$orderby=accountid"
        assert _ids(session, between) == SQL_SERVER_ORDER[3:10]


def test_text_order_is_a_switch() -> None:
    with Sandbox(SandboxConfig(behaviour=InferredBehaviour(guid_order="text"))) as sb:
        _create(sb, SQL_SERVER_ORDER)
        with WebApiSession(sb, bearer_token(sb)) as session:
            assert _ids(session, "accounts?$select=name&$orderby=accountid") == sorted(SQL_SERVER_ORDER)
