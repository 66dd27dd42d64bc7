"""Progress meter: throttled reports with done, failed and rate; a final report; a broken callback is dropped."""

from __future__ import annotations

import logging
import threading

import pytest

from connector.context import Progress
from connector.dataverse.operations.progress import ProgressMeter
from tests.support.clock import FakeClock


class Recorder:
    """A progress callback that keeps every report."""

    def __init__(self) -> None:
        self.reports: list[Progress] = []

    def __call__(self, progress: Progress) -> None:
        self.reports.append(progress)


def test_reports_are_throttled_and_carry_done_failed_and_rate() -> None:
    clock = FakeClock(100.0)
    recorder = Recorder()
    meter = ProgressMeter(recorder, "query", interval=0.5, clock=clock)
    for _ in range(10):
        clock.advance(0.125)
        meter.add()
    meter.add(3, failed=2)
    reports = recorder.reports
    assert [report.done for report in reports] == [4, 8]
    assert reports[-1] == Progress("query", 8, 0, 8 / 1.0, None)
    meter.finish()
    meter.finish()
    assert reports[-1] == Progress("query", 13, 2, 13 / 1.25, None)
    assert len(reports) == 3
    assert (meter.done, meter.failed) == (13, 2)


def test_the_total_is_passed_on() -> None:
    recorder = Recorder()
    meter = ProgressMeter(recorder, "create", total=7, clock=FakeClock(100.0))
    meter.add(7)
    meter.finish()
    assert recorder.reports == [Progress("create", 7, 0, 0.0, 7)]


def test_without_a_callback_it_only_counts() -> None:
    meter = ProgressMeter(None, "query")

    def count() -> None:
        for _ in range(1000):
            meter.add()

    threads = [threading.Thread(target=count) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    meter.finish()
    assert meter.done == 4000


def test_a_callback_that_raises_is_dropped_and_the_run_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[Progress] = []

    def broken(progress: Progress) -> None:
        calls.append(progress)
        raise RuntimeError("host bug")

    clock = FakeClock(100.0)
    meter = ProgressMeter(broken, "query", interval=0, clock=clock)
    with caplog.at_level(logging.WARNING, logger="connector.dataverse.operations.progress"):
        meter.add()
        meter.add()
        meter.finish()
    assert len(calls) == 1
    assert meter.done == 2
    assert "progress callback raised" in caplog.text
