"""The Bulk Delete operation: criteria written as a typed QueryExpression, the job submitted, polled on a fake clock
until it completes or the deadline passes, and every outcome reported as one result per document.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses
from responses import matchers

from connector.dataverse.operations import delete_jobs
from connector.errors import ConfigError
from connector.results import Connection, ResultStatus
from tests.support.clock import FakeClock
from tests.support.dataverse import API, add_description, add_entity, run

JOB = "b8c9d3e2-1111-4c8e-9d3a-0f2b4e6a8c10"
CONTACT = "49B0BE2E-D01C-ED11-B83E-000D3A572421"
SELECT = "asyncoperationid,name,statecode,statuscode,message,friendlymessage,createdon,startedon,completedon"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(delete_jobs, "CLOCK", delete_jobs.JobClock(monotonic=fake, sleep=fake.sleep))
    return fake


def job(state: int, status: int, message: str | None = None) -> dict[str, Any]:
    return {"asyncoperationid": JOB, "name": "purge", "statecode": state, "statuscode": status, "message": message}


def add_job(mocked: responses.RequestsMock, *answers: dict[str, Any]) -> None:
    mocked.add("POST", f"{API}BulkDelete", json={"JobId": JOB})
    for answer in answers:
        mocked.add(
            "GET",
            f"{API}asyncoperations({JOB})",
            match=[matchers.query_param_matcher({"$select": SELECT})],
            json=answer,
        )


CRITERIA = {
    "operator": "or",
    "conditions": [
        {"field": "industrycode", "operator": "eq", "value": "Consulting"},
        {"field": "name", "operator": "begins_with", "parameter": "prefix"},
        {
            "conditions": [
                {"field": "primarycontactid", "operator": "in", "value": [CONTACT]},
                {"field": "revenue", "operator": "not_null"},
                {"field": "numberofemployees", "operator": "ge", "value": 10},
            ]
        },
    ],
}


def test_the_criteria_become_a_typed_query_expression_and_the_job_is_followed(
    mocked: responses.RequestsMock, connection: Connection, clock: FakeClock
) -> None:
    add_entity(mocked)
    add_description(mocked)
    add_job(mocked, job(0, 10), job(2, 20), job(3, 30, "Deleted 4 record(s)."))
    options = {"entity_set": "accounts", "criteria": CRITERIA, "job_name": "purge", "poll_interval_seconds": 7}
    [result] = run(connection, "bulk_delete", options, [{"prefix": "Old "}])
    assert result.status is ResultStatus.SUCCESS, result.error
    assert result.properties == {"job_id": JOB, "job_status": "succeeded"}
    assert result.payload is not None
    assert result.payload["message"] == "Deleted 4 record(s)."
    assert clock.sleeps == [7, 7]
    submitted = json.loads(next(c for c in mocked.calls if c.request.method == "POST").request.body or b"")
    assert submitted["JobName"] == "purge"
    assert submitted["SendEmailNotification"] is False
    [query] = submitted["QuerySet"]
    assert query["EntityName"] == "account"
    assert query["Criteria"] == {
        "FilterOperator": "Or",
        "Conditions": [
            {"AttributeName": "industrycode", "Operator": "Equal", "Values": [{"Value": 7, "Type": "System.Int32"}]},
            {"AttributeName": "name", "Operator": "BeginsWith", "Values": [{"Value": "Old ", "Type": "System.String"}]},
        ],
        "Filters": [
            {
                "FilterOperator": "And",
                "Conditions": [
                    {
                        "AttributeName": "primarycontactid",
                        "Operator": "In",
                        "Values": [{"Value": CONTACT.lower(), "Type": "System.Guid"}],
                    },
                    {"AttributeName": "revenue", "Operator": "NotNull", "Values": []},
                    {
                        "AttributeName": "numberofemployees",
                        "Operator": "GreaterEqual",
                        "Values": [{"Value": 10, "Type": "System.Int32"}],
                    },
                ],
                "Filters": [],
            }
        ],
    }


def test_a_failed_job_and_a_deadline_are_reported_with_the_job(
    mocked: responses.RequestsMock, connection: Connection, clock: FakeClock
) -> None:
    add_entity(mocked)
    add_description(mocked)
    add_job(mocked, job(3, 31, "SQL timeout"))
    add_job(mocked, job(0, 10), job(2, 20), job(2, 20))
    options = {
        "entity_set": "accounts",
        "criteria": {"conditions": [{"field": "name", "operator": "eq", "value": "x"}]},
        "poll_interval_seconds": 30,
        "timeout_seconds": 60,
    }
    failed, late = run(connection, "bulk_delete", options, [{}, {}])
    assert failed.status is ResultStatus.FAILED
    assert failed.error is not None
    assert failed.error.failure_type == "remote"
    assert failed.error.message == f"The BulkDelete job {JOB} ended failed: SQL timeout"
    assert failed.properties == {"job_id": JOB, "job_status": "failed"}
    assert late.status is ResultStatus.FAILED
    assert late.error is not None
    assert late.error.failure_type == "transient"
    assert f"still in_progress after 60 s; it goes on in Dataverse: follow it as asyncoperations({JOB})" in (
        late.error.message
    )
    assert late.properties["reason"] == "deadline"
    assert clock.sleeps == [30, 30]


def test_without_waiting_the_submitted_job_is_the_result(
    mocked: responses.RequestsMock, connection: Connection, clock: FakeClock
) -> None:
    add_entity(mocked)
    add_description(mocked)
    add_job(mocked)
    options = {"entity_set": "accounts", "criteria": {"conditions": [{"field": "name", "operator": "null"}]}}
    [result] = run(connection, "bulk_delete", {**options, "wait": False}, [{}])
    assert result.status is ResultStatus.SUCCESS
    assert result.properties == {"job_id": JOB, "job_status": "submitted"}
    assert clock.sleeps == []


@pytest.mark.parametrize(
    ("criteria", "field"),
    [
        ({"conditions": []}, "options.criteria"),
        ({"conditions": [{"field": "name", "operator": "null", "value": "x"}]}, "options.criteria.conditions[0]"),
        ({"conditions": [{"field": "name", "operator": "eq"}]}, "options.criteria.conditions[0]"),
        ({"conditions": [{"field": "name", "operator": "in", "value": "x"}]}, "options.criteria.conditions[0].value"),
        ({"conditions": [{"conditions": [{"field": "a", "operator": "eq"}]}]}, "options.criteria.conditions[0]"),
    ],
)
def test_criteria_that_cannot_work_are_a_config_error(connection: Connection, criteria: Any, field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        run(connection, "bulk_delete", {"entity_set": "accounts", "criteria": criteria}, [{}])
    assert caught.value.fields[0].startswith(field)


def test_delete_all_allows_empty_criteria(
    mocked: responses.RequestsMock, connection: Connection, clock: FakeClock
) -> None:
    add_entity(mocked)
    add_description(mocked)
    add_job(mocked)
    options = {"entity_set": "accounts", "criteria": {"conditions": []}, "delete_all": True, "wait": False}
    [result] = run(connection, "bulk_delete", options, [{}])
    assert result.status is ResultStatus.SUCCESS


@pytest.mark.parametrize(
    ("condition", "document", "field", "words"),
    [
        ({"field": "nosuch", "operator": "eq", "value": 1}, {}, "options.criteria.conditions[0].field", "no column"),
        ({"field": "_primarycontactid_value", "operator": "null"}, {}, "options.criteria.conditions[0].field", "name"),
        ({"field": "name", "operator": "eq", "parameter": "p"}, {}, "p", "missing from the document"),
        (
            {"field": "primarycontactid", "operator": "eq", "value": "nope"},
            {},
            "options.criteria.conditions[0].value",
            "",
        ),
        (
            {"field": "industrycode", "operator": "eq", "value": "\u00b2"},
            {},
            "options.criteria.conditions[0].value",
            "label",
        ),
        (
            {"field": "industrycode", "operator": "eq", "value": "Nope"},
            {},
            "options.criteria.conditions[0].value",
            "label",
        ),
        ({"field": "name", "operator": "in", "parameter": "p"}, {"p": "x"}, "p", "list of values"),
    ],
)
def test_a_document_whose_criteria_cannot_be_written_fails_before_any_job(
    mocked: responses.RequestsMock,
    connection: Connection,
    condition: dict[str, Any],
    document: dict[str, Any],
    field: str,
    words: str,
) -> None:
    add_entity(mocked)
    add_description(mocked)
    options = {"entity_set": "accounts", "criteria": {"conditions": [condition]}}
    [result] = run(connection, "bulk_delete", options, [document])
    assert result.status is ResultStatus.FAILED
    assert result.error is not None
    assert result.error.field == field
    assert words in result.error.message
