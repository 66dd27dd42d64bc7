"""The Test Connection runner: order, durations, skipping after a failure, time budgets and the overall deadline."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from connector.diagnostics.report import CheckSpec, Deadline, Outcome, run_checks
from connector.errors import AuthError, ConfigError, FieldError
from connector.host.report_view import settings_failure_report
from connector.results import CheckStatus
from tests.support.clock import FakeClock


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """An event a hanging check waits on; set at teardown so its thread ends."""
    event = threading.Event()
    yield event
    event.set()


def spec(name: str, outcome: Outcome, budget: float = 5.0) -> CheckSpec:
    return CheckSpec(name, name.title(), lambda: outcome, budget)


def test_checks_run_in_order_with_durations() -> None:
    ran: list[str] = []

    def make(name: str) -> CheckSpec:
        def run() -> Outcome:
            ran.append(name)
            return Outcome.passed(f"{name} ok", {"k": name})

        return CheckSpec(name, name.title(), run, 5.0)

    report = run_checks("c", [make("a"), make("b"), make("c")], Deadline(60), clock=FakeClock(step=0.25))
    assert ran == ["a", "b", "c"]
    assert [check.name for check in report.checks] == ["a", "b", "c"]
    assert all(check.duration_ms == 250.0 for check in report.checks)
    assert report.checks[1].details == {"k": "b"}
    assert report.ok


def test_a_failure_skips_every_later_check_and_warnings_do_not() -> None:
    specs = [
        spec("first", Outcome.warning("hm", "connection.protocol", "use https")),
        spec("second", Outcome.failed("broken", "oauth2.client_secret", "fix it")),
        spec("third", Outcome.passed("never")),
        spec("fourth", Outcome.passed("never")),
    ]
    report = run_checks("c", specs, Deadline(60))
    assert [check.status for check in report.checks] == [
        CheckStatus.WARNING,
        CheckStatus.FAILED,
        CheckStatus.SKIPPED,
        CheckStatus.SKIPPED,
    ]
    assert report.checks[2].message == "Skipped because the check 'Second' failed."
    assert report.checks[1].field == "oauth2.client_secret"
    assert not report.ok


def test_a_hanging_check_is_reported_within_its_budget(release: threading.Event) -> None:
    hanging = CheckSpec("hang", "Hang", lambda: (release.wait(30), Outcome.passed("late"))[1], 0.3)
    started = time.monotonic()
    report = run_checks("c", [hanging, spec("after", Outcome.passed("x"))], Deadline(60))
    assert time.monotonic() - started < 2
    assert report.checks[0].status is CheckStatus.FAILED
    assert "did not finish within 0.3 s" in report.checks[0].message
    assert report.checks[0].field == "connection.read_timeout_ms"
    assert report.checks[1].status is CheckStatus.SKIPPED


def test_a_check_may_say_how_its_time_out_reads(release: threading.Event) -> None:
    timeout = Outcome.failed("token service too slow", "oauth2.access_token_url", "try later")
    hanging = CheckSpec("token", "Token", lambda: (release.wait(30), Outcome.passed("late"))[1], 0.2, timeout)
    report = run_checks("c", [hanging], Deadline(60))
    assert report.checks[0].message == "token service too slow"
    assert report.checks[0].field == "oauth2.access_token_url"


def test_the_overall_deadline_bounds_the_whole_run(release: threading.Event) -> None:
    hanging = CheckSpec("hang", "Hang", lambda: (release.wait(30), Outcome.passed("late"))[1], 10.0)
    started = time.monotonic()
    report = run_checks("c", [spec("quick", Outcome.passed("ok")), hanging], Deadline(0.3))
    assert time.monotonic() - started < 2
    assert report.checks[1].status is CheckStatus.FAILED


def test_no_check_starts_after_the_deadline() -> None:
    ran: list[str] = []

    def run() -> Outcome:
        ran.append("late")
        return Outcome.passed("x")

    late = CheckSpec("late", "Late", run, 5.0)
    report = run_checks("c", [late], Deadline(0))
    assert ran == []
    assert report.checks[0].status is CheckStatus.SKIPPED
    assert "overall time limit" in report.checks[0].message


def test_connector_errors_become_failures_with_their_field() -> None:
    def refuse() -> Outcome:
        raise AuthError("The secret is wrong", field="oauth2.client_secret")

    def invalid() -> Outcome:
        raise ConfigError.single("connection.base_url", "is bad")

    report = run_checks("c", [CheckSpec("a", "A", refuse, 5)], Deadline(60))
    assert (report.checks[0].status, report.checks[0].field) == (CheckStatus.FAILED, "oauth2.client_secret")
    assert report.checks[0].message == "The secret is wrong"
    report = run_checks("c", [CheckSpec("b", "B", invalid, 5)], Deadline(60))
    assert report.checks[0].field == "connection.base_url"


def test_an_unexpected_exception_is_a_failure_that_quotes_no_text(caplog: pytest.LogCaptureFixture) -> None:
    def crash() -> Outcome:
        raise ValueError("http://user:canary-pw@proxy:8080 broke")

    report = run_checks("c", [CheckSpec("a", "A", crash, 5)], Deadline(60))
    assert report.checks[0].status is CheckStatus.FAILED
    assert "ValueError" in report.checks[0].message
    assert "canary-pw" not in report.checks[0].message
    assert "canary-pw" not in caplog.text


def test_settings_failure_report_lists_every_bad_field() -> None:
    error = ConfigError([FieldError("connection.base_url", "is not a host"), FieldError("oauth2.client_id", "blank")])
    report = settings_failure_report("dynamics365-ce", error)
    (check,) = report.checks
    assert check.name == "settings"
    assert check.status is CheckStatus.FAILED
    assert check.field == "connection.base_url"
    assert "connection.base_url: is not a host" in check.message
    assert "oauth2.client_id: blank" in check.message
    assert dict(check.details) == {"connection.base_url": "is not a host", "oauth2.client_id": "blank"}
    assert not report.ok
