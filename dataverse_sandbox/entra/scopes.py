"""Which resource a token is for: v1 ``resource=`` values and v2 ``scope=`` strings, checked against the tenant.

Entra's v1 endpoints name the resource directly (``resource=https://org.crm.dynamics.com``); the v2 endpoints name
it inside scopes (``https://org.crm.dynamics.com/.default``, ``…/user_impersonation``) next to OpenID Connect scopes
(``openid``, ``offline_access``, …). Both become a :class:`RequestedAccess` whose ``resource`` is the access token's
``aud``, exactly as the client spelled it (reference §6.4). Not for: consent or who may use which resource.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from dataverse_sandbox.entra import aadsts

__all__ = [
    "GRAPH_RESOURCE",
    "OIDC_SCOPES",
    "RequestedAccess",
    "ResourceCatalogue",
]

#: A second well-known resource, so tests can obtain a token for an audience other than the Web API.
GRAPH_RESOURCE = "https://graph.microsoft.com"

#: OpenID Connect scopes: they shape the response (``id_token``, ``refresh_token``), not the access token.
OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})

#: The delegated permissions every sandbox resource exposes (Dataverse exposes only ``user_impersonation``).
_DELEGATED_PERMISSIONS = frozenset({"user_impersonation", ".default"})

#: The ``scp`` claim of delegated tokens.
DELEGATED_SCP = "user_impersonation"


@dataclass(frozen=True)
class RequestedAccess:
    """A resource and what was asked of it.

    :param resource: the resource URI as requested; becomes the access token's ``aud``.
    :param oidc_scopes: OpenID Connect scopes requested alongside (v2; ``openid`` also honoured on v1).
    """

    resource: str
    oidc_scopes: frozenset[str] = frozenset()

    @property
    def wants_refresh_token(self) -> bool:
        """:returns: whether ``offline_access`` was requested (v2 issues refresh tokens only then)."""
        return "offline_access" in self.oidc_scopes

    @property
    def wants_id_token(self) -> bool:
        """:returns: whether ``openid`` was requested."""
        return "openid" in self.oidc_scopes

    def v2_scope(self) -> str:
        """:returns: the ``scope`` member of a v2 delegated token response: the permission, then OIDC scopes."""
        return " ".join([f"{self.resource.rstrip('/')}/{DELEGATED_SCP}", *sorted(self.oidc_scopes)])


def _normalise(resource: str) -> str:
    return resource.strip().rstrip("/").lower()


def _is_absolute_uri(value: str) -> bool:
    parts = urlsplit(value)
    return bool(parts.scheme) and bool(parts.netloc)


class ResourceCatalogue:
    """The resources (APIs) registered in the sandbox tenant.

    A resource matches with or without a trailing slash and regardless of case, as Entra resolves an App ID URI.

    :param resources: the resource URIs, e.g. the Web API's origin and :data:`GRAPH_RESOURCE`.
    """

    def __init__(self, resources: Sequence[str]) -> None:
        self._known = frozenset(_normalise(resource) for resource in resources)
        if not self._known:
            raise ValueError("the token service needs at least one resource")

    def is_known(self, resource: str) -> bool:
        """:returns: whether ``resource`` names a registered resource."""
        return _normalise(resource) in self._known

    def v1_resource(self, resource: str, *, tenant: str, oidc_scope: str = "") -> RequestedAccess:
        """Check a v1 ``resource`` parameter.

        :param resource: the parameter's value.
        :param tenant: the tenant as named in the request, for the error text.
        :param oidc_scope: the v1 ``scope`` parameter; only its OpenID Connect scopes are kept.
        :returns: the requested access.
        :raises EntraError: AADSTS500011 for an unknown resource.
        """
        if not self.is_known(resource):
            raise aadsts.unknown_resource(resource, tenant)
        return RequestedAccess(resource, frozenset(oidc_scope.split()) & OIDC_SCOPES)

    def client_credentials_scope(self, scope: str, *, tenant: str) -> RequestedAccess:
        """Check the v2 ``scope`` of a client-credentials request: exactly one ``<resource>/.default``.

        :raises EntraError: AADSTS70011, AADSTS1002012 or AADSTS500011.
        """
        tokens = scope.split()
        if len(tokens) != 1:
            raise aadsts.invalid_scope(scope)
        resource, _, permission = tokens[0].rpartition("/")
        if permission != ".default" or not _is_absolute_uri(resource):
            raise aadsts.client_credentials_scope_invalid(scope)
        if not self.is_known(resource):
            raise aadsts.unknown_resource(resource, tenant)
        return RequestedAccess(resource)

    def delegated_scope(self, scope: str, *, tenant: str) -> RequestedAccess:
        """Check a v2 ``scope`` of the authorization-code or refresh-token grant.

        :param scope: space-separated scopes: OpenID Connect ones plus permissions of exactly one resource.
        :param tenant: the tenant as named in the request, for the error text.
        :returns: the requested access.
        :raises EntraError: AADSTS70011 (unknown permission or not a URI), AADSTS700022 (several
            resources), AADSTS700023 (no resource), AADSTS500011 (unknown resource).
        """
        oidc: set[str] = set()
        resources: dict[str, str] = {}
        for token in scope.split():
            if token in OIDC_SCOPES:
                oidc.add(token)
                continue
            resource, _, permission = token.rpartition("/")
            if permission not in _DELEGATED_PERMISSIONS or not _is_absolute_uri(resource):
                raise aadsts.invalid_scope(scope)
            resources.setdefault(_normalise(resource), resource)
        if len(resources) > 1:
            raise aadsts.multiple_resources(scope)
        if not resources:
            raise aadsts.resourceless_scope(scope)
        (resource,) = resources.values()
        if not self.is_known(resource):
            raise aadsts.unknown_resource(resource, tenant)
        return RequestedAccess(resource, frozenset(oidc))
