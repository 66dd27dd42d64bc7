"""The Bulk Delete operation: Dataverse's asynchronous ``BulkDelete`` job, by query, submitted, polled and reported.

For each input document: ``POST BulkDelete`` with one ``QueryExpression`` built from the ``criteria`` option (the
object type's records that match) → ``{"JobId": …}``; then, unless ``wait`` is off, ``GET asyncoperations(<JobId>)``
every ``poll_interval_seconds`` until the system job completes (``statecode`` 3) or ``timeout_seconds`` pass. The
document's result says what became of the job:

* ``success`` when it succeeded (``statuscode`` 30), or at once when ``wait`` is off (``job_status``
  ``submitted``); the payload is the job (``asyncoperationid``, ``name``, ``statuscode``, ``message``, times);
* ``failed`` when it failed or was cancelled (31, 32), with the job's message; or when the deadline passed first
  (``reason`` ``deadline``): the job goes on in Dataverse, and the result names it so it can be followed.

Criteria are conditions joined by ``and``/``or`` groups; each compares one column by one of the operators of
:data:`CONDITION_OPERATORS` (``eq`` → ``Equal``, ``in`` → ``In``, ``null`` → ``Null`` …) with a static value, the
document member named by ``parameter``, or none. Values are typed by the column's metadata (``System.String``,
``System.Guid``, ``System.Int32`` …; choice columns take labels too); a column the table does not have fails the
document. At least one condition is required: deleting a whole table takes a deliberate ``delete_all``.

Waiting uses :data:`CLOCK` (a monotonic clock and a sleep), which tests replace. Not for deleting records one by one
or in ``$batch`` / ``DeleteMultiple`` requests: :mod:`connector.dataverse.bulk.deletes`.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from connector.context import RuntimeContext
from connector.dataverse.metadata.tables import EntityDescription
from connector.dataverse.odata.answers import json_body
from connector.dataverse.odata.literals import LiteralError, guid_of
from connector.dataverse.operations.document_headers import for_document
from connector.dataverse.operations.inputs import DocumentError, as_document, document_query_parameters
from connector.dataverse.operations.options import CommonOptions, OperationOptions, option_schema, with_defaults
from connector.dataverse.operations.outcomes import error_result, properties_of, success_result
from connector.dataverse.operations.running import OperationContext, guarded
from connector.errors import FailureType, FieldError
from connector.numerals import integer
from connector.results import ErrorInfo, OperationResult, ResultStatus

__all__ = [
    "CLOCK",
    "CONDITION_OPERATORS",
    "Criteria",
    "CriteriaCondition",
    "DeleteJobOptions",
    "JobClock",
    "run_delete_jobs",
]

CONDITION_OPERATORS: Final[Mapping[str, str]] = {
    "eq": "Equal",
    "ne": "NotEqual",
    "gt": "GreaterThan",
    "ge": "GreaterEqual",
    "lt": "LessThan",
    "le": "LessEqual",
    "in": "In",
    "not_in": "NotIn",
    "null": "Null",
    "not_null": "NotNull",
    "like": "Like",
    "begins_with": "BeginsWith",
    "ends_with": "EndsWith",
}
"""The criteria's operators and the ``ConditionOperator`` each becomes."""
_NO_VALUE: Final = frozenset({"null", "not_null"})
_LISTS: Final = frozenset({"in", "not_in"})
_SYSTEM_TYPES: Final[Mapping[str, str]] = {
    "String": "System.String",
    "Memo": "System.String",
    "Integer": "System.Int32",
    "BigInt": "System.Int64",
    "Decimal": "System.Decimal",
    "Money": "System.Decimal",
    "Double": "System.Double",
    "Boolean": "System.Boolean",
    "DateTime": "System.DateTime",
    "Picklist": "System.Int32",
    "State": "System.Int32",
    "Status": "System.Int32",
    "Uniqueidentifier": "System.Guid",
    "Lookup": "System.Guid",
    "Customer": "System.Guid",
    "Owner": "System.Guid",
}
_JOB_COLUMNS: Final = (
    "asyncoperationid",
    "name",
    "statecode",
    "statuscode",
    "message",
    "friendlymessage",
    "createdon",
    "startedon",
    "completedon",
)
_COMPLETED: Final = 3
_SUCCEEDED: Final = 30
_STATUS_NAMES: Final[Mapping[int, str]] = {
    0: "waiting_for_resources",
    10: "waiting",
    20: "in_progress",
    21: "pausing",
    22: "canceling",
    30: "succeeded",
    31: "failed",
    32: "canceled",
}


@dataclass(frozen=True)
class JobClock:
    """How the operation waits between polls.

    :param monotonic: seconds on a monotonic clock.
    :param sleep: waits that many seconds.
    """

    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


CLOCK = JobClock()
"""The clock polls use; tests replace it (``monkeypatch.setattr(delete_jobs, "CLOCK", …)``)."""


@dataclass(frozen=True)
class CriteriaCondition:
    """One condition of the criteria.

    :param field: the column's logical name.
    :param operator: one of :data:`CONDITION_OPERATORS`.
    :param value: the static value (a list for ``in`` / ``not_in``), when given.
    :param parameter: the document member holding the value, instead.
    :param path: where it sits in the options (for messages).
    """

    field: str
    operator: str
    value: Any
    parameter: str | None
    path: str


@dataclass(frozen=True)
class Criteria:
    """Conditions and nested groups joined by one operator.

    :param operator: ``and`` or ``or``.
    :param items: the conditions and groups, in order.
    """

    operator: Literal["and", "or"]
    items: tuple[CriteriaCondition | Criteria, ...]

    def conditions(self) -> Iterator[CriteriaCondition]:
        """:returns: every condition, nested ones included, in order."""
        for item in self.items:
            if isinstance(item, Criteria):
                yield from item.conditions()
            else:
                yield item


def _criteria(value: Mapping[str, Any], default_operator: str, path: str) -> Criteria:
    items: list[CriteriaCondition | Criteria] = []
    for index, item in enumerate(value["conditions"]):
        where = f"{path}.conditions[{index}]"
        if "conditions" in item:
            items.append(_criteria(item, default_operator, where))
        else:
            items.append(
                CriteriaCondition(
                    str(item["field"]), str(item["operator"]), item.get("value"), item.get("parameter"), where
                )
            )
    return Criteria(value.get("operator", default_operator), tuple(items))


@dataclass(frozen=True, kw_only=True)
class DeleteJobOptions(OperationOptions):
    """The Bulk Delete operation's options.

    :param criteria: which records the job deletes.
    :param delete_all: allow criteria without any condition (every record of the table).
    :param job_name: the system job's name; ``None``: derived from the entity set.
    :param wait: wait for the job to finish.
    :param poll_interval_seconds: seconds between polls.
    :param timeout_seconds: how long to wait before reporting the job as still running.
    """

    criteria: Criteria
    delete_all: bool
    job_name: str | None
    wait: bool
    poll_interval_seconds: int
    timeout_seconds: int

    @classmethod
    def from_values(cls, operation: str, values: Mapping[str, Any]) -> DeleteJobOptions:
        """:returns: the options of validated values (``operation`` is ``bulk_delete``; defaults filled in)."""
        group = option_schema(operation)["$defs"]["criteria_group"]
        default_operator = group["properties"]["operator"]["default"]
        return cls(
            common=CommonOptions.from_values(values),
            criteria=_criteria(with_defaults(group, values["criteria"]), default_operator, "options.criteria"),
            delete_all=bool(values["delete_all"]),
            job_name=str(values["job_name"]) if values.get("job_name") else None,
            wait=bool(values["wait"]),
            poll_interval_seconds=int(values["poll_interval_seconds"]),
            timeout_seconds=int(values["timeout_seconds"]),
        )

    def problems(self) -> list[FieldError]:
        """:returns: conditions whose value does not fit their operator, and criteria that would empty the table
        without ``delete_all``.
        """
        errors: list[FieldError] = []
        conditions = list(self.criteria.conditions())
        if not conditions and not self.delete_all:
            errors.append(
                FieldError(
                    "options.criteria",
                    "has no condition, so the job would delete every record of the table; add a condition, or turn "
                    "on delete_all to mean it",
                )
            )
        for condition in conditions:
            given = condition.value is not None or condition.parameter is not None
            if condition.operator in _NO_VALUE and given:
                errors.append(FieldError(condition.path, f"{condition.operator} takes no value"))
            elif condition.operator not in _NO_VALUE and not given:
                errors.append(FieldError(condition.path, f"{condition.operator} needs a value or a parameter"))
            elif condition.operator in _LISTS and condition.value is not None and not _non_empty_list(condition.value):
                errors.append(FieldError(f"{condition.path}.value", f"{condition.operator} needs a list of values"))
        return errors


def run_delete_jobs(
    context: OperationContext[DeleteJobOptions], documents: Iterable[Any], runtime: RuntimeContext
) -> Iterator[OperationResult]:
    """Submit (and follow) one ``BulkDelete`` job per input document.

    :param context: the run.
    :param documents: the input documents (each may hold ``parameter`` values).
    :param runtime: the host's runtime context (unused: a job's progress is the service's).
    :returns: one result per document, in order.
    """
    for index, raw in enumerate(documents):
        yield guarded(index, functools.partial(_one_job, context, index, raw))


def _one_job(context: OperationContext[DeleteJobOptions], index: int, raw: Any) -> OperationResult:
    document = as_document(raw)
    context = for_document(context, document)
    options = context.options
    description = context.metadata.describe(context.entity_set)
    query = {
        "@odata.type": "Microsoft.Dynamics.CRM.QueryExpression",
        "EntityName": description.entity.logical_name,
        "ColumnSet": {"AllColumns": False, "Columns": []},
        "Criteria": _filter_expression(options.criteria, description, document),
    }
    body = {
        "QuerySet": [query],
        "JobName": options.job_name or f"dynamics365-ce bulk delete of {context.entity_set}",
        "SendEmailNotification": False,
        "ToRecipients": [],
        "CCRecipients": [],
        "RecurrencePattern": "",
        "StartDateTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    parameters = document_query_parameters(document, context.common.query_parameters)
    response = context.client.send("POST", "BulkDelete", query=parameters, json=body)
    if response.status_code >= 400:
        return error_result(
            context.client.transport, response, index, application_errors=context.common.return_application_errors
        )
    answer = json_body(response)
    job_id = answer.get("JobId") if isinstance(answer, Mapping) else None
    if not isinstance(job_id, str):
        return _failure(index, "The service accepted the BulkDelete job without naming it (no JobId)", {})
    if not options.wait:
        payload = {"asyncoperationid": job_id, "name": body["JobName"]}
        return success_result(payload, properties_of(job_id=job_id, job_status="submitted"), index)
    return _follow(context, index, job_id)


def _follow(context: OperationContext[DeleteJobOptions], index: int, job_id: str) -> OperationResult:
    options = context.options
    deadline = CLOCK.monotonic() + options.timeout_seconds
    path = f"asyncoperations({job_id})"
    while True:
        response = context.client.send("GET", path, query=[("$select", ",".join(_JOB_COLUMNS))])
        if response.status_code >= 400:
            return error_result(
                context.client.transport,
                response,
                index,
                application_errors=context.common.return_application_errors,
                properties=properties_of(job_id=job_id),
            )
        job = json_body(response)
        if not isinstance(job, Mapping):
            job = {}
        state, status = job.get("statecode"), job.get("statuscode")
        status_name = _STATUS_NAMES.get(status, str(status)) if isinstance(status, int) else "unknown"
        tracked = properties_of(job_id=job_id, job_status=status_name)
        payload = {name: job.get(name) for name in _JOB_COLUMNS if name in job}
        if state == _COMPLETED and status == _SUCCEEDED:
            return success_result(payload, tracked, index)
        if state == _COMPLETED:
            message = job.get("message") or job.get("friendlymessage") or "no message"
            return _failure(index, f"The BulkDelete job {job_id} ended {status_name}: {message}", tracked, payload)
        if CLOCK.monotonic() + options.poll_interval_seconds > deadline:
            return _failure(
                index,
                f"The BulkDelete job {job_id} was still {status_name} after {options.timeout_seconds} s; it goes on "
                f"in Dataverse: follow it as asyncoperations({job_id})",
                {**tracked, "reason": "deadline"},
                payload,
                transient=True,
            )
        CLOCK.sleep(options.poll_interval_seconds)


def _non_empty_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value)


def _failure(
    index: int,
    message: str,
    properties: Mapping[str, str],
    payload: Mapping[str, Any] | None = None,
    *,
    transient: bool = False,
) -> OperationResult:
    kind = FailureType.TRANSIENT if transient else FailureType.REMOTE
    info = ErrorInfo(message=message, failure_type=kind.value)
    return OperationResult(
        status=ResultStatus.FAILED, payload=payload, properties=dict(properties), error=info, input_index=index
    )


def _filter_expression(
    criteria: Criteria, description: EntityDescription, document: Mapping[str, Any]
) -> dict[str, Any]:
    conditions: list[dict[str, Any]] = []
    filters: list[dict[str, Any]] = []
    for item in criteria.items:
        if isinstance(item, Criteria):
            filters.append(_filter_expression(item, description, document))
        else:
            conditions.append(_condition_expression(item, description, document))
    joiner = "Or" if criteria.operator == "or" else "And"
    return {"FilterOperator": joiner, "Conditions": conditions, "Filters": filters}


def _condition_expression(
    condition: CriteriaCondition, description: EntityDescription, document: Mapping[str, Any]
) -> dict[str, Any]:
    attribute = description.attribute(condition.field)
    if attribute is None or attribute.logical_name != condition.field:
        raise DocumentError(
            f"{condition.path}.field",
            f"{description.entity.entity_set} has no column {condition.field!r} (criteria name columns by their "
            "logical name, e.g. primarycontactid, not _primarycontactid_value)",
        )
    operator = CONDITION_OPERATORS[condition.operator]
    if condition.operator in _NO_VALUE:
        return {"AttributeName": attribute.logical_name, "Operator": operator, "Values": []}
    value = condition.value
    where = f"{condition.path}.value"
    if condition.parameter is not None:
        where = condition.parameter
        if condition.parameter not in document:
            raise DocumentError(condition.parameter, f"is missing from the document ({condition.path} reads it)")
        value = document[condition.parameter]
    values: Sequence[Any] = value if condition.operator in _LISTS else [value]
    if condition.operator in _LISTS and not _non_empty_list(value):
        raise DocumentError(where, f"{condition.operator} needs a list of values")
    system_type = _SYSTEM_TYPES.get(attribute.attribute_type, "System.String")
    typed = [{"Value": _value(item, description, condition, where), "Type": system_type} for item in values]
    return {"AttributeName": attribute.logical_name, "Operator": operator, "Values": typed}


def _value(value: Any, description: EntityDescription, condition: CriteriaCondition, where: str) -> Any:
    attribute = description.attribute(condition.field)
    attribute_type = attribute.attribute_type if attribute is not None else ""
    if value is None or isinstance(value, dict | list):
        raise DocumentError(where, f"{value!r} is not a value {condition.operator} can compare with")
    if _SYSTEM_TYPES.get(attribute_type) == "System.Guid":
        try:
            return guid_of(value)
        except LiteralError as error:
            raise DocumentError(where, str(error)) from None
    if attribute_type in ("Picklist", "State", "Status") and isinstance(value, str):
        found = description.option_value(condition.field, value)
        if found is None:
            found = integer(value)
        if found is None:
            raise DocumentError(where, f"{value!r} is not a label of the choice column {condition.field}")
        return found
    return value
