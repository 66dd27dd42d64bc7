"""Provisioning of the sandbox tenant's applications, credentials and users."""

from __future__ import annotations

import re
import stat
import uuid
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from dataverse_sandbox.entra import ProvisionedClients, provision_clients
from dataverse_sandbox.entra.certificates import certificate_info
from dataverse_sandbox.entra.clients import generate_client_secret

# Smaller RSA keys keep these tests fast; the format is the same.
KEY_SIZE = 1024


@pytest.fixture(scope="module")
def provisioned(tmp_path_factory: pytest.TempPathFactory) -> ProvisionedClients:
    return provision_clients(tmp_path_factory.mktemp("state"), rsa_key_size=KEY_SIZE)


def test_every_file_is_private(provisioned: ProvisionedClients) -> None:
    assert stat.S_IMODE(provisioned.directory.stat().st_mode) == 0o700
    files = list(provisioned.directory.iterdir())
    assert len(files) >= 12
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


def test_roles_and_their_registrations(provisioned: ProvisionedClients) -> None:
    registrations = {registration.client_id: registration for registration in provisioned.registrations}

    secret = registrations[provisioned.secret_client.client_id]
    certificate = registrations[provisioned.certificate_client.client_id]
    code = registrations[provisioned.authorization_code_client.client_id]
    assert secret.secrets == (provisioned.secret_client.read_secret(),)
    assert not secret.certificates_pem
    assert not certificate.secrets
    assert len(certificate.certificates_pem) == 2
    assert code.redirect_uris == ("http://localhost/callback",)
    assert not code.auto_consent
    assert registrations[provisioned.read_only_client.client_id].dataverse_access == "read"
    assert registrations[provisioned.no_access_client.client_id].dataverse_access == "none"
    assert len({registration.object_id for registration in provisioned.registrations}) == 5
    for client_id in registrations:
        uuid.UUID(client_id)


def test_secrets_look_like_entras() -> None:
    secret = generate_client_secret()

    assert re.fullmatch(r"[A-Za-z0-9]{3}8Q~[A-Za-z0-9~._-]{34}", secret)
    assert generate_client_secret() != secret


def test_certificate_files_belong_together(provisioned: ProvisionedClients) -> None:
    password = provisioned.read_pfx_password().encode()
    for files in provisioned.certificate_client.certificates:
        key = serialization.load_pem_private_key(files.key_file.read_bytes(), password=None)
        certificate = x509.load_pem_x509_certificate(files.certificate_file.read_bytes())
        pfx_key, pfx_certificate, _ = pkcs12.load_key_and_certificates(files.pfx_file.read_bytes(), password)
        public = serialization.PublicFormat.SubjectPublicKeyInfo
        assert key.public_key().public_bytes(
            serialization.Encoding.PEM, public
        ) == certificate.public_key().public_bytes(serialization.Encoding.PEM, public)
        assert pfx_certificate == certificate
        assert pfx_key is not None
        assert files.thumbprint == certificate_info(files.certificate_file.read_bytes()).thumbprint_hex
    with pytest.raises(ValueError, match="password"):
        pkcs12.load_key_and_certificates(provisioned.certificate_client.certificates[0].pfx_file.read_bytes(), b"x")


def test_users_get_a_generated_password(provisioned: ProvisionedClients) -> None:
    (user,) = provisioned.users
    (sandbox_user,) = provisioned.sandbox_users

    assert user.user_name == "alice@sandbox.test"
    assert len(user.read_password()) >= 20
    assert sandbox_user.password == user.read_password()
    assert sandbox_user.object_id == user.object_id
    assert user.read_password() not in repr(provisioned)


def test_describe_names_files_but_no_secret(provisioned: ProvisionedClients) -> None:
    text = provisioned.describe()

    assert provisioned.tenant_id in text
    assert str(provisioned.secret_client.secret_file) in text
    assert str(provisioned.certificate_client.certificates[0].pfx_file) in text
    for secret in (
        provisioned.secret_client.read_secret(),
        provisioned.read_pfx_password(),
        provisioned.users[0].read_password(),
    ):
        assert secret not in text


def test_a_second_start_reuses_everything(tmp_path: Path) -> None:
    first = provision_clients(tmp_path, rsa_key_size=KEY_SIZE)
    second = provision_clients(
        tmp_path, rsa_key_size=KEY_SIZE, redirect_uris=("http://127.0.0.1/cb",), auto_consent=True
    )

    assert second.tenant_id == first.tenant_id
    assert [c.client_id for c in second.clients] == [c.client_id for c in first.clients]
    assert second.secret_client.read_secret() == first.secret_client.read_secret()
    assert second.authorization_code_client.redirect_uris == ("http://127.0.0.1/cb",)
    code = next(r for r in second.registrations if r.client_id == second.authorization_code_client.client_id)
    assert code.auto_consent


def test_a_missing_file_regenerates_the_tenant(tmp_path: Path) -> None:
    first = provision_clients(tmp_path, rsa_key_size=KEY_SIZE)
    assert first.secret_client.secret_file is not None
    first.secret_client.secret_file.unlink()

    second = provision_clients(tmp_path, rsa_key_size=KEY_SIZE)

    assert second.secret_client.client_id != first.secret_client.client_id
    assert second.secret_client.read_secret()


def test_an_explicit_tenant_id_is_used_and_kept(tmp_path: Path) -> None:
    tenant = str(uuid.uuid4())

    first = provision_clients(tmp_path, tenant_id=tenant.upper(), rsa_key_size=KEY_SIZE)
    second = provision_clients(tmp_path, rsa_key_size=KEY_SIZE)

    assert first.tenant_id == second.tenant_id == tenant


def test_a_client_without_a_secret_says_so(provisioned: ProvisionedClients) -> None:
    with pytest.raises(ValueError, match="no client secret"):
        provisioned.certificate_client.read_secret()
