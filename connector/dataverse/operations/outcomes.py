"""Turning answers and failures into :class:`~connector.results.OperationResult` values.

* A successful write or read becomes ``success`` (``deleted`` for a delete, ``not_modified`` for a conditional get)
  with the properties hosts track: ``etag``, ``id``, ``entity_url``, ``http_status``.
* An error answer becomes, with Return Application Error Responses on, an ``application_error`` result whose
  payload is the service's error body; with it off, a ``failed`` result. Both carry an :class:`ErrorInfo` whose
  message has Boomi's form ``(<code>)<message>[<http status>]``, and a ``reason`` property for the conditional
  outcomes a process usually branches on (``changed_since_read``, ``already_exists``, ``not_found``). A throttled
  failure's ``Retry-After`` goes into :attr:`~connector.results.ErrorInfo.retry_after`.
* Any :class:`~connector.errors.ConnectorError` raised while handling a document becomes a ``failed`` result,
  except one saying the request may have been carried out and was not sent again (an ambiguous
  :class:`~connector.errors.TransientError`): that document's result is ``outcome_unknown``
  (:func:`unknown_result`), never ``failed``, because a host would send a failed document again.

Not for deciding whether to retry: the transport did that before an answer reaches this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import requests

from connector.dataverse.odata.answers import error_body
from connector.errors import ConnectorError, FailureType, TransientError
from connector.results import ErrorInfo, OperationResult, ResultStatus
from connector.transport import Transport

__all__ = [
    "error_result",
    "failure_result",
    "internal_failure",
    "properties_of",
    "success_result",
    "unknown_result",
]

# Statuses that are about the connection, not the document: never turned into application error documents.
_CONNECTION_STATUSES: Final = frozenset({401, 407})


def properties_of(**values: Any) -> dict[str, str]:
    """:returns: the tracked properties given, as text, without the ones that are ``None``."""
    return {name: str(value) for name, value in values.items() if value is not None}


def success_result(
    payload: Mapping[str, Any] | None,
    properties: Mapping[str, str],
    index: int | None,
    status: ResultStatus = ResultStatus.SUCCESS,
) -> OperationResult:
    """:returns: a successful result."""
    return OperationResult(status=status, payload=payload, properties=dict(properties), input_index=index)


def error_result(
    transport: Transport,
    response: requests.Response,
    index: int | None,
    *,
    application_errors: bool,
    reason: str | None = None,
    field: str | None = None,
    properties: Mapping[str, str] | None = None,
) -> OperationResult:
    """The result for an error answer.

    :param transport: the connection's transport (it builds the error in Boomi's form).
    :param response: the answer, status 400 or more.
    :param index: the input document's index.
    :param application_errors: Return Application Error Responses.
    :param reason: a short machine-readable reason (``changed_since_read`` ...).
    :param field: the document member or option to fix, when one is to blame.
    :param properties: further tracked properties (the record's id and URL).
    :returns: an ``application_error`` or a ``failed`` result.
    """
    error = transport.error_for(response)
    info = ErrorInfo(
        message=error.user_message,
        failure_type=error.failure_type.value,
        code=error.code,
        status=response.status_code,
        field=field or error.field,
        retry_after=_retry_after(error),
    )
    tracked = dict(properties or {})
    tracked.update(properties_of(http_status=response.status_code, reason=reason))
    if application_errors and response.status_code not in _CONNECTION_STATUSES:
        return OperationResult(
            status=ResultStatus.APPLICATION_ERROR,
            payload=error_body(response),
            properties=tracked,
            error=info,
            input_index=index,
        )
    return OperationResult(status=ResultStatus.FAILED, properties=tracked, error=info, input_index=index)


def failure_result(
    error: ConnectorError, index: int | None, properties: Mapping[str, str] | None = None
) -> OperationResult:
    """The result for an error raised while handling a document.

    :param error: the error.
    :param index: the input document's index.
    :param properties: tracked properties known before the error (the record's id and URL).
    :returns: ``outcome_unknown`` when the error says the request may have been carried out and was not sent again,
        else ``failed``.
    """
    if isinstance(error, TransientError) and error.ambiguous:
        return unknown_result(error, index, properties)
    info = ErrorInfo(
        message=error.user_message,
        failure_type=error.failure_type.value,
        code=error.code,
        status=error.status,
        field=error.field,
        retry_after=_retry_after(error),
    )
    tracked = {**(properties or {}), **properties_of(http_status=error.status)}
    return OperationResult(status=ResultStatus.FAILED, properties=tracked, error=info, input_index=index)


def unknown_result(
    cause: ConnectorError, index: int | None, properties: Mapping[str, str] | None = None, *, advice: str = ""
) -> OperationResult:
    """The result of a document whose request may or may not have been carried out, when nothing could tell which.

    :param cause: what made the outcome unknown (a lost or unreadable answer).
    :param index: the input document's index.
    :param properties: tracked properties known (``id`` and ``entity_url`` when the record's key is known).
    :param advice: what the host should check before sending the document again; a default sentence otherwise.
    :returns: an ``outcome_unknown`` result whose error says so (failure type of the cause, usually ``transient``).
    """
    advice = advice or "check whether it was carried out before sending it again"
    message = cause.user_message.rstrip(".")
    if "may have been processed" not in message:
        message += "; the request may have been processed"
    info = ErrorInfo(
        message=f"Outcome unknown: {message}; {advice}",
        failure_type=cause.failure_type.value,
        code=cause.code,
        status=cause.status,
        field=cause.field,
    )
    tracked = {**(properties or {}), **properties_of(http_status=cause.status)}
    return OperationResult(status=ResultStatus.UNKNOWN, properties=tracked, error=info, input_index=index)


def _retry_after(error: ConnectorError) -> float | None:
    """The ``Retry-After`` a throttled failure carries, so the host learns when to send the document again."""
    return error.retry_after if isinstance(error, TransientError) else None


def internal_failure(index: int | None, kind: str) -> OperationResult:
    """:returns: the ``failed`` result for a defect of the connector itself (logged by the caller)."""
    info = ErrorInfo(
        message=f"The connector failed on this document ({kind}); see the runtime log",
        failure_type=FailureType.OPERATION.value,
    )
    return OperationResult(status=ResultStatus.FAILED, error=info, input_index=index)
