"""Keys, self-signed certificates and their thumbprints, and writing secret files safely.

Used to provision client credentials (``clients.py``) and the token-signing key (``tokens.py``), and to look up a
client assertion's certificate by its ``x5t`` / ``x5t#S256`` header (``assertions.py``). Not for: any trust
decision beyond "is this exactly a registered certificate"; the sandbox does no chain building.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import os
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

__all__ = [
    "CertificateInfo",
    "PrivateKey",
    "b64url",
    "certificate_info",
    "certificate_pem",
    "generate_ec_key",
    "generate_rsa_key",
    "pkcs12_bytes",
    "private_key_pem",
    "self_signed_certificate",
    "write_private_file",
]

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

_CURVES: dict[str, type[ec.EllipticCurve]] = {"P-256": ec.SECP256R1, "P-384": ec.SECP384R1, "P-521": ec.SECP521R1}


def b64url(data: bytes) -> str:
    """:returns: unpadded base64url, as JOSE headers carry thumbprints (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def generate_rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    """:returns: a new RSA key with public exponent 65537."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def generate_ec_key(curve: str = "P-256") -> ec.EllipticCurvePrivateKey:
    """:param curve: ``P-256``, ``P-384`` or ``P-521`` (for ES256, ES384, ES512).
    :returns: a new EC key.
    :raises ValueError: for another curve name.
    """
    try:
        return ec.generate_private_key(_CURVES[curve]())
    except KeyError:
        raise ValueError(f"unsupported curve {curve!r}; expected one of {sorted(_CURVES)}") from None


def self_signed_certificate(
    key: PrivateKey, common_name: str, *, not_before: float, days: int = 730
) -> x509.Certificate:
    """Issue a self-signed certificate, as ``New-SelfSignedCertificate`` or ``openssl req -x509`` would.

    :param key: the key to certify (and sign with).
    :param common_name: the subject and issuer CN.
    :param not_before: start of validity, epoch seconds (the service's clock, so time travel stays consistent).
    :param days: validity length.
    :returns: the certificate.
    """
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = datetime.datetime.fromtimestamp(int(not_before), tz=datetime.UTC) - datetime.timedelta(minutes=5)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    return builder.sign(key, hashes.SHA256())


def private_key_pem(key: PrivateKey) -> bytes:
    """:returns: the key as unencrypted PKCS#8 PEM (``-----BEGIN PRIVATE KEY-----``)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def certificate_pem(certificate: x509.Certificate) -> bytes:
    """:returns: the certificate as PEM."""
    return certificate.public_bytes(serialization.Encoding.PEM)


def pkcs12_bytes(key: PrivateKey, certificate: x509.Certificate, password: str, friendly_name: str) -> bytes:
    """:returns: a PKCS#12 (``.pfx``) archive of key and certificate protected by ``password``."""
    return pkcs12.serialize_key_and_certificates(
        friendly_name.encode("utf-8"),
        key,
        certificate,
        None,
        serialization.BestAvailableEncryption(password.encode("utf-8")),
    )


@dataclass(frozen=True)
class CertificateInfo:
    """What the token service needs to know about a registered certificate.

    :param certificate: the parsed certificate.
    :param x5t: unpadded base64url SHA-1 of the DER (the JOSE ``x5t`` header).
    :param x5t_s256: unpadded base64url SHA-256 of the DER (``x5t#S256``).
    :param thumbprint_hex: upper-case hex SHA-1, as Entra prints thumbprints in messages.
    :param not_before: start of validity, epoch seconds.
    :param not_after: end of validity, epoch seconds.
    """

    certificate: x509.Certificate
    x5t: str
    x5t_s256: str
    thumbprint_hex: str
    not_before: float
    not_after: float


@lru_cache(maxsize=256)
def certificate_info(pem: bytes) -> CertificateInfo:
    """Parse a PEM certificate and compute its thumbprints (cached: registrations are looked up per request).

    :param pem: one PEM certificate.
    :returns: its thumbprints and validity.
    :raises ValueError: when ``pem`` is not a certificate.
    """
    certificate = x509.load_pem_x509_certificate(pem)
    der = certificate.public_bytes(serialization.Encoding.DER)
    sha1 = hashlib.sha1(der, usedforsecurity=False).digest()
    return CertificateInfo(
        certificate=certificate,
        x5t=b64url(sha1),
        x5t_s256=b64url(hashlib.sha256(der).digest()),
        thumbprint_hex=sha1.hex().upper(),
        not_before=certificate.not_valid_before_utc.timestamp(),
        not_after=certificate.not_valid_after_utc.timestamp(),
    )


def write_private_file(path: Path, data: bytes) -> None:
    """Write a file readable by its owner only (mode 0600), atomically.

    The temporary file is created with 0600 from the start, so the content is never briefly world-readable.

    :param path: the destination; its directory must exist.
    :param data: the content.
    """
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
