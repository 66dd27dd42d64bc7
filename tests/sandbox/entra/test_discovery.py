"""OpenID Connect discovery documents."""

from __future__ import annotations

import pytest

from dataverse_sandbox.entra.directory import TenantRef
from dataverse_sandbox.entra.discovery import openid_configuration
from dataverse_sandbox.entra.token_endpoint import Version

ORIGIN = "http://127.0.0.1:8080"
TENANT = "00000000-0000-0000-0000-00000000000a"


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_endpoints_follow_the_requested_authority(version: Version) -> None:
    document = openid_configuration(
        origin=ORIGIN,
        tenant=TenantRef("sandbox.test", "tenant"),
        tenant_id=TENANT,
        version=version,
    )

    infix = "/v2.0" if version == "2.0" else ""
    assert document["token_endpoint"] == f"{ORIGIN}/sandbox.test/oauth2{infix}/token"
    assert document["authorization_endpoint"] == f"{ORIGIN}/sandbox.test/oauth2{infix}/authorize"
    assert document["jwks_uri"] == f"{ORIGIN}/sandbox.test/discovery{infix}/keys"
    assert document["issuer"] == (f"{ORIGIN}/{TENANT}/v2.0" if version == "2.0" else f"{ORIGIN}/{TENANT}/")
    assert document["response_types_supported"] == ["code"]
    assert "private_key_jwt" in document["token_endpoint_auth_methods_supported"]


def test_multi_tenant_issuer_has_the_placeholder() -> None:
    document = openid_configuration(
        origin=ORIGIN, tenant=TenantRef("organizations", "organizations"), tenant_id=TENANT, version="2.0"
    )

    assert document["issuer"] == f"{ORIGIN}/{{tenantid}}/v2.0"
