"""Spark rows as the connector's input documents: Python values from Spark turned into JSON values Dataverse reads.

* ``None``: left out (with ``write_nulls``: ``null``, which clears the column);
* ``decimal.Decimal``: a number (an integer when whole, else a float: 15 to 17 significant digits);
* ``datetime``: ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z`` in UTC (Spark hands timestamps over as naive local time);
* ``date``: ``YYYY-MM-DD``;
* ``bytes``: base64 text (file and image columns);
* structs, maps, arrays: objects and arrays (a nested collection is a deep insert).

Column names are the document's members as they are: ``accountid`` (the primary key: the record's id),
``primarycontactid@odata.bind``, ``@odata.editLink``. Not for reading: :mod:`connector.spark.schema`.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from pyspark.sql.types import Row

__all__ = ["document_of", "json_value"]


def document_of(row: Row, *, write_nulls: bool = False) -> dict[str, Any]:
    """:returns: the input document of one row."""
    values = row.asDict(recursive=True)
    return {name: json_value(value) for name, value in values.items() if value is not None or write_nulls}


def json_value(value: Any) -> Any:
    """:returns: a value as JSON can carry it (see the module's table)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        # Spark hands timestamps over as naive local time; astimezone() reads a naive value as exactly that.
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Row):
        return {name: json_value(item) for name, item in value.asDict(recursive=True).items()}
    if isinstance(value, Mapping):
        return {str(name): json_value(item) for name, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(item) for item in value]
    return value
