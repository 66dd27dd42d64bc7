"""`connector form` in a real terminal (pexpect): fields in the UI schema's order, the sign-in method as one choice
with only its fields after it, hidden secrets that become references, a multi-line PEM paste read through its END
line, key files by path, the runtime settings, validation as you go; and the configs it writes pass `connect`.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import sys
from pathlib import Path

import pexpect
import pytest

from connector.context import RuntimeContext
from connector.host.config_file import load_config_file
from connector.host.facade import ConnectorHost
from connector.host.form import FormIO, FormPart, fill_form
from connector.live import has_own_settings
from tests.support.auth import key_material, pkcs12_b64
from tests.support.examples import CANARY_PROXY_PASSWORD, CANARY_SECRET
from tests.support.paths import REPO_ROOT

CONNECTOR = "dynamics365-ce"


def answer(child: pexpect.spawn[str], prompt: str, reply: str) -> None:
    child.expect_exact(prompt, timeout=20)
    child.sendline(reply)


def spawn_form(tmp_path: Path, output: Path) -> tuple[pexpect.spawn[str], list[str]]:
    child = pexpect.spawn(
        sys.executable,
        ["-m", "connector.host.cli", "form", CONNECTOR, "-o", str(output)],
        cwd=str(tmp_path),
        env={**os.environ, "CONNECTOR_HOME": str(tmp_path / "home")},
        encoding="utf-8",
    )
    transcript: list[str] = []
    child.logfile_read = type("Log", (), {"write": lambda self, s: transcript.append(s), "flush": lambda self: None})()
    return child, transcript


def answer_connection(child: pexpect.spawn[str]) -> None:
    answer(child, 'Protocol [https/http] (default "https"): ', "")
    answer(child, "Base URL: ", "contoso.crm.dynamics.com")
    answer(child, 'Web API path (default "/api/data/"): ', "")
    answer(child, 'Version (default "v9.2"): ', "9.2")  # invalid: asked again
    answer(child, 'Version (default "v9.2"): ', "v9.1")
    answer(child, "Honor runtime proxy settings (default false): ", "yes")
    answer(child, "Connection timeout (ms): ", "30000")
    answer(child, "Read timeout (ms): ", "")


def finish(child: pexpect.spawn[str], transcript: list[str]) -> str:
    child.expect(pexpect.EOF, timeout=20)
    child.close()
    screen = "".join(transcript)
    assert child.exitstatus == 0, screen
    return screen


METHODS = len(json.loads((REPO_ROOT / "schemas" / "oauth2.schema.json").read_text(encoding="utf-8"))["oneOf"])
"""The sign-in methods the OAuth tab offers (2 is the client secret, 3 the certificate JWT)."""
METHOD_PROMPT = f"Sign-in method [1-{METHODS}] (default 1): "


def test_form_in_a_terminal_writes_references_not_secrets(tmp_path: Path) -> None:
    output = tmp_path / "d365.json"
    child, transcript = spawn_form(tmp_path, output)
    answer_connection(child)
    answer(child, METHOD_PROMPT, str(METHODS + 1))  # out of range: asked again
    answer(child, METHOD_PROMPT, "\u00b2")  # a digit to isdigit(), not to int(): asked again
    answer(child, METHOD_PROMPT, "2")
    answer(child, "Client ID: ", "app-id")
    answer(child, "Client secret (hidden; blank to use an environment variable): ", CANARY_SECRET)
    answer(child, "Client authentication [client_secret_post/client_secret_basic]", "")
    answer(child, "Access token URL: ", "https://login.microsoftonline.com/t/oauth2/token")
    answer(child, "another parameter name (blank to finish): ", "resource")
    answer(child, "value of resource: ", "https://contoso.crm.dynamics.com")
    answer(child, "another parameter name (blank to finish): ", "")
    answer(child, "Scope: ", "")
    answer(child, "Refresh margin (s) (default 300): ", "soon")  # invalid: asked again
    answer(child, "Refresh margin (s) (default 300): ", "120")
    # The runtime settings: what the host lends the connection.
    answer(child, "Fill in the Runtime settings now? [y/N]: ", "y")
    answer(child, "Set Proxy? [y/N]: ", "y")
    answer(child, "Proxy host: ", "proxy.corp")
    answer(child, "Proxy port (default 80): ", "3128")
    answer(child, "Proxy user: ", "svc")
    answer(child, "Proxy password (hidden; blank to use an environment variable): ", CANARY_PROXY_PASSWORD)
    answer(child, "Non-proxy hosts: ", "*.corp|localhost")
    answer(child, "Set Network time-outs? [y/N]: ", "y")
    answer(child, "Connect time-out (ms): ", "15000")
    answer(child, "Read time-out (ms): ", "")
    answer(child, "CA bundle: ", "corp-ca.pem")
    answer(child, "OAuth callback URL: ", "")
    screen = finish(child, transcript)

    assert CANARY_SECRET not in screen  # typed without echo
    assert CANARY_PROXY_PASSWORD not in screen
    assert "Authorization URL" not in screen  # fields of the other sign-in methods are not asked
    assert "Private key" not in screen
    assert "does not match" in screen  # the bad version was explained

    text = output.read_text()
    assert CANARY_SECRET not in text
    assert CANARY_PROXY_PASSWORD not in text
    config = json.loads(text)
    assert config["connection"] == {
        "protocol": "https",
        "base_url": "contoso.crm.dynamics.com",
        "web_api_path": "/api/data/",
        "version": "v9.1",
        "honor_runtime_proxy": True,
        "connect_timeout_ms": 30000,
    }
    oauth = config["oauth2"]
    assert (oauth["grant_type"], oauth["client_assertion_type"]) == ("client_credentials", "client_secret")
    secret_file = Path(oauth["client_secret"]["$file"])
    assert secret_file.read_text() == CANARY_SECRET
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert oauth["refresh_margin_seconds"] == 120
    assert oauth["access_token_parameters"] == [{"name": "resource", "value": "https://contoso.crm.dynamics.com"}]
    runtime = config["runtime"]
    assert runtime["proxy"]["host"] == "proxy.corp"
    assert runtime["proxy"]["port"] == 3128
    assert Path(runtime["proxy"]["password"]["$file"]).read_text() == CANARY_PROXY_PASSWORD
    assert runtime["timeouts"] == {"connect_ms": 15000}
    assert runtime["ca_bundle"] == "corp-ca.pem"

    (tmp_path / "corp-ca.pem").write_text(key_material().certificate_pem)
    loaded = load_config_file(output)
    assert loaded.context.proxy.host == "proxy.corp"
    assert loaded.context.network_timeouts.connect_ms == 15000
    connection = ConnectorHost().connect(CONNECTOR, loaded.settings, loaded.context)
    assert has_own_settings(connection)
    assert connection.settings.proxy.enabled


def test_a_pasted_multi_line_key_is_read_through_its_end_line(tmp_path: Path) -> None:
    material = key_material()
    certificate = tmp_path / "app.crt"
    certificate.write_text(material.certificate_pem)
    output = tmp_path / "d365.json"
    child, transcript = spawn_form(tmp_path, output)
    answer_connection(child)
    answer(child, METHOD_PROMPT, "3")
    answer(child, "Client ID: ", "app-id")
    answer(child, "Access token URL: ", "https://login.microsoftonline.com/t/oauth2/v2.0/token")
    answer(child, "another parameter name (blank to finish): ", "")
    answer(child, "Scope: ", "https://contoso.crm.dynamics.com/.default")
    answer(child, "Signature algorithm [RS256/", "PS256")
    answer(child, "Signature key [1-2] (default 1): ", "")
    child.expect_exact("Private key (PEM) (a file path, or paste the PEM text, hidden", timeout=20)
    for line in material.key_pem.splitlines():  # pasted: one line after the other, without waiting for prompts
        child.sendline(line)
    answer(child, "Certificate (PEM) (a file path, or paste the PEM text): ", str(certificate))
    answer(child, "Key password (hidden; blank to use an environment variable): ", "")
    answer(child, "environment variable holding it (blank for none): ", "")
    for prompt in ("Issuer (iss): ", "Subject (sub): ", "Audience (aud): ", "Expiration (exp, seconds)"):
        answer(child, prompt, "")
    answer(child, "ID claim generator (jti)", "")
    answer(child, "another parameter name (blank to finish): ", "")
    answer(child, "x5t#S256 header (default true): ", "")
    answer(child, "x5t header (default true): ", "")
    answer(child, "Refresh margin (s) (default 300): ", "")
    answer(child, "Fill in the Runtime settings now? [y/N]: ", "")
    screen = finish(child, transcript)

    assert not any(line in screen for line in material.key_pem.splitlines()[1:-1])  # the paste was not echoed
    assert f"read {len(material.key_pem.splitlines())} lines" in screen
    config = json.loads(output.read_text())
    assert "runtime" not in config
    key = config["oauth2"]["jwt"]["signature_key"]
    assert key["format"] == "pem"
    assert Path(key["private_key"]["$file"]).read_text() == material.key_pem  # every line, not the first
    assert key["certificate"] == material.certificate_pem
    assert "password" not in key
    loaded = load_config_file(output)
    connection = ConnectorHost().connect(CONNECTOR, loaded.settings, RuntimeContext())
    assert has_own_settings(connection)
    assert connection.settings.oauth.jwt is not None
    assert connection.settings.oauth.jwt.algorithm == "PS256"


class Replies:
    """Scripted answers by prompt start; hidden lines come from their own queue."""

    def __init__(self, replies: dict[str, str], hidden: list[str] | None = None) -> None:
        self.replies = replies
        self.hidden = list(hidden or [])
        self.asked: list[str] = []
        self.said: list[str] = []

    def ask(self, prompt: str) -> str:
        self.asked.append(prompt)
        return next((reply for start, reply in self.replies.items() if prompt.startswith(start)), "")

    def ask_hidden(self, prompt: str) -> str:
        self.asked.append(prompt)
        if not self.hidden:
            raise EOFError
        return self.hidden.pop(0)

    def io(self) -> FormIO:
        return FormIO(ask=self.ask, ask_secret=lambda _: "", ask_hidden=self.ask_hidden, say=self.said.append)


@pytest.fixture
def oauth_part() -> FormPart:
    host = ConnectorHost()
    return FormPart(host.schema(CONNECTOR, "oauth2"), host.ui_schema(CONNECTOR, "oauth2"))


JWT_REPLIES = {
    "Sign-in method": "3",
    "Client ID": "app-id",
    "Access token URL": "https://login.microsoftonline.com/t/oauth2/v2.0/token",
}


def test_a_paste_cut_short_is_asked_again(tmp_path: Path, oauth_part: FormPart) -> None:
    material = key_material()
    lines = material.key_pem.splitlines()
    # The first paste stops halfway (end of input), the second is whole.
    script = Replies({**JWT_REPLIES, "Certificate": material.certificate_pem.splitlines()[0]}, [])
    script.hidden = [*lines[:5]]
    certificate_lines = material.certificate_pem.splitlines()[1:]

    def ask(prompt: str) -> str:
        if prompt == "" and certificate_lines:
            return certificate_lines.pop(0)
        return script.ask(prompt)

    def ask_hidden(prompt: str) -> str:
        if not script.hidden and prompt:  # the form asks again after the cut: now paste the whole key
            script.hidden = [*lines]
        return script.ask_hidden(prompt)

    io = FormIO(ask=ask, ask_secret=lambda _: "", ask_hidden=ask_hidden, say=script.said.append)
    config = fill_form({"oauth2": oauth_part}, io, tmp_path / "secrets")
    assert any("the paste ended before" in line for line in script.said)
    key = config["oauth2"]["jwt"]["signature_key"]
    assert Path(key["private_key"]["$file"]).read_text() == material.key_pem
    assert key["certificate"] == material.certificate_pem  # a pasted (visible) certificate, line by line too


def test_a_pkcs12_file_given_by_path_is_saved_as_a_base64_secret(tmp_path: Path, oauth_part: FormPart) -> None:
    material = key_material()
    pfx = tmp_path / "app.pfx"
    pfx.write_bytes(base64.b64decode(pkcs12_b64(material.key, material.certificate, None)))
    script = Replies({**JWT_REPLIES, "Signature key": "2"}, [str(pfx)])
    config = fill_form({"oauth2": oauth_part}, script.io(), tmp_path / "secrets")
    key = config["oauth2"]["jwt"]["signature_key"]
    assert key["format"] == "pkcs12"
    assert set(key) == {"format", "pkcs12"}  # no PEM field of the other format
    saved = Path(key["pkcs12"]["$file"])
    assert base64.b64decode(saved.read_text()) == pfx.read_bytes()
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert not any(p.startswith(("Client secret", "Authorization", "Private key")) for p in script.asked)
    settings = {"connection": {"base_url": "contoso.crm.dynamics.com"}, "oauth2": config["oauth2"]}
    settings["oauth2"]["jwt"]["signature_key"]["pkcs12"] = saved.read_text()
    connection = ConnectorHost().connect(CONNECTOR, settings, RuntimeContext())
    assert has_own_settings(connection)
    assert connection.settings.oauth.jwt is not None


def test_a_blank_key_falls_back_to_an_environment_variable(tmp_path: Path, oauth_part: FormPart) -> None:
    certificate = tmp_path / "app.crt"
    certificate.write_text(key_material().certificate_pem)
    script = Replies({**JWT_REPLIES, "Certificate": str(certificate)}, [])
    config = fill_form({"oauth2": oauth_part}, script.io(), tmp_path / "secrets")
    key = config["oauth2"]["jwt"]["signature_key"]
    assert key["private_key"] == {"$env": "CONNECTOR_OAUTH2_JWT_SIGNATURE_KEY_PRIVATE_KEY"}
    assert "password" not in key  # optional secret left blank
