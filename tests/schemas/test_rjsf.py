"""The forms as a person meets them: react-jsonschema-form (rjsf 6, Ajv2020 validator, no custom code) renders the
shipped schemas and UI schemas in headless Chromium, driven by Playwright. For each of the four sign-in states the
test fills the form as a person would (switching away from the default first, to prove a left section is dropped),
submits it, and checks what rjsf hands the host: valid under the schema, nothing of another section, secrets in
password inputs or file uploads; then ``connect`` (through the reference host facade) accepts it as is.

Set ``FORMS_SCREENSHOTS`` to a folder to keep a screenshot of each state (docs/forms holds the published ones).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest
from jsonschema import Draft202012Validator
from playwright.sync_api import Browser, Page, sync_playwright

from connector.context import RuntimeContext
from connector.host.facade import ConnectorHost
from tests.support.auth import key_material, pkcs12_b64
from tests.support.forms import build_form_page, write_form_page

CONNECTOR: Final = "dynamics365-ce"
TOKEN_URL: Final = "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/token"
CANARY_SECRET: Final = "canary-secret-3e81d0"
CANARY_KEY_PASSWORD: Final = "canary-pfx-password-92b4"
OAUTH_FIELDS: Final = (
    "client_id",
    "client_secret",
    "client_authentication",
    "access_token_url",
    "authorization_url",
    "authorization_parameters",
    "access_token_parameters",
    "scope",
    "refresh_margin_seconds",
    "jwt",
)


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("Chromium is not installed: scripts/test.sh installs Debian's chromium package")
    return path


@dataclass(frozen=True)
class Pages:
    """The built test pages."""

    connection: Path
    oauth2: Path


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Pages:
    """The rjsf bundle built from the lock file, and one page per form, from what the installed connector ships."""
    folder = tmp_path_factory.mktemp("form-page")
    build_form_page(folder)
    host = ConnectorHost()
    made = {
        name: write_form_page(folder, name, host.schema(CONNECTOR, name), host.ui_schema(CONNECTOR, name))
        for name in ("connection", "oauth2")
    }
    return Pages(**made)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path())
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    opened = browser.new_page(viewport={"width": 820, "height": 900})
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(str(error)))
    opened.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    yield opened
    opened.close()
    assert problems == []


@dataclass(frozen=True)
class KeyFiles:
    """Key and certificate files to upload through the form."""

    key: Path
    certificate: Path
    pfx: Path


@pytest.fixture(scope="module")
def key_files(tmp_path_factory: pytest.TempPathFactory) -> KeyFiles:
    folder = tmp_path_factory.mktemp("keys")
    material = key_material("PS256")
    files = KeyFiles(folder / "app.key", folder / "app.crt", folder / "app.pfx")
    files.key.write_text(material.key_pem)
    files.certificate.write_text(material.certificate_pem)
    files.pfx.write_bytes(base64.b64decode(pkcs12_b64(material.key, material.certificate, CANARY_KEY_PASSWORD)))
    return files


def open_form(page: Page, html: Path) -> None:
    page.goto(html.as_uri())
    page.wait_for_selector("form.rjsf")


def submit(page: Page) -> dict[str, Any]:
    page.click("button[type=submit]")
    page.wait_for_function("() => window.formSubmitted !== null || window.formErrors !== null")
    errors = page.evaluate("() => window.formErrors")
    assert errors is None, errors
    # What a host sends on: JSON (an undefined left by a section switch is not a value).
    submitted: dict[str, Any] = json.loads(page.evaluate("() => JSON.stringify(window.formSubmitted)"))
    return submitted


def shown(page: Page, name: str) -> bool:
    """Whether the field is on screen (rjsf names inputs ``root_<path>``; hidden inputs do not count)."""
    return bool(page.locator(f"[id^='root_{name}']:visible").count())


def screenshot(page: Page, name: str) -> None:
    folder = os.environ.get("FORMS_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def connection_settings(browser: Browser, pages: Pages) -> dict[str, Any]:
    """The Connection tab, filled with a base URL only: the rest are rjsf's defaults from the schema."""
    page = browser.new_page(viewport={"width": 820, "height": 900})
    open_form(page, pages.connection)
    page.fill("#root_base_url", "contoso.crm.dynamics.com")
    page.fill("#root_connect_timeout_ms", "30000")
    screenshot(page, "connection")
    data = submit(page)
    page.close()
    return data


def validate(name: str, data: dict[str, Any]) -> None:
    schema = ConnectorHost().schema(CONNECTOR, name)
    errors = [error.message for error in Draft202012Validator(schema).iter_errors(data)]
    assert errors == []


def connect(connection: dict[str, Any], oauth2: dict[str, Any]) -> Any:
    return ConnectorHost().connect(CONNECTOR, {"connection": connection, "oauth2": oauth2}, RuntimeContext())


def test_connection_tab_submits_the_defaults_and_what_was_typed(connection_settings: dict[str, Any]) -> None:
    assert connection_settings == {
        "protocol": "https",
        "base_url": "contoso.crm.dynamics.com",
        "web_api_path": "/api/data/",
        "version": "v9.2",
        "honor_runtime_proxy": False,
        "connect_timeout_ms": 30000,
        "read_timeout_ms": None,  # the schema's default: blank, the runtime's time-out
    }
    validate("connection", connection_settings)


def fill_common(page: Page) -> None:
    page.fill("#root_client_id", "535fb089-9ff3-47b6-9bfb-4f1264799865")
    page.fill("#root_access_token_url", TOKEN_URL)


def test_authorization_code(page: Page, pages: Pages, connection_settings: dict[str, Any]) -> None:
    open_form(page, pages.oauth2)
    assert page.input_value("#root__oneof_select") == "0"  # the first sign-in method is the default
    fill_common(page)
    page.fill("#root_client_secret", CANARY_SECRET)
    assert page.get_attribute("#root_client_secret", "type") == "password"
    for other in ("client_assertion_type", "jwt", "grant_type"):
        assert not shown(page, other)
    assert shown(page, "authorization_url")
    screenshot(page, "authorization-code")
    data = submit(page)
    validate("oauth2", data)
    assert data["grant_type"] == "authorization_code"
    assert data["authorization_parameters"] == [{"name": "resource", "value": "https://contoso.crm.dynamics.com"}]
    assert not {"client_assertion_type", "jwt"} & set(data)
    connection = connect(connection_settings, data)
    assert connection.settings.oauth.grant_type == "authorization_code"
    assert connection.settings.oauth.authorization_url.endswith("/oauth2/authorize")


def test_authorization_code_on_entra_v2(page: Page, pages: Pages, connection_settings: dict[str, Any]) -> None:
    """The documented v2 set-up: a v2 token URL asks for Scope (beside the field) and needs no resource parameter."""
    open_form(page, pages.oauth2)
    page.fill("#root_client_id", "535fb089-9ff3-47b6-9bfb-4f1264799865")
    page.fill("#root_access_token_url", TOKEN_URL.replace("/oauth2/token", "/oauth2/v2.0/token"))
    page.fill("#root_client_secret", CANARY_SECRET)
    page.click("#root_authorization_parameters_0__remove")  # the v1 default: v2 takes the resource inside Scope
    page.evaluate("() => { for (const f of document.querySelectorAll('form')) f.noValidate = true; }")
    page.click("button[type=submit]")
    page.wait_for_function("() => window.formErrors !== null")
    beside_fields = page.locator("#root_scope").locator("xpath=ancestor::div[contains(@class,'form-group')][1]")
    assert "scope" in beside_fields.locator(".error-detail").inner_text()
    page.fill("#root_scope", "https://contoso.crm.dynamics.com/user_impersonation offline_access")
    screenshot(page, "authorization-code-v2")
    data = submit(page)
    validate("oauth2", data)
    assert data.get("authorization_parameters", []) == []
    connection = connect(connection_settings, data)
    assert connection.settings.oauth.authorization_url.endswith("/oauth2/v2.0/authorize")
    assert connection.settings.oauth.resource is None
    assert connection.settings.diagnostics == ()


def test_client_credentials_with_a_secret(page: Page, pages: Pages, connection_settings: dict[str, Any]) -> None:
    open_form(page, pages.oauth2)
    page.fill("#root_authorization_url", "https://login.microsoftonline.com/t/oauth2/authorize")  # then switch
    page.select_option("#root__oneof_select", "1")
    fill_common(page)
    page.fill("#root_client_secret", CANARY_SECRET)
    assert page.get_attribute("#root_client_secret", "type") == "password"
    for other in ("authorization_url", "authorization_parameters", "jwt"):
        assert not shown(page, other)
    page.click("#root_access_token_parameters button.btn-add")
    page.fill("#root_access_token_parameters_0_name", "resource")
    page.fill("#root_access_token_parameters_0_value", "https://contoso.crm.dynamics.com")
    screenshot(page, "client-secret")
    data = submit(page)
    validate("oauth2", data)
    assert (data["grant_type"], data["client_assertion_type"]) == ("client_credentials", "client_secret")
    assert not {"authorization_url", "authorization_parameters", "jwt"} & set(data)  # the left section is dropped
    connection = connect(connection_settings, data)
    assert connection.settings.oauth.client_secret is not None
    assert connection.settings.oauth.resource == "https://contoso.crm.dynamics.com"


def choose_jwt(page: Page, pages: Pages) -> None:
    open_form(page, pages.oauth2)
    page.fill("#root_client_secret", CANARY_SECRET)  # typed under the default method, then the person switches
    page.select_option("#root__oneof_select", "2")
    fill_common(page)
    page.fill("#root_scope", "https://contoso.crm.dynamics.com/.default")
    page.select_option("#root_jwt_signature_algorithm", "PS256")
    for other in ("client_secret", "authorization_url", "authorization_parameters", "client_authentication"):
        assert not shown(page, other)


def assert_jwt_data(data: dict[str, Any], key_format: str) -> None:
    validate("oauth2", data)
    assert (data["grant_type"], data["client_assertion_type"]) == ("client_credentials", "jwt")
    assert not {"client_secret", "client_authentication", "authorization_parameters"} & set(data)
    assert data["jwt"]["signature_key"]["format"] == key_format


def test_client_credentials_with_a_pem_key(
    page: Page, pages: Pages, key_files: KeyFiles, connection_settings: dict[str, Any]
) -> None:
    choose_jwt(page, pages)
    assert page.input_value("#root_jwt_signature_key__oneof_select") == "0"
    assert not shown(page, "jwt_signature_key_pkcs12")
    page.set_input_files("#root_jwt_signature_key_private_key", str(key_files.key))
    page.set_input_files("#root_jwt_signature_key_certificate", str(key_files.certificate))
    assert page.get_attribute("#root_jwt_signature_key_private_key", "type") == "file"
    assert page.get_attribute("#root_jwt_signature_key_password", "type") == "password"
    page.wait_for_selector("text=app.crt")  # rjsf has read both files
    screenshot(page, "jwt-pem")
    data = submit(page)
    assert_jwt_data(data, "pem")
    key = data["jwt"]["signature_key"]
    assert key["private_key"].startswith("data:")
    assert ";name=app.key;base64," in key["private_key"]
    assert set(key) == {"format", "private_key", "certificate"}
    connection = connect(connection_settings, data)
    assert connection.settings.oauth.jwt.algorithm == "PS256"


def test_client_credentials_with_a_pkcs12_upload(
    page: Page, pages: Pages, key_files: KeyFiles, connection_settings: dict[str, Any]
) -> None:
    choose_jwt(page, pages)
    page.select_option("#root_jwt_signature_key__oneof_select", "1")
    assert not shown(page, "jwt_signature_key_private_key")
    assert not shown(page, "jwt_signature_key_certificate")
    page.set_input_files("#root_jwt_signature_key_pkcs12", str(key_files.pfx))
    page.fill("#root_jwt_signature_key_password", CANARY_KEY_PASSWORD)
    assert page.get_attribute("#root_jwt_signature_key_password", "type") == "password"
    page.wait_for_selector("text=app.pfx")
    screenshot(page, "jwt-pkcs12")
    data = submit(page)
    assert_jwt_data(data, "pkcs12")
    key = data["jwt"]["signature_key"]
    assert set(key) == {"format", "pkcs12", "password"}
    assert key["pkcs12"].startswith("data:")
    assert ";name=app.pfx;base64," in key["pkcs12"]
    connection = connect(connection_settings, data)
    assert connection.settings.oauth.jwt.key.format == "pkcs12"


def test_a_cut_short_key_is_a_field_error_of_connect(
    page: Page, pages: Pages, key_files: KeyFiles, connection_settings: dict[str, Any], tmp_path: Path
) -> None:
    """The form cannot know a key file is cut short; connect says so at once, naming the field."""
    short = tmp_path / "short.key"
    short.write_text("\n".join(key_files.key.read_text().splitlines()[:4]) + "\n")
    choose_jwt(page, pages)
    page.set_input_files("#root_jwt_signature_key_private_key", str(short))
    page.set_input_files("#root_jwt_signature_key_certificate", str(key_files.certificate))
    page.wait_for_selector("text=app.crt")
    data = submit(page)
    from connector.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        connect(connection_settings, data)
    assert caught.value.fields == ["oauth2.jwt.signature_key.private_key"]
    assert "cut short" in caught.value.user_message


def test_required_fields_of_the_chosen_section_only(page: Page, pages: Pages) -> None:
    """Submitting the JWT method without its key marks the key fields, never the client secret of another method.

    (ajv reports every section's failures; rjsf shows them beside fields, and only the chosen section's fields are
    on screen. Its summary list at the top repeats all of them: that is rjsf's, not the schema's.)
    """
    choose_jwt(page, pages)
    page.evaluate("() => { for (const f of document.querySelectorAll('form')) f.noValidate = true; }")
    page.click("button[type=submit]")
    page.wait_for_function("() => window.formErrors !== null")
    beside_fields = page.locator(".form-group .error-detail:visible").all_inner_texts()
    assert any("Private key" in text for text in beside_fields), beside_fields
    assert not any("Client secret" in text for text in beside_fields)
    assert not shown(page, "client_secret")
