"""Headless completion of the interop server's login and consent pages, as a browser would do it.

A ``requests.Session`` follows the authorization server's redirects, fills and submits each HTML form it is shown
(the user name and password fields of the login page, the consent button), and stops at the redirect to the
registered callback, whose ``Location`` it returns without following it (nothing listens there).

Not for: pages other than the interop server's own (``tests/interop/server.mjs``).
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin

import requests

MAX_STEPS = 12
TIMEOUT_S = 10.0
PASSWORD = "any-password"  # the interop server accepts any password


class _FormParser(HTMLParser):
    """Collects the first form's action and its named input fields."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self._in_form = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form" and self.action is None:
            self.action = attributes.get("action", "")
            self._in_form = True
        elif tag == "input" and self._in_form and attributes.get("name"):
            self.fields[attributes["name"]] = attributes.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False


def _fill(fields: dict[str, str], user: str) -> dict[str, str]:
    filled = dict(fields)
    if "login" in filled:
        filled["login"] = user
    if "password" in filled:
        filled["password"] = PASSWORD
    return filled


def complete_authorization_flow(url: str, redirect_uri: str, *, user: str) -> str:
    """Sign in, consent, and return the redirect to the client's callback.

    :param url: the authorization URL (the authorization endpoint with its query).
    :param redirect_uri: the client's registered redirect URI; the flow stops at a redirect to it.
    :param user: the user name to sign in as.
    :returns: the callback URL with ``code`` and ``state``, or with ``error`` when the server refused.
    :raises AssertionError: when a page is neither a redirect nor a form, or the flow takes too many steps.
    """
    with requests.Session() as session:
        session.trust_env = False  # loopback: no proxy, no CA bundle from the environment
        response = session.get(url, allow_redirects=False, timeout=TIMEOUT_S)
        for _ in range(MAX_STEPS):
            if response.is_redirect:
                location = urljoin(response.url, response.headers["Location"])
                if location.startswith(redirect_uri):
                    return location
                response = session.get(location, allow_redirects=False, timeout=TIMEOUT_S)
                continue
            parser = _FormParser()
            parser.feed(response.text)
            if response.status_code != 200 or parser.action is None:
                raise AssertionError(
                    f"authorization stopped at {response.url} with HTTP {response.status_code}: {response.text[:500]}"
                )
            response = session.post(
                urljoin(response.url, parser.action),
                data=_fill(parser.fields, user),
                allow_redirects=False,
                timeout=TIMEOUT_S,
            )
    raise AssertionError(f"authorization did not reach {redirect_uri} within {MAX_STEPS} steps")
