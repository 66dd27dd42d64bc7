"""The data source's options, as Spark hands them over (case-insensitive strings), parsed once into frozen objects.

``spark.read.format("dynamics365").option(...)`` and ``df.write.format("dynamics365").option(...)`` take the options
below (``docs/spark.md`` is the user's reference). Every bad option is reported at once in one
:class:`~connector.errors.ConfigError` whose fields are ``options.<name>``. Not for the connection itself (that is
:mod:`connector.spark.connection`), nor for the connector's own operation options, which the connector checks against
its schemas when the read or write runs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, cast

from connector.errors import ConfigError, FieldError

__all__ = [
    "DEFAULT_PARTITIONS",
    "DEFAULT_WRITE_CONCURRENCY",
    "ConnectionOptions",
    "ReadOptions",
    "WriteOptions",
    "parse_read_options",
    "parse_write_options",
]

DEFAULT_PARTITIONS: Final = 8
"""Partitions of a read when ``num_partitions`` is not given."""
DEFAULT_WRITE_CONCURRENCY: Final = 8
"""Concurrent bulk requests of one write task: 6 tasks at 8 stay within Dataverse's 52 per user."""

_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SUMMARY: Final = "The Dynamics 365 data source's options are invalid"


@dataclass(frozen=True)
class ConnectionOptions:
    """Where the connection settings come from: exactly one of the two.

    :param config_path: ``config``: a reference-host config file (``connection``, ``oauth2``, optional ``runtime``).
    :param settings_json: ``settings``: the same object as JSON text.
    """

    config_path: str | None
    settings_json: str | None


@dataclass(frozen=True)
class ReadOptions:
    """What ``spark.read`` asked for.

    :param connection: where the settings come from.
    :param entity_set: the table's entity set (``accounts``).
    :param select: the columns to read, in order; empty: every typed column of the table.
    :param filter: an OData ``$filter`` expression applied to every partition, or ``None``.
    :param partition_column: the date-time column whose ranges make the partitions.
    :param num_partitions: how many ranges (Spark tasks) at most.
    :param page_size: records per page (``Prefer: odata.maxpagesize``).
    :param read_ahead: request the next page while the current one is converted.
    :param filter_pushdown: whether the reader takes Spark's filters (``pushFilters``).
    """

    connection: ConnectionOptions
    entity_set: str
    select: tuple[str, ...] = ()
    filter: str | None = None
    partition_column: str = "createdon"
    num_partitions: int = DEFAULT_PARTITIONS
    page_size: int = 5000
    read_ahead: bool = True
    filter_pushdown: bool = True


@dataclass(frozen=True)
class WriteOptions:
    """What ``df.write`` asked for.

    :param connection: where the settings come from.
    :param entity_set: the table's entity set.
    :param operation: ``create`` or ``upsert``.
    :param key_fields: for upsert: the alternate-key columns (empty: the primary key column or ``@odata.editLink``).
    :param batch_size: records per bulk request.
    :param max_concurrency: concurrent bulk requests per task.
    :param errors_path: a directory for the failed rows (JSON Lines), or ``None``.
    :param on_error: ``fail``: the write raises after every row was tried when any failed; ``report``: it
        succeeds and the failed rows are only in ``errors_path``.
    :param write_nulls: send null columns as ``null`` (an upsert then clears them) instead of leaving them out.
    """

    connection: ConnectionOptions
    entity_set: str
    operation: Literal["create", "upsert"] = "create"
    key_fields: tuple[str, ...] = ()
    batch_size: int = 100
    max_concurrency: int = DEFAULT_WRITE_CONCURRENCY
    errors_path: str | None = None
    on_error: Literal["fail", "report"] = "fail"
    write_nulls: bool = False


class _Reader:
    """Reads typed values out of the options, collecting every problem instead of stopping at the first."""

    def __init__(self, options: Mapping[str, str]) -> None:
        # Spark's options are case-insensitive; keys arrive in the user's case.
        self.options = {str(key).lower(): value for key, value in options.items()}
        self.problems: list[FieldError] = []

    def text(self, name: str) -> str | None:
        value = self.options.get(name)
        if value is None or not str(value).strip():
            return None
        return str(value).strip()

    def required(self, name: str) -> str:
        value = self.text(name)
        if value is None:
            self.problems.append(FieldError(f"options.{name}", "is required"))
            return ""
        return value

    def names(self, name: str) -> tuple[str, ...]:
        value = self.text(name)
        if value is None:
            return ()
        items = tuple(item.strip() for item in value.split(","))
        bad = [item for item in items if not _NAME.fullmatch(item)]
        if bad:
            self.problems.append(
                FieldError(f"options.{name}", f"must be comma-separated column names (got {', '.join(map(repr, bad))})")
            )
        if len(set(items)) != len(items):
            self.problems.append(FieldError(f"options.{name}", f"names a column twice (got {value!r})"))
        return items

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        value = self.text(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            self.problems.append(FieldError(f"options.{name}", f"must be a whole number (got {value!r})"))
            return default
        if not low <= number <= high:
            self.problems.append(FieldError(f"options.{name}", f"must be from {low} to {high} (got {number})"))
            return default
        return number

    def boolean(self, name: str, default: bool) -> bool:
        value = self.text(name)
        if value is None:
            return default
        if value.lower() in {"true", "1", "yes"}:
            return True
        if value.lower() in {"false", "0", "no"}:
            return False
        self.problems.append(FieldError(f"options.{name}", f"must be true or false (got {value!r})"))
        return default

    def choice(self, name: str, choices: tuple[str, ...]) -> str:
        value = self.text(name)
        if value is None:
            return choices[0]
        if value.lower() not in choices:
            listed = " or ".join(choices)
            self.problems.append(FieldError(f"options.{name}", f"must be {listed} (got {value!r})"))
            return choices[0]
        return value.lower()

    def connection(self) -> ConnectionOptions:
        config, settings = self.text("config"), self.text("settings")
        if (config is None) == (settings is None):
            self.problems.append(
                FieldError(
                    "options.config",
                    "give exactly one of config (a reference-host config file) and settings (its JSON)",
                )
            )
        if settings is not None:
            try:
                parsed: Any = json.loads(settings)
            except ValueError as error:
                self.problems.append(FieldError("options.settings", f"is not valid JSON ({error})"))
            else:
                if not isinstance(parsed, dict) or not {"connection", "oauth2"} <= set(parsed):
                    self.problems.append(
                        FieldError("options.settings", "must be a JSON object with connection and oauth2")
                    )
        return ConnectionOptions(config_path=config, settings_json=settings)

    def check(self) -> None:
        if self.problems:
            raise ConfigError(self.problems, _SUMMARY)


def parse_read_options(options: Mapping[str, str]) -> ReadOptions:
    """Parse the options of a read.

    :param options: Spark's options.
    :returns: the read's options.
    :raises ConfigError: listing every bad option.
    """
    reader = _Reader(options)
    connection = reader.connection()
    entity_set = reader.required("entity_set")
    partition_column = reader.text("partition_column") or "createdon"
    if not _NAME.fullmatch(partition_column):
        reader.problems.append(
            FieldError("options.partition_column", f"must be a column name (got {partition_column!r})")
        )
    parsed = ReadOptions(
        connection=connection,
        entity_set=entity_set,
        select=reader.names("select"),
        filter=reader.text("filter"),
        partition_column=partition_column,
        num_partitions=reader.integer("num_partitions", DEFAULT_PARTITIONS, 1, 1000),
        page_size=reader.integer("page_size", 5000, 1, 5000),
        read_ahead=reader.boolean("read_ahead", True),
        filter_pushdown=reader.boolean("filter_pushdown", True),
    )
    reader.check()
    return parsed


def parse_write_options(options: Mapping[str, str]) -> WriteOptions:
    """Parse the options of a write.

    :param options: Spark's options.
    :returns: the write's options.
    :raises ConfigError: listing every bad option (``on_error=report`` without ``errors_path`` is one: the failed
        rows would have nowhere to go).
    """
    reader = _Reader(options)
    connection = reader.connection()
    entity_set = reader.required("entity_set")
    operation = cast(Literal["create", "upsert"], reader.choice("operation", ("create", "upsert")))
    on_error = cast(Literal["fail", "report"], reader.choice("on_error", ("fail", "report")))
    errors_path = reader.text("errors_path")
    if on_error == "report" and errors_path is None:
        reader.problems.append(
            FieldError("options.errors_path", "is required with on_error=report: the failed rows must go somewhere")
        )
    key_fields = reader.names("key_fields")
    if key_fields and operation != "upsert":
        reader.problems.append(FieldError("options.key_fields", "applies to operation=upsert only"))
    parsed = WriteOptions(
        connection=connection,
        entity_set=entity_set,
        operation=operation,
        key_fields=key_fields,
        batch_size=reader.integer("batch_size", 100, 1, 1000),
        max_concurrency=reader.integer("max_concurrency", DEFAULT_WRITE_CONCURRENCY, 1, 52),
        errors_path=errors_path,
        on_error=on_error,
        write_nulls=reader.boolean("write_nulls", False),
    )
    reader.check()
    return parsed
