"""Writing chunks: bulk action results, narrowing a refused bulk action down through $batch, switching to $batch for a
table without the action, change sets rolled back, parts left unanswered, batches refused as a whole.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
import responses

from connector.dataverse.client import DataverseClient
from connector.results import Connection, ResultStatus
from connector.retry import RetryPolicy
from tests.support.dataverse import API, add_entity, first_requests_hold, run, unanswered_requests

MULTIPLE = f"{API}accounts/Microsoft.Dynamics.CRM.CreateMultiple"
BATCH = f"{API}$batch"
IDS = ["00000000-0000-0000-0000-00000000000a", "00000000-0000-0000-0000-00000000000b"]
TOO_LONG = {"error": {"code": "0x80044331", "message": "A validation error occurred."}}
STEADY = {"min_batch_size": 2, "initial_concurrency": 1, "max_concurrency": 1}


def batch_answer(*parts: tuple[int, dict[str, str], Any], status: int = 200) -> dict[str, Any]:
    """A ``responses`` answer: a multipart batch response, part ``n`` with ``Content-ID: n``."""
    chunks = []
    for number, (code, headers, body) in enumerate(parts, 1):
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        text = json.dumps(body) if body is not None else ""
        chunks.append(
            f"--batchresponse_x\r\nContent-Type: application/http\r\nContent-ID: {number}\r\n\r\n"
            f"HTTP/1.1 {code} Reason\r\n{head}\r\n{text}\r\n"
        )
    return {
        "body": "".join(chunks) + "--batchresponse_x--\r\n",
        "status": status,
        "content_type": "multipart/mixed; boundary=batchresponse_x",
    }


def created(record_id: str) -> tuple[int, dict[str, str], None]:
    return 204, {"OData-EntityId": f"{API}accounts({record_id})"}, None


def targets_of(call: Any) -> list[dict[str, Any]]:
    targets: list[dict[str, Any]] = json.loads(call.request.body)["Targets"]
    return targets


def test_create_multiple_gives_each_record_its_id_in_order(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    add_entity(mocked)
    mocked.add("POST", MULTIPLE, json={"Ids": IDS})
    options = {"entity_set": "accounts", "client_keys": "never", "bulk": STEADY}
    first, second = run(connection, "create", options, [{"name": "a"}, {"name": "b"}])
    assert [target["name"] for target in targets_of(mocked.calls[1])] == ["a", "b"]
    assert first.payload == {"@odata.editLink": f"accounts({IDS[0]})", "accountid": IDS[0]}
    assert second.properties == {
        "id": IDS[1],
        "entity_url": f"{API}accounts({IDS[1]})",
        "http_status": "200",
        "bulk": "CreateMultiple",
    }
    assert [first.input_index, second.input_index] == [0, 1]


def test_a_refused_bulk_action_is_narrowed_down_so_only_the_bad_record_fails(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    add_entity(mocked)
    mocked.add("POST", MULTIPLE, status=400, json=TOO_LONG)
    mocked.add(
        "POST",
        BATCH,
        **batch_answer(created(IDS[0]), (400, {"Content-Type": "application/json"}, TOO_LONG), created(IDS[1])),
    )
    options = {"entity_set": "accounts", "bulk": STEADY}
    results = run(connection, "create", options, [{"name": "a"}, {"name": "x" * 300}, {"name": "c"}])
    assert [result.status for result in results] == [ResultStatus.SUCCESS, ResultStatus.FAILED, ResultStatus.SUCCESS]
    assert results[1].error is not None
    assert results[1].error.message == "(0x80044331)A validation error occurred.[400]"
    assert results[1].properties["bulk"] == "$batch"
    batch = mocked.calls[2].request
    assert batch.headers["Prefer"] == "odata.continue-on-error"
    assert batch.headers["Content-Type"].startswith("multipart/mixed; boundary=batch_")
    sent_keys = [target["accountid"] for target in targets_of(mocked.calls[1])]
    assert results[1].properties["id"] == sent_keys[1]  # the same client key in both attempts


def test_a_table_without_the_action_switches_the_run_to_batch(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    add_entity(mocked)
    unknown = {"error": {"code": "0x80060888", "message": "Resource not found for the segment 'CreateMultiple'."}}
    mocked.add("POST", MULTIPLE, status=404, json=unknown)
    mocked.add("POST", BATCH, **batch_answer(created(IDS[0]), created(IDS[1])))
    mocked.add("POST", BATCH, **batch_answer(created(IDS[0]), created(IDS[1])))
    options = {"entity_set": "accounts", "bulk": {**STEADY, "batch_size": 2}}
    results = run(connection, "create", options, [{"name": str(n)} for n in range(4)])
    assert all(result.status is ResultStatus.SUCCESS for result in results)
    assert [call.request.url for call in list(mocked.calls)[1:]] == [MULTIPLE, BATCH, BATCH]


def test_in_multiple_mode_a_table_without_the_action_fails_its_records(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    add_entity(mocked)
    mocked.add("POST", MULTIPLE, status=405, json={"error": {"code": "0x80060888", "message": "not allowed"}})
    options = {"entity_set": "accounts", "bulk": {**STEADY, "mode": "multiple"}}
    results = run(connection, "create", options, [{"name": "a"}, {"name": "b"}])
    assert [result.status for result in results] == [ResultStatus.FAILED] * 2


def test_a_failed_change_set_fails_its_culprit_and_rolls_the_others_back(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    add_entity(mocked)
    mocked.add(
        "POST",
        BATCH,
        status=400,
        body=batch_answer((400, {"Content-Type": "application/json"}, TOO_LONG), status=400)["body"].replace(
            "Content-ID: 1", "Content-ID: 2"
        ),
        content_type="multipart/mixed; boundary=batchresponse_x",
    )
    options = {"entity_set": "accounts", "bulk": {**STEADY, "all_or_nothing": True}}
    results = run(connection, "create", options, [{"name": "a"}, {"name": "x" * 300}, {"name": "c"}])
    assert [result.status for result in results] == [ResultStatus.FAILED] * 3
    assert results[1].error is not None
    assert results[1].error.code == "0x80044331"
    assert [results[0].properties["reason"], results[2].properties["reason"]] == ["rolled_back"] * 2
    assert results[0].error is not None
    assert results[0].error.message == "Not written: its change set was rolled back because document 1 failed"
    assert "Prefer" not in mocked.calls[1].request.headers
    assert "boundary=changeset_" in str(mocked.calls[1].request.body)


@pytest.mark.parametrize("atomic", [False, True], ids=["parts", "change set"])
def test_a_part_answered_with_a_redirect_is_never_a_success(
    mocked: responses.RequestsMock, connection: Connection, atomic: bool
) -> None:
    # A 302 inside a $batch answer read as written before (below 400), with the redirect's target as the record's URL.
    # It is as uncertain as a part left unanswered; the other parts keep their own answers (a change set answered
    # below 400 throughout was committed).
    add_entity(mocked)
    moved = (302, {"Location": f"https://elsewhere.example/api/data/v9.2/accounts({IDS[1]})"}, None)
    mocked.add("POST", BATCH, **batch_answer(created(IDS[0]), moved))
    bulk = {**STEADY, "mode": "batch", "all_or_nothing": atomic}
    results = run(connection, "create", {"entity_set": "accounts", "client_keys": "never", "bulk": bulk}, [{}, {}])
    assert results[0].status is ResultStatus.SUCCESS
    assert results[0].properties["id"] == IDS[0]
    assert results[1].status is ResultStatus.UNKNOWN
    assert results[1].error is not None
    assert "redirects this record (302, to https://elsewhere.example)" in results[1].error.message
    assert all("elsewhere.example" not in value for value in results[1].properties.values())
    assert len(mocked.calls) == 2  # the metadata and the $batch: nothing sent again


def test_a_record_the_batch_answer_leaves_out_is_re_sent_alone_only_when_safe(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    add_entity(mocked)
    options = {"entity_set": "accounts", "client_keys": "never", "bulk": {**STEADY, "mode": "batch"}}
    mocked.add("POST", BATCH, **batch_answer(created(IDS[0])))
    results = run(connection, "create", options, [{"name": "a"}, {"name": "b"}])
    assert results[0].status is ResultStatus.SUCCESS
    assert results[1].status is ResultStatus.UNKNOWN
    assert results[1].error is not None
    assert "may have been written" in results[1].error.message
    mocked.add("POST", BATCH, **batch_answer(created(IDS[0])))
    mocked.add("POST", f"{API}accounts", status=204, headers={"OData-EntityId": f"{API}accounts({IDS[1]})"})
    results = run(connection, "create", {**options, "client_keys": "bulk"}, [{"name": "a"}, {"name": "b"}])
    assert [result.status for result in results] == [ResultStatus.SUCCESS] * 2
    # Alone, with the key its batch part carried: if that part was written, this is refused and read back.
    sent = mocked.calls[-2].request.body or b""
    batch_body = sent.decode() if isinstance(sent, bytes) else sent
    alone = json.loads(mocked.calls[-1].request.body or b"")
    assert alone["name"] == "b"
    assert alone["accountid"] in batch_body


def test_a_batch_refused_as_a_whole_is_sent_record_by_record(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    add_entity(mocked)
    mocked.add("POST", BATCH, status=400, json={"error": {"code": "0x80060888", "message": "Malformed batch."}})
    for record_id in IDS:
        mocked.add("POST", f"{API}accounts", status=204, headers={"OData-EntityId": f"{API}accounts({record_id})"})
    options = {"entity_set": "accounts", "bulk": {**STEADY, "mode": "batch"}}
    results = run(connection, "create", options, [{"name": "a"}, {"name": "b"}])
    assert [result.properties["id"] for result in results] == IDS


def test_a_refused_bulk_action_of_more_than_a_thousand_is_halved_before_it_is_narrowed(
    mocked: responses.RequestsMock, connection: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    first_requests_hold(monkeypatch, 2500)
    add_entity(mocked)
    sizes: list[int] = []

    def create_multiple(request: Any) -> tuple[int, dict[str, str], str]:
        names = [target["name"] for target in json.loads(request.body)["Targets"]]
        sizes.append(len(names))
        if "bad" in names:  # all or nothing: one bad record refuses the request
            return 400, {}, json.dumps(TOO_LONG)
        return 200, {}, json.dumps({"Ids": [f"00000000-0000-0000-0000-{n:012x}" for n in range(len(names))]})

    parts: list[int] = []

    def batch(request: Any) -> tuple[int, dict[str, str], str]:
        count = request.body.count(b"Content-ID:")
        parts.append(count)
        refused: tuple[int, dict[str, str], Any] = (400, {"Content-Type": "application/json"}, TOO_LONG)
        reply = batch_answer(refused, *(created(f"00000000-0000-0000-0000-{n:012x}") for n in range(1, count)))
        return 200, {"Content-Type": reply["content_type"]}, reply["body"]

    mocked.add_callback("POST", MULTIPLE, callback=create_multiple)
    mocked.add_callback("POST", BATCH, callback=batch)
    documents = [{"name": "bad"}] + [{"name": str(n)} for n in range(1, 2500)]
    options = {"entity_set": "accounts", "bulk": {**STEADY, "batch_size": 5000}}
    results = run(connection, "create", options, documents)
    # 2500 refused, its first half refused, that half's first half refused and narrowed; the rest written in bulk.
    assert sizes == [2500, 1250, 625, 625, 1250]
    assert parts == [625]
    assert [result.input_index for result in results] == list(range(2500))
    assert [result.status for result in results] == [ResultStatus.FAILED] + [ResultStatus.SUCCESS] * 2499
    assert results[1].properties["bulk"] == "$batch"
    assert results[625].properties["bulk"] == "CreateMultiple"


def test_a_batch_of_more_than_a_thousand_records_goes_as_several(
    mocked: responses.RequestsMock, connection: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A table without CreateMultiple switches the run to $batch with the chunk in hand, whatever its size.
    first_requests_hold(monkeypatch, 2500)
    add_entity(mocked)
    unknown = {"error": {"code": "0x80060888", "message": "Resource not found for the segment 'CreateMultiple'."}}
    mocked.add("POST", MULTIPLE, status=404, json=unknown)
    parts: list[int] = []

    def batch(request: Any) -> tuple[int, dict[str, str], str]:
        count = request.body.count(b"Content-ID:")
        parts.append(count)
        reply = batch_answer(*(created(f"00000000-0000-0000-0000-{n:012x}") for n in range(count)))
        return 200, {"Content-Type": reply["content_type"]}, reply["body"]

    mocked.add_callback("POST", BATCH, callback=batch)
    options = {"entity_set": "accounts", "bulk": {**STEADY, "batch_size": 5000}}
    results = run(connection, "create", options, [{"name": str(n)} for n in range(2500)])
    assert parts == [1000, 1000, 500]  # Dataverse's limit is 1000 requests in a $batch
    assert [result.input_index for result in results] == list(range(2500))
    assert all(result.status is ResultStatus.SUCCESS for result in results)


def test_a_refused_create_multiple_on_an_elastic_table_without_keys_is_not_sent_again(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    # An elastic table may have written part of a refused request: records without keys cannot be sent again safely.
    add_entity(mocked, table_type="Elastic")
    mocked.add("POST", MULTIPLE, status=400, json=TOO_LONG)
    options = {"entity_set": "accounts", "client_keys": "never", "bulk": STEADY}
    results = run(connection, "create", options, [{"name": "a"}, {"name": "x" * 300}, {"name": "c"}])
    assert [result.status for result in results] == [ResultStatus.UNKNOWN] * 3
    assert len(mocked.calls) == 2  # the metadata, the refused request: no $batch, nothing sent again
    error = results[0].error
    assert error is not None
    assert "The elastic table may have written this record although it refused the request" in error.message
    assert "(0x80044331)" in error.message


def test_a_refused_create_multiple_on_an_elastic_table_with_keys_is_narrowed_down(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    add_entity(mocked, table_type="Elastic")
    mocked.add("POST", MULTIPLE, status=400, json=TOO_LONG)
    mocked.add(
        "POST",
        BATCH,
        **batch_answer(created(IDS[0]), (400, {"Content-Type": "application/json"}, TOO_LONG), created(IDS[1])),
    )
    results = run(
        connection, "create", {"entity_set": "accounts", "bulk": STEADY}, [{"name": "a"}, {"name": "b"}, {"name": "c"}]
    )
    assert [result.status for result in results] == [ResultStatus.SUCCESS, ResultStatus.FAILED, ResultStatus.SUCCESS]


def test_an_elastic_tables_whole_request_of_a_hundred_is_sent_in_bulk_whatever_the_fewest_says(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    add_entity(mocked, table_type="Elastic")
    sizes: list[int] = []

    def create_multiple(request: Any) -> tuple[int, dict[str, str], str]:
        targets = json.loads(request.body)["Targets"]
        sizes.append(len(targets))
        return 200, {}, json.dumps({"Ids": [target["accountid"] for target in targets]})

    mocked.add_callback("POST", MULTIPLE, callback=create_multiple)
    mocked.add("POST", f"{API}accounts", status=204, headers={"OData-EntityId": f"{API}accounts({IDS[0]})"})
    options = {"entity_set": "accounts", "bulk": {**STEADY, "min_batch_size": 200}}
    results = run(connection, "create", options, [{"name": str(n)} for n in range(150)])
    assert all(result.status is ResultStatus.SUCCESS for result in results)
    assert sizes == [100]  # a whole elastic request; the last 50 are fewer than the fewest, each sent on its own
    assert [result.properties["bulk"] for result in results[:100]] == ["CreateMultiple"] * 100


@pytest.mark.parametrize(
    ("failure", "shrinks"),
    [(requests.ReadTimeout("read timed out"), True), (requests.ConnectionError("connection reset"), False)],
)
def test_only_a_request_that_timed_out_makes_the_next_ones_smaller(
    mocked: responses.RequestsMock,
    connection: Connection,
    client: DataverseClient,
    monkeypatch: pytest.MonkeyPatch,
    failure: Exception,
    shrinks: bool,
) -> None:
    # A time-out says the service may be too slow for requests this large; a reset says nothing of its speed.
    client.transport.policy = RetryPolicy(max_attempts=1)
    unanswered = unanswered_requests(monkeypatch)
    add_entity(mocked)
    mocked.add("POST", MULTIPLE, body=failure)
    options = {"entity_set": "accounts", "client_keys": "never", "bulk": STEADY}
    results = run(connection, "create", options, [{"name": "a"}, {"name": "b"}])
    assert [result.status for result in results] == [ResultStatus.UNKNOWN] * 2  # never sent again without keys
    assert unanswered == ([("CreateMultiple", 2)] if shrinks else [])
