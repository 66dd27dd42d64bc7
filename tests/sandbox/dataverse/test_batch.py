"""``$batch`` through the sandbox Web API: change sets commit or roll back together, parts run as the caller."""

from __future__ import annotations

import json

from tests.support.sandbox import WebApiSession, unique

BOUNDARY = "batch_test"


def _part(method: str, path: str, body: dict[str, object] | None = None, content_id: str | None = None) -> str:
    head = "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
    if content_id is not None:
        head += f"Content-ID: {content_id}\r\n"
    request = f"{method} /api/data/v9.2/{path} HTTP/1.1\r\n"
    if body is None:
        return f"{head}\r\n{request}\r\n"
    return f"{head}\r\n{request}Content-Type: application/json\r\n\r\n{json.dumps(body)}\r\n"


def _changeset(name: str, parts: list[str]) -> str:
    inner = "".join(f"--{name}\r\n{part}" for part in parts) + f"--{name}--\r\n"
    return f"Content-Type: multipart/mixed; boundary={name}\r\n\r\n{inner}"


def _batch(api: WebApiSession, items: list[str], prefer: str | None = None) -> tuple[int, str]:
    body = "".join(f"--{BOUNDARY}\r\n{item}" for item in items) + f"--{BOUNDARY}--\r\n"
    headers = {"Content-Type": f"multipart/mixed; boundary={BOUNDARY}"}
    if prefer:
        headers["Prefer"] = prefer
    response = api.post("$batch", data=body.encode(), headers=headers)
    return response.status_code, response.text


def test_change_set_with_content_id_reference_commits(api: WebApiSession) -> None:
    name = unique("batch")
    status, text = _batch(
        api,
        [
            _changeset(
                "changeset_a",
                [
                    _part("POST", "accounts", {"name": name}, "1"),
                    _part("POST", "contacts", {"lastname": name, "parentcustomerid_account@odata.bind": "$1"}, "2"),
                ],
            ),
            _part("GET", f"contacts?$select=lastname&$filter=lastname eq '{name}'"),
        ],
    )
    assert status == 200
    assert text.count("HTTP/1.1 204 No Content") == 2
    assert "Location: " in text
    contact = api.get(f"contacts?$filter=lastname eq '{name}'").json()["value"][0]
    account = api.get(f"accounts?$filter=name eq '{name}'").json()["value"][0]
    assert contact["_parentcustomerid_value"] == account["accountid"]


def test_failing_change_set_rolls_back_every_part(api: WebApiSession) -> None:
    name = unique("rollback")
    status, text = _batch(
        api,
        [
            _changeset(
                "changeset_b",
                [
                    _part("POST", "accounts", {"name": name}, "1"),
                    _part("POST", "accounts", {"name": "x" * 161}, "2"),
                ],
            )
        ],
    )
    assert status == 400
    assert "0x80044331" in text
    assert api.get(f"accounts?$filter=name eq '{name}'").json()["value"] == []


def test_change_set_refused_by_storage_rolls_back_the_parts_before(api: WebApiSession) -> None:
    name = unique("rollback-taken")
    taken = api.create("accounts", {"name": "first owner"})
    status, text = _batch(
        api,
        [
            _changeset(
                "changeset_t",
                [
                    _part("POST", "accounts", {"name": name}, "1"),
                    _part("POST", "accounts", {"name": name, "accountid": taken}, "2"),
                ],
            )
        ],
    )
    assert status == 400
    assert "HTTP/1.1 412" in text
    assert api.get(f"accounts?$filter=name eq '{name}'").json()["value"] == []


def test_continue_on_error_answers_every_part(api: WebApiSession) -> None:
    name = unique("continue")
    status, text = _batch(
        api,
        [_part("POST", "accounts", {"nosuch": 1}), _part("POST", "accounts", {"name": name})],
        prefer="odata.continue-on-error",
    )
    assert status == 200
    assert "HTTP/1.1 400" in text
    assert len(api.get(f"accounts?$filter=name eq '{name}'").json()["value"]) == 1


def test_parts_run_with_the_callers_access(read_only_api: WebApiSession) -> None:
    status, text = _batch(read_only_api, [_part("POST", "accounts", {"name": "denied"})])
    assert status == 400
    assert "0x80040220" in text


def test_more_than_1000_requests_are_refused_before_any_runs(api: WebApiSession) -> None:
    name = unique("too-many")
    status, text = _batch(api, [_part("POST", "accounts", {"name": name}) for _ in range(1001)])
    assert status == 400
    assert "0x80060888" in text
    assert "1000" in text
    assert api.get(f"accounts?$filter=name eq '{name}'").json()["value"] == []


def test_exactly_1000_requests_are_served(api: WebApiSession) -> None:
    status, text = _batch(api, [_part("GET", "WhoAmI") for _ in range(1000)])
    assert status == 200
    assert text.count("HTTP/1.1 200 OK") == 1000
