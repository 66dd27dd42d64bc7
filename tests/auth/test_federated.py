"""Workload identity federation end to end against the sandbox, through the hooks: the federated token read from a
file (or the file ``AZURE_FEDERATED_TOKEN_FILE`` names) is the client assertion; a rotated file is used at the next
token request; a missing, empty or refused file is an error naming ``oauth2.federated_token_file``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connector.auth.grants import request_client_credentials
from connector.context import RuntimeContext
from connector.errors import AuthError, ConfigError
from connector.host.facade import ConnectorHost
from connector.host.loader import get_plugin_manager
from connector.oauth_settings import parse_oauth_settings
from connector.results import CheckStatus, TokenSet
from dataverse_sandbox.config import SandboxConfig
from dataverse_sandbox.contracts import ClientRegistration, FederatedCredential
from dataverse_sandbox.limits import LimitSettings
from dataverse_sandbox.server import Sandbox
from tests.support.auth import RecordingStore
from tests.support.clock import FakeClock
from tests.support.diagnostics import check, failed_check
from tests.support.sandbox import start_sandbox

CONNECTOR = "dynamics365-ce"
FIELD = "oauth2.federated_token_file"
ISSUER = "https://oidc.prod-aks.azure.example/tenant/cluster/"
SUBJECT = "system:serviceaccount:integration:connector"
EXCHANGE = "api://AzureADTokenExchange"
CLIENT_ID = str(uuid.UUID(int=0xFED))


@pytest.fixture(scope="module")
def issuer_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def sandbox(issuer_key: rsa.RSAPrivateKey) -> Iterator[Sandbox]:
    sb = start_sandbox(SandboxConfig(limits=LimitSettings(enabled=False)))
    assert sb.token_service is not None
    public_pem = issuer_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    sb.token_service.register_client(
        ClientRegistration(
            client_id=CLIENT_ID,
            display_name="Federated workload",
            federated_credentials=(FederatedCredential(issuer=ISSUER, subject=SUBJECT, public_key_pem=public_pem),),
        )
    )
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture(scope="module")
def host() -> Iterator[ConnectorHost]:
    connector_host = ConnectorHost(get_plugin_manager(environ={}), trace=False)
    yield connector_host
    connector_host.close()


def federated_token(sb: Sandbox, key: rsa.RSAPrivateKey, **claims: Any) -> str:
    """A token as the platform's issuer writes it (a Kubernetes service account token, say)."""
    now = int(sb.clock.now())
    body = {"iss": ISSUER, "sub": SUBJECT, "aud": [EXCHANGE], "iat": now, "nbf": now, "exp": now + 3600}
    body.update(claims)
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": "issuer-key-1"})


def settings(sb: Sandbox, token_file: Path | None) -> dict[str, Any]:
    parts = urlsplit(sb.origin)
    oauth: dict[str, Any] = {
        "grant_type": "client_credentials",
        "client_assertion_type": "federated_token_file",
        "client_id": CLIENT_ID,
        "access_token_url": sb.token_url,
        "access_token_parameters": [{"name": "resource", "value": sb.origin}],
    }
    if token_file is not None:
        oauth["federated_token_file"] = str(token_file)
    return {"connection": {"protocol": parts.scheme, "base_url": parts.netloc}, "oauth2": oauth}


def test_the_hooks_sign_in_with_the_federated_token_and_test_connection_passes(
    sandbox: Sandbox, host: ConnectorHost, issuer_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    token_file = tmp_path / "azure-identity-token"
    token_file.write_text(federated_token(sandbox, issuer_key) + "\n")
    connection = host.connect(CONNECTOR, settings(sandbox, token_file), RuntimeContext(token_store=RecordingStore()))
    token_set = host.authorize(CONNECTOR, connection, "token")
    assert isinstance(token_set, TokenSet)
    assert token_set.refresh_token is None
    report = host.test(CONNECTOR, connection)
    assert report.ok, [(c.name, c.status.value, c.message) for c in report.checks]
    assert check(report, "token").details["grant"] == "client credentials (federated token)"
    assert check(report, "whoami").status is CheckStatus.PASSED


def test_the_file_comes_from_the_environment_when_the_field_is_blank(
    sandbox: Sandbox,
    host: ConnectorHost,
    issuer_key: rsa.RSAPrivateKey,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(federated_token(sandbox, issuer_key))
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(token_file))
    raw = settings(sandbox, None)
    raw["oauth2"]["federated_token_file"] = ""
    connection = host.connect(CONNECTOR, raw, RuntimeContext(token_store=RecordingStore()))
    assert isinstance(host.authorize(CONNECTOR, connection, "token"), TokenSet)


def test_a_rotated_file_is_read_for_the_next_token_request(
    sandbox: Sandbox, host: ConnectorHost, issuer_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(federated_token(sandbox, issuer_key))
    connection = host.connect(CONNECTOR, settings(sandbox, token_file), RuntimeContext(token_store=RecordingStore()))
    assert isinstance(host.authorize(CONNECTOR, connection, "token"), TokenSet)
    # The platform replaces the token with one for a workload the application does not trust: the next request
    # carries the new content (and is refused, naming the file), so the old one was not kept.
    token_file.write_text(federated_token(sandbox, issuer_key, sub="system:serviceaccount:other:intruder"))
    with pytest.raises(AuthError) as refused:
        host.authorize(CONNECTOR, connection, "token")
    assert refused.value.field == FIELD
    assert "AADSTS700213" in refused.value.user_message
    # Rotated again to a good token: accepted at once, without reconnecting.
    token_file.write_text(federated_token(sandbox, issuer_key, jti=str(uuid.uuid4())))
    assert isinstance(host.authorize(CONNECTOR, connection, "token"), TokenSet)


@pytest.mark.parametrize(
    ("claims", "code"),
    [
        ({"iss": "https://token.actions.githubusercontent.com"}, "AADSTS700211"),
        ({"aud": "api://something-else"}, "AADSTS700212"),
    ],
)
def test_a_token_no_federated_credential_matches_is_reported_on_the_field(
    sandbox: Sandbox, issuer_key: rsa.RSAPrivateKey, tmp_path: Path, claims: dict[str, Any], code: str
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(federated_token(sandbox, issuer_key, **claims))
    connector_host = ConnectorHost(get_plugin_manager(environ={}), trace=False)
    try:
        connection = connector_host.connect(CONNECTOR, settings(sandbox, token_file), RuntimeContext())
        failure = failed_check(connector_host.test(CONNECTOR, connection))
    finally:
        connector_host.close()
    assert (failure.name, failure.field) == ("token", FIELD)
    assert code in failure.message
    assert "federated credential" in failure.remediation


def test_a_token_signed_by_another_key_is_refused(sandbox: Sandbox, host: ConnectorHost, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token_file.write_text(federated_token(sandbox, stranger))
    connection = host.connect(CONNECTOR, settings(sandbox, token_file), RuntimeContext(token_store=RecordingStore()))
    with pytest.raises(AuthError) as refused:
        host.authorize(CONNECTOR, connection, "token")
    assert refused.value.field == FIELD
    assert "AADSTS70021" in refused.value.user_message


@pytest.mark.parametrize("state", ["missing", "empty", "directory"])
def test_a_missing_or_unreadable_file_is_a_field_error_of_connect(
    sandbox: Sandbox, host: ConnectorHost, tmp_path: Path, state: str
) -> None:
    token_file = tmp_path / "token"
    if state == "empty":
        token_file.write_text("\n")
    elif state == "directory":
        token_file.mkdir()
    with pytest.raises(ConfigError) as invalid:
        host.connect(CONNECTOR, settings(sandbox, token_file), RuntimeContext())
    assert [error.path for error in invalid.value.errors] == [FIELD]


def test_no_file_and_no_environment_variable_is_a_field_error(
    sandbox: Sandbox, host: ConnectorHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AZURE_FEDERATED_TOKEN_FILE", raising=False)
    with pytest.raises(ConfigError) as invalid:
        host.connect(CONNECTOR, settings(sandbox, None), RuntimeContext())
    assert [error.path for error in invalid.value.errors] == [FIELD]
    assert "AZURE_FEDERATED_TOKEN_FILE" in invalid.value.user_message


def test_a_file_removed_after_connect_fails_test_connection_on_the_field(
    sandbox: Sandbox, issuer_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(federated_token(sandbox, issuer_key))
    connector_host = ConnectorHost(get_plugin_manager(environ={}), trace=False)
    try:
        connection = connector_host.connect(CONNECTOR, settings(sandbox, token_file), RuntimeContext())
        token_file.unlink()
        failure = failed_check(connector_host.test(CONNECTOR, connection))
    finally:
        connector_host.close()
    assert (failure.name, failure.field) == ("token", FIELD)
    assert "does not exist" in failure.message


class RetryingTransport:
    """Calls the form factory twice, as the transport does when the first attempt fails with a 503, rotating the
    file in between; answers the second attempt with a token.
    """

    def __init__(self, token_file: Path) -> None:
        self.token_file = token_file
        self.forms: list[dict[str, str]] = []

    def send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        self.forms.append(dict(kwargs["data_factory"]()))
        self.token_file.write_text("second.federated.token")
        self.forms.append(dict(kwargs["data_factory"]()))
        response = requests.Response()
        response.status_code = 200
        response.headers["Content-Type"] = "application/json"
        response._content = json.dumps({"access_token": "at", "token_type": "Bearer", "expires_in": 3600}).encode()
        return response


def test_every_attempt_reads_the_file_and_sends_it_as_a_jwt_bearer_assertion(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("first.federated.token\n")
    raw = {
        "grant_type": "client_credentials",
        "client_assertion_type": "federated_token_file",
        "client_id": CLIENT_ID,
        "access_token_url": "https://login.example/tenant/oauth2/v2.0/token",
        "federated_token_file": str(token_file),
        "scope": "https://contoso.crm.dynamics.com/.default",
    }
    oauth, errors = parse_oauth_settings(raw, RuntimeContext())
    assert errors == []
    assert oauth is not None
    transport = RetryingTransport(token_file)
    token_set = request_client_credentials(oauth, transport, clock=FakeClock(1000.0))
    assert token_set.access_token == "at"
    # Each attempt reads the file again: the retry carries the token the platform rotated in meanwhile.
    assertions = [form["client_assertion"] for form in transport.forms]
    assert assertions == ["first.federated.token", "second.federated.token"]
    assert {form["client_assertion_type"] for form in transport.forms} == {
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    }
    assert {form["client_id"] for form in transport.forms} == {CLIENT_ID}
    assert "client_secret" not in transport.forms[0]
