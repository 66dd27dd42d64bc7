"""The token endpoint over HTTP: client credentials with secrets, response shapes v1/v2, and request errors."""

from __future__ import annotations

import base64
import re
import uuid
from typing import Any
from urllib.parse import quote_plus

import jwt
import pytest
import requests

from dataverse_sandbox.contracts import ClientRegistration, InvalidAccessTokenError
from dataverse_sandbox.entra import GRAPH_RESOURCE
from tests.support.entra import EntraServer

DESCRIPTION = re.compile(
    r"^AADSTS(\d+): .+\r\nTrace ID: [0-9a-f-]{36}\r\nCorrelation ID: [0-9a-f-]{36}\r\n"
    r"Timestamp: \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$",
    re.DOTALL,
)


def _secret_form(server: EntraServer, **extra: str) -> dict[str, str]:
    client = server.provisioned.secret_client
    form = {"grant_type": "client_credentials", "client_id": client.client_id, "client_secret": client.read_secret()}
    form.update(extra)
    return form


def _claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def test_v2_client_credentials_returns_integers_and_an_app_only_token(entra_server: EntraServer) -> None:
    scope = f"{entra_server.api_resource}/.default"
    response = requests.post(entra_server.token_url("2.0"), data=_secret_form(entra_server, scope=scope), timeout=10)

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == {"token_type", "expires_in", "ext_expires_in", "access_token"}
    assert body["token_type"] == "Bearer"
    assert (body["expires_in"], body["ext_expires_in"]) == (3600, 3600)
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "RS256"
    assert header["kid"] == header["x5t"]
    claims = _claims(body["access_token"])
    client = entra_server.provisioned.secret_client
    assert claims["aud"] == entra_server.api_resource  # exactly the scope's resource part, no slash added
    assert claims["iss"] == f"{entra_server.base_url}/{entra_server.tenant_id}/"
    assert claims["tid"] == entra_server.tenant_id
    assert claims["appid"] == client.client_id
    assert claims["appidacr"] == "1"
    assert claims["oid"] == client.object_id
    assert claims["ver"] == "1.0"
    assert not {"roles", "scp", "upn"} & set(claims)
    assert claims["exp"] - claims["iat"] == 3600


def test_v1_client_credentials_returns_strings_and_echoes_the_resource(entra_server: EntraServer) -> None:
    resource = f"{entra_server.api_resource}/"
    response = requests.post(
        entra_server.token_url("1.0"), data=_secret_form(entra_server, resource=resource), timeout=10
    )

    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    for name in ("expires_in", "ext_expires_in", "expires_on", "not_before"):
        assert isinstance(body[name], str), name
        assert body[name].isdigit(), name
    assert body["expires_in"] == "3600"
    assert body["resource"] == resource
    claims = _claims(body["access_token"])
    assert claims["aud"] == resource  # with the slash, as requested
    assert (body["expires_on"], body["not_before"]) == (str(claims["exp"]), str(claims["nbf"]))
    verified = entra_server.service.verify_access_token(body["access_token"], resource=entra_server.api_resource)
    assert verified.client_id == entra_server.provisioned.secret_client.client_id


def test_a_token_for_another_resource_is_refused_by_the_api(entra_server: EntraServer) -> None:
    response = requests.post(
        entra_server.token_url("2.0"), data=_secret_form(entra_server, scope=f"{GRAPH_RESOURCE}/.default"), timeout=10
    )

    assert response.status_code == 200
    token = response.json()["access_token"]
    assert _claims(token)["aud"] == GRAPH_RESOURCE
    with pytest.raises(InvalidAccessTokenError, match="audience"):
        entra_server.service.verify_access_token(token, resource=entra_server.api_resource)


def test_tenant_domain_works_as_authority(entra_server: EntraServer) -> None:
    url = entra_server.token_url("2.0", tenant=entra_server.provisioned.tenant_domain)
    form = _secret_form(entra_server, scope=f"{entra_server.api_resource}/.default")
    response = requests.post(url, data=form, timeout=10)

    assert response.status_code == 200


def test_basic_authentication_decodes_form_urlencoded_credentials(entra_server: EntraServer) -> None:
    client_id = str(uuid.uuid4())
    secret = "a+b%2F c~d"  # '+', '%' and a space survive only if the client form-urlencodes them
    entra_server.service.register_client(ClientRegistration(client_id, "Basic test", secrets=(secret,)))
    form = {"grant_type": "client_credentials", "scope": f"{entra_server.api_resource}/.default"}

    encoded = base64.b64encode(f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()).decode()
    good = requests.post(entra_server.token_url(), data=form, headers={"Authorization": f"Basic {encoded}"}, timeout=10)
    naive = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    bad = requests.post(entra_server.token_url(), data=form, headers={"Authorization": f"Basic {naive}"}, timeout=10)

    assert good.status_code == 200, good.text
    assert bad.status_code == 401
    assert bad.json()["error_codes"] == [7000215]


def test_error_body_has_entras_shape_and_echoes_the_client_request_id(entra_server: EntraServer) -> None:
    correlation = str(uuid.uuid4())
    form = _secret_form(entra_server, scope=f"{entra_server.api_resource}/.default", client_secret="wrong")

    response = requests.post(
        entra_server.token_url(), data=form, headers={"client-request-id": correlation}, timeout=10
    )

    assert response.status_code == 401
    body = response.json()
    assert set(body) == {
        "error",
        "error_description",
        "error_codes",
        "timestamp",
        "trace_id",
        "correlation_id",
        "error_uri",
    }
    assert body["error"] == "invalid_client"
    match = DESCRIPTION.match(body["error_description"])
    assert match is not None
    assert match.group(1) == "7000215"
    assert entra_server.provisioned.secret_client.client_id in body["error_description"]
    assert body["correlation_id"] == correlation == response.headers["client-request-id"]
    assert body["trace_id"] in body["error_description"]
    assert body["trace_id"] == response.headers["x-ms-request-id"]
    assert body["timestamp"] in body["error_description"]
    assert body["error_uri"] == "https://login.microsoftonline.com/error?code=7000215"


SCOPE = "{api}/.default"
API = "{api}"

# (version, tenant or None for the tenant id, form overrides (None removes), status, error, AADSTS code)
ERROR_CASES = {
    "missing grant_type": ("2.0", None, {"grant_type": None, "scope": SCOPE}, 400, "invalid_request", 900144),
    "unsupported grant": (
        "2.0",
        None,
        {"grant_type": "password", "scope": SCOPE},
        400,
        "unsupported_grant_type",
        70003,
    ),
    "unknown client": (
        "2.0",
        None,
        {"client_id": str(uuid.UUID(int=7)), "scope": SCOPE},
        400,
        "unauthorized_client",
        700016,
    ),
    "missing client_id": ("2.0", None, {"client_id": None, "scope": SCOPE}, 400, "invalid_request", 900144),
    "missing secret": ("2.0", None, {"client_secret": None, "scope": SCOPE}, 401, "invalid_client", 7000218),
    "wrong secret": ("2.0", None, {"client_secret": "nope", "scope": SCOPE}, 401, "invalid_client", 7000215),
    "missing scope": ("2.0", None, {}, 400, "invalid_request", 900144),
    "not .default": ("2.0", None, {"scope": API + "/user_impersonation"}, 400, "invalid_scope", 1002012),
    "two scopes": ("2.0", None, {"scope": SCOPE + " openid"}, 400, "invalid_scope", 70011),
    "unknown resource v2": (
        "2.0",
        None,
        {"scope": "https://nowhere.example/.default"},
        400,
        "invalid_resource",
        500011,
    ),
    "resource on v2": ("2.0", None, {"scope": SCOPE, "resource": API}, 400, "invalid_request", 901002),
    "missing resource v1": ("1.0", None, {}, 400, "invalid_request", 900144),
    "unknown resource v1": ("1.0", None, {"resource": "https://x.crm.dynamics.com"}, 400, "invalid_resource", 500011),
    "unknown tenant": ("2.0", str(uuid.UUID(int=9)), {"scope": SCOPE}, 400, "invalid_request", 90002),
    "common": ("2.0", "common", {"scope": SCOPE}, 400, "invalid_request", 9001023),
    "organizations": ("1.0", "organizations", {"resource": API}, 400, "invalid_request", 9001023),
}


@pytest.mark.parametrize(
    ("version", "tenant", "overrides", "status", "error", "code"), ERROR_CASES.values(), ids=ERROR_CASES.keys()
)
def test_refusals_carry_the_documented_code_and_status(
    entra_server: EntraServer,
    version: str,
    tenant: str | None,
    overrides: dict[str, str | None],
    status: int,
    error: str,
    code: int,
) -> None:
    form: dict[str, str] = _secret_form(entra_server)
    for name, value in overrides.items():
        if value is None:
            form.pop(name, None)
        else:
            form[name] = value.replace("{api}", entra_server.api_resource)

    response = requests.post(entra_server.token_url(version, tenant=tenant), data=form, timeout=10)

    assert response.status_code == status, response.text
    body = response.json()
    assert (body["error"], body["error_codes"]) == (error, [code])
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    assert entra_server.service.stats.snapshot()["refused"] == {str(code): 1}


def test_get_on_the_token_endpoint_is_refused(entra_server: EntraServer) -> None:
    response = requests.get(entra_server.token_url(), timeout=10)

    assert response.status_code == 400
    assert response.json()["error_codes"] == [900561]


def test_a_public_client_cannot_use_client_credentials(entra_server: EntraServer) -> None:
    client_id = str(uuid.uuid4())
    entra_server.service.register_client(ClientRegistration(client_id, "Public"))
    form = {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "scope": f"{entra_server.api_resource}/.default",
    }

    without = requests.post(entra_server.token_url(), data=form, timeout=10)
    with_secret = requests.post(entra_server.token_url(), data={**form, "client_secret": "x"}, timeout=10)

    assert (without.status_code, without.json()["error_codes"]) == (401, [7000218])
    assert (with_secret.status_code, with_secret.json()["error_codes"]) == (401, [700025])


def test_issued_tokens_are_counted_per_client_and_grant(entra_server: EntraServer) -> None:
    scope = f"{entra_server.api_resource}/.default"
    for _ in range(3):
        requests.post(entra_server.token_url(), data=_secret_form(entra_server, scope=scope), timeout=10)

    snapshot = entra_server.service.stats.snapshot()

    client_id = entra_server.provisioned.secret_client.client_id
    assert snapshot["issued"] == {client_id: {"client_credentials": 3}}
    assert entra_server.service.stats.issued(client_id, "client_credentials") == 3
