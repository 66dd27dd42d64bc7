"""Test Connection's network checks, end to end through the reference host: unknown host, closed port, a server
that never answers, TLS trust, and the runtime proxy (a real tinyproxy) with credentials and non-proxy hosts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest

from connector.context import NetworkTimeouts, ProxySettings, RuntimeContext
from connector.host.report_view import render_json, render_text
from connector.results import CheckStatus, TestReport
from connector.secrets import Secret
from dataverse_sandbox.server import Sandbox
from tests.support.diagnostics import (
    CANARY_PROXY_PASSWORD,
    CANARY_SECRET,
    HangingServer,
    TinyProxy,
    assert_no_secret,
    check,
    failed_check,
    free_port,
    run_test,
    sandbox_settings,
)

pytestmark = pytest.mark.usefixtures("loopback_only")


def no_secret_anywhere(report: TestReport, caplog: pytest.LogCaptureFixture, *secrets: str) -> None:
    assert_no_secret([render_text(report), render_json(report), caplog.text], [CANARY_SECRET, *secrets])


def test_a_working_connection_passes_every_check(sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    settings = sandbox_settings(sandbox, timeouts_ms=5000)
    report = run_test(settings)
    assert report.ok
    names = [item.name for item in report.checks]
    assert names == [
        "settings",
        "api_root",
        "host.dns",
        "host.tcp",
        "host.http",
        "token",
        "api_version",
        "whoami",
        "metadata",
    ]
    assert check(report, "api_root").status is CheckStatus.WARNING  # the sandbox is plain http
    assert check(report, "api_root").field == "connection.protocol"
    assert check(report, "host.dns").details["addresses"] == "127.0.0.1"
    no_secret_anywhere(report, caplog, settings["oauth2"]["client_secret"])


def test_unknown_api_host(sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    report = run_test(sandbox_settings(sandbox, secret=CANARY_SECRET, base_url="unknown-host.invalid"))
    assert check(report, "token_host.dns").status is CheckStatus.PASSED
    failure = failed_check(report)
    assert failure.name == "api_host.dns"
    assert failure.field == "connection.base_url"
    assert failure.message.startswith("The Web API host name unknown-host.invalid could not be resolved")
    no_secret_anywhere(report, caplog)


def test_unknown_token_host(sandbox: Sandbox) -> None:
    token_url = "https://login.unknown-host.invalid/tenant/oauth2/token"
    report = run_test(sandbox_settings(sandbox, secret=CANARY_SECRET, token_url=token_url))
    failure = failed_check(report)
    assert failure.name == "token_host.dns"
    assert failure.field == "oauth2.access_token_url"
    assert "token endpoint host name login.unknown-host.invalid could not be resolved" in failure.message


def test_closed_port(sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    port = free_port()
    settings = sandbox_settings(
        sandbox, secret=CANARY_SECRET, base_url=f"127.0.0.1:{port}", token_url=f"http://127.0.0.1:{port}/t/oauth2/token"
    )
    report = run_test(settings)
    failure = failed_check(report)
    assert failure.name == "host.tcp"
    assert failure.field == "connection.base_url"
    assert failure.message == (
        f"Could not connect to the token endpoint and Web API at 127.0.0.1:{port} "
        "(connection refused: nothing listens on that port)."
    )
    no_secret_anywhere(report, caplog)


def test_a_server_that_never_answers_fails_at_the_read_timeout(sandbox: Sandbox, hanging_server: HangingServer) -> None:
    where = f"127.0.0.1:{hanging_server.port}"
    settings = sandbox_settings(
        sandbox, secret=CANARY_SECRET, base_url=where, token_url=f"http://{where}/t/oauth2/token", timeouts_ms=500
    )
    started = time.monotonic()
    report = run_test(settings)
    assert time.monotonic() - started < 5
    assert check(report, "host.tcp").status is CheckStatus.PASSED
    failure = failed_check(report)
    assert failure.name == "host.http"
    assert failure.field == "connection.base_url"
    assert failure.message == (f"{where} accepted the connection but sent no answer within the read time-out of 0.5 s.")
    assert "connection.read_timeout_ms" in failure.remediation


def test_a_server_that_never_completes_tls_fails_at_the_connect_timeout(
    sandbox: Sandbox, hanging_server: HangingServer
) -> None:
    where = f"127.0.0.1:{hanging_server.port}"
    settings = sandbox_settings(sandbox, base_url=where, token_url=f"https://{where}/t/oauth2/token", timeouts_ms=500)
    settings["connection"]["protocol"] = "https"
    started = time.monotonic()
    report = run_test(settings)
    assert time.monotonic() - started < 5
    failure = failed_check(report)
    assert failure.name == "host.tls"
    assert "did not complete the TLS handshake within the connect time-out of 0.5 s" in failure.message


def test_tls_untrusted_then_trusted_with_the_runtime_ca_bundle(
    make_sandbox: Callable[..., Sandbox], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    sb = make_sandbox(tls=True)
    settings = sandbox_settings(sb, timeouts_ms=5000)
    untrusted = run_test(settings)
    failure = failed_check(untrusted)
    assert failure.name == "host.tls"
    assert failure.field == "runtime.ca_bundle"
    assert failure.message.startswith(f"The certificate of {urlsplit(sb.origin).netloc} is not trusted")
    assert "the default CA bundle" in failure.message

    assert sb.ca_cert_path is not None
    trusted = run_test(settings, RuntimeContext(ca_bundle=str(sb.ca_cert_path)))
    assert trusted.ok, render_text(trusted)
    tls = check(trusted, "host.tls")
    assert tls.status is CheckStatus.PASSED
    assert tls.details["protocol"].startswith("TLSv1.")
    assert all(item.status is CheckStatus.PASSED for item in trusted.checks)
    no_secret_anywhere(trusted, caplog, settings["oauth2"]["client_secret"])


def test_an_unreadable_ca_bundle_names_the_runtime_field(make_sandbox: Callable[..., Sandbox], tmp_path: str) -> None:
    sb = make_sandbox(tls=True)
    report = run_test(sandbox_settings(sb), RuntimeContext(ca_bundle=f"{tmp_path}/missing.pem"))
    failure = failed_check(report)
    assert (failure.name, failure.field) == ("host.tls", "runtime.ca_bundle")
    assert "could not be read" in failure.message


def proxy_context(
    proxy: TinyProxy, *, user: str | None = None, password: str | None = None, bypass: str = ""
) -> RuntimeContext:
    return RuntimeContext(
        proxy=ProxySettings(
            host="127.0.0.1",
            port=proxy.port,
            user=user,
            password=Secret(password) if password else None,
            non_proxy_hosts=bypass,
        ),
        network_timeouts=NetworkTimeouts(5000, 5000),
    )


def test_the_runtime_proxy_carries_every_request(sandbox: Sandbox, tinyproxy: Callable[..., TinyProxy]) -> None:
    proxy = tinyproxy()
    report = run_test(sandbox_settings(sandbox, honor_proxy=True), proxy_context(proxy))
    assert report.ok, render_text(report)
    assert check(report, "host.dns").details["route"] == f"through the runtime proxy 127.0.0.1:{proxy.port}"
    assert check(report, "host.proxy").status is CheckStatus.PASSED
    seen = proxy.requests()
    api = sandbox.api_root
    assert f"HEAD {api} HTTP/1.1" in seen
    assert f"POST {sandbox.token_url} HTTP/1.1" in seen
    assert f"GET {api}WhoAmI() HTTP/1.1" in seen


def test_the_runtime_proxy_tunnels_https(
    make_sandbox: Callable[..., Sandbox], tinyproxy: Callable[..., TinyProxy]
) -> None:
    sb = make_sandbox(tls=True)
    proxy = tinyproxy()
    context = proxy_context(proxy)
    assert sb.ca_cert_path is not None
    context = RuntimeContext(proxy=context.proxy, ca_bundle=str(sb.ca_cert_path))
    report = run_test(sandbox_settings(sb, honor_proxy=True), context)
    assert report.ok, render_text(report)
    assert [item.name for item in report.checks][2:7] == ["host.dns", "host.tcp", "host.proxy", "host.tls", "host.http"]
    assert f"CONNECT {urlsplit(sb.origin).netloc} HTTP/1.1" in proxy.requests()


def test_proxy_credentials_refused_are_reported_as_proxy_authentication(
    sandbox: Sandbox, tinyproxy: Callable[..., TinyProxy], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    proxy = tinyproxy(basic_auth=("diag-user", "the-right-password"))
    context = proxy_context(proxy, user="diag-user", password=CANARY_PROXY_PASSWORD)
    report = run_test(sandbox_settings(sandbox, honor_proxy=True), context)
    failure = failed_check(report)
    assert failure.name == "host.proxy"
    assert failure.field == "runtime.proxy.password"
    # Proxies answer 407; tinyproxy before 1.11.2 answers 401 with a Basic challenge (tinyproxy/tinyproxy#532).
    assert failure.message in {
        f"The runtime proxy 127.0.0.1:{proxy.port} refused the user 'diag-user' and its password ({answer})."
        for answer in ("407 Proxy Authentication Required", "401 Unauthorized with a Basic challenge")
    }
    no_secret_anywhere(report, caplog, CANARY_PROXY_PASSWORD)


def test_a_proxy_that_wants_credentials_and_gets_none_names_the_user(
    sandbox: Sandbox, tinyproxy: Callable[..., TinyProxy]
) -> None:
    proxy = tinyproxy(basic_auth=("diag-user", "the-right-password"))
    report = run_test(sandbox_settings(sandbox, honor_proxy=True), proxy_context(proxy))
    failure = failed_check(report)
    assert (failure.name, failure.field) == ("host.proxy", "runtime.proxy.user")
    assert "requires authentication (407" in failure.message


def test_proxy_credentials_accepted(sandbox: Sandbox, tinyproxy: Callable[..., TinyProxy]) -> None:
    proxy = tinyproxy(basic_auth=("diag-user", CANARY_PROXY_PASSWORD))
    context = proxy_context(proxy, user="diag-user", password=CANARY_PROXY_PASSWORD)
    report = run_test(sandbox_settings(sandbox, honor_proxy=True), context)
    assert report.ok, render_text(report)
    assert f"GET {sandbox.api_root}WhoAmI() HTTP/1.1" in proxy.requests()


def test_a_non_proxy_host_bypasses_the_proxy(sandbox: Sandbox, tinyproxy: Callable[..., TinyProxy]) -> None:
    proxy = tinyproxy()
    port = urlsplit(sandbox.origin).port
    token_url = sandbox.token_url.replace("127.0.0.1", "localhost")
    settings = sandbox_settings(sandbox, honor_proxy=True, token_url=token_url)
    report = run_test(settings, proxy_context(proxy, bypass="127.0.0.1|*.example"))
    assert report.ok, render_text(report)
    assert check(report, "token_host.proxy").status is CheckStatus.PASSED
    assert "api_host.proxy" not in [item.name for item in report.checks]
    assert check(report, "api_host.tcp").details["route"] == (
        "directly (the host matches the runtime proxy's non-proxy hosts)"
    )
    seen = proxy.requests()
    assert f"POST {token_url} HTTP/1.1" in seen
    assert not [line for line in seen if f"127.0.0.1:{port}" in line]
