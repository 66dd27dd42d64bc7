"""The write side: each Spark task writes its rows through the connector's bulk writer (``execute_operation``,
``create`` or ``upsert`` with the ``bulk`` option), and every row the service refuses becomes a line of the errors
output; the driver then adds up the tasks' reports and fails the write or reports, as ``on_error`` says.

Nothing is dropped silently: a failed row is in the errors output (``errors_path``, JSON Lines, one file per task
that had failures) and counted in its task's report; without ``errors_path``, the write fails and its message
carries the count and the first failures. Dataverse has no transaction across requests, so the rows written before
a failure stay written whatever ``on_error`` says. Not for the conversion of values: :mod:`connector.spark.rows`.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Final

from pyspark.sql.datasource import DataSourceWriter, WriterCommitMessage
from pyspark.sql.types import Row, StructType

from connector.errors import OperationError
from connector.results import OperationResult, ResultStatus
from connector.spark.connection import open_connection
from connector.spark.options import WriteOptions
from connector.spark.rows import document_of

__all__ = ["SAMPLES", "Dynamics365Writer", "FailedRow", "TaskReport", "WriteSummary"]

SAMPLES: Final = 20
"""Failures each task report carries to the driver, for the message of a failed write."""

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FailedRow:
    """One row the service did not store: a line of the errors output.

    :param partition: the Spark partition that held it.
    :param row: its position in that partition, from 0.
    :param error: the connector's message (``(<code>)<message>[<status>]`` for the service's errors).
    :param failure_type: ``remote``, ``transient``, ``operation``…
    :param code: the service's error code, when it gave one.
    :param http_status: the HTTP status, when there was one.
    :param field: the column or option to fix, when the connector could tell.
    :param record: the document as sent (``None`` in the samples a task report carries).
    """

    partition: int
    row: int
    error: str
    failure_type: str
    code: str | None = None
    http_status: int | None = None
    field: str | None = None
    record: Mapping[str, Any] | None = None


@dataclass
class TaskReport(WriterCommitMessage):
    """What one task did, sent to the driver when it finishes.

    :param partition: the Spark partition.
    :param attempt: Spark's attempt number of the task.
    :param rows: rows read from Spark.
    :param written: rows the service stored.
    :param failed: rows it did not (each in ``errors_file``, when there is one).
    :param errors_file: the task's errors output, when it had failures and ``errors_path`` is set.
    :param samples: the first failures (without their records).
    """

    partition: int
    attempt: int
    rows: int = 0
    written: int = 0
    failed: int = 0
    errors_file: str | None = None
    samples: list[FailedRow] = field(default_factory=list)


@dataclass(frozen=True)
class WriteSummary:
    """The whole write, as the driver sees it; written to ``errors_path`` as ``_summary-<write id>.json``.

    :param write_id: this write's id (in the names of its errors files).
    :param entity_set: the table written.
    :param operation: ``create`` or ``upsert``.
    :param rows: rows of every task that finished.
    :param written: rows stored.
    :param failed: rows not stored.
    :param errors_files: the errors output of the finished tasks (files of attempts Spark retried are not listed
        and are superseded).
    :param aborted: whether the write failed as a whole (a task failed); the counts are then those of the tasks
        that finished.
    """

    write_id: str
    entity_set: str
    operation: str
    rows: int
    written: int
    failed: int
    errors_files: tuple[str, ...]
    aborted: bool = False


class Dynamics365Writer(DataSourceWriter):
    """Writes a DataFrame's partitions through the bulk writer.

    :param options: the write's options.
    :param schema: the DataFrame's schema.
    :param write_id: a new id for this write (names its errors files).
    """

    def __init__(self, options: WriteOptions, schema: StructType, write_id: str | None = None) -> None:
        self.options = options
        self.schema = schema
        self.write_id = write_id or uuid.uuid4().hex[:12]

    def operation_options(self) -> dict[str, Any]:
        """:returns: the connector's options for the write (bulk on, the concurrency of one task)."""
        options = self.options
        operation: dict[str, Any] = {
            "entity_set": options.entity_set,
            "bulk": {"mode": "auto", "batch_size": options.batch_size, "max_concurrency": options.max_concurrency},
        }
        if options.key_fields:
            operation["key_fields"] = list(options.key_fields)
        return operation

    def write(self, iterator: Iterator[Row]) -> TaskReport:
        """Write one partition's rows (runs on an executor).

        :returns: the task's report.
        """
        partition, attempt = _task_identity()
        report = TaskReport(partition=partition, attempt=attempt)
        pending: dict[int, Mapping[str, Any]] = {}
        write_nulls = self.options.write_nulls

        def documents() -> Iterator[Mapping[str, Any]]:
            for index, row in enumerate(iterator):
                document = document_of(row, write_nulls=write_nulls)
                pending[index] = document
                report.rows += 1
                yield document

        errors: IO[str] | None = None
        try:
            with open_connection(self.options.connection) as connection:
                results = connection.run(self.options.operation, self.operation_options(), documents())
                for result in results:
                    index = result.input_index if result.input_index is not None else report.written + report.failed
                    document = pending.pop(index, None)
                    if result.status is ResultStatus.SUCCESS:
                        report.written += 1
                        continue
                    failure = _failed_row(partition, index, result, document)
                    report.failed += 1
                    if len(report.samples) < SAMPLES:
                        report.samples.append(_without_record(failure))
                    if self.options.errors_path is not None:
                        if errors is None:
                            errors, report.errors_file = self._open_errors_file(partition, attempt)
                        errors.write(json.dumps(asdict(failure), ensure_ascii=False, default=str) + "\n")
        finally:
            if errors is not None:
                errors.close()
        if report.rows != report.written + report.failed:
            raise OperationError(
                f"Writing {self.options.entity_set}: partition {partition} read {report.rows} rows but has "
                f"{report.written + report.failed} results"
            )
        return report

    def commit(self, messages: list[WriterCommitMessage | None]) -> None:
        """Add up the tasks' reports (runs on the driver) and fail the write when ``on_error=fail`` and rows failed.

        :raises OperationError: naming the count, the errors output and the first failures.
        """
        reports = [message for message in messages if isinstance(message, TaskReport)]
        summary = self._summary(reports, aborted=False)
        where = self._write_summary(summary)
        if not summary.failed:
            return
        text = (
            f"{summary.failed} of {summary.rows} rows were not written to {summary.entity_set} "
            f"({summary.operation}); {summary.written} were"
        )
        if where is not None:
            text += f"; every failed row is in {self.options.errors_path} (JSON Lines), the summary in {where}"
        if self.options.on_error == "report":
            _log.warning("%s", text)
            return
        samples = [sample for report in reports for sample in report.samples][:SAMPLES]
        lines = [f"  partition {item.partition} row {item.row}: {item.error}" for item in samples]
        shown = "first failures" if len(samples) < summary.failed else "failures"
        raise OperationError(text + f". The {shown}:\n" + "\n".join(lines))

    def abort(self, messages: list[WriterCommitMessage | None]) -> None:
        """Record what the finished tasks did (runs on the driver when a task failed for good)."""
        reports = [message for message in messages if isinstance(message, TaskReport)]
        self._write_summary(self._summary(reports, aborted=True))

    def _summary(self, reports: list[TaskReport], *, aborted: bool) -> WriteSummary:
        return WriteSummary(
            write_id=self.write_id,
            entity_set=self.options.entity_set,
            operation=self.options.operation,
            rows=sum(report.rows for report in reports),
            written=sum(report.written for report in reports),
            failed=sum(report.failed for report in reports),
            errors_files=tuple(sorted(report.errors_file for report in reports if report.errors_file)),
            aborted=aborted,
        )

    def _write_summary(self, summary: WriteSummary) -> Path | None:
        if self.options.errors_path is None:
            return None
        folder = Path(self.options.errors_path)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"_summary-{self.write_id}.json"
        target.write_text(json.dumps(asdict(summary), indent=2) + "\n", encoding="utf-8")
        return target

    def _open_errors_file(self, partition: int, attempt: int) -> tuple[IO[str], str]:
        folder = Path(self.options.errors_path or ".")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"part-{partition:05d}-{self.write_id}-attempt{attempt}.jsonl"
        # A file of its own per task attempt: a retried attempt never appends to a superseded one.
        return open(path, "w", encoding="utf-8"), os.fspath(path)


def _task_identity() -> tuple[int, int]:
    from pyspark import TaskContext

    context = TaskContext.get()
    if context is None:
        return 0, 0
    return context.partitionId(), context.attemptNumber()


def _failed_row(partition: int, index: int, result: OperationResult, document: Mapping[str, Any] | None) -> FailedRow:
    error = result.error
    return FailedRow(
        partition=partition,
        row=index,
        error=error.message if error else f"not written ({result.status.value})",
        failure_type=error.failure_type if error else "operation",
        code=error.code if error else None,
        http_status=error.status if error else None,
        field=error.field if error else None,
        record=document,
    )


def _without_record(failure: FailedRow) -> FailedRow:
    return FailedRow(**{**asdict(failure), "record": None})
