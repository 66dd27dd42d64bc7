"""What each document of a bulk Create, Update or Upsert becomes: its prepared write, and how it can travel.

A document is prepared exactly as a request of its own would be (:mod:`connector.dataverse.operations.creates`,
:mod:`connector.dataverse.operations.write`), then
given a route: a bulk action (``CreateMultiple``, ``UpdateMultiple``, ``UpsertMultiple``) when the action means the
same as the document's own request, else ``$batch``. Its ``$batch`` part is always available too, because a failed bulk
action is narrowed down through ``$batch``.

* **Create** goes to ``CreateMultiple`` unless it needs what the action cannot do: return the record, nested
  records (deep insert), its own query parameters or headers. By default (``client_keys: always``, or ``bulk``) a
  record without its primary key gets a new one (:class:`~connector.dataverse.operations.keys.SequentialKeys`), so
  a request whose answer was lost can be sent again;
  with ``key_source_field``, the id derived from the document's source id (:mod:`connector.dataverse.operations.keys`),
  the same in every run.
* **Update** without an ETag is an upsert (as on its own) and goes to ``UpsertMultiple``; with ``If-Match: *`` and
  the record's primary key, ``UpdateMultiple`` (update only); any other condition needs its own header: ``$batch``.
* **Upsert** goes to ``UpsertMultiple``, the record named by ``@odata.id`` (primary or alternate key).

Not for sending or for reading answers: :mod:`connector.dataverse.bulk.runner`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import requests

from connector.dataverse.bulk.multipart import BatchPart
from connector.dataverse.bulk.options import BulkOptions
from connector.dataverse.odata.literals import entity_path, is_guid
from connector.dataverse.operations.creates import PreparedCreate, create_outcome, prepare_create
from connector.dataverse.operations.delete import PreparedDelete
from connector.dataverse.operations.document_headers import HEADERS, document_headers
from connector.dataverse.operations.inputs import QUERY_PARAMETERS, DocumentError, document_query_parameters
from connector.dataverse.operations.keys import SequentialKeys
from connector.dataverse.operations.running import OperationContext, runs_with
from connector.dataverse.operations.write import (
    PreparedPatch,
    prepare_update,
    prepare_upsert,
    update_outcome,
    upsert_outcome,
)
from connector.dataverse.operations.write_options import CreateOptions, RecordWriteOptions, UpdateOptions, UpsertOptions
from connector.results import OperationResult

__all__ = ["BATCH", "MULTIPLE_ACTIONS", "BulkItem", "Planner", "encode_json"]

BATCH: Final = "$batch"
"""The route of documents that travel as ``$batch`` parts."""
MULTIPLE_ACTIONS: Final = frozenset({"CreateMultiple", "UpdateMultiple", "UpsertMultiple"})

Prepared = PreparedCreate | PreparedPatch | PreparedDelete
# Typed by any run: an item's outcome is only ever given the run that planned it, whose options are the ones it reads.
Outcome = Callable[[OperationContext[Any], Any, requests.Response, int], OperationResult]
_JSON_TYPE: Final = "application/json; charset=utf-8"


_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _c_encoder(encoder: json.JSONEncoder) -> Callable[[Any, int], Any] | None:
    """The C encoder ``encoder.encode`` builds on each call, built once: ``JSONEncoder.encode`` makes a new one (and a
    closure) per call, about half the cost of serialising a small record. Without a circularity check: a
    self-containing document fails with ``RecursionError`` instead (read as the same refusal below). ``None`` where
    the interpreter has no C encoder.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return None
    separators = (encoder.key_separator, encoder.item_separator)
    return make(None, encoder.default, json.encoder.encode_basestring, None, *separators, False, False, False)  # type: ignore[no-any-return]


_C_ENCODER: Final = _c_encoder(_ENCODER)


def encode_json(value: Any, field: str = "(document)") -> bytes:
    """Serialise a body compactly as UTF-8 JSON (once per record in a bulk run, so through :data:`_C_ENCODER`).

    :param value: the body.
    :param field: the document member to name when it cannot be serialised.
    :returns: the bytes.
    :raises DocumentError: for values JSON cannot carry (``NaN``, ``Infinity``, non-JSON types, a document that
        contains itself).
    """
    try:
        if _C_ENCODER is None:
            return _ENCODER.encode(value).encode("utf-8")
        return "".join(_C_ENCODER(value, 0)).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as error:
        raise DocumentError(field, f"holds a value JSON cannot carry ({error})") from None


@dataclass(slots=True)
class BulkItem:
    """One document, prepared; never changed once built (not frozen: a frozen dataclass's ``__init__`` sets each
    field through ``object.__setattr__``, five times the cost of a plain one, and a bulk run builds one per record).

    :param index: the document's input index.
    :param document: the document (for a request of its own, when the bulk path cannot serve it).
    :param prepared: its write, as a request of its own would send it.
    :param route: a bulk action's name, or :data:`BATCH`.
    :param target: its entry in the bulk action's ``Targets`` (serialised), when routed to one.
    :param part: its ``$batch`` part.
    :param idempotent: whether re-sending it after a lost answer is safe.
    :param outcome: reads an answer to it into its result.
    :param record: which record it writes (its URL, lower-cased), when known before it is written: two documents
        for the same record are written one after the other, in input order.
    """

    index: int
    document: Mapping[str, Any]
    prepared: Prepared
    route: str
    target: bytes | None
    part: BatchPart
    idempotent: bool
    outcome: Outcome
    record: str | None = None

    @property
    def size(self) -> int:
        """Bytes it adds to a request body (its target, or its part's body plus a part's headers)."""
        if self.target is not None:
            return len(self.target) + 1
        return len(self.part.body or b"") + len(self.part.url) + 200


class Planner:
    """Prepares the documents of one run.

    :param context: the run.
    :param options: the run's bulk options.
    """

    def __init__(self, context: OperationContext[RecordWriteOptions], options: BulkOptions) -> None:
        self.context = context
        self.options = options
        self._query, self._prefer = context.options.representation()
        self._headers = context.options.headers()
        self._create_headers = self._part_headers(self._headers)
        self._create_url = context.client.url(context.entity_set, self._part_query({}))
        self._bulk_actions = options.mode in ("auto", "multiple") and not options.all_or_nothing
        self._bulk_actions = self._bulk_actions and not context.options.return_representation
        # The run's keys ascend in SQL Server's order (one OS seed per run, not an OS call per record).
        self._new_key = SequentialKeys()

    def plan(self, index: int, document: Mapping[str, Any]) -> BulkItem:
        """Prepare one document.

        :param index: its input index.
        :param document: the document (checked to be an object).
        :returns: the item.
        :raises DocumentError: when the document cannot be written (the same errors as on its own).
        :raises ConnectorError: when the table's metadata cannot be read.
        """
        context = self.context
        if runs_with(context, CreateOptions):
            return self._create(context, index, document)
        if runs_with(context, UpdateOptions):
            prepared = prepare_update(context, document)
            route = BATCH
            if not prepared.etag:
                route = "UpsertMultiple"  # on its own, an update without any ETag is an upsert too
            elif prepared.etag == "*" and context.options.concurrency_mode == "if_match":
                route = "UpdateMultiple" if is_guid(prepared.target.record_id) else BATCH
            return self._patch(index, document, prepared, route, update_outcome)
        if runs_with(context, UpsertOptions):
            return self._patch(index, document, prepare_upsert(context, document), "UpsertMultiple", upsert_outcome)
        raise TypeError(f"{type(context.options).__name__} are not the options of a record write")

    def _create(self, context: OperationContext[CreateOptions], index: int, document: Mapping[str, Any]) -> BulkItem:
        options = context.options
        assign = options.client_keys in ("bulk", "always")
        derive = options.key_source_field
        prepared = prepare_create(context, document, assign_key=assign, new_key=self._new_key, derive_from=derive)
        body = encode_json(prepared.body)
        route = "CreateMultiple" if self._carried(document) and not _nested(prepared.body) else BATCH
        target = _typed(body, prepared.entity.logical_name) if route != BATCH else None
        if QUERY_PARAMETERS in document:
            url = self.context.client.url(self.context.entity_set, self._part_query(document))
        else:
            url = self._create_url
        headers = self._part_headers(self._headers, document) if HEADERS in document else self._create_headers
        part = BatchPart("POST", url, headers, body)
        record = None
        if prepared.record_id is not None and not prepared.assigned:
            record = entity_path(prepared.entity.entity_set, prepared.record_id).lower()
        idempotent = prepared.record_id is not None
        return BulkItem(index, document, prepared, route, target, part, idempotent, create_outcome, record)

    def _patch(
        self, index: int, document: Mapping[str, Any], prepared: PreparedPatch, route: str, outcome: Outcome
    ) -> BulkItem:
        if not self._carried(document):
            route = BATCH
        body = encode_json(prepared.body)
        target = None
        if route == "UpdateMultiple":
            entity = prepared.entity
            keyed = {entity.primary_id: prepared.target.record_id} if entity.primary_id else {}
            target = _typed(body, entity.logical_name, keyed)
        elif route == "UpsertMultiple":
            reference = {"@odata.id": self.context.client.relative(prepared.target.url)}
            target = _typed(body, prepared.entity.logical_name, reference)
        url = self.context.client.url(prepared.target.url, self._part_query(document))
        part = BatchPart("PATCH", url, self._part_headers(prepared.headers, document), body)
        record = self.context.client.relative(prepared.target.url).lower()
        return BulkItem(index, document, prepared, route, target, part, prepared.idempotent, outcome, record)

    def _carried(self, document: Mapping[str, Any]) -> bool:
        """Whether a bulk action can carry the document (else it needs a ``$batch`` part of its own)."""
        return self._bulk_actions and QUERY_PARAMETERS not in document and HEADERS not in document

    def _part_query(self, document: Mapping[str, Any]) -> list[tuple[str, str]]:
        return [*self._query, *document_query_parameters(document, self.context.common.query_parameters)]

    def _part_headers(self, headers: Mapping[str, str], document: Mapping[str, Any] | None = None) -> dict[str, str]:
        # The run's headers (impersonation, custom headers) go on every part too, as the document overrides them.
        run = document_headers(document or {}, self.context.client.default_headers)
        part = {"Content-Type": _JSON_TYPE, **run, **headers}
        if self._prefer:
            part["Prefer"] = ",".join(self._prefer)
        return part


def _nested(body: Mapping[str, Any]) -> bool:
    """Whether a body creates related records (deep insert), which the bulk action does not promise to do."""
    # Bodies are plain dicts and lists (documents.write_body builds them), so exact type checks suffice.
    for value in body.values():
        kind = type(value)
        if kind is dict or (kind is list and any(type(item) is dict for item in value)):
            return True
    return False


def _typed(body: bytes, logical_name: str, members: Mapping[str, Any] | None = None) -> bytes:
    """A bulk action's target: the serialised body with ``@odata.type`` (and other members) put first.

    Members the body already has are overridden: JSON readers keep the last of repeated names, so they go first
    only when the body lacks them.
    """
    if members:
        extra = {"@odata.type": f"Microsoft.Dynamics.CRM.{logical_name}", **members}
        head, names = encode_json(extra), tuple(f'"{name}":'.encode() for name in extra)
    else:
        head, names = _head(logical_name), _TYPE_NAME  # every create's case: nothing built per record
    if body == b"{}":
        return head
    for name in names:  # a loop, not any() over a generator: this runs once per record
        if name in body:
            return encode_json({**json.loads(body), **json.loads(head)})
    return head[:-1] + b"," + body[1:]


_TYPE_NAME: Final = (b'"@odata.type":',)


@functools.lru_cache(maxsize=64)
def _head(logical_name: str) -> bytes:
    return encode_json({"@odata.type": f"Microsoft.Dynamics.CRM.{logical_name}"})
