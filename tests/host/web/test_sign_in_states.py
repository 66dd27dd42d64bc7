"""The four sign-in states in a real browser: the sign-in method (and the key's format) chosen, the chosen section
filled field by field with key files uploaded, saved, submitted to the connector, and never shown back; authorization
code through the sandbox's consent page. Also what a person meets around them: only the chosen method's errors, and a
saved secret kept, replaced or removed.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from connector.host.web import WebHost
from dataverse_sandbox.server import Sandbox
from tests.support.web_ui import (
    SIGN_IN_METHODS,
    State,
    choose_option,
    field,
    fill_state,
    open_page,
    run_test_connection,
    save,
    screenshot,
    sign_in_on_consent_page,
    state_secrets,
    state_uploads,
)

SECRET_FIELDS: dict[State, list[str]] = {
    "authorization_code": ["client_secret"],
    "client_secret": ["client_secret"],
    "pem": ["jwt.signature_key.private_key"],
    "pkcs12": ["jwt.signature_key.pkcs12", "jwt.signature_key.password"],
}
OTHER_METHODS_FIELDS: dict[State, set[str]] = {
    "authorization_code": {"client_assertion_type", "jwt"},
    "client_secret": {"authorization_url", "authorization_parameters", "jwt"},
    "pem": {"client_secret", "client_authentication", "authorization_parameters"},
    "pkcs12": {"client_secret", "client_authentication", "authorization_parameters"},
}
"""Fields of the sign-in methods a state did not choose: never saved."""
SAVED_PLACEHOLDER = "saved; type a new value to replace it"


def _at(data: dict[str, object], dotted: str) -> object:
    value: object = data
    for part in dotted.split("."):
        assert isinstance(value, dict), f"{dotted}: {value!r}"
        value = value[part]
    return value


def assert_no_secret_in_page(page: Page, secrets: list[str]) -> None:
    html = page.content()
    values = page.eval_on_selector_all("input, textarea", "elements => elements.map(e => e.value).join('\\n')")
    for secret in secrets:
        assert secret not in html
        assert secret not in values


def assert_secrets_shown_as_saved(page: Page, state: State) -> None:
    """Each secret field of the state is drawn empty, saying a secret is saved: a password input with the placeholder,
    a file input with the note beside it.
    """
    page.click("#tab-oauth2")
    for dotted in SECRET_FIELDS[state]:
        target = field(page, f"oauth2.{dotted}")
        expect(target).to_be_visible()
        expect(target).to_have_value("")
        if target.get_attribute("type") == "file":
            expect(page.locator(".form-group", has=target).locator(".saved-secret")).to_be_visible()
        else:
            expect(target).to_have_attribute("placeholder", f"•••••••• {SAVED_PLACEHOLDER}")


@pytest.mark.parametrize("state", ["client_secret", "pem", "pkcs12", "authorization_code"])
def test_each_sign_in_state_is_saved_as_references_and_passes_test_connection(
    state: State, page: Page, web_host: WebHost, web_sandbox: Sandbox, screenshots: Path | None
) -> None:
    open_page(page, web_host)
    fill_state(page, web_sandbox, state)
    screenshot(page, screenshots, f"oauth2-{state}")
    # What a person types is in the inputs, never written into the page's HTML.
    html = page.content()
    assert not [secret for secret in state_secrets(web_sandbox, state) if secret in html]
    save(page)

    config = json.loads(web_host.config_path.read_text())
    grant = "authorization_code" if state == "authorization_code" else "client_credentials"
    assert config["oauth2"]["grant_type"] == grant
    text = web_host.config_path.read_text()
    for secret in state_secrets(web_sandbox, state):
        assert secret not in text
    for dotted in SECRET_FIELDS[state]:
        reference = _at(config["oauth2"], dotted)
        assert isinstance(reference, dict), reference
        assert set(reference) == {"$file"}, reference
        assert Path(reference["$file"]).stat().st_mode & 0o077 == 0  # only the owner reads it
    # An uploaded key file arrives as rjsf's data URL (name and content), saved as it came: connect reads it.
    for dotted, upload in state_uploads(web_sandbox, state).items():
        value = _at(config["oauth2"], dotted)
        saved = Path(value["$file"]).read_text() if isinstance(value, dict) else value
        assert isinstance(saved, str)
        assert saved.startswith("data:"), saved[:40]
        assert f";name={upload.name};base64," in saved
        assert base64.b64decode(saved.split(";base64,", 1)[1]) == upload.read_bytes()
    # Fields of the other sign-in methods are not saved.
    assert not OTHER_METHODS_FIELDS[state] & set(config["oauth2"])
    if state == "pem":
        assert "pkcs12" not in config["oauth2"]["jwt"]["signature_key"]
    if state == "pkcs12":
        assert not {"private_key", "certificate"} & set(config["oauth2"]["jwt"]["signature_key"])

    # After saving, the page shows secret fields empty with a saved placeholder, never the values; so does a fresh
    # load of the page.
    assert_no_secret_in_page(page, state_secrets(web_sandbox, state))
    assert_secrets_shown_as_saved(page, state)
    page.reload()
    expect(field(page, "connection.base_url")).to_be_attached()
    assert_no_secret_in_page(page, state_secrets(web_sandbox, state))
    assert_secrets_shown_as_saved(page, state)

    if state == "authorization_code":
        clients = web_sandbox.clients
        assert clients is not None
        web_sandbox.register_redirect_uri(clients.authorization_code_client.client_id, web_host.callback_url)
        with page.expect_popup() as opened:
            page.click("#generate")
        sign_in_on_consent_page(opened.value, web_sandbox)
        expect(page.locator("#sign-in-status[data-kind='ok']")).to_contain_text("Tokens stored")

    report = run_test_connection(page)
    expect(report).to_have_attribute("data-ok", "true")
    expect(report.locator(".check[data-status='failed']")).to_have_count(0)
    screenshot(page, screenshots, f"test-connection-{state}")


def test_saving_marks_only_the_chosen_methods_missing_fields(page: Page, web_host: WebHost) -> None:
    """ajv reports why every sign-in method fails; the page shows the chosen method's errors beside its fields and
    nothing else (no client secret of another method, no "must match exactly one schema", no summary list).
    """
    open_page(page, web_host)
    field(page, "connection.base_url").fill("contoso.crm.dynamics.com")
    page.click("#tab-oauth2")
    field(page, "oauth2.client_secret").fill("typed-under-the-default-method")
    choose_option(page, "oauth2", SIGN_IN_METHODS["pem"])
    field(page, "oauth2.client_id").fill("535fb089-9ff3-47b6-9bfb-4f1264799865")
    page.click("#save")
    expect(page.locator(".status[data-kind='failed']")).to_contain_text("OAuth 2.0 tab")
    errors = page.locator("#panel-oauth2 .error-detail li")
    expect(errors).to_have_text(
        [
            "must have required property 'Access token URL'",
            "must have required property 'Private key (PEM)'",
            "must have required property 'Certificate (PEM)'",
        ]
    )
    expect(page.locator(".errors")).to_have_count(0)  # rjsf's list of every error
    assert not web_host.config_path.exists()


def test_a_saved_secret_is_kept_when_left_empty_replaced_when_typed_and_removed_on_request(
    page: Page, web_host: WebHost, web_sandbox: Sandbox
) -> None:
    open_page(page, web_host)
    fill_state(page, web_sandbox, "authorization_code")
    save(page)
    reference = json.loads(web_host.config_path.read_text())["oauth2"]["client_secret"]
    secret_file = Path(reference["$file"])
    first = secret_file.read_text()

    secret = field(page, "oauth2.client_secret")
    secret.fill("typed-then-erased")
    secret.fill("")  # emptied again: the saved secret stands
    expect(secret).to_have_attribute("placeholder", f"•••••••• {SAVED_PLACEHOLDER}")
    save(page)
    assert json.loads(web_host.config_path.read_text())["oauth2"]["client_secret"] == reference
    assert secret_file.read_text() == first

    secret.fill("a-new-secret-value")
    save(page)
    assert secret_file.read_text() == "a-new-secret-value"
    expect(secret).to_have_value("")

    page.locator(".form-group", has=secret).get_by_role("button", name="Remove the saved secret").click()
    expect(secret).not_to_have_attribute("placeholder", f"•••••••• {SAVED_PLACEHOLDER}")
    save(page)
    assert "client_secret" not in json.loads(web_host.config_path.read_text())["oauth2"]
