"""Complete the sandbox's sign-in and consent pages without a browser, as a person would with one.

The demo uses it to show the authorization-code grant end to end on a machine with no browser: it opens the
authorization URL, fills the login form (user name and password), accepts the consent page, and returns the redirect
the browser would have followed. It speaks only HTML forms and HTTP, so it proves the pages are usable.
"""

from __future__ import annotations

import html.parser
from urllib.parse import urljoin

import requests

__all__ = ["SignInError", "sign_in_headless"]


class SignInError(Exception):
    """The pages did not lead to a redirect (wrong password, an error page)."""


class _Form(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form" and not self.action:
            self.action = values.get("action", "")
        elif tag == "input" and values.get("name") and values.get("type") == "hidden":
            self.fields[values["name"]] = values.get("value", "")


def _form(page: str) -> tuple[str, dict[str, str]]:
    parser = _Form()
    parser.feed(page)
    if not parser.action:
        raise SignInError("the page has no form (an error page?)")
    return parser.action, parser.fields


def sign_in_headless(url: str, *, user_name: str, password: str, verify: str | bool = True) -> str:
    """Sign in and consent on the sandbox's pages.

    :param url: the authorization URL the connector built.
    :param user_name: a sandbox user (``alice@…``).
    :param password: that user's password (from the sandbox's state directory).
    :param verify: the CA bundle for a TLS sandbox.
    :returns: the redirect URL with ``code`` and ``state`` (not followed).
    :raises SignInError: when the flow stops before a redirect.
    """
    with requests.Session() as browser:
        browser.trust_env = False
        browser.verify = verify
        page = browser.get(url, allow_redirects=False, timeout=30)
        if page.status_code == 302:
            return page.headers["Location"]  # consent remembered, or an auto-consent client
        action, fields = _form(page.text)
        fields.update(login=user_name, passwd=password)
        answer = browser.post(urljoin(url, action), data=fields, allow_redirects=False, timeout=30)
        if answer.status_code == 200:
            action, fields = _form(answer.text)
            if "passwd" in answer.text:
                raise SignInError("the sandbox refused the user name or password")
            fields["decision"] = "accept"
            answer = browser.post(urljoin(url, action), data=fields, allow_redirects=False, timeout=30)
        if answer.status_code != 302:
            raise SignInError(f"expected a redirect, got HTTP {answer.status_code}")
        return answer.headers["Location"]
