"""The key that signs client assertions: loading it with its certificate, checking them, and the thumbprints.

Accepts what the Signature Key field offers: a PEM private key (PKCS#8, PKCS#1 or SEC1, encrypted with a password or
not) with a PEM certificate (or a chain: the certificate whose public key matches the private key is the one used),
or a PKCS#12 / PFX file with its password; each as text (PEM, base64) or as a browser form's upload (a data URL, read
by ``key_files``). Every problem is a :class:`~connector.errors.ConfigError`
naming the sub-field to fix; no message ever quotes key material or a password. An expired or not-yet-valid
certificate is a warning (:class:`~connector.results.Diagnostic`), not an error: the identity provider decides.

Not for: building or signing the assertion (``assertion``), or sending it (``grants``).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
from dataclasses import dataclass
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from connector.errors import ConfigError, FieldError
from connector.keys.key_files import is_data_url, read_base64_file, read_pem_file
from connector.oauth_settings import SIGNATURE_ALGORITHM_FIELD, SIGNATURE_KEY_FIELD, SignatureKeySettings
from connector.results import Diagnostic
from connector.secrets import Secret

__all__ = [
    "PrivateKey",
    "SigningKey",
    "check_algorithm_fit",
    "describe_key",
    "load_signing_key",
    "thumbprint_sha1",
    "thumbprint_sha256",
]

KEY_FIELD: Final = SIGNATURE_KEY_FIELD
ALGORITHM_FIELD: Final = SIGNATURE_ALGORITHM_FIELD
_PRIVATE_KEY_FIELD: Final = f"{KEY_FIELD}.private_key"
_CERTIFICATE_FIELD: Final = f"{KEY_FIELD}.certificate"
_PKCS12_FIELD: Final = f"{KEY_FIELD}.pkcs12"
_PASSWORD_FIELD: Final = f"{KEY_FIELD}.password"

# JWS algorithm -> the curve an ES* key must be on (RFC 7518 §3.4); RS*/PS* take any RSA key.
_CURVES: Final = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}
_CURVE_NAMES: Final = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
_MIN_RSA_BITS: Final = 2048  # Entra ID refuses shorter RSA keys for certificate credentials

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def _b64url(data: bytes) -> str:
    # RFC 7515 §2: base64url without padding; some libraries pad, Entra and oidc-provider expect none.
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def thumbprint_sha1(certificate: x509.Certificate) -> str:
    """:returns: the ``x5t`` header value: unpadded base64url of the SHA-1 digest of the certificate's DER."""
    der = certificate.public_bytes(serialization.Encoding.DER)
    return _b64url(hashlib.sha1(der, usedforsecurity=False).digest())


def thumbprint_sha256(certificate: x509.Certificate) -> str:
    """:returns: the ``x5t#S256`` header value: unpadded base64url of the SHA-256 digest of the certificate's DER."""
    return _b64url(hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).digest())


@dataclass(frozen=True, repr=False)
class SigningKey:
    """A private key with the certificate registered for it, checked to belong together.

    :param private_key: the RSA or EC private key (never shown in reprs).
    :param certificate: the matching certificate.
    :param diagnostics: warnings found while loading (expired certificate, short RSA key ...).
    """

    private_key: PrivateKey
    certificate: x509.Certificate
    diagnostics: tuple[Diagnostic, ...] = ()

    @property
    def x5t(self) -> str:
        """The SHA-1 thumbprint header value."""
        return thumbprint_sha1(self.certificate)

    @property
    def x5t_s256(self) -> str:
        """The SHA-256 thumbprint header value."""
        return thumbprint_sha256(self.certificate)

    def __repr__(self) -> str:
        return f"SigningKey({describe_key(self.private_key)}, x5t#S256={self.x5t_s256!r})"


def describe_key(key: object) -> str:
    """:returns: a short description of a key for messages (``an RSA 2048-bit key``), never its value."""
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return f"an RSA {key.key_size}-bit key"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return f"an EC key on {_CURVE_NAMES.get(key.curve.name, key.curve.name)}"
    return f"a {type(key).__name__.lstrip('_')} key"


def check_algorithm_fit(key: PrivateKey, algorithm: str) -> FieldError | None:
    """Check that a key can sign with a JWS algorithm.

    :param key: the private key.
    :param algorithm: ``RS256`` ... ``ES512``.
    :returns: the field error naming both the algorithm and the key, or ``None`` when they fit.
    """
    if algorithm[:2] in {"RS", "PS"}:
        if isinstance(key, rsa.RSAPrivateKey):
            return None
        need = "an RSA key"
    elif algorithm in _CURVES:
        if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == _CURVES[algorithm]:
            return None
        need = f"an EC key on {_CURVE_NAMES[_CURVES[algorithm]]}"
    else:
        return FieldError(ALGORITHM_FIELD, f"{algorithm!r} is not a supported signature algorithm")
    return FieldError(
        ALGORITHM_FIELD,
        f"{algorithm} needs {need}, but the signature key is {describe_key(key)}: "
        "choose a matching algorithm or another key",
    )


def _as_private_key(key: object, field: str) -> PrivateKey:
    if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        return key
    raise ConfigError.single(field, f"is {describe_key(key)}; only RSA and EC keys can sign client assertions")


def _is_encrypted_pem(pem: bytes) -> bool:
    # PKCS#8 says so in its label; PKCS#1/SEC1 ("traditional" OpenSSL) in a Proc-Type header.
    return b"BEGIN ENCRYPTED PRIVATE KEY" in pem or b"Proc-Type: 4,ENCRYPTED" in pem


def _load_pem_key(private_key: Secret, password: Secret | None) -> PrivateKey:
    try:
        pem = read_pem_file(private_key.reveal())
    except ValueError:
        raise ConfigError.single(
            _PRIVATE_KEY_FIELD, "is an upload that could not be decoded: upload the file again"
        ) from None
    if b"-----BEGIN" not in pem or b"PRIVATE KEY-----" not in pem:
        raise ConfigError.single(
            _PRIVATE_KEY_FIELD, "is not a PEM private key: paste the text from -----BEGIN ... PRIVATE KEY----- on"
        )
    if b"-----END" not in pem:
        raise ConfigError.single(
            _PRIVATE_KEY_FIELD, "is cut short: the -----END ... PRIVATE KEY----- line is missing; paste the whole key"
        )
    encrypted = _is_encrypted_pem(pem)
    if encrypted and not password:
        raise ConfigError.single(_PASSWORD_FIELD, "is required: the private key is encrypted")
    secret = password.reveal().encode("utf-8") if password and encrypted else None
    try:
        key = serialization.load_pem_private_key(pem, secret)
    except (ValueError, TypeError, binascii.Error):
        # The library's message may describe the data; ours never quotes it. "from None": nothing to chain.
        if encrypted:
            raise ConfigError.single(_PASSWORD_FIELD, "is wrong: the private key could not be decrypted") from None
        raise ConfigError.single(
            _PRIVATE_KEY_FIELD, "could not be read as a PKCS#8, PKCS#1 or SEC1 PEM private key"
        ) from None
    except Exception:  # cryptography's UnsupportedAlgorithm and friends
        raise ConfigError.single(_PRIVATE_KEY_FIELD, "uses a key type or cipher that is not supported") from None
    return _as_private_key(key, _PRIVATE_KEY_FIELD)


def _load_pem_certificates(text: str | None) -> list[x509.Certificate]:
    try:
        data = read_pem_file(text or "")
    except ValueError:
        raise ConfigError.single(
            _CERTIFICATE_FIELD, "is an upload that could not be decoded: upload the file again"
        ) from None
    if data and b"-----BEGIN" not in data and is_data_url(text or ""):
        try:  # a .cer file uploaded in its binary (DER) form
            return [x509.load_der_x509_certificate(data)]
        except ValueError:
            pass
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise ConfigError.single(
            _CERTIFICATE_FIELD, "is not a PEM certificate: paste the text from -----BEGIN CERTIFICATE----- on"
        )
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        raise ConfigError.single(_CERTIFICATE_FIELD, "could not be read as a PEM X.509 certificate") from None


def _looks_like_pkcs12(data: bytes) -> bool:
    # PFX (RFC 7292) is a DER SEQUENCE whose first element is INTEGER 3 (the version); checking those few bytes
    # tells "not a PKCS#12 file" apart from "wrong password", which the library reports as one error.
    if len(data) < 6 or data[0] != 0x30:
        return False
    length = data[1]
    offset = 2 + (length & 0x7F if length & 0x80 else 0)
    return data[offset : offset + 3] == b"\x02\x01\x03"


def _load_pkcs12(settings: SignatureKeySettings) -> tuple[PrivateKey, list[x509.Certificate]]:
    if not settings.pkcs12:
        raise ConfigError.single(_PKCS12_FIELD, "is required for the PKCS#12 key format")
    try:
        data = read_base64_file(settings.pkcs12.reveal())
    except ValueError:
        raise ConfigError.single(
            _PKCS12_FIELD, "is neither an uploaded file nor base64: upload the .pfx or .p12 file itself"
        ) from None
    if not _looks_like_pkcs12(data):
        raise ConfigError.single(_PKCS12_FIELD, "is not a PKCS#12 (.pfx/.p12) file")
    password = settings.password.reveal().encode("utf-8") if settings.password else None
    try:
        key, certificate, extra = pkcs12.load_key_and_certificates(data, password)
    except (ValueError, TypeError):
        message = "is wrong: the PKCS#12 file could not be opened" if password else "is required: the file is protected"
        raise ConfigError.single(_PASSWORD_FIELD, message) from None
    except Exception:  # an unsupported cipher inside the file
        raise ConfigError.single(_PKCS12_FIELD, "uses a cipher or key type that is not supported") from None
    if key is None:
        raise ConfigError.single(_PKCS12_FIELD, "holds no private key")
    certificates = [c for c in (certificate, *extra) if c is not None]
    if not certificates:
        raise ConfigError.single(_PKCS12_FIELD, "holds no certificate")
    return _as_private_key(key, _PKCS12_FIELD), certificates


def _public_der(key: object) -> bytes:
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        return b""
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _matching_certificate(key: PrivateKey, certificates: list[x509.Certificate], field: str) -> x509.Certificate:
    wanted = _public_der(key.public_key())
    for certificate in certificates:
        if _public_der(certificate.public_key()) == wanted:
            return certificate
    first = certificates[0]
    raise ConfigError.single(
        field,
        f"does not belong to the private key: the certificate ({first.subject.rfc4514_string()}, "
        f"x5t#S256 {thumbprint_sha256(first)}) holds {describe_key(first.public_key())}, "
        f"the private key is {describe_key(key)} with another public key",
    )


def _validity_diagnostics(certificate: x509.Certificate, now: datetime.datetime) -> list[Diagnostic]:
    subject = certificate.subject.rfc4514_string()
    if now >= certificate.not_valid_after_utc:
        return [
            Diagnostic(
                "warning",
                KEY_FIELD,
                f"the certificate {subject} expired on {certificate.not_valid_after_utc:%Y-%m-%d %H:%M}Z; "
                "the identity provider will likely refuse it: upload a new one",
            )
        ]
    if now < certificate.not_valid_before_utc:
        return [
            Diagnostic(
                "warning",
                KEY_FIELD,
                f"the certificate {subject} is not valid before {certificate.not_valid_before_utc:%Y-%m-%d %H:%M}Z",
            )
        ]
    return []


def load_signing_key(
    settings: SignatureKeySettings, algorithm: str, *, now: datetime.datetime | None = None
) -> SigningKey:
    """Load and check the signature key and its certificate.

    :param settings: the Signature Key field.
    :param algorithm: the JWS algorithm the key must fit.
    :param now: the time to check the certificate's validity against (defaults to now, UTC).
    :returns: the key and its certificate, with warnings.
    :raises ConfigError: naming the sub-field to fix: missing or unreadable key, certificate or file, wrong or
        missing password, a certificate of another key, a key that does not fit the algorithm.
    """
    if settings.format == "pkcs12":
        key, certificates = _load_pkcs12(settings)
        certificate = _matching_certificate(key, certificates, _PKCS12_FIELD)
    else:
        if not settings.private_key:
            raise ConfigError.single(_PRIVATE_KEY_FIELD, "is required for the PEM key format")
        key = _load_pem_key(settings.private_key, settings.password)
        certificate = _matching_certificate(key, _load_pem_certificates(settings.certificate), _CERTIFICATE_FIELD)
    misfit = check_algorithm_fit(key, algorithm)
    if misfit is not None:
        raise ConfigError([misfit])
    diagnostics = _validity_diagnostics(certificate, now or datetime.datetime.now(datetime.UTC))
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size < _MIN_RSA_BITS:
        diagnostics.append(
            Diagnostic(
                "warning", KEY_FIELD, f"the RSA key has {key.key_size} bits; Entra ID requires at least {_MIN_RSA_BITS}"
            )
        )
    return SigningKey(key, certificate, tuple(diagnostics))
