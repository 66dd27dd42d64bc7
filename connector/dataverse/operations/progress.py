"""Progress of a long operation, reported to the host's progress callback a few times a second at most.

An operation counts what it finishes on a :class:`ProgressMeter`; the meter turns the counts into
:class:`~connector.context.Progress` reports (done, failed, rate) and hands them to
:attr:`RuntimeContext.progress <connector.context.RuntimeContext.progress>`, throttled so that counting every record
costs next to nothing. A host whose callback raises does not stop the operation: the error is logged once and the
callback is not called again. Not for results or logging of individual records.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Final

from connector.context import Progress, ProgressCallback

__all__ = ["REPORT_INTERVAL", "ProgressMeter"]

_log = logging.getLogger(__name__)

REPORT_INTERVAL: Final = 0.5
"""Seconds between two reports while an operation runs (the final report is always sent)."""


class ProgressMeter:
    """Counts one run's finished documents (or records) and reports them. Thread-safe.

    :param callback: the host's progress callback; ``None`` makes every call a cheap no-op.
    :param operation: the operation's name, carried by every report.
    :param total: how many documents the run has, when known.
    :param interval: least seconds between two reports before :meth:`finish`.
    :param clock: monotonic seconds (injected by tests).
    """

    def __init__(
        self,
        callback: ProgressCallback | None,
        operation: str,
        *,
        total: int | None = None,
        interval: float = REPORT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._callback = callback
        self._operation = operation
        self._total = total
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._started = clock()
        self._last_report = self._started
        self._done = 0
        self._failed = 0
        self._finished = False

    @property
    def done(self) -> int:
        """Documents finished so far (succeeded and failed)."""
        return self._done

    @property
    def failed(self) -> int:
        """Documents failed so far."""
        return self._failed

    def add(self, done: int = 1, *, failed: int = 0) -> None:
        """Count finished documents and report when the interval has passed.

        :param done: documents finished (succeeded and failed together).
        :param failed: how many of ``done`` failed.
        """
        with self._lock:
            self._done += done
            self._failed += failed
            if self._callback is None:
                return
            now = self._clock()
            if now - self._last_report < self._interval:
                return
            self._last_report = now
            report = self._report(now)
        self._send(report)

    def finish(self) -> None:
        """Send the final report (once; later calls do nothing)."""
        with self._lock:
            if self._finished or self._callback is None:
                return
            self._finished = True
            report = self._report(self._clock())
        self._send(report)

    def _report(self, now: float) -> Progress:
        elapsed = now - self._started
        rate = self._done / elapsed if elapsed > 0 else 0.0
        return Progress(self._operation, self._done, self._failed, rate, self._total)

    def _send(self, report: Progress) -> None:
        callback = self._callback
        if callback is None:
            return
        try:
            callback(report)
        except Exception:
            # The host's callback is broken; the operation's records matter more than its progress bar.
            self._callback = None
            _log.warning("the progress callback raised; progress is no longer reported for this run", exc_info=True)
