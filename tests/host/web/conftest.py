"""Fixtures of the web host's tests: a sandbox, the web host in this process, and Debian's Chromium driven by
Playwright (``/usr/bin/chromium``; no browser is downloaded).

Provided:

* ``web_sandbox`` (module scope): a running sandbox over plain http with its token service, seeded with accounts.
* ``web_host``: a :class:`~connector.host.web.WebHost` for a fresh config file and token store, stopped afterwards.
* ``chromium`` (module scope): the browser; ``page``: a fresh browser context and page per test. Playwright's sync
  API runs one instance at a time, so each module stops its own before the next module (or
  ``tests/schemas/test_rjsf.py``) starts one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from connector.host.web import WebHost
from dataverse_sandbox.config import SandboxConfig
from dataverse_sandbox.server import Sandbox
from tests.support.sandbox import start_sandbox
from tests.support.web_ui import CHROMIUM, SCREENSHOTS_ENV

SEEDED_ACCOUNTS = 30


@pytest.fixture(scope="module")
def web_sandbox() -> Iterator[Sandbox]:
    """A sandbox over http with the real token service and a few accounts."""
    sb = start_sandbox(SandboxConfig())
    sb.seed(n_accounts=SEEDED_ACCOUNTS)
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def web_host(tmp_path: Path) -> Iterator[WebHost]:
    """The web host for ``<tmp>/d365.json`` and its own token store, serving in a background thread."""
    web = WebHost("dynamics365-ce", tmp_path / "d365.json", token_store_path=tmp_path / "tokens.fernet")
    with web:
        yield web


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/test.sh installs Debian's chromium package")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            # No background traffic (updates, safe browsing): the tests stay on loopback.
            args=["--disable-background-networking", "--disable-component-update", "--no-first-run"],
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) and page; JavaScript errors fail the test."""
    context = chromium.new_context(viewport={"width": 1100, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.set_default_timeout(15_000)
    try:
        yield tab
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def screenshots() -> Path | None:
    """Where to save the documentation's screenshots (``$CONNECTOR_UI_SCREENSHOTS``), or ``None``."""
    folder = os.environ.get(SCREENSHOTS_ENV)
    if not folder:
        return None
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    return path
