"""Pytest fixtures for the third-party authorization server (npm ``oidc-provider``) in ``tests/interop``.

The connector's OAuth grants are proven against a server nobody on this project wrote. This module installs
its npm dependencies when they are missing, generates client keys and certificates, writes the server's
configuration, starts ``tests/interop/server.mjs`` on 127.0.0.1, and stops it at teardown. When a test that uses
the server fails, the server's stderr (where oidc-provider states the real reason behind its generic error
bodies) is attached to the failure report.

Not for: anything the connector ships. Import the fixtures into ``tests/conftest.py``; tests that use them are
marked ``interop``. Node.js and npm must be on ``PATH``: their absence fails the test, it never skips it.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import subprocess
import time
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.interop_keys import ALGORITHMS, AssertionKey, write_assertion_key
from tests.support.interop_login import complete_authorization_flow
from tests.support.paths import REPO_ROOT

INTEROP_DIR = REPO_ROOT / "tests" / "interop"
NPM_INSTALL_TIMEOUT_S = 300.0
READY_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 5.0

#: The Entra v1 ``resource`` values (RFC 8707 resource indicators) the server knows.
RESOURCES = ("https://contoso.crm.dynamics.com", "https://fabrikam.crm4.dynamics.com")
RESOURCE_SCOPE = "user_impersonation"
REDIRECT_URI = "http://127.0.0.1/oauth/callback"

# RFC 6749 §2.3.1 requires HTTP Basic credentials to be form-urlencoded first: a secret holding these
# characters is accepted only when the client does that.
BASIC_SECRET = "b4sic+secret%2F/with=odd&chars %zz"


@dataclass(frozen=True)
class SecretClient:
    """A registered client that authenticates with a client secret.

    :ivar client_id: the client id.
    :ivar client_secret: the client secret.
    :ivar auth_method: ``client_secret_post`` or ``client_secret_basic``.
    """

    client_id: str
    client_secret: str
    auth_method: str


SECRET_POST = SecretClient("secret-post", "post-secret-value", "client_secret_post")
SECRET_BASIC = SecretClient("secret-basic", BASIC_SECRET, "client_secret_basic")
AUTH_CODE = SecretClient("auth-code", "auth-code-secret-value", "client_secret_post")


@dataclass(frozen=True)
class InteropServer:
    """A running ``oidc-provider`` and what a test needs to talk to it.

    :ivar issuer: the issuer identifier (``http://127.0.0.1:PORT``); also accepted as an assertion ``aud``.
    :ivar token_url: the token endpoint.
    :ivar authorize_url: the authorization endpoint.
    :ivar jwks_url: the server's signing keys (random per start: fetch, never cache across starts).
    :ivar resources: the resource indicators the server knows; ``resources[0]`` is the usual one.
    :ivar resource_scope: the scope each resource offers (granted by consent when only ``resource`` is sent).
    :ivar redirect_uri: the authorization-code client's callback (nothing listens there).
    :ivar secret_post: a ``client_secret_post`` client (client credentials).
    :ivar secret_basic: a ``client_secret_basic`` client whose secret has ``+``, ``%``, ``/`` and spaces.
    :ivar auth_code: a ``client_secret_post`` client for authorization code + PKCE S256 + refresh tokens.
    :ivar assertion_keys: ``private_key_jwt`` clients by JWS algorithm (RS/PS/ES 256/384/512), each with its
        own key and self-signed certificate registered as a JWKS with ``x5c``.
    :ivar unregistered_key: a key and certificate no client has registered (its ``client_id`` is that of the
        RS256 client, so an assertion signed with it is "signed by another key").
    :ivar rollover_keys: two RS256 keys registered to one client (``jwt-rollover``), as during a certificate
        rollover: either may sign, and the thumbprint must name the one that did.
    :ivar access_token_ttl: lifetime of issued access tokens in seconds.
    :ivar log_path: the file the server's stderr goes to.
    """

    issuer: str
    token_url: str
    authorize_url: str
    jwks_url: str
    resources: tuple[str, ...]
    resource_scope: str
    redirect_uri: str
    secret_post: SecretClient
    secret_basic: SecretClient
    auth_code: SecretClient
    assertion_keys: dict[str, AssertionKey]
    unregistered_key: AssertionKey
    rollover_keys: tuple[AssertionKey, AssertionKey]
    access_token_ttl: int
    log_path: Path

    @property
    def resource(self) -> str:
        """:returns: the resource indicator tests use unless they need a second one."""
        return self.resources[0]

    def jwks(self) -> dict[str, Any]:
        """Fetch the server's current signing keys.

        :returns: the JWKS document.
        """
        with requests.Session() as session:
            session.trust_env = False  # loopback only; the environment's CA bundle and proxies do not apply
            response = session.get(self.jwks_url, timeout=10)
            response.raise_for_status()
            body: dict[str, Any] = response.json()
            return body

    def complete_authorization(self, url: str, *, user: str = "alice") -> str:
        """Drive the login and consent pages headlessly, as a browser would.

        :param url: the authorization URL the connector built.
        :param user: the user name to sign in as (any non-empty name is accepted).
        :returns: the redirect to :attr:`redirect_uri` with ``code`` and ``state`` (or ``error``).
        :raises AssertionError: when the flow does not reach the redirect URI.
        """
        return complete_authorization_flow(url, self.redirect_uri, user=user)

    def stderr_text(self) -> str:
        """:returns: everything the server wrote to stderr so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def ensure_node_modules(interop_dir: Path = INTEROP_DIR) -> None:
    """Install the pinned npm packages unless the installed ``oidc-provider`` already matches the pin.

    :param interop_dir: the directory holding ``package.json`` and ``package-lock.json``.
    :raises pytest.fail.Exception: when npm is missing or the install fails.
    """
    package = json.loads((interop_dir / "package.json").read_text(encoding="utf-8"))
    pinned = package["dependencies"]["oidc-provider"]
    installed = interop_dir / "node_modules" / "oidc-provider" / "package.json"
    if installed.is_file() and json.loads(installed.read_text(encoding="utf-8"))["version"] == pinned:
        return
    npm = _require_executable("npm")
    command = [npm, "ci" if (interop_dir / "package-lock.json").is_file() else "install", "--no-audit", "--no-fund"]
    try:
        result = subprocess.run(
            command, cwd=interop_dir, capture_output=True, text=True, timeout=NPM_INSTALL_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"`{' '.join(command[1:])}` in {interop_dir} took over {NPM_INSTALL_TIMEOUT_S:.0f} s")
    if result.returncode != 0:
        pytest.fail(f"`npm {command[1]}` in {interop_dir} failed:\n{result.stdout}\n{result.stderr}")


def _require_executable(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"`{name}` is not on PATH: the interop tests need Node.js 20+ and npm "
            "(CI installs them; locally install nodejs and npm)"
        )
    return path


@dataclass(frozen=True)
class _Keys:
    by_algorithm: dict[str, AssertionKey]
    unregistered: AssertionKey
    rollover: tuple[AssertionKey, AssertionKey]


def _assertion_client(client_id: str, *keys: AssertionKey) -> dict[str, Any]:
    return {
        "client_id": client_id,
        "token_endpoint_auth_method": "private_key_jwt",
        "grant_types": ["client_credentials"],
        "response_types": [],
        "redirect_uris": [],
        "jwks": {"keys": [key.public_jwk() for key in keys]},
    }


def write_config(workdir: Path, *, access_token_ttl: int) -> tuple[Path, _Keys]:
    """Generate the client keys and certificates and write the server's configuration.

    :param workdir: an empty directory for the keys, certificates and configuration.
    :param access_token_ttl: lifetime of issued access tokens in seconds.
    :returns: the configuration path and the generated keys.
    """
    keys = _Keys(
        by_algorithm={alg: write_assertion_key(workdir, alg, f"jwt-{alg.lower()}") for alg in ALGORITHMS},
        unregistered=write_assertion_key(workdir, "RS256", "jwt-rs256", stem="unregistered"),
        rollover=(
            write_assertion_key(workdir, "RS256", "jwt-rollover", stem="rollover-old"),
            write_assertion_key(workdir, "RS256", "jwt-rollover", stem="rollover-new"),
        ),
    )
    no_response: dict[str, Any] = {"response_types": [], "redirect_uris": []}
    clients: list[dict[str, Any]] = [
        {
            "client_id": SECRET_POST.client_id,
            "client_secret": SECRET_POST.client_secret,
            "token_endpoint_auth_method": "client_secret_post",
            "grant_types": ["client_credentials"],
            **no_response,
        },
        {
            "client_id": SECRET_BASIC.client_id,
            "client_secret": SECRET_BASIC.client_secret,
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["client_credentials"],
            **no_response,
        },
        {
            "client_id": AUTH_CODE.client_id,
            "client_secret": AUTH_CODE.client_secret,
            "token_endpoint_auth_method": "client_secret_post",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "redirect_uris": [REDIRECT_URI],
        },
        *(_assertion_client(key.client_id, key) for key in keys.by_algorithm.values()),
        _assertion_client("jwt-rollover", *keys.rollover),
    ]
    config = {
        "accessTokenTTL": access_token_ttl,
        "resources": [{"identifier": r, "scope": RESOURCE_SCOPE} for r in RESOURCES],
        "clients": clients,
    }
    path = workdir / "config.json"
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return path, keys


def _read_ready_line(process: subprocess.Popen[bytes], log_path: Path) -> dict[str, Any]:
    assert process.stdout is not None
    buffer = b""
    deadline = time.monotonic() + READY_TIMEOUT_S
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(f"interop server not ready after {READY_TIMEOUT_S:.0f} s:\n{_tail(log_path)}")
            if selector.select(remaining):
                chunk = os.read(process.stdout.fileno(), 4096)
                if not chunk:
                    process.wait(STOP_TIMEOUT_S)
                    raise RuntimeError(
                        f"interop server exited with {process.returncode} before it was ready:\n{_tail(log_path)}"
                    )
                buffer += chunk
    ready: dict[str, Any] = json.loads(buffer.split(b"\n", 1)[0])
    return ready


def _tail(log_path: Path, lines: int = 60) -> str:
    return "\n".join(log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.stdin is not None:
        process.stdin.close()  # the server exits when its stdin closes
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT_S)
    if process.stdout is not None:
        process.stdout.close()


@contextmanager
def run_interop_server(workdir: Path, *, access_token_ttl: int = 3600) -> Iterator[InteropServer]:
    """Start the interop server with fresh keys and stop it on exit.

    :param workdir: an empty directory for keys, certificates, configuration and the stderr log.
    :param access_token_ttl: lifetime of issued access tokens in seconds.
    :returns: a context manager yielding the running server.
    :raises RuntimeError: when the server does not start within the deadline (its stderr is in the message).
    """
    ensure_node_modules()
    node = _require_executable("node")
    config_path, keys = write_config(workdir, access_token_ttl=access_token_ttl)
    log_path = workdir / "server.stderr.log"
    env = {k: v for k, v in os.environ.items() if k not in {"INTEROP_WATCH_STDIN", "INTEROP_CONFIG", "PORT"}}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [node, "server.mjs", str(config_path)],
            cwd=INTEROP_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
        )
    try:
        ready = _read_ready_line(process, log_path)
        yield InteropServer(
            issuer=ready["issuer"],
            token_url=ready["token_endpoint"],
            authorize_url=ready["authorization_endpoint"],
            jwks_url=ready["jwks_uri"],
            resources=RESOURCES,
            resource_scope=RESOURCE_SCOPE,
            redirect_uri=REDIRECT_URI,
            secret_post=SECRET_POST,
            secret_basic=SECRET_BASIC,
            auth_code=AUTH_CODE,
            assertion_keys=keys.by_algorithm,
            unregistered_key=keys.unregistered,
            rollover_keys=keys.rollover,
            access_token_ttl=access_token_ttl,
            log_path=log_path,
        )
    finally:
        _stop(process)


class _StderrReporter:
    """Attaches the server's stderr written during a failing test to that test's report."""

    def __init__(self, server: InteropServer) -> None:
        self._server = server
        self._offset = 0

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if "oidc_interop" not in getattr(item, "fixturenames", ()):
            return report
        text = self._server.stderr_text()
        if report.when == "setup" and report.passed:
            self._offset = len(text)
        elif report.failed:
            report.sections.append(("oidc-provider stderr", text[self._offset :] or "(nothing)"))
        return report


@pytest.fixture(scope="session")
def oidc_interop(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Iterator[InteropServer]:
    """The running interop server for the whole session (access tokens live an hour).

    :returns: the server, its clients, keys and helpers.
    """
    with run_interop_server(tmp_path_factory.mktemp("oidc-interop")) as server:
        reporter = _StderrReporter(server)
        pytestconfig.pluginmanager.register(reporter, "oidc-interop-stderr")
        try:
            yield server
        finally:
            pytestconfig.pluginmanager.unregister(reporter)
