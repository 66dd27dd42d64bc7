"""``connector run``'s output and summary for every result status, ``outcome_unknown`` included (issue 12, item 15)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator
from typing import Any

from connector.host.run import RunSummary, run_operation
from connector.results import ErrorInfo, OperationResult, ResultStatus


def results_for(documents: Iterable[Any]) -> Iterator[OperationResult]:
    statuses = [ResultStatus.SUCCESS, ResultStatus.FAILED, ResultStatus.UNKNOWN, ResultStatus.APPLICATION_ERROR]
    for index, (_, status) in enumerate(zip(documents, statuses, strict=True)):
        error = None if status is ResultStatus.SUCCESS else ErrorInfo(f"why {index}", "transient")
        yield OperationResult(status, properties={"id": str(index)}, error=error, input_index=index)


def test_an_unknown_outcome_is_its_own_line_status_and_count() -> None:
    output = io.StringIO()
    summary = run_operation(results_for, [{}] * 4, output, RunSummary(), progress=False)
    lines = [json.loads(line) for line in output.getvalue().splitlines()]
    assert [line["status"] for line in lines] == ["success", "failed", "outcome_unknown", "application_error"]
    assert lines[2]["error"]["message"] == "why 2"
    assert (summary.succeeded, summary.failed, summary.unknown, summary.total) == (1, 2, 1, 4)
    assert "1 succeeded, 2 failed, 1 outcome unknown (check before sending again)" in summary.line()


def test_no_unknown_outcome_keeps_the_summary_short() -> None:
    summary = RunSummary(succeeded=3, seconds=1.0)
    assert summary.line() == "3 succeeded, 0 failed in 1.0 s (3/s)"
