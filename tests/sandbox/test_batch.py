"""``$batch`` handling of the sandbox (dataverse_sandbox.batch and multipart).

Request bodies are written by hand after the reference's examples (§3.10), so the tests prove the wire format;
responses are read with Python's own MIME parser (``email``), not with the code under test.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from typing import Any

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from dataverse_sandbox.batch import ChangeSetFailedError, handle_batch
from dataverse_sandbox.middleware import ENVIRON_BATCH

ORG = "http://contoso.localhost:8080"
ACCOUNT = "accounts(00000000-0000-0000-0000-000000000001)"
TOKEN = "Bearer eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.batch-test.signature"


@dataclass
class Seen:
    """What the sandbox saw of one request."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any
    in_batch: bool


class FakeService:
    """A tiny Web API: creates return 204 with the entity URL, a long subject fails like Dataverse."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.seen: list[Seen] = []
        self.transactions: list[str] = []
        self._lock = threading.Lock()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        snapshot = dict(self.rows)
        try:
            yield
        except BaseException as exc:
            self.rows = snapshot
            self.transactions.append(f"rollback:{type(exc).__name__}")
            raise
        self.transactions.append("commit")

    def dispatch(self, request: Request) -> Response:
        body = json.loads(request.get_data()) if request.get_data() else None
        self.seen.append(
            Seen(
                request.method,
                request.path,
                request.query_string.decode(),
                dict(request.headers),
                body,
                bool(request.environ.get(ENVIRON_BATCH)),
            )
        )
        if request.path.endswith("/boom"):
            raise RuntimeError("dispatcher bug")
        if request.method == "GET":
            return Response(
                json.dumps({"value": list(self.rows.values())}),
                content_type="application/json; odata.metadata=minimal",
                headers={"OData-Version": "4.0"},
            )
        if len((body or {}).get("subject", "")) > 200:
            return Response(
                json.dumps(
                    {
                        "error": {
                            "code": "0x80044331",
                            "message": "A validation error occurred.  The length of the 'subject' attribute of "
                            "the 'task' entity exceeded the maximum allowed length of '200'.",
                        }
                    }
                ),
                status=400,
                content_type="application/json; odata.metadata=minimal",
                headers={"OData-Version": "4.0"},
            )
        if request.method == "POST":
            entity_set = request.path.rsplit("/", 1)[1]
            url = f"{request.host_url.rstrip('/')}/api/data/v9.2/{entity_set}({uuid.uuid4()})"
            self.rows[url] = body or {}
            return Response(status=204, headers={"OData-Version": "4.0", "Location": url, "OData-EntityId": url})
        return Response(status=204, headers={"OData-Version": "4.0"})


@pytest.fixture
def service() -> FakeService:
    return FakeService()


def batch_request(body: str, boundary: str, *, prefer: str | None = None, crlf: bool = True) -> Request:
    r"""The outer ``POST $batch`` request; ``body`` is written with ``\n`` line ends, sent with CRLF."""
    headers = {
        "Content-Type": f'multipart/mixed; boundary="{boundary}"',
        "Authorization": TOKEN,
        "OData-Version": "4.0",
        "Accept": "application/json",
    }
    if prefer:
        headers["Prefer"] = prefer
    data = body.replace("\n", "\r\n") if crlf else body
    builder = EnvironBuilder(
        path="/api/data/v9.2/$batch", method="POST", base_url=ORG, headers=list(headers.items()), data=data.encode()
    )
    return builder.get_request()


def run(service: FakeService, request: Request, **options: Any) -> Response:
    return handle_batch(request, service.dispatch, transaction=service.transaction, **options)


@dataclass
class Part:
    """One part of a batch response."""

    status_line: str
    headers: dict[str, str]
    body: str
    content_id: str | None

    @property
    def status(self) -> int:
        return int(self.status_line.split()[1])

    def json(self) -> Any:
        return json.loads(self.body)


def read_parts(response: Response) -> list[Part | list[Part]]:
    """Parse a batch response with the standard library's MIME parser."""
    raw = f"Content-Type: {response.headers['Content-Type']}\r\n\r\n".encode() + response.get_data()
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    assert message.is_multipart()
    return [read_part(part) for part in subparts(message)]


def subparts(message: Message) -> list[Message]:
    payload = message.get_payload()
    assert isinstance(payload, list)
    return [part for part in payload if isinstance(part, Message)]


def read_part(message: Message) -> Part | list[Part]:
    if message.is_multipart():
        assert message.get_content_type() == "multipart/mixed"
        assert str(message.get_boundary()).startswith("changesetresponse_")
        return [single(read_part(inner)) for inner in subparts(message)]  # change sets do not nest
    assert message["Content-Type"] == "application/http"
    assert message["Content-Transfer-Encoding"] == "binary"
    payload = message.get_payload()
    assert isinstance(payload, str)
    head, _, body = payload.partition("\r\n\r\n")
    status_line, *header_lines = head.split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return Part(status_line, headers, body, message["Content-ID"])


def single(part: Part | list[Part]) -> Part:
    assert isinstance(part, Part)
    return part


def error_of(response: Response) -> dict[str, str]:
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/json; odata.metadata=minimal"
    error: dict[str, str] = json.loads(response.get_data())["error"]
    return error


TASKS_AND_QUERY = f"""--batch_80dd1615-2a10-428a-bb6f-0e559792721f
Content-Type: application/http
Content-Transfer-Encoding: binary

POST /api/data/v9.2/tasks HTTP/1.1
Content-Type: application/json; type=entry

{{
  "subject": "Task 1 in batch",
  "regardingobjectid_account_task@odata.bind": "{ACCOUNT}"
}}
--batch_80dd1615-2a10-428a-bb6f-0e559792721f
Content-Type: application/http
Content-Transfer-Encoding: binary

POST /api/data/v9.2/tasks HTTP/1.1
Content-Type: application/json; type=entry

{{ "subject": "Task 2 in batch" }}
--batch_80dd1615-2a10-428a-bb6f-0e559792721f
Content-Type: application/http
Content-Transfer-Encoding: binary

GET /api/data/v9.2/{ACCOUNT}/Account_Tasks?$select=subject HTTP/1.1


--batch_80dd1615-2a10-428a-bb6f-0e559792721f--
"""


def test_parts_run_in_order_and_are_answered_in_dataverse_shape(service: FakeService) -> None:
    response = run(service, batch_request(TASKS_AND_QUERY, "batch_80dd1615-2a10-428a-bb6f-0e559792721f"))
    assert response.status_code == 200
    assert response.headers["OData-Version"] == "4.0"
    boundary = re.fullmatch(
        r"multipart/mixed; boundary=(batchresponse_[0-9a-f-]{36})", response.headers["Content-Type"]
    )
    assert boundary is not None
    raw = response.get_data(as_text=True)
    assert raw.startswith(
        f"--{boundary[1]}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        "HTTP/1.1 204 No Content\r\n"
    )
    assert raw.endswith(f"--{boundary[1]}--\r\n")
    first, second, query = (single(p) for p in read_parts(response))
    for created in (first, second):
        assert created.status_line == "HTTP/1.1 204 No Content"
        assert created.headers["OData-Version"] == "4.0"
        assert created.headers["OData-EntityId"] == created.headers["Location"]
        assert created.headers["OData-EntityId"].startswith(f"{ORG}/api/data/v9.2/tasks(")
        assert created.body == ""
        assert "Content-Type" not in created.headers
    assert query.status_line == "HTTP/1.1 200 OK"
    assert query.headers["Content-Type"] == "application/json; odata.metadata=minimal; odata.streaming=true"
    assert [row["subject"] for row in query.json()["value"]] == ["Task 1 in batch", "Task 2 in batch"]
    assert [(s.method, s.path) for s in service.seen] == [
        ("POST", "/api/data/v9.2/tasks"),
        ("POST", "/api/data/v9.2/tasks"),
        ("GET", f"/api/data/v9.2/{ACCOUNT}/Account_Tasks"),
    ]
    assert service.seen[2].query == "$select=subject"
    assert service.seen[0].body["regardingobjectid_account_task@odata.bind"] == ACCOUNT


def test_inner_requests_carry_the_outer_authorization_but_not_its_prefer(service: FakeService) -> None:
    run(
        service,
        batch_request(TASKS_AND_QUERY, "batch_80dd1615-2a10-428a-bb6f-0e559792721f", prefer="return=representation"),
    )
    for seen in service.seen:
        assert seen.headers["Authorization"] == TOKEN
        assert "Prefer" not in seen.headers
        assert seen.in_batch
        assert "Content-Id" not in seen.headers
    assert service.seen[0].headers["Content-Type"] == "application/json; type=entry"


def test_bare_lf_line_ends_are_accepted(service: FakeService) -> None:
    request = batch_request(TASKS_AND_QUERY, "batch_80dd1615-2a10-428a-bb6f-0e559792721f", crlf=False)
    assert [single(p).status for p in read_parts(run(service, request))] == [204, 204, 200]


REFERENCES_IN_BODY = """--batch_AAA123
Content-Type: multipart/mixed; boundary=changeset_dd81ccab-11ce-4d57-b91d-12c4e25c3cab

--changeset_dd81ccab-11ce-4d57-b91d-12c4e25c3cab
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-ID: 1

POST http://contoso.localhost:8080/api/data/v9.2/leads HTTP/1.1
Content-Type: application/json

{
    "firstname":"first name",
    "lastname":"last name"
}

--changeset_dd81ccab-11ce-4d57-b91d-12c4e25c3cab
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-ID: 2

POST http://contoso.localhost:8080/api/data/v9.2/contacts HTTP/1.1
Content-Type: application/json

{"firstname":"first name"}

--changeset_dd81ccab-11ce-4d57-b91d-12c4e25c3cab
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-ID: 3

POST http://contoso.localhost:8080/api/data/v9.2/accounts HTTP/1.1
Content-Type: application/json

{
    "name":"IcM Account",
    "originatingleadid@odata.bind":"$1",
    "primarycontactid@odata.bind":"$2"
}

--changeset_dd81ccab-11ce-4d57-b91d-12c4e25c3cab--
--batch_AAA123--
"""


def test_change_set_resolves_content_id_references_in_bodies(service: FakeService) -> None:
    response = run(service, batch_request(REFERENCES_IN_BODY, "batch_AAA123"))
    assert response.status_code == 200
    (changeset,) = read_parts(response)
    assert isinstance(changeset, list)
    assert [p.content_id for p in changeset] == ["1", "2", "3"]
    lead_url, contact_url = changeset[0].headers["OData-EntityId"], changeset[1].headers["OData-EntityId"]
    account = service.seen[2].body
    assert account["originatingleadid@odata.bind"] == lead_url
    assert account["primarycontactid@odata.bind"] == contact_url
    assert [s.path for s in service.seen] == [
        "/api/data/v9.2/leads",
        "/api/data/v9.2/contacts",
        "/api/data/v9.2/accounts",
    ]
    assert service.transactions == ["commit"]


REFERENCES_IN_URLS = """--batch_AAA123
Content-Type: multipart/mixed; boundary=changeset_dd81ccab

--changeset_dd81ccab
Content-Type:application/http
Content-Transfer-Encoding:binary
Content-ID:1

POST /api/data/v9.2/accounts HTTP/1.1
Content-Type: application/json

{ "name":"Account Name"}

--changeset_dd81ccab
Content-Type:application/http
Content-Transfer-Encoding:binary
Content-ID:2

POST contacts HTTP/1.1
Content-Type:application/json

{ "firstname":"Contact first name"}

--changeset_dd81ccab
Content-Type:application/http
Content-Transfer-Encoding:binary
Content-ID:3

PUT $1/primarycontactid/$ref HTTP/1.1
Content-Type:application/json

{"@odata.id":"$2"}

--changeset_dd81ccab
Content-Transfer-Encoding: binary
Content-Type: application/http
Content-ID: 4

PUT $2/lastname HTTP/1.1
Content-Type: application/json

{"value":"BBBBB"}

--changeset_dd81ccab
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-ID: 5

PATCH $1 HTTP/1.1
Content-Type: application/json

{"primarycontactid@odata.bind":"$2", "parents@odata.bind": ["$1", "$2"]}

--changeset_dd81ccab--
--batch_AAA123--
"""


def test_references_resolve_in_urls_odata_id_and_bind_arrays(service: FakeService) -> None:
    response = run(service, batch_request(REFERENCES_IN_URLS, "batch_AAA123"))
    (changeset,) = read_parts(response)
    assert isinstance(changeset, list)
    assert [p.status for p in changeset] == [204] * 5
    account_url = changeset[0].headers["OData-EntityId"]
    contact_url = changeset[1].headers["OData-EntityId"]
    account_path = account_url.removeprefix(ORG)
    contact_path = contact_url.removeprefix(ORG)
    assert service.seen[1].path == "/api/data/v9.2/contacts"  # relative to the service root
    assert (service.seen[2].method, service.seen[2].path) == ("PUT", f"{account_path}/primarycontactid/$ref")
    assert service.seen[2].body == {"@odata.id": contact_url}
    assert service.seen[3].path == f"{contact_path}/lastname"
    assert (service.seen[4].method, service.seen[4].path) == ("PATCH", account_path)
    assert service.seen[4].body == {
        "primarycontactid@odata.bind": contact_url,
        "parents@odata.bind": [account_url, contact_url],
    }


FORWARD_REFERENCE = """--batch_AAA123
Content-Type: multipart/mixed; boundary=changeset_BBB456

--changeset_BBB456
Content-Type: application/http
Content-Transfer-Encoding:binary
Content-ID: 2

POST /api/data/v9.2/phonecalls HTTP/1.1
Content-Type: application/json;type=entry

{
    "phonenumber":"911",
    "regardingobjectid_account_phonecall@odata.bind" : "$1"
}

--changeset_BBB456
Content-Type: application/http
Content-Transfer-Encoding:binary
Content-ID: 1

POST /api/data/v9.2/accounts HTTP/1.1
Content-Type: application/json;type=entry

{
    "name":"QQQQ",
    "revenue": 1.50
}

--changeset_BBB456--
--batch_AAA123--
"""


def test_forward_reference_refuses_the_batch_before_anything_runs(service: FakeService) -> None:
    response = run(service, batch_request(FORWARD_REFERENCE, "batch_AAA123"))
    assert error_of(response)["message"] == "Content-ID Reference: '$1' does not exist in the batch context."
    assert service.seen == []


def long_subject_batch(boundary: str) -> str:
    parts = []
    for subject in ("x" * 201, "Task 2 in batch", "Task 3 in batch"):
        parts.append(
            f"""--{boundary}
Content-Type: application/http
Content-Transfer-Encoding: binary

POST /api/data/v9.2/tasks HTTP/1.1
Content-Type: application/json; type=entry

{{"subject": "{subject}"}}
"""
        )
    return "".join(parts) + f"--{boundary}--\n"


def test_without_continue_on_error_the_batch_stops_at_the_first_failure(service: FakeService) -> None:
    boundary = "batch_431faf5a-f979-4ee6-a374-d242f8962d41"
    response = run(service, batch_request(long_subject_batch(boundary), boundary))
    assert response.status == "400 BadRequest"
    (failed,) = (single(p) for p in read_parts(response))
    assert failed.status_line == "HTTP/1.1 400 Bad Request"
    assert re.fullmatch(r"[0-9a-f-]{36}", failed.headers["REQ_ID"])
    assert failed.headers["Content-Type"] == "application/json; odata.metadata=minimal"
    assert failed.json()["error"]["code"] == "0x80044331"
    assert len(service.seen) == 1


def test_continue_on_error_answers_every_part(service: FakeService) -> None:
    boundary = "batch_662d4610-7f12-4895-ac4a-3fdf77cc10a1"
    request = batch_request(long_subject_batch(boundary), boundary, prefer="odata.continue-on-error")
    response = run(service, request)
    assert response.status_code == 200
    assert [single(p).status for p in read_parts(response)] == [400, 204, 204]
    assert len(service.seen) == 3


def changeset_with_failure(prefer_next: bool = True) -> str:
    return """--batch_X
Content-Type: multipart/mixed; boundary="changeset_Y"

--changeset_Y
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-ID: 1

POST /api/data/v9.2/accounts HTTP/1.1
Content-Type: application/json

{"name": "rolled back"}
--changeset_Y
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-ID: 2

POST /api/data/v9.2/tasks HTTP/1.1
Content-Type: application/json

{"subject": "%s", "regardingobjectid_account_task@odata.bind": "$1"}
--changeset_Y
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-ID: 3

POST /api/data/v9.2/tasks HTTP/1.1
Content-Type: application/json

{"subject": "never sent"}
--changeset_Y--
--batch_X
Content-Type: application/http
Content-Transfer-Encoding: binary

POST /api/data/v9.2/contacts HTTP/1.1
Content-Type: application/json

{"lastname": "after the change set"}
--batch_X--
""" % ("y" * 300)


def test_a_failing_change_set_rolls_back_and_answers_with_its_failing_part(service: FakeService) -> None:
    response = run(service, batch_request(changeset_with_failure(), "batch_X"))
    assert response.status == "400 BadRequest"
    (failed,) = (single(p) for p in read_parts(response))
    assert failed.status == 400
    assert failed.content_id == "2"
    assert service.rows == {}  # the account created by part 1 was rolled back
    assert service.transactions == [f"rollback:{ChangeSetFailedError.__name__}"]
    assert [s.path for s in service.seen] == ["/api/data/v9.2/accounts", "/api/data/v9.2/tasks"]


def test_a_failing_change_set_with_continue_on_error_lets_later_parts_run(service: FakeService) -> None:
    request = batch_request(changeset_with_failure(), "batch_X", prefer="return=minimal, odata.continue-on-error")
    response = run(service, request)
    assert response.status_code == 200
    failed, after = (single(p) for p in read_parts(response))
    assert (failed.status, failed.content_id) == (400, "2")
    assert after.status == 204
    assert list(service.rows.values()) == [{"lastname": "after the change set"}]


def test_get_inside_a_change_set_is_refused(service: FakeService) -> None:
    body = """--batch_X
Content-Type: multipart/mixed; boundary=changeset_Y

--changeset_Y
Content-Type: application/http
Content-Transfer-Encoding: binary

GET /api/data/v9.2/accounts HTTP/1.1

--changeset_Y--
--batch_X--
"""
    response = run(service, batch_request(body, "batch_X"))
    assert error_of(response)["message"] == "GET requests are not allowed in a change set."
    assert service.seen == []


def simple_parts(boundary: str, count: int) -> str:
    part = f"""--{boundary}
Content-Type: application/http
Content-Transfer-Encoding: binary

GET /api/data/v9.2/WhoAmI HTTP/1.1

"""
    return part * count + f"--{boundary}--\n"


def test_more_than_max_parts_is_refused(service: FakeService) -> None:
    response = run(service, batch_request(simple_parts("batch_X", 1001), "batch_X"))
    error = error_of(response)
    assert error["code"] == "0x80060888"
    assert "1000" in error["message"]
    assert service.seen == []
    assert error_of(run(service, batch_request(simple_parts("batch_X", 4), "batch_X"), max_parts=3))


def test_exactly_max_parts_is_served(service: FakeService) -> None:
    response = run(service, batch_request(simple_parts("batch_X", 1000), "batch_X"))
    assert response.status_code == 200
    assert len(read_parts(response)) == 1000


def test_change_set_members_count_towards_the_limit(service: FakeService) -> None:
    assert error_of(run(service, batch_request(REFERENCES_IN_URLS, "batch_AAA123"), max_parts=4))


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        ("application/json", "{}", "multipart/mixed with a boundary"),
        ("multipart/mixed", "--x--", "multipart/mixed with a boundary"),
        ('multipart/mixed; boundary="batch_X"', "--batch_X\nContent-Type: application/http\n\n", "closing"),
        (
            'multipart/mixed; boundary="batch_X"',
            "--batch_X\nContent-Type: text/plain\n\nhello\n--batch_X--\n",
            "Unsupported Content-Type",
        ),
        (
            'multipart/mixed; boundary="batch_X"',
            "--batch_X\nContent-Type: application/http\n\nPOST /api/data/v9.2/$batch HTTP/1.1\n\n--batch_X--\n",
            "cannot contain another batch",
        ),
    ],
)
def test_malformed_batches_are_refused_with_400(
    service: FakeService, content_type: str, body: str, message: str
) -> None:
    request = EnvironBuilder(
        path="/api/data/v9.2/$batch",
        method="POST",
        base_url=ORG,
        headers=[("Content-Type", content_type)],
        data=body.replace("\n", "\r\n").encode(),
    ).get_request()
    assert message in error_of(run(service, request))["message"]
    assert service.seen == []


def test_an_unexpected_dispatcher_failure_becomes_a_500_part(service: FakeService) -> None:
    body = """--batch_X
Content-Type: application/http
Content-Transfer-Encoding: binary

POST /api/data/v9.2/boom HTTP/1.1
Content-Type: application/json

{}
--batch_X
Content-Type: application/http
Content-Transfer-Encoding: binary

GET /api/data/v9.2/accounts HTTP/1.1

--batch_X--
"""
    response = run(service, batch_request(body, "batch_X", prefer="odata.continue-on-error"))
    boom, after = (single(p) for p in read_parts(response))
    assert boom.status == 500
    assert boom.json() == {"error": {"code": "0x80040216", "message": "An unexpected error occurred."}}
    assert after.status == 200


def test_a_reference_to_a_failed_part_fails_that_part(service: FakeService) -> None:
    body = """--batch_X
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-ID: 1

POST /api/data/v9.2/tasks HTTP/1.1
Content-Type: application/json

{"subject": "%s"}
--batch_X
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-ID: 2

PATCH $1 HTTP/1.1
Content-Type: application/json

{"subject": "fine"}
--batch_X--
""" % ("z" * 250)
    response = run(service, batch_request(body, "batch_X", prefer="odata.continue-on-error"))
    first, second = (single(p) for p in read_parts(response))
    assert first.status == 400
    assert second.status == 400
    assert second.json()["error"]["message"] == "Content-ID Reference: '$1' does not exist in the batch context."
    assert len(service.seen) == 1


def test_duplicate_content_ids_in_a_change_set_are_refused(service: FakeService) -> None:
    body = REFERENCES_IN_BODY.replace("Content-ID: 2", "Content-ID: 1")
    assert "more than once" in error_of(run(service, batch_request(body, "batch_AAA123")))["message"]
