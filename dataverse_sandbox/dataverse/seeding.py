"""Bulk seeding of accounts and contacts for demos and benchmarks (100,000 accounts in a few seconds).

Rows are generated in Python and inserted with one ``executemany`` per table inside one transaction; values are
deterministic for a given seed and starting row count, so two seeded sandboxes hold the same data.
Not for request-driven writes: see :mod:`.writes`.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from .guid_order import sql_order_key
from .metadata import USD_CURRENCY_ID, EntityMeta
from .storage import Storage
from .values import format_timestamp

__all__ = ["seed_records"]

_NAMES = (
    "Contoso",
    "Fabrikam",
    "Adventure Works",
    "Northwind",
    "Litware",
    "Tailspin",
    "Wingtip",
    "Alpine Ski",
    "Coho Winery",
    "Fourth Coffee",
    "Blue Yonder",
    "Proseware",
    "Trey Research",
    "Woodgrove",
    "Humongous",
)
_SUFFIXES = ("Inc.", "Ltd", "GmbH", "LLC", "Group", "Partners", "Labs", "Holdings")
_CITIES = ("Redmond", "Seattle", "London", "Paris", "Berlin", "Madrid", "Tokyo", "Sydney", "Toronto", "Oslo")
_FIRST = ("Alex", "Sam", "Maria", "Yvonne", "Susanna", "Nancy", "Rene", "Paul", "Jon", "Li", "Ana", "Omar")
_LAST = ("McKay", "Stubberod", "Anderson", "Valdes", "Higa", "Cannon", "Brown", "Kim", "Nowak", "Rossi")


def _guid(rng: random.Random) -> str:
    text = f"{rng.getrandbits(128):032x}"
    return f"{text[:8]}-{text[8:12]}-4{text[13:16]}-a{text[17:20]}-{text[20:]}"


def seed_records(
    storage: Storage, catalog: Mapping[str, EntityMeta], now: float, accounts: int, contacts: int = 0, seed: int = 7
) -> tuple[list[str], list[str]]:
    """Insert generated accounts and contacts (each contact's company is one of the new accounts).

    :param storage: where to insert.
    :param catalog: the tables.
    :param now: creation time, epoch seconds (rows are spread over the preceding 400 days).
    :param accounts: how many accounts.
    :param contacts: how many contacts.
    :param seed: the random seed.
    :returns: the new account ids and contact ids.
    :raises DataverseError: 412 if a generated account number is taken (nothing is inserted then).
    """
    account, contact = catalog["account"], catalog["contact"]
    start = int(storage.scalar("SELECT count(*) FROM account") or 0)
    contact_start = int(storage.scalar("SELECT count(*) FROM contact") or 0)
    rng = random.Random(seed + start)
    # Pools instead of per-row formatting and arithmetic: generation must keep up with SQLite's insert rate.
    stamps = [format_timestamp(now - rng.randrange(0, 400 * 86400)) for _ in range(4096)]
    names = [f"{n} {s}" for n in _NAMES for s in _SUFFIXES]
    phones = [f"555-{i:04d}" for i in range(10000)]
    account_ids: list[str] = []
    contact_ids: list[str] = []
    with storage.transaction():
        rows = []
        for index in range(accounts):
            number = start + index + 1
            stamp = stamps[rng.getrandbits(12)]
            record_id = _guid(rng)
            account_ids.append(record_id)
            values: dict[str, Any] = {
                "accountid": record_id,
                "name": f"{names[rng.getrandbits(16) % len(names)]} {number:06d}",
                "accountnumber": f"SEED-{number:08d}",
                "telephone1": phones[rng.getrandbits(16) % 10000],
                "emailaddress1": f"info{number}@example.com",
                "address1_city": _CITIES[index % len(_CITIES)],
                "numberofemployees": 1 + rng.getrandbits(15),
                "revenue": float(10_000 + rng.getrandbits(25)),
                "creditonhold": int(rng.getrandbits(4) == 0),
                "accountcategorycode": 1 + (index & 1),
                "industrycode": 1 + index % 7,
                "statecode": 0,
                "statuscode": 1,
                "_transactioncurrencyid_value": USD_CURRENCY_ID,
                "createdon": stamp,
                "modifiedon": stamp,
                "versionnumber": storage.next_version(),
            }
            rows.append(tuple(map(values.get, account.columns)))
        # In primary-key order (SQL Server's, the key's collation): SQLite appends to the key's B-tree instead of
        # splitting pages at random.
        key = account.columns.index(account.primary_id)
        rows.sort(key=lambda row: sql_order_key(str(row[key])))
        storage.insert_many(account, account.columns, rows)
        parents = account_ids or [str(r) for r in storage.column("SELECT accountid FROM account LIMIT 10000")]
        rows = []
        for index in range(contacts):
            first, last = _FIRST[index % len(_FIRST)], _LAST[rng.getrandbits(8) % len(_LAST)]
            stamp = stamps[rng.getrandbits(12)]
            record_id = _guid(rng)
            contact_ids.append(record_id)
            contact_values: dict[str, Any] = {
                "contactid": record_id,
                "firstname": first,
                "lastname": last,
                "fullname": f"{first} {last}",
                "emailaddress1": f"{first.lower()}.{last.lower()}.{contact_start + index}@example.com",
                "jobtitle": "Buyer",
                "_parentcustomerid_value": parents[rng.getrandbits(20) % len(parents)] if parents else None,
                "statecode": 0,
                "statuscode": 1,
                "_transactioncurrencyid_value": USD_CURRENCY_ID,
                "createdon": stamp,
                "modifiedon": stamp,
                "versionnumber": storage.next_version(),
            }
            rows.append(tuple(map(contact_values.get, contact.columns)))
        if rows:
            key = contact.columns.index(contact.primary_id)
            rows.sort(key=lambda row: sql_order_key(str(row[key])))
            storage.insert_many(contact, contact.columns, rows)
    return account_ids, contact_ids
