"""Writing one chunk of prepared documents and giving each its own result, whatever happens to the request.

* **Bulk action** (``<set>/Microsoft.Dynamics.CRM.CreateMultiple`` …, body ``{"Targets": [...]}``): on success every
  record gets the result a request of its own would have given (``CreateMultiple``'s ``Ids`` in order give the
  ids). On a standard table one bad record fails the whole request and nothing is written, so a refused request is
  **narrowed down**: its records are sent again as one ``$batch`` with ``Prefer: odata.continue-on-error``, one
  part each, and only the bad ones fail, each with its own error. A table that has no such action (the request
  is refused as unknown or unsupported) makes the run switch to ``$batch`` in ``auto`` mode. A refused request of
  more than 1000 records (requests grow past it on quick answers: :mod:`connector.dataverse.bulk.sizing`) is first
  halved, each half sent as the action again, down to 1000 or fewer, so a bad record costs the narrowing of at most
  a thousand records; a ``$batch`` holds at most 1000 parts, so a longer one is sent as several. A ``CreateMultiple``
  of records with their own keys refused as a duplicate (``409``/``412``, typically a job re-run after a crash) first
  reads the chunk's keys back with one request (:mod:`connector.dataverse.bulk.stored`): records stored exactly as
  sent are done (``already_stored``), the others go again as one ``CreateMultiple``, and only a second refusal is
  narrowed down.
* **``$batch``**: one part per record (``Content-ID`` = its position); each part's answer is read by the same
  code as an answer of its own (reasons, replays of creates that carry their key). With ``all_or_nothing`` the
  parts form one change set: when one fails, it gets its error and the others fail with reason ``rolled_back``
  (unless the change set turns out to have been written by an earlier attempt whose answer was lost). A record the
  batch answer leaves out is sent on its own when that is safe, else reported as possibly written. A batch refused
  as a whole (malformed, too large) is split or its records are sent one by one.
* An elastic table writes what it can of a refused bulk request (partial success): a refused request whose records
  are not all safe to send again (creates without keys) is not narrowed down; creates without a key end
  ``outcome_unknown`` with the refusal's reason, those with one are read back (with one request). With keys on
  every record (the default), narrowing is safe: a record already written is refused as a duplicate and read back.
* A request whose answer was lost, unreadable or a gateway's ``502``/``504``, after which re-sending is not safe, is
  never re-sent: the creates that carry their keys are read back with one request for the whole chunk (found as
  sent: ``already_stored``; not found: failed, safe to send again with the same key; a create alone, or when that
  read fails, is read back on its own), every other record's result is ``outcome_unknown``.

Every result of a bulk request carries the property ``bulk``: the action's name, or ``$batch``.
Not for grouping documents into chunks or for ordering results: :mod:`connector.dataverse.bulk.runner`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Final

import requests

from connector.dataverse.bulk.multipart import BatchFormatError, PartAnswer, build_batch, read_batch
from connector.dataverse.bulk.options import BulkOptions
from connector.dataverse.bulk.plan import BATCH, BulkItem
from connector.dataverse.bulk.sender import BulkSender
from connector.dataverse.bulk.sizing import BATCH_PARTS, SUGGESTED, RequestSizes
from connector.dataverse.bulk.stored import find_stored
from connector.dataverse.odata.literals import LiteralError, entity_path, guid_of
from connector.dataverse.operations.creates import PreparedCreate, send_create, unanswered_create
from connector.dataverse.operations.inputs import as_document
from connector.dataverse.operations.options import WriteOptions
from connector.dataverse.operations.outcomes import error_result, failure_result
from connector.dataverse.operations.resends import (
    Found,
    already_stored,
    compared,
    compared_columns,
    holds_as_sent,
    stored_as_sent,
)
from connector.dataverse.operations.running import DocumentHandler, OperationContext, guarded, runs_with
from connector.dataverse.operations.write import may_have_acted
from connector.dataverse.operations.write_options import RecordWriteOptions
from connector.errors import ConnectorError, FailureType, TransientError
from connector.results import ErrorInfo, OperationResult, ResultStatus
from connector.retry import is_redirect
from connector.transport import redirect_origin

__all__ = ["ChunkWriter"]

_log = logging.getLogger(__name__)
_JSON_TYPE: Final = "application/json; charset=utf-8"
_UNSUPPORTED_HINTS: Final = ("not supported", "does not support", "not yet been implemented", "not implemented")


class ChunkWriter:
    """Writes chunks of one run. Thread-safe: workers share it.

    :param context: the run.
    :param options: the run's bulk options.
    :param sender: sends the run's bulk requests.
    :param single: the operation's handler for a document sent on its own.
    :param sizes: the run's request sizes, told how long each bulk action's answer took.
    """

    def __init__(
        self,
        context: OperationContext[WriteOptions],
        options: BulkOptions,
        sender: BulkSender,
        single: DocumentHandler[Any],
        sizes: RequestSizes,
    ) -> None:
        self.context = context
        self.options = options
        self.sender = sender
        self._single = single
        self._sizes = sizes
        self.actions_supported = True

    # -- entry points ---------------------------------------------------------------------------------------------

    def write(self, route: str, chunk: Sequence[BulkItem]) -> list[OperationResult]:
        """Write one chunk; never raises.

        :param route: the chunk's route (a bulk action or :data:`~connector.dataverse.bulk.plan.BATCH`).
        :param chunk: its items.
        :returns: one result per item, in the chunk's order.
        """
        try:
            if self._few(route, chunk) and not self.options.all_or_nothing:
                return [self.write_single(item) for item in chunk]
            if route == BATCH or not self.actions_supported:
                return self.write_batch(chunk)
            return self.write_action(route, chunk)
        except Exception as error:
            # A defect of the connector: every record still gets its result, and the run goes on.
            _log.exception("a bulk request failed unexpectedly")
            failure = ConnectorError(f"The connector failed on this bulk request ({type(error).__name__})")
            return [failure_result(failure, item.index) for item in chunk]

    def _few(self, route: str, chunk: Sequence[BulkItem]) -> bool:
        """Whether a chunk holds fewer records than a bulk request should (``min_batch_size``), though its route
        allows more (an elastic table's 100 is a whole request even when ``min_batch_size`` says more).
        """
        if len(chunk) >= self.options.min_batch_size:
            return False
        return len(chunk) < self._sizes.most(route, elastic=chunk[0].prepared.entity.elastic)

    def write_single(self, item: BulkItem) -> OperationResult:
        """Send one document on its own, exactly as the operation without bulk would; a create keeps the key its
        plan gave it, so a record its bulk request may have written is not written again under another key.
        """
        prepared, context = item.prepared, self.context
        if isinstance(prepared, PreparedCreate) and runs_with(context, RecordWriteOptions):
            return guarded(item.index, lambda: send_create(context, prepared, item.document, item.index))
        return guarded(item.index, lambda: self._single(self.context, item.index, as_document(item.document)))

    # -- bulk actions -------------------------------------------------------------------------------------------

    def write_action(self, action: str, chunk: Sequence[BulkItem], *, confirmed: bool = False) -> list[OperationResult]:
        """Send a chunk as one bulk action, narrowing it down through ``$batch`` when it is refused.

        :param action: the bulk action.
        :param chunk: its items.
        :param confirmed: the chunk's stored records were already looked for (after an earlier refusal).
        """
        client = self.context.client
        body = b'{"Targets":[' + b",".join(item.target or b"" for item in chunk) + b"]}"
        headers = client.headers(extra=self.context.options.headers())
        headers["Content-Type"] = _JSON_TYPE
        path = f"{self.context.entity_set}/Microsoft.Dynamics.CRM.{action}"
        url = client.url(path, self.context.common.query_parameters)
        try:
            response = self.sender.send(
                "POST", url, headers=headers, body=body, idempotent=all(item.idempotent for item in chunk)
            )
        except ConnectorError as error:
            if isinstance(error, TransientError) and error.timed_out:
                self._unanswered_request(action, chunk)  # a reset says nothing of the service's speed; a time-out does
            return self._settle(chunk, error, action)
        if response.status_code < 300:
            seconds = response.elapsed.total_seconds()
            self._sizes.answered(action, len(chunk), seconds, elastic=chunk[0].prepared.entity.elastic)
            return self._action_results(action, chunk, response)
        if _unsupported(response):
            if self.options.mode == "multiple":
                return [_tagged(self._error(response, item), action) for item in chunk]
            _log.info("%s is not available for %s; $batch for the rest of the run", action, self.context.entity_set)
            self.actions_supported = False
            return self.write_batch(chunk)
        if response.status_code in (429, 502, 503, 504):
            # Retries are spent: sending the records again now would be refused too. A gateway may have passed on.
            if may_have_acted(response):
                self._unanswered_request(action, chunk)
            return self._spent(response, chunk, action)
        if response.status_code in (409, 412) and action == "CreateMultiple" and not confirmed:
            # Refused as a duplicate: typically a re-run whose first run stored some of these records.
            found = self._confirm_stored(action, chunk, response)
            if found is not None:
                return found
        if chunk[0].prepared.entity.elastic and not all(item.idempotent for item in chunk):
            # An elastic table writes what it can of a refused request (partial success): sending these records again
            # could write some of them twice, so their outcome is left open, with the refusal's reason.
            refusal = self.context.client.transport.error_for(response)
            partial = TransientError(
                f"The elastic table may have written this record although it refused the request"
                f" ({refusal.user_message.rstrip('.')})",
                status=response.status_code,
                ambiguous=True,
            )
            return self._settle(chunk, partial, action)
        # All or nothing on standard tables: nothing was written. A request grown past the suggested size is halved and
        # each half sent as the action again, so a bad record sends a thousand records through $batch, not all of them.
        if len(chunk) > SUGGESTED:
            confirmed = confirmed or response.status_code in (409, 412)  # its stored records were looked for
            half = len(chunk) // 2
            first = self.write_action(action, chunk[:half], confirmed=confirmed)
            return first + self.write_action(action, chunk[half:], confirmed=confirmed)
        # Each record as a part of its own finds the bad ones.
        _log.debug("%s refused (%d); narrowing %d records down", action, response.status_code, len(chunk))
        return self.write_batch(chunk)

    def _unanswered_request(self, action: str, chunk: Sequence[BulkItem]) -> None:
        """Tell the run's request sizes that a request of the action got no answer in time (a time-out, a gateway's
        error once retries are spent): the next ones hold fewer.
        """
        self._sizes.unanswered(action, len(chunk), elastic=chunk[0].prepared.entity.elastic)

    def _confirm_stored(
        self, action: str, chunk: Sequence[BulkItem], response: requests.Response
    ) -> list[OperationResult] | None:
        """Read the chunk's keys back with one request; records stored exactly as sent are done (``already_stored``,
        as a create of its own reports them), the others are written again in bulk.

        :returns: every item's result, or ``None`` when the chunk has no client keys or none of them is stored
            (the refusal is about something else, and narrowing finds it).
        """
        keys = [getattr(item.prepared, "record_id", None) for item in chunk]
        if not all(isinstance(item.prepared, PreparedCreate) for item in chunk) or None in keys:
            return None
        stored = self._stored(chunk)
        if not stored:
            return None
        client, entity = self.context.client, chunk[0].prepared.entity
        results: dict[int, OperationResult] = {}
        rest: list[BulkItem] = []
        for item, key in zip(chunk, keys, strict=True):
            record = stored.get(str(key).lower())
            prepared = item.prepared
            sent = prepared.body if isinstance(prepared, PreparedCreate) else None
            if record is not None and sent is not None and holds_as_sent(self.context.metadata, entity, record, sent):
                status = str(response.status_code)
                results[item.index] = _tagged(
                    already_stored(client, entity, str(key), record, item.index, http_status=status), action
                )
            else:
                rest.append(item)
        _log.debug("%s refused: %d of %d records already stored", action, len(results), len(chunk))
        if rest:
            again = (
                [self.write_single(item) for item in rest]
                if len(rest) < self.options.min_batch_size
                else self.write_action(action, rest, confirmed=True)
            )
            results.update((item.index, result) for item, result in zip(rest, again, strict=True))
        return [results[item.index] for item in chunk]

    def _action_results(
        self, action: str, chunk: Sequence[BulkItem], response: requests.Response
    ) -> list[OperationResult]:
        ids: list[str | None] = [None] * len(chunk)
        if action == "CreateMultiple":
            ids = _answered_ids(response, len(chunk)) or [getattr(item.prepared, "record_id", None) for item in chunk]
        results = []
        status = str(response.status_code)
        for item, record_id in zip(chunk, ids, strict=True):
            if action == "CreateMultiple" and record_id is not None:
                results.append(self._created(item, record_id, status, action))
                continue
            answer = self._answer_of(item, response, record_id)
            results.append(_tagged(item.outcome(self.context, item.prepared, answer, item.index), action))
        return results

    def _created(self, item: BulkItem, record_id: str, status: str, action: str) -> OperationResult:
        """What ``create_outcome`` gives a record created without its representation, built directly (it is the
        commonest result of a bulk run, and a response object per record would cost more than the record).

        :param record_id: the record's id, a GUID in Dataverse's form (checked by :func:`_answered_ids`, or the key
            the connector gave it).
        """
        entity = item.prepared.entity
        link = f"{entity.entity_set}({record_id})"
        payload = {"@odata.editLink": link}
        if entity.primary_id:
            payload[entity.primary_id] = record_id
        properties = {
            "id": record_id,
            "entity_url": self.context.client.api_root + link,
            "http_status": status,
            "bulk": action,
        }
        return OperationResult(ResultStatus.SUCCESS, payload, properties, input_index=item.index)

    def _answer_of(self, item: BulkItem, response: requests.Response, record_id: str | None) -> requests.Response:
        """The answer a request of the record's own would have had: the action's status and the record's URL."""
        single = requests.Response()
        single.status_code = response.status_code
        single.reason = response.reason
        single._content = b""
        single.url = response.url
        prepared = item.prepared
        if isinstance(prepared, PreparedCreate):
            if record_id is not None:
                path = entity_path(prepared.entity.entity_set, record_id)
                single.headers["OData-EntityId"] = self.context.client.url(path)
        else:
            single.headers["OData-EntityId"] = prepared.target.url
        return single

    # -- $batch -------------------------------------------------------------------------------------------------

    def write_batch(self, chunk: Sequence[BulkItem]) -> list[OperationResult]:
        """Send a chunk as one ``$batch`` (one part per record, or one change set); a refused bulk action's chunk of
        more than :data:`~connector.dataverse.bulk.sizing.BATCH_PARTS` records as several, one after another.
        """
        if len(chunk) > BATCH_PARTS:
            return [
                result
                for start in range(0, len(chunk), BATCH_PARTS)
                for result in self.write_batch(chunk[start : start + BATCH_PARTS])
            ]
        client = self.context.client
        atomic = self.options.all_or_nothing
        body, content_type = build_batch([item.part for item in chunk], change_set=atomic)
        headers = client.headers(prefer=[] if atomic else ["odata.continue-on-error"])
        headers["Content-Type"] = content_type
        try:
            idempotent = all(item.idempotent for item in chunk)
            response = self.sender.send("POST", client.url("$batch"), headers=headers, body=body, idempotent=idempotent)
        except ConnectorError as error:
            return self._settle(chunk, error, BATCH)
        try:
            answers = read_batch(response)
        except BatchFormatError:
            return self._batch_refused(chunk, response)
        return self._batch_results(chunk, response, answers)

    def _batch_refused(self, chunk: Sequence[BulkItem], response: requests.Response) -> list[OperationResult]:
        status = response.status_code
        if status < 300:
            error = TransientError(
                "The service's answer to a $batch request could not be read; the records may have been written",
                status=status,
                ambiguous=True,
            )
            return self._settle(chunk, error, BATCH)
        if status == 413 and len(chunk) > 1:
            half = len(chunk) // 2
            return self.write_batch(chunk[:half]) + self.write_batch(chunk[half:])
        if status in (429, 502, 503, 504):
            return self._spent(response, chunk, BATCH)
        # Refused as a whole, so nothing in it ran: each record on its own gets its own answer.
        return [self.write_single(item) for item in chunk]

    def _batch_results(
        self, chunk: Sequence[BulkItem], response: requests.Response, answers: Sequence[PartAnswer]
    ) -> list[OperationResult]:
        by_id = {answer.content_id: answer.response for answer in answers if answer.content_id}
        if not by_id and len(answers) == len(chunk):
            by_id = {str(number): answer.response for number, answer in enumerate(answers, 1)}
        if self.options.all_or_nothing:
            return self._change_set_results(chunk, response, by_id)
        results = []
        for number, item in enumerate(chunk, 1):
            answer = by_id.get(str(number))
            if answer is not None:
                results.append(_tagged(self._part_outcome(item, answer), BATCH))
            elif item.idempotent:
                results.append(self.write_single(item))
            else:
                results.append(_tagged(self._uncertain(item, _unanswered()), BATCH))
        return results

    def _part_outcome(self, item: BulkItem, answer: requests.Response) -> OperationResult:
        """A record's result from its part's answer. A redirect is never a write's success (the outer answer's is
        refused by the transport; a part's would otherwise read as one), nor proof that nothing was written: the
        record is as uncertain as one left unanswered (a create carrying its key is read back).
        """
        if is_redirect(answer.status_code):
            return self._uncertain(item, _redirected(answer))
        return item.outcome(self.context, item.prepared, answer, item.index)

    def _change_set_results(
        self, chunk: Sequence[BulkItem], response: requests.Response, by_id: dict[str, requests.Response]
    ) -> list[OperationResult]:
        answered = [(number, by_id.get(str(number))) for number in range(1, len(chunk) + 1)]
        failures = [number for number, answer in answered if answer is not None and answer.status_code >= 400]
        if not failures:
            if response.status_code < 400 and all(answer is not None for _, answer in answered):
                return [
                    _tagged(self._part_outcome(item, answer), BATCH)
                    for item, (_, answer) in zip(chunk, answered, strict=True)
                    if answer is not None
                ]
            if response.status_code >= 400:
                return [_tagged(self._error(response, item), BATCH) for item in chunk]
            return [_tagged(self._uncertain(item, _unanswered()), BATCH) for item in chunk]
        culprit = chunk[failures[0] - 1]
        answer = by_id[str(failures[0])]
        own = _tagged(self._part_outcome(culprit, answer), BATCH)
        replayed = own.status is ResultStatus.SUCCESS
        # The culprit was a create already stored as sent: an earlier attempt wrote the whole change set. Its other
        # creates are read back with one request, not one each (a change set holds up to 1000).
        stored = self._stored([item for item in chunk if item is not culprit]) if replayed else None
        results = []
        for item in chunk:
            if item is culprit:
                results.append(own)
            elif replayed:
                results.append(_tagged(self._replayed(item, culprit.index, stored), BATCH))
            else:
                results.append(_tagged(_rolled_back(item.index, culprit.index), BATCH))
        return results

    def _replayed(self, item: BulkItem, culprit: int, read: Mapping[str, Mapping[str, Any]] | None) -> OperationResult:
        """A record of a change set an earlier attempt wrote: stored as sent is ``success`` (``already_stored``),
        anything else rolled back with the culprit.

        :param read: the chunk's keyed creates read back together (:meth:`_stored`); ``None``: read this one alone.
        """
        prepared = item.prepared
        if isinstance(prepared, PreparedCreate) and prepared.record_id is not None:
            client, metadata, entity = self.context.client, self.context.metadata, prepared.entity
            if read is not None:
                found = compared(metadata, entity, read.get(prepared.record_id.lower()), prepared.body)
                record = found.record if found.found is Found.STORED else None
            else:
                record = stored_as_sent(client, metadata, entity, prepared.record_id, prepared.body)
            if record is not None:
                return already_stored(client, entity, prepared.record_id, record, item.index)
        return _rolled_back(item.index, culprit)

    def _settle(self, chunk: Sequence[BulkItem], error: ConnectorError, route: str) -> list[OperationResult]:
        """Each record's result when the chunk's request may have been carried out but no answer says so: the
        creates that carry their keys are read back with one request for the whole chunk, not one per record; any
        other record, or all of them when that read fails, as :meth:`_uncertain` says.
        """
        uncertain = isinstance(error, TransientError) and (error.ambiguous or error.status is None)
        stored = self._stored(chunk) if uncertain else None
        results = []
        for item in chunk:
            prepared = item.prepared
            if stored is None or not isinstance(prepared, PreparedCreate) or prepared.record_id is None:
                results.append(_tagged(self._uncertain(item, error), route))
                continue
            found = compared(
                self.context.metadata, prepared.entity, stored.get(prepared.record_id.lower()), prepared.body
            )
            assert isinstance(error, TransientError)  # read back only after such an error
            results.append(_tagged(unanswered_create(self.context, prepared, error, item.index, found), route))
        return results

    def _stored(self, chunk: Sequence[BulkItem]) -> dict[str, Mapping[str, Any]] | None:
        """Read the chunk's keyed creates back with one request (:func:`~connector.dataverse.bulk.stored.find_stored`;
        once more, of every column, when it fails).

        :returns: the records found, by lower-case key; ``None`` when fewer than two creates carry a key (one is read
            back on its own, as without bulk) or the read failed.
        """
        creates = [item.prepared for item in chunk if isinstance(item.prepared, PreparedCreate)]
        keys = [prepared.record_id for prepared in creates if prepared.record_id is not None]
        if len(keys) < 2:
            return None
        entity = creates[0].entity
        if not entity.primary_id or any(prepared.entity.entity_set != entity.entity_set for prepared in creates):
            return None
        client = self.context.client
        try:
            columns = compared_columns(self.context.metadata, entity, [prepared.body for prepared in creates])
        except ConnectorError:
            columns = []  # the binds' columns unknown: every column
        # The second read asks for every column: a member that can be written but not selected (a lookup's
        # navigation name set to null, a column that cannot be read) makes the service refuse the first.
        for select in (columns, []):
            stored = find_stored(client, self.sender, entity.entity_set, entity.primary_id, keys, select)
            if stored is not None:
                return stored
        return None

    def _uncertain(self, item: BulkItem, error: ConnectorError) -> OperationResult:
        """A record's result when its request may have been carried out but no answer says so: a create carrying its
        key is read back, any other record's result is ``outcome_unknown`` (``failed`` when ``error`` is not such a
        failure).
        """
        prepared, index = item.prepared, item.index
        uncertain = isinstance(error, TransientError) and (error.ambiguous or error.status is None)
        if isinstance(prepared, PreparedCreate) and isinstance(error, TransientError) and uncertain:
            return unanswered_create(self.context, prepared, error, index)
        return failure_result(error, index)

    def _spent(self, response: requests.Response, chunk: Sequence[BulkItem], route: str) -> list[OperationResult]:
        """The records' results when their request's retries are spent: a gateway's answer (a ``502``, a ``504``, a
        ``503`` without ``Retry-After``) may follow processing.
        """
        if not may_have_acted(response):
            return [_tagged(self._error(response, item), route) for item in chunk]
        error = self.context.client.transport.error_for(response)
        if isinstance(error, TransientError):
            error.ambiguous = True
        return self._settle(chunk, error, route)

    def _error(self, response: requests.Response, item: BulkItem) -> OperationResult:
        return error_result(
            self.context.client.transport,
            response,
            item.index,
            application_errors=self.context.common.return_application_errors,
        )


def _unsupported(response: requests.Response) -> bool:
    """Whether a bulk action was refused because the table (or the service) does not offer it."""
    if response.status_code in (405, 501):
        return True
    try:
        error = response.json().get("error") or {}
        message = str(error.get("message") or "").lower()
    except (ValueError, AttributeError):
        return False
    if response.status_code == 404:
        return message.startswith("resource not found for the segment")
    return response.status_code == 400 and any(hint in message for hint in _UNSUPPORTED_HINTS)


def _answered_ids(response: requests.Response, expected: int) -> list[str | None] | None:
    """:returns: the ``Ids`` of a ``CreateMultiple`` answer in Dataverse's form (lower-case, no braces), when it
    holds one GUID for each record sent, else ``None`` (they come from the document: checked before they reach a URL).
    """
    try:
        answered = response.json().get("Ids") if response.content else None
    except (ValueError, AttributeError):
        return None
    if not isinstance(answered, list) or len(answered) != expected:
        return None
    try:
        return [guid_of(value) for value in answered]
    except LiteralError:
        return None


def _tagged(result: OperationResult, request: str) -> OperationResult:
    return dataclasses.replace(result, properties={**result.properties, "bulk": request})


def _unanswered() -> TransientError:
    return TransientError(
        "The $batch answer has no answer for this record; it may have been written, so it was not sent again",
        ambiguous=True,
    )


def _rolled_back(index: int, culprit: int) -> OperationResult:
    info = ErrorInfo(
        message=f"Not written: its change set was rolled back because document {culprit} failed",
        failure_type=FailureType.OPERATION.value,
    )
    return OperationResult(
        status=ResultStatus.FAILED, properties={"reason": "rolled_back"}, error=info, input_index=index
    )


def _redirected(answer: requests.Response) -> TransientError:
    """The error of a part answered with a redirect, naming where it pointed (its origin only)."""
    where = redirect_origin(answer.url, answer.headers.get("Location", "")) or "a place that is not a URL"
    return TransientError(
        f"The $batch answer redirects this record ({answer.status_code}, to {where}); a redirect is not a write's "
        "success, and the record may have been written, so it was not sent again",
        status=answer.status_code,
        ambiguous=True,
    )
