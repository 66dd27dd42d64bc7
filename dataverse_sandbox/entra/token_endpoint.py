"""The token endpoint (``/{tenant}/oauth2/token`` and ``/{tenant}/oauth2/v2.0/token``): grants and response shapes.

Supports ``client_credentials``, ``authorization_code`` and ``refresh_token``. v1 requests name the resource with
``resource=`` and get string numbers (``expires_in``, ``expires_on``, ``not_before``) plus ``resource``; v2 requests
name it with ``scope=`` and get JSON integers (reference §6.4). Checks run in this order: method, ``grant_type``,
authority (``common``/``organizations`` refuse app-only grants), the v2 ``resource`` ban, client identification and
authentication, then the grant's own parameters. Not for: rendering errors or routing (``service.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Literal

from werkzeug.wrappers import Request

from dataverse_sandbox.contracts import TokenEventRecorder
from dataverse_sandbox.entra import aadsts
from dataverse_sandbox.entra.assertions import AssertionVerifier
from dataverse_sandbox.entra.authentication import AuthenticatedClient, authenticate_client, read_client_credentials
from dataverse_sandbox.entra.directory import Directory, SandboxUser, TenantRef
from dataverse_sandbox.entra.grants import Authorization, GrantStore
from dataverse_sandbox.entra.scopes import DELEGATED_SCP, RequestedAccess, ResourceCatalogue
from dataverse_sandbox.entra.tokens import IssuedToken, TokenSigner

__all__ = ["TokenEndpoint", "Version"]

logger = logging.getLogger(__name__)

Version = Literal["1.0", "2.0"]

_GRANTS = ("client_credentials", "authorization_code", "refresh_token")


def _required(form: Mapping[str, str], name: str) -> str:
    value = form.get(name, "").strip()
    if not value:
        raise aadsts.missing_parameter(name)
    return value


class TokenEndpoint:
    """Answers token requests.

    :param directory: applications and users.
    :param catalogue: known resources.
    :param signer: mints tokens.
    :param grants: codes and refresh tokens.
    :param verifier: checks client assertions.
    :param stats: counts issued tokens.
    """

    def __init__(
        self,
        *,
        directory: Directory,
        catalogue: ResourceCatalogue,
        signer: TokenSigner,
        grants: GrantStore,
        verifier: AssertionVerifier,
        stats: TokenEventRecorder,
    ) -> None:
        self._directory = directory
        self._catalogue = catalogue
        self._signer = signer
        self._grants = grants
        self._verifier = verifier
        self._stats = stats

    def handle(self, request: Request, tenant: TenantRef, version: Version) -> dict[str, Any]:
        """Run one token request.

        :param request: the HTTP request.
        :param tenant: the resolved tenant segment.
        :param version: ``1.0`` for ``/oauth2/token``, ``2.0`` for ``/oauth2/v2.0/token``.
        :returns: the JSON body of a successful token response.
        :raises EntraError: for every refusal.
        """
        if request.method != "POST":
            raise aadsts.method_not_allowed(request.method)
        form = request.form
        grant_type = _required(form, "grant_type")
        if grant_type not in _GRANTS:
            raise aadsts.unsupported_grant_type(grant_type)
        if tenant.is_multi_tenant and grant_type == "client_credentials":
            raise aadsts.grant_not_on_common_endpoint(tenant.segment)
        if version == "2.0" and "resource" in form:
            raise aadsts.resource_parameter_not_supported()
        credentials = read_client_credentials(form, request.headers.get("Authorization"))
        if credentials.client_id is None:
            raise aadsts.missing_parameter("client_id")
        registration = self._directory.client(credentials.client_id)
        if registration is None:
            raise aadsts.application_not_found(credentials.client_id, tenant.segment)
        client = authenticate_client(credentials, registration, self._verifier)
        if grant_type == "client_credentials":
            body = self._client_credentials(form, client, tenant, version)
        elif grant_type == "authorization_code":
            body = self._authorization_code(form, client, tenant, version)
        else:
            body = self._refresh_token(form, client, tenant, version)
        self._stats.record_issued(registration.client_id, grant_type)
        logger.info(
            "issued %s token to client %s via %s (v%s)", grant_type, registration.client_id, client.method, version
        )
        return body

    # --- grants ---------------------------------------------------------------------------------------------

    def _client_credentials(
        self, form: Mapping[str, str], client: AuthenticatedClient, tenant: TenantRef, version: Version
    ) -> dict[str, Any]:
        if client.method == "none":
            # A public client has nothing to authenticate an app-only token with.
            raise aadsts.missing_client_credentials()
        if version == "1.0":
            access = self._catalogue.v1_resource(_required(form, "resource"), tenant=tenant.segment)
        else:
            access = self._catalogue.client_credentials_scope(_required(form, "scope"), tenant=tenant.segment)
        registration = client.registration
        token = self._signer.issue_access_token(
            audience=access.resource,
            client_id=registration.client_id,
            principal_id=Directory.principal_id(registration),
            appidacr=client.appidacr,
        )
        return self._shape(version, token, access, delegated=False)

    def _authorization_code(
        self, form: Mapping[str, str], client: AuthenticatedClient, tenant: TenantRef, version: Version
    ) -> dict[str, Any]:
        code = _required(form, "code")
        redirect_uri = _required(form, "redirect_uri")
        authorization, family = self._grants.redeem_code(
            code,
            client_id=client.registration.client_id,
            redirect_uri=redirect_uri,
            code_verifier=form.get("code_verifier") or None,
        )
        return self._delegated(form, client, tenant, version, authorization, family, first=True)

    def _refresh_token(
        self, form: Mapping[str, str], client: AuthenticatedClient, tenant: TenantRef, version: Version
    ) -> dict[str, Any]:
        token = _required(form, "refresh_token")
        authorization, family = self._grants.redeem_refresh_token(token, client_id=client.registration.client_id)
        return self._delegated(form, client, tenant, version, authorization, family, first=False)

    def _delegated(
        self,
        form: Mapping[str, str],
        client: AuthenticatedClient,
        tenant: TenantRef,
        version: Version,
        authorization: Authorization,
        family: str,
        *,
        first: bool,
    ) -> dict[str, Any]:
        access = self._delegated_access(form, tenant, version, authorization)
        user = self._directory.user_by_id(authorization.user_id)
        if user is None:
            raise aadsts.grant_revoked()
        token = self._signer.issue_access_token(
            audience=access.resource,
            client_id=client.registration.client_id,
            principal_id=Directory.principal_id(client.registration),
            appidacr=client.appidacr,
            user=user,
            scp=DELEGATED_SCP,
        )
        body = self._shape(version, token, access, delegated=True)
        # v1 always returns a refresh token for the code grant; v2 only when offline_access was consented.
        if version == "1.0" or authorization.access.wants_refresh_token:
            body["refresh_token"] = self._grants.issue_refresh_token(authorization, family)
        if (version == "1.0" and first) or (version == "2.0" and authorization.access.wants_id_token):
            body["id_token"] = self._id_token(client, user, authorization, version)
        return body

    def _delegated_access(
        self, form: Mapping[str, str], tenant: TenantRef, version: Version, authorization: Authorization
    ) -> RequestedAccess:
        # A refresh token or code may be redeemed for another known resource (Entra's multi-resource refresh).
        granted = authorization.access
        if version == "1.0":
            resource = form.get("resource", "").strip()
            if not resource:
                return granted
            oidc_scope = " ".join(granted.oidc_scopes)
            return self._catalogue.v1_resource(resource, tenant=tenant.segment, oidc_scope=oidc_scope)
        scope = form.get("scope", "").strip()
        if not scope:
            return granted
        requested = self._catalogue.delegated_scope(scope, tenant=tenant.segment)
        return RequestedAccess(requested.resource, requested.oidc_scopes | granted.oidc_scopes)

    def _id_token(
        self, client: AuthenticatedClient, user: SandboxUser, authorization: Authorization, version: Version
    ) -> str:
        return self._signer.issue_id_token(
            client_id=client.registration.client_id, user=user, nonce=authorization.nonce, version=version
        )

    # --- response shapes ------------------------------------------------------------------------------------

    def _shape(
        self, version: Version, token: IssuedToken, access: RequestedAccess, *, delegated: bool
    ) -> dict[str, Any]:
        expires_in = token.expires_at - token.issued_at
        if version == "2.0":
            body: dict[str, Any] = {"token_type": "Bearer"}
            if delegated:
                body["scope"] = access.v2_scope()
            body.update(expires_in=expires_in, ext_expires_in=expires_in, access_token=token.value)
            return body
        body = {"token_type": "Bearer"}
        if delegated:
            body["scope"] = DELEGATED_SCP
        body.update(
            expires_in=str(expires_in),
            ext_expires_in=str(expires_in),
            expires_on=str(token.expires_at),
            not_before=str(token.not_before),
            resource=access.resource,
            access_token=token.value,
        )
        return body
