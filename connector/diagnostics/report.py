"""The Test Connection runner: ordered checks, durations, skipping after a failure, and an overall deadline.

A check is a :class:`CheckSpec`: a name, a title, a function returning an :class:`Outcome` and a time budget.
:func:`run_checks` runs the specs in order and turns each into a :class:`~connector.results.Check`. Each check runs
on a worker thread that is waited for no longer than its budget and the time left before the overall deadline, so a
server that hangs in a way the socket time-outs miss still cannot hold the report back: the check is reported as
timed out and the runner moves on. Once a check has failed, every later check is skipped, never run: each builds on
the ones before it (no token without a network, no WhoAmI without a token). Warnings do not stop the run.

This module knows nothing about networks or Dataverse; ``network`` and ``service`` write the checks. Rendering a
report, and the report a host shows when ``connect`` refused the settings, belong to the host
(:mod:`connector.host.report_view`).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from connector.errors import ConfigError, ConnectorError
from connector.results import Check, CheckStatus, TestReport

__all__ = [
    "CheckSpec",
    "Deadline",
    "Outcome",
    "run_checks",
]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What a check found; the runner adds the name, title and duration.

    :param status: passed, failed or warning (skipping is the runner's decision).
    :param message: one or two sentences for the user, free of secrets.
    :param field: for failures and warnings, the form field to fix (``oauth2.client_secret``).
    :param remediation: for failures and warnings, one sentence saying what to do.
    :param details: facts worth showing (addresses, ids, the TLS version).
    """

    status: CheckStatus
    message: str
    field: str | None = None
    remediation: str | None = None
    # ``dataclasses.field``: the name ``field`` is this class's own attribute above.
    details: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def passed(cls, message: str, details: Mapping[str, str] | None = None) -> Outcome:
        """:returns: a passing outcome."""
        return cls(CheckStatus.PASSED, message, details=dict(details or {}))

    @classmethod
    def failed(
        cls, message: str, field: str | None, remediation: str, details: Mapping[str, str] | None = None
    ) -> Outcome:
        """:returns: a failing outcome naming the field to fix and what to do."""
        return cls(CheckStatus.FAILED, message, field, remediation, dict(details or {}))

    @classmethod
    def warning(
        cls,
        message: str,
        field: str | None = None,
        remediation: str | None = None,
        details: Mapping[str, str] | None = None,
    ) -> Outcome:
        """:returns: an outcome that does not fail the test but deserves attention."""
        return cls(CheckStatus.WARNING, message, field, remediation, dict(details or {}))


@dataclass(frozen=True)
class CheckSpec:
    """One check to run.

    :param name: a stable identifier (``token``, ``api.tls``).
    :param title: a short human title.
    :param run: does the work; returns an outcome. A :class:`~connector.errors.ConnectorError` it raises becomes a
        failure with the error's user message and field.
    :param budget: the longest the runner waits for it, in seconds.
    :param on_timeout: the outcome reported when the budget runs out; a generic one when ``None``.
    """

    name: str
    title: str
    run: Callable[[], Outcome]
    budget: float
    on_timeout: Outcome | None = None


class Deadline:
    """A point in time after which no further check starts.

    :param seconds: how long from now.
    :param clock: monotonic seconds (injectable for tests).
    """

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.seconds = seconds
        self._end = clock() + seconds

    def remaining(self) -> float:
        """:returns: seconds left, never negative."""
        return max(0.0, self._end - self._clock())


def run_checks(
    connector_id: str,
    specs: Sequence[CheckSpec],
    deadline: Deadline,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> TestReport:
    """Run checks in order and collect the report.

    :param connector_id: the connector the report is for.
    :param specs: the checks, in order.
    :param deadline: no check starts, and none is waited for, after this.
    :param clock: monotonic seconds, for durations.
    :returns: the report; every spec appears in it exactly once, in order.
    """
    done: dict[str, Check] = {}
    for spec in specs:
        failed = next((check for check in done.values() if check.status is CheckStatus.FAILED), None)
        if failed is not None:
            done[spec.name] = _skipped(spec, f"Skipped because the check '{failed.title}' failed.")
            continue
        wait = min(spec.budget, deadline.remaining())
        if wait <= 0:
            done[spec.name] = _skipped(
                spec, f"Skipped because the test's overall time limit of {deadline.seconds:.0f} s was reached."
            )
            continue
        started = clock()
        outcome = _run_bounded(spec, wait)
        elapsed_ms = (clock() - started) * 1000
        done[spec.name] = Check(
            name=spec.name,
            title=spec.title,
            status=outcome.status,
            duration_ms=round(elapsed_ms, 1),
            message=outcome.message,
            field=outcome.field,
            remediation=outcome.remediation,
            details=dict(outcome.details),
        )
        _log.debug("check %s: %s in %.0f ms", spec.name, outcome.status.value, elapsed_ms)
    return TestReport(connector_id, tuple(done[spec.name] for spec in specs))


def _skipped(spec: CheckSpec, message: str) -> Check:
    return Check(spec.name, spec.title, CheckStatus.SKIPPED, 0.0, message)


def _run_bounded(spec: CheckSpec, wait: float) -> Outcome:
    result: list[Outcome] = []

    def target() -> None:
        result.append(_run_guarded(spec))

    # A daemon thread: if a check outlives its budget the process must still be able to exit; its sockets carry
    # their own time-outs, so the thread ends by itself soon after.
    worker = threading.Thread(target=target, name=f"test-connection-{spec.name}", daemon=True)
    worker.start()
    worker.join(wait)
    if result:
        return result[0]
    _log.warning("check %s did not finish within %.1f s; reporting it as timed out", spec.name, wait)
    if spec.on_timeout is not None:
        return spec.on_timeout
    return Outcome.failed(
        f"'{spec.title}' did not finish within {wait:.1f} s.",
        "connection.read_timeout_ms",
        "Check that the server is up and answering, or raise the read time-out if it is merely slow.",
    )


def _run_guarded(spec: CheckSpec) -> Outcome:
    try:
        return spec.run()
    except ConfigError as error:
        return Outcome.failed(
            error.user_message,
            error.field,
            "Correct the field named in the message.",
        )
    except ConnectorError as error:
        return Outcome.failed(
            error.user_message,
            error.field,
            "See the message; if the field it names is right, the service or network is at fault.",
        )
    except Exception as error:
        # A bug in one check must not take the whole report down.
        # Only the type: an exception's text may quote a URL with proxy credentials or a server's echo of a secret.
        _log.error("check %s failed unexpectedly with %s", spec.name, type(error).__name__)
        return Outcome.failed(
            f"The check failed unexpectedly ({type(error).__name__}); this is a connector bug.",
            None,
            "Report it with the connector's version; the other checks are still valid.",
        )
