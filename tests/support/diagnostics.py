"""Fixtures and helpers of the ``tests/test_diagnostics_*.py`` files: a loopback-only name resolver, a real
tinyproxy, a server that accepts connections and never answers, a TLS server with the certificate a test asks for
(another name, expired), settings for the sandbox, and the canary check.

Import the fixtures a module needs (``from tests.support.diagnostics import tinyproxy``). Not for anything the
connector ships.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import logging
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import pytest

from connector.context import RuntimeContext
from connector.host.facade import ConnectorHost
from connector.results import CheckStatus, TestReport
from dataverse_sandbox.server import Sandbox

__all__ = [
    "CANARY_PROXY_PASSWORD",
    "CANARY_SECRET",
    "LOOPBACK_NAMES",
    "HangingServer",
    "TinyProxy",
    "TlsServer",
    "assert_no_secret",
    "check",
    "failed_check",
    "free_port",
    "hanging_server",
    "log_text",
    "loopback_only",
    "run_test",
    "sandbox_settings",
    "tinyproxy",
    "tls_server",
]

CANARY_SECRET: Final = "canary-diag-secret-3e8f1a"
CANARY_PROXY_PASSWORD: Final = "canary-diag-proxy-pw-9b44"
LOOPBACK_NAMES: Final = frozenset({"localhost", "127.0.0.1", "::1"})
CONNECTOR_ID: Final = "dynamics365-ce"


# -- the network stays on this machine -------------------------------------------------------------------------


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Name resolution answers loopback names only; any other name fails as an unknown host would.

    Test settings name unknown hosts on purpose (``unknown-host.invalid``): this makes sure no lookup, and so no
    packet, leaves the machine, whatever the test does.
    """
    real = socket.getaddrinfo

    def resolve(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name.lower() in LOOPBACK_NAMES or name.startswith("127."):
            return real(host, port, *args, **kwargs)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", resolve)


def free_port() -> int:
    """:returns: a TCP port on 127.0.0.1 that nothing listens on (closed again at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_listening(port: int, deadline_s: float = 10.0) -> None:
    deadline = time.monotonic() + deadline_s
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing listens on 127.0.0.1:{port} after {deadline_s} s")
        threading.Event().wait(0.02)


# -- a server that accepts and never answers -------------------------------------------------------------------


class HangingServer:
    """Accepts TCP connections on 127.0.0.1 and never sends a byte; everything closes at :meth:`stop`."""

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port: int = self._listener.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, name="hanging-server", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            self.accepted.append(connection)

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for connection in self.accepted:
            connection.close()
        self._thread.join(5)


@pytest.fixture
def hanging_server() -> Iterator[HangingServer]:
    """A started :class:`HangingServer`."""
    server = HangingServer()
    yield server
    server.stop()


# -- tinyproxy -------------------------------------------------------------------------------------------------


@dataclass
class TinyProxy:
    """A running tinyproxy on 127.0.0.1.

    :param port: where it listens.
    :param log_file: its log (one line per connection and request; never credentials).
    """

    port: int
    log_file: Path

    def log(self) -> str:
        """:returns: the log so far."""
        return self.log_file.read_text(encoding="utf-8", errors="replace") if self.log_file.exists() else ""

    def requests(self) -> list[str]:
        """:returns: the request lines it received (``CONNECT host:port HTTP/1.1``, ``GET http://... HTTP/1.1``)."""
        marker = "]: Request (file descriptor"
        return [line.split("): ", 1)[1] for line in self.log().splitlines() if marker in line]


@pytest.fixture
def tinyproxy(tmp_path: Path) -> Iterator[Callable[..., TinyProxy]]:
    """A factory ``tinyproxy(basic_auth=None | (user, password)) -> TinyProxy``; each proxy stops after the test."""
    executable = shutil.which("tinyproxy")
    if executable is None:
        pytest.fail("tinyproxy is not installed: scripts/test.sh installs it (apt-get install tinyproxy)")
    started: list[subprocess.Popen[bytes]] = []

    def start(basic_auth: tuple[str, str] | None = None) -> TinyProxy:
        port = free_port()
        directory = tmp_path / f"tinyproxy-{port}"
        directory.mkdir()
        log_file = directory / "tinyproxy.log"
        lines = [
            f"Port {port}",
            "Listen 127.0.0.1",
            "Timeout 30",
            f'LogFile "{log_file}"',
            "LogLevel Info",
            "MaxClients 20",
            "Allow 127.0.0.1",
        ]
        if basic_auth is not None:
            lines.append(f"BasicAuth {basic_auth[0]} {basic_auth[1]}")
        config = directory / "tinyproxy.conf"
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        process = subprocess.Popen(
            [executable, "-d", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        started.append(process)
        _wait_until_listening(port)
        return TinyProxy(port, log_file)

    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


# -- a TLS server with the certificate a test asks for ---------------------------------------------------------


@dataclass
class TlsServer:
    """An https port on 127.0.0.1 that completes handshakes and answers nothing.

    :param port: where it listens.
    :param ca_path: the PEM of the CA that issued its certificate (trust it with the runtime's CA bundle).
    """

    port: int
    ca_path: Path

    @property
    def authority(self) -> str:
        """``127.0.0.1:<port>``."""
        return f"127.0.0.1:{self.port}"


def _issue(directory: Path, names: tuple[str, ...], expired: bool) -> tuple[Path, Path, Path]:
    """Write a CA and a server certificate it issued for ``names``; ``expired``: it ended yesterday."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Connection's test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=60))
        .not_valid_after(now + datetime.timedelta(days=60))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    alternative: list[x509.GeneralName] = []
    for name in names:
        try:
            alternative.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alternative.append(x509.DNSName(name))
    ends = now - datetime.timedelta(days=1) if expired else now + datetime.timedelta(days=30)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=30))
        .not_valid_after(ends)
        .add_extension(x509.SubjectAlternativeName(alternative), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_path, cert_path, key_path = directory / "ca.pem", directory / "server.pem", directory / "server-key.pem"
    ca_path.write_bytes(ca.public_bytes(pem))
    cert_path.write_bytes(certificate.public_bytes(pem) + ca.public_bytes(pem))
    key_path.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return ca_path, cert_path, key_path


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[Callable[..., TlsServer]]:
    """A factory ``tls_server(names=("127.0.0.1",), expired=False) -> TlsServer``: an https port whose certificate,
    issued by a CA of its own, names ``names`` (and has expired when asked); every server stops after the test.
    """
    stops: list[Callable[[], None]] = []

    def start(names: tuple[str, ...] = ("127.0.0.1",), *, expired: bool = False) -> TlsServer:
        directory = tmp_path / f"tls-{len(stops)}"
        directory.mkdir()
        ca_path, cert_path, key_path = _issue(directory, names, expired)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)

        def serve() -> None:
            while True:
                try:
                    connection, _ = listener.accept()
                except OSError:
                    return
                connection.settimeout(5)
                with contextlib.suppress(OSError), context.wrap_socket(connection, server_side=True):
                    pass  # the client refuses the certificate; a handshake is all this server is for
                connection.close()

        thread = threading.Thread(target=serve, name="tls-server", daemon=True)
        thread.start()

        def stop() -> None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
            thread.join(5)

        stops.append(stop)
        return TlsServer(listener.getsockname()[1], ca_path)

    yield start
    for stop in stops:
        stop()


# -- settings and running the test through the host ------------------------------------------------------------


def sandbox_settings(
    sb: Sandbox,
    *,
    client: str = "secret",
    secret: str | None = None,
    resource: str | None = None,
    version: str = "v9.2",
    token_url: str | None = None,
    base_url: str | None = None,
    honor_proxy: bool = False,
    timeouts_ms: int | None = None,
    **oauth: Any,
) -> dict[str, Any]:
    """Settings for a connection to a sandbox with client credentials and a secret.

    :param sb: the sandbox.
    :param client: which provisioned client (``secret``, ``read_only``, ``no_access`` ...).
    :param secret: the client secret; the client's real one when ``None``.
    :param resource: the ``resource`` token parameter; the sandbox's origin when ``None``.
    :param version: the Web API version.
    :param token_url: the token URL; the sandbox's v1 endpoint when ``None``.
    :param base_url: the base URL; the sandbox's host and port when ``None``.
    :param honor_proxy: turn on "honor runtime proxy".
    :param timeouts_ms: connect and read time-outs.
    :param oauth: more OAuth fields, replacing the defaults.
    """
    clients = sb.clients
    assert clients is not None
    provisioned = getattr(clients, f"{client}_client")
    parts = urlsplit(sb.origin)
    connection: dict[str, Any] = {
        "protocol": parts.scheme,
        "base_url": base_url or parts.netloc,
        "version": version,
        "honor_runtime_proxy": honor_proxy,
    }
    if timeouts_ms is not None:
        connection |= {"connect_timeout_ms": timeouts_ms, "read_timeout_ms": timeouts_ms}
    oauth2: dict[str, Any] = {
        "grant_type": "client_credentials",
        "client_assertion_type": "client_secret",
        "client_id": provisioned.client_id,
        "client_secret": secret if secret is not None else provisioned.read_secret(),
        "access_token_url": token_url or sb.token_url,
        "access_token_parameters": [{"name": "resource", "value": resource or sb.origin}],
    }
    oauth2.update(oauth)
    return {"connection": connection, "oauth2": {key: value for key, value in oauth2.items() if value is not None}}


def run_test(settings: dict[str, Any], context: RuntimeContext | None = None) -> TestReport:
    """Connect and run Test Connection through the reference host, as a host would.

    :returns: the report (the hook must not raise for expected failures: if it does, the test fails).
    """
    host = ConnectorHost()
    try:
        connection = host.connect(CONNECTOR_ID, settings, context or RuntimeContext())
        return host.test(CONNECTOR_ID, connection)
    finally:
        host.close()


def check(report: TestReport, name: str) -> Any:
    """:returns: the check of that name (fails the test when there is none)."""
    for item in report.checks:
        if item.name == name:
            return item
    raise AssertionError(f"no check {name!r} in {[item.name for item in report.checks]}")


def failed_check(report: TestReport) -> Any:
    """:returns: the one failed check; asserts there is exactly one, and that every later check was skipped."""
    failed = [index for index, item in enumerate(report.checks) if item.status is CheckStatus.FAILED]
    assert len(failed) == 1, [(item.name, item.status.value, item.message) for item in report.checks]
    later = report.checks[failed[0] + 1 :]
    assert all(item.status is CheckStatus.SKIPPED for item in later), [(i.name, i.status.value) for i in later]
    failure = report.checks[failed[0]]
    assert failure.field, f"a failed check must name a field: {failure}"
    assert failure.remediation, f"a failed check must say what to do: {failure}"
    return failure


def assert_no_secret(texts: Iterable[str], secrets: Iterable[str]) -> None:
    """Assert that no secret value occurs in any text (reports, log records, CLI output)."""
    values = [secret for secret in secrets if secret]
    for text in texts:
        for secret in values:
            assert secret not in text, f"a secret leaked into: {text[:200]!r}"


def log_text(records: Iterable[logging.LogRecord]) -> str:
    """:returns: every record formatted with its arguments, one per line."""
    return "\n".join(record.getMessage() for record in records)
