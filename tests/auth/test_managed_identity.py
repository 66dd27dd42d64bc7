"""Managed identity end to end against the sandbox's loopback metadata endpoints, through the hooks: IMDS and App
Service, system- and user-assigned identities (by client id, object id, resource id); the token is cached and
renewed like client credentials; Test Connection names the field to fix when the endpoint is unreachable, the
identity is not assigned or the App Service header is wrong. Nothing here contacts 169.254.169.254.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest

from connector.auth.managed_identity import managed_identity_url
from connector.auth.tokens import build_token_source
from connector.context import RuntimeContext
from connector.errors import AuthError, ConfigError
from connector.host.facade import ConnectorHost
from connector.host.loader import get_plugin_manager
from connector.live import has_own_settings
from connector.oauth_settings import IMDS_ENDPOINT
from connector.results import CheckStatus, TokenSet
from connector.settings import ProxyPolicy, parse_settings
from connector.transport import Transport
from dataverse_sandbox.config import SandboxConfig
from dataverse_sandbox.contracts import ClientRegistration
from dataverse_sandbox.entra.managed_identity import APP_SERVICE_PATH, IMDS_PATH, ManagedIdentityEndpoint
from dataverse_sandbox.limits import LimitSettings
from dataverse_sandbox.server import Sandbox
from tests.support.auth import RecordingStore
from tests.support.diagnostics import check, failed_check
from tests.support.sandbox import start_sandbox

CONNECTOR = "dynamics365-ce"
SYSTEM = ClientRegistration(client_id=str(uuid.UUID(int=0x5)), display_name="VM system identity")
USER = ClientRegistration(
    client_id=str(uuid.UUID(int=0x11)), display_name="User-assigned identity", object_id=str(uuid.UUID(int=0x12))
)
USER_RESOURCE_ID = (
    "/subscriptions/0000/resourcegroups/integration/providers/Microsoft.ManagedIdentity/userAssignedIdentities/etl"
)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    sb = start_sandbox(SandboxConfig(limits=LimitSettings(enabled=False)))
    endpoint = identities(sb)
    endpoint.assign(SYSTEM, system=True)
    endpoint.assign(USER, resource_id=USER_RESOURCE_ID)
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture(scope="module")
def host() -> Iterator[ConnectorHost]:
    connector_host = ConnectorHost(get_plugin_manager(environ={}), trace=False)
    yield connector_host
    connector_host.close()


def identities(sb: Sandbox) -> ManagedIdentityEndpoint:
    assert sb.token_service is not None
    return sb.token_service.managed_identity


def settings(sb: Sandbox, kind: str = "imds", **oauth: Any) -> dict[str, Any]:
    parts = urlsplit(sb.origin)
    tab: dict[str, Any] = {
        "grant_type": "managed_identity",
        "resource": sb.origin,
        "identity_endpoint_type": kind,
        "identity_endpoint": sb.origin + (IMDS_PATH if kind == "imds" else APP_SERVICE_PATH),
    }
    if kind == "app_service":
        tab["identity_header"] = identities(sb).identity_header
    tab.update(oauth)
    return {"connection": {"protocol": parts.scheme, "base_url": parts.netloc}, "oauth2": tab}


def report_of(raw: dict[str, Any]) -> Any:
    connector_host = ConnectorHost(get_plugin_manager(environ={}), trace=False)
    try:
        connection = connector_host.connect(CONNECTOR, raw, RuntimeContext(token_store=RecordingStore()))
        return connector_host.test(CONNECTOR, connection)
    finally:
        connector_host.close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    ("kind", "identity", "identity_id", "appid"),
    [
        ("imds", "system", None, SYSTEM.client_id),
        ("imds", "client_id", USER.client_id, USER.client_id),
        ("imds", "object_id", USER.object_id, USER.client_id),
        ("imds", "resource_id", USER_RESOURCE_ID, USER.client_id),
        ("app_service", "system", None, SYSTEM.client_id),
        ("app_service", "client_id", USER.client_id, USER.client_id),
        ("app_service", "object_id", USER.object_id, USER.client_id),
        ("app_service", "resource_id", USER_RESOURCE_ID, USER.client_id),
    ],
)
def test_test_connection_passes_with_each_endpoint_and_identity(
    sandbox: Sandbox, kind: str, identity: str, identity_id: str | None, appid: str
) -> None:
    extra = {"identity": identity} | ({"identity_id": identity_id} if identity_id else {})
    connector_host = ConnectorHost(get_plugin_manager(environ={}), trace=False)
    try:
        connection = connector_host.connect(CONNECTOR, settings(sandbox, kind, **extra), RuntimeContext())
        token_set = connector_host.authorize(CONNECTOR, connection, "token")
    finally:
        connector_host.close()
    assert isinstance(token_set, TokenSet)
    claims = jwt.decode(token_set.access_token, options={"verify_signature": False})
    assert (claims["appid"], claims["aud"]) == (appid, sandbox.origin)
    report = report_of(settings(sandbox, kind, **extra))
    assert report.ok, [(c.name, c.status.value, c.message) for c in report.checks]
    token = check(report, "token")
    assert token.details["grant"].startswith(f"managed identity ({kind.replace('_', ' ')}, {identity})")
    assert check(report, "whoami").status is CheckStatus.PASSED


def test_the_token_is_cached_and_renewed_before_it_expires(sandbox: Sandbox) -> None:
    context = RuntimeContext(token_store=RecordingStore())
    parsed = parse_settings(settings(sandbox), context)
    source = build_token_source(parsed, context, clock=sandbox.clock.now)
    transport = Transport(parsed, bearer=source, sleep=lambda _seconds: None)
    endpoint = identities(sandbox)
    before = endpoint.requests
    first = source.bearer()
    assert source.bearer() == first
    assert endpoint.requests == before + 1
    sandbox.clock.advance(3600 - parsed.oauth.refresh_margin_seconds + 1)
    renewed = source.bearer()
    assert renewed != first
    assert endpoint.requests == before + 2
    transport.close()


def test_app_service_endpoint_and_header_come_from_the_environment(
    sandbox: Sandbox, host: ConnectorHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDENTITY_ENDPOINT", sandbox.origin + APP_SERVICE_PATH)
    monkeypatch.setenv("IDENTITY_HEADER", identities(sandbox).identity_header)
    raw = settings(sandbox, "auto")
    del raw["oauth2"]["identity_endpoint"]
    connection = host.connect(CONNECTOR, raw, RuntimeContext(token_store=RecordingStore()))
    assert has_own_settings(connection)
    assert connection.settings.oauth.managed_identity is not None
    assert connection.settings.oauth.managed_identity.endpoint_type == "app_service"
    assert isinstance(host.authorize(CONNECTOR, connection, "token"), TokenSet)


def test_without_app_service_variables_auto_means_imds_at_its_well_known_address(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IDENTITY_ENDPOINT", raising=False)
    monkeypatch.delenv("IDENTITY_HEADER", raising=False)
    raw = settings(sandbox, "auto", identity="client_id", identity_id=USER.client_id)
    del raw["oauth2"]["identity_endpoint"]
    managed = parse_settings(raw, RuntimeContext()).oauth.managed_identity
    assert managed is not None
    assert (managed.endpoint_type, managed.endpoint) == ("imds", IMDS_ENDPOINT)
    assert managed_identity_url(managed) == (
        f"{IMDS_ENDPOINT}?api-version=2018-02-01&resource={sandbox.origin.replace(':', '%3A').replace('/', '%2F')}"
        f"&client_id={USER.client_id}"
    )


@pytest.mark.parametrize("kind", ["imds", "app_service"])
def test_a_user_assigned_identity_not_assigned_names_the_identity_id(sandbox: Sandbox, kind: str) -> None:
    failure = failed_check(report_of(settings(sandbox, kind, identity="client_id", identity_id=str(uuid.uuid4()))))
    assert (failure.name, failure.field) == ("token", "oauth2.identity_id")
    assert "is not assigned to this machine" in failure.message
    assert "Assign this user-assigned identity" in failure.remediation


def test_no_system_assigned_identity_names_the_identity(sandbox: Sandbox) -> None:
    endpoint = identities(sandbox)
    endpoint.unassign_all()
    try:
        failure = failed_check(report_of(settings(sandbox)))
    finally:
        endpoint.assign(SYSTEM, system=True)
        endpoint.assign(USER, resource_id=USER_RESOURCE_ID)
    assert (failure.name, failure.field) == ("token", "oauth2.identity")
    assert "no system-assigned identity" in failure.message


def test_a_wrong_app_service_header_names_the_header(sandbox: Sandbox) -> None:
    failure = failed_check(report_of(settings(sandbox, "app_service", identity_header="not-the-header")))
    assert (failure.name, failure.field) == ("token", "oauth2.identity_header")
    assert "not-the-header" not in failure.message


def test_an_unknown_resource_names_the_resource(sandbox: Sandbox) -> None:
    failure = failed_check(report_of(settings(sandbox, resource="https://other.crm.dynamics.com")))
    assert (failure.name, failure.field) == ("token", "oauth2.resource")


def test_an_unreachable_metadata_endpoint_names_the_endpoint(sandbox: Sandbox) -> None:
    url = f"http://127.0.0.1:{closed_port()}{IMDS_PATH}"
    failure = failed_check(report_of(settings(sandbox, identity_endpoint=url)))
    assert failure.name.endswith(".tcp")
    assert failure.field == "oauth2.identity_endpoint"


@pytest.mark.parametrize(
    ("oauth", "field"),
    [
        ({"identity": "object_id"}, "oauth2.identity_id"),
        ({"identity_endpoint_type": "app_service", "identity_endpoint": ""}, "oauth2.identity_endpoint"),
    ],
)
def test_incomplete_settings_are_field_errors_of_connect(
    sandbox: Sandbox, host: ConnectorHost, monkeypatch: pytest.MonkeyPatch, oauth: dict[str, Any], field: str
) -> None:
    monkeypatch.delenv("IDENTITY_ENDPOINT", raising=False)
    monkeypatch.delenv("IDENTITY_HEADER", raising=False)
    with pytest.raises(ConfigError) as invalid:
        host.connect(CONNECTOR, settings(sandbox, **oauth), RuntimeContext())
    assert field in [error.path for error in invalid.value.errors]


def test_a_refusal_through_the_authorize_hook_is_an_auth_error(sandbox: Sandbox, host: ConnectorHost) -> None:
    raw = settings(sandbox, identity="resource_id", identity_id="/subscriptions/0000/unknown")
    connection = host.connect(CONNECTOR, raw, RuntimeContext(token_store=RecordingStore()))
    with pytest.raises(AuthError) as refused:
        host.authorize(CONNECTOR, connection, "token")
    assert refused.value.field == "oauth2.identity_id"


def test_the_metadata_service_is_never_reached_through_the_runtime_proxy() -> None:
    policy = ProxyPolicy(enabled=True, host="proxy.example", port=3128)
    assert policy.proxies_for(IMDS_ENDPOINT) == {}
    assert policy.proxies_for("https://contoso.crm.dynamics.com/api/data/v9.2/")
