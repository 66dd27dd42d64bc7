"""The token service as mounted: routing, discovery and keys, the outage switch, failures, and no secret in logs."""

from __future__ import annotations

import logging
import uuid

import jwt
import pytest
import requests

from dataverse_sandbox.contracts import InvalidAccessTokenError
from tests.support.entra import JWT_BEARER, TEST_REDIRECT_URI, EntraServer, make_assertion, redirect_params, sign_in


@pytest.mark.parametrize(
    "path",
    ["/", "/api/data/v9.2/WhoAmI", "/_sandbox/stats", "/{tenant}", "/{tenant}/oauth2", "/{tenant}/oauth2/v3/token"],
)
def test_paths_that_are_not_the_token_services_are_left_alone(entra_server: EntraServer, path: str) -> None:
    response = requests.get(entra_server.base_url + path.replace("{tenant}", entra_server.tenant_id), timeout=10)

    assert response.status_code == 404
    assert response.text == "not the token service"


def test_v2_discovery_points_at_the_sandbox(entra_server: EntraServer) -> None:
    response = requests.get(
        f"{entra_server.base_url}/{entra_server.tenant_id}/v2.0/.well-known/openid-configuration", timeout=10
    )

    assert response.status_code == 200
    document = response.json()
    authority = f"{entra_server.base_url}/{entra_server.tenant_id}"
    assert document["issuer"] == f"{authority}/v2.0"
    assert document["token_endpoint"] == entra_server.token_url("2.0")
    assert document["authorization_endpoint"] == entra_server.authorize_url("2.0")
    assert document["jwks_uri"] == f"{authority}/discovery/v2.0/keys"
    assert {"client_secret_post", "private_key_jwt"} <= set(document["token_endpoint_auth_methods_supported"])


def test_v1_discovery_and_the_common_authority(entra_server: EntraServer) -> None:
    v1 = requests.get(f"{entra_server.base_url}/{entra_server.tenant_id}/.well-known/openid-configuration", timeout=10)
    common = requests.get(f"{entra_server.base_url}/common/v2.0/.well-known/openid-configuration", timeout=10)

    assert v1.json()["token_endpoint"] == entra_server.token_url("1.0")
    assert v1.json()["issuer"] == f"{entra_server.base_url}/{entra_server.tenant_id}/"
    assert common.json()["issuer"] == f"{entra_server.base_url}/{{tenantid}}/v2.0"
    assert common.json()["token_endpoint"] == f"{entra_server.base_url}/common/oauth2/v2.0/token"


def test_unknown_tenant_discovery_is_invalid_tenant(entra_server: EntraServer) -> None:
    url = f"{entra_server.base_url}/contoso.example/v2.0/.well-known/openid-configuration"
    response = requests.get(url, timeout=10)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_tenant"
    assert response.json()["error_codes"] == [90002]


@pytest.mark.parametrize("path", ["discovery/v2.0/keys", "discovery/keys"])
def test_published_keys_verify_issued_tokens(entra_server: EntraServer, path: str) -> None:
    client = entra_server.provisioned.secret_client
    token = requests.post(
        entra_server.token_url(),
        data={
            "grant_type": "client_credentials",
            "client_id": client.client_id,
            "client_secret": client.read_secret(),
            "scope": f"{entra_server.api_resource}/.default",
        },
        timeout=10,
    ).json()["access_token"]
    jwks = requests.get(f"{entra_server.base_url}/{entra_server.tenant_id}/{path}", timeout=10).json()

    key = jwt.PyJWKSet.from_dict(jwks)[jwt.get_unverified_header(token)["kid"]]
    claims = jwt.decode(token, key.key, algorithms=["RS256"], audience=entra_server.api_resource)

    assert claims["appid"] == client.client_id
    assert jwks["keys"][0]["x5c"]


def test_the_outage_switch_answers_503_in_entras_shape(entra_server: EntraServer) -> None:
    client = entra_server.provisioned.secret_client
    form = {
        "grant_type": "client_credentials",
        "client_id": client.client_id,
        "client_secret": client.read_secret(),
        "scope": f"{entra_server.api_resource}/.default",
    }

    entra_server.service.set_outage(True, retry_after=7)
    during = requests.post(entra_server.token_url(), data=form, timeout=10)
    discovery = requests.get(
        f"{entra_server.base_url}/{entra_server.tenant_id}/v2.0/.well-known/openid-configuration", timeout=10
    )
    entra_server.service.outage = False
    after = requests.post(entra_server.token_url(), data=form, timeout=10)

    assert during.status_code == 503
    assert during.json()["error"] == "temporarily_unavailable"
    assert during.headers["Retry-After"] == "7"
    assert discovery.status_code == 503
    assert after.status_code == 200
    assert entra_server.service.stats.snapshot()["refused"] == {"90033": 2}


def test_the_outage_switch_without_retry_after(entra_server: EntraServer) -> None:
    entra_server.service.outage = True

    response = requests.get(entra_server.authorize_url(), timeout=10)

    assert response.status_code == 503
    assert "Retry-After" not in response.headers
    assert "AADSTS90033" in response.text  # an HTML page on the interactive endpoint


def test_an_unexpected_failure_is_a_500_server_error(
    entra_server: EntraServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def explode() -> dict[str, object]:
        raise RuntimeError("boom")

    monkeypatch.setattr(entra_server.service._signer, "jwks", explode)

    with caplog.at_level(logging.ERROR, logger="dataverse_sandbox.entra"):
        response = requests.get(f"{entra_server.base_url}/{entra_server.tenant_id}/discovery/v2.0/keys", timeout=10)

    assert response.status_code == 500
    assert response.json()["error"] == "server_error"
    assert "token service failed" in caplog.text


def test_the_client_request_id_is_echoed_on_success(entra_server: EntraServer) -> None:
    correlation = str(uuid.uuid4())

    response = requests.get(
        f"{entra_server.base_url}/{entra_server.tenant_id}/discovery/v2.0/keys",
        headers={"client-request-id": correlation},
        timeout=10,
    )

    assert response.headers["client-request-id"] == correlation
    assert response.headers["x-ms-request-id"]


def test_the_verifier_protocol(entra_server: EntraServer) -> None:
    client_id = entra_server.provisioned.read_only_client.client_id

    registration = entra_server.service.client(client_id.upper())

    assert registration is not None
    assert registration.dataverse_access == "read"
    assert entra_server.service.client(str(uuid.uuid4())) is None
    with pytest.raises(InvalidAccessTokenError):
        entra_server.service.verify_access_token("garbage", resource=entra_server.api_resource)
    with pytest.raises(KeyError):
        entra_server.service.register_redirect_uri(str(uuid.uuid4()), "http://localhost/x")


def test_no_secret_code_token_assertion_or_password_reaches_the_logs(
    entra_server: EntraServer, caplog: pytest.LogCaptureFixture
) -> None:
    provisioned = entra_server.provisioned
    secret_client, cert_client, code_client = (
        provisioned.secret_client,
        provisioned.certificate_client,
        provisioned.authorization_code_client,
    )
    user = provisioned.users[0]
    canaries: list[str] = [
        secret_client.read_secret(),
        code_client.read_secret(),
        user.read_password(),
        "wrong-" + secret_client.read_secret(),
    ]
    scope = f"{entra_server.api_resource}/.default"
    with caplog.at_level(logging.DEBUG):
        for secret in (canaries[0], canaries[3]):
            response = requests.post(
                entra_server.token_url(),
                data={
                    "grant_type": "client_credentials",
                    "client_id": secret_client.client_id,
                    "client_secret": secret,
                    "scope": scope,
                },
                timeout=10,
            )
            if response.ok:
                canaries.append(response.json()["access_token"])
        files = cert_client.certificates[0]
        assertion = make_assertion(
            client_id=cert_client.client_id,
            key_file=files.key_file,
            certificate_file=files.certificate_file,
            audience=entra_server.token_url(),
        )
        canaries.append(assertion)
        for _ in range(2):  # the second is a replay, refused with the jti in the message but not the assertion
            requests.post(
                entra_server.token_url(),
                data={
                    "grant_type": "client_credentials",
                    "client_id": cert_client.client_id,
                    "client_assertion_type": JWT_BEARER,
                    "client_assertion": assertion,
                    "scope": scope,
                },
                timeout=10,
            )
        session = requests.Session()
        params = {
            "client_id": code_client.client_id,
            "response_type": "code",
            "redirect_uri": TEST_REDIRECT_URI,
            "scope": f"{scope} offline_access",
        }
        sign_in(session, entra_server.authorize_url(), params, user_name=user.user_name, password="bad-" + canaries[2])
        canaries.append("bad-" + canaries[2])
        code = redirect_params(
            sign_in(session, entra_server.authorize_url(), params, user_name=user.user_name, password=canaries[2])
        )["code"]
        canaries.append(code)
        tokens = requests.post(
            entra_server.token_url(),
            data={
                "grant_type": "authorization_code",
                "client_id": code_client.client_id,
                "client_secret": canaries[1],
                "code": code,
                "redirect_uri": TEST_REDIRECT_URI,
            },
            timeout=10,
        ).json()
        canaries += [tokens["access_token"], tokens["refresh_token"]]
        requests.post(
            entra_server.token_url(),
            data={
                "grant_type": "refresh_token",
                "client_id": code_client.client_id,
                "client_secret": canaries[1],
                "refresh_token": tokens["refresh_token"],
            },
            timeout=10,
        )

    assert "issued client_credentials token" in caplog.text  # the logs did record the flows
    for canary in canaries:
        assert canary not in caplog.text
