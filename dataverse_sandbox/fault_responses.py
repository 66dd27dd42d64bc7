"""The responses an injected fault answers with, in the shapes the real services use.

What it is for: a 5xx in Dataverse's error shape for Web API paths and in Entra's shape for token-service
paths, the token service's ``503 temporarily_unavailable`` during an outage, and a ``200`` whose JSON is
cut short. The codes and messages are the sandbox's choice (not documented by Microsoft);
``docs/sandbox.md`` lists them.

What it is not for: deciding which request gets a fault (``faults``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from werkzeug.http import HTTP_STATUS_CODES

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse

__all__ = ["API_PREFIX", "error_response", "malformed_response", "token_outage_response"]

#: Paths of the Web API; everything else except the admin endpoint belongs to the token service.
API_PREFIX = "/api/"
#: Dataverse's code for an unexpected server error, used for injected 5xx answers.
UNEXPECTED_ERROR_CODE = "0x80040216"
#: The AADSTS code and text of injected token-service failures.
TRANSIENT_AADSTS_CODE = 90033
_TRANSIENT_TEXT = "A transient error has occurred. Please try again."


def _json_response(
    start_response: StartResponse, status: int, payload: object, content_type: str, extra: list[tuple[str, str]]
) -> Iterable[bytes]:
    body = json.dumps(payload).encode()
    start_response(
        f"{status} {HTTP_STATUS_CODES.get(status, 'Error')}",
        [("Content-Type", content_type), *extra, ("Content-Length", str(len(body)))],
    )
    return [body]


_DATAVERSE_MESSAGES = {
    502: "An unexpected error occurred.",
    503: "The service is temporarily unavailable. Please try again later.",
    504: "The request timed out before the server could complete it.",
}


def error_response(status: int, path: str, start_response: StartResponse) -> Iterable[bytes]:
    """Answer with a 5xx: Dataverse's error shape under ``/api/``, Entra's elsewhere.

    :param status: the status to send.
    :param path: the request's path, which decides the shape.
    :param start_response: the WSGI callable.
    :returns: the body.
    """
    if path.startswith(API_PREFIX):
        message = _DATAVERSE_MESSAGES.get(status, "An unexpected error occurred.")
        return _json_response(
            start_response,
            status,
            {"error": {"code": UNEXPECTED_ERROR_CODE, "message": message}},
            "application/json; odata.metadata=minimal",
            [("OData-Version", "4.0")],
        )
    error = "temporarily_unavailable" if status in (503, 504) else "server_error"
    return _json_response(
        start_response,
        status,
        _entra_error(error, TRANSIENT_AADSTS_CODE, _TRANSIENT_TEXT),
        "application/json; charset=utf-8",
        [],
    )


def token_outage_response(start_response: StartResponse) -> Iterable[bytes]:
    """Answer as the token service does when it is unavailable: ``503 temporarily_unavailable``.

    :param start_response: the WSGI callable.
    :returns: the body.
    """
    return _json_response(
        start_response,
        503,
        _entra_error("temporarily_unavailable", TRANSIENT_AADSTS_CODE, _TRANSIENT_TEXT),
        "application/json; charset=utf-8",
        [],
    )


def _entra_error(error: str, code: int, text: str) -> dict[str, object]:
    timestamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
    return {
        "error": error,
        "error_description": (
            f"AADSTS{code}: {text}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\n"
            f"Timestamp: {timestamp}"
        ),
        "error_codes": [code],
        "timestamp": timestamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
    }


def malformed_response(body: bytes, start_response: StartResponse) -> Iterable[bytes]:
    """Answer ``200`` with a JSON body that does not parse (the first half of ``body``, or a stub).

    :param body: the response the application really produced.
    :param start_response: the WSGI callable.
    :returns: the broken body.
    """
    text = body.strip()
    # A strict prefix of a JSON object or array is never valid JSON: its closing bracket is missing.
    broken = text[: max(len(text) // 2, 1)] if text[:1] in (b"{", b"[") and len(text) > 2 else b'{"value":['
    start_response(
        "200 OK",
        [
            ("Content-Type", "application/json; odata.metadata=minimal"),
            ("OData-Version", "4.0"),
            ("Content-Length", str(len(broken))),
        ],
    )
    return [broken]
