"""``connector test <config.json>``: the readable report, JSON with ``--format json``, and the exit codes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from connector.host.cli import main
from dataverse_sandbox.server import Sandbox
from tests.support.diagnostics import (
    CANARY_PROXY_PASSWORD,
    CANARY_SECRET,
    TinyProxy,
    assert_no_secret,
    sandbox_settings,
)

pytestmark = pytest.mark.usefixtures("loopback_only")


def config_file(directory: Path, settings: dict[str, Any], runtime: dict[str, Any] | None = None) -> Path:
    """Write a config whose client secret is an environment reference, as a careful user would."""
    data: dict[str, Any] = json.loads(json.dumps(settings))
    data["oauth2"]["client_secret"] = {"$env": "DIAG_TEST_SECRET"}
    if runtime is not None:
        data["runtime"] = runtime
    path = directory / "config.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def run_cli(
    args: list[str], capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, secrets: list[str]
) -> tuple[int, str, str]:
    caplog.set_level("DEBUG")
    code = main(args)
    out, err = capsys.readouterr()
    assert_no_secret([out, err, caplog.text], secrets)
    return code, out, err


def test_a_working_connection_exits_0_with_a_readable_report(
    sandbox: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = sandbox_settings(sandbox)
    secret = settings["oauth2"]["client_secret"]
    monkeypatch.setenv("DIAG_TEST_SECRET", secret)
    code, out, _ = run_cli(["test", str(config_file(tmp_path, settings))], capsys, caplog, [secret])
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("Test Connection (dynamics365-ce): OK (8 passed, 1 warning;")
    assert "\n8. PASS  WhoAmI  (" in out
    assert f"organization_id: {sandbox.config.organization_id}" in out


def test_json_format(
    sandbox: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = sandbox_settings(sandbox)
    monkeypatch.setenv("DIAG_TEST_SECRET", settings["oauth2"]["client_secret"])
    code, out, _ = run_cli(
        ["test", str(config_file(tmp_path, settings)), "--format", "json"],
        capsys,
        caplog,
        [settings["oauth2"]["client_secret"]],
    )
    assert code == 0
    report = json.loads(out)
    assert report["ok"] is True
    assert [check["name"] for check in report["checks"]][-4:] == ["token", "api_version", "whoami", "metadata"]


def test_a_failed_check_exits_1_and_names_the_field(
    sandbox: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("DIAG_TEST_SECRET", CANARY_SECRET)
    path = config_file(tmp_path, sandbox_settings(sandbox))
    code, out, _ = run_cli(["test", str(path), "--format", "json"], capsys, caplog, [CANARY_SECRET])
    assert code == 1
    failed = [check for check in json.loads(out)["checks"] if check["status"] == "failed"]
    assert [(check["name"], check["field"]) for check in failed] == [("token", "oauth2.client_secret")]

    code, out, _ = run_cli(["test", str(path)], capsys, caplog, [CANARY_SECRET])
    assert code == 1
    assert "FAIL  Access token" in out
    assert "Field to fix: oauth2.client_secret" in out


def test_invalid_settings_report_every_bad_field(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("DIAG_TEST_SECRET", CANARY_SECRET)
    settings = {
        "connection": {"protocol": "ftp", "base_url": "https://contoso.crm.dynamics.com/x"},
        "oauth2": {"grant_type": "client_credentials", "client_id": "", "access_token_url": "https://l/t/oauth2/token"},
    }
    code, out, _ = run_cli(["test", str(config_file(tmp_path, settings))], capsys, caplog, [CANARY_SECRET])
    assert code == 1
    assert "1. FAIL  Settings are valid" in out
    for field in ("connection.protocol", "connection.base_url", "oauth2.client_id"):
        assert f"{field}: " in out


def test_a_missing_environment_variable_is_a_usage_error(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.delenv("DIAG_TEST_SECRET", raising=False)
    settings = {"connection": {"base_url": "x"}, "oauth2": {"client_secret": "placeholder"}}
    code, out, err = run_cli(["test", str(config_file(tmp_path, settings))], capsys, caplog, [])
    assert code == 2
    assert out == ""
    assert "oauth2.client_secret: refers to the environment variable DIAG_TEST_SECRET, which is not set" in err


@pytest.mark.parametrize("args", [["test"], ["test", "c.json", "--format", "xml"]])
def test_usage_errors_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == 2
    assert "usage:" in capsys.readouterr().err


def test_the_runtime_section_carries_proxy_and_ca_bundle(
    make_sandbox: Callable[..., Sandbox],
    tinyproxy: Callable[..., TinyProxy],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    sb = make_sandbox(tls=True)
    assert sb.ca_cert_path is not None
    (tmp_path / "ca.pem").write_bytes(sb.ca_cert_path.read_bytes())
    proxy = tinyproxy(basic_auth=("diag-user", CANARY_PROXY_PASSWORD))
    settings = sandbox_settings(sb, honor_proxy=True)
    secret = settings["oauth2"]["client_secret"]
    monkeypatch.setenv("DIAG_TEST_SECRET", secret)
    monkeypatch.setenv("DIAG_PROXY_PASSWORD", CANARY_PROXY_PASSWORD)
    runtime = {
        "proxy": {
            "host": "127.0.0.1",
            "port": proxy.port,
            "user": "diag-user",
            "password": {"$env": "DIAG_PROXY_PASSWORD"},
        },
        "timeouts": {"connect_ms": 5000, "read_ms": 5000},
        "ca_bundle": "ca.pem",
    }
    path = config_file(tmp_path, settings, runtime)
    code, out, _ = run_cli(["test", str(path)], capsys, caplog, [secret, CANARY_PROXY_PASSWORD])
    assert code == 0, out
    assert "PASS  Proxy to 127.0.0.1:" in out
    assert "PASS  TLS: 127.0.0.1" in out
    assert any(line.startswith("CONNECT 127.0.0.1:") for line in proxy.requests())
