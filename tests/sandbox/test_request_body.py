"""The sandbox holds up as a server: bodies no real client sends get a 400 or 413 in Dataverse's error shape, never a
500, and an oversized body is refused by its announced size before it is read (dataverse_sandbox.request_body).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
import requests

from dataverse_sandbox.faults import MAX_SCHEDULED
from dataverse_sandbox.request_body import DEFAULT_MAX_BODY_BYTES, InvalidJsonError, decode_json
from dataverse_sandbox.server import Sandbox
from tests.support.sandbox import WebApiSession, bearer_token


def raw_exchange(
    sb: Sandbox, head: str, body: bytes = b"", *, timeout: float = 10
) -> tuple[int, dict[str, str], bytes]:
    """Send one request as bytes on a fresh connection and read the whole answer (the server closes after it).

    :returns: the status, the headers (lower-case names) and the body.
    """
    address = urlsplit(sb.origin)
    assert address.hostname is not None
    assert address.port is not None
    with socket.create_connection((address.hostname, address.port), timeout=timeout) as connection:
        connection.sendall(head.replace("\n", "\r\n").encode("latin-1") + b"\r\n" + body)
        received = b""
        while b"\r\n\r\n" not in received:
            piece = connection.recv(65536)
            assert piece, received
            received += piece
        header_block, _, rest = received.partition(b"\r\n\r\n")
        lines = header_block.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            piece = connection.recv(65536)
            if not piece:
                break
            rest += piece
    return int(lines[0].split()[1]), headers, rest[:length]


def post_head(sb: Sandbox, token: str, extra: str) -> str:
    return (
        f"POST /api/data/v9.2/accounts HTTP/1.1\nHost: {urlsplit(sb.origin).netloc}\n"
        f"Authorization: Bearer {token}\nContent-Type: application/json\n{extra}"
    )


def assert_odata_error(status: int, body: bytes, expected: int) -> str:
    assert status == expected, body
    error = json.loads(body)["error"]
    assert set(error) >= {"code", "message"}
    assert error["code"].startswith("0x")
    message: str = error["message"]
    return message


def test_a_malformed_chunked_body_is_a_400(sandbox: Sandbox) -> None:
    token = bearer_token(sandbox)
    for framing in (b"zz\r\n{}\r\n0\r\n\r\n", b"-5\r\n{}\r\n0\r\n\r\n", b"2\r\n{}XX0\r\n\r\n"):
        status, _, body = raw_exchange(sandbox, post_head(sandbox, token, "Transfer-Encoding: chunked\n"), framing)
        assert "chunked" in assert_odata_error(status, body, 400)


def test_a_well_formed_chunked_body_is_served(sandbox: Sandbox) -> None:
    token = bearer_token(sandbox)
    payload = json.dumps({"name": "chunked"}).encode()
    framing = f"{len(payload):x}\r\n".encode() + payload + b"\r\n0\r\n\r\n"
    status, headers, _ = raw_exchange(sandbox, post_head(sandbox, token, "Transfer-Encoding: chunked\n"), framing)
    assert status == 204
    assert "accounts(" in headers["odata-entityid"]


def test_json_nested_100000_deep_is_a_400(api: WebApiSession) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    for body in (f'{{"name": "deep", "description": {deep}}}', deep, "{" + '"a":{' * 100_000 + "}" * 100_001):
        response = api.post("accounts", data=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, response.text
        assert response.json()["error"]["message"]


def test_a_lone_surrogate_in_a_string_is_a_400(api: WebApiSession) -> None:
    for body in ('{"name": "\\ud800"}', '{"name": "a\\udfffb"}', '{"\\ud83d": 1}'):
        response = api.post("accounts", data=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, response.text
        assert "surrogate" in response.json()["error"]["message"]
    paired = api.post("accounts", data='{"name": "\\ud83d\\ude00"}', headers={"Content-Type": "application/json"})
    assert paired.status_code == 204  # a proper surrogate pair is one character


def test_bytes_that_are_not_utf8_are_a_400(api: WebApiSession) -> None:
    response = api.post("accounts", data=b'{"name": "\xff"}', headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "UTF-8" in response.json()["error"]["message"]


def test_a_query_nested_too_deeply_is_a_400(api: WebApiSession) -> None:
    deep = "(" * 10_000 + "name eq 'x'" + ")" * 10_000
    response = api.get("accounts", params={"$filter": deep})
    assert response.status_code == 400
    assert response.json()["error"]["code"].startswith("0x")


def test_the_default_limit_is_dataverses_128_mb() -> None:
    assert DEFAULT_MAX_BODY_BYTES == 128 * 1024 * 1024


def test_an_oversized_body_is_refused_by_its_length_before_it_is_read(sandbox: Sandbox) -> None:
    token = bearer_token(sandbox)
    # Announce 1 GB and send nothing more: the answer must come without the server waiting for (or reading) it; a
    # server that waited would let the exchange's deadline pass, and it would raise.
    status, headers, body = raw_exchange(
        sandbox, post_head(sandbox, token, f"Content-Length: {1 << 30}\n"), b'{"name": "', timeout=5
    )
    assert "128" not in headers.get("retry-after", "")
    assert str(DEFAULT_MAX_BODY_BYTES) in assert_odata_error(status, body, 413)
    assert headers.get("connection", "").lower() == "close"


def test_the_limit_is_configurable_and_applies_to_chunked_bodies(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(max_body_bytes=1000)
    token = bearer_token(sb)
    with WebApiSession(sb, token) as api:
        small = api.post("accounts", json={"name": "x" * 100})
        assert small.status_code == 204
        large = api.post("accounts", json={"name": "x" * 2000})
        assert large.status_code == 413
        assert "1000 bytes" in large.json()["error"]["message"]
        assert api.get("WhoAmI").status_code == 200
    payload = b'{"name": "' + b"y" * 2000 + b'"}'
    framing = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in (payload[:700], payload[700:])) + b"0\r\n\r\n"
    status, _, body = raw_exchange(sb, post_head(sb, token, "Transfer-Encoding: chunked\n"), framing)
    assert_odata_error(status, body, 413)


@pytest.mark.parametrize("digits", [20, 4301], ids=["past 64 bits", "more than int() reads"])
def test_a_content_length_of_any_number_of_digits_past_the_limit_is_a_413(sandbox: Sandbox, digits: int) -> None:
    # Dataverse answers 413 for a request too large; a length too long to read as a number was a 400 before.
    head = post_head(sandbox, bearer_token(sandbox), f"Content-Length: {'9' * digits}\n")
    status, headers, body = raw_exchange(sandbox, head, b'{"name": "')
    assert str(DEFAULT_MAX_BODY_BYTES) in assert_odata_error(status, body, 413)
    assert headers.get("connection", "").lower() == "close"


def test_leading_zeros_do_not_make_a_content_length_too_large(sandbox: Sandbox) -> None:
    body = b'{"name": "zeros"}'
    head = post_head(sandbox, bearer_token(sandbox), f"Content-Length: {len(body):030d}\n")
    status, _, answer = raw_exchange(sandbox, head, body)
    assert status == 204, answer


@pytest.mark.parametrize("length", ["12abc", "\u00b2", "-12"], ids=["letters", "a digit int() refuses", "a sign"])
def test_a_content_length_that_is_no_number_is_a_400(sandbox: Sandbox, length: str) -> None:
    status, _, body = raw_exchange(sandbox, post_head(sandbox, bearer_token(sandbox), f"Content-Length: {length}\n"))
    assert status == 400, body


def test_a_huge_fault_count_on_the_admin_endpoint_is_a_400(sandbox: Sandbox) -> None:
    url = f"{sandbox.admin_url}faults/schedule"
    for count in (10**12, MAX_SCHEDULED + 1):
        response = requests.post(url, json={"kind": "error", "count": count}, headers=sandbox.admin_headers, timeout=5)
        assert response.status_code == 400
        assert str(MAX_SCHEDULED) in response.json()["error"]["message"]
    assert sandbox.faults.scheduled() == []
    fine = requests.post(url, json={"kind": "error", "count": 2}, headers=sandbox.admin_headers, timeout=5)
    assert fine.json()["scheduled"] == ["error", "error"]
    requests.delete(url, headers=sandbox.admin_headers, timeout=5)
    with pytest.raises(ValueError, match="at most"):
        sandbox.faults.schedule("error", MAX_SCHEDULED + 1)


def test_admin_bodies_nested_too_deeply_or_with_lone_surrogates_are_a_400(sandbox: Sandbox) -> None:
    for body in ("[" * 100_000 + "]" * 100_000, '{"kind": "\\ud800", "count": 1}'):
        response = requests.put(
            f"{sandbox.admin_url}faults",
            data=body,
            headers={**sandbox.admin_headers, "Content-Type": "application/json"},
            timeout=5,
        )
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_json"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xfe", "UTF-8"),
        ("[" * 100_000, "nested"),
        ('"\\udc00"', "surrogate"),
        ('{"a": ["\\ud800"]}', "surrogate"),
        ('{"a": {"b": "x\\uDBFFy"}}', "surrogate"),
        ('{"a": "\ud800"}', "surrogate"),
        ("{", "Invalid JSON"),
        ('{"revenue": ' + "1" * 4301 + "}", "Invalid JSON"),  # a plain ValueError, not a JSONDecodeError: a 500
    ],
)
def test_decode_json_refuses(raw: bytes | str, reason: str) -> None:
    with pytest.raises(InvalidJsonError, match=reason):
        decode_json(raw)


def test_decode_json_accepts_a_bom_and_surrogate_pairs() -> None:
    assert decode_json(b'\xef\xbb\xbf{"a": "\\ud83d\\ude00"}') == {"a": "\N{GRINNING FACE}"}
    assert decode_json(b'{"a": "\\\\ud800"}') == {"a": "\\ud800"}  # an escaped backslash, then text
