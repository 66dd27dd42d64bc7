"""The buttons in a real browser, on a config saved beforehand as ``connector form`` saves one (secrets as
``$file`` references): Generate through the sandbox's consent page, Test Connection passing and failing with the field
to fix highlighted, Browse and the query preview.
"""

from __future__ import annotations

import json
from pathlib import Path

from playwright.sync_api import Page, expect

from connector.host.sandbox_config import sandbox_config
from connector.host.token_store import EncryptedTokenStore
from connector.host.web import WebHost
from dataverse_sandbox.server import Sandbox
from tests.support.web_ui import (
    SIGN_IN_METHODS,
    choose_option,
    field,
    open_page,
    run_test_connection,
    screenshot,
    sign_in_on_consent_page,
)

WRONG_SECRET = "wrong-secret-8Q~canary-value-0123456789"


def write_config(web: WebHost, sandbox: Sandbox, grant: str) -> dict[str, object]:
    config = sandbox_config(sandbox, grant)  # type: ignore[arg-type]
    web.config_path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return config


def test_generate_signs_in_through_the_consent_page_and_stores_the_tokens(
    page: Page, web_host: WebHost, web_sandbox: Sandbox, screenshots: Path | None
) -> None:
    write_config(web_host, web_sandbox, "authorization_code")
    clients = web_sandbox.clients
    assert clients is not None
    web_sandbox.register_redirect_uri(clients.authorization_code_client.client_id, web_host.callback_url)
    open_page(page, web_host)
    page.click("#tab-oauth2")
    expect(page.locator("#callback-url")).to_have_text(web_host.callback_url)

    with page.expect_popup() as opened:
        page.click("#generate")
    popup = opened.value
    expect(popup.locator("#passwd")).to_be_visible()
    screenshot(popup, screenshots, "consent-sign-in")
    sign_in_on_consent_page(popup, web_sandbox)
    status = page.locator("#sign-in-status[data-kind='ok']")
    expect(status).to_contain_text("Tokens stored")
    screenshot(page, screenshots, "oauth2-generated")

    store = EncryptedTokenStore(web_host.actions.token_store_path)
    assert store.keys(), "the tokens are in the encrypted token store"
    assert b"refresh_token" not in store.path.read_bytes()

    report = run_test_connection(page)
    expect(report).to_have_attribute("data-ok", "true")


def test_a_replayed_or_unknown_callback_is_refused(page: Page, web_host: WebHost) -> None:
    page.goto(web_host.url)
    answer = page.goto(f"{web_host.callback_url}?code=stolen&state=made-up")
    assert answer is not None
    assert answer.status == 400
    expect(page.locator("h1")).to_have_text("Sign-in failed")


def test_a_wrong_secret_fails_its_check_and_highlights_the_field(
    page: Page, web_host: WebHost, web_sandbox: Sandbox, tmp_path: Path, screenshots: Path | None
) -> None:
    config = write_config(web_host, web_sandbox, "client_secret")
    wrong = tmp_path / "wrong-secret"
    wrong.write_text(WRONG_SECRET, encoding="utf-8")
    oauth2 = config["oauth2"]
    assert isinstance(oauth2, dict)
    oauth2["client_secret"] = {"$file": str(wrong)}
    web_host.config_path.write_text(json.dumps(config), encoding="utf-8")

    open_page(page, web_host)
    report = run_test_connection(page)
    expect(report).to_have_attribute("data-ok", "false")
    failed = report.locator(".check[data-status='failed']").first
    expect(failed.locator(".check-field")).to_contain_text("oauth2.client_secret")
    # The page went to the field's tab and marked the field, with the check's message under it.
    expect(page.locator("#tab-oauth2")).to_have_attribute("aria-selected", "true")
    secret = field(page, "oauth2.client_secret")
    expect(secret).to_be_visible()
    expect(page.locator(".field-to-fix").filter(has=secret)).to_have_count(1)
    expect(page.locator(".field-to-fix .error-detail").first).not_to_be_empty()
    assert WRONG_SECRET not in page.content()
    screenshot(page, screenshots, "test-connection-wrong-secret")

    # Under another sign-in method the field is not drawn: its closest shown parent, the OAuth 2.0 form with its
    # method selector, is marked instead, with the message; back under the failing method, the field is marked again.
    choose_option(page, "oauth2", SIGN_IN_METHODS["pem"])
    expect(secret).to_have_count(0)
    marked = page.locator(".field-to-fix")
    expect(marked).to_have_count(1)
    expect(marked.filter(has=field(page, "oauth2__oneof_select"))).to_have_count(1)
    expect(marked.locator(".error-detail").last).to_contain_text("oauth2.client_secret")
    choose_option(page, "oauth2", SIGN_IN_METHODS["client_secret"])
    expect(page.locator(".field-to-fix").filter(has=secret)).to_have_count(1)


def test_browse_lists_entity_sets_and_previews_the_first_records(
    page: Page, web_host: WebHost, web_sandbox: Sandbox, screenshots: Path | None
) -> None:
    write_config(web_host, web_sandbox, "client_secret")
    open_page(page, web_host)
    page.click("#tab-runtime")
    expect(field(page, "runtime.proxy.host")).to_be_visible()
    screenshot(page, screenshots, "runtime")
    page.click("#tab-browse")
    page.fill("#browse-filter", "acc*")
    page.click("#browse-submit")
    row = page.locator("tr[data-entity-set='accounts']")
    expect(row).to_be_visible(timeout=30_000)
    page.fill("#query-top", "5")
    row.locator("button:text('Preview')").click()
    preview = page.locator("table[aria-label='Query preview']")
    expect(preview.locator("tbody tr")).to_have_count(5, timeout=30_000)
    expect(preview.locator("thead")).to_contain_text("name")
    screenshot(page, screenshots, "browse-preview")
