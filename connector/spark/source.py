"""The data source Spark registers: ``spark.read.format("dynamics365")`` and ``df.write.format("dynamics365")``.

It parses the options and hands over to the reader or the writer; the schema of a read is inferred here, from the
table's response profile (the ``browse`` hook), unless the user gave one. Not for the work itself:
:mod:`connector.spark.reader`, :mod:`connector.spark.writer`.
"""

from __future__ import annotations

from typing import Final

from pyspark.sql.datasource import DataSource, DataSourceReader, DataSourceWriter
from pyspark.sql.types import StructType

from connector.errors import ConfigError, RemoteError
from connector.spark.connection import open_connection
from connector.spark.options import parse_read_options, parse_write_options
from connector.spark.reader import Dynamics365FilteringReader, Dynamics365Reader
from connector.spark.schema import spark_schema
from connector.spark.writer import Dynamics365Writer

__all__ = ["FORMAT", "Dynamics365DataSource"]

FORMAT: Final = "dynamics365"
"""The name of the format: ``spark.read.format(FORMAT)``."""


class Dynamics365DataSource(DataSource):
    """Microsoft Dynamics 365 CE (Dataverse) tables as a Spark data source: batch reads and appends."""

    @classmethod
    def name(cls) -> str:
        """:returns: ``dynamics365``."""
        return FORMAT

    def schema(self) -> StructType:
        """Infer the read's schema from the table's metadata.

        :raises ConfigError: for bad options or an unknown ``select`` column.
        :raises RemoteError: when the service gives no profile for the table.
        """
        options = parse_read_options(self.options)
        with open_connection(options.connection) as connection:
            profile = connection.describe(options.entity_set).response_schema
        if profile is None:
            raise RemoteError(f"The service described no columns for {options.entity_set}")
        return spark_schema(profile, options.select)

    def reader(self, schema: StructType) -> DataSourceReader:
        """:returns: the reader: with filter pushdown unless ``filter_pushdown=false``."""
        options = parse_read_options(self.options)
        if options.filter_pushdown:
            return Dynamics365FilteringReader(options, schema)
        return Dynamics365Reader(options, schema)

    def writer(self, schema: StructType, overwrite: bool) -> DataSourceWriter:
        """:returns: the writer of an append (``mode("append")``).

        :raises ConfigError: for ``mode("overwrite")``: a Dataverse table is never emptied by this data source.
        """
        if overwrite:
            raise ConfigError.single(
                "mode",
                "overwrite is not supported: the data source creates or upserts rows and never deletes a table's "
                'records; use mode("append")',
            )
        return Dynamics365Writer(parse_write_options(self.options), schema)
