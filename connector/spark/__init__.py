"""A PySpark data source for Dynamics 365 CE (Dataverse) tables, on PySpark's Python Data Source API (extra ``spark``).

Reads run as range partitions of a date-time column, each a Query through the connector's hooks on the executor
that runs it; writes go through the connector's bulk writer per partition, with every refused row in an errors
output. Spark acts as the host: it loads the connector through its entry point and calls ``connect``,
``browse`` and ``execute_operation`` through the reference host's facade, never the connector's internals.
``docs/spark.md`` is the user's guide.

The modules, in the order data flows:

* :mod:`~connector.spark.source`: the ``DataSource`` Spark registers (format ``dynamics365``);
* :mod:`~connector.spark.options`: the options, parsed once;
* :mod:`~connector.spark.connection`: a connection per task, from a config file or settings JSON;
* :mod:`~connector.spark.schema`: the Spark schema from the table's metadata, records into rows;
* :mod:`~connector.spark.filters`: Spark's filters as Query conditions;
* :mod:`~connector.spark.partitions`: range partitions of ``createdon``;
* :mod:`~connector.spark.reader`: the reader;
* :mod:`~connector.spark.rows`: rows into documents;
* :mod:`~connector.spark.writer`: the writer, its errors output and its summary.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from connector.spark.source import FORMAT, Dynamics365DataSource

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["FILTER_PUSHDOWN_CONF", "FORMAT", "Dynamics365DataSource", "register"]

FILTER_PUSHDOWN_CONF: Final = "spark.sql.python.filterPushdown.enabled"
"""The session setting Spark needs before it hands filters to a Python data source's reader."""


def register(spark: SparkSession, *, filter_pushdown: bool = True) -> None:
    """Register the data source with a session, so that ``format("dynamics365")`` finds it.

    :param spark: the session.
    :param filter_pushdown: also turn on :data:`FILTER_PUSHDOWN_CONF` for the session (Spark refuses to read from a
        reader that takes filters while it is off). With ``False``, set the option ``filter_pushdown`` to ``false``
        on reads unless the session has it on.
    """
    spark.dataSource.register(Dynamics365DataSource)
    if filter_pushdown:
        spark.conf.set(FILTER_PUSHDOWN_CONF, "true")
