"""The read side: a Spark ``DataSourceReader`` that plans range partitions and reads each one with the connector's
Query (the ``execute_operation`` hook, operation ``query``) on the executor that runs it.

Planning (on the driver's Python worker) probes the partition column's range with the read's filters; each task
opens its own connection, reads its range page by page (memory holds a page or two, whatever the partition's size)
and hands each page to Spark as one Arrow batch of the schema. A query that cannot finish fails the task with the
connector's message; Spark then retries it or fails the job: a partition is never cut short silently.

Two reader classes, because Spark refuses a reader that implements ``pushFilters`` unless the session enables
Python filter pushdown: :class:`Dynamics365FilteringReader` (the default) takes Spark's filters,
:class:`Dynamics365Reader` (``filter_pushdown=false``) leaves them all to Spark. Not for the schema or options:
:mod:`connector.spark.schema`, :mod:`connector.spark.options`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import pyarrow as pa
from pyspark.sql.datasource import DataSourceReader, Filter, InputPartition
from pyspark.sql.types import StructType

from connector.errors import ConfigError, OperationError
from connector.spark.connection import open_connection
from connector.spark.filters import translate
from connector.spark.options import ReadOptions
from connector.spark.partitions import RangePartition, probe_span, range_partitions, split_span
from connector.spark.schema import BatchConverter

__all__ = ["Dynamics365FilteringReader", "Dynamics365Reader"]


class Dynamics365Reader(DataSourceReader):
    """Reads a table in range partitions; Spark evaluates every ``WHERE`` itself.

    :param options: the read's options.
    :param schema: the read's schema (inferred, or the user's).
    """

    def __init__(self, options: ReadOptions, schema: StructType) -> None:
        self.options = options
        self.schema = schema
        self.pushed: list[Mapping[str, Any]] = []
        """Query conditions taken from Spark's filters (by the filtering reader)."""

    def conditions(self) -> list[Mapping[str, Any]]:
        """:returns: the conditions every partition shares: the ``filter`` option's, then Spark's."""
        own = [{"custom": self.options.filter}] if self.options.filter else []
        return [*own, *self.pushed]

    def partitions(self) -> Sequence[InputPartition]:
        """Probe the partition column's range and cut it (see :mod:`connector.spark.partitions`).

        :raises ConfigError: when the partition column is not a date-time column of the table.
        """
        options = self.options
        with open_connection(options.connection) as connection:
            profile = connection.describe(options.entity_set).response_schema or {}
            column = (profile.get("properties") or {}).get(options.partition_column) or {}
            if column.get("format") != "date-time":
                raise ConfigError.single(
                    "options.partition_column",
                    f"must be a date-time column of {options.entity_set} (got {options.partition_column!r})",
                )
            if options.num_partitions == 1:
                span = None
            else:
                span = probe_span(connection, options.entity_set, options.partition_column, self.conditions())
        boundaries = split_span(span, options.num_partitions) if span is not None else []
        return range_partitions(options.partition_column, boundaries)

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        """Read one partition, a page's worth of records per Arrow batch.

        :raises OperationError: when the query fails (the connector's message, and the partition's range), or a
            value does not fit its column.
        """
        if not isinstance(partition, RangePartition):
            raise TypeError(f"not a partition of this reader: {partition!r}")
        options = self.options
        conditions = [*self.conditions(), *partition.conditions]
        query: dict[str, Any] = {
            "entity_set": options.entity_set,
            "select": list(self.schema.fieldNames()),
            "page_size": options.page_size,
            "read_ahead": options.read_ahead,
        }
        if conditions:
            query["filter"] = {"operator": "and", "conditions": conditions}
        converter = BatchConverter(self.schema)
        records: list[Mapping[str, Any]] = []
        with open_connection(options.connection) as connection:
            for result in connection.run("query", query, [{}]):
                if not result.ok or result.payload is None:
                    message = result.error.message if result.error else "no reason given"
                    raise OperationError(
                        f"Reading {options.entity_set} ({partition.label}) failed: {message}",
                        field=result.error.field if result.error else None,
                    )
                records.append(result.payload)
                if len(records) == options.page_size:
                    yield self._batch(converter, records)
                    records = []
        if records:
            yield self._batch(converter, records)

    def _batch(self, converter: BatchConverter, records: list[Mapping[str, Any]]) -> pa.RecordBatch:
        try:
            return converter.batch(records)
        except ValueError as error:
            raise OperationError(f"Reading {self.options.entity_set}: {error}") from None


class Dynamics365FilteringReader(Dynamics365Reader):
    """Reads a table in range partitions and sends Spark's filters to Dataverse where it can express them.

    Needs ``spark.sql.python.filterPushdown.enabled`` (``connector.spark.register`` sets it).
    """

    def pushFilters(self, filters: list[Filter]) -> Iterable[Filter]:  # noqa: N802 - Spark's method name
        """Take what Dataverse can decide; return what Spark must evaluate (see :mod:`connector.spark.filters`)."""
        remaining: list[Filter] = []
        for spark_filter in filters:
            pushed = translate(spark_filter, self.schema)
            if pushed is None:
                remaining.append(spark_filter)
                continue
            self.pushed.append(pushed.condition)
            if not pushed.exact:
                remaining.append(spark_filter)
        return remaining
