"""The sandbox tenant's directory: its id and domain, the registered applications and the users who can sign in.

The registrations can change while the service runs (a test or the demo adds its loopback redirect URI, or
switches auto-consent for a client), so lookups go through this thread-safe object rather than a plain mapping.
Not for: issuing or checking credentials (``authentication.py``, ``assertions.py``) or storing grants
(``grants.py``).
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from dataverse_sandbox.contracts import ClientRegistration

__all__ = ["Directory", "SandboxUser", "TenantRef", "check_redirect_uri"]

TenantKind = Literal["tenant", "common", "organizations", "consumers"]

#: Authority segments that are not a tenant (reference §6.1).
_MULTI_TENANT_SEGMENTS: dict[str, TenantKind] = {
    "common": "common",
    "organizations": "organizations",
    "consumers": "consumers",
}

_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")


def check_redirect_uri(uri: str) -> None:
    """Check a redirect URI before it is registered, as the Entra portal does.

    :param uri: an absolute URI: ``https://…``, or ``http://`` on a loopback host (``localhost``, ``127.0.0.1``,
        ``[::1]``) with any port, such as a CLI's listener ``http://127.0.0.1:53121/callback``.
    :raises ValueError: for anything else, or a URI with a fragment.
    """
    parts = urlsplit(uri)
    try:
        parts.port  # noqa: B018 - reading it validates the port
    except ValueError:
        raise ValueError(f"the redirect URI {uri!r} has an invalid port") from None
    loopback = parts.scheme == "http" and parts.hostname in ("localhost", "127.0.0.1", "::1")
    if parts.fragment or parts.username or not parts.hostname or not (parts.scheme == "https" or loopback):
        raise ValueError(
            f"a redirect URI must be https://…, or http:// on localhost, 127.0.0.1 or [::1] (any port), without a "
            f"fragment; got {uri!r}"
        )


# A fixed namespace so that derived object ids are stable across restarts of the same state directory.
_OBJECT_ID_NAMESPACE = uuid.UUID("6f2b8f4e-2a43-4e0f-9a57-3d1c0c8a9b10")


@dataclass(frozen=True)
class SandboxUser:
    """A user who can sign in on the login page.

    :param user_name: the sign-in name and ``upn`` claim, e.g. ``alice@sandbox.test``.
    :param display_name: the ``name`` claim and what the consent page shows.
    :param object_id: the user's ``oid``, a GUID string.
    :param password: the sign-in password; never logged or rendered.
    """

    user_name: str
    display_name: str
    object_id: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class TenantRef:
    """The tenant segment of a request path, resolved.

    :param segment: the segment exactly as requested (a GUID, the domain, ``common``, ...).
    :param kind: ``tenant`` for this tenant by id or domain; otherwise the multi-tenant alias used.
    """

    segment: str
    kind: TenantKind

    @property
    def is_multi_tenant(self) -> bool:
        """:returns: whether the request used ``common``, ``organizations`` or ``consumers``."""
        return self.kind != "tenant"


class Directory:
    """The applications and users of the one sandbox tenant.

    :param tenant_id: the tenant GUID.
    :param domain: the tenant's domain, accepted in paths instead of the GUID (e.g. ``sandbox.test``).
    :param registrations: the applications.
    :param users: the users who can sign in; the first is the default for auto-consenting clients.
    :param ignore_loopback_port: match ``http://localhost`` / ``http://127.0.0.1`` redirect URIs registered without a
        port against any port, as Entra does for native apps (RFC 8252 §7.3). Off by default: exact matching.
    """

    def __init__(
        self,
        *,
        tenant_id: str,
        domain: str,
        registrations: Sequence[ClientRegistration],
        users: Sequence[SandboxUser],
        ignore_loopback_port: bool = False,
    ) -> None:
        self.tenant_id = str(uuid.UUID(tenant_id))
        self.domain = domain.lower()
        self.ignore_loopback_port = ignore_loopback_port
        self._lock = threading.Lock()
        self._clients: dict[str, ClientRegistration] = {}
        for registration in registrations:
            self.register_client(registration)
        self._users = tuple(users)

    # --- tenant ---------------------------------------------------------------------------------------------

    def resolve_tenant(self, segment: str) -> TenantRef | None:
        """:param segment: the first path segment of a token-service URL.
        :returns: the resolved tenant, or ``None`` when it is not this tenant nor a multi-tenant alias.
        """
        lowered = segment.lower()
        alias = _MULTI_TENANT_SEGMENTS.get(lowered)
        if alias is not None:
            return TenantRef(segment, alias)
        if lowered in (self.tenant_id, self.domain):
            return TenantRef(segment, "tenant")
        return None

    # --- applications ---------------------------------------------------------------------------------------

    def client(self, client_id: str) -> ClientRegistration | None:
        """:returns: the registration (client ids compare case-insensitively, as GUIDs), or ``None``."""
        with self._lock:
            return self._clients.get(client_id.strip().lower())

    def register_client(self, registration: ClientRegistration) -> None:
        """Add an application, or replace the one with the same client id.

        :param registration: the application.
        """
        with self._lock:
            self._clients[registration.client_id.lower()] = registration

    def register_redirect_uri(self, client_id: str, uri: str) -> None:
        """Accept one more redirect URI for an application (the demo's loopback listener, a test callback).

        :param client_id: the application.
        :param uri: the exact URI.
        :raises KeyError: when the application is unknown.
        """
        with self._lock:
            current = self._clients[client_id.lower()]
            if uri not in current.redirect_uris:
                self._clients[client_id.lower()] = dataclasses.replace(
                    current, redirect_uris=(*current.redirect_uris, uri)
                )

    def set_auto_consent(self, client_id: str, enabled: bool) -> None:
        """Switch whether the authorize endpoint skips the login and consent pages for an application.

        :raises KeyError: when the application is unknown.
        """
        with self._lock:
            current = self._clients[client_id.lower()]
            self._clients[client_id.lower()] = dataclasses.replace(current, auto_consent=enabled)

    def redirect_uri_allowed(self, registration: ClientRegistration, uri: str) -> bool:
        """:returns: whether ``uri`` matches one of the application's registered redirect URIs exactly (or, with
        ``ignore_loopback_port``, up to the port of a loopback URI registered without one).
        """
        if uri in registration.redirect_uris:
            return True
        if not self.ignore_loopback_port:
            return False
        requested = urlsplit(uri)
        if requested.scheme != "http" or requested.hostname is None:
            return False
        for registered in map(urlsplit, registration.redirect_uris):
            if (
                registered.scheme == "http"
                and registered.port is None
                and registered.netloc in _LOOPBACK_HOSTS
                and requested.netloc.rsplit(":", 1)[0] == registered.netloc
                and (requested.path, requested.query) == (registered.path, registered.query)
            ):
                return True
        return False

    @staticmethod
    def is_public(registration: ClientRegistration) -> bool:
        """:returns: whether the application has no credential at all (a public client, ``appidacr`` 0)."""
        return not registration.secrets and not registration.certificates_pem and not registration.federated_credentials

    @staticmethod
    def principal_id(registration: ClientRegistration) -> str:
        """:returns: the service principal's object id: the registered one, or one derived from the client id."""
        if registration.object_id:
            return registration.object_id
        return str(uuid.uuid5(_OBJECT_ID_NAMESPACE, registration.client_id.lower()))

    # --- users ----------------------------------------------------------------------------------------------

    @property
    def users(self) -> tuple[SandboxUser, ...]:
        """:returns: every user, the default one first."""
        return self._users

    def user_by_name(self, user_name: str) -> SandboxUser | None:
        """:returns: the user with that sign-in name (case-insensitive), or ``None``."""
        wanted = user_name.strip().lower()
        return next((user for user in self._users if user.user_name.lower() == wanted), None)

    def user_by_id(self, object_id: str) -> SandboxUser | None:
        """:returns: the user with that object id, or ``None``."""
        return next((user for user in self._users if user.object_id == object_id), None)

    @property
    def default_user(self) -> SandboxUser | None:
        """:returns: the user an auto-consenting client signs in as when nothing else names one."""
        return self._users[0] if self._users else None
