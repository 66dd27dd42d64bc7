"""The reference host's config file: references to the environment and to files, and the runtime section."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connector.context import MemoryTokenStore
from connector.host.config_file import ConfigFileError, load_config_file
from tests.support.diagnostics import CANARY_PROXY_PASSWORD, CANARY_SECRET


def write(directory: Path, data: Any, name: str = "config.json") -> Path:
    path = directory / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


BASE: dict[str, Any] = {
    "connection": {"base_url": "contoso.crm.dynamics.com"},
    "oauth2": {
        "grant_type": "client_credentials",
        "client_id": "app",
        "client_secret": {"$env": "DIAG_CLIENT_SECRET"},
        "access_token_url": "https://login.microsoftonline.com/t/oauth2/token",
        "access_token_parameters": [{"name": "resource", "value": {"$env": "DIAG_RESOURCE"}}],
    },
}
ENV = {"DIAG_CLIENT_SECRET": CANARY_SECRET, "DIAG_RESOURCE": "https://contoso.crm.dynamics.com"}


def test_env_references_resolve_anywhere(tmp_path: Path) -> None:
    config = load_config_file(write(tmp_path, BASE), environ=ENV)
    assert config.settings["oauth2"]["client_secret"] == CANARY_SECRET
    assert config.settings["oauth2"]["access_token_parameters"][0]["value"] == "https://contoso.crm.dynamics.com"
    assert CANARY_SECRET in config.secrets
    assert CANARY_SECRET not in repr(config)
    assert isinstance(config.context.token_store, MemoryTokenStore)


def test_a_missing_variable_names_it_and_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError) as caught:
        load_config_file(write(tmp_path, BASE), environ={"DIAG_RESOURCE": "x"})
    assert caught.value.user_message == (
        f"{tmp_path / 'config.json'}: oauth2.client_secret: refers to the environment variable DIAG_CLIENT_SECRET, "
        "which is not set"
    )
    assert caught.value.field == "oauth2.client_secret"


def test_every_missing_variable_is_listed(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError) as caught:
        load_config_file(write(tmp_path, BASE), environ={})
    assert [problem.path for problem in caught.value.problems] == [
        "oauth2.access_token_parameters[0].value",
        "oauth2.client_secret",
    ]


def test_file_references_are_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "client_secret").write_text(CANARY_SECRET + "\n", encoding="utf-8")
    data = json.loads(json.dumps(BASE))
    data["oauth2"]["client_secret"] = {"$file": "secrets/client_secret"}
    config = load_config_file(write(tmp_path, data), environ=ENV)
    assert config.settings["oauth2"]["client_secret"] == CANARY_SECRET


def test_an_unreadable_file_reference_is_an_error(tmp_path: Path) -> None:
    data = json.loads(json.dumps(BASE))
    data["oauth2"]["client_secret"] = {"$file": "nowhere"}
    with pytest.raises(ConfigFileError, match=r"oauth2.client_secret: refers to the file .*nowhere, which cannot"):
        load_config_file(write(tmp_path, data), environ=ENV)


@pytest.mark.parametrize("reference", [{"$env": "A", "extra": 1}, {"$env": 5}, {"$env": "A", "$file": "b"}])
def test_a_malformed_reference_is_an_error(tmp_path: Path, reference: dict[str, Any]) -> None:
    data = json.loads(json.dumps(BASE))
    data["oauth2"]["client_id"] = reference
    with pytest.raises(ConfigFileError, match=r"oauth2.client_id: a reference must be exactly"):
        load_config_file(write(tmp_path, data), environ={**ENV, "A": "a"})


@pytest.mark.parametrize(("text", "message"), [("{", "is not valid JSON"), ("[1]", "must hold a JSON object")])
def test_a_file_that_is_not_a_json_object(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigFileError, match=message):
        load_config_file(path, environ={})


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="cannot be read"):
        load_config_file(tmp_path / "absent.json", environ={})


def test_the_runtime_section_becomes_the_context(tmp_path: Path) -> None:
    data = {
        **BASE,
        "runtime": {
            "proxy": {
                "host": "127.0.0.1",
                "port": 3128,
                "user": "svc",
                "password": {"$env": "DIAG_PROXY_PASSWORD"},
                "non_proxy_hosts": "*.corp|localhost",
            },
            "timeouts": {"connect_ms": 1500, "read_ms": None},
            "ca_bundle": "ca.pem",
            "callback_url": "http://localhost/callback",
        },
    }
    config = load_config_file(write(tmp_path, data), environ={**ENV, "DIAG_PROXY_PASSWORD": CANARY_PROXY_PASSWORD})
    context = config.context
    assert "runtime" not in config.settings
    assert (context.proxy.host, context.proxy.port, context.proxy.user) == ("127.0.0.1", 3128, "svc")
    assert context.proxy.password is not None
    assert context.proxy.password.reveal() == CANARY_PROXY_PASSWORD
    assert context.proxy.non_proxy_hosts == "*.corp|localhost"
    assert (context.network_timeouts.connect_ms, context.network_timeouts.read_ms) == (1500, None)
    assert context.ca_bundle == str(tmp_path.resolve() / "ca.pem")
    assert context.callback_url == "http://localhost/callback"
    assert CANARY_PROXY_PASSWORD in config.secrets


def test_every_bad_runtime_field_is_listed_without_quoting_the_password(tmp_path: Path) -> None:
    data = {
        **BASE,
        "runtime": {"proxy": {"host": "p", "port": "eighty", "password": 12345678}, "tls": True},
    }
    with pytest.raises(ConfigFileError) as caught:
        load_config_file(write(tmp_path, data), environ=ENV)
    paths = [problem.path for problem in caught.value.problems]
    assert paths == ["runtime.proxy.password", "runtime.proxy.port", "runtime.tls"]
    assert "12345678" not in caught.value.user_message
