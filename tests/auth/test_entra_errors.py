"""Entra error bodies and authorization callbacks become errors naming the field to fix (issue 4's table)."""

from __future__ import annotations

from typing import Any

import pytest

from connector.auth.entra_errors import (
    AUTHORIZATION_REQUIRED,
    authorization_callback_error,
    token_endpoint_error,
)
from connector.errors import AuthError, ConnectorError, TransientError
from connector.oauth_settings import OAuthSettings
from tests.support.auth import (
    CANARY_CLIENT_SECRET,
    RESOURCE,
    TOKEN_URL,
    code_oauth,
    jwt_oauth,
    secret_oauth,
    settings_for,
)


def entra_body(code: int, error: str, text: str) -> dict[str, Any]:
    """An error body shaped like Entra's (dataverse-webapi.md §6.6)."""
    return {
        "error": error,
        "error_description": f"AADSTS{code}: {text}\r\nTrace ID: 6bad8289\r\nCorrelation ID: 63b8bb61\r\n"
        "Timestamp: 2023-02-20 07:21:29Z",
        "error_codes": [code],
        "timestamp": "2023-02-20 07:21:29Z",
        "trace_id": "6bad8289-db4a-49da-8609-0848d8d71700",
        "correlation_id": "63b8bb61-5ca6-4ae3-8224-15a4de11cd87",
    }


def oauth(kind: str) -> OAuthSettings:
    raw = {
        "secret": secret_oauth(),
        "jwt": jwt_oauth(),
        "code": code_oauth(),
        "scope": secret_oauth(
            access_token_url="https://login.microsoftonline.com/contoso/oauth2/v2.0/token",
            access_token_parameters=[],
            scope=f"{RESOURCE}/.default",
        ),
    }[kind]
    return settings_for(raw).oauth


# (AADSTS code, OAuth error, settings kind, grant) -> field named
TABLE = [
    (7000215, "invalid_client", "secret", "client_credentials", "oauth2.client_secret"),
    (7000222, "invalid_client", "secret", "client_credentials", "oauth2.client_secret"),
    (7000218, "invalid_client", "secret", "client_credentials", "oauth2.client_secret"),
    (7000218, "invalid_client", "jwt", "client_credentials", "oauth2.jwt.signature_key"),
    (700027, "invalid_client", "jwt", "client_credentials", "oauth2.jwt.signature_key"),
    (50027, "invalid_client", "jwt", "client_credentials", "oauth2.jwt.signature_key"),
    (700024, "invalid_client", "jwt", "client_credentials", "oauth2.jwt.expiration_seconds"),
    (700021, "invalid_client", "jwt", "client_credentials", "oauth2.jwt.issuer"),
    (50048, "invalid_client", "jwt", "client_credentials", "oauth2.jwt.subject"),
    (700016, "unauthorized_client", "secret", "client_credentials", "oauth2.client_id"),
    (700025, "invalid_client", "code", "authorization_code", "oauth2.client_secret"),
    (500011, "invalid_resource", "secret", "client_credentials", "oauth2.access_token_parameters"),
    (500011, "invalid_resource", "code", "authorization_code", "oauth2.authorization_parameters"),
    (901002, "invalid_request", "secret", "client_credentials", "oauth2.access_token_parameters"),
    (70011, "invalid_scope", "scope", "client_credentials", "oauth2.scope"),
    (1002012, "invalid_scope", "scope", "client_credentials", "oauth2.scope"),
    (90002, "invalid_request", "secret", "client_credentials", "oauth2.access_token_url"),
    (9001023, "invalid_request", "secret", "client_credentials", "oauth2.access_token_url"),
    (70003, "unsupported_grant_type", "secret", "client_credentials", "oauth2.grant_type"),
    (500112, "invalid_grant", "code", "authorization_code", "callback_url"),
]


@pytest.mark.parametrize(("code", "error", "kind", "grant", "field"), TABLE)
def test_aadsts_codes_name_the_field(code: int, error: str, kind: str, grant: str, field: str) -> None:
    result = token_endpoint_error(entra_body(code, error, "text"), oauth(kind), status=400, grant=grant)
    assert isinstance(result, AuthError)
    assert result.field == field
    assert f"({field})" in result.user_message or field == "callback_url"
    assert f"AADSTS{code}: text" in result.user_message  # the server's words, first line only
    assert "Trace ID" not in result.user_message
    assert result.code == error
    assert result.status == 400


def test_an_aadsts_number_too_long_for_any_code_is_no_code() -> None:
    # int() refuses 4301 digits: the reader of the server's text raised a ValueError before.
    body = {"error": "invalid_client", "error_description": "AADSTS" + "7" * 4301 + ": text"}
    result = token_endpoint_error(body, oauth("secret"), status=401, grant="client_credentials")
    assert isinstance(result, AuthError)
    assert result.code == "invalid_client"


def test_invalid_secret_message_tells_what_to_do() -> None:
    body = entra_body(7000215, "invalid_client", "Invalid client secret provided.")
    result = token_endpoint_error(body, oauth("secret"), status=401, grant="client_credentials")
    assert result.user_message.startswith("Client Secret (oauth2.client_secret) is wrong: enter the secret's value")


def test_unknown_resource_message_quotes_the_resource() -> None:
    result = token_endpoint_error(
        entra_body(500011, "invalid_resource", "The resource principal was not found"),
        oauth("secret"),
        status=400,
        grant="client_credentials",
    )
    assert f"The resource parameter {RESOURCE!r} in Access Token Parameters" in result.user_message


def test_unknown_tenant_message_quotes_the_token_url() -> None:
    result = token_endpoint_error(
        entra_body(90002, "invalid_request", "Tenant 'x' not found."), oauth("secret"), status=400, grant="c"
    )
    assert TOKEN_URL in result.user_message


@pytest.mark.parametrize("code", [54005, 70008, 700082, 50173, 65001, 501481])
def test_dead_grants_tell_the_user_to_authorize_again(code: int) -> None:
    result = token_endpoint_error(
        entra_body(code, "invalid_grant", "text"), oauth("code"), status=400, grant="refresh_token"
    )
    assert isinstance(result, AuthError)
    assert result.code == AUTHORIZATION_REQUIRED
    assert "authorized again" in result.user_message


def test_missing_parameter_names_the_parameter_field() -> None:
    body = entra_body(900144, "invalid_request", "The request body must contain the following parameter: 'scope'.")
    assert token_endpoint_error(body, oauth("scope"), status=400, grant="client_credentials").field == "oauth2.scope"
    body = entra_body(900144, "invalid_request", "The request body must contain the following parameter: 'foo'.")
    result = token_endpoint_error(body, oauth("secret"), status=400, grant="client_credentials")
    assert result.field == "oauth2.access_token_parameters"


@pytest.mark.parametrize("kind", ["secret", "jwt", "code"])
def test_a_missing_scope_is_pinned_on_scope_even_when_none_is_set(kind: str) -> None:
    """v2 with a resource parameter only: the resource is not sent, and Entra asks for scope (issue 12, item 10)."""
    body = entra_body(900144, "invalid_request", "The request body must contain the following parameter: 'scope'.")
    result = token_endpoint_error(body, oauth(kind), status=400, grant="client_credentials")
    assert result.field == "oauth2.scope"
    assert "Scope (oauth2.scope) is required" in result.user_message
    assert "None" not in result.user_message


@pytest.mark.parametrize(
    ("error", "kind", "grant", "field"),
    [
        ("invalid_client", "secret", "client_credentials", "oauth2.client_secret"),
        ("invalid_client", "jwt", "client_credentials", "oauth2.jwt.signature_key"),
        ("invalid_client", "code", "authorization_code", "oauth2.client_secret"),
        ("unauthorized_client", "secret", "client_credentials", "oauth2.client_id"),
        ("invalid_target", "secret", "client_credentials", "oauth2.access_token_parameters"),
        ("invalid_scope", "scope", "client_credentials", "oauth2.scope"),
        ("invalid_scope", "secret", "client_credentials", "oauth2.access_token_parameters"),
        ("unsupported_grant_type", "secret", "client_credentials", "oauth2.grant_type"),
        ("invalid_grant", "secret", "client_credentials", "oauth2.client_secret"),
    ],
)
def test_plain_oauth_errors_fall_back_to_the_error_code(error: str, kind: str, grant: str, field: str) -> None:
    body = {"error": error, "error_description": "client authentication failed"}  # oidc-provider's generic text
    result = token_endpoint_error(body, oauth(kind), status=400, grant=grant)
    assert (type(result), result.field) == (AuthError, field)


def test_plain_invalid_grant_on_refresh_means_authorize_again() -> None:
    body = {"error": "invalid_grant", "error_description": "grant request is invalid"}
    result = token_endpoint_error(body, oauth("code"), status=400, grant="refresh_token")
    assert result.code == AUTHORIZATION_REQUIRED


@pytest.mark.parametrize(
    ("skew", "field"), [(3600.0, "oauth2.jwt.expiration_seconds"), (5.0, "oauth2.jwt.signature_key")]
)
def test_generic_assertion_refusal_with_a_skewed_clock_blames_the_time_window(skew: float, field: str) -> None:
    body = {"error": "invalid_client", "error_description": "client authentication failed"}
    result = token_endpoint_error(body, oauth("jwt"), status=400, grant="client_credentials", clock_skew=skew)
    assert result.field == field
    if skew > 60:
        assert "+3600 s" in result.user_message


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (entra_body(90033, "temporarily_unavailable", "A transient error has occurred."), 503),
        (entra_body(50000, "server_error", "There was an error issuing a token."), 500),
        ({"error": "server_error"}, 500),
        ({"error": "something_new"}, 502),
    ],
)
def test_unavailable_service_is_transient(body: dict[str, Any], status: int) -> None:
    result = token_endpoint_error(body, oauth("secret"), status=status, grant="client_credentials")
    assert isinstance(result, TransientError)
    assert TOKEN_URL in result.user_message


def test_unknown_error_is_an_auth_error_without_a_field() -> None:
    result = token_endpoint_error({"error": "weird"}, oauth("secret"), status=400, grant="client_credentials")
    assert (type(result), result.field, result.code) == (AuthError, None, "weird")


def test_server_text_is_scrubbed_and_truncated() -> None:
    body = {"error": "invalid_client", "error_description": f"bad secret {CANARY_CLIENT_SECRET} " + "x" * 1000}
    result = token_endpoint_error(
        body, oauth("secret"), status=401, grant="client_credentials", secrets=[CANARY_CLIENT_SECRET]
    )
    assert CANARY_CLIENT_SECRET not in str(result)
    assert "***" in result.user_message
    assert len(result.user_message) < 600


def callback(error: str, description: str = "") -> dict[str, str]:
    return {"error": error, "error_description": description} if description else {"error": error}


@pytest.mark.parametrize(
    ("params", "field", "kind"),
    [
        (callback("access_denied", "AADSTS65004: User declined to consent."), None, "again"),
        (callback("invalid_request", "AADSTS50011: The redirect URI does not match."), "callback_url", "auth"),
        (callback("invalid_resource", "AADSTS500011: not found"), "oauth2.authorization_parameters", "auth"),
        (callback("unauthorized_client", "AADSTS700016: not found"), "oauth2.client_id", "auth"),
        (callback("invalid_request", "AADSTS90002: Tenant not found"), "oauth2.access_token_url", "auth"),
        (callback("temporarily_unavailable"), "oauth2.access_token_url", "transient"),
        (callback("invalid_request", "something"), None, "auth"),
    ],
)
def test_error_callbacks_name_the_field(params: dict[str, str], field: str | None, kind: str) -> None:
    result: ConnectorError = authorization_callback_error(params, oauth("code"))
    assert result.field == field
    if kind == "again":
        assert result.code == AUTHORIZATION_REQUIRED
    elif kind == "transient":
        assert isinstance(result, TransientError)
    else:
        assert isinstance(result, AuthError)


def test_error_callback_with_a_given_authorization_url_names_that_field() -> None:
    settings = settings_for(code_oauth(authorization_url="https://login.example/contoso/authorize")).oauth
    params = {"error": "invalid_request", "error_description": "AADSTS90002: Tenant 'contoso' not found."}
    assert authorization_callback_error(params, settings).field == "oauth2.authorization_url"
