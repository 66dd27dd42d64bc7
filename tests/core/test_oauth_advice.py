"""Warnings at ``connect`` about an OAuth tab that is valid but will not work as meant (issue 12, item 10):
resource and Scope for Entra's v1 and v2 endpoints, a refresh token that v2 will not issue, endpoints of two
versions.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from connector.context import RuntimeContext
from connector.results import Diagnostic
from connector.settings import parse_settings
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
