"""Resources and scopes: v1 ``resource``, v2 client-credentials and delegated scopes."""

from __future__ import annotations

import pytest

from dataverse_sandbox.entra.errors import EntraError
from dataverse_sandbox.entra.scopes import GRAPH_RESOURCE, RequestedAccess, ResourceCatalogue

API = "https://org.crm.dynamics.com"
CATALOGUE = ResourceCatalogue([API + "/", GRAPH_RESOURCE])


def _code(call: object, *args: str) -> int:
    assert callable(call)
    with pytest.raises(EntraError) as refused:
        call(*args, tenant="t")
    return refused.value.code


@pytest.mark.parametrize("resource", [API, API + "/", API.upper()])
def test_v1_resource_is_kept_exactly_as_requested(resource: str) -> None:
    assert CATALOGUE.v1_resource(resource, tenant="t").resource == resource


def test_v1_keeps_only_openid_connect_scopes() -> None:
    access = CATALOGUE.v1_resource(API, tenant="t", oidc_scope="openid Mail.Read offline_access")

    assert access.oidc_scopes == {"openid", "offline_access"}


def test_unknown_resources_are_500011() -> None:
    assert _code(CATALOGUE.v1_resource, "https://other.crm.dynamics.com") == 500011
    assert _code(CATALOGUE.client_credentials_scope, "https://other.crm.dynamics.com/.default") == 500011
    assert _code(CATALOGUE.delegated_scope, "https://other.crm.dynamics.com/user_impersonation") == 500011


@pytest.mark.parametrize(
    ("scope", "code"),
    [
        (f"{API}/user_impersonation", 1002012),
        ("openid", 1002012),
        (".default", 1002012),
        (f"{API}/.default {GRAPH_RESOURCE}/.default", 70011),
        ("", 70011),
    ],
)
def test_client_credentials_need_exactly_one_default_scope(scope: str, code: int) -> None:
    assert _code(CATALOGUE.client_credentials_scope, scope) == code


def test_client_credentials_scope_names_the_resource_without_the_suffix() -> None:
    assert CATALOGUE.client_credentials_scope(f"{API}/.default", tenant="t") == RequestedAccess(API)
    assert CATALOGUE.client_credentials_scope(f"{API}//.default", tenant="t").resource == API + "/"


def test_delegated_scope_separates_openid_connect_scopes() -> None:
    access = CATALOGUE.delegated_scope(f"openid {API}/user_impersonation offline_access {API}/.default", tenant="t")

    assert access.resource == API
    assert access.wants_refresh_token
    assert access.wants_id_token
    assert access.v2_scope() == f"{API}/user_impersonation offline_access openid"


@pytest.mark.parametrize(
    ("scope", "code"),
    [
        ("openid profile", 700023),
        (f"{API}/.default {GRAPH_RESOURCE}/.default", 700022),
        (f"{API}/Mail.Read", 70011),
        ("User.Read", 70011),
    ],
)
def test_delegated_scope_errors(scope: str, code: int) -> None:
    assert _code(CATALOGUE.delegated_scope, scope) == code


def test_a_catalogue_needs_a_resource() -> None:
    with pytest.raises(ValueError, match="at least one resource"):
        ResourceCatalogue([])
