"""Deleting many rows as Dataverse offers it: DeleteMultiple on elastic tables only, DELETE parts in $batch, and the
asynchronous BulkDelete job polled through asyncoperations.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from dataverse_sandbox.dataverse.storage import Storage
from tests.support.sandbox import WebApiSession


def batch_body(boundary: str, deletes: list[str]) -> str:
    parts = [
        f"--{boundary}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        f"DELETE /api/data/v9.2/{target} HTTP/1.1\r\n\r\n"
        for target in deletes
    ]
    return "".join(parts) + f"--{boundary}--\r\n"


def test_delete_multiple_works_on_the_elastic_table_only(api: WebApiSession) -> None:
    ids = [api.create("sample_events", {"sample_name": f"e{i}", "partitionid": "p1"}) for i in range(3)]
    targets = [{"@odata.type": "Microsoft.Dynamics.CRM.sample_event", "sample_eventid": i} for i in ids[:2]]
    targets.append({"@odata.type": "Microsoft.Dynamics.CRM.sample_event", "sample_eventid": str(uuid.uuid4())})
    deleted = api.post("sample_events/Microsoft.Dynamics.CRM.DeleteMultiple", json={"Targets": targets})
    assert deleted.status_code == 204, deleted.text
    left = {row["sample_eventid"] for row in api.get("sample_events").json()["value"]}
    assert ids[2] in left
    assert not left & set(ids[:2])
    account = api.create("accounts", {"name": "standard"})
    refused = api.post(
        "accounts/Microsoft.Dynamics.CRM.DeleteMultiple",
        json={"Targets": [{"@odata.type": "Microsoft.Dynamics.CRM.account", "accountid": account}]},
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == "DeleteMultiple has not yet been implemented."
    assert api.get(f"accounts({account})").status_code == 200


def test_batch_delete_parts_answer_204_each(api: WebApiSession) -> None:
    ids = [api.create("accounts", {"name": f"batch delete {i}"}) for i in range(3)]
    boundary = f"batch_{uuid.uuid4()}"
    answer = api.post(
        "$batch",
        data=batch_body(boundary, [f"accounts({i})" for i in ids] + [f"accounts({uuid.uuid4()})"]),
        headers={"Content-Type": f"multipart/mixed; boundary={boundary}", "Prefer": "odata.continue-on-error"},
    )
    assert answer.status_code == 200
    assert answer.text.count("HTTP/1.1 204 No Content") == 3
    assert answer.text.count("HTTP/1.1 404") == 1
    assert all(api.get(f"accounts({i})").status_code == 404 for i in ids)


def bulk_delete_body(conditions: list[dict[str, Any]], entity: str = "account") -> dict[str, Any]:
    return {
        "JobName": "Bulk delete test",
        "SendEmailNotification": False,
        "ToRecipients": [],
        "CCRecipients": [],
        "RecurrencePattern": "",
        "StartDateTime": "2024-01-01T00:00:00Z",
        "QuerySet": [
            {
                "@odata.type": "Microsoft.Dynamics.CRM.QueryExpression",
                "EntityName": entity,
                "ColumnSet": {"AllColumns": False, "Columns": []},
                "Criteria": {"FilterOperator": "And", "Conditions": conditions},
            }
        ],
    }


def wait_for_job(api: WebApiSession, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        job: dict[str, Any] = api.get(f"asyncoperations({job_id})").json()
        if job["statecode"] == 3 or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def test_bulk_delete_runs_as_a_job_polled_through_asyncoperations(api: WebApiSession) -> None:
    marker = uuid.uuid4().hex[:8]
    doomed = [api.create("accounts", {"name": f"{marker} doomed {i}"}) for i in range(4)]
    kept = api.create("accounts", {"name": f"{marker} kept"})
    condition = {
        "AttributeName": "accountid",
        "Operator": "In",
        "Values": [{"Value": i, "Type": "System.Guid"} for i in doomed],
    }
    submitted = api.post("BulkDelete", json=bulk_delete_body([condition]))
    assert submitted.status_code == 200, submitted.text
    job_id = submitted.json()["JobId"]
    job = wait_for_job(api, job_id)
    assert (job["statecode"], job["statuscode"], job["operationtype"]) == (3, 30, 13)
    assert job["name"] == "Bulk delete test"
    assert "4" in job["message"]
    assert all(api.get(f"accounts({i})").status_code == 404 for i in doomed)
    assert api.get(f"accounts({kept})").status_code == 200
    by_prefix = {"AttributeName": "name", "Operator": "BeginsWith", "Values": [{"Value": marker}]}
    second = wait_for_job(api, api.post("BulkDelete", json=bulk_delete_body([by_prefix])).json()["JobId"])
    assert second["statuscode"] == 30
    assert api.get(f"accounts({kept})").status_code == 404


def test_bulk_delete_refuses_bad_queries_at_submission(api: WebApiSession, read_only_api: WebApiSession) -> None:
    unknown = {"AttributeName": "nosuch", "Operator": "Equal", "Values": [{"Value": 1}]}
    assert api.post("BulkDelete", json=bulk_delete_body([unknown])).status_code == 400
    operator = {"AttributeName": "name", "Operator": "Sounds", "Values": [{"Value": "x"}]}
    assert api.post("BulkDelete", json=bulk_delete_body([operator])).status_code == 400
    assert api.post("BulkDelete", json=bulk_delete_body([], entity="nosuch")).status_code == 400
    assert read_only_api.post("BulkDelete", json=bulk_delete_body([])).status_code == 403


def test_system_jobs_are_read_only(api: WebApiSession) -> None:
    assert api.post("asyncoperations", json={"name": "mine"}).status_code == 405


def test_every_version_is_drawn_inside_the_transaction_that_stores_it(
    api: WebApiSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A change-tracking read between drawing a row's version and storing the row would hand out a delta token past a
    # row not yet written, which no later delta would list.
    drawn_inside: list[bool] = []
    draw = Storage.next_version

    def recording(storage: Storage) -> int:
        drawn_inside.append(storage.in_transaction)
        return draw(storage)

    monkeypatch.setattr(Storage, "next_version", recording)
    marker = uuid.uuid4().hex[:8]
    doomed = api.create("accounts", {"name": f"{marker} doomed"})
    condition = {"AttributeName": "accountid", "Operator": "In", "Values": [{"Value": doomed, "Type": "System.Guid"}]}
    submitted = api.post("BulkDelete", json=bulk_delete_body([condition]))
    assert submitted.status_code == 200, submitted.text
    wait_for_job(api, submitted.json()["JobId"])
    # The create, the job's row, its start, the deletion, its end.
    assert len(drawn_inside) >= 5
    assert all(drawn_inside)
