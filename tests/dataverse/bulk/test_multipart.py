"""The $batch wire format: request bodies with Content-IDs and change sets; responses read back part by part."""

from __future__ import annotations

import json

import pytest
import requests
from requests.structures import CaseInsensitiveDict

from connector.dataverse.bulk.multipart import BatchFormatError, BatchPart, build_batch, read_batch
from connector.retry import Delivery, delivery_of, note_delivery

API = "https://contoso.crm.dynamics.com/api/data/v9.2/"
MULTIPART = "multipart/mixed; boundary=b"


def response_of(body: bytes, content_type: str, status: int = 200) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.headers = CaseInsensitiveDict({"Content-Type": content_type})
    response._content = body
    response.url = f"{API}$batch"
    return response


def test_a_batch_request_has_one_http_part_per_record_numbered_from_one() -> None:
    parts = [
        BatchPart("POST", f"{API}accounts", {"Content-Type": "application/json"}, b'{"name":"a"}'),
        BatchPart("PATCH", f"{API}accounts(1)", {"If-Match": "*"}, b'{"name":"b"}'),
    ]
    body, content_type = build_batch(parts, change_set=False)
    boundary = content_type.split("boundary=")[1]
    assert content_type.startswith("multipart/mixed; boundary=batch_")
    text = body.decode()
    assert text.endswith(f"--{boundary}--\r\n")
    pieces = text.split(f"--{boundary}")[1:-1]
    assert len(pieces) == 2
    assert "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 1\r\n\r\n" in pieces[0]
    assert f'POST {API}accounts HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{{"name":"a"}}' in pieces[0]
    assert f"PATCH {API}accounts(1) HTTP/1.1\r\nIf-Match: *\r\n\r\n" in pieces[1]
    assert "Content-ID: 2" in pieces[1]


def test_a_change_set_wraps_every_part() -> None:
    parts = [BatchPart("POST", f"{API}accounts", {}, b"{}") for _ in range(3)]
    body, content_type = build_batch(parts, change_set=True)
    text = body.decode()
    batch = content_type.split("boundary=")[1]
    assert text.count(f"--{batch}\r\n") == 1
    changeset = text.split("Content-Type: multipart/mixed; boundary=")[1].split("\r\n")[0]
    assert changeset.startswith("changeset_")
    assert text.count(f"--{changeset}\r\n") == 3
    assert f"--{changeset}--" in text
    assert [f"Content-ID: {n}" in text for n in (1, 2, 3)] == [True, True, True]


def test_answers_are_read_with_their_status_headers_and_json() -> None:
    error = {"error": {"code": "0x80044331", "message": "too long"}}
    body = (
        "--batchresponse_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
        "Content-ID: 1\r\n\r\nHTTP/1.1 204 No Content\r\nOData-Version: 4.0\r\n"
        f"OData-EntityId: {API}accounts(7)\r\n\r\n\r\n"
        "--batchresponse_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
        "Content-ID: 2\r\n\r\nHTTP/1.1 400 Bad Request\r\nContent-Type: application/json; odata.metadata=minimal\r\n"
        f"REQ_ID: x\r\n\r\n{json.dumps(error)}\r\n"
        "--batchresponse_1--\r\n"
    ).encode()
    first, second = read_batch(response_of(body, "multipart/mixed; boundary=batchresponse_1"))
    assert (first.content_id, first.response.status_code, first.response.content) == ("1", 204, b"")
    assert first.response.headers["odata-entityid"] == f"{API}accounts(7)"
    assert (second.content_id, second.response.status_code, second.response.reason) == ("2", 400, "Bad Request")
    assert second.response.json() == error
    assert not second.response.ok


def test_change_set_answers_are_flattened_in_order_and_bare_line_feeds_are_read() -> None:
    body = (
        b"--batchresponse_a\nContent-Type: multipart/mixed; boundary=changesetresponse_b\n\n"
        b"--changesetresponse_b\nContent-Type: application/http\nContent-ID: 1\n\nHTTP/1.1 204 No Content\n\n\n"
        b"--changesetresponse_b\nContent-Type: application/http\nContent-ID: 2\n\nHTTP/1.1 201 Created\n"
        b'Content-Type: application/json\n\n{"accountid": "2"}\n'
        b"--changesetresponse_b--\n"
        b"--batchresponse_a--\n"
    )
    answers = read_batch(response_of(body, 'multipart/mixed; boundary="batchresponse_a"'))
    assert [(a.content_id, a.response.status_code) for a in answers] == [("1", 204), ("2", 201)]
    assert answers[1].response.json() == {"accountid": "2"}


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"error": {}}', "application/json"),
        (b"--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", MULTIPART),
        (b"--b\r\nContent-Type: application/http\r\n\r\nnot http\r\n--b--\r\n", MULTIPART),
        ("--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 \u00b2 OK\r\n\r\n--b--\r\n".encode(), MULTIPART),
    ],
    ids=["not multipart", "no closing delimiter", "no status line", "a status int() refuses"],
)
def test_unreadable_answers_are_refused(body: bytes, content_type: str) -> None:
    with pytest.raises(BatchFormatError):
        read_batch(response_of(body, content_type))


def test_multipart_nested_deeper_than_change_sets_is_refused() -> None:
    # A batch holds change sets, which hold requests: the reader recursed through any depth before.
    inner = b"--c2\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n\r\n--c2--\r\n"
    middle = b"--c1\r\nContent-Type: multipart/mixed; boundary=c2\r\n\r\n" + inner + b"--c1--\r\n"
    body = b"--b\r\nContent-Type: multipart/mixed; boundary=c1\r\n\r\n" + middle + b"--b--\r\n"
    with pytest.raises(BatchFormatError, match="deeper than change sets"):
        read_batch(response_of(body, MULTIPART))


def test_each_answer_carries_the_batchs_delivery() -> None:
    """A batch sent again after an attempt the service may have acted on: a part's 412 may answer the repeat."""
    body = (
        b"--b\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 1\r\n\r\n"
        b"HTTP/1.1 412 Precondition Failed\r\n\r\n\r\n--b--\r\n"
    )
    response = response_of(body, MULTIPART)
    delivery = Delivery(attempts=2, idempotent=True, resent=True)
    note_delivery(response, delivery)
    [answer] = read_batch(response)
    assert delivery_of(answer.response) == delivery
