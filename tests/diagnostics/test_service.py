"""Test Connection's token and Web API checks, end to end against the sandbox through the reference host: each
grant working, and each credential or service problem reported with the field to fix and no secret anywhere.
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from connector.context import RuntimeContext
from connector.host.facade import ConnectorHost
from connector.host.report_view import render_json, render_text
from connector.results import AuthorizationCallback, AuthorizationStart, CheckStatus, TestReport, TokenSet
from dataverse_sandbox.faults import FaultSettings
from dataverse_sandbox.server import Sandbox
from tests.support.diagnostics import CANARY_SECRET, assert_no_secret, check, failed_check, run_test, sandbox_settings
from tests.support.entra import redirect_params, sign_in

pytestmark = pytest.mark.usefixtures("loopback_only")

CONNECTOR_ID = "dynamics365-ce"
CALLBACK = "http://localhost/callback"  # registered for the sandbox's authorization-code client


@pytest.fixture(autouse=True)
def debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Every log line at every level is captured, so the canary check sees DEBUG output too."""
    caplog.set_level("DEBUG")


def no_secret_anywhere(report: TestReport, caplog: pytest.LogCaptureFixture, *secrets: str) -> None:
    assert_no_secret([render_text(report), render_json(report), caplog.text], [CANARY_SECRET, *secrets])


def unregistered_key_pem() -> tuple[str, str]:
    """:returns: a new RSA private key and its self-signed certificate, registered nowhere (PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "unregistered")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return private.decode(), certificate.public_bytes(serialization.Encoding.PEM).decode()


def certificate_settings(sb: Sandbox, private_key: str, certificate: str) -> dict[str, Any]:
    settings = sandbox_settings(sb, client="certificate", secret="", client_assertion_type="jwt")
    settings["oauth2"].pop("client_secret", None)
    settings["oauth2"]["jwt"] = {
        "signature_algorithm": "RS256",
        "signature_key": {"format": "pem", "private_key": private_key, "certificate": certificate},
    }
    return settings


def registered_key_pem(sb: Sandbox) -> tuple[str, str]:
    assert sb.clients is not None
    files = next(item for item in sb.clients.certificate_client.certificates if item.algorithm == "RSA")
    return files.key_file.read_text(encoding="utf-8"), files.certificate_file.read_text(encoding="utf-8")


# -- working connections ---------------------------------------------------------------------------------------


def test_client_secret_grant_passes_and_shows_the_whoami_ids(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    settings = sandbox_settings(sandbox)
    report = run_test(settings)
    assert report.ok, render_text(report)
    token = check(report, "token")
    assert token.message == "An access token was obtained with client credentials (client secret)."
    assert token.details["audience"] == sandbox.origin
    whoami = check(report, "whoami")
    assert whoami.status is CheckStatus.PASSED
    assert whoami.details["organization_id"] == sandbox.config.organization_id
    assert whoami.details["user_id"]
    assert whoami.details["business_unit_id"]
    assert whoami.details["user_id"] in whoami.message
    assert check(report, "api_version").message.startswith("The Web API serves v9.2")
    assert check(report, "metadata").status is CheckStatus.PASSED
    no_secret_anywhere(report, caplog, settings["oauth2"]["client_secret"])


def test_certificate_grant_passes(sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    private_key, certificate = registered_key_pem(sandbox)
    report = run_test(certificate_settings(sandbox, private_key, certificate))
    assert report.ok, render_text(report)
    assert check(report, "token").message == "An access token was obtained with client credentials (certificate)."
    no_secret_anywhere(report, caplog, private_key.splitlines()[1])


@pytest.fixture
def authorization_host() -> Iterator[ConnectorHost]:
    host = ConnectorHost()
    yield host
    host.close()


def authorization_code_settings(sb: Sandbox) -> dict[str, Any]:
    assert sb.clients is not None
    client = sb.clients.authorization_code_client
    settings = sandbox_settings(sb, client="authorization_code", grant_type="authorization_code")
    settings["oauth2"].pop("client_assertion_type")
    settings["oauth2"]["authorization_parameters"] = settings["oauth2"].pop("access_token_parameters")
    assert settings["oauth2"]["client_secret"] == client.read_secret()
    return settings


def authorize(host: ConnectorHost, sb: Sandbox, connection: Any) -> TokenSet:
    """Run the authorization-code grant as a user in a browser would."""
    assert sb.clients is not None
    user = sb.clients.users[0]
    start = host.authorize(CONNECTOR_ID, connection, "start")
    assert isinstance(start, AuthorizationStart)
    with requests.Session() as browser:
        answer = sign_in(browser, start.url, {}, user_name=user.user_name, password=user.read_password())
    callback = AuthorizationCallback(redirect_params(answer), start.state, start.code_verifier)
    tokens = host.authorize(CONNECTOR_ID, connection, callback)
    assert isinstance(tokens, TokenSet)
    return tokens


def test_authorization_code_grant_refreshes_the_stored_tokens(
    sandbox: Sandbox, authorization_host: ConnectorHost, caplog: pytest.LogCaptureFixture
) -> None:
    settings = authorization_code_settings(sandbox)
    context = RuntimeContext(callback_url=CALLBACK)
    connection = authorization_host.connect(CONNECTOR_ID, settings, context)
    tokens = authorize(authorization_host, sandbox, connection)
    report = authorization_host.test(CONNECTOR_ID, connection)
    assert report.ok, render_text(report)
    assert check(report, "token").message == (
        "The stored authorization was refreshed: a new access token was obtained (authorization code)."
    )
    assert check(report, "whoami").details["user_id"]
    secrets = [settings["oauth2"]["client_secret"], tokens.access_token, tokens.refresh_token or ""]
    no_secret_anywhere(report, caplog, *secrets)


def test_authorization_code_without_stored_tokens_says_authorize_first(sandbox: Sandbox) -> None:
    report = run_test(authorization_code_settings(sandbox), RuntimeContext(callback_url=CALLBACK))
    failure = failed_check(report)
    assert failure.name == "token"
    assert failure.field == "oauth2"
    assert failure.message == "No tokens are stored for this connection yet: authorize first."


# -- credentials the token service refuses ---------------------------------------------------------------------


def test_bad_client_secret(sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    report = run_test(sandbox_settings(sandbox, secret=CANARY_SECRET))
    failure = failed_check(report)
    assert failure.name == "token"
    assert failure.field == "oauth2.client_secret"
    assert "AADSTS7000215" in failure.message
    assert failure.message.startswith("Client Secret (oauth2.client_secret) is wrong")
    no_secret_anywhere(report, caplog)


def test_assertion_signed_by_an_unregistered_key(sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    private_key, certificate = unregistered_key_pem()
    report = run_test(certificate_settings(sandbox, private_key, certificate))
    failure = failed_check(report)
    assert failure.name == "token"
    assert failure.field == "oauth2.jwt.signature_key"
    assert "AADSTS700027" in failure.message
    assert "Upload this key's certificate" in failure.remediation
    no_secret_anywhere(report, caplog, private_key.splitlines()[1])


def test_wrong_resource(sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    report = run_test(sandbox_settings(sandbox, resource="https://wrong.crm.dynamics.com"))
    failure = failed_check(report)
    assert failure.name == "token"
    assert failure.field == "oauth2.access_token_parameters"
    assert "AADSTS500011" in failure.message
    assert "'https://wrong.crm.dynamics.com'" in failure.message


# -- what the Web API refuses ----------------------------------------------------------------------------------


def test_token_for_another_audience_is_a_web_api_401(
    make_sandbox: Callable[..., Sandbox], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Two sandboxes sharing a state directory share the tenant, clients and signing key: a token the second one
    # issues for itself is genuine, but for another audience than the first one's Web API.
    web_api = make_sandbox(state_dir=tmp_path)
    elsewhere = make_sandbox(state_dir=tmp_path)
    settings = sandbox_settings(web_api, token_url=elsewhere.token_url, resource=elsewhere.origin)
    report = run_test(settings)
    assert check(report, "token").status is CheckStatus.PASSED
    assert check(report, "api_version").status is CheckStatus.WARNING
    failure = failed_check(report)
    assert failure.name == "whoami"
    assert failure.field == "oauth2.access_token_parameters"
    assert failure.message == (
        f"WhoAmI was refused (401): the Web API accepts tokens for {web_api.origin}, but the token is for "
        f"{elsewhere.origin}."
    )
    assert failure.remediation.startswith(f"Set the resource to {web_api.origin}")
    assert failure.details["expected_resource"].rstrip("/") == web_api.origin
    no_secret_anywhere(report, caplog, settings["oauth2"]["client_secret"])


def test_an_operation_refused_with_401_gets_the_diagnosis_test_connection_gives(
    make_sandbox: Callable[..., Sandbox], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A persistent 401 in an operation said only "Unauthorized[401]" (issue 12): it now names the token's audience,
    the service's challenge and the field, as Test Connection does.
    """
    web_api = make_sandbox(state_dir=tmp_path)
    elsewhere = make_sandbox(state_dir=tmp_path)
    settings = sandbox_settings(web_api, token_url=elsewhere.token_url, resource=elsewhere.origin)
    host = ConnectorHost()
    try:
        connection = host.connect(CONNECTOR_ID, settings, RuntimeContext())
        documents = [{"accountid": "00000000-0000-0000-0000-000000000001"}]
        [result] = list(host.execute_operation(CONNECTOR_ID, connection, "get", {"entity_set": "accounts"}, documents))
    finally:
        host.close()
    assert result.error is not None
    assert (result.error.failure_type, result.error.status) == ("auth", 401)
    assert result.error.field == "oauth2.access_token_parameters"
    message = result.error.message
    assert f"the Web API accepts tokens for {web_api.origin}, but the token is for {elsewhere.origin}." in message
    assert f"Set the resource to {web_api.origin}" in message
    assert f"the token was for the audience {elsewhere.origin}" in message
    assert "WWW-Authenticate: Bearer authorization_uri=" in message
    assert_no_secret([message, caplog.text], [CANARY_SECRET, settings["oauth2"]["client_secret"]])


def test_principal_without_privilege_is_a_403(sandbox: Sandbox) -> None:
    report = run_test(sandbox_settings(sandbox, client="no_access"))
    version = check(report, "api_version")
    assert version.status is CheckStatus.WARNING
    assert "403" in version.message
    failure = failed_check(report)
    assert failure.name == "whoami"
    assert failure.field == "oauth2.client_id"
    assert failure.message == (
        "WhoAmI was refused (403): the principal is not a member of the organization "
        "(The user is not a member of the organization.)."
    )
    assert "application user" in failure.remediation


def test_unsupported_api_version_names_the_versions_on_offer(sandbox: Sandbox) -> None:
    report = run_test(sandbox_settings(sandbox, version="v8.2"))
    failure = failed_check(report)
    assert failure.name == "api_version"
    assert failure.field == "connection.version"
    assert failure.message == (
        f"The Web API has no version v8.2 (404 at {sandbox.origin}/api/data/v8.2/); it offers v9.0, v9.1, v9.2."
    )
    assert failure.details["offered_versions"] == "v9.0, v9.1, v9.2"


def test_a_wrong_web_api_path_is_told_apart_from_a_wrong_version(sandbox: Sandbox) -> None:
    settings = sandbox_settings(sandbox)
    settings["connection"]["web_api_path"] = "/api/odata/"
    failure = failed_check(run_test(settings))
    assert (failure.name, failure.field) == ("api_version", "connection.web_api_path")


def recorded(sb: Sandbox, count: int) -> list[Any]:
    """The sandbox's request records once it holds ``count`` (it records a request when its response is complete,
    which may be just after the client has it); what it holds after 5 s otherwise.
    """
    deadline = time.monotonic() + 5
    while len(sb.stats.requests()) < count and time.monotonic() < deadline:
        threading.Event().wait(0.01)
    return list(sb.stats.requests())


def test_a_working_test_sends_each_request_once(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox()
    assert run_test(sandbox_settings(sb)).ok
    root = "/api/data/v9.2/"
    seen = [(record.method, record.path, record.authorization) for record in recorded(sb, 5)]
    assert seen == [
        ("HEAD", root, False),
        ("POST", f"/{sb.tenant_id}/oauth2/token", False),
        ("GET", root, True),
        ("GET", f"{root}WhoAmI()", True),
        ("GET", f"{root}EntityDefinitions", True),
    ]
    assert sb.stats.snapshot()["tokens_issued"] == 1


def test_a_web_api_that_hangs_is_reported_within_the_read_timeout(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(faults=FaultSettings(latency_ms=3000, path_prefix="/api/data/v9.2/WhoAmI"))
    started = time.monotonic()
    report = run_test(sandbox_settings(sb, timeouts_ms=500))
    assert time.monotonic() - started < 3
    failure = failed_check(report)
    assert failure.name == "whoami"
    assert failure.field == "connection.base_url"
    assert failure.message == f"The connection to {sb.origin} timed out"
    assert "connection.read_timeout_ms" in failure.remediation


def test_a_token_service_outage_is_reported_without_retrying(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(faults=FaultSettings(token_outage=True))
    failure = failed_check(run_test(sandbox_settings(sb)))
    assert failure.name == "token"
    assert failure.field == "oauth2.access_token_url"
    assert "temporarily_unavailable" in failure.message
    assert [record.method for record in recorded(sb, 2)] == ["HEAD", "POST"]
