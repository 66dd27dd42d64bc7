"""The grants as HTTP requests, checked field by field with strict mocks (``responses``): every request expected is
made, nothing else is.
"""

from __future__ import annotations

import base64
import hashlib
import random
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, parse_qsl, unquote_plus, urlsplit

import jwt
import pytest
import requests
import responses

from connector.auth.assertion import ASSERTION_TYPE, ClientAssertionSigner
from connector.auth.entra_errors import AUTHORIZATION_REQUIRED
from connector.auth.grants import (
    basic_credentials,
    build_authorization_url,
    new_pkce_pair,
    redeem_authorization_code,
    refresh_token_set,
    request_client_credentials,
    start_authorization,
)
from connector.context import RuntimeContext
from connector.errors import AuthError, ConfigError, ConnectorError, TransientError
from connector.results import AuthorizationCallback, TokenSet
from connector.settings import ConnectionSettings
from connector.transport import RetryPolicy, Transport
from tests.support.auth import (
    AUTHORIZE_URL,
    CALLBACK,
    CANARY_ACCESS_TOKEN,
    CANARY_CLIENT_SECRET,
    CANARY_CODE,
    CANARY_REFRESH_TOKEN,
    CLIENT_ID,
    RESOURCE,
    TOKEN_URL,
    code_oauth,
    jwt_oauth,
    key_material,
    quick_transport,
    secret_oauth,
    settings_for,
)
from tests.support.clock import FakeClock

TOKEN_BODY = {"access_token": CANARY_ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 3599}


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as strict:
        yield strict


def form_of(call: Any) -> list[tuple[str, str]]:
    body = call.request.body
    return parse_qsl(body if isinstance(body, str) else body.decode(), keep_blank_values=True)


def cc(settings: ConnectionSettings, *, signer: ClientAssertionSigner | None = None) -> TokenSet:
    return request_client_credentials(settings.oauth, quick_transport(settings), clock=FakeClock(), signer=signer)


# --- authorization URL --------------------------------------------------------------------------------------------


def test_authorization_url_carries_every_parameter() -> None:
    settings = settings_for(
        code_oauth(
            scope="https://contoso.crm.dynamics.com/user_impersonation offline_access",
            authorization_parameters=[
                {"name": "resource", "value": RESOURCE},
                {"name": "prompt", "value": "select_account"},
                {"name": "client_id", "value": CLIENT_ID},  # an exact duplicate is sent once
            ],
        )
    ).oauth
    url = build_authorization_url(settings, state="st", code_challenge="ch")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == AUTHORIZE_URL  # derived from the token URL
    assert parse_qsl(parts.query) == [
        ("client_id", CLIENT_ID),
        ("response_type", "code"),
        ("redirect_uri", CALLBACK),
        ("state", "st"),
        ("code_challenge", "ch"),
        ("code_challenge_method", "S256"),
        ("scope", "https://contoso.crm.dynamics.com/user_impersonation offline_access"),
        ("resource", RESOURCE),
        ("prompt", "select_account"),
    ]


def test_a_given_authorization_url_keeps_its_own_query() -> None:
    settings = settings_for(code_oauth(authorization_url="https://idp.example/authorize?p=b2c_signin")).oauth
    url = build_authorization_url(settings, state="s", code_challenge="c")
    assert url.startswith("https://idp.example/authorize?p=b2c_signin&client_id=")


def test_start_gives_fresh_state_and_a_matching_s256_challenge() -> None:
    settings = settings_for(code_oauth()).oauth
    first, second = start_authorization(settings), start_authorization(settings)
    assert first.state != second.state
    assert first.code_verifier != second.code_verifier
    assert 43 <= len(first.code_verifier) <= 128
    query = parse_qs(urlsplit(first.url).query)
    expected = base64.urlsafe_b64encode(hashlib.sha256(first.code_verifier.encode()).digest()).decode().rstrip("=")
    assert query["code_challenge"] == [expected]
    assert query["state"] == [first.state]
    assert first.redirect_uri == CALLBACK
    assert first.code_verifier not in repr(first)


def test_pkce_pair_is_rfc7636_s256() -> None:
    verifier, challenge = new_pkce_pair()
    assert set(verifier) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert challenge == base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


def test_start_without_a_host_callback_url_is_a_config_error() -> None:
    settings = settings_for(code_oauth(), RuntimeContext(callback_url=None)).oauth
    with pytest.raises(ConfigError) as caught:
        start_authorization(settings)
    assert caught.value.fields == ["callback_url"]


def test_start_for_client_credentials_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        start_authorization(settings_for(secret_oauth()).oauth)
    assert caught.value.fields == ["oauth2.grant_type"]


# --- client credentials -----------------------------------------------------------------------------------------


def test_secret_in_the_body(mock: responses.RequestsMock) -> None:
    mock.post(TOKEN_URL, json=TOKEN_BODY)
    token = cc(settings_for(secret_oauth()))
    assert token.access_token == CANARY_ACCESS_TOKEN
    assert form_of(mock.calls[0]) == [
        ("grant_type", "client_credentials"),
        ("client_id", CLIENT_ID),
        ("client_secret", CANARY_CLIENT_SECRET),
        ("resource", RESOURCE),
    ]
    assert "Authorization" not in mock.calls[0].request.headers


def test_secret_over_http_basic_is_form_urlencoded_first(mock: responses.RequestsMock) -> None:
    mock.post(TOKEN_URL, json=TOKEN_BODY)
    settings = settings_for(
        secret_oauth(
            client_authentication="client_secret_basic",
            access_token_parameters=[
                {"name": "resource", "value": RESOURCE},
                {"name": "client_id", "value": CLIENT_ID},  # Boomi's "duplicate client_id"
            ],
        )
    )
    cc(settings)
    request = mock.calls[0].request
    scheme, encoded = request.headers["Authorization"].split(" ")
    user, password = base64.b64decode(encoded).decode().split(":")
    assert scheme == "Basic"
    assert set("+%") <= set(CANARY_CLIENT_SECRET)
    assert password != CANARY_CLIENT_SECRET  # encoded on the wire ...
    assert (unquote_plus(user), unquote_plus(password)) == (CLIENT_ID, CANARY_CLIENT_SECRET)  # ... and intact
    assert form_of(mock.calls[0]) == [
        ("grant_type", "client_credentials"),
        ("resource", RESOURCE),
        ("client_id", CLIENT_ID),
    ]


def test_basic_credentials_encoding() -> None:
    assert basic_credentials("a b", "x+y%z:") == "Basic " + base64.b64encode(b"a+b:x%2By%25z%3A").decode()


def test_duplicate_client_id_is_sent_once_and_extras_as_given(mock: responses.RequestsMock) -> None:
    mock.post(TOKEN_URL, json=TOKEN_BODY)
    settings = settings_for(
        secret_oauth(
            access_token_parameters=[
                {"name": "client_id", "value": CLIENT_ID},
                {"name": "resource", "value": RESOURCE},
                {"name": "x-extra", "value": "a b&c"},
            ]
        )
    )
    cc(settings)
    form = form_of(mock.calls[0])
    assert [name for name, _ in form].count("client_id") == 1
    assert ("x-extra", "a b&c") in form


def test_v2_scope_is_sent(mock: responses.RequestsMock) -> None:
    mock.post(TOKEN_URL, json=TOKEN_BODY)
    cc(settings_for(secret_oauth(access_token_parameters=[], scope=f"{RESOURCE}/.default")))
    assert ("scope", f"{RESOURCE}/.default") in form_of(mock.calls[0])


@pytest.mark.parametrize("name", ["grant_type", "client_secret", "client_assertion", "code", "refresh_token"])
def test_token_parameters_cannot_replace_protocol_parameters(name: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_for(secret_oauth(access_token_parameters=[{"name": name, "value": "x"}]))
    assert caught.value.fields == ["oauth2.access_token_parameters[0].name"]


def test_a_different_client_id_parameter_is_refused() -> None:
    with pytest.raises(ConfigError, match="differs from the value the connector sends"):
        settings_for(secret_oauth(access_token_parameters=[{"name": "client_id", "value": "other"}]))


def test_jwt_assertion_request(mock: responses.RequestsMock) -> None:
    mock.post(TOKEN_URL, json=TOKEN_BODY)
    settings = settings_for(jwt_oauth("PS256"))
    assert settings.oauth.jwt is not None
    signer = ClientAssertionSigner(settings.oauth.jwt, clock=FakeClock())
    cc(settings, signer=signer)
    form = dict(form_of(mock.calls[0]))
    assert form["grant_type"] == "client_credentials"
    assert form["client_id"] == CLIENT_ID
    assert form["client_assertion_type"] == ASSERTION_TYPE
    assert form["resource"] == RESOURCE
    assert "client_secret" not in form
    claims = jwt.decode(
        form["client_assertion"],
        key_material("PS256").certificate.public_key(),  # type: ignore[arg-type]
        algorithms=["PS256"],
        audience=TOKEN_URL,
        options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
    )
    assert claims["iss"] == CLIENT_ID


def test_every_attempt_carries_a_newly_signed_assertion(mock: responses.RequestsMock) -> None:
    """Entra refuses a replayed jti: a retried request signs a new assertion (new jti, iat) each time (issue 12)."""
    busy = {"error": "temporarily_unavailable", "error_description": "AADSTS90033: A transient error has occurred."}
    mock.post(TOKEN_URL, status=503, json=busy, headers={"Retry-After": "5"})
    mock.post(TOKEN_URL, status=429, json=busy, headers={"Retry-After": "3"})
    mock.post(TOKEN_URL, body=requests.ConnectionError("connection reset by peer"))  # may have been processed
    mock.post(TOKEN_URL, json=TOKEN_BODY)
    settings = settings_for(jwt_oauth("PS256"))
    assert settings.oauth.jwt is not None
    clock = FakeClock()
    signer = ClientAssertionSigner(settings.oauth.jwt, clock=clock)
    transport = Transport(
        settings, policy=RetryPolicy(), clock=clock, sleep=clock.sleep, wall_clock=clock, rng=random.Random(7)
    )
    started = clock()
    token = request_client_credentials(settings.oauth, transport, clock=clock, signer=signer)
    assert token.access_token == CANARY_ACCESS_TOKEN
    assertions = [dict(form_of(call))["client_assertion"] for call in mock.calls]
    claims = [
        jwt.decode(
            assertion,
            key_material("PS256").certificate.public_key(),  # type: ignore[arg-type]
            algorithms=["PS256"],
            audience=TOKEN_URL,
            options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
        )
        for assertion in assertions
    ]
    assert len({claim["jti"] for claim in claims}) == 4
    assert [claim["iat"] - int(started) for claim in claims[:3]] == [0, 5, 8]  # signed when sent, after each wait
    assert claims[3]["iat"] >= claims[2]["iat"]
    assert all(form_of(call)[:3] == form_of(mock.calls[0])[:3] for call in mock.calls)  # the rest of the form


def test_refusal_names_the_field_and_is_not_retried(mock: responses.RequestsMock) -> None:
    mock.post(
        TOKEN_URL,
        status=401,
        json={"error": "invalid_client", "error_codes": [7000215], "error_description": "AADSTS7000215: Invalid."},
    )
    with pytest.raises(AuthError) as caught:
        cc(settings_for(secret_oauth()))
    assert caught.value.field == "oauth2.client_secret"
    assert len(mock.calls) == 1


def test_busy_token_service_is_retried_then_transient(mock: responses.RequestsMock) -> None:
    mock.post(TOKEN_URL, status=503, json={"error": "temporarily_unavailable"}, headers={"Retry-After": "0"})
    mock.post(TOKEN_URL, json=TOKEN_BODY)
    assert cc(settings_for(secret_oauth())).access_token == CANARY_ACCESS_TOKEN
    assert len(mock.calls) == 2


def test_a_throttled_token_service_says_when_to_come_back(mock: responses.RequestsMock) -> None:
    busy = {"error": "temporarily_unavailable", "error_description": "AADSTS90033: A transient error has occurred."}
    mock.post(TOKEN_URL, status=429, json=busy, headers={"Retry-After": "3600"})
    with pytest.raises(TransientError) as caught:
        cc(settings_for(secret_oauth()))
    assert caught.value.retry_after == 3600.0
    assert caught.value.field == "oauth2.access_token_url"


def test_a_huge_oauth_error_code_is_capped(mock: responses.RequestsMock) -> None:
    mock.post(TOKEN_URL, status=400, json={"error": "e" * 100_000})
    with pytest.raises(ConnectorError) as caught:
        cc(settings_for(secret_oauth()))
    assert len(caught.value.user_message) < 2000
    assert "more characters left out" in caught.value.user_message


def test_unreachable_token_service_is_transient_with_the_url(mock: responses.RequestsMock) -> None:
    mock.post(TOKEN_URL, body=requests.ConnectionError("refused"))
    mock.post(TOKEN_URL, body=requests.ConnectionError("refused"))
    settings = settings_for(secret_oauth())
    with pytest.raises(TransientError) as caught:
        request_client_credentials(settings.oauth, quick_transport(settings, attempts=2), clock=FakeClock())
    assert caught.value.field == "oauth2.access_token_url"
    assert TOKEN_URL in caught.value.user_message


# --- authorization code -------------------------------------------------------------------------------------------


def callback(**params: str) -> AuthorizationCallback:
    return AuthorizationCallback(params=params, state="kept-state", code_verifier="kept-verifier")


def redeem(settings: ConnectionSettings, step: AuthorizationCallback) -> TokenSet:
    return redeem_authorization_code(settings.oauth, step, quick_transport(settings), clock=FakeClock())


def test_code_exchange_sends_code_verifier_redirect_and_resource(mock: responses.RequestsMock) -> None:
    mock.post(TOKEN_URL, json={**TOKEN_BODY, "refresh_token": CANARY_REFRESH_TOKEN, "scope": "user_impersonation"})
    token = redeem(settings_for(code_oauth()), callback(code=CANARY_CODE, state="kept-state"))
    assert (token.refresh_token, token.scope) == (CANARY_REFRESH_TOKEN, "user_impersonation")
    assert form_of(mock.calls[0]) == [
        ("grant_type", "authorization_code"),
        ("code", CANARY_CODE),
        ("redirect_uri", CALLBACK),
        ("code_verifier", "kept-verifier"),
        ("client_id", CLIENT_ID),
        ("client_secret", CANARY_CLIENT_SECRET),
        ("resource", RESOURCE),  # from the authorization parameters, as Entra v1 wants it again
    ]


def test_public_client_sends_only_its_id(mock: responses.RequestsMock) -> None:
    mock.post(TOKEN_URL, json=TOKEN_BODY)
    oauth = code_oauth()
    del oauth["client_secret"]
    redeem(settings_for(oauth), callback(code=CANARY_CODE, state="kept-state"))
    form = dict(form_of(mock.calls[0]))
    assert form["client_id"] == CLIENT_ID
    assert "client_secret" not in form


@pytest.mark.parametrize(
    "params",
    [{"code": CANARY_CODE, "state": "forged"}, {"code": CANARY_CODE}, {"state": "kept-state"}],
)
def test_bad_callbacks_make_no_request(mock: responses.RequestsMock, params: dict[str, str]) -> None:
    with pytest.raises(AuthError) as caught:
        redeem(settings_for(code_oauth()), callback(**params))
    assert CANARY_CODE not in str(caught.value)
    assert not mock.calls


def test_error_callback_is_a_clear_auth_error(mock: responses.RequestsMock) -> None:
    with pytest.raises(AuthError) as caught:
        redeem(
            settings_for(code_oauth()),
            callback(error="access_denied", error_description="AADSTS65004: User declined to consent.", state="x"),
        )
    assert caught.value.code == AUTHORIZATION_REQUIRED
    assert "User declined to consent" in caught.value.user_message


def test_refresh_sends_the_refresh_token(mock: responses.RequestsMock) -> None:
    mock.post(TOKEN_URL, json={**TOKEN_BODY, "refresh_token": "rotated"})
    settings = settings_for(code_oauth())
    old = TokenSet("old", refresh_token=CANARY_REFRESH_TOKEN, scope="user_impersonation")
    new = refresh_token_set(settings.oauth, old, quick_transport(settings), clock=FakeClock())
    assert (new.refresh_token, new.scope) == ("rotated", "user_impersonation")
    assert form_of(mock.calls[0]) == [
        ("grant_type", "refresh_token"),
        ("refresh_token", CANARY_REFRESH_TOKEN),
        ("client_id", CLIENT_ID),
        ("client_secret", CANARY_CLIENT_SECRET),
        ("resource", RESOURCE),
    ]


V2_TOKEN_URL = TOKEN_URL.replace("/oauth2/token", "/oauth2/v2.0/token")
V2_SCOPE = f"{RESOURCE}/user_impersonation offline_access"


def v2_code_settings(**overrides: Any) -> ConnectionSettings:
    """A v2 set-up that still carries a resource parameter in both lists, as one moved from v1 might."""
    oauth = code_oauth(
        access_token_url=V2_TOKEN_URL,
        scope=V2_SCOPE,
        access_token_parameters=[{"name": "resource", "value": RESOURCE}],
    )
    oauth.update(overrides)
    return settings_for(oauth)


def test_v2_authorization_url_carries_scope_and_never_resource() -> None:
    settings = v2_code_settings().oauth
    url = build_authorization_url(settings, state="st", code_challenge="ch")
    assert url.startswith(V2_TOKEN_URL.replace("/token", "/authorize") + "?")
    query = parse_qs(urlsplit(url).query)
    assert query["scope"] == [V2_SCOPE]
    assert "resource" not in query
    given = v2_code_settings(authorization_url="https://login.microsoftonline.com/t/oauth2/v2.0/authorize").oauth
    assert "resource" not in parse_qs(urlsplit(build_authorization_url(given, state="s", code_challenge="c")).query)


def test_v2_code_redemption_and_refresh_never_send_resource(mock: responses.RequestsMock) -> None:
    mock.post(V2_TOKEN_URL, json={**TOKEN_BODY, "refresh_token": "first", "scope": V2_SCOPE})
    mock.post(V2_TOKEN_URL, json={**TOKEN_BODY, "refresh_token": "second", "scope": V2_SCOPE})
    settings = v2_code_settings()
    first = redeem(settings, callback(code=CANARY_CODE, state="kept-state"))
    refresh_token_set(settings.oauth, first, quick_transport(settings), clock=FakeClock())
    redemption, refresh = (dict(form_of(call)) for call in mock.calls)
    assert "resource" not in redemption
    assert "resource" not in refresh
    assert redemption["scope"] == refresh["scope"] == V2_SCOPE
    assert settings.oauth.resource is None  # what is sent
    assert settings.oauth.given_resource == RESOURCE  # what was configured (connect warns)


def test_v2_client_credentials_never_send_resource(mock: responses.RequestsMock) -> None:
    mock.post(V2_TOKEN_URL, json=TOKEN_BODY)
    cc(
        settings_for(
            secret_oauth(
                access_token_url=V2_TOKEN_URL,
                scope=f"{RESOURCE}/.default",
                access_token_parameters=[{"name": "resource", "value": RESOURCE}],
            )
        )
    )
    form = dict(form_of(mock.calls[0]))
    assert "resource" not in form
    assert form["scope"] == f"{RESOURCE}/.default"


def test_refused_refresh_means_authorize_again_and_hides_the_token(mock: responses.RequestsMock) -> None:
    mock.post(
        TOKEN_URL,
        status=400,
        json={"error": "invalid_grant", "error_codes": [700082], "error_description": "AADSTS700082: expired"},
    )
    settings = settings_for(code_oauth())
    stale = TokenSet("a", refresh_token=CANARY_REFRESH_TOKEN)
    with pytest.raises(AuthError) as caught:
        refresh_token_set(settings.oauth, stale, quick_transport(settings), clock=FakeClock())
    assert caught.value.code == AUTHORIZATION_REQUIRED
    assert CANARY_REFRESH_TOKEN not in str(caught.value) + repr(caught.value)
    assert len(mock.calls) == 1


def test_a_refresh_answered_by_a_gateway_error_is_not_sent_again(mock: responses.RequestsMock) -> None:
    """The token service may have redeemed (and rotated) the refresh token: a second use would be a reuse."""
    mock.post(TOKEN_URL, status=504, json={"error": "temporarily_unavailable"})
    settings = settings_for(code_oauth())
    stale = TokenSet("a", refresh_token=CANARY_REFRESH_TOKEN)
    with pytest.raises(TransientError):
        refresh_token_set(settings.oauth, stale, quick_transport(settings), clock=FakeClock())
    assert len(mock.calls) == 1


def test_a_refresh_the_service_did_not_process_is_sent_again(mock: responses.RequestsMock) -> None:
    mock.post(TOKEN_URL, status=429, json={"error": "temporarily_unavailable"}, headers={"Retry-After": "0"})
    mock.post(TOKEN_URL, status=503, json={"error": "temporarily_unavailable"}, headers={"Retry-After": "0"})
    mock.post(TOKEN_URL, json={**TOKEN_BODY, "refresh_token": "rotated"})
    settings = settings_for(code_oauth())
    old = TokenSet("old", refresh_token=CANARY_REFRESH_TOKEN)
    assert refresh_token_set(settings.oauth, old, quick_transport(settings), clock=FakeClock()).refresh_token == (
        "rotated"
    )


def test_a_redirected_token_request_is_a_configuration_error_and_is_not_followed(
    mock: responses.RequestsMock,
) -> None:
    mock.post(TOKEN_URL, status=302, headers={"Location": "https://login.example.net/other/oauth2/token?x=1"})
    with pytest.raises(ConfigError) as caught:
        cc(settings_for(secret_oauth()))
    assert caught.value.fields == ["oauth2.access_token_url"]
    assert "redirecting to https://login.example.net:" in caught.value.user_message
    assert len(mock.calls) == 1


def test_refresh_without_a_refresh_token_makes_no_request(mock: responses.RequestsMock) -> None:
    settings = settings_for(code_oauth())
    with pytest.raises(AuthError) as caught:
        refresh_token_set(settings.oauth, TokenSet("a"), quick_transport(settings), clock=FakeClock())
    assert caught.value.code == AUTHORIZATION_REQUIRED
