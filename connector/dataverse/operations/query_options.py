"""The Query operation's options, parsed once: columns, filter, sorts, limits, FetchXML and change tracking.

:class:`QueryOptions` is what :mod:`connector.dataverse.operations.query` and
:mod:`connector.dataverse.operations.changes` read; it lives apart from both because the second is called by the
first. The filter arrives parsed (:func:`~connector.dataverse.odata.filters.parse_filter`); the FetchXML stays text,
parsed where a query runs. :meth:`QueryOptions.problems` refuses what Dataverse would refuse (change tracking with a
filter, a sort, an expansion, a maximum or FetchXML) and what a schema cannot check (malformed FetchXML, a static
filter value that does not fit its type). Not for the options of other operations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from connector.dataverse.odata.fetchxml import FetchXmlError, parse_fetch
from connector.dataverse.odata.filters import FilterGroup, parse_filter
from connector.dataverse.odata.literals import LiteralError, format_literal
from connector.dataverse.operations.options import CommonOptions, ReadOptions, option_schema, strings, with_defaults
from connector.errors import FieldError

__all__ = ["UNTRACKABLE_OPTIONS", "QueryMode", "QueryOptions", "SortKey", "Watermark"]

QueryMode = Literal["odata", "fetchxml"]

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
        )

    def problems(self) -> list[FieldError]:
        """What the schema cannot check.

        :returns: change tracking combined with what Dataverse refuses, malformed FetchXML, and static filter values
            that do not fit their type.
        """
        errors = self._tracking_problems() + self._watermark_problems()
        if self.mode == "fetchxml" and self.fetch_xml:
            try:
                parse_fetch(self.fetch_xml)
            except FetchXmlError as error:
                errors.append(FieldError("options.fetch_xml", str(error)))
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
