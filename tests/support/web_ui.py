"""Helpers of the web host's browser tests: open the page, fill a sign-in state as a person would (choose the sign-in
method and the key's format, then fill the chosen section field by field, uploading key files), save, test, sign in on
the sandbox's consent page.

Fields are found by their element id, which the page makes equal to the field's path in the config file
(``oauth2.jwt.signature_key.pkcs12``), inside a ``oneOf`` option too; an option is chosen by its title in the selector
rjsf draws for the ``oneOf`` (``oauth2__oneof_select``). Choices drawn as a select or as radio buttons, and key files
drawn as file inputs or text boxes, are all handled, so the helpers follow whatever widgets the UI schema chooses.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Final, Literal

from playwright.sync_api import Locator, Page, expect

from connector.host.web import WebHost
from dataverse_sandbox.server import Sandbox

__all__ = [
    "CHROMIUM",
    "KEY_FORMATS",
    "SCREENSHOTS_ENV",
    "SIGN_IN_METHODS",
    "State",
    "choose_option",
    "field",
    "fill_state",
    "open_page",
    "run_test_connection",
    "save",
    "screenshot",
    "sign_in_on_consent_page",
    "state_secrets",
    "state_uploads",
]

CHROMIUM: Final = "/usr/bin/chromium"
SCREENSHOTS_ENV: Final = "CONNECTOR_UI_SCREENSHOTS"
"""A folder: when set, the browser tests save the documentation's screenshots there (docs/web-host)."""

State = Literal["authorization_code", "client_secret", "pem", "pkcs12"]


def field(page: Page, path: str) -> Locator:
    """:returns: the input of a field by its config path (``oauth2.client_id``)."""
    return page.locator(f'[id="{path}"]')


def open_page(page: Page, web: WebHost) -> None:
    """Open the page with its token and wait for the forms."""
    page.goto(web.url)
    expect(page.locator("#tab-connection")).to_be_visible()
    expect(field(page, "connection.base_url")).to_be_attached()


def _select(page: Page, path: str, label: str) -> None:
    """Choose an option by its label, drawn as a ``<select>`` or as a group of radio buttons."""
    target = field(page, path)
    expect(target).to_be_visible()
    if target.evaluate("element => element.tagName") == "SELECT":
        target.select_option(label=label)
    else:
        target.get_by_label(label, exact=True).check()


def choose_option(page: Page, path: str, label: str) -> None:
    """Choose one option of a ``oneOf`` by its title (rjsf draws its selector as ``<path>__oneof_select``)."""
    _select(page, f"{path}__oneof_select", label)


def _set(page: Page, path: str, value: str) -> None:
    target = field(page, path)
    expect(target).to_be_visible()
    target.fill(value)


def _file(page: Page, path: str, file: Path) -> None:
    """Upload a file through a file widget, or paste its text (or base64) where the UI schema draws a text box."""
    target = field(page, path)
    expect(target).to_be_visible()
    if target.get_attribute("type") == "file":
        target.set_input_files(str(file))
        # rjsf reads the file asynchronously; it then lists the file by name beside the input.
        expect(page.get_by_text(file.name)).to_be_visible()
        return
    content = file.read_bytes()
    try:
        text = content.decode("ascii")
    except UnicodeDecodeError:
        text = base64.b64encode(content).decode()
    target.fill(text)


def _parameter(page: Page, list_path: str, name: str, value: str) -> None:
    """Make the list's first parameter ``name`` = ``value`` (adding one when the list is empty)."""
    if not field(page, f"{list_path}.0.name").count():
        field(page, f"{list_path}__add").click()
    _set(page, f"{list_path}.0.name", name)
    _set(page, f"{list_path}.0.value", value)


SIGN_IN_METHODS: Final = {
    "authorization_code": "Authorization code",
    "client_secret": "Client credentials with a client secret",
    "pem": "Client credentials with a certificate (JWT)",
    "pkcs12": "Client credentials with a certificate (JWT)",
}
"""The OAuth 2.0 tab's sign-in method (the title of its ``oneOf`` option) for each state."""

KEY_FORMATS: Final = {"pem": "PEM private key and certificate", "pkcs12": "PKCS#12 (.pfx/.p12) file"}
"""The signature key's option (the title of its ``oneOf`` option) for each certificate state."""


def fill_state(page: Page, sandbox: Sandbox, state: State) -> None:
    """Fill the Connection and OAuth 2.0 tabs for one sign-in state against the sandbox: choose the sign-in method
    (and the key's format), then fill the fields of the chosen section.

    :param state: ``authorization_code`` (client secret), ``client_secret``, ``pem`` (client credentials with a JWT
        signed by a PEM key, files uploaded) or ``pkcs12`` (the same with a ``.pfx`` uploaded).
    """
    clients = sandbox.clients
    assert clients is not None
    page.click("#tab-connection")
    _select(page, "connection.protocol", "http://")
    _set(page, "connection.base_url", sandbox.origin.removeprefix("http://"))
    page.click("#tab-oauth2")
    choose_option(page, "oauth2", SIGN_IN_METHODS[state])
    _set(page, "oauth2.access_token_url", sandbox.token_url)
    if state == "authorization_code":
        client = clients.authorization_code_client
        _set(page, "oauth2.client_id", client.client_id)
        _set(page, "oauth2.client_secret", client.read_secret())
        _parameter(page, "oauth2.authorization_parameters", "resource", sandbox.origin)
        return
    _parameter(page, "oauth2.access_token_parameters", "resource", sandbox.origin)
    if state == "client_secret":
        client = clients.secret_client
        _set(page, "oauth2.client_id", client.client_id)
        _set(page, "oauth2.client_secret", client.read_secret())
        return
    certificate = next(files for files in clients.certificate_client.certificates if files.algorithm == "RSA")
    _set(page, "oauth2.client_id", clients.certificate_client.client_id)
    key = "oauth2.jwt.signature_key"
    choose_option(page, key, KEY_FORMATS[state])
    if state == "pem":
        _file(page, f"{key}.private_key", certificate.key_file)
        _file(page, f"{key}.certificate", certificate.certificate_file)
        return
    _file(page, f"{key}.pkcs12", certificate.pfx_file)
    _set(page, f"{key}.password", clients.read_pfx_password())


def state_secrets(sandbox: Sandbox, state: State) -> list[str]:
    """:returns: the secret values a state types into the form (none may reach the page after saving)."""
    clients = sandbox.clients
    assert clients is not None
    rsa = next(files for files in clients.certificate_client.certificates if files.algorithm == "RSA")
    if state == "authorization_code":
        return [clients.authorization_code_client.read_secret()]
    if state == "client_secret":
        return [clients.secret_client.read_secret()]
    if state == "pem":
        key_lines = rsa.key_file.read_text(encoding="utf-8").splitlines()
        return [line for line in key_lines if line and not line.startswith("-----")][:3]
    return [clients.read_pfx_password(), base64.b64encode(rsa.pfx_file.read_bytes()).decode()[40:120]]


def state_uploads(sandbox: Sandbox, state: State) -> dict[str, Path]:
    """:returns: the files a state uploads, by their field's path in the ``oauth2`` section."""
    clients = sandbox.clients
    assert clients is not None
    rsa = next(files for files in clients.certificate_client.certificates if files.algorithm == "RSA")
    key = "jwt.signature_key"
    if state == "pem":
        return {f"{key}.private_key": rsa.key_file, f"{key}.certificate": rsa.certificate_file}
    if state == "pkcs12":
        return {f"{key}.pkcs12": rsa.pfx_file}
    return {}


def save(page: Page) -> None:
    """Press Save and wait until the page says the config was saved."""
    page.click("#save")
    expect(page.locator(".status[data-kind='ok']")).to_contain_text("Saved")


def run_test_connection(page: Page) -> Locator:
    """Press Test Connection and wait for the report.

    :returns: the report.
    """
    page.click("#test-connection")
    report = page.locator("section.report")
    expect(report).to_be_visible(timeout=30_000)
    return report


def sign_in_on_consent_page(popup: Page, sandbox: Sandbox) -> None:
    """Sign in as the sandbox's first user and accept the consent page, in the window Generate opened."""
    clients = sandbox.clients
    assert clients is not None
    user = clients.users[0]
    popup.wait_for_load_state()
    popup.fill("#login", user.user_name)
    popup.fill("#passwd", user.read_password())
    popup.click("button[type=submit]")
    popup.click("button[value=accept]")
    expect(popup.locator("h1")).to_have_text("Signed in")


def screenshot(page: Page, folder: Path | None, name: str) -> None:
    """Save a full-page screenshot ``<folder>/<name>.png`` when screenshots are asked for (no field focused, so that
    no caret or suggestion list shows).
    """
    if folder is not None:
        page.evaluate("() => document.activeElement?.blur()")
        page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
