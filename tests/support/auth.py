"""Shared helpers of the ``tests/test_auth_*.py`` files: keys and certificates in every format, settings builders,
a fake clock, and recording token stores.

Keys are generated once per session (RSA generation costs tens of milliseconds). Not for: anything the connector
ships, or the interop server's keys (``tests/support/interop_keys.py``).
"""

from __future__ import annotations

import base64
import copy
import datetime
import functools
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from connector.context import RuntimeContext
from connector.settings import ConnectionSettings, parse_settings
from connector.transport import RetryPolicy, Transport

TOKEN_URL: Final = "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/token"
AUTHORIZE_URL: Final = "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/authorize"
RESOURCE: Final = "https://contoso.crm.dynamics.com"
CALLBACK: Final = "https://host.example/oauth/callback"
CLIENT_ID: Final = "535fb089-9ff3-47b6-9bfb-4f1264799865"

# Canary values: no log line, error, repr or report may contain any of them.
CANARY_CLIENT_SECRET: Final = "canary-client-secret-+%/x9Q"
CANARY_KEY_PASSWORD: Final = "canary-key-password-31c7"
CANARY_ACCESS_TOKEN: Final = "canary-access-token-5e1b2d"
CANARY_REFRESH_TOKEN: Final = "canary-refresh-token-0a9f4c"
CANARY_ID_TOKEN: Final = "canary-id-token-77aa01"
CANARY_CODE: Final = "canary-authorization-code-c0de"

_CURVES: Final[dict[str, ec.EllipticCurve]] = {
    "ES256": ec.SECP256R1(),
    "ES384": ec.SECP384R1(),
    "ES512": ec.SECP521R1(),
}

Key = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class RecordingStore:
    """A token store that records every call, and can be told to fail."""

    def __init__(self, initial: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.items: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (initial or {}).items()}
        self.saves: list[tuple[str, dict[str, Any]]] = []
        self.fail_saves = 0
        self.lock = threading.Lock()

    def load(self, key: str) -> Mapping[str, Any] | None:
        with self.lock:
            item = self.items.get(key)
            return dict(item) if item is not None else None

    def save(self, key: str, token_set: Mapping[str, Any]) -> None:
        with self.lock:
            if self.fail_saves:
                self.fail_saves -= 1
                raise OSError(f"disk full while writing {dict(token_set)!r}")  # a careless store echoing the data
            self.items[key] = dict(token_set)
            self.saves.append((key, dict(token_set)))


class LockingRecordingStore(RecordingStore):
    """A :class:`RecordingStore` that also lends the refresh lock (``LockingTokenStore``), as a store shared by several
    workers does, and records every lock call. Leases end on the given clock.

    :param clock: seconds, for lease ends.
    """

    def __init__(self, clock: Callable[[], float], initial: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        super().__init__(initial)
        self._clock = clock
        self.leases: dict[str, tuple[str, float]] = {}
        self.acquired = 0
        self.refused = 0
        self.renewals = 0
        self.releases = 0
        self.fail_locks = False

    def acquire_lock(self, key: str, lease_seconds: float) -> str | None:
        with self.lock:
            if self.fail_locks:
                raise ConnectionError(f"lock server gone while locking {key}")
            lease = self.leases.get(key)
            if lease is not None and self._clock() < lease[1]:
                self.refused += 1
                return None
            self.acquired += 1
            holder = f"holder-{self.acquired}"
            self.leases[key] = (holder, self._clock() + lease_seconds)
            return holder

    def renew_lock(self, key: str, holder: str, lease_seconds: float) -> bool:
        with self.lock:
            lease = self.leases.get(key)
            if lease is None or lease[0] != holder:
                return False
            self.renewals += 1
            self.leases[key] = (holder, self._clock() + lease_seconds)
            return True

    def release_lock(self, key: str, holder: str) -> bool:
        with self.lock:
            lease = self.leases.get(key)
            if lease is None or lease[0] != holder:
                return False
            self.releases += 1
            del self.leases[key]
            return True

    def held(self, key: str) -> bool:
        """:returns: whether an unexpired lease on ``key`` exists."""
        with self.lock:
            lease = self.leases.get(key)
            return lease is not None and self._clock() < lease[1]


def private_key(algorithm: str = "RS256", *, rsa_bits: int = 2048, label: str = "") -> Key:
    """:returns: a key for the algorithm: one RSA key serves every RS*/PS* algorithm (cached per session; pass a
    ``label`` for a second, different key).
    """
    return _private_key(algorithm if algorithm in _CURVES else "RSA", rsa_bits, label)


@functools.cache
def _private_key(kind: str, rsa_bits: int, label: str) -> Key:
    if kind in _CURVES:
        return ec.generate_private_key(_CURVES[kind])
    return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)


def certificate_for(
    key: Key, *, days_valid: float = 30, not_before_days: float = -1, common_name: str = "connector-test"
) -> x509.Certificate:
    """:returns: a self-signed certificate for the key."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    start = now + datetime.timedelta(days=not_before_days)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(now + datetime.timedelta(days=days_valid))
        .sign(key, hashes.SHA256())
    )


def certificate_pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def key_pem(key: Key, fmt: str = "pkcs8", password: str | None = None) -> str:
    """:returns: the key as PEM: ``pkcs8``, or ``traditional`` (PKCS#1 for RSA, SEC1 for EC); encrypted if asked."""
    formats = serialization.PrivateFormat
    private_format = formats.PKCS8 if fmt == "pkcs8" else formats.TraditionalOpenSSL
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, private_format, encryption).decode("ascii")


def pkcs12_b64(key: Key, certificate: x509.Certificate, password: str | None) -> str:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption()
    )
    blob = pkcs12.serialize_key_and_certificates(b"connector", key, certificate, None, encryption)
    return base64.b64encode(blob).decode("ascii")


@dataclass(frozen=True)
class KeyMaterial:
    """A key, its certificate and their PEM texts."""

    key: Key
    certificate: x509.Certificate

    @property
    def key_pem(self) -> str:
        return key_pem(self.key)

    @property
    def certificate_pem(self) -> str:
        return certificate_pem(self.certificate)


def key_material(algorithm: str = "RS256") -> KeyMaterial:
    """:returns: a key and a valid certificate for the algorithm (cached per session, shared by RS*/PS*)."""
    return _key_material(algorithm if algorithm in _CURVES else "RSA")


@functools.cache
def _key_material(kind: str) -> KeyMaterial:
    key = private_key(kind)
    return KeyMaterial(key, certificate_for(key))


CONNECTION: Final[dict[str, Any]] = {"protocol": "https", "base_url": "contoso.crm.dynamics.com"}


def secret_oauth(**overrides: Any) -> dict[str, Any]:
    """:returns: an OAuth tab for client credentials with a client secret."""
    oauth: dict[str, Any] = {
        "grant_type": "client_credentials",
        "client_assertion_type": "client_secret",
        "client_id": CLIENT_ID,
        "client_secret": CANARY_CLIENT_SECRET,
        "access_token_url": TOKEN_URL,
        "access_token_parameters": [{"name": "resource", "value": RESOURCE}],
    }
    oauth.update(overrides)
    return oauth


def jwt_oauth(algorithm: str = "RS256", *, jwt: Mapping[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    """:returns: an OAuth tab for client credentials with a JWT assertion signed by :func:`key_material`."""
    material = key_material(algorithm)
    jwt_settings: dict[str, Any] = {
        "signature_algorithm": algorithm,
        "signature_key": {"format": "pem", "private_key": material.key_pem, "certificate": material.certificate_pem},
    }
    jwt_settings.update(jwt or {})
    oauth: dict[str, Any] = {
        "grant_type": "client_credentials",
        "client_assertion_type": "jwt",
        "client_id": CLIENT_ID,
        "access_token_url": TOKEN_URL,
        "access_token_parameters": [{"name": "resource", "value": RESOURCE}],
        "jwt": jwt_settings,
    }
    oauth.update(overrides)
    return oauth


def code_oauth(**overrides: Any) -> dict[str, Any]:
    """:returns: an OAuth tab for the authorization-code grant."""
    oauth: dict[str, Any] = {
        "grant_type": "authorization_code",
        "client_id": CLIENT_ID,
        "client_secret": CANARY_CLIENT_SECRET,
        "access_token_url": TOKEN_URL,
        "authorization_parameters": [{"name": "resource", "value": RESOURCE}],
    }
    oauth.update(overrides)
    return oauth


def settings_for(oauth: Mapping[str, Any], context: RuntimeContext | None = None) -> ConnectionSettings:
    """:returns: parsed connection settings with this OAuth tab."""
    raw = {"connection": copy.deepcopy(CONNECTION), "oauth2": copy.deepcopy(dict(oauth))}
    return parse_settings(raw, context or RuntimeContext(callback_url=CALLBACK))


def quick_transport(settings: ConnectionSettings, *, attempts: int = 3) -> Transport:
    """:returns: a transport whose retries do not sleep."""
    return Transport(settings, policy=RetryPolicy(max_attempts=attempts), sleep=lambda _seconds: None)
