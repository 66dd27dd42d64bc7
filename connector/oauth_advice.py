"""Warnings about an OAuth 2.0 tab that is valid but will not work as meant, given at ``connect`` with the field.

Entra's two token endpoints name the Web API differently (v1: a ``resource`` parameter; v2: the resource inside
Scope), and a mistake there surfaced only when a token was first requested, or an hour later, when the first access
token expired without a refresh token. :func:`oauth_advice` says so at once: neither resource nor Scope, both, a
``resource`` the connector will not send to a v2 endpoint, a v2 authorization-code Scope without ``offline_access``,
a v1 token URL paired with a v2 authorization URL (or the reverse), and an EC signature key for Entra, which accepts
only RSA certificate credentials.

Called by :func:`connector.oauth_settings.parse_oauth_settings`; like it, it imports only the hook contract and the
settings, never the grants. Not for refusing settings (the schema and ``oauth_settings`` do that).
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit

from connector.oauth_settings import (
    AUTHORIZATION_PARAMETERS_FIELD,
    AUTHORIZATION_URL_FIELD,
    SCOPE_FIELD,
    SIGNATURE_ALGORITHM_FIELD,
    TOKEN_PARAMETERS_FIELD,
    OAuthSettings,
    entra_endpoint_version,
)
from connector.results import Diagnostic

__all__ = ["ENTRA_HOSTS", "OIDC_SCOPES", "is_entra_url", "oauth_advice"]

ENTRA_HOSTS: Final = frozenset(
    {
        "login.microsoftonline.com",  # global
        "login.microsoft.com",
        "login.windows.net",
        "sts.windows.net",
        "login.microsoftonline.us",  # US Government (GCC High, DoD)
        "login-us.microsoftonline.com",
        "login.chinacloudapi.cn",  # operated by 21Vianet
        "login.partner.microsoftonline.cn",
        "login.microsoftonline.de",  # the former German cloud
    }
)
"""The token service hosts of Microsoft Entra ID, in the global and the national (sovereign) clouds."""

OIDC_SCOPES: Final = frozenset({"openid", "profile", "email", "offline_access"})
"""Scopes that shape the token response (an ID token, a refresh token) without naming an API."""

_EC_ALGORITHMS: Final = frozenset({"ES256", "ES384", "ES512"})


def is_entra_url(url: str | None) -> bool:
    """:returns: whether a URL is on one of Entra's token service hosts (:data:`ENTRA_HOSTS`)."""
    try:
        host = (urlsplit(url or "").hostname or "").lower()
    except ValueError:
        return False
    return host in ENTRA_HOSTS


def _api_scopes(scope: str | None) -> list[str]:
    """The scopes that name an API (``https://org.crm.dynamics.com/.default``), not OpenID Connect ones."""
    return [token for token in (scope or "").split() if token not in OIDC_SCOPES]


def _resource_of(scope_token: str) -> str:
    resource, _, _permission = scope_token.rpartition("/")
    return resource or scope_token


def _where_resource(settings: OAuthSettings) -> str:
    if any(p.name == "resource" for p in settings.authorization_parameters):
        return AUTHORIZATION_PARAMETERS_FIELD
    return TOKEN_PARAMETERS_FIELD


def _scope_example(settings: OAuthSettings, resource: str) -> str:
    origin = resource.rstrip("/")
    if settings.grant_type == "authorization_code":
        return f"{origin}/user_impersonation offline_access"
    return f"{origin}/.default"


def _resource_and_scope(settings: OAuthSettings) -> list[Diagnostic]:
    version = settings.entra_version
    resource = settings.given_resource
    api_scopes = _api_scopes(settings.scope)
    found: list[Diagnostic] = []
    if resource is None and not api_scopes:
        field = SCOPE_FIELD if version == "v2" or settings.scope else _where_resource(settings)
        found.append(
            Diagnostic(
                "warning",
                field,
                "neither a resource parameter nor a Scope naming the Web API is set, so the token would be for no "
                "API: set the resource parameter to https://<org>.crm.dynamics.com (v1 endpoints) or Scope to "
                "https://<org>.crm.dynamics.com/.default (v2; /user_impersonation offline_access for the "
                "authorization code grant)",
            )
        )
    elif resource is not None and version == "v2":
        advice = "remove it" if api_scopes else f"remove it and set Scope to {_scope_example(settings, resource)}"
        found.append(
            Diagnostic(
                "warning",
                _where_resource(settings),
                f"resource {resource!r} is not sent: Entra's v2 endpoints (/oauth2/v2.0/) refuse the resource "
                f"parameter (AADSTS901002) and take the resource inside Scope; {advice}",
            )
        )
    elif resource is not None and api_scopes:
        named = sorted({_resource_of(token) for token in api_scopes})
        found.append(
            Diagnostic(
                "warning",
                SCOPE_FIELD,
                f"both a resource parameter ({resource!r}) and a Scope naming an API ({', '.join(named)}) are set: "
                + (
                    "Entra's v1 endpoints issue the token for resource and ignore Scope's permissions; leave Scope "
                    "blank (or only openid, offline_access), or use the v2 URL with Scope and no resource"
                    if version == "v1"
                    else "keep one, or make sure they name the same API"
                ),
            )
        )
    if (
        version == "v2"
        and settings.grant_type == "authorization_code"
        and api_scopes
        and "offline_access" not in (settings.scope or "").split()
    ):
        found.append(
            Diagnostic(
                "warning",
                SCOPE_FIELD,
                "has no offline_access: Entra's v2 endpoints then issue no refresh token, and the connection must be "
                "authorized again when the first access token expires (about an hour); add offline_access",
            )
        )
    return found


def _endpoint_pair(settings: OAuthSettings) -> list[Diagnostic]:
    if settings.grant_type != "authorization_code" or not settings.authorization_url:
        return []
    token, authorize = settings.entra_version, entra_endpoint_version(settings.authorization_url)
    if None in (token, authorize) or token == authorize:
        return []
    return [
        Diagnostic(
            "warning",
            AUTHORIZATION_URL_FIELD,
            f"is an Entra {authorize} endpoint but the access token URL is {token}: a code from one is redeemed at "
            "the other with different parameters (resource against Scope); use the pair, or leave the authorization "
            "URL blank to derive it",
        )
    ]


def _entra_and_ec_keys(settings: OAuthSettings) -> list[Diagnostic]:
    jwt = settings.jwt
    if jwt is None or jwt.algorithm not in _EC_ALGORITHMS or not is_entra_url(settings.access_token_url):
        return []
    return [
        Diagnostic(
            "warning",
            SIGNATURE_ALGORITHM_FIELD,
            f"{jwt.algorithm} signs with an EC key, but Microsoft Entra ID accepts only RSA certificates as "
            "application credentials, so it will refuse the assertion: use an RSA key and certificate with PS256 "
            "or RS256",
        )
    ]


def oauth_advice(settings: OAuthSettings) -> list[Diagnostic]:
    """Warn about an OAuth tab that passed validation but will not work as meant.

    :param settings: the parsed OAuth settings.
    :returns: the warnings, each naming the field to change; empty when there is nothing to say.
    """
    return [*_resource_and_scope(settings), *_endpoint_pair(settings), *_entra_and_ec_keys(settings)]
