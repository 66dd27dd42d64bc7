"""The refresh lock every locking token store lends (``LockingTokenStore``): one holder at a time per key, a holder
token that only its owner can renew or release, a lease that ends, and stores that share one place sharing the lock.

Run against the in-process ``MemoryTokenStore``, the reference host's file store and the Redis store. The first two
take an injected clock, so lease ends are tested without waiting; Redis expires keys on its own clock, so its lease
test uses a lease of a fraction of a second and polls with a deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from connector.context import LockingTokenStore, MemoryTokenStore
from connector.host.redis_token_store import RedisTokenStore
from connector.host.token_store import EncryptedTokenStore
from tests.support.clock import FakeClock
from tests.support.redis_server import RedisServer

KEY = "dynamics365-ce/oauth2/0123456789abcdef"
OTHER_KEY = "dynamics365-ce/oauth2/fedcba9876543210"
LEASE_S = 30.0
REDIS_LEASE_S = 0.3
DEADLINE_S = 5.0


@dataclass
class StoreKind:
    """Makes stores that share one place, and ends leases."""

    name: str
    make: Callable[[], LockingTokenStore]
    lease_seconds: float
    end_leases: Callable[[], None]
    clock: FakeClock


@pytest.fixture(params=["memory", "file", "redis"])
def kind(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreKind]:
    clock = FakeClock()
    if request.param == "memory":
        shared = MemoryTokenStore(clock=clock)
        yield StoreKind("memory", lambda: shared, LEASE_S, lambda: clock.advance(LEASE_S + 1), clock)
        return
    key = Fernet.generate_key()
    if request.param == "file":
        path = tmp_path / "tokens.fernet"
        yield StoreKind(
            "file",
            lambda: EncryptedTokenStore(path, key, clock=clock),
            LEASE_S,
            lambda: clock.advance(LEASE_S + 1),
            clock,
        )
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    namespace = f"test-{request.node.name}-{time.time_ns()}"
    stores: list[RedisTokenStore] = []

    def make() -> LockingTokenStore:
        stores.append(RedisTokenStore(server.url, key=key, namespace=namespace))
        return stores[-1]

    def wait_out_lease() -> None:
        probe = stores[0]
        deadline = time.monotonic() + DEADLINE_S
        while probe._redis.exists(probe._lock_key(KEY)):  # Redis ends the lease on its own clock
            assert time.monotonic() < deadline, "Redis did not expire the lease"
            time.sleep(0.02)

    yield StoreKind("redis", make, REDIS_LEASE_S, wait_out_lease, clock)  # Redis keeps its own time
    for store in stores:
        store.close()


def test_one_holder_at_a_time_across_stores_of_one_place(kind: StoreKind) -> None:
    first, second = kind.make(), kind.make()
    holder = first.acquire_lock(KEY, kind.lease_seconds)
    assert holder
    assert second.acquire_lock(KEY, kind.lease_seconds) is None
    assert first.acquire_lock(KEY, kind.lease_seconds) is None  # not re-entrant: the same store waits too
    other = second.acquire_lock(OTHER_KEY, kind.lease_seconds)  # keys are independent
    assert other
    assert first.release_lock(KEY, holder)
    again = second.acquire_lock(KEY, kind.lease_seconds)
    assert again
    assert again != holder
    assert second.release_lock(KEY, again)
    assert second.release_lock(OTHER_KEY, other)


def test_only_the_holder_renews_or_releases(kind: StoreKind) -> None:
    store, stranger = kind.make(), kind.make()
    holder = store.acquire_lock(KEY, kind.lease_seconds)
    assert holder
    assert not stranger.release_lock(KEY, "not-the-holder")
    assert not stranger.renew_lock(KEY, "not-the-holder", kind.lease_seconds)
    assert stranger.acquire_lock(KEY, kind.lease_seconds) is None  # still held
    assert store.renew_lock(KEY, holder, kind.lease_seconds)
    assert store.release_lock(KEY, holder)
    assert not store.release_lock(KEY, holder)  # twice: nothing held any more
    assert not store.renew_lock(KEY, holder, kind.lease_seconds)


def test_an_ended_lease_passes_the_lock_on_and_the_old_holder_cannot_touch_it(kind: StoreKind) -> None:
    stalled, successor = kind.make(), kind.make()
    old = stalled.acquire_lock(KEY, kind.lease_seconds)
    assert old
    kind.end_leases()  # the holder stopped renewing (paused, hung, or dead without the kernel's help)
    new = successor.acquire_lock(KEY, kind.lease_seconds)
    assert new
    assert not stalled.renew_lock(KEY, old, kind.lease_seconds)
    assert not stalled.release_lock(KEY, old)  # compare-and-delete: the successor's lock survives
    assert stalled.acquire_lock(KEY, kind.lease_seconds) is None
    assert successor.release_lock(KEY, new)


@pytest.mark.parametrize("kind", ["memory", "file"], indirect=True)  # Redis: test_redis_token_store
def test_renewing_keeps_the_lock_past_the_first_lease(kind: StoreKind) -> None:
    store, other = kind.make(), kind.make()
    holder = store.acquire_lock(KEY, kind.lease_seconds)
    assert holder
    for _ in range(3):
        kind.clock.advance(kind.lease_seconds / 2)
        assert store.renew_lock(KEY, holder, kind.lease_seconds)
        assert other.acquire_lock(KEY, kind.lease_seconds) is None
    assert store.release_lock(KEY, holder)


def test_tokens_and_the_lock_do_not_interfere(kind: StoreKind) -> None:
    store = kind.make()
    holder = store.acquire_lock(KEY, kind.lease_seconds)
    assert holder
    store.save(KEY, {"access_token": "a", "refresh_token": "r"})
    assert kind.make().load(KEY) == {"access_token": "a", "refresh_token": "r"}
    assert store.release_lock(KEY, holder)
    assert store.load(KEY) == {"access_token": "a", "refresh_token": "r"}
