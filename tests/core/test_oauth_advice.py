"""Warnings at ``connect`` about an OAuth tab that is valid but will not work as meant (issue 12, items 10 and 11):
resource and Scope for Entra's v1 and v2 endpoints, a refresh token that v2 will not issue, endpoints of two
versions, and EC keys offered to Entra.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from connector.context import RuntimeContext
from connector.oauth_advice import is_entra_url
from connector.results import Diagnostic
from connector.settings import parse_settings
from tests.support.auth import key_material
from tests.support.examples import CLIENT_SECRET_SETTINGS

ORG = "https://contoso.crm.dynamics.com"
V1 = "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/token"
V2 = "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
RESOURCE = [{"name": "resource", "value": ORG}]


def warnings_for(**oauth: Any) -> list[Diagnostic]:
    settings = copy.deepcopy(CLIENT_SECRET_SETTINGS)
    settings["oauth2"] = oauth
    parsed = parse_settings(settings, RuntimeContext(callback_url="https://host/callback"))
    return [d for d in parsed.oauth.diagnostics if d.level == "warning"]


def secret(**overrides: Any) -> dict[str, Any]:
    return {"grant_type": "client_credentials", "client_id": "app", "client_secret": "s", **overrides}


def code(**overrides: Any) -> dict[str, Any]:
    return {"grant_type": "authorization_code", "client_id": "app", "client_secret": "s", **overrides}


@pytest.mark.parametrize(
    "oauth",
    [
        pytest.param(secret(access_token_url=V1, access_token_parameters=RESOURCE), id="v1 client credentials"),
        pytest.param(secret(access_token_url=V2, scope=f"{ORG}/.default"), id="v2 client credentials"),
        pytest.param(code(access_token_url=V1, authorization_parameters=RESOURCE), id="v1 code"),
        pytest.param(
            code(access_token_url=V1, authorization_parameters=RESOURCE, scope="openid offline_access"),
            id="v1 code with OpenID scopes",
        ),
        pytest.param(code(access_token_url=V2, scope=f"{ORG}/user_impersonation offline_access"), id="v2 code"),
    ],
)
def test_the_documented_set_ups_get_no_warning(oauth: dict[str, Any]) -> None:
    assert warnings_for(**oauth) == []


@pytest.mark.parametrize(
    ("oauth", "field", "words"),
    [
        pytest.param(
            secret(access_token_url=V1), "oauth2.access_token_parameters", "neither a resource", id="neither, v1"
        ),
        pytest.param(secret(access_token_url=V2), "oauth2.scope", "neither a resource", id="neither, v2"),
        pytest.param(
            secret(access_token_url=V2, scope="openid"), "oauth2.scope", "neither a resource", id="OpenID scope only"
        ),
        pytest.param(
            secret(access_token_url=V1, access_token_parameters=RESOURCE, scope=f"{ORG}/.default"),
            "oauth2.scope",
            "ignore Scope's permissions",
            id="both, v1",
        ),
        pytest.param(
            secret(access_token_url="https://idp.example/token", access_token_parameters=RESOURCE, scope=f"{ORG}/x"),
            "oauth2.scope",
            "same API",
            id="both, another provider",
        ),
        pytest.param(
            secret(access_token_url=V2, access_token_parameters=RESOURCE),
            "oauth2.access_token_parameters",
            f"set Scope to {ORG}/.default",
            id="resource on v2",
        ),
        pytest.param(
            secret(access_token_url=V2, access_token_parameters=RESOURCE, scope=f"{ORG}/.default"),
            "oauth2.access_token_parameters",
            "is not sent",
            id="both, v2",
        ),
        pytest.param(
            code(
                access_token_url=V2, authorization_parameters=RESOURCE, scope=f"{ORG}/user_impersonation offline_access"
            ),
            "oauth2.authorization_parameters",
            "AADSTS901002",
            id="resource left in a v2 code set-up",
        ),
        pytest.param(
            code(access_token_url=V2, scope=f"{ORG}/user_impersonation"),
            "oauth2.scope",
            "offline_access",
            id="v2 code without offline_access",
        ),
        pytest.param(
            code(
                access_token_url=V1,
                authorization_url=V2.replace("/token", "/authorize"),
                authorization_parameters=RESOURCE,
            ),
            "oauth2.authorization_url",
            "use the pair",
            id="v2 authorization URL with a v1 token URL",
        ),
    ],
)
def test_resource_and_scope_mistakes_are_warned_at_connect(oauth: dict[str, Any], field: str, words: str) -> None:
    found = warnings_for(**oauth)
    assert [d.field for d in found] == [field], found
    assert words in found[0].message


def jwt_tab(algorithm: str, token_url: str) -> dict[str, Any]:
    material = key_material(algorithm)
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": "jwt",
        "client_id": "app",
        "access_token_url": token_url,
        "scope": f"{ORG}/.default",
        "jwt": {
            "signature_algorithm": algorithm,
            "signature_key": {
                "format": "pem",
                "private_key": material.key_pem,
                "certificate": material.certificate_pem,
            },
        },
    }


@pytest.mark.parametrize(
    "token_url",
    [
        V2,
        "https://login.microsoftonline.us/contoso.onmicrosoft.us/oauth2/v2.0/token",
        "https://login.chinacloudapi.cn/contoso.partner.onmschina.cn/oauth2/v2.0/token",
        "https://LOGIN.MicrosoftOnline.com/contoso/oauth2/v2.0/token",
    ],
)
@pytest.mark.parametrize("algorithm", ["ES256", "ES384", "ES512"])
def test_an_ec_key_for_entra_is_warned_at_connect(algorithm: str, token_url: str) -> None:
    (found,) = warnings_for(**jwt_tab(algorithm, token_url))
    assert found.field == "oauth2.jwt.signature_algorithm"
    assert "only RSA" in found.message


@pytest.mark.parametrize(
    ("algorithm", "token_url"),
    [("PS256", V2), ("RS256", V2), ("ES256", "http://127.0.0.1:5000/tenant/oauth2/v2.0/token")],
)
def test_rsa_keys_and_other_providers_get_no_key_warning(algorithm: str, token_url: str) -> None:
    assert [d for d in warnings_for(**jwt_tab(algorithm, token_url)) if "RSA" in d.message] == []


@pytest.mark.parametrize(
    ("url", "entra"),
    [
        (V1, True),
        ("https://login.microsoftonline.de/t/oauth2/token", True),
        ("https://login.microsoftonline.com.evil.example/t/oauth2/token", False),
        ("https://idp.example/token", False),
        ("https://[zzz]/token", False),
        (None, False),
    ],
)
def test_is_entra_url(url: str | None, entra: bool) -> None:
    assert is_entra_url(url) is entra
