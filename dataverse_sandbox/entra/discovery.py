"""OpenID Connect discovery documents for the v1 and v2 authorities (reference §6.7).

``/{tenant}/v2.0/.well-known/openid-configuration`` and ``/{tenant}/.well-known/openid-configuration`` describe the
endpoints under the authority exactly as requested (tenant GUID, domain, or ``common``), so a client that
discovers its endpoints stays on the sandbox. As in Entra, a multi-tenant authority's ``issuer`` carries the
literal ``{tenantid}`` placeholder. Not for: the keys themselves (``tokens.py``).
"""

from __future__ import annotations

from typing import Any

from dataverse_sandbox.entra.directory import TenantRef
from dataverse_sandbox.entra.token_endpoint import Version

__all__ = ["openid_configuration"]


def openid_configuration(*, origin: str, tenant: TenantRef, tenant_id: str, version: Version) -> dict[str, Any]:
    """Build a discovery document.

    :param origin: the token service's origin.
    :param tenant: the authority's tenant segment as requested.
    :param tenant_id: the tenant GUID.
    :param version: ``2.0`` for the v2 document, ``1.0`` for the v1 one.
    :returns: the JSON document.
    """
    authority = f"{origin}/{tenant.segment}"
    issuer_tenant = "{tenantid}" if tenant.is_multi_tenant else tenant_id
    if version == "2.0":
        issuer = f"{origin}/{issuer_tenant}/v2.0"
        endpoints = {
            "authorization_endpoint": f"{authority}/oauth2/v2.0/authorize",
            "token_endpoint": f"{authority}/oauth2/v2.0/token",
            "jwks_uri": f"{authority}/discovery/v2.0/keys",
        }
        scopes = ["openid", "profile", "email", "offline_access"]
    else:
        issuer = f"{origin}/{issuer_tenant}/"
        endpoints = {
            "authorization_endpoint": f"{authority}/oauth2/authorize",
            "token_endpoint": f"{authority}/oauth2/token",
            "jwks_uri": f"{authority}/discovery/keys",
        }
        scopes = ["openid"]
    return {
        "issuer": issuer,
        **endpoints,
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "token_endpoint_auth_signing_alg_values_supported": [
            "RS256",
            "RS384",
            "RS512",
            "PS256",
            "PS384",
            "PS512",
            "ES256",
            "ES384",
            "ES512",
        ],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
        "code_challenge_methods_supported": ["S256", "plain"],
        "scopes_supported": scopes,
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "nbf",
            "name",
            "nonce",
            "oid",
            "tid",
            "upn",
            "preferred_username",
            "ver",
        ],
        "request_uri_parameter_supported": False,
        "tenant_region_scope": None,
        "cloud_instance_name": "sandbox",
    }
