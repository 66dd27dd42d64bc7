"""The authorization-code grant over HTTP: authorize, login and consent pages, redirects, PKCE, redemption."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import jwt
import pytest
import requests

from dataverse_sandbox.contracts import ClientRegistration
from tests.support.entra import (
    JWT_BEARER,
    TEST_REDIRECT_URI,
    EntraServer,
    form_fields,
    make_assertion,
    redirect_params,
    sign_in,
)


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _params(server: EntraServer, version: str = "2.0", **extra: str) -> dict[str, str]:
    params = {
        "client_id": server.provisioned.authorization_code_client.client_id,
        "response_type": "code",
        "redirect_uri": TEST_REDIRECT_URI,
        "state": "state-123",
    }
    if version == "2.0":
        params["scope"] = f"{server.api_resource}/user_impersonation offline_access openid"
    else:
        params["resource"] = server.api_resource
    params.update(extra)
    return params


def _sign_in(server: EntraServer, session: requests.Session | None = None, version: str = "2.0", **extra: str) -> Any:
    user = server.provisioned.users[0]
    return sign_in(
        session or requests.Session(),
        server.authorize_url(version),
        _params(server, version, **extra),
        user_name=user.user_name,
        password=user.read_password(),
    )


def _redeem(server: EntraServer, code: str, version: str = "2.0", **extra: str) -> requests.Response:
    client = server.provisioned.authorization_code_client
    form = {
        "grant_type": "authorization_code",
        "client_id": client.client_id,
        "client_secret": client.read_secret(),
        "code": code,
        "redirect_uri": TEST_REDIRECT_URI,
    }
    form.update(extra)
    return requests.post(server.token_url(version), data={k: v for k, v in form.items() if v}, timeout=10)


def _error(response: requests.Response) -> tuple[int, str, int]:
    body = response.json()
    return response.status_code, body["error"], body["error_codes"][0]


def test_v2_login_and_consent_redirect_with_a_code_and_the_state(entra_server: EntraServer) -> None:
    response = _sign_in(entra_server)

    assert response.status_code == 302
    assert response.headers["Location"].startswith(TEST_REDIRECT_URI + "?")
    params = redirect_params(response)
    assert params["state"] == "state-123"
    tokens = _redeem(entra_server, params["code"])
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert body["scope"] == f"{entra_server.api_resource}/user_impersonation offline_access openid"
    assert isinstance(body["expires_in"], int)
    assert {"refresh_token", "id_token"} <= set(body)
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    user = entra_server.provisioned.users[0]
    assert claims["upn"] == user.user_name
    assert claims["oid"] == user.object_id
    assert claims["scp"] == "user_impersonation"
    assert claims["appidacr"] == "1"
    assert claims["aud"] == entra_server.api_resource
    verified = entra_server.service.verify_access_token(body["access_token"], resource=entra_server.api_resource)
    assert verified.user_name == user.user_name
    id_token = jwt.decode(body["id_token"], options={"verify_signature": False})
    assert id_token["aud"] == entra_server.provisioned.authorization_code_client.client_id
    assert id_token["iss"] == f"{entra_server.base_url}/{entra_server.tenant_id}/v2.0"
    assert id_token["preferred_username"] == user.user_name


def test_v1_flow_returns_strings_a_refresh_token_and_session_state(entra_server: EntraServer) -> None:
    response = _sign_in(entra_server, version="1.0")
    params = redirect_params(response)

    tokens = _redeem(entra_server, params["code"], version="1.0")

    assert "session_state" in params
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert body["scope"] == "user_impersonation"
    assert body["resource"] == entra_server.api_resource
    assert body["expires_in"] == "3600"
    assert {"refresh_token", "id_token", "expires_on", "not_before"} <= set(body)


def test_v2_without_offline_access_gets_no_refresh_token(entra_server: EntraServer) -> None:
    response = _sign_in(entra_server, scope=f"{entra_server.api_resource}/.default")

    body = _redeem(entra_server, redirect_params(response)["code"]).json()

    assert "refresh_token" not in body
    assert "id_token" not in body
    assert body["scope"] == f"{entra_server.api_resource}/user_impersonation"


def test_a_wrong_password_shows_the_login_page_again_without_echoing_it(entra_server: EntraServer) -> None:
    session = requests.Session()
    user = entra_server.provisioned.users[0]
    page = session.get(entra_server.authorize_url(), params=_params(entra_server), timeout=10)
    action, fields = form_fields(page.text)
    wrong = "not-the-password-" + secrets.token_hex(4)

    again = session.post(urljoin(page.url, action), data={**fields, "login": user.user_name, "passwd": wrong})

    assert again.status_code == 200
    assert "AADSTS50126" in again.text
    assert wrong not in again.text
    assert user.user_name in again.text
    _, fields = form_fields(again.text)
    ok = session.post(
        urljoin(page.url, action), data={**fields, "login": user.user_name, "passwd": user.read_password()}
    )
    assert ok.status_code == 200
    assert 'value="accept"' in ok.text  # now the consent page
    assert entra_server.service.stats.snapshot()["refused"] == {"50126": 1}


def test_cancel_on_the_consent_page_redirects_access_denied(entra_server: EntraServer) -> None:
    user = entra_server.provisioned.users[0]
    response = sign_in(
        requests.Session(),
        entra_server.authorize_url(),
        _params(entra_server),
        user_name=user.user_name,
        password=user.read_password(),
        decision="cancel",
    )

    params = redirect_params(response)
    assert params["error"] == "access_denied"
    assert params["error_description"].startswith("AADSTS65004: ")
    assert "Trace ID: " in params["error_description"]
    assert params["state"] == "state-123"
    assert "code" not in params


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"redirect_uri": "http://127.0.0.1:1/elsewhere"}, 50011),
        ({"redirect_uri": TEST_REDIRECT_URI + "/"}, 50011),
        ({"redirect_uri": ""}, 900971),
        ({"client_id": "6a0e6f4e-0000-0000-0000-000000000000"}, 700016),
    ],
    ids=["other uri", "trailing slash", "missing", "unknown client"],
)
def test_client_and_redirect_uri_errors_are_shown_not_redirected(
    entra_server: EntraServer, change: dict[str, str], code: int
) -> None:
    params = {**_params(entra_server), **change}

    response = requests.get(entra_server.authorize_url(), params=params, allow_redirects=False, timeout=10)

    assert response.status_code == 400
    assert "Location" not in response.headers
    assert response.headers["Content-Type"].startswith("text/html")
    assert f"AADSTS{code}" in response.text


@pytest.mark.parametrize(
    ("change", "error", "code"),
    [
        ({"response_type": "token"}, "unsupported_response_type", 70005),
        ({"scope": "https://nowhere.example/user_impersonation"}, "invalid_resource", 500011),
        ({"scope": "openid offline_access"}, "invalid_scope", 700023),
        ({"scope": "https://graph.microsoft.com/.default {api}/.default"}, "invalid_scope", 700022),
        ({"resource": "{api}"}, "invalid_request", 901002),
        ({"code_challenge": "too-short"}, "invalid_request", 501491),
        ({"code_challenge": "a" * 43, "code_challenge_method": "S512"}, "invalid_request", 90100),
        ({"prompt": "none"}, "login_required", 50058),
    ],
    ids=["token", "unknown resource", "no resource", "two resources", "resource", "short pkce", "pkce method", "none"],
)
def test_request_errors_are_redirected_with_the_state(
    entra_server: EntraServer, change: dict[str, str], error: str, code: int
) -> None:
    params = {**_params(entra_server), **{k: v.replace("{api}", entra_server.api_resource) for k, v in change.items()}}

    response = requests.get(entra_server.authorize_url(), params=params, allow_redirects=False, timeout=10)

    redirected = redirect_params(response)
    assert redirected["error"] == error
    assert redirected["error_description"].startswith(f"AADSTS{code}: ")
    assert redirected["state"] == "state-123"


def test_v1_authorize_needs_a_known_resource(entra_server: EntraServer) -> None:
    params = _params(entra_server, "1.0", resource="https://contoso.crm.dynamics.com")

    response = requests.get(entra_server.authorize_url("1.0"), params=params, allow_redirects=False, timeout=10)

    assert redirect_params(response)["error"] == "invalid_resource"


@pytest.mark.parametrize("method", ["S256", "plain"])
def test_pkce_verifier_is_checked_at_redemption(entra_server: EntraServer, method: str) -> None:
    verifier, challenge = _pkce()
    if method == "plain":
        challenge = verifier
    code = redirect_params(_sign_in(entra_server, code_challenge=challenge, code_challenge_method=method))["code"]
    other_code = redirect_params(_sign_in(entra_server, code_challenge=challenge, code_challenge_method=method))["code"]

    wrong = _redeem(entra_server, code, code_verifier=_pkce()[0])
    right = _redeem(entra_server, code, code_verifier=verifier)
    missing = _redeem(entra_server, other_code)

    assert _error(wrong) == (400, "invalid_grant", 501481)
    assert right.status_code == 200, right.text
    assert _error(missing) == (400, "invalid_request", 900144)


def test_a_verifier_for_a_code_without_challenge_is_refused(entra_server: EntraServer) -> None:
    code = redirect_params(_sign_in(entra_server))["code"]

    assert _error(_redeem(entra_server, code, code_verifier=_pkce()[0])) == (400, "invalid_grant", 501481)


def test_a_code_works_once(entra_server: EntraServer) -> None:
    code = redirect_params(_sign_in(entra_server))["code"]

    first = _redeem(entra_server, code)
    second = _redeem(entra_server, code)

    assert first.status_code == 200
    assert _error(second) == (400, "invalid_grant", 54005)


def test_a_code_expires_after_ten_minutes(entra_server: EntraServer) -> None:
    code = redirect_params(_sign_in(entra_server))["code"]

    entra_server.clock.advance(601)

    assert _error(_redeem(entra_server, code)) == (400, "invalid_grant", 70008)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"redirect_uri": "http://127.0.0.1:1/elsewhere"}, (400, "invalid_grant", 500112)),
        ({"redirect_uri": ""}, (400, "invalid_request", 900144)),
        ({"client_secret": ""}, (401, "invalid_client", 7000218)),
        ({"client_secret": "wrong"}, (401, "invalid_client", 7000215)),
        ({"code": "made-up"}, (400, "invalid_grant", 9002313)),
    ],
    ids=["other redirect", "no redirect", "no secret", "wrong secret", "unknown code"],
)
def test_redemption_errors(entra_server: EntraServer, change: dict[str, str], expected: tuple[int, str, int]) -> None:
    code = redirect_params(_sign_in(entra_server))["code"]

    response = _redeem(entra_server, change.get("code", code), **{k: v for k, v in change.items() if k != "code"})

    assert _error(response) == expected


def test_a_code_redeemed_by_another_client_is_refused(entra_server: EntraServer) -> None:
    code = redirect_params(_sign_in(entra_server))["code"]
    other = entra_server.provisioned.secret_client
    form = {
        "grant_type": "authorization_code",
        "client_id": other.client_id,
        "client_secret": other.read_secret(),
        "code": code,
        "redirect_uri": TEST_REDIRECT_URI,
    }

    response = requests.post(entra_server.token_url(), data=form, timeout=10)

    assert _error(response) == (400, "invalid_grant", 70000)


def test_a_confidential_client_may_redeem_with_a_certificate(entra_server: EntraServer) -> None:
    client = entra_server.provisioned.authorization_code_client
    files = client.certificates[0]
    code = redirect_params(_sign_in(entra_server))["code"]
    assertion = make_assertion(
        client_id=client.client_id,
        key_file=files.key_file,
        certificate_file=files.certificate_file,
        audience=entra_server.token_url(),
    )

    response = _redeem(
        entra_server, code, client_secret="", client_assertion_type=JWT_BEARER, client_assertion=assertion
    )

    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["appidacr"] == "2"


def test_a_public_client_redeems_with_pkce_and_no_credential(entra_server: EntraServer) -> None:
    client_id = "11111111-2222-3333-4444-555555555555"
    entra_server.service.register_client(
        ClientRegistration(client_id, "Public app", redirect_uris=(TEST_REDIRECT_URI,), auto_consent=True)
    )
    verifier, challenge = _pkce()
    params = {**_params(entra_server), "client_id": client_id, "code_challenge": challenge}
    params["code_challenge_method"] = "S256"
    response = requests.get(entra_server.authorize_url(), params=params, allow_redirects=False, timeout=10)
    form = {
        "grant_type": "authorization_code",
        "client_id": client_id,
        "code": redirect_params(response)["code"],
        "redirect_uri": TEST_REDIRECT_URI,
        "code_verifier": verifier,
    }

    tokens = requests.post(entra_server.token_url(), data=form, timeout=10)

    assert tokens.status_code == 200, tokens.text
    claims = jwt.decode(tokens.json()["access_token"], options={"verify_signature": False})
    assert claims["appidacr"] == "0"
    assert claims["appid"] == client_id


def test_auto_consent_skips_both_pages_and_signs_in_the_default_user(entra_server: EntraServer) -> None:
    client = entra_server.provisioned.authorization_code_client
    entra_server.service.set_auto_consent(client.client_id, True)

    response = requests.get(
        entra_server.authorize_url(), params=_params(entra_server), allow_redirects=False, timeout=10
    )

    params = redirect_params(response)
    body = _redeem(entra_server, params["code"]).json()
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["upn"] == entra_server.provisioned.users[0].user_name


def test_a_second_sign_in_reuses_the_session_and_the_consent(entra_server: EntraServer) -> None:
    session = requests.Session()
    assert _sign_in(entra_server, session).status_code == 302

    again = session.get(entra_server.authorize_url(), params=_params(entra_server), allow_redirects=False, timeout=10)
    silent = session.get(
        entra_server.authorize_url(), params=_params(entra_server, prompt="none"), allow_redirects=False, timeout=10
    )
    forced_consent = session.get(
        entra_server.authorize_url(), params=_params(entra_server, prompt="consent"), timeout=10
    )
    forced_login = session.get(entra_server.authorize_url(), params=_params(entra_server, prompt="login"), timeout=10)

    assert "code" in redirect_params(again)
    assert "code" in redirect_params(silent)
    assert 'value="accept"' in forced_consent.text
    assert 'name="passwd"' in forced_login.text


def test_prompt_none_without_consent_requires_interaction(entra_server: EntraServer) -> None:
    session = requests.Session()
    user = entra_server.provisioned.users[0]
    sign_in(
        session,
        entra_server.authorize_url(),
        _params(entra_server),
        user_name=user.user_name,
        password=user.read_password(),
        decision="cancel",
    )

    response = session.get(
        entra_server.authorize_url(), params=_params(entra_server, prompt="none"), allow_redirects=False, timeout=10
    )

    assert redirect_params(response)["error"] == "interaction_required"


def test_a_login_post_without_the_cookie_is_refused(entra_server: EntraServer) -> None:
    user = entra_server.provisioned.users[0]
    page = requests.get(entra_server.authorize_url(), params=_params(entra_server), timeout=10)
    action, fields = form_fields(page.text)

    forged = requests.post(  # a fresh client: no anti-forgery cookie
        urljoin(page.url, action),
        data={**fields, "login": user.user_name, "passwd": user.read_password()},
        allow_redirects=False,
        timeout=10,
    )

    assert forged.status_code == 400
    assert "AADSTS50089" in forged.text


def test_a_consent_form_cannot_be_posted_twice(entra_server: EntraServer) -> None:
    session = requests.Session()
    user = entra_server.provisioned.users[0]
    page = session.get(entra_server.authorize_url(), params=_params(entra_server), timeout=10)
    action, fields = form_fields(page.text)
    consent = session.post(
        urljoin(page.url, action), data={**fields, "login": user.user_name, "passwd": user.read_password()}
    )
    consent_action, consent_fields = form_fields(consent.text)
    url = urljoin(page.url, consent_action)

    first = session.post(url, data={**consent_fields, "decision": "accept"}, allow_redirects=False, timeout=10)
    second = session.post(url, data={**consent_fields, "decision": "accept"}, allow_redirects=False, timeout=10)

    assert first.status_code == 302
    assert second.status_code == 400


def test_fragment_and_form_post_response_modes(entra_server: EntraServer) -> None:
    entra_server.service.set_auto_consent(entra_server.provisioned.authorization_code_client.client_id, True)

    fragment = requests.get(
        entra_server.authorize_url(),
        params=_params(entra_server, response_mode="fragment"),
        allow_redirects=False,
        timeout=10,
    )
    form_post = requests.get(
        entra_server.authorize_url(), params=_params(entra_server, response_mode="form_post"), timeout=10
    )

    location = urlsplit(fragment.headers["Location"])
    assert location.query == ""
    assert parse_qs(location.fragment)["state"] == ["state-123"]
    action, fields = form_fields(form_post.text)
    assert action == TEST_REDIRECT_URI
    assert set(fields) == {"code", "state"}


def test_login_hint_prefills_the_user_name(entra_server: EntraServer) -> None:
    page = requests.get(
        entra_server.authorize_url(), params=_params(entra_server, login_hint="bob@sandbox.test"), timeout=10
    )

    assert form_fields(page.text)[1]["login"] == "bob@sandbox.test"
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "sandbox_csrf" in page.cookies
