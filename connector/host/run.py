"""``connector run``: stream JSON Lines documents through an operation and stream the results out as JSON Lines.

Input is read lazily, one line at a time, so a million-line file never sits in memory; every line gets exactly one
output line (a query's one input gives one line per record). A line that is not JSON still reaches the connector (as
the raw text), which reports it as a failed document; its message is replaced by the parse error, so the person sees
which line and why. A progress bar goes to standard error (tqdm: small, no dependencies, quiet when standard error is
not a terminal), and a summary line closes the run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from connector.results import OperationResult, ResultStatus

__all__ = ["RunSummary", "read_documents", "result_line", "run_operation"]


@dataclass
class RunSummary:
    """Counts of one run.

    :param succeeded: results that did not fail.
    :param failed: failed results (application errors included).
    :param unknown: ``outcome_unknown`` results: the request may or may not have been carried out.
    :param seconds: wall-clock duration.
    """

    succeeded: int = 0
    failed: int = 0
    unknown: int = 0
    seconds: float = 0.0
    parse_errors: dict[int, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """All results."""
        return self.succeeded + self.failed + self.unknown

    def line(self) -> str:
        """:returns: the closing summary line."""
        rate = self.total / self.seconds if self.seconds > 0 else 0.0
        unknown = f", {self.unknown} outcome unknown (check before sending again)" if self.unknown else ""
        return f"{self.succeeded} succeeded, {self.failed} failed{unknown} in {self.seconds:.1f} s ({rate:,.0f}/s)"


def read_documents(stream: IO[str], summary: RunSummary) -> Iterator[Any]:
    """Yield one document per non-blank line; a line that is not JSON is yielded as its raw text.

    :param stream: JSON Lines input.
    :param summary: where parse errors are recorded, by document index.
    :returns: the documents, lazily.
    """
    index = 0
    for number, line in enumerate(stream, start=1):
        text = line.strip()
        if not text:
            continue
        try:
            yield json.loads(text)
        except ValueError as error:
            summary.parse_errors[index] = f"line {number} is not valid JSON ({error})"
            yield text
        index += 1


def result_line(result: OperationResult, parse_errors: Mapping[int, str]) -> dict[str, Any]:
    """:returns: the JSON object written for one result."""
    error = None
    if result.error is not None:
        message = parse_errors.get(result.input_index, result.error.message) if result.input_index is not None else None
        error = {
            "message": message or result.error.message,
            "type": result.error.failure_type,
            "code": result.error.code,
            "status": result.error.status,
            "field": result.error.field,
        }
    return {
        "status": result.status.value,
        "input_index": result.input_index,
        "payload": result.payload,
        "properties": dict(result.properties),
        "error": error,
    }


class _NoBar:
    def update(self, count: int) -> None: ...

    def set_postfix(self, **fields: Any) -> None: ...

    def close(self) -> None: ...


def _progress_bar(enabled: bool) -> Any:
    if not enabled:
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:  # the "cli" extra is not installed: run without a bar
        return _NoBar()
    return tqdm(desc="records", unit="rec", leave=False, dynamic_ncols=True)


def run_operation(
    results_for: Any,
    documents: Iterable[Any],
    output: IO[str],
    summary: RunSummary,
    *,
    progress: bool,
) -> RunSummary:
    """Drive an operation and write its results.

    :param results_for: called with the documents; returns the result iterator (the hook call).
    :param documents: the input documents (lazy).
    :param output: where JSON Lines go.
    :param summary: counts, updated as results arrive.
    :param progress: show a progress bar on standard error.
    :returns: the summary.
    """
    started = time.monotonic()
    bar = _progress_bar(progress)
    try:
        for result in results_for(documents):
            output.write(json.dumps(result_line(result, summary.parse_errors), default=str) + "\n")
            if result.status in (ResultStatus.FAILED, ResultStatus.APPLICATION_ERROR):
                summary.failed += 1
            elif result.status is ResultStatus.UNKNOWN:
                summary.unknown += 1
            else:
                summary.succeeded += 1
            bar.update(1)
            if summary.failed or summary.unknown:
                bar.set_postfix(failed=summary.failed, unknown=summary.unknown, refresh=False)
    finally:
        bar.close()
        output.flush()
        summary.seconds = time.monotonic() - started
    return summary
