"""The adaptive concurrency limit: slow start, halving once per round on 429, the cap, the Retry-After gate for every
thread, and one probe at a time after a throttle.
"""

from __future__ import annotations

import threading
import time

from connector.dataverse.bulk.concurrency import AdaptiveLimit, Outcome, Ticket


def test_it_starts_low_and_grows_by_one_per_healthy_answer_up_to_the_maximum() -> None:
    limit = AdaptiveLimit(2, 5)
    assert limit.snapshot().limit == 2
    for expected in (3, 4, 5, 5):
        limit.release(limit.acquire(), Outcome.HEALTHY)
        assert limit.snapshot().limit == expected


def test_a_429_halves_it_once_per_round_then_growth_is_additive() -> None:
    limit = AdaptiveLimit(8, 52)
    tickets = [limit.acquire() for _ in range(8)]
    limit.release(tickets[0], Outcome.THROTTLED, 0)
    limit.release(tickets[1], Outcome.THROTTLED, 0)  # sent before the decrease: no second halving
    assert (limit.snapshot().limit, limit.snapshot().decreases, limit.snapshot().throttles) == (4, 1, 2)
    for ticket in tickets[2:]:
        limit.release(ticket, Outcome.HEALTHY)  # answers of the old round do not grow the new limit
    assert limit.snapshot().limit == 4
    for _ in range(4):
        limit.release(limit.acquire(), Outcome.HEALTHY)
    assert limit.snapshot().limit == 4  # 1/limit per answer: a round of four adds a little less than one
    limit.release(limit.acquire(), Outcome.HEALTHY)
    assert limit.snapshot().limit == 5


def test_failures_that_say_nothing_about_limits_change_nothing() -> None:
    limit = AdaptiveLimit(3, 10)
    limit.release(limit.acquire(), Outcome.FAILED)
    assert limit.snapshot().limit == 3


def test_it_never_lets_more_than_the_limit_in_flight() -> None:
    limit = AdaptiveLimit(2, 2)
    first, second = limit.acquire(), limit.acquire()
    third: list[Ticket] = []
    waiter = threading.Thread(target=lambda: third.append(limit.acquire()))
    waiter.start()
    waiter.join(0.1)
    assert third == []
    limit.release(first, Outcome.HEALTHY)
    waiter.join(5)
    assert len(third) == 1
    assert limit.snapshot().peak_in_flight == 2
    limit.release(second, Outcome.HEALTHY)
    limit.release(third[0], Outcome.HEALTHY)


def test_a_429_holds_every_thread_until_retry_after_then_lets_one_probe_through() -> None:
    limit = AdaptiveLimit(4, 4)
    throttled = limit.acquire()
    started = time.monotonic()
    limit.release(throttled, Outcome.THROTTLED, 0.3)
    acquired: list[tuple[float, Ticket]] = []
    lock = threading.Lock()

    def take() -> None:
        ticket = limit.acquire()
        with lock:
            acquired.append((time.monotonic() - started, ticket))

    threads = [threading.Thread(target=take) for _ in range(3)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 5
    while not acquired and time.monotonic() < deadline:
        threading.Event().wait(0.01)
    threads[0].join(0.2)  # the others stay blocked behind the probe
    assert len(acquired) == 1
    assert acquired[0][0] >= 0.3
    limit.release(acquired[0][1], Outcome.HEALTHY)  # the probe went through: the rest may go
    for thread in threads:
        thread.join(5)
    assert len(acquired) == 3


def test_an_old_request_answered_after_a_throttle_does_not_end_probing() -> None:
    limit = AdaptiveLimit(4, 4)
    old, throttled = limit.acquire(), limit.acquire()
    limit.release(throttled, Outcome.THROTTLED, 0)
    limit.release(old, Outcome.HEALTHY)  # sent before the 429: says nothing about now
    probe = limit.acquire()
    second: list[Ticket] = []
    waiter = threading.Thread(target=lambda: second.append(limit.acquire()))
    waiter.start()
    waiter.join(0.1)
    assert second == []
    limit.release(probe, Outcome.HEALTHY)
    waiter.join(5)
    assert len(second) == 1


def test_a_nearly_spent_budget_sends_one_request_at_a_time_until_more_is_left() -> None:
    limit = AdaptiveLimit(3, 3)
    first = limit.acquire()
    limit.release(first, Outcome.HEALTHY, remaining=2)  # two left, three allowed: one at a time now
    alone = limit.acquire()
    blocked: list[Ticket] = []
    waiter = threading.Thread(target=lambda: blocked.append(limit.acquire()))
    waiter.start()
    waiter.join(0.1)
    assert blocked == []
    limit.release(alone, Outcome.HEALTHY, remaining=9)  # a fresh window
    waiter.join(5)
    assert len(blocked) == 1


def test_the_services_dop_hint_caps_the_limit_and_a_later_hint_replaces_it() -> None:
    limit = AdaptiveLimit(2, 52)
    limit.release(limit.acquire(), Outcome.HEALTHY, hint=3)
    for _ in range(5):
        limit.release(limit.acquire(), Outcome.HEALTHY)  # answers without the header keep the last hint
    assert (limit.snapshot().limit, limit.snapshot().hint) == (3, 3)
    limit.release(limit.acquire(), Outcome.HEALTHY, hint=6)
    for _ in range(5):
        limit.release(limit.acquire(), Outcome.HEALTHY)
    assert limit.snapshot().limit == 6


def test_a_lower_hint_in_the_same_round_brings_the_limit_down_at_once() -> None:
    limit = AdaptiveLimit(8, 52)
    limit.release(limit.acquire(), Outcome.HEALTHY, hint=3)
    assert limit.snapshot().limit == 3


def test_a_lower_hint_brings_the_limit_down_at_once() -> None:
    limit = AdaptiveLimit(8, 52)
    old = limit.acquire()
    limit.release(limit.acquire(), Outcome.THROTTLED, 0)  # a new round: the old ticket's answer does not grow it
    limit.release(old, Outcome.HEALTHY, hint=2)
    assert limit.snapshot().limit == 2
    assert limit.snapshot().hint == 2
