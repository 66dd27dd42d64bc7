"""The token service's counters."""

from __future__ import annotations

import json
import threading

from dataverse_sandbox.entra import TokenStats
from dataverse_sandbox.entra.stats import TokenEventFanout


def test_snapshot_groups_by_client_and_grant() -> None:
    stats = TokenStats()
    stats.record_issued("a", "client_credentials")
    stats.record_issued("a", "client_credentials")
    stats.record_issued("a", "refresh_token")
    stats.record_issued("b", "authorization_code")
    stats.record_refused(7000215)

    snapshot = stats.snapshot()

    assert snapshot == {
        "issued": {"a": {"client_credentials": 2, "refresh_token": 1}, "b": {"authorization_code": 1}},
        "refused": {"7000215": 1},
    }
    assert json.loads(json.dumps(snapshot)) == snapshot
    assert stats.issued() == 4
    assert stats.issued("a") == 3
    assert stats.issued(grant_type="authorization_code") == 1


def test_a_snapshot_is_a_copy() -> None:
    stats = TokenStats()
    stats.record_issued("a", "client_credentials")
    snapshot = stats.snapshot()

    stats.record_issued("a", "client_credentials")
    stats.reset()

    assert snapshot["issued"] == {"a": {"client_credentials": 1}}
    assert stats.snapshot() == {"issued": {}, "refused": {}}


def test_counting_is_thread_safe() -> None:
    stats = TokenStats()

    def work() -> None:
        for _ in range(2000):
            stats.record_issued("a", "client_credentials")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert stats.issued("a", "client_credentials") == 16000


def test_fanout_tells_every_recorder_in_order() -> None:
    first, second = TokenStats(), TokenStats()
    fanout = TokenEventFanout([first, second])
    fanout.record_issued("a", "client_credentials")
    fanout.record_refused(50126)
    assert (
        first.snapshot()
        == second.snapshot()
        == {
            "issued": {"a": {"client_credentials": 1}},
            "refused": {"50126": 1},
        }
    )
