"""Incremental Query by a watermark column, for tables without change tracking, with the watermark kept by the host.

A run reads ``GET <set>?$filter=(<filter>) and <field> ne null and <field> ge <watermark>&$orderby=<field> asc,
<primary key> asc`` page after page (the service's next links, which resume after the last row's sort values), and
hands every record over as Query does. The **checkpoint** is the last record's value of the column and the ids of
every record delivered with exactly that value (the *ties*): the next run reads from that value again (``ge``, not
``gt``, so a record written later with the same value is not lost) and skips the ties, which were delivered. It is
committed to the runtime context's checkpoint store only when the consumer asks for the result after the last record,
as :mod:`connector.dataverse.operations.changes` commits its delta link: a run that ends earlier commits nothing.

What may repeat (delivery is at least once, never at most once):

* a record updated while the run reads: its column moves past the read position, so the run meets it again (both
  versions are delivered);
* everything a run delivered before it was interrupted (killed, a page that failed, a consumer that stopped);
* with ``lookback_seconds``, the records in that window before the watermark (it covers writes committed late with
  an earlier timestamp than records already read, which the service stamps when the write happens).

Nothing between two runs is lost: the column only grows, and every record at or after the watermark that is not a
tie is read. Records whose column is empty are never read, and deletions are not seen (use change tracking for
those). With ``top``, a run stops after that many records and commits where it stopped (ties included), so the next
run goes on from there. Not for change tracking (:mod:`connector.dataverse.operations.changes`) nor for plain queries.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from connector.context import CheckpointStore
from connector.dataverse.odata.filters import AttributeTypes, FilterValueError, render_filter
from connector.dataverse.odata.literals import LiteralError, LiteralType, format_literal
from connector.dataverse.operations.pages import RecordResults, follow_pages, records_of
from connector.dataverse.operations.query_options import QueryOptions, Watermark
from connector.dataverse.operations.running import OperationContext
from connector.errors import OperationError
from connector.results import OperationResult

__all__ = ["WATERMARK_KEY_PREFIX", "WatermarkCheckpoint", "read_since_watermark", "watermark_key"]

_log = logging.getLogger(__name__)

WATERMARK_KEY_PREFIX: Final = "dynamics365-ce/watermark/"
"""Every watermark checkpoint key starts with this."""
_FORMAT: Final = 1


@dataclass(frozen=True)
class WatermarkCheckpoint:
    """Where a watermark read stands.

    :param entity_set: the table it was taken for.
    :param field: its column.
    :param value: the last delivered record's value of the column.
    :param ties: the ids of every delivered record whose column holds exactly ``value``.
    """

    entity_set: str
    field: str
    value: str | int
    ties: frozenset[str]

    def dump(self) -> str:
        """:returns: the checkpoint as the text the store keeps."""
        document = {
            "format": _FORMAT,
            "entity_set": self.entity_set,
            "field": self.field,
            "value": self.value,
            "ties": sorted(self.ties),
        }
        return json.dumps(document, separators=(",", ":"))

    @classmethod
    def load(cls, text: str, key: str, entity_set: str, field: str) -> WatermarkCheckpoint:
        """Read a stored checkpoint, checking that it belongs to this read.

        :raises OperationError: naming ``options.checkpoint_key`` when it is not a watermark of this table and
            column.
        """
        try:
            document = json.loads(text)
            value, ties = document["value"], document["ties"]
            taken = (document["entity_set"], document["field"])
            valid = isinstance(value, str | int) and isinstance(ties, list) and document.get("format") == _FORMAT
        except (ValueError, KeyError, TypeError):
            valid, taken = False, ("?", "?")
        if not valid:
            raise OperationError(
                f"The checkpoint stored under {key!r} is not a watermark of this connector. Choose another checkpoint "
                "key, or clear this one to read every record again",
                field="options.checkpoint_key",
            )
        if taken != (entity_set, field):
            raise OperationError(
                f"The checkpoint stored under {key!r} was taken for another read ({taken[0]} by {taken[1]}). Choose "
                "another checkpoint key, or clear this one to read every record again",
                field="options.checkpoint_key",
            )
        return cls(entity_set, field, value, frozenset(str(tie) for tie in ties))


def watermark_key(context: OperationContext[QueryOptions], watermark: Watermark) -> str:
    """The checkpoint store key of a watermark read.

    :param context: the run (its ``checkpoint_key`` option, entity set, ``select`` and filter).
    :param watermark: its watermark option.
    :returns: :data:`WATERMARK_KEY_PREFIX` + the ``checkpoint_key`` option when given, else + the API root's host and
        path, the entity set, the watermark column, the selected columns and a digest of the filter
        (``contoso.crm.dynamics.com/api/data/v9.2/accounts?watermark=modifiedon&$select=name``), so two reads of
        other records or columns never share a watermark by default.
    """
    options = context.options
    if options.checkpoint_key:
        return WATERMARK_KEY_PREFIX + options.checkpoint_key
    root = urlsplit(context.client.api_root)
    key = f"{WATERMARK_KEY_PREFIX}{root.netloc}{root.path}{context.entity_set}?watermark={watermark.field}"
    if options.select:
        key += f"&$select={','.join(options.select)}"
    if options.filter is not None:
        digest = hashlib.sha256(repr(options.filter).encode("utf-8")).hexdigest()[:16]
        key += f"&filter={digest}"
    return key


def read_since_watermark(
    context: OperationContext[QueryOptions],
    store: CheckpointStore,
    index: int,
    document: Mapping[str, Any],
    parameters: Sequence[tuple[str, str]],
) -> Iterator[OperationResult]:
    """Run a watermark read for one input document.

    :param context: the run (options already checked: no sorts, change tracking or FetchXML).
    :param store: where the watermark is loaded from and committed to.
    :param index: the input document's index (for a failed result).
    :param document: the document (filter ``parameter`` values).
    :param parameters: the custom query parameters, sent with the first request only.
    :returns: the records' results, lazily; the watermark is committed after the last one.
    :raises ConnectorError: for a stored checkpoint that does not fit this read, or a page that cannot be read.
    """
    options = context.options
    watermark = options.watermark
    if watermark is None:
        raise TypeError("a watermark read needs the watermark option")  # a defect: the caller checks
    if options.top == 0:
        return
    entity = context.metadata.entity(context.entity_set)
    primary = entity.primary_id or ""
    description = context.metadata.describe(context.entity_set)
    field_type = _field_type(description, watermark.field)
    key = watermark_key(context, watermark)
    stored_text = store.load(key)
    stored = WatermarkCheckpoint.load(stored_text, key, context.entity_set, watermark.field) if stored_text else None
    url = context.client.url(
        context.entity_set, [*_query(context, watermark, description, document, field_type, stored), *parameters]
    )
    prefer = [f"odata.maxpagesize={options.page_size}"]
    annotations = options.annotation_preference()
    if annotations:
        prefer.append(annotations)
    result_of = RecordResults(context.client, entity)
    position = _Position(stored)
    delivered = 0
    pages = follow_pages(context, index, url, prefer, parameters, read_ahead=options.read_ahead, limit=options.top)
    for outcome in pages:
        if isinstance(outcome, OperationResult):
            yield outcome  # the run ends without a new watermark: the next one reads from the stored one again
            return
        for record in records_of(outcome):
            value, record_id = record.get(watermark.field), str(record.get(primary) or "")
            if position.already_delivered(value, record_id):
                continue
            yield result_of(record)
            position.advance(value, record_id)
            delivered += 1
            if delivered == options.top:
                break
        if delivered == options.top:
            break
    # Reached only when the consumer pulled past the last record (or the top-th): everything before was handed over.
    committed = position.checkpoint(context.entity_set, watermark.field)
    if committed is not None and committed != stored:
        store.save(key, committed.dump())
        _log.info("watermark: %s of %s committed (%d records)", watermark.field, context.entity_set, delivered)


class _Position:
    """The last value delivered and the ids that share it, starting from the stored checkpoint."""

    def __init__(self, stored: WatermarkCheckpoint | None) -> None:
        self._stored = stored
        self.value: Any = stored.value if stored is not None else None
        self.ties: set[str] = set(stored.ties) if stored is not None else set()

    def already_delivered(self, value: Any, record_id: str) -> bool:
        stored = self._stored
        return stored is not None and _same(value, stored.value) and record_id in stored.ties

    def advance(self, value: Any, record_id: str) -> None:
        if value is None:
            return
        if self.value is not None and _same(value, self.value):
            self.ties.add(record_id)
        elif self.value is None or _order(value) > _order(self.value):
            # The read is sorted by the column, so a larger value starts a new tie group. A smaller one (the
            # look-back window, before the stored watermark) never moves the watermark back.
            self.value, self.ties = value, {record_id}

    def checkpoint(self, entity_set: str, field: str) -> WatermarkCheckpoint | None:
        if self.value is None or not isinstance(self.value, str | int):
            return None
        return WatermarkCheckpoint(entity_set, field, self.value, frozenset(self.ties))


def _order(value: Any) -> Any:
    """A sort key for values of one column: date-times by their instant, numbers by value, else the text."""
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    return value


def _same(left: Any, right: Any) -> bool:
    return left == right or (left is not None and right is not None and _order(left) == _order(right))


def _field_type(description: AttributeTypes, field: str) -> LiteralType:
    kind = description.literal_type(field)
    if kind not in ("datetime", "date", "integer", "number"):
        raise OperationError(
            f"The watermark column {field!r} must be a date-time or a number column that grows with every change "
            f"(such as modifiedon or versionnumber); its type is {kind or 'unknown'}",
            field="options.watermark.field",
        )
    return kind


def _query(
    context: OperationContext[QueryOptions],
    watermark: Watermark,
    description: AttributeTypes,
    document: Mapping[str, Any],
    field_type: LiteralType,
    stored: WatermarkCheckpoint | None,
) -> list[tuple[str, str]]:
    options = context.options
    primary = context.metadata.entity(context.entity_set).primary_id or ""
    query: list[tuple[str, str]] = []
    if options.select:
        columns = [*options.select, *(name for name in (watermark.field, primary) if name not in options.select)]
        query.append(("$select", ",".join(columns)))
    if options.expand:
        query.append(("$expand", ",".join(options.expand)))
    conditions = []
    if options.filter is not None:
        try:
            expression = render_filter(options.filter, description, document)
        except FilterValueError as error:
            raise OperationError(f"{error.field}: {error.message}", field=error.field) from None
        if expression:
            conditions.append(f"({expression})")
    conditions.append(f"{watermark.field} ne null")
    since = _since(watermark, stored, field_type)
    if since is not None:
        conditions.append(f"{watermark.field} ge {since}")
    query.append(("$filter", " and ".join(conditions)))
    query.append(("$orderby", f"{watermark.field} asc,{primary} asc" if primary else f"{watermark.field} asc"))
    return query


def _since(watermark: Watermark, stored: WatermarkCheckpoint | None, field_type: LiteralType) -> str | None:
    value = stored.value if stored is not None else watermark.start
    if value is None:
        return None
    where = "options.checkpoint_key" if stored is not None else "options.watermark.start"
    if stored is not None and watermark.lookback_seconds and field_type == "datetime":
        moment = _order(value)
        if isinstance(moment, dt.datetime):
            earlier = moment - dt.timedelta(seconds=watermark.lookback_seconds)
            value = earlier.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        return format_literal(value, field_type, watermark.field)
    except LiteralError as error:
        raise OperationError(f"The watermark {value!r} does not fit {watermark.field}: {error}", field=where) from None
