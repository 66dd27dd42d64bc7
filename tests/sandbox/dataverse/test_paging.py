"""Paging acceptance: following next links returns each record exactly once while others insert and delete."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator

import pytest

from dataverse_sandbox.server import Sandbox
from tests.support.sandbox import WebApiSession, bearer_token

SEEDED = 20_000


@pytest.fixture(scope="module")
def seeded() -> Iterator[tuple[Sandbox, list[str]]]:
    """A sandbox with 20,000 seeded accounts, and their ids."""
    with Sandbox() as sb:
        account_ids, _ = sb.seed(SEEDED)
        yield sb, account_ids


def _churn(sb: Sandbox, victims: list[str], deleted: set[str], stop: threading.Event) -> Callable[[], None]:
    def run() -> None:
        rng = random.Random(5)
        with WebApiSession(sb, bearer_token(sb)) as writer:
            while not stop.is_set():
                writer.post("accounts", json={"name": f"Inserted {rng.random():.6f}"})
                victim = victims.pop(rng.randrange(len(victims)))
                if writer.delete(f"accounts({victim})").status_code == 204:
                    deleted.add(victim)

    return run


@pytest.mark.parametrize("orderby", [None, "name", "revenue desc"])
def test_every_preexisting_record_once_while_others_insert_and_delete(
    seeded: tuple[Sandbox, list[str]], orderby: str | None
) -> None:
    sb, account_ids = seeded
    alive = set(sb.service.storage.column("SELECT accountid FROM account"))
    preexisting = [i for i in account_ids if i in alive]
    deleted: set[str] = set()
    stop = threading.Event()
    writer = threading.Thread(target=_churn(sb, list(preexisting), deleted, stop))
    seen: Counter[str] = Counter()
    pages = 0
    url: str | None = "accounts?$select=name,revenue" + (f"&$orderby={orderby}" if orderby else "")
    writer.start()
    try:
        with WebApiSession(sb, bearer_token(sb)) as reader:
            while url:
                response = reader.get(url, headers={"Prefer": "odata.maxpagesize=1000"})
                assert response.status_code == 200, response.text
                body = response.json()
                seen.update(row["accountid"] for row in body["value"])
                pages += 1
                url = body.get("@odata.nextLink")
    finally:
        stop.set()
        writer.join()
    assert deleted, "the writer must have deleted records while the reader paged"
    assert pages >= SEEDED // 1000 - 1
    duplicates = [record_id for record_id, count in seen.items() if count > 1]
    assert duplicates == []
    missing = [record_id for record_id in preexisting if record_id not in deleted and record_id not in seen]
    assert missing == []
