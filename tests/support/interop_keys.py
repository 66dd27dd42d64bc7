"""Client keys and self-signed certificates for the interop server's ``private_key_jwt`` clients.

Each JWS algorithm gets its own key pair and certificate, written as PEM files (PKCS#8 key, X.509 certificate)
for the code under test to load, and published to the server as a JWK carrying ``x5c`` so the server can check
the assertion's ``x5t`` / ``x5t#S256`` header against the certificate.

Not for: the connector's own key loading (that is the code under test) or anything outside the tests.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import NameOID

#: Every algorithm the connector offers for its JWT assertion.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")

_CURVES: dict[str, ec.EllipticCurve] = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}
_CURVE_NAMES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}


def _b64url(data: bytes) -> str:
    """:returns: unpadded base64url (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_uint(value: int, length: int | None = None) -> str:
    size = length if length is not None else max(1, (value.bit_length() + 7) // 8)
    return _b64url(value.to_bytes(size, "big"))


@dataclass(frozen=True)
class AssertionKey:
    """A ``private_key_jwt`` client's signing key and certificate.

    :ivar algorithm: the JWS algorithm the key is meant for (``RS256`` ... ``ES512``).
    :ivar client_id: the client the certificate is registered to.
    :ivar key_path: the private key, PEM PKCS#8, unencrypted.
    :ivar cert_path: the self-signed certificate, PEM.
    """

    algorithm: str
    client_id: str
    key_path: Path
    cert_path: Path

    def private_key_pem(self) -> bytes:
        """:returns: the private key PEM (for signing with PyJWT)."""
        return self.key_path.read_bytes()

    def certificate(self) -> x509.Certificate:
        """:returns: the parsed certificate."""
        return x509.load_pem_x509_certificate(self.cert_path.read_bytes())

    def x5t(self) -> str:
        """:returns: the SHA-1 thumbprint of the certificate's DER, unpadded base64url."""
        der = self.certificate().public_bytes(serialization.Encoding.DER)
        return _b64url(hashlib.sha1(der, usedforsecurity=False).digest())

    def x5t_s256(self) -> str:
        """:returns: the SHA-256 thumbprint of the certificate's DER, unpadded base64url."""
        return _b64url(hashlib.sha256(self.certificate().public_bytes(serialization.Encoding.DER)).digest())

    def public_jwk(self) -> dict[str, Any]:
        """:returns: the public JWK with ``x5c`` (standard base64 DER, RFC 7517 §4.7) as the server registers it."""
        certificate = self.certificate()
        public_key = certificate.public_key()
        jwk: dict[str, Any]
        if isinstance(public_key, rsa.RSAPublicKey):
            numbers = public_key.public_numbers()
            jwk = {"kty": "RSA", "n": _b64url_uint(numbers.n), "e": _b64url_uint(numbers.e)}
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            point = public_key.public_numbers()
            size = (public_key.curve.key_size + 7) // 8
            jwk = {
                "kty": "EC",
                "crv": _CURVE_NAMES[public_key.curve.name],
                "x": _b64url_uint(point.x, size),
                "y": _b64url_uint(point.y, size),
            }
        else:
            raise TypeError(f"unsupported key type {type(public_key).__name__}")
        der = certificate.public_bytes(serialization.Encoding.DER)
        return {**jwk, "use": "sig", "x5c": [base64.b64encode(der).decode("ascii")]}


def _generate_private_key(algorithm: str) -> CertificateIssuerPrivateKeyTypes:
    if algorithm.startswith("ES"):
        return ec.generate_private_key(_CURVES[algorithm])
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def write_assertion_key(directory: Path, algorithm: str, client_id: str, *, stem: str | None = None) -> AssertionKey:
    """Generate a key pair and a self-signed certificate valid from an hour ago for a day.

    :param directory: where to write ``<stem>.key.pem`` and ``<stem>.cert.pem``.
    :param algorithm: the JWS algorithm the key is for; decides RSA 2048 or the EC curve.
    :param client_id: the client the certificate belongs to (its common name).
    :param stem: the file name stem; defaults to the client id.
    :returns: the written key.
    """
    key = _generate_private_key(algorithm)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, client_id)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    base = directory / (stem or client_id)
    key_path = base.with_name(base.name + ".key.pem")
    cert_path = base.with_name(base.name + ".cert.pem")
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return AssertionKey(algorithm=algorithm, client_id=client_id, key_path=key_path, cert_path=cert_path)
