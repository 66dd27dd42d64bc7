"""The retry engine alone: the outcome table, Retry-After, backoff, the bounds, one token renewal, the resend rule
for requests that are not idempotent, and what a gate hears. Scripted answers instead of HTTP; a fake clock instead
of sleeping. The engine under the transport, over real HTTP mocks: ``tests/core/test_transport.py``.
"""

from __future__ import annotations

import email.utils
import io
import random
from collections.abc import Sequence
from typing import Any

import pytest
import requests

from connector.errors import ConfigError, FailureType, TransientError
from connector.retry import (
    HTTP_ACTIONS,
    LONGEST_RETRY_AFTER,
    Action,
    Attempt,
    Delivery,
    JitteredBackoff,
    NoAnswerError,
    ResendRule,
    Retrier,
    RetryPolicy,
    SharedPause,
    action_for,
    delivery_of,
    parse_retry_after,
)
from tests.support.clock import FakeClock

NOW = 1_700_000_000.0


def answer(status: int, retry_after: str | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = b""
    response.raw = io.BytesIO(b"")  # what the engine closes before a retry
    if retry_after is not None:
        response.headers["Retry-After"] = retry_after
    return response


def reset() -> NoAnswerError:
    """A connection reset while waiting for the answer: the request may have been processed."""
    return NoAnswerError("https://contoso.example", timed_out=False, reached=True, cause="ConnectionError")


def refused() -> NoAnswerError:
    """A connection that was never made."""
    return NoAnswerError("https://contoso.example", timed_out=False, reached=False, cause="ConnectionError")


class Script:
    """A send function that plays answers (or raises failures) in order and counts the calls."""

    def __init__(self, *steps: requests.Response | Exception) -> None:
        self.steps = list(steps)
        self.calls = 0

    def __call__(self) -> requests.Response:
        step = self.steps[self.calls]
        self.calls += 1
        if isinstance(step, Exception):
            raise step
        return step


class FixedBackoff:
    """Waits ``seconds`` times the attempt's number, and records which attempts asked."""

    def __init__(self, seconds: float = 1.0) -> None:
        self.seconds = seconds
        self.asked: list[int] = []

    def delay(self, attempt: int) -> float:
        self.asked.append(attempt)
        return self.seconds * attempt


class RecordingGate:
    """Admits everything, records what it hears, and makes the waits itself when ``holds``."""

    def __init__(self, holds: bool = False) -> None:
        self.holds = holds
        self.entered = 0
        self.heard: list[Attempt] = []

    def enter(self) -> int:
        self.entered += 1
        return self.entered

    def leave(self, admitted: int, attempt: Attempt) -> bool:
        assert admitted == len(self.heard) + 1
        self.heard.append(attempt)
        return self.holds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_retrier(clock: FakeClock, gate: Any = None, backoff: Any = None, **policy: Any) -> Retrier:
    return Retrier(
        RetryPolicy(**policy),
        backoff=backoff or FixedBackoff(),
        gate=gate or SharedPause(clock, clock.sleep),
        clock=clock,
        sleep=clock.sleep,
        wall_clock=FakeClock(NOW),
    )


def statuses(script: Script) -> Sequence[int]:
    return [step.status_code for step in script.steps[: script.calls] if isinstance(step, requests.Response)]


# -- the table ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, (Action.SUCCEED, None)),
        (302, (Action.FAIL, FailureType.CONFIG)),
        (301, (Action.FAIL, FailureType.CONFIG)),
        (307, (Action.FAIL, FailureType.CONFIG)),
        (304, (Action.SUCCEED, None)),
        (401, (Action.RENEW_TOKEN, FailureType.AUTH)),
        (407, (Action.FAIL, FailureType.CONFIG)),
        (429, (Action.RETRY_AFTER, FailureType.TRANSIENT)),
        (502, (Action.RETRY_BACKOFF, FailureType.TRANSIENT)),
        (503, (Action.RETRY_AFTER, FailureType.TRANSIENT)),
        (504, (Action.RETRY_BACKOFF, FailureType.TRANSIENT)),
        (400, (Action.FAIL, FailureType.REMOTE)),
        (412, (Action.FAIL, FailureType.REMOTE)),
        (500, (Action.FAIL, FailureType.REMOTE)),
    ],
)
def test_the_outcome_table(status: int, expected: tuple[Action, FailureType | None]) -> None:
    assert action_for(status) == expected


@pytest.mark.parametrize("status", [200, 204, 302, 400, 403, 404, 412, 500])
def test_a_final_answer_is_returned_at_once(clock: FakeClock, status: int) -> None:
    script = Script(answer(status))
    assert make_retrier(clock).run(script, idempotent=True).status_code == status
    assert script.calls == 1
    assert clock.sleeps == []


def test_an_injected_table_decides(clock: FakeClock) -> None:
    table = {**HTTP_ACTIONS, 500: (Action.RETRY_BACKOFF, FailureType.TRANSIENT)}
    retrier = Retrier(RetryPolicy(), table=table, backoff=FixedBackoff(), clock=clock, sleep=clock.sleep)
    script = Script(answer(500), answer(200))
    assert retrier.run(script, idempotent=True).status_code == 200
    assert clock.sleeps == [1.0]


# -- waits --------------------------------------------------------------------------------------------------------


def test_retry_after_is_waited_out_at_the_gate(clock: FakeClock) -> None:
    script = Script(answer(429, "7"), answer(200))
    assert make_retrier(clock).run(script, idempotent=False).status_code == 200
    assert clock.sleeps == [7.0]
    assert script.calls == 2


def test_retry_after_as_an_http_date_is_read_against_the_wall_clock(clock: FakeClock) -> None:
    script = Script(answer(503, email.utils.formatdate(NOW + 12, usegmt=True)), answer(200))
    make_retrier(clock).run(script, idempotent=True)
    assert clock.sleeps == [12.0]


def test_without_retry_after_the_backoff_decides(clock: FakeClock) -> None:
    backoff = FixedBackoff(seconds=1.5)
    script = Script(answer(503), answer(502), answer(504), answer(200))
    make_retrier(clock, backoff=backoff).run(script, idempotent=True)
    assert backoff.asked == [1, 2, 3]
    assert clock.sleeps == [1.5, 3.0, 4.5]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30", 30.0),
        ("0", 0.0),
        (None, None),
        ("soon", None),
        ("Tue, 14 Nov 2023 22:13:10 GMT", 0.0),
        ("\u00b2", None),  # a digit to str.isdigit, not to float: the header is the service's text
        ("\u0663", None),  # another script's digit
        ("9" * 5000, LONGEST_RETRY_AFTER),  # more digits than int reads: longer than anyone waits, not unreadable
        ("9" * 19, LONGEST_RETRY_AFTER),
        ("100000000", LONGEST_RETRY_AFTER),  # readable, and longer than a year
        ("0" * 18 + "30", 30.0),  # HTTP's 1*DIGIT allows zeros in front
        (str(2**63), LONGEST_RETRY_AFTER),  # read as absent before: a short default back-off, then sent again
        ("Fri, 31 Dec 9999 23:59:59 GMT", LONGEST_RETRY_AFTER),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW + 100) == expected


def test_jittered_backoff_stays_under_a_doubling_capped_ceiling() -> None:
    backoff = JitteredBackoff(base_seconds=0.5, cap_seconds=4.0, rng=random.Random(7))
    for _ in range(200):
        waits = [backoff.delay(attempt) for attempt in range(1, 7)]
        assert all(0 <= wait <= ceiling for wait, ceiling in zip(waits, [0.5, 1, 2, 4, 4, 4], strict=True))


# -- bounds -------------------------------------------------------------------------------------------------------


def test_attempts_are_bounded_and_the_last_answer_is_returned(clock: FakeClock) -> None:
    script = Script(answer(429, "1"), answer(429, "1"), answer(429, "1"))
    assert make_retrier(clock, max_attempts=3).run(script, idempotent=True).status_code == 429
    assert script.calls == 3
    assert clock.sleeps == [1.0, 1.0]


def test_total_time_is_bounded(clock: FakeClock) -> None:
    script = Script(answer(429, "40"), answer(429, "40"))
    assert make_retrier(clock, max_total_seconds=60).run(script, idempotent=True).status_code == 429
    assert clock.sleeps == [40.0]


def test_a_retry_after_longer_than_the_policy_accepts_is_not_waited(clock: FakeClock) -> None:
    script = Script(answer(429, "301"))
    assert make_retrier(clock, max_retry_after_seconds=300).run(script, idempotent=True).status_code == 429
    assert clock.sleeps == []


# -- token renewal ------------------------------------------------------------------------------------------------


def test_a_401_renews_the_token_once(clock: FakeClock) -> None:
    renewals: list[str] = []

    def renew() -> bool:
        renewals.append("renewed")
        return True

    script = Script(answer(401), answer(401))
    assert make_retrier(clock).run(script, idempotent=True, renew=renew).status_code == 401
    assert renewals == ["renewed"]
    assert script.calls == 2
    assert clock.sleeps == []


def test_a_401_is_final_when_there_is_nothing_to_renew(clock: FakeClock) -> None:
    script = Script(answer(401))
    assert make_retrier(clock).run(script, idempotent=True, renew=lambda: False).status_code == 401
    assert make_retrier(clock).run(Script(answer(401)), idempotent=True).status_code == 401
    assert script.calls == 1


# -- requests the service may have acted on -----------------------------------------------------------------------


def test_no_answer_after_the_request_left_is_not_resent_unless_idempotent(clock: FakeClock) -> None:
    script = Script(reset(), answer(201))
    with pytest.raises(TransientError, match="may have been processed") as caught:
        make_retrier(clock).run(script, idempotent=False)
    assert caught.value.ambiguous is True
    assert script.calls == 1

    again = Script(reset(), answer(201))
    assert make_retrier(clock).run(again, idempotent=True).status_code == 201
    assert clock.sleeps == [1.0]


def test_a_connection_never_made_is_retried_even_when_not_idempotent(clock: FakeClock) -> None:
    script = Script(refused(), answer(201))
    assert make_retrier(clock).run(script, idempotent=False).status_code == 201
    assert script.calls == 2


def test_no_answer_after_every_attempt_is_a_transient_error_that_is_not_ambiguous(clock: FakeClock) -> None:
    timeout = NoAnswerError("https://contoso.example", timed_out=True, reached=True, cause="ReadTimeout")
    script = Script(timeout, timeout, timeout)
    with pytest.raises(TransientError) as caught:
        make_retrier(clock, max_attempts=3).run(script, idempotent=True)
    assert caught.value.user_message == "The connection to https://contoso.example timed out"
    assert caught.value.ambiguous is False
    assert script.calls == 3


@pytest.mark.parametrize(
    "step",
    [answer(502), answer(504), answer(503)],
    ids=["502", "504", "503 without Retry-After"],
)
def test_an_answer_the_service_may_have_acted_on_does_not_resend_a_request_that_is_not_idempotent(
    clock: FakeClock, step: requests.Response
) -> None:
    """A keyless create answered 504 by a gateway may exist: sending it again could store it twice (issue 12)."""
    script = Script(step, answer(201))
    final = make_retrier(clock).run(script, idempotent=False)
    assert final.status_code == step.status_code
    assert script.calls == 1
    assert clock.sleeps == []
    assert delivery_of(final) == Delivery(attempts=1, idempotent=False, resent=False, unsettled=True)
    assert delivery_of(final).ambiguous


@pytest.mark.parametrize(
    "step", [answer(429, "3"), answer(429), answer(503, "3")], ids=["429", "429 without Retry-After", "503+RA"]
)
def test_an_answer_that_says_the_request_was_not_processed_resends_any_request(
    clock: FakeClock, step: requests.Response
) -> None:
    """Dataverse's service protection refuses a request before it runs and asks for it again after Retry-After
    (reference §5); a 503 with Retry-After is the service's own "come back then" (RFC 9110 §15.6.4).
    """
    script = Script(step, answer(201))
    final = make_retrier(clock).run(script, idempotent=False)
    assert final.status_code == 201
    assert delivery_of(final) == Delivery(attempts=2, idempotent=False, resent=False, unsettled=False)


def test_an_idempotent_request_is_resent_after_any_retryable_answer_and_its_answer_says_so(clock: FakeClock) -> None:
    script = Script(answer(504), answer(502), answer(503), answer(412))
    final = make_retrier(clock).run(script, idempotent=True)
    assert statuses(script) == [504, 502, 503, 412]
    assert delivery_of(final) == Delivery(attempts=4, idempotent=True, resent=True, unsettled=False)
    assert not delivery_of(final).ambiguous


def test_a_repeat_after_a_lost_answer_is_marked_resent(clock: FakeClock) -> None:
    final = make_retrier(clock).run(Script(reset(), answer(412)), idempotent=True)
    assert delivery_of(final).resent is True
    never_left = make_retrier(clock).run(Script(refused(), answer(412)), idempotent=True)
    assert delivery_of(never_left).resent is False  # the first attempt never reached the service
    throttled = make_retrier(clock).run(Script(answer(429, "1"), answer(412)), idempotent=True)
    assert delivery_of(throttled).resent is False  # the service said it did not act on the first attempt


def test_the_resend_rule_is_injected(clock: FakeClock) -> None:
    lenient = Retrier(
        RetryPolicy(),
        resend=ResendRule(not_processed=frozenset({429, 503})),
        backoff=FixedBackoff(),
        clock=clock,
        sleep=clock.sleep,
    )
    assert lenient.run(Script(answer(503), answer(201)), idempotent=False).status_code == 201
    assert lenient.run(Script(answer(504), answer(201)), idempotent=False).status_code == 504


def test_an_answer_that_did_not_come_through_the_engine_has_a_plain_delivery() -> None:
    assert delivery_of(answer(200)) == Delivery()


# -- the gate -----------------------------------------------------------------------------------------------------


def test_the_gate_hears_every_attempt_and_what_follows(clock: FakeClock) -> None:
    gate = RecordingGate()
    script = Script(refused(), answer(429, "7"), answer(502), answer(200))
    make_retrier(clock, gate=gate).run(script, idempotent=True)
    assert gate.entered == 4
    heard = [(a.number, a.action, a.retry_after, a.wait, a.again) for a in gate.heard]
    assert heard == [
        (1, None, None, 1.0, True),
        (2, Action.RETRY_AFTER, 7.0, 7.0, True),
        (3, Action.RETRY_BACKOFF, None, 3.0, True),
        (4, Action.SUCCEED, None, 0.0, False),
    ]
    assert clock.sleeps == [1.0, 7.0, 3.0]  # this gate makes no wait itself: the engine sleeps them all


def test_a_gate_that_makes_the_wait_spares_the_engine_its_sleep(clock: FakeClock) -> None:
    gate = RecordingGate(holds=True)
    make_retrier(clock, gate=gate).run(Script(answer(429, "7"), answer(200)), idempotent=True)
    assert clock.sleeps == []


def test_the_gate_hears_an_attempt_whose_sending_raised(clock: FakeClock) -> None:
    gate = RecordingGate()
    script = Script(ConfigError.single("connection.base_url", "gives an invalid URL"))
    with pytest.raises(ConfigError):
        make_retrier(clock, gate=gate).run(script, idempotent=True)
    assert gate.heard == [Attempt(1)]


def test_the_gate_hears_a_throttled_answer_even_when_no_retry_follows(clock: FakeClock) -> None:
    gate = RecordingGate()
    make_retrier(clock, gate=gate, max_attempts=1).run(Script(answer(429, "5")), idempotent=True)
    assert [(a.retry_after, a.again) for a in gate.heard] == [(5.0, False)]


def test_a_shared_pause_holds_back_every_retrier_sharing_it(clock: FakeClock) -> None:
    pause = SharedPause(clock, clock.sleep)
    throttled = Attempt(1, answer(429, "5"), Action.RETRY_AFTER, retry_after=5.0, wait=5.0, again=True)
    assert pause.leave(None, throttled) is True  # another thread's 429
    make_retrier(clock, gate=pause).run(Script(answer(200)), idempotent=True)
    assert clock.sleeps == [5.0]


def test_a_shared_pause_does_not_hold_when_no_retry_follows(clock: FakeClock) -> None:
    pause = SharedPause(clock, clock.sleep)
    spent = Attempt(8, answer(429, "5"), Action.RETRY_AFTER, retry_after=5.0, wait=5.0, again=False)
    assert pause.leave(None, spent) is False
    pause.enter()
    assert clock.sleeps == []
