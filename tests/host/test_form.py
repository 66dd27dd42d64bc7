"""`connector form` in a real terminal (pexpect): fields in order, choices, conditional fields by grant type,
hidden secrets that become references, validation as you go.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pexpect

from connector.context import RuntimeContext
from connector.host.facade import ConnectorHost
from connector.host.form import FormIO, fill_form
from tests.support.examples import CANARY_SECRET


def answer(child: pexpect.spawn[str], prompt: str, reply: str) -> None:
    child.expect_exact(prompt, timeout=20)
    child.sendline(reply)


def test_form_in_a_terminal_writes_references_not_secrets(tmp_path: Path) -> None:
    output = tmp_path / "d365.json"
    child = pexpect.spawn(
        sys.executable,
        ["-m", "connector.host.cli", "form", "dynamics365-ce", "-o", str(output)],
        cwd=str(tmp_path),
        env={**os.environ, "CONNECTOR_HOME": str(tmp_path / "home")},
        encoding="utf-8",
    )
    transcript: list[str] = []
    child.logfile_read = type("Log", (), {"write": lambda self, s: transcript.append(s), "flush": lambda self: None})()
    answer(child, 'Protocol [https/http] (default "https"): ', "")
    answer(child, "Base URL: ", "contoso.crm.dynamics.com")
    answer(child, 'Web API path (default "/api/data/"): ', "")
    answer(child, 'Version (default "v9.2"): ', "9.2")  # invalid: asked again
    answer(child, 'Version (default "v9.2"): ', "v9.1")
    answer(child, "Honor runtime proxy settings (default false): ", "")
    answer(child, "Connection timeout (ms): ", "30000")
    answer(child, "Read timeout (ms): ", "")
    answer(child, "Grant type [authorization_code/client_credentials]", "client_credentials")
    answer(child, "Client ID: ", "app-id")
    answer(child, "Client assertion type [client_secret/jwt]", "")
    answer(child, "Client secret (hidden; blank to use an environment variable): ", CANARY_SECRET)
    answer(child, "Client authentication [client_secret_post/client_secret_basic]", "")
    answer(child, "Access token URL: ", "https://login.microsoftonline.com/t/oauth2/token")
    answer(child, "another parameter name (blank to finish): ", "resource")
    answer(child, "value of resource: ", "https://contoso.crm.dynamics.com")
    answer(child, "another parameter name (blank to finish): ", "")
    answer(child, "Scope: ", "")
    answer(child, "Refresh margin (s) (default 300): ", "soon")  # invalid: asked again
    answer(child, "Refresh margin (s) (default 300): ", "120")
    child.expect(pexpect.EOF, timeout=20)
    child.close()
    assert child.exitstatus == 0, "".join(transcript)

    screen = "".join(transcript)
    assert CANARY_SECRET not in screen  # typed without echo
    assert "Authorization URL" not in screen  # fields of the other grant are not asked
    assert "does not match" in screen  # the bad version was explained

    text = output.read_text()
    assert CANARY_SECRET not in text
    config = json.loads(text)
    assert config["connection"] == {
        "protocol": "https",
        "base_url": "contoso.crm.dynamics.com",
        "web_api_path": "/api/data/",
        "version": "v9.1",
        "honor_runtime_proxy": False,
        "connect_timeout_ms": 30000,
    }
    secret_ref = config["oauth2"]["client_secret"]
    secret_file = Path(secret_ref["$file"])
    assert secret_file.read_text() == CANARY_SECRET
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert config["oauth2"]["refresh_margin_seconds"] == 120
    assert config["oauth2"]["access_token_parameters"] == [
        {"name": "resource", "value": "https://contoso.crm.dynamics.com"}
    ]


def test_form_for_the_jwt_grant_asks_key_fields_and_uses_env_references(tmp_path: Path) -> None:
    host = ConnectorHost()
    schemas = {name: host.schema("dynamics365-ce", name) for name in ("connection", "oauth2")}
    replies = {
        "Base URL": "contoso.crm.dynamics.com",
        "Grant type": "client_credentials",
        "Client ID": "app-id",
        "Client assertion type": "jwt",
        "Signature algorithm": "PS256",
        "Key format": "pem",
        "Certificate (PEM)": "CERT-PEM-TEXT",
        "Access token URL": "https://login.microsoftonline.com/t/oauth2/v2.0/token",
        "Scope": "https://contoso.crm.dynamics.com/.default",
    }
    asked: list[str] = []

    def ask(prompt: str) -> str:
        asked.append(prompt)
        return next((reply for start, reply in replies.items() if prompt.startswith(start)), "")

    secret_prompts: list[str] = []

    def ask_secret(prompt: str) -> str:
        secret_prompts.append(prompt)
        return ""

    config = fill_form(schemas, FormIO(ask=ask, ask_secret=ask_secret, say=lambda _: None), tmp_path / "secrets")
    jwt = config["oauth2"]["jwt"]
    assert jwt["signature_algorithm"] == "PS256"
    assert jwt["signature_key"]["certificate"] == "CERT-PEM-TEXT"
    # The PEM key is required once the format is "pem": a blank answer falls back to an environment variable.
    assert jwt["signature_key"]["private_key"] == {"$env": "CONNECTOR_OAUTH2_JWT_SIGNATURE_KEY_PRIVATE_KEY"}
    assert "password" not in jwt["signature_key"]  # optional secret left blank
    assert [p.split(" (")[0] for p in secret_prompts] == ["Private key", "Key password"]
    assert not any(p.startswith(("Client secret", "PKCS#12", "Authorization")) for p in asked)
    assert set(replies) <= {p.split(" [")[0].split(" (")[0].rstrip(": ") for p in asked} | {"Certificate (PEM)"}
    resolved = json.loads(json.dumps(config))
    resolved["oauth2"]["jwt"]["signature_key"]["private_key"] = "-----BEGIN PRIVATE KEY-----"
    connection = host.connect("dynamics365-ce", resolved, RuntimeContext())
    assert connection.settings.oauth.jwt.algorithm == "PS256"
