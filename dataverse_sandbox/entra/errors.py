"""The token service's failures: one exception carrying the AADSTS code, and the Entra-shaped text it becomes.

Every refusal of the sandbox token service is raised as :class:`EntraError` (built by the factories in
``aadsts.py``) and rendered once, at the edge, either as Entra's JSON error body (token, discovery and key
endpoints) or as a redirect / HTML page (authorize endpoint), stamped with the trace id, correlation id and time
(reference ``dataverse-webapi.md`` §6.6).

Not for: the codes and texts themselves (``aadsts.py``) or deciding *when* a request fails (the endpoints).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

__all__ = [
    "EntraError",
    "ErrorContext",
    "dotnet_timestamp",
    "entra_timestamp",
    "error_body",
    "error_description",
]

#: Where Entra points ``error_uri``; informational only, the sandbox never fetches it.
ERROR_LOOKUP_URL = "https://login.microsoftonline.com/error?code="


class EntraError(Exception):
    """A refusal of the token service, in Entra's terms.

    :param code: the AADSTS number (``7000215`` for ``AADSTS7000215``).
    :param error: the OAuth 2.0 ``error`` value clients branch on (``invalid_client``, ``invalid_grant``, …).
    :param message: the text after ``AADSTSnnnn: `` in ``error_description``; never contains a secret.
    :param status: the HTTP status of a JSON error response.
    """

    def __init__(self, code: int, error: str, message: str, *, status: int = 400) -> None:
        super().__init__(f"AADSTS{code}: {message}")
        self.code = code
        self.error = error
        self.message = message
        self.status = status


class ErrorContext:
    """The per-request identifiers Entra stamps on every error: trace id, correlation id and time.

    :param now: the request time in epoch seconds (from the service's clock).
    :param correlation_id: the client's ``client-request-id`` when it sent a GUID, otherwise a new one.
    """

    def __init__(self, now: float, correlation_id: str | None = None) -> None:
        self.now = now
        self.trace_id = str(uuid.uuid4())
        self.correlation_id = _guid_or_new(correlation_id)


def _guid_or_new(value: str | None) -> str:
    if value:
        try:
            return str(uuid.UUID(value))
        except ValueError:
            pass
    return str(uuid.uuid4())


def entra_timestamp(epoch_seconds: float) -> str:
    """Format a time the way Entra's error bodies do.

    :param epoch_seconds: seconds since the epoch.
    :returns: ``yyyy-MM-dd HH:mm:ssZ`` in UTC, e.g. ``2023-02-20 07:21:29Z``.
    """
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(epoch_seconds))


def dotnet_timestamp(epoch_seconds: float) -> str:
    """Format a time as .NET's round-trip format, as Entra's messages print times inside the text.

    :param epoch_seconds: seconds since the epoch.
    :returns: e.g. ``2021-05-20T10:13:18.6770000Z``.
    """
    whole = int(epoch_seconds)
    ticks = round((epoch_seconds - whole) * 10_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{ticks:07d}Z"


def error_description(error: EntraError, context: ErrorContext) -> str:
    r""":returns: ``AADSTSnnnn: text\r\nTrace ID: …\r\nCorrelation ID: …\r\nTimestamp: …``."""
    return (
        f"AADSTS{error.code}: {error.message}\r\n"
        f"Trace ID: {context.trace_id}\r\n"
        f"Correlation ID: {context.correlation_id}\r\n"
        f"Timestamp: {entra_timestamp(context.now)}"
    )


def error_body(error: EntraError, context: ErrorContext) -> dict[str, Any]:
    """Build Entra's JSON error body.

    :param error: the refusal.
    :param context: the request's identifiers and time.
    :returns: ``error``, ``error_description``, ``error_codes``, ``timestamp``, ``trace_id``, ``correlation_id``
        and ``error_uri``, as Entra sends them.
    """
    return {
        "error": error.error,
        "error_description": error_description(error, context),
        "error_codes": [error.code],
        "timestamp": entra_timestamp(context.now),
        "trace_id": context.trace_id,
        "correlation_id": context.correlation_id,
        "error_uri": f"{ERROR_LOOKUP_URL}{error.code}",
    }
