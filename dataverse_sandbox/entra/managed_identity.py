"""Managed identity endpoints on loopback: Azure's instance metadata service (IMDS) and App Service's identity
endpoint, so the connector's managed identity sign-in runs against the sandbox without ``169.254.169.254``.

- IMDS: ``GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=...`` with ``Metadata: true``; a
  user-assigned identity is chosen by ``client_id``, ``object_id`` or ``msi_res_id``. Answers with strings for
  ``expires_in``, ``expires_on`` and ``not_before``, as IMDS does.
- App Service: ``GET /msi/token?api-version=2019-08-01&resource=...`` with ``X-IDENTITY-HEADER`` equal to the
  endpoint's secret (``IDENTITY_HEADER``); a user-assigned identity by ``client_id``, ``principal_id`` /
  ``object_id`` or ``mi_res_id``. Answers with ``expires_on`` (epoch seconds, a string) and ``client_id``.

An identity is an application of the directory (its tokens carry its ``appid`` and ``oid``), assigned to the
"machine" as system- or user-assigned by a test (:meth:`ManagedIdentityEndpoint.assign`). Asking for an identity
that is not assigned gets IMDS's 400 ``invalid_request`` "Identity not found".

Not for: the token endpoint's grants (``token_endpoint``).
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass
from typing import Any, Final

from werkzeug.wrappers import Request, Response

from dataverse_sandbox.contracts import ClientRegistration
from dataverse_sandbox.entra.directory import Directory
from dataverse_sandbox.entra.errors import EntraError
from dataverse_sandbox.entra.scopes import ResourceCatalogue
from dataverse_sandbox.entra.tokens import TokenSigner

__all__ = ["APP_SERVICE_PATH", "IMDS_PATH", "AssignedIdentity", "ManagedIdentityEndpoint"]

IMDS_PATH: Final = "/metadata/identity/oauth2/token"
APP_SERVICE_PATH: Final = "/msi/token"
_IMDS_VERSIONS: Final = frozenset({"2018-02-01", "2019-08-01"})
_APP_SERVICE_VERSIONS: Final = frozenset({"2019-08-01"})


@dataclass(frozen=True)
class AssignedIdentity:
    """An identity assigned to the sandbox's "machine".

    :param registration: the application behind it (client id, object id, Web API access).
    :param resource_id: its Azure resource id (user-assigned identities).
    """

    registration: ClientRegistration
    resource_id: str = ""


class _RefusalError(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


class ManagedIdentityEndpoint:
    """Serves both endpoints for the identities assigned to it. Thread-safe.

    :param directory: where identities are registered as applications.
    :param catalogue: the resources tokens may be issued for.
    :param signer: mints the access tokens.
    :param tenant: the tenant, for error texts.
    """

    def __init__(self, *, directory: Directory, catalogue: ResourceCatalogue, signer: TokenSigner, tenant: str) -> None:
        self._directory = directory
        self._catalogue = catalogue
        self._signer = signer
        self._tenant = tenant
        self._lock = threading.Lock()
        self._system: AssignedIdentity | None = None
        self._user: list[AssignedIdentity] = []
        self.identity_header = secrets.token_urlsafe(24)
        """The App Service secret a client must send as ``X-IDENTITY-HEADER`` (``IDENTITY_HEADER``)."""
        self.requests = 0
        """How many requests reached either endpoint."""

    def assign(self, registration: ClientRegistration, *, system: bool = False, resource_id: str = "") -> None:
        """Assign an identity (registering its application in the directory).

        :param registration: the identity's application (its secrets and certificates are not used).
        :param system: the system-assigned identity (replacing any other) rather than a user-assigned one.
        :param resource_id: the user-assigned identity's Azure resource id.
        """
        self._directory.register_client(registration)
        identity = AssignedIdentity(registration, resource_id)
        with self._lock:
            if system:
                self._system = identity
            else:
                self._user.append(identity)

    def unassign_all(self) -> None:
        """Remove every assigned identity (the applications stay registered)."""
        with self._lock:
            self._system = None
            self._user = []

    def handle(self, request: Request) -> Response | None:
        """:returns: the answer for a managed identity request, or ``None`` for another path."""
        if request.path not in (IMDS_PATH, APP_SERVICE_PATH):
            return None
        with self._lock:
            self.requests += 1
        imds = request.path == IMDS_PATH
        try:
            if request.method != "GET":
                raise _RefusalError(405, "invalid_request", "Only GET is supported.")
            body = self._imds(request) if imds else self._app_service(request)
        except _RefusalError as refusal:
            if imds:
                return _json({"error": refusal.error, "error_description": refusal.description}, refusal.status)
            return _json({"statusCode": refusal.status, "message": refusal.description}, refusal.status)
        return _json(body, 200)

    def _imds(self, request: Request) -> dict[str, Any]:
        args = request.args
        if request.headers.get("Metadata", "").lower() != "true":
            raise _RefusalError(400, "invalid_request", "Required metadata header not specified")
        if args.get("api-version") not in _IMDS_VERSIONS:
            raise _RefusalError(400, "invalid_request", "Invalid or missing api-version")
        identity = self._identity(args.get("client_id"), args.get("object_id"), args.get("msi_res_id"))
        token, resource = self._issue(identity, args.get("resource", ""))
        return {
            "access_token": token.value,
            "refresh_token": "",
            "expires_in": str(token.expires_at - token.issued_at),
            "expires_on": str(token.expires_at),
            "not_before": str(token.not_before),
            "resource": resource,
            "token_type": "Bearer",
        }

    def _app_service(self, request: Request) -> dict[str, Any]:
        args = request.args
        presented = request.headers.get("X-IDENTITY-HEADER", "")
        if not secrets.compare_digest(presented.encode(), self.identity_header.encode()):
            raise _RefusalError(401, "unauthorized", "The X-IDENTITY-HEADER header is missing or wrong.")
        if args.get("api-version") not in _APP_SERVICE_VERSIONS:
            raise _RefusalError(400, "invalid_request", "Invalid or missing api-version")
        identity = self._identity(
            args.get("client_id"), args.get("principal_id") or args.get("object_id"), args.get("mi_res_id")
        )
        token, resource = self._issue(identity, args.get("resource", ""))
        return {
            "access_token": token.value,
            "expires_on": str(token.expires_at),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": identity.registration.client_id,
        }

    def _identity(self, client_id: str | None, object_id: str | None, resource_id: str | None) -> AssignedIdentity:
        with self._lock:
            system, user = self._system, list(self._user)
        if not (client_id or object_id or resource_id):
            if system is None:
                raise _RefusalError(400, "invalid_request", "Identity not found")
            return system
        for identity in user:
            registration = identity.registration
            if (
                (client_id and client_id.lower() == registration.client_id.lower())
                or (object_id and object_id.lower() == Directory.principal_id(registration).lower())
                or (resource_id and identity.resource_id and resource_id.lower() == identity.resource_id.lower())
            ):
                return identity
        raise _RefusalError(400, "invalid_request", "Identity not found")

    def _issue(self, identity: AssignedIdentity, resource: str) -> tuple[Any, str]:
        if not resource:
            raise _RefusalError(400, "invalid_request", "Required audience parameter not specified")
        try:
            access = self._catalogue.v1_resource(resource, tenant=self._tenant)
        except EntraError as error:
            raise _RefusalError(400, "invalid_resource", f"AADSTS{error.code}: {error.message}") from None
        registration = identity.registration
        token = self._signer.issue_access_token(
            audience=access.resource,
            client_id=registration.client_id,
            principal_id=Directory.principal_id(registration),
            appidacr="2",
        )
        return token, access.resource


def _json(body: dict[str, Any], status: int) -> Response:
    response = Response(json.dumps(body), status=status, content_type="application/json; charset=utf-8")
    response.headers["Cache-Control"] = "no-store"
    return response
