"""Provisioning of the sandbox tenant's applications, credentials and users into a state directory.

``provision_clients`` generates, once per state directory, everything a user of the sandbox needs to point the
connector at it: a client secret for each confidential client, an RSA and an EC key with self-signed certificates
(PEM, and PKCS#12 protected by a generated password) for certificate authentication, and a sign-in user with a
generated password. Every file is written with mode 0600 in a 0700 directory. A later call with the same state
directory reuses them, so a configured connector keeps working across restarts of a file-backed sandbox.

Not for: checking credentials at run time (``authentication.py``, ``assertions.py``).
"""

from __future__ import annotations

import json
import logging
import secrets
import string
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from dataverse_sandbox.contracts import ClientRegistration, Clock
from dataverse_sandbox.entra.certificates import (
    PrivateKey,
    certificate_info,
    certificate_pem,
    generate_ec_key,
    generate_rsa_key,
    pkcs12_bytes,
    private_key_pem,
    self_signed_certificate,
    write_private_file,
)
from dataverse_sandbox.entra.directory import SandboxUser

__all__ = [
    "DEFAULT_REDIRECT_URI",
    "DEFAULT_TENANT_DOMAIN",
    "CertificateFiles",
    "ProvisionedClient",
    "ProvisionedClients",
    "ProvisionedUser",
    "generate_client_secret",
    "provision_clients",
]

logger = logging.getLogger(__name__)

DEFAULT_TENANT_DOMAIN = "sandbox.test"
#: Registered for the authorization-code client at provisioning; the demo and tests add their own at run time.
DEFAULT_REDIRECT_URI = "http://localhost/callback"

_MANIFEST = "clients.json"
_MANIFEST_VERSION = 1
_SECRET_ALPHABET = string.ascii_letters + string.digits + "~._-"

Access = Literal["full", "read", "none"]


@dataclass(frozen=True)
class CertificateFiles:
    """One generated key pair and its self-signed certificate.

    :param algorithm: ``RSA`` (RS*/PS* assertions) or ``EC`` (P-256, ES256 assertions).
    :param key_file: unencrypted PKCS#8 PEM private key.
    :param certificate_file: PEM certificate (what Entra calls the uploaded certificate).
    :param pfx_file: PKCS#12 of both, protected by :attr:`ProvisionedClients.pfx_password_file`.
    :param thumbprint: upper-case hex SHA-1 thumbprint, as the Azure portal shows it.
    """

    algorithm: Literal["RSA", "EC"]
    key_file: Path
    certificate_file: Path
    pfx_file: Path
    thumbprint: str


@dataclass(frozen=True)
class ProvisionedClient:
    """One application of the sandbox tenant and where its credentials are.

    :param role: what it is for: ``secret``, ``certificate``, ``authorization_code``, ``read_only``, ``no_access``.
    :param client_id: the application (client) id.
    :param display_name: the name shown on the consent page.
    :param object_id: its service principal's object id (the ``oid`` of its app-only tokens).
    :param dataverse_access: what the Web API lets it do.
    :param secret_file: the file holding its client secret, if it has one.
    :param certificates: its registered certificates.
    :param redirect_uris: redirect URIs registered at provisioning.
    """

    role: str
    client_id: str
    display_name: str
    object_id: str
    dataverse_access: Access
    secret_file: Path | None = None
    certificates: tuple[CertificateFiles, ...] = ()
    redirect_uris: tuple[str, ...] = ()

    def read_secret(self) -> str:
        """:returns: the client secret.
        :raises ValueError: when this client has none.
        """
        if self.secret_file is None:
            raise ValueError(f"the {self.role} client has no client secret")
        return self.secret_file.read_text(encoding="utf-8").strip()


@dataclass(frozen=True)
class ProvisionedUser:
    """A sign-in user and the file holding the password.

    :param user_name: the sign-in name, e.g. ``alice@sandbox.test``.
    :param display_name: the display name.
    :param object_id: the user's object id.
    :param password_file: the file holding the password.
    """

    user_name: str
    display_name: str
    object_id: str
    password_file: Path

    def read_password(self) -> str:
        """:returns: the password."""
        return self.password_file.read_text(encoding="utf-8").strip()


@dataclass(frozen=True)
class ProvisionedClients:
    """Everything :func:`provision_clients` set up.

    :param directory: the folder holding the files (``<state_dir>/entra``).
    :param tenant_id: the tenant GUID.
    :param tenant_domain: the tenant's domain.
    :param secret_client: client credentials with a secret, full access.
    :param certificate_client: client credentials with an RSA and an EC certificate, full access.
    :param authorization_code_client: confidential client for the authorization-code grant (secret and the RSA
        certificate), full access.
    :param read_only_client: client credentials with a secret; the Web API refuses its writes.
    :param no_access_client: client credentials with a secret; not a member of the organization.
    :param pfx_password_file: the password of every ``.pfx`` file.
    :param users: the sign-in users.
    :param registrations: the applications, to hand to the token service.
    :param sandbox_users: the users with their passwords, to hand to the token service.
    """

    directory: Path
    tenant_id: str
    tenant_domain: str
    secret_client: ProvisionedClient
    certificate_client: ProvisionedClient
    authorization_code_client: ProvisionedClient
    read_only_client: ProvisionedClient
    no_access_client: ProvisionedClient
    pfx_password_file: Path
    users: tuple[ProvisionedUser, ...]
    registrations: tuple[ClientRegistration, ...] = field(repr=False)
    sandbox_users: tuple[SandboxUser, ...] = field(repr=False)

    @property
    def clients(self) -> tuple[ProvisionedClient, ...]:
        """:returns: every application, in a fixed order."""
        return (
            self.secret_client,
            self.certificate_client,
            self.authorization_code_client,
            self.read_only_client,
            self.no_access_client,
        )

    def read_pfx_password(self) -> str:
        """:returns: the password protecting the ``.pfx`` files."""
        return self.pfx_password_file.read_text(encoding="utf-8").strip()

    def describe(self) -> str:
        """:returns: a human-readable summary for the ``connector sandbox`` banner: ids and file paths, no secret."""
        lines = [f"Tenant: {self.tenant_id} ({self.tenant_domain})"]
        for client in self.clients:
            lines.append(f"  {client.display_name} [{client.dataverse_access} access]: {client.client_id}")
            if client.secret_file is not None:
                lines.append(f"    client secret file: {client.secret_file}")
            for files in client.certificates:
                lines.append(f"    {files.algorithm} certificate {files.thumbprint}: {files.certificate_file}")
                lines.append(f"      private key: {files.key_file}")
                lines.append(f"      PKCS#12: {files.pfx_file}")
            for uri in client.redirect_uris:
                lines.append(f"    redirect URI: {uri}")
        lines.append(f"  PKCS#12 password file: {self.pfx_password_file}")
        for user in self.users:
            lines.append(f"  Sign-in user {user.user_name}: password file {user.password_file}")
        return "\n".join(lines)


def generate_client_secret() -> str:
    """:returns: a 40-character secret shaped like Entra's (``xxx8Q~`` then 34 characters of ``[A-Za-z0-9~._-]``)."""
    head = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(3))
    return head + "8Q~" + "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(34))


def provision_clients(
    state_dir: Path,
    *,
    tenant_id: str | None = None,
    tenant_domain: str = DEFAULT_TENANT_DOMAIN,
    redirect_uris: Sequence[str] = (DEFAULT_REDIRECT_URI,),
    auto_consent: bool = False,
    user_names: Sequence[str] = ("alice",),
    clock: Clock | None = None,
    rsa_key_size: int = 2048,
) -> ProvisionedClients:
    """Create (or reuse) the sandbox tenant's applications, credentials and users under ``state_dir/entra``.

    :param state_dir: the sandbox's state directory; created if missing.
    :param tenant_id: the tenant GUID; default: the one stored by an earlier call, else a new one.
    :param tenant_domain: the tenant's domain; users are ``<name>@<domain>``.
    :param redirect_uris: redirect URIs of the authorization-code client (more can be added at run time).
    :param auto_consent: whether the authorization-code client skips the login and consent pages.
    :param user_names: local parts of the sign-in users, the default user first.
    :param clock: dates the certificates (default: wall-clock time).
    :param rsa_key_size: RSA key size in bits.
    :returns: the applications and where their credentials are.
    :raises OSError: when the directory cannot be written.
    """
    directory = state_dir / "entra"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    directory.chmod(0o700)
    manifest_path = directory / _MANIFEST
    manifest = _load_manifest(manifest_path, user_names)
    if manifest is None:
        manifest = _generate(directory, tenant_domain, user_names, clock or Clock(), rsa_key_size)
    if tenant_id is not None:
        manifest["tenant_id"] = str(uuid.UUID(tenant_id))
    manifest["tenant_domain"] = tenant_domain
    write_private_file(manifest_path, json.dumps(manifest, indent=2).encode("utf-8"))
    return _assemble(directory, manifest, tuple(redirect_uris), auto_consent)


# --- generation ------------------------------------------------------------------------------------------------

_ROLES: dict[str, tuple[str, Access]] = {
    "secret": ("Sandbox secret client", "full"),
    "certificate": ("Sandbox certificate client", "full"),
    "authorization_code": ("Sandbox authorization-code client", "full"),
    "read_only": ("Sandbox read-only client", "read"),
    "no_access": ("Sandbox no-access client", "none"),
}
_SECRET_ROLES = ("secret", "authorization_code", "read_only", "no_access")


def _generate(
    directory: Path, tenant_domain: str, user_names: Sequence[str], clock: Clock, rsa_key_size: int
) -> dict[str, Any]:
    logger.info("generating sandbox tenant credentials in %s", directory)
    for role in _SECRET_ROLES:
        write_private_file(directory / f"{role}.secret", generate_client_secret().encode("utf-8"))
    pfx_password = secrets.token_urlsafe(18)
    write_private_file(directory / "pfx-password.txt", pfx_password.encode("utf-8"))
    keys: dict[str, PrivateKey] = {"rsa": generate_rsa_key(rsa_key_size), "ec": generate_ec_key("P-256")}
    for name, key in keys.items():
        certificate = self_signed_certificate(key, f"sandbox-{name}-client", not_before=clock.now())
        write_private_file(directory / f"certificate-{name}.key.pem", private_key_pem(key))
        write_private_file(directory / f"certificate-{name}.cert.pem", certificate_pem(certificate))
        write_private_file(
            directory / f"certificate-{name}.pfx",
            pkcs12_bytes(key, certificate, pfx_password, f"sandbox-{name}-client"),
        )
    users = []
    for local in user_names:
        write_private_file(directory / f"user-{local}.password", secrets.token_urlsafe(18).encode("utf-8"))
        users.append(
            {"local": local, "display_name": local.capitalize() + " (sandbox)", "object_id": str(uuid.uuid4())}
        )
    return {
        "version": _MANIFEST_VERSION,
        "tenant_id": str(uuid.uuid4()),
        "tenant_domain": tenant_domain,
        "clients": {role: {"client_id": str(uuid.uuid4()), "object_id": str(uuid.uuid4())} for role in _ROLES},
        "users": users,
    }


def _load_manifest(path: Path, user_names: Sequence[str]) -> dict[str, Any] | None:
    """:returns: the stored manifest when it and every file it implies are present, else ``None``."""
    if not path.exists():
        return None
    try:
        manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        if manifest.get("version") != _MANIFEST_VERSION or set(manifest["clients"]) != set(_ROLES):
            raise ValueError("unexpected manifest version or roles")
        if [user["local"] for user in manifest["users"]] != list(user_names):
            raise ValueError("the requested users differ from the stored ones")
        missing = [name for name in _expected_files(manifest) if not (path.parent / name).is_file()]
        if missing:
            raise ValueError(f"missing {', '.join(missing)}")
    except (ValueError, KeyError, TypeError) as exc:
        logger.warning("regenerating sandbox credentials in %s: %s", path.parent, exc)
        return None
    return manifest


def _expected_files(manifest: dict[str, Any]) -> list[str]:
    names = [f"{role}.secret" for role in _SECRET_ROLES] + ["pfx-password.txt"]
    for name in ("rsa", "ec"):
        names += [f"certificate-{name}.key.pem", f"certificate-{name}.cert.pem", f"certificate-{name}.pfx"]
    names += [f"user-{user['local']}.password" for user in manifest["users"]]
    return names


# --- assembly --------------------------------------------------------------------------------------------------


def _certificate_files(directory: Path, name: str, algorithm: Literal["RSA", "EC"]) -> CertificateFiles:
    certificate_file = directory / f"certificate-{name}.cert.pem"
    return CertificateFiles(
        algorithm=algorithm,
        key_file=directory / f"certificate-{name}.key.pem",
        certificate_file=certificate_file,
        pfx_file=directory / f"certificate-{name}.pfx",
        thumbprint=certificate_info(certificate_file.read_bytes()).thumbprint_hex,
    )


def _assemble(
    directory: Path, manifest: dict[str, Any], redirect_uris: tuple[str, ...], auto_consent: bool
) -> ProvisionedClients:
    domain = manifest["tenant_domain"]
    rsa_files = _certificate_files(directory, "rsa", "RSA")
    ec_files = _certificate_files(directory, "ec", "EC")
    certificates_by_role: dict[str, tuple[CertificateFiles, ...]] = {
        "certificate": (rsa_files, ec_files),
        "authorization_code": (rsa_files,),
    }
    provisioned: dict[str, ProvisionedClient] = {}
    registrations: list[ClientRegistration] = []
    for role, (display_name, access) in _ROLES.items():
        ids = manifest["clients"][role]
        client = ProvisionedClient(
            role=role,
            client_id=ids["client_id"],
            display_name=display_name,
            object_id=ids["object_id"],
            dataverse_access=access,
            secret_file=directory / f"{role}.secret" if role in _SECRET_ROLES else None,
            certificates=certificates_by_role.get(role, ()),
            redirect_uris=redirect_uris if role == "authorization_code" else (),
        )
        provisioned[role] = client
        registrations.append(
            ClientRegistration(
                client_id=client.client_id,
                display_name=client.display_name,
                secrets=(client.read_secret(),) if client.secret_file is not None else (),
                certificates_pem=tuple(files.certificate_file.read_bytes() for files in client.certificates),
                redirect_uris=client.redirect_uris,
                auto_consent=auto_consent and role == "authorization_code",
                dataverse_access=access,
                object_id=client.object_id,
            )
        )
    users = tuple(
        ProvisionedUser(
            user_name=f"{user['local']}@{domain}",
            display_name=user["display_name"],
            object_id=user["object_id"],
            password_file=directory / f"user-{user['local']}.password",
        )
        for user in manifest["users"]
    )
    return ProvisionedClients(
        directory=directory,
        tenant_id=manifest["tenant_id"],
        tenant_domain=domain,
        secret_client=provisioned["secret"],
        certificate_client=provisioned["certificate"],
        authorization_code_client=provisioned["authorization_code"],
        read_only_client=provisioned["read_only"],
        no_access_client=provisioned["no_access"],
        pfx_password_file=directory / "pfx-password.txt",
        users=users,
        registrations=tuple(registrations),
        sandbox_users=tuple(
            SandboxUser(user.user_name, user.display_name, user.object_id, user.read_password()) for user in users
        ),
    )
