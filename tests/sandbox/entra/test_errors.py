"""Entra's error body: fields, description format, identifiers and the status of each family of codes."""

from __future__ import annotations

import calendar
import time
import uuid

import pytest

from dataverse_sandbox.entra import aadsts, errors


def test_the_body_carries_every_field_entra_sends() -> None:
    now = calendar.timegm((2023, 2, 20, 7, 21, 29, 0, 0, 0))
    correlation = str(uuid.uuid4())
    context = errors.ErrorContext(now, correlation)

    body = errors.error_body(aadsts.invalid_client_secret("app-id"), context)

    assert body["error"] == "invalid_client"
    assert body["error_codes"] == [7000215]
    assert body["timestamp"] == "2023-02-20 07:21:29Z"
    assert body["correlation_id"] == correlation
    assert body["error_uri"] == "https://login.microsoftonline.com/error?code=7000215"
    assert body["error_description"] == (
        "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client "
        "secret value, not the client secret ID, for a secret added to app 'app-id'.\r\n"
        f"Trace ID: {context.trace_id}\r\nCorrelation ID: {correlation}\r\nTimestamp: 2023-02-20 07:21:29Z"
    )


@pytest.mark.parametrize("header", [None, "", "not-a-guid"])
def test_a_missing_or_malformed_client_request_id_gets_a_new_correlation_id(header: str | None) -> None:
    context = errors.ErrorContext(time.time(), header)

    assert str(uuid.UUID(context.correlation_id)) == context.correlation_id
    assert context.trace_id != context.correlation_id


@pytest.mark.parametrize(
    ("error", "status", "kind"),
    [
        (aadsts.invalid_client_secret("x"), 401, "invalid_client"),
        (aadsts.missing_client_credentials(), 401, "invalid_client"),
        (aadsts.assertion_time_invalid(1.5, 0.0, 1.0), 401, "invalid_client"),
        (aadsts.application_not_found("x", "t"), 400, "unauthorized_client"),
        (aadsts.unknown_resource("r", "t"), 400, "invalid_resource"),
        (aadsts.code_already_redeemed(), 400, "invalid_grant"),
        (aadsts.service_unavailable(), 503, "temporarily_unavailable"),
        (aadsts.internal_error(), 500, "server_error"),
    ],
)
def test_statuses_follow_the_reference(error: errors.EntraError, status: int, kind: str) -> None:
    assert (error.status, error.error) == (status, kind)


def test_assertion_times_are_printed_as_dotnet_round_trip_times() -> None:
    error = aadsts.assertion_time_invalid(1621505598.677, 1621502400.0, None)

    assert "Current time: 2021-05-20T10:13:18.6770000Z" in error.message
    assert "assertion valid from 2021-05-20T09:20:00.0000000Z" in error.message
    assert "expiry time of assertion (not given)" in error.message


def test_the_exception_text_is_the_aadsts_line() -> None:
    assert str(aadsts.missing_parameter("scope")) == (
        "AADSTS900144: The request body must contain the following parameter: 'scope'."
    )
