"""Reading token endpoint answers: both Entra dialects, plain OAuth servers, and answers that are not tokens."""

from __future__ import annotations

import email.utils
import json
from typing import Any

import pytest
import requests

from connector.auth.token_response import clock_skew, read_token_response
from connector.errors import AuthError, ConfigError, TransientError
from connector.results import TokenSet
from tests.support.auth import (
    CANARY_ACCESS_TOKEN,
    CANARY_ID_TOKEN,
    CANARY_REFRESH_TOKEN,
    TOKEN_URL,
    code_oauth,
    secret_oauth,
    settings_for,
)

SENT = 1_700_000_000.0


def response(status: int, body: Any, content_type: str = "application/json", **headers: str) -> requests.Response:
    answer = requests.Response()
    answer.status_code = status
    answer._content = body if isinstance(body, bytes) else json.dumps(body).encode()
    answer.headers["Content-Type"] = content_type
    answer.headers.update(headers)
    answer.url = TOKEN_URL
    return answer


def read(answer: requests.Response, *, previous: TokenSet | None = None, kind: str = "secret") -> TokenSet:
    oauth = settings_for(secret_oauth() if kind == "secret" else code_oauth()).oauth
    grant = "refresh_token" if previous else "client_credentials"
    return read_token_response(answer, oauth, grant=grant, sent_at=SENT, received_at=SENT + 1, previous=previous)


def test_v2_response_with_integers() -> None:
    token = read(response(200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                                "access_token": CANARY_ACCESS_TOKEN}))  # fmt: skip
    assert token == TokenSet(CANARY_ACCESS_TOKEN, "Bearer", SENT + 3599, None, None)


def test_v1_response_with_strings() -> None:
    body = {
        "access_token": CANARY_ACCESS_TOKEN,
        "token_type": "Bearer",
        "expires_in": "3599",
        "expires_on": "1388452167",
        "resource": "https://contoso.crm.dynamics.com",
        "refresh_token": CANARY_REFRESH_TOKEN,
        "scope": "user_impersonation",
        "id_token": CANARY_ID_TOKEN,
    }
    token = read(response(200, body, "application/json; charset=utf-8"))
    assert token.expires_at == SENT + 3599  # expires_in wins: it does not depend on the two clocks agreeing
    assert (token.refresh_token, token.scope) == (CANARY_REFRESH_TOKEN, "user_impersonation")
    assert CANARY_ID_TOKEN not in repr(token.to_dict())  # the ID token is never kept


def test_expires_on_is_the_fallback_and_no_expiry_is_unknown() -> None:
    token = read(response(200, {"access_token": "a", "token_type": "bearer", "expires_on": "1700000500"}))
    assert (token.expires_at, token.token_type) == (1_700_000_500.0, "Bearer")
    assert read(response(200, {"access_token": "a"})).expires_at is None


def test_refresh_without_rotation_keeps_the_old_refresh_token_and_scope() -> None:
    previous = TokenSet("old", refresh_token=CANARY_REFRESH_TOKEN, scope="user_impersonation")
    token = read(response(200, {"access_token": "new", "expires_in": 60}), previous=previous, kind="code")
    assert (token.access_token, token.refresh_token, token.scope) == ("new", CANARY_REFRESH_TOKEN, "user_impersonation")
    rotated = read(response(200, {"access_token": "n", "refresh_token": "r2"}), previous=previous, kind="code")
    assert rotated.refresh_token == "r2"


@pytest.mark.parametrize("status", [200, 302, 404, 401])
def test_html_answer_is_a_config_error_naming_the_token_url(status: int) -> None:
    answer = response(status, b"<html><body>Sign in " + CANARY_ACCESS_TOKEN.encode() + b"</body></html>", "text/html")
    with pytest.raises(ConfigError) as caught:
        read(answer)
    assert caught.value.fields == ["oauth2.access_token_url"]
    assert TOKEN_URL in caught.value.user_message
    assert f"HTTP {status} with text/html" in caught.value.user_message
    assert CANARY_ACCESS_TOKEN not in str(caught.value)  # the body is never quoted


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_non_json_server_failure_is_transient(status: int) -> None:
    with pytest.raises(TransientError) as caught:
        read(response(status, b"<html>busy</html>", "text/html", **{"Retry-After": "7"}))
    assert TOKEN_URL in caught.value.user_message
    assert caught.value.retry_after == 7.0


def test_json_without_access_token_or_error_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        read(response(200, {"hello": "world"}))
    with pytest.raises(ConfigError):
        read(response(400, {"message": "no"}))


def test_error_body_becomes_the_mapped_error() -> None:
    body = {"error": "invalid_client", "error_codes": [7000215], "error_description": "AADSTS7000215: x"}
    with pytest.raises(AuthError) as caught:
        read(response(401, body))
    assert caught.value.field == "oauth2.client_secret"
    assert caught.value.status == 401


def test_an_error_member_wins_even_with_status_200() -> None:
    with pytest.raises(AuthError):
        read(response(200, {"error": "invalid_client"}))


def test_non_bearer_token_is_refused() -> None:
    with pytest.raises(AuthError, match="Bearer tokens only"):
        read(response(200, {"access_token": "a", "token_type": "pop"}))


def test_clock_skew_from_the_date_header() -> None:
    date = email.utils.formatdate(SENT - 3600, usegmt=True)
    assert clock_skew(response(200, {}, Date=date), SENT) == pytest.approx(3600)
    assert clock_skew(response(200, {}), SENT) is None
    assert clock_skew(response(200, {}, Date="garbage"), SENT) is None
