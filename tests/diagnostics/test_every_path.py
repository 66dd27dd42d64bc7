"""One diagnosis on every path (issue 12): a runtime proxy that refuses or cannot be reached, and a certificate that is
not trusted, not for the host or expired, get from ``authorize`` and from an operation the configuration error Test
Connection gives: the same field and the same words, never a ``TransientError`` blaming ``oauth2.access_token_url``.
A real tinyproxy, the sandbox over TLS and TLS servers with a certificate of their own; everything on loopback.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from connector.context import NetworkTimeouts, ProxySettings, RuntimeContext
from connector.errors import ConfigError, ConnectorError
from connector.host.facade import ConnectorHost
from connector.results import Check, OperationResult
from connector.secrets import Secret
from dataverse_sandbox.server import Sandbox
from tests.support.diagnostics import (
    CANARY_PROXY_PASSWORD,
    CANARY_SECRET,
    TinyProxy,
    TlsServer,
    assert_no_secret,
    failed_check,
    free_port,
    log_text,
    run_test,
    sandbox_settings,
)

pytestmark = pytest.mark.usefixtures("loopback_only")

CONNECTOR_ID = "dynamics365-ce"
RECORD = {"accountid": "00000000-0000-0000-0000-000000000001"}
GET_OPTIONS = {"entity_set": "accounts"}


@dataclass
class Paths:
    """What each path said about one broken set-up."""

    check: Check
    authorize: ConnectorError
    operation: OperationResult


def every_path(settings: dict[str, Any], context: RuntimeContext) -> Paths:
    """Run Test Connection, ``authorize`` and a Get through the reference host, as a host would."""
    report = run_test(settings, context)
    check = failed_check(report)
    host = ConnectorHost()
    try:
        connection = host.connect(CONNECTOR_ID, settings, context)
        with pytest.raises(ConnectorError) as authorize:
            host.authorize(CONNECTOR_ID, connection, "token")
        [operation] = list(host.execute_operation(CONNECTOR_ID, connection, "get", GET_OPTIONS, [RECORD]))
    finally:
        host.close()
    return Paths(check, authorize.value, operation)


def assert_same_diagnosis(paths: Paths, field: str, check_name: str | None = None) -> None:
    check, authorize, operation = paths.check, paths.authorize, paths.operation
    if check_name is not None:
        assert check.name == check_name
    assert check.field == field
    assert isinstance(authorize, ConfigError), repr(authorize)
    assert authorize.fields == [field]
    assert check.message in authorize.user_message
    assert check.remediation is not None
    assert check.remediation in authorize.user_message
    assert operation.error is not None
    assert (operation.error.failure_type, operation.error.field) == ("config", field)
    assert check.message in operation.error.message


def proxy_context(port: int, *, user: str | None = None, password: str | None = None) -> RuntimeContext:
    return RuntimeContext(
        proxy=ProxySettings(host="127.0.0.1", port=port, user=user, password=Secret(password) if password else None),
        network_timeouts=NetworkTimeouts(5000, 5000),
    )


# -- the runtime proxy ---------------------------------------------------------------------------------------------


def test_proxy_credentials_refused(
    sandbox: Sandbox, tinyproxy: Callable[..., TinyProxy], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    proxy = tinyproxy(basic_auth=("diag-user", "the-right-password"))
    settings = sandbox_settings(sandbox, honor_proxy=True, secret=None)
    paths = every_path(settings, proxy_context(proxy.port, user="diag-user", password=CANARY_PROXY_PASSWORD))
    assert_same_diagnosis(paths, "runtime.proxy.password", "host.proxy")
    assert "refused the user 'diag-user' and its password" in paths.authorize.user_message
    authorize = paths.authorize
    texts = [authorize.user_message, authorize.internal_message, str(paths.operation), log_text(caplog.records)]
    assert_no_secret(texts, [CANARY_PROXY_PASSWORD, CANARY_SECRET, settings["oauth2"]["client_secret"]])


def test_a_proxy_that_wants_credentials_and_gets_none(sandbox: Sandbox, tinyproxy: Callable[..., TinyProxy]) -> None:
    proxy = tinyproxy(basic_auth=("diag-user", "the-right-password"))
    paths = every_path(sandbox_settings(sandbox, honor_proxy=True), proxy_context(proxy.port))
    assert_same_diagnosis(paths, "runtime.proxy.user", "host.proxy")


def test_a_proxy_that_is_not_running(sandbox: Sandbox) -> None:
    """Was: "The token service at … could not be reached" naming oauth2.access_token_url, as transient."""
    paths = every_path(sandbox_settings(sandbox, honor_proxy=True), proxy_context(free_port()))
    assert_same_diagnosis(paths, "runtime.proxy.port", "host.tcp")
    assert "Could not connect to the runtime proxy 127.0.0.1:" in paths.authorize.user_message


def test_credentials_refused_by_a_proxy_tunnelling_https(
    make_sandbox: Callable[..., Sandbox], tinyproxy: Callable[..., TinyProxy]
) -> None:
    sb = make_sandbox(tls=True)
    proxy = tinyproxy(basic_auth=("diag-user", "the-right-password"))
    context = proxy_context(proxy.port, user="diag-user", password=CANARY_PROXY_PASSWORD)
    assert sb.ca_cert_path is not None
    context = RuntimeContext(
        proxy=context.proxy, network_timeouts=context.network_timeouts, ca_bundle=str(sb.ca_cert_path)
    )
    paths = every_path(sandbox_settings(sb, honor_proxy=True), context)
    assert_same_diagnosis(paths, "runtime.proxy.password", "host.proxy")


# -- TLS -----------------------------------------------------------------------------------------------------------


def test_an_untrusted_certificate(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(tls=True)
    paths = every_path(sandbox_settings(sb), RuntimeContext(network_timeouts=NetworkTimeouts(5000, 5000)))
    assert_same_diagnosis(paths, "runtime.ca_bundle", "host.tls")
    assert "is not trusted" in paths.authorize.user_message


def tls_settings(sandbox: Sandbox, server: TlsServer, *, token_there: bool) -> dict[str, Any]:
    token_url = f"https://{server.authority}/tenant/oauth2/token" if token_there else None
    settings = sandbox_settings(sandbox, base_url=server.authority, token_url=token_url)
    settings["connection"]["protocol"] = "https"
    return settings


@pytest.mark.parametrize(
    ("names", "expired", "words"),
    [
        (("elsewhere.example",), False, "is not valid for the name 127.0.0.1"),
        (("127.0.0.1",), True, "has expired"),
    ],
    ids=["another name", "expired"],
)
def test_a_certificate_for_another_name_or_expired_names_the_url_not_the_ca_bundle(
    sandbox: Sandbox,
    tls_server: Callable[..., TlsServer],
    names: tuple[str, ...],
    expired: bool,
    words: str,
) -> None:
    """Operations blamed the CA bundle for every TLS failure (issue 12); the URL is what to fix."""
    server = tls_server(names, expired=expired)
    context = RuntimeContext(ca_bundle=str(server.ca_path), network_timeouts=NetworkTimeouts(5000, 5000))
    paths = every_path(tls_settings(sandbox, server, token_there=True), context)
    assert_same_diagnosis(paths, "connection.base_url", "host.tls")
    assert words in paths.authorize.user_message


def test_a_web_api_certificate_for_another_name_fails_operations_but_not_authorize(
    sandbox: Sandbox, tls_server: Callable[..., TlsServer]
) -> None:
    server = tls_server(("elsewhere.example",))
    context = RuntimeContext(ca_bundle=str(server.ca_path), network_timeouts=NetworkTimeouts(5000, 5000))
    settings = tls_settings(sandbox, server, token_there=False)
    check = failed_check(run_test(settings, context))
    assert (check.name, check.field) == ("api_host.tls", "connection.base_url")
    host = ConnectorHost()
    try:
        connection = host.connect(CONNECTOR_ID, settings, context)
        assert host.authorize(CONNECTOR_ID, connection, "token")  # the token endpoint is the (plain http) sandbox
        [operation] = list(host.execute_operation(CONNECTOR_ID, connection, "get", GET_OPTIONS, [RECORD]))
    finally:
        host.close()
    assert operation.error is not None
    assert (operation.error.failure_type, operation.error.field) == ("config", "connection.base_url")
    assert check.message in operation.error.message


@pytest.mark.parametrize("content", [None, "not a certificate\n"], ids=["missing", "no certificate in it"])
def test_an_unreadable_ca_bundle(make_sandbox: Callable[..., Sandbox], tmp_path: Path, content: str | None) -> None:
    sb = make_sandbox(tls=True)
    bundle = tmp_path / "bundle.pem"
    if content is not None:
        bundle.write_text(content, encoding="utf-8")
    context = RuntimeContext(ca_bundle=str(bundle), network_timeouts=NetworkTimeouts(5000, 5000))
    paths = every_path(sandbox_settings(sb), context)
    assert_same_diagnosis(paths, "runtime.ca_bundle", "host.tls")
    assert "could not be read" in paths.authorize.user_message
