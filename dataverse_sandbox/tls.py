"""The sandbox's own certificate authority and https server certificate.

Generated once into a state directory (``ca.pem``, ``server.pem``, ``server-key.pem``) and reused while valid, so a
client that trusts ``ca.pem`` keeps trusting restarts of the same sandbox. ECDSA P-256 keys (fast to generate);
the server certificate names ``localhost`` and the loopback addresses. Not for client certificates of the token
service (those belong to :mod:`dataverse_sandbox.entra`).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["ServerCertificate", "ensure_server_certificate", "server_ssl_context"]

_CA_NAME = "Dataverse Sandbox Local CA"
_CA_DAYS = 3650
_SERVER_DAYS = 397
_RENEW_BEFORE = datetime.timedelta(days=7)


@dataclass(frozen=True)
class ServerCertificate:
    """Where the generated files are.

    :param ca_cert_path: the CA certificate to trust (PEM).
    :param cert_path: the server certificate followed by the CA certificate (PEM chain).
    :param key_path: the server's private key (PEM, PKCS#8, owner-readable only).
    """

    ca_cert_path: Path
    cert_path: Path
    key_path: Path


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _write_private(path: Path, data: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def _names(hosts: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    addresses = {"127.0.0.1", "::1", *hosts}
    for host in sorted(addresses):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            if host != "localhost":
                names.append(x509.DNSName(host))
    return names


def _still_valid(paths: ServerCertificate, hosts: Sequence[str]) -> bool:
    if not all(p.exists() for p in (paths.ca_cert_path, paths.cert_path, paths.key_path)):
        return False
    try:
        certificate = x509.load_pem_x509_certificate(paths.cert_path.read_bytes())
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return False
    wanted = set(_names(hosts))
    return certificate.not_valid_after_utc - _RENEW_BEFORE > _now() and wanted <= set(san)


def ensure_server_certificate(directory: Path, hosts: Sequence[str] = ("127.0.0.1",)) -> ServerCertificate:
    """Create (or reuse) the CA and a server certificate for ``hosts``.

    :param directory: where the files live; created if missing.
    :param hosts: host names or IP addresses the certificate must name (loopback is always named).
    :returns: the file paths.
    """
    directory.mkdir(parents=True, exist_ok=True)
    paths = ServerCertificate(directory / "ca.pem", directory / "server.pem", directory / "server-key.pem")
    if _still_valid(paths, hosts):
        return paths
    now = _now()
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, _CA_NAME)])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=_CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=_SERVER_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(_names(hosts)), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(server_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    paths.ca_cert_path.write_bytes(ca_pem)
    paths.cert_path.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM) + ca_pem)
    _write_private(
        paths.key_path,
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )
    return paths


def server_ssl_context(certificate: ServerCertificate) -> ssl.SSLContext:
    """:returns: a TLS 1.2+ server context serving ``certificate``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(certificate.cert_path), str(certificate.key_path))
    return context
