"""Settings: the API root composition table, the time-out table, the proxy table, and every-bad-field reporting."""

from __future__ import annotations

import copy
import subprocess
import sys
from typing import Any

import pytest
import requests

from connector.context import NetworkTimeouts, ProxySettings, RuntimeContext
from connector.errors import ConfigError
from connector.secrets import Secret
from connector.settings import (
    DEFAULT_TIMEOUT_MS,
    ProxyPolicy,
    compose_api_root,
    parse_settings,
    resolve_timeout,
)
from tests.support.examples import CANARY_PROXY_PASSWORD, CANARY_SECRET, CLIENT_SECRET_SETTINGS
from tests.support.paths import REPO_ROOT


def settings_with(**connection: Any) -> dict[str, Any]:
    settings = copy.deepcopy(CLIENT_SECRET_SETTINGS)
    settings["connection"].update(connection)
    return settings


# -- API root ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("protocol", "base_url", "path", "version", "expected"),
    [
        # The seed's own example.
        ("http", "boomi.crm.dynamics.com", "/api/data/", "v9.0", "http://boomi.crm.dynamics.com/api/data/v9.0/"),
        (
            "https",
            "contoso.crm4.dynamics.com",
            "/api/data/",
            "v9.2",
            "https://contoso.crm4.dynamics.com/api/data/v9.2/",
        ),
        # Missing and doubled slashes are normalised.
        ("https", "contoso.crm.dynamics.com", "api/data", "v9.2", "https://contoso.crm.dynamics.com/api/data/v9.2/"),
        (
            "https",
            "contoso.crm.dynamics.com/",
            "//api//data//",
            "v9.1/",
            "https://contoso.crm.dynamics.com/api/data/v9.1/",
        ),
        ("https", "contoso.crm.dynamics.com", "/api/data", "v9.2", "https://contoso.crm.dynamics.com/api/data/v9.2/"),
        # Ports and loopback hosts (the sandbox).
        ("http", "127.0.0.1:8080", "/api/data/", "v9.2", "http://127.0.0.1:8080/api/data/v9.2/"),
        ("https", "[::1]:8443", "/api/data/", "v9.2", "https://[::1]:8443/api/data/v9.2/"),
        (
            "https",
            " contoso.crm.dynamics.com ",
            "/api/data/",
            "v9.2",
            "https://contoso.crm.dynamics.com/api/data/v9.2/",
        ),
    ],
)
def test_api_root_composition(protocol: str, base_url: str, path: str, version: str, expected: str) -> None:
    root, errors = compose_api_root(protocol, base_url, path, version)
    assert errors == []
    assert root == expected


@pytest.mark.parametrize(
    ("base_url", "path", "version", "field", "words"),
    [
        ("https://contoso.crm.dynamics.com", "/api/data/", "v9.2", "connection.base_url", "without a scheme"),
        ("contoso.crm.dynamics.com/api", "/api/data/", "v9.2", "connection.base_url", "without a path"),
        ("contoso crm.dynamics.com", "/api/data/", "v9.2", "connection.base_url", "spaces"),
        ("contoso.crm.dynamics.com:80a", "/api/data/", "v9.2", "connection.base_url", "port"),
        ("contoso.crm.dynamics.com:70000", "/api/data/", "v9.2", "connection.base_url", "port"),
        ("contoso..dynamics.com", "/api/data/", "v9.2", "connection.base_url", "not a valid host"),
        ("user@contoso.crm.dynamics.com", "/api/data/", "v9.2", "connection.base_url", "user"),
        ("contoso.crm.dynamics.com", "/api/../data/", "v9.2", "connection.web_api_path", "'..'"),
        ("contoso.crm.dynamics.com", "/api/da ta/", "v9.2", "connection.web_api_path", "spaces"),
        ("contoso.crm.dynamics.com", "/api/data/?x=1", "v9.2", "connection.web_api_path", "query"),
        ("contoso.crm.dynamics.com", "/api/data/", "9.2", "connection.version", "v9.2"),
        ("contoso.crm.dynamics.com", "/api/data/", "v9", "connection.version", "v9.2"),
        ("contoso.crm.dynamics.com", "/api/data/", "v9.2.1", "connection.version", "v9.2"),
    ],
)
def test_api_root_rejects(base_url: str, path: str, version: str, field: str, words: str) -> None:
    root, errors = compose_api_root("https", base_url, path, version)
    assert root == ""
    assert [error.path for error in errors] == [field]
    assert words in errors[0].message


def test_http_is_allowed_with_a_warning() -> None:
    parsed = parse_settings(settings_with(protocol="http"), RuntimeContext())
    assert parsed.api_root.startswith("http://")
    assert [(d.level, d.field) for d in parsed.diagnostics] == [("warning", "connection.protocol")]


def test_defaults_fill_path_and_version() -> None:
    settings = copy.deepcopy(CLIENT_SECRET_SETTINGS)
    settings["connection"] = {"base_url": "contoso.crm.dynamics.com"}
    parsed = parse_settings(settings, RuntimeContext())
    assert parsed.api_root == "https://contoso.crm.dynamics.com/api/data/v9.2/"
    assert parsed.origin == "https://contoso.crm.dynamics.com"
    assert (parsed.web_api_path, parsed.version) == ("/api/data/", "v9.2")


# -- time-outs -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "runtime", "expected"),
    [
        (None, None, DEFAULT_TIMEOUT_MS / 1000),  # blank, runtime silent: the default, never "no timeout"
        (None, 30_000, 30.0),  # blank: the runtime's value
        (0, None, None),  # 0: wait indefinitely
        (0, 30_000, None),
        (-1, None, DEFAULT_TIMEOUT_MS / 1000),  # negative: the runtime's network time-out, else the default
        (-5000, 45_000, 45.0),
        (2500, None, 2.5),  # positive: the value
        (2500, 45_000, 2.5),
        (None, 0, DEFAULT_TIMEOUT_MS / 1000),  # a runtime "0" is not a value to inherit
    ],
)
def test_timeout_table(value: int | None, runtime: int | None, expected: float | None) -> None:
    assert resolve_timeout(value, runtime) == expected


def test_timeouts_reach_the_settings_separately() -> None:
    context = RuntimeContext(network_timeouts=NetworkTimeouts(connect_ms=5_000, read_ms=60_000))
    parsed = parse_settings(settings_with(connect_timeout_ms=None, read_timeout_ms=-1), context)
    assert parsed.timeouts.as_requests() == (5.0, 60.0)
    parsed = parse_settings(settings_with(connect_timeout_ms=1500, read_timeout_ms=0), context)
    assert parsed.timeouts.as_requests() == (1.5, None)


def test_timeout_must_be_an_integer() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(settings_with(read_timeout_ms="fast"), RuntimeContext())
    assert caught.value.fields == ["connection.read_timeout_ms"]
    assert "must be an integer or null" in caught.value.user_message


# -- proxy ---------------------------------------------------------------------------------------------------

RUNTIME_PROXY = ProxySettings(
    host="proxy.internal",
    port=3128,
    user="svc user",
    password=Secret(CANARY_PROXY_PASSWORD + "@:/"),
    non_proxy_hosts="*.mycompany.com| LOCALHOST |10.0.0.*",
)


def test_proxy_honoured_with_credentials_quoted() -> None:
    parsed = parse_settings(settings_with(honor_runtime_proxy=True), RuntimeContext(proxy=RUNTIME_PROXY))
    proxies = parsed.proxy.proxies_for(parsed.api_root)
    expected = f"http://svc%20user:{CANARY_PROXY_PASSWORD}%40%3A%2F@proxy.internal:3128"
    assert proxies == {"http": expected, "https": expected}
    assert CANARY_PROXY_PASSWORD not in repr(parsed)


@pytest.mark.parametrize(
    ("url", "direct"),
    [
        ("https://crm.mycompany.com/api/data/v9.2/", True),
        ("https://a.b.MYCOMPANY.com/", True),
        ("http://localhost:8080/", True),
        ("http://10.0.0.7/", True),
        ("https://mycompany.com/", False),  # "*.mycompany.com" needs a subdomain
        ("https://contoso.crm.dynamics.com/", False),
        ("https://login.microsoftonline.com/t/oauth2/token", False),
    ],
)
def test_non_proxy_hosts(url: str, direct: bool) -> None:
    policy = ProxyPolicy.from_runtime(True, RUNTIME_PROXY)
    assert (policy.proxies_for(url) == {}) is direct


def test_proxy_off_is_direct_even_when_the_runtime_has_one() -> None:
    parsed = parse_settings(settings_with(honor_runtime_proxy=False), RuntimeContext(proxy=RUNTIME_PROXY))
    assert parsed.proxy.enabled is False
    assert parsed.proxy.proxies_for(parsed.api_root) == {}


def test_proxy_without_credentials_and_default_port() -> None:
    policy = ProxyPolicy.from_runtime(True, ProxySettings(host="proxy.internal"))
    assert policy.proxies_for("https://x.crm.dynamics.com/") == {
        "http": "http://proxy.internal:80",
        "https": "http://proxy.internal:80",
    }


def test_honour_without_runtime_proxy_warns_and_goes_direct() -> None:
    parsed = parse_settings(settings_with(honor_runtime_proxy=True), RuntimeContext())
    assert parsed.proxy.enabled is False
    assert ("warning", "connection.honor_runtime_proxy") in [(d.level, d.field) for d in parsed.diagnostics]


def test_environment_proxies_are_ignored_when_off(monkeypatch: pytest.MonkeyPatch) -> None:
    # The proxy plan is "direct"; the transport turns off requests' trust_env so HTTPS_PROXY cannot override it.
    monkeypatch.setenv("HTTPS_PROXY", "http://env-proxy.invalid:9")
    monkeypatch.setenv("HTTP_PROXY", "http://env-proxy.invalid:9")
    parsed = parse_settings(settings_with(honor_runtime_proxy=False), RuntimeContext())
    assert parsed.proxy.proxies_for(parsed.api_root) == {}
    assert requests.utils.get_environ_proxies(parsed.api_root)  # the environment does say otherwise


# -- several bad fields at once ------------------------------------------------------------------------------


def test_every_bad_field_is_reported_at_once() -> None:
    settings = {
        "connection": {"protocol": "ftp", "base_url": "https://x.crm.dynamics.com", "version": "9", "extra": 1},
        "oauth2": {
            "grant_type": "authorization_code",
            "client_id": "",
            "client_secret": 12,
            "access_token_url": "https://login.microsoftonline.com/t/oauth2/token",
            "authorization_parameters": [{"name": "prompt", "value": "login"}],
            "refresh_margin_seconds": -4,
        },
        "surprise": {},
    }
    with pytest.raises(ConfigError) as caught:
        parse_settings(settings, RuntimeContext())
    assert set(caught.value.fields) == {
        "surprise",
        "connection.protocol",
        "connection.base_url",
        "connection.version",
        "connection.extra",
        "oauth2.client_id",
        "oauth2.client_secret",
        "oauth2.authorization_parameters",
        "oauth2.refresh_margin_seconds",
    }
    message = caught.value.user_message
    assert "must include a 'resource' parameter" in message
    assert "must be one of https, http (got 'ftp')" in message


def test_bad_secret_value_is_not_echoed() -> None:
    settings = copy.deepcopy(CLIENT_SECRET_SETTINGS)
    settings["oauth2"]["client_secret"] = ""
    with pytest.raises(ConfigError) as caught:
        parse_settings(settings, RuntimeContext())
    assert caught.value.fields == ["oauth2.client_secret"]
    settings["oauth2"]["client_secret"] = [CANARY_SECRET]
    with pytest.raises(ConfigError) as caught:
        parse_settings(settings, RuntimeContext())
    assert CANARY_SECRET not in str(caught.value)


def test_settings_are_immutable() -> None:
    parsed = parse_settings(CLIENT_SECRET_SETTINGS, RuntimeContext())
    with pytest.raises(AttributeError):
        parsed.api_root = "https://elsewhere/"  # type: ignore[misc]


def test_secrets_are_wrapped() -> None:
    parsed = parse_settings(CLIENT_SECRET_SETTINGS, RuntimeContext())
    assert isinstance(parsed.oauth.client_secret, Secret)
    assert parsed.oauth.client_secret.reveal() == CANARY_SECRET
    assert CANARY_SECRET not in repr(parsed)
    assert CANARY_SECRET not in f"{parsed.oauth.client_secret}"


# -- layering ------------------------------------------------------------------------------------------------


def test_parsing_settings_imports_nothing_of_auth() -> None:
    """The OAuth tab is parsed by ``connector.oauth_settings``: settings and auth no longer import each other."""
    code = (
        "import sys, connector.settings, connector.oauth_settings; "
        "print(sorted(name for name in sys.modules if name.startswith('connector.auth')))"
    )
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    assert shown.stdout.strip() == "[]"
