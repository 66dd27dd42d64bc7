"""The Query operation's options, parsed once: columns, filter, sorts, limits, FetchXML, change tracking and
parallel reads.

:class:`QueryOptions` is what :mod:`connector.dataverse.operations.query` and
:mod:`connector.dataverse.operations.changes` read; it lives apart from both because the second is called by the
first. The filter arrives parsed (:func:`~connector.dataverse.odata.filters.parse_filter`); the FetchXML stays text,
parsed where a query runs. :meth:`QueryOptions.problems` refuses what Dataverse would refuse (change tracking with a
filter, a sort, an expansion, a maximum or FetchXML), what cannot be read in parallel (``parallel.mode: on`` with a
sort, a maximum, change tracking or FetchXML that cannot be partitioned) and what a schema cannot check (malformed
FetchXML, a static filter value that does not fit its type). Not for the options of other operations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from connector.dataverse.odata.fetchxml import FetchQuery, FetchXmlError, parse_fetch
from connector.dataverse.odata.filters import FilterGroup, parse_filter
from connector.dataverse.odata.literals import LiteralError, format_literal
from connector.dataverse.operations.options import CommonOptions, ReadOptions, option_schema, strings, with_defaults
from connector.errors import FieldError

__all__ = [
    "UNTRACKABLE_OPTIONS",
    "ParallelMode",
    "ParallelOptions",
    "QueryMode",
    "QueryOptions",
    "SortKey",
    "Watermark",
]

QueryMode = Literal["odata", "fetchxml"]
ParallelMode = Literal["auto", "on", "off"]

UNTRACKABLE_OPTIONS: Final[Mapping[str, str]] = {
    "filter": "filters",
    "order_by": "sorts",
    "expand": "related records",
}
"""Query options Dataverse refuses together with change tracking (``$filter``, ``$orderby``, ``$expand``), by the
name a user sees; ``top`` and FetchXML are refused as well."""


@dataclass(frozen=True)
class SortKey:
    """One sort key of ``$orderby``.

    :param field: the property to sort by.
    :param direction: ``asc`` or ``desc``.
    """

    field: str
    direction: Literal["asc", "desc"]

    def __str__(self) -> str:
        return f"{self.field} {self.direction}"


@dataclass(frozen=True)
class Watermark:
    """An incremental read by a watermark column (:mod:`connector.dataverse.operations.watermarks`).

    :param field: the column that grows with every change (``modifiedon``, ``versionnumber``).
    :param start: the value to read from when no checkpoint is stored (records at or after it); ``None``: all.
    :param lookback_seconds: for a date-time column, how far before the checkpoint each run starts reading again.
    """

    field: str
    start: str | int | None
    lookback_seconds: int

    @classmethod
    def from_value(cls, value: Mapping[str, Any] | None, schema: Mapping[str, Any]) -> Watermark | None:
        """:returns: the ``watermark`` option of validated options (its defaults from ``schema``), or ``None``."""
        if value is None:
            return None
        filled = with_defaults(schema, value)
        start = filled.get("start")
        lookback = int(filled["lookback_seconds"])
        return cls(str(filled["field"]), start if isinstance(start, str | int) else None, lookback)


@dataclass(frozen=True, kw_only=True)
class ParallelOptions:
    """How a Query reads in parallel (the ``parallel`` option).

    :param mode: ``auto`` (partitioned when the read is larger than a page and can be), ``on`` (the same, and
        options that cannot be partitioned are refused), ``off`` (one request at a time).
    :param max_concurrency: the most page requests in flight.
    :param initial_concurrency: requests in flight at the start (never above ``max_concurrency``).
    """

    mode: ParallelMode
    max_concurrency: int
    initial_concurrency: int

    @classmethod
    def from_values(cls, given: Mapping[str, Any] | None) -> ParallelOptions:
        """:returns: the ``parallel`` option as given (valid against the schema), the schema's defaults filled in."""
        value = with_defaults(option_schema("query")["properties"]["parallel"], given)
        return cls(
            mode=value["mode"],
            max_concurrency=int(value["max_concurrency"]),
            initial_concurrency=min(int(value["initial_concurrency"]), int(value["max_concurrency"])),
        )


@dataclass(frozen=True, kw_only=True)
class QueryOptions(ReadOptions):
    """The Query operation's options.

    :param mode: ``odata`` (select, filter, sorts) or ``fetchxml``.
    :param filter: the conditions (``$filter``), or ``None``.
    :param order_by: the sort keys (``$orderby``), in order.
    :param top: stop after this many records; ``-1`` returns every record.
    :param page_size: records per page.
    :param read_ahead: request the next page while the current one is handed over.
    :param fetch_xml: the ``<fetch>`` query, for the ``fetchxml`` mode.
    :param change_tracking: read only what changed since the stored checkpoint.
    :param checkpoint_key: the name the checkpoint is kept under, when given.
    :param watermark: read only what changed since the stored watermark, when given.
    :param parallel: how the read is partitioned and read concurrently.
    :param key_after: read only primary keys after this GUID (lower-case), when given.
    :param key_up_to: read only primary keys up to this GUID (lower-case), when given.
    :param plan_partitions: return that many partitions' key ranges instead of records (0: read the records).
    """

    mode: QueryMode
    filter: FilterGroup | None
    order_by: tuple[SortKey, ...]
    top: int
    page_size: int
    read_ahead: bool
    fetch_xml: str | None
    change_tracking: bool
    checkpoint_key: str | None
    watermark: Watermark | None
    parallel: ParallelOptions
    key_after: str | None
    key_up_to: str | None
    plan_partitions: int

    @classmethod
    def from_values(cls, operation: str, values: Mapping[str, Any]) -> QueryOptions:
        """Build the options from validated values.

        :param operation: ``query``.
        :param values: the options, valid against the schema, top-level defaults filled in.
        :returns: the options; nested defaults (a sort's direction, a filter group's operator) come from the schema.
        """
        schema = option_schema(operation)
        sort_schema = schema["properties"]["order_by"]["items"]
        operator = schema["$defs"]["filter_group"]["properties"]["operator"]["default"]
        key_range: Mapping[str, Any] = values.get("key_range") or {}
        return cls(
            common=CommonOptions.from_values(values),
            select=strings(values["select"]),
            expand=strings(values["expand"]),
            formatted_values=bool(values["formatted_values"]),
            include_annotations=strings(values["include_annotations"]),
            mode=values["mode"],
            filter=parse_filter(values.get("filter"), default_operator=operator),
            order_by=tuple(
                SortKey(str(sort["field"]), sort["direction"])
                for sort in (with_defaults(sort_schema, item) for item in values["order_by"])
            ),
            top=int(values["top"]),
            page_size=int(values["page_size"]),
            read_ahead=bool(values["read_ahead"]),
            fetch_xml=str(values["fetch_xml"]) if values.get("fetch_xml") else None,
            change_tracking=bool(values["change_tracking"]),
            checkpoint_key=str(values["checkpoint_key"]) if values.get("checkpoint_key") else None,
            watermark=Watermark.from_value(values.get("watermark"), schema["properties"]["watermark"]),
            parallel=ParallelOptions.from_values(values.get("parallel")),
            key_after=_guid_or_none(key_range.get("after")),
            key_up_to=_guid_or_none(key_range.get("up_to")),
            plan_partitions=int(values["plan_partitions"]),
        )

    def problems(self) -> list[FieldError]:
        """What the schema cannot check.

        :returns: change tracking combined with what Dataverse refuses, malformed FetchXML, and static filter values
            that do not fit their type.
        """
        errors = self._tracking_problems() + self._watermark_problems()
        fetch = None
        if self.mode == "fetchxml" and self.fetch_xml:
            try:
                fetch = parse_fetch(self.fetch_xml)
            except FetchXmlError as error:
                errors.append(FieldError("options.fetch_xml", str(error)))
        errors += self._parallel_problems(fetch)
        for condition in self.filter.conditions() if self.filter is not None else ():
            if condition.parameter is not None or condition.literal_type in (None, "option_set"):
                continue
            try:
                format_literal(condition.value, condition.literal_type, condition.field)
            except LiteralError as error:
                errors.append(
                    FieldError(f"{condition.path}.value", f"does not fit type {condition.literal_type}: {error}")
                )
        return errors

    def _watermark_problems(self) -> list[FieldError]:
        """A watermark read sorts by its column and is incremental itself: not with sorts, change tracking or
        FetchXML.
        """
        if self.watermark is None:
            return []
        errors = []
        if self.order_by:
            message = "cannot be combined with a watermark, which sorts by its field"
            errors.append(FieldError("options.order_by", message))
        if self.change_tracking:
            errors.append(FieldError("options.watermark", "cannot be combined with change tracking: choose one"))
        if self.mode == "fetchxml":
            errors.append(FieldError("options.mode", "FetchXML cannot be combined with a watermark; use odata"))
        return errors

    def partition_refusal(self, fetch: FetchQuery | None = None) -> str | None:
        """Why this read cannot be partitioned, if it cannot.

        :param fetch: the parsed FetchXML, for the ``fetchxml`` mode (parsed here when not given).
        :returns: the reason (naming the option), or ``None``.
        """
        if self.change_tracking:
            return "change tracking reads through the service's delta link, one page after another"
        if self.watermark is not None:
            return "a watermark: its read follows the watermark column's order, one page after another"
        if self.order_by:
            return "sorts: a partitioned read hands pages over as they arrive, in no overall order"
        if self.top != -1:
            return "a maximum: a partitioned read has no first records to stop after"
        if self.mode == "fetchxml":
            try:
                fetch = fetch or parse_fetch(self.fetch_xml or "")
            except FetchXmlError as error:
                return str(error)
            return fetch.partition_refusal()
        return None

    def _parallel_problems(self, fetch: FetchQuery | None) -> list[FieldError]:
        """``parallel.mode: on`` with options that cannot be partitioned; key ranges and plans with change tracking
        or aggregating FetchXML.
        """
        errors: list[FieldError] = []
        if self.parallel.mode == "on":
            reason = self.partition_refusal(fetch)
            if reason is not None and (self.mode != "fetchxml" or fetch is not None):
                errors.append(FieldError("options.parallel.mode", f"on cannot be combined with {reason}; use auto"))
        ranged = self.key_after is not None or self.key_up_to is not None
        for name, given in (("key_range", ranged), ("plan_partitions", self.plan_partitions > 0)):
            if given and self.change_tracking:
                errors.append(FieldError(f"options.{name}", "cannot be combined with change tracking"))
        return errors

    def _tracking_problems(self) -> list[FieldError]:
        """Dataverse refuses change tracking with filters, sorts, expansions, ``$top``, FetchXML (reference §3.12)."""
        if not self.change_tracking:
            return []
        given = {"filter": self.filter is not None, "order_by": bool(self.order_by), "expand": bool(self.expand)}
        errors = [
            FieldError(f"options.{name}", f"{label} cannot be combined with change tracking; Dataverse refuses them")
            for name, label in UNTRACKABLE_OPTIONS.items()
            if given[name]
        ]
        if self.top != -1:
            errors.append(FieldError("options.top", "a maximum cannot be combined with change tracking; use -1"))
        if self.mode == "fetchxml":
            errors.append(FieldError("options.mode", "FetchXML cannot be combined with change tracking; use odata"))
        return errors


def _guid_or_none(value: Any) -> str | None:
    """:returns: a GUID option in Dataverse's form (lower case), or ``None`` when not given."""
    return str(value).lower() if value else None
