"""``BulkDelete``: an asynchronous job that deletes every row a query matches, polled through ``asyncoperations``.

Microsoft Learn, "Delete data in bulk" (power-apps/developer/data-platform/delete-data-bulk) and the ``BulkDelete``
action reference: ``POST /BulkDelete`` with ``QuerySet`` (``QueryExpression`` objects), ``JobName``,
``SendEmailNotification``, ``ToRecipients``, ``CCRecipients``, ``RecurrencePattern``, ``StartDateTime`` →
``200 {"JobId": <asyncoperationid>}``. The job is a system job (``asyncoperation``, operation type 13): waiting
(``statecode`` 0), in progress (2, ``statuscode`` 20), then completed (3) with ``statuscode`` 30 (succeeded) or 31
(failed, ``message`` says why). A client polls ``GET /asyncoperations(<JobId>)``.

The sandbox runs the job on a background thread at once (``StartDateTime`` and ``RecurrencePattern`` are accepted
and ignored; no e-mail is sent). Conditions supported in ``Criteria``: ``Equal``, ``NotEqual``, ``In``,
``NotIn``, ``Null``, ``NotNull``, ``GreaterThan``, ``GreaterEqual``, ``LessThan``, ``LessEqual``, ``Like``,
``BeginsWith``, ``EndsWith``, with ``And``/``Or`` and nested ``Filters``; anything else is a 400 when submitted.
Not for ``DeleteMultiple`` (elastic tables, synchronous): see :mod:`.bulk`.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .errors import DataverseError, bad_request
from .metadata import AttributeKind, EntityMeta
from .storage import Row
from .values import format_timestamp, parse_guid

if TYPE_CHECKING:
    from .context import Call, Service

__all__ = ["JobRunner", "bulk_delete"]

logger = logging.getLogger(__name__)

_COMPARISONS = {
    "Equal": "=",
    "NotEqual": "<>",
    "GreaterThan": ">",
    "GreaterEqual": ">=",
    "LessThan": "<",
    "LessEqual": "<=",
}
_PATTERNS = {"Like": "{}", "BeginsWith": "{}%", "EndsWith": "%{}"}


def _value(entity: EntityMeta, column: str, item: Any) -> Any:
    value = item.get("Value") if isinstance(item, dict) else item
    attribute = entity.by_logical_name(column)
    if attribute is not None and attribute.kind in (AttributeKind.UNIQUEIDENTIFIER, AttributeKind.LOOKUP):
        guid = parse_guid(str(value))
        if guid is None:
            raise bad_request(f"The value '{value}' of the condition on '{column}' is not a GUID.")
        return guid
    if isinstance(value, bool):
        return int(value)
    return value


def _condition(entity: EntityMeta, condition: Any, params: list[Any]) -> str:
    if not isinstance(condition, dict):
        raise bad_request("Each condition of a QueryExpression must be a ConditionExpression object.")
    name = str(condition.get("AttributeName", ""))
    attribute = entity.by_logical_name(name)
    if attribute is None:
        raise bad_request(f"'{entity.logical_name}' entity doesn't contain attribute with Name = '{name}'.")
    column = attribute.column
    operator = str(condition.get("Operator", ""))
    values = condition.get("Values") or []
    if not isinstance(values, list):
        raise bad_request("The 'Values' of a condition must be an array.")
    if operator in ("Null", "NotNull"):
        return f"{column} IS {'NOT ' if operator == 'NotNull' else ''}NULL"
    if operator in ("In", "NotIn"):
        if not values:
            raise bad_request(f"The condition '{operator}' on '{name}' needs at least one value.")
        params.extend(_value(entity, name, item) for item in values)
        return f"{column} {'NOT ' if operator == 'NotIn' else ''}IN ({', '.join('?' for _ in values)})"
    if len(values) != 1:
        raise bad_request(f"The condition '{operator}' on '{name}' needs exactly one value.")
    if operator in _COMPARISONS:
        params.append(_value(entity, name, values[0]))
        return f"{column} {_COMPARISONS[operator]} ?"
    if operator in _PATTERNS:
        params.append(_PATTERNS[operator].format(_value(entity, name, values[0])))
        return f"{column} LIKE ?"
    raise bad_request(f"The condition operator '{operator}' is not supported by the sandbox's BulkDelete.")


def _filter(entity: EntityMeta, criteria: Any, params: list[Any]) -> str:
    if criteria is None:
        return "1 = 1"
    if not isinstance(criteria, dict):
        raise bad_request("'Criteria' must be a FilterExpression object.")
    joiner = " OR " if str(criteria.get("FilterOperator", "And")) == "Or" else " AND "
    parts = [_condition(entity, c, params) for c in criteria.get("Conditions") or []]
    parts += [_filter(entity, f, params) for f in criteria.get("Filters") or []]
    return "(" + joiner.join(parts) + ")" if parts else "1 = 1"


def _compile(service: Service, query: Any) -> tuple[EntityMeta, str, list[Any]]:
    if not isinstance(query, dict):
        raise bad_request("Each item of 'QuerySet' must be a QueryExpression object.")
    name = str(query.get("EntityName", ""))
    entity = service.catalog.get(name)
    if entity is None:
        raise bad_request(f"The entity with a name = '{name}' was not found in the MetadataCache.")
    params: list[Any] = []
    return entity, _filter(entity, query.get("Criteria"), params), params


class JobRunner:
    """Runs ``BulkDelete`` jobs on background threads and records them as ``asyncoperation`` rows.

    :param service: the service whose storage the jobs change.
    """

    def __init__(self, service: Service) -> None:
        self._service = service
        self._threads: list[threading.Thread] = []

    def submit(self, name: str, queries: list[tuple[EntityMeta, str, list[Any]]]) -> str:
        """Record a waiting job and start it. :returns: its ``asyncoperationid``."""
        job_id = str(uuid.uuid4())
        storage = self._service.storage
        jobs = self._service.catalog["asyncoperation"]
        now = format_timestamp(self._service.clock.now())
        row: Row = dict.fromkeys(jobs.columns)
        row.update(
            {
                "asyncoperationid": job_id,
                "name": name,
                "operationtype": 13,
                "statecode": 0,
                "statuscode": 0,
                "createdon": now,
                "modifiedon": now,
            }
        )
        with storage.transaction():  # the version drawn with the insert, under one lock
            row["versionnumber"] = storage.next_version()
            storage.insert(jobs, row)
        thread = threading.Thread(target=self._run, args=(job_id, queries), name=f"bulkdelete-{job_id}", daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        return job_id

    def wait(self, timeout: float = 10) -> None:
        """Wait for the running jobs to finish (tests, stop)."""
        for thread in list(self._threads):
            thread.join(timeout)

    def _set(self, job_id: str, **changes: Any) -> None:
        storage = self._service.storage
        changes["modifiedon"] = format_timestamp(self._service.clock.now())
        with storage.transaction():  # the version drawn with the update, under one lock
            changes["versionnumber"] = storage.next_version()
            storage.update(self._service.catalog["asyncoperation"], job_id, changes)

    def _run(self, job_id: str, queries: list[tuple[EntityMeta, str, list[Any]]]) -> None:
        storage = self._service.storage
        try:
            self._set(job_id, statecode=2, statuscode=20, startedon=format_timestamp(self._service.clock.now()))
            deleted = 0
            with storage.transaction():
                for entity, where, params in queries:
                    for row in storage.fetch_all(entity, where, params):
                        storage.delete(entity, str(row[entity.primary_id]))
                        deleted += 1
            self._set(
                job_id,
                statecode=3,
                statuscode=30,
                completedon=format_timestamp(self._service.clock.now()),
                message=f"Deleted {deleted} record(s).",
                friendlymessage=f"{deleted} record(s) deleted.",
            )
        except Exception as exc:  # the job fails, the server goes on
            logger.warning("bulk delete job %s failed: %s", job_id, exc)
            try:
                self._set(job_id, statecode=3, statuscode=31, message=str(exc)[:2000])
            except Exception:  # storage closed at stop
                logger.debug("could not record the failure of job %s", job_id, exc_info=True)


def bulk_delete(call: Call, _row: Row | None, params: Mapping[str, Any]) -> dict[str, Any]:
    """``BulkDelete``: check every query, then submit the job. :returns: ``JobId``."""
    query_set = params.get("QuerySet")
    if not isinstance(query_set, list) or not query_set:
        raise bad_request("'QuerySet' must be a non-empty array of QueryExpression objects.")
    compiled = [_compile(call.service, query) for query in query_set]
    for entity, _, _ in compiled:
        call.require_write(entity, "Delete")
    name = params.get("JobName")
    if not isinstance(name, str) or not name.strip():
        raise DataverseError(400, "0x80040203", "'JobName' is required.")
    jobs: JobRunner = call.service.jobs
    return {"JobId": jobs.submit(name, compiled)}
