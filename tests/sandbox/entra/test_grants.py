"""Refresh tokens over HTTP (rotation, family revocation, expiry, other resources) and the grant store itself."""

from __future__ import annotations

import jwt
import pytest
import requests

from dataverse_sandbox.contracts import Clock
from dataverse_sandbox.entra import GRAPH_RESOURCE
from dataverse_sandbox.entra.errors import EntraError
from dataverse_sandbox.entra.grants import Authorization, GrantStore
from dataverse_sandbox.entra.scopes import RequestedAccess
from tests.support.entra import TEST_REDIRECT_URI, EntraServer, redirect_params, sign_in


def _tokens(server: EntraServer, version: str = "2.0") -> dict[str, str]:
    client = server.provisioned.authorization_code_client
    user = server.provisioned.users[0]
    params = {
        "client_id": client.client_id,
        "response_type": "code",
        "redirect_uri": TEST_REDIRECT_URI,
    }
    if version == "2.0":
        params["scope"] = f"{server.api_resource}/.default offline_access"
    else:
        params["resource"] = server.api_resource
    response = sign_in(
        requests.Session(),
        server.authorize_url(version),
        params,
        user_name=user.user_name,
        password=user.read_password(),
    )
    code = redirect_params(response)["code"]
    redeemed = _post(server, version, grant_type="authorization_code", code=code, redirect_uri=TEST_REDIRECT_URI)
    assert redeemed.status_code == 200, redeemed.text
    body: dict[str, str] = redeemed.json()
    return body


def _post(server: EntraServer, version: str = "2.0", **form: str) -> requests.Response:
    client = server.provisioned.authorization_code_client
    data = {"client_id": client.client_id, "client_secret": client.read_secret(), **form}
    return requests.post(server.token_url(version), data=data, timeout=10)


def _refresh(server: EntraServer, token: str, version: str = "2.0", **form: str) -> requests.Response:
    return _post(server, version, grant_type="refresh_token", refresh_token=token, **form)


def _code(response: requests.Response) -> int:
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_grant"
    code: int = response.json()["error_codes"][0]
    return code


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_refresh_rotates_and_the_old_token_stops_working(entra_server: EntraServer, version: str) -> None:
    first = _tokens(entra_server, version)["refresh_token"]

    refreshed = _refresh(entra_server, first, version)
    assert refreshed.status_code == 200, refreshed.text
    second = refreshed.json()["refresh_token"]
    reused = _refresh(entra_server, first, version)

    assert second != first
    assert _code(reused) == 50173
    # Reusing a rotated token revokes the whole sign-in: the newest token is dead too.
    assert _code(_refresh(entra_server, second, version)) == 50173
    client_id = entra_server.provisioned.authorization_code_client.client_id
    assert entra_server.service.stats.snapshot()["issued"][client_id] == {"authorization_code": 1, "refresh_token": 1}


def test_a_refresh_chain_keeps_working_while_each_token_is_used_once(entra_server: EntraServer) -> None:
    token = _tokens(entra_server)["refresh_token"]

    for _ in range(5):
        response = _refresh(entra_server, token)
        assert response.status_code == 200, response.text
        token = response.json()["refresh_token"]

    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["upn"] == entra_server.provisioned.users[0].user_name


def test_refresh_response_shapes(entra_server: EntraServer) -> None:
    v2 = _refresh(entra_server, _tokens(entra_server, "2.0")["refresh_token"], "2.0").json()
    v1 = _refresh(entra_server, _tokens(entra_server, "1.0")["refresh_token"], "1.0").json()

    assert isinstance(v2["expires_in"], int)
    assert v2["scope"] == f"{entra_server.api_resource}/user_impersonation offline_access"
    assert "id_token" not in v2  # openid was not requested
    assert v1["expires_in"] == "3600"
    assert v1["resource"] == entra_server.api_resource


def test_a_refresh_token_may_be_redeemed_for_another_known_resource(entra_server: EntraServer) -> None:
    token = _tokens(entra_server)["refresh_token"]

    response = _refresh(entra_server, token, scope=f"{GRAPH_RESOURCE}/.default")

    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["aud"] == GRAPH_RESOURCE


def test_an_unused_refresh_token_expires_after_its_lifetime(entra_server: EntraServer) -> None:
    token = _tokens(entra_server)["refresh_token"]

    entra_server.clock.advance(90 * 86400 + 1)

    assert _code(_refresh(entra_server, token)) == 700082


def test_refresh_needs_the_same_authenticated_client(entra_server: EntraServer) -> None:
    token = _tokens(entra_server)["refresh_token"]
    other = entra_server.provisioned.secret_client
    client = entra_server.provisioned.authorization_code_client

    foreign = requests.post(
        entra_server.token_url(),
        data={
            "grant_type": "refresh_token",
            "refresh_token": token,
            "client_id": other.client_id,
            "client_secret": other.read_secret(),
        },
        timeout=10,
    )
    unauthenticated = requests.post(
        entra_server.token_url(),
        data={"grant_type": "refresh_token", "refresh_token": token, "client_id": client.client_id},
        timeout=10,
    )

    assert _code(foreign) == 70000
    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["error_codes"] == [7000218]
    assert _refresh(entra_server, token).status_code == 200  # refused attempts did not consume it


def test_an_unknown_refresh_token_is_malformed(entra_server: EntraServer) -> None:
    assert _code(_refresh(entra_server, "not-a-refresh-token")) == 9002313


def test_reusing_a_code_revokes_the_refresh_tokens_it_produced(entra_server: EntraServer) -> None:
    client = entra_server.provisioned.authorization_code_client
    user = entra_server.provisioned.users[0]
    response = sign_in(
        requests.Session(),
        entra_server.authorize_url(),
        {
            "client_id": client.client_id,
            "response_type": "code",
            "redirect_uri": TEST_REDIRECT_URI,
            "scope": f"{entra_server.api_resource}/.default offline_access",
        },
        user_name=user.user_name,
        password=user.read_password(),
    )
    code = redirect_params(response)["code"]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": TEST_REDIRECT_URI}
    refresh_token = _post(entra_server, **form).json()["refresh_token"]

    assert _code(_post(entra_server, **form)) == 54005
    assert _code(_refresh(entra_server, refresh_token)) == 50173


# --- the store without HTTP ----------------------------------------------------------------------------------


def _authorization() -> Authorization:
    return Authorization("client-a", "user-1", RequestedAccess("https://api.example", frozenset()), "2.0")


def test_store_keeps_only_hashes() -> None:
    store = GrantStore(clock=Clock())
    code = store.issue_code(_authorization(), redirect_uri="http://localhost/cb", challenge=None, method=None)
    token = store.issue_refresh_token(_authorization(), "family")

    state = repr(vars(store))

    assert code not in state
    assert token not in state


def test_store_redeems_a_code_for_its_authorization_and_a_family() -> None:
    store = GrantStore(clock=Clock())
    code = store.issue_code(_authorization(), redirect_uri="http://localhost/cb", challenge=None, method=None)

    authorization, family = store.redeem_code(
        code, client_id="CLIENT-A", redirect_uri="http://localhost/cb", code_verifier=None
    )

    assert authorization == _authorization()
    assert family
    with pytest.raises(EntraError) as reused:
        store.redeem_code(code, client_id="client-a", redirect_uri="http://localhost/cb", code_verifier=None)
    assert reused.value.code == 54005


def test_store_revoke_family_stops_its_refresh_tokens() -> None:
    store = GrantStore(clock=Clock())
    token = store.issue_refresh_token(_authorization(), "family-1")

    store.revoke_family("family-1")

    with pytest.raises(EntraError) as revoked:
        store.redeem_refresh_token(token, client_id="client-a")
    assert revoked.value.code == 50173
