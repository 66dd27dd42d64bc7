"""Canary test: with DEBUG logging and hook tracing on, no client secret, private key, key password, assertion,
authorization code, PKCE verifier, access or refresh token appears in logs, exception texts, reprs or CLI output,
across every grant's success and failure paths (interop server and sandbox).

Every secret the run handles is collected as it appears (the assertions by wrapping the signer, the tokens from the
token sets and the token store) and searched for in everything the run wrote.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from cryptography.hazmat.primitives import serialization

from connector.auth.assertion import ClientAssertionSigner
from connector.auth.token_response import read_token_response
from connector.auth.tokens import build_token_source
from connector.context import RuntimeContext
from connector.errors import ConnectorError
from connector.host.cli import main as cli_main
from connector.host.facade import ConnectorHost
from connector.host.loader import get_plugin_manager
from connector.results import AuthorizationCallback, AuthorizationStart, TokenSet
from connector.secrets import Secret
from dataverse_sandbox.config import SandboxConfig
from dataverse_sandbox.server import Sandbox
from tests.support.auth import CANARY_KEY_PASSWORD, RecordingStore
from tests.support.interop import InteropServer
from tests.support.sandbox import start_sandbox

pytestmark = pytest.mark.interop

CONNECTOR = "dynamics365-ce"
CONNECTION = {"protocol": "https", "base_url": "contoso.crm.dynamics.com"}


class Canaries:
    """The secret values seen so far and everything written that must not contain them."""

    def __init__(self) -> None:
        self.secrets: set[str] = set()
        self.texts: list[str] = []

    def secret(self, *values: str | None) -> None:
        self.secrets.update(v for v in values if v and len(v) >= 8)

    def key(self, pem: str) -> None:
        """Every line of a PEM body counts: a partial dump is a leak too."""
        self.secret(pem, *(line for line in pem.splitlines() if not line.startswith("-----")))

    def tokens(self, token_set: TokenSet) -> None:
        self.secret(token_set.access_token, token_set.refresh_token)
        self.texts.append(repr(token_set))

    def error(self, error: BaseException) -> None:
        self.texts += [str(error), repr(error), "".join(traceback.format_exception(error))]
        if isinstance(error, ConnectorError):
            self.texts += [error.user_message, error.internal_message]

    def expect_failure(self, call: Callable[[], object]) -> ConnectorError:
        with pytest.raises(ConnectorError) as caught:
            call()
        self.error(caught.value)
        return caught.value

    def leaks(self) -> list[str]:
        found = []
        for secret in self.secrets:
            for text in self.texts:
                if secret in text:
                    found.append(f"{secret[:12]}... in {text[:200]!r}")
                    break
        return found


@pytest.fixture
def canaries(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> Iterator[Canaries]:
    found = Canaries()
    caplog.set_level(logging.DEBUG)
    original_sign = ClientAssertionSigner.sign

    def recording_sign(self: ClientAssertionSigner) -> Secret:
        assertion = original_sign(self)
        found.secret(assertion.reveal())
        return assertion

    monkeypatch.setattr(ClientAssertionSigner, "sign", recording_sign)

    def recording_read(*args: Any, **kwargs: Any) -> TokenSet:
        token_set = read_token_response(*args, **kwargs)
        found.secret(token_set.access_token, token_set.refresh_token)
        return token_set

    monkeypatch.setattr("connector.auth.grants.read_token_response", recording_read)
    yield found
    records = caplog.get_records("setup") + caplog.get_records("call")
    for record in records:
        found.texts.append(record.getMessage())
        if record.exc_info and record.exc_info[1] is not None:
            found.error(record.exc_info[1])
    assert len(found.secrets) >= 3  # the run really handled secrets
    assert any(r.levelno == logging.DEBUG for r in records)  # and really logged at DEBUG
    assert not found.leaks()


@pytest.fixture
def host() -> Iterator[ConnectorHost]:
    traced = ConnectorHost(get_plugin_manager(environ={}), trace=True)
    yield traced
    traced.close()


def encrypted_key(path: Path, password: str) -> str:
    key = serialization.load_pem_private_key(path.read_bytes(), None)
    encryption = serialization.BestAvailableEncryption(password.encode())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption).decode()


def test_no_secret_leaks_on_any_interop_path(
    oidc_interop: InteropServer, host: ConnectorHost, canaries: Canaries
) -> None:
    server = oidc_interop
    resource = [{"name": "resource", "value": server.resource}]

    def connect(oauth: dict[str, Any], store: RecordingStore | None = None) -> Any:
        context = RuntimeContext(callback_url=server.redirect_uri, token_store=store or RecordingStore())
        connection = host.connect(CONNECTOR, {"connection": CONNECTION, "oauth2": oauth}, context)
        canaries.texts.append(repr(connection))
        return connection

    # Client secret, in the body and over Basic: success, then a wrong secret.
    for client in (server.secret_post, server.secret_basic):
        canaries.secret(client.client_secret, client.client_secret + "-wrong")
        base = {
            "grant_type": "client_credentials",
            "client_id": client.client_id,
            "client_authentication": client.auth_method,
            "access_token_url": server.token_url,
            "access_token_parameters": resource,
        }
        token_set = host.authorize(CONNECTOR, connect({**base, "client_secret": client.client_secret}), "token")
        assert isinstance(token_set, TokenSet)
        canaries.tokens(token_set)
        wrong = connect({**base, "client_secret": client.client_secret + "-wrong"})

        def refused(connection: Any = wrong) -> object:
            return host.authorize(CONNECTOR, connection, "token")

        canaries.expect_failure(refused)

    # JWT assertion with an encrypted key: success, wrong password, a foreign key, an expired assertion.
    key = server.assertion_keys["PS256"]
    pem = encrypted_key(key.key_path, CANARY_KEY_PASSWORD)
    canaries.key(pem)
    canaries.key(server.unregistered_key.key_path.read_text())
    canaries.secret(CANARY_KEY_PASSWORD, "wrong-password-x")

    def jwt_tab(private_key: str, password: str, certificate: str) -> dict[str, Any]:
        return {
            "grant_type": "client_credentials",
            "client_assertion_type": "jwt",
            "client_id": key.client_id,
            "access_token_url": server.token_url,
            "access_token_parameters": resource,
            "jwt": {
                "signature_algorithm": "PS256",
                "signature_key": {
                    "format": "pem",
                    "private_key": private_key,
                    "certificate": certificate,
                    "password": password,
                },
            },
        }

    good = connect(jwt_tab(pem, CANARY_KEY_PASSWORD, key.cert_path.read_text()))
    token_set = host.authorize(CONNECTOR, good, "token")
    assert isinstance(token_set, TokenSet)
    canaries.tokens(token_set)
    # connect loads the key, so a wrong password is refused there, before any token request. (The tab is built
    # outside the lambda: a traceback quotes the failing line, and the canary must not be on it.)
    bad_password = jwt_tab(pem, "wrong-password-x", key.cert_path.read_text())
    canaries.expect_failure(lambda: connect(bad_password))
    foreign = connect(
        jwt_tab(server.unregistered_key.key_path.read_text(), "", server.unregistered_key.cert_path.read_text())
    )
    canaries.expect_failure(lambda: host.authorize(CONNECTOR, foreign, "token"))
    slow = build_token_source(good.settings, good.context, clock=lambda: time.time() - 3600)
    canaries.expect_failure(slow.fetch)
    canaries.texts.append(repr(slow))

    # Authorization code: start, callback, refresh with rotation, a forged state, a reused refresh token.
    canaries.secret(server.auth_code.client_secret)
    store = RecordingStore()
    code = connect(
        {
            "grant_type": "authorization_code",
            "client_id": server.auth_code.client_id,
            "client_secret": server.auth_code.client_secret,
            "access_token_url": server.token_url,
            "authorization_url": server.authorize_url,
            "authorization_parameters": resource,
        },
        store,
    )
    start = host.authorize(CONNECTOR, code, "start")
    assert isinstance(start, AuthorizationStart)
    canaries.secret(start.code_verifier)
    canaries.texts.append(repr(start))
    params = dict(parse_qsl(urlsplit(server.complete_authorization(start.url)).query))
    canaries.secret(params["code"])
    forged = AuthorizationCallback({**params, "state": "forged"}, start.state, start.code_verifier)
    canaries.expect_failure(lambda: host.authorize(CONNECTOR, code, forged))
    callback = AuthorizationCallback(params, start.state, start.code_verifier)
    canaries.texts.append(repr(callback))
    first = host.authorize(CONNECTOR, code, callback)
    assert isinstance(first, TokenSet)
    canaries.tokens(first)
    second = host.authorize(CONNECTOR, code, "token")
    assert isinstance(second, TokenSet)
    canaries.tokens(second)
    # The code again: refused (and oidc-provider revokes the grant, as OAuth 2.0 §4.1.2 suggests).
    canaries.expect_failure(lambda: host.authorize(CONNECTOR, code, callback))
    for _, saved in store.saves:
        canaries.secret(saved["access_token"], saved["refresh_token"])
    lost = RecordingStore({code.state.token_source.store_key: first.to_dict()})
    stale = connect(code_tab_of(code), lost)
    canaries.expect_failure(lambda: host.authorize(CONNECTOR, stale, "token"))


def code_tab_of(connection: Any) -> dict[str, Any]:
    """The raw OAuth tab a parsed connection came from, rebuilt (for a second worker)."""
    oauth = connection.settings.oauth
    return {
        "grant_type": oauth.grant_type,
        "client_id": oauth.client_id,
        "client_secret": oauth.client_secret.reveal(),
        "access_token_url": oauth.access_token_url,
        "authorization_url": oauth.authorization_url,
        "authorization_parameters": [{"name": p.name, "value": p.value} for p in oauth.authorization_parameters],
    }


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    sb = start_sandbox(SandboxConfig())
    try:
        yield sb
    finally:
        sb.stop()


def test_no_secret_leaks_through_the_cli_and_entra_errors(
    sandbox: Sandbox, canaries: Canaries, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert sandbox.clients is not None
    client = sandbox.clients.secret_client
    secret = client.read_secret()
    canaries.secret(secret, secret[::-1])
    parts = urlsplit(sandbox.origin)
    for given in (secret, secret[::-1]):  # the right secret, then a wrong one (AADSTS7000215)
        config = {
            "connection": {"protocol": parts.scheme, "base_url": parts.netloc},
            "oauth2": {
                "grant_type": "client_credentials",
                "client_id": client.client_id,
                "client_secret": given,
                "access_token_url": sandbox.token_url,
                "access_token_parameters": [{"name": "resource", "value": sandbox.origin}],
            },
        }
        path = tmp_path / "config.json"
        path.write_text(json.dumps(config), encoding="utf-8")
        try:
            cli_main(["--debug", "test", str(path)])
        except ConnectorError as error:
            canaries.error(error)
        out, err = capsys.readouterr()
        canaries.texts += [out, err]
        assert "token" in out.lower()
        store = tmp_path / "tokens.fernet"
        try:
            cli_main(["--debug", "authorize", str(path), "--token-store", str(store), "--no-browser"])
        except ConnectorError as error:
            canaries.error(error)
        out, err = capsys.readouterr()
        canaries.texts += [out, err]
        if given == secret:
            assert "Authorized" in out
            assert store.exists()
            canaries.texts.append(store.read_bytes().decode("ascii", "replace"))  # encrypted at rest


def test_no_secret_leaks_with_a_pkcs12_key(sandbox: Sandbox, host: ConnectorHost, canaries: Canaries) -> None:
    assert sandbox.clients is not None
    provisioned = sandbox.clients
    client = provisioned.certificate_client
    files = next(f for f in client.certificates if f.algorithm == "RSA")
    blob = base64.b64encode(files.pfx_file.read_bytes()).decode()
    password = provisioned.read_pfx_password()
    canaries.secret(blob, password, password + "-wrong")
    canaries.key(files.key_file.read_text())
    parts = urlsplit(sandbox.origin)
    for given in (password, password + "-wrong"):
        oauth = {
            "grant_type": "client_credentials",
            "client_assertion_type": "jwt",
            "client_id": client.client_id,
            "access_token_url": sandbox.token_url,
            "access_token_parameters": [{"name": "resource", "value": sandbox.origin}],
            "jwt": {
                "signature_algorithm": "PS256",
                "signature_key": {"format": "pkcs12", "pkcs12": blob, "password": given},
            },
        }
        settings = {"connection": {"protocol": parts.scheme, "base_url": parts.netloc}, "oauth2": oauth}
        if given == password:
            connection = host.connect(CONNECTOR, settings, RuntimeContext(token_store=RecordingStore()))
            canaries.texts.append(repr(connection))
            token_set = host.authorize(CONNECTOR, connection, "token")
            assert isinstance(token_set, TokenSet)
            canaries.tokens(token_set)
        else:
            # connect opens the file, so a wrong password is refused there, before any token request.

            def refused(refused_settings: Any = settings) -> object:
                return host.connect(CONNECTOR, refused_settings, RuntimeContext(token_store=RecordingStore()))

            canaries.expect_failure(refused)
