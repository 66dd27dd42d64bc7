"""The sandbox keeps the headers of every Web API request it serves, ``$batch`` parts included, never credentials."""

from __future__ import annotations

import uuid

from dataverse_sandbox.server import Sandbox
from tests.support.sandbox import WebApiSession

USER = "e39c5d16-675b-48d1-8e67-667427e9c084"


def test_headers_are_kept_per_request_and_per_batch_part(sandbox: Sandbox, api: WebApiSession) -> None:
    log = sandbox.service.headers_seen
    log.clear()
    answer = api.get("accounts?$top=1", headers={"CallerObjectId": USER, "MSCRM.SolutionUniqueName": "core"})
    assert answer.status_code == 200
    boundary = f"batch_{uuid.uuid4()}"
    body = (
        f"--{boundary}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        f"GET /api/data/v9.2/accounts?$top=1 HTTP/1.1\r\nMSCRMCallerID: {USER}\r\n\r\n\r\n--{boundary}--\r\n"
    )
    batch = api.post("$batch", data=body, headers={"Content-Type": f"multipart/mixed; boundary={boundary}"})
    assert batch.status_code == 200, batch.text
    single, outer, part = log.entries(path_prefix="/api/data/v9.2/")
    assert (single.method, single.query, single.in_batch) == ("GET", "$top=1", False)
    assert single.header("callerobjectid") == USER
    assert single.header("MSCRM.SolutionUniqueName") == "core"
    assert outer.path.endswith("$batch")
    assert not outer.in_batch
    assert part.in_batch
    assert part.header("MSCRMCallerID") == USER
    assert all(entry.header("Authorization") is None for entry in (single, outer, part))
    log.clear()
    assert log.entries() == []
