"""Helpers for the token-service tests: the running-server handle, client assertions, and a scripted browser.

Plain functions and classes, imported by the tests (``from tests.support.entra import make_assertion``); the
fixtures that start the server live in ``tests/sandbox/entra/conftest.py``.
"""

from __future__ import annotations

import functools
import html.parser
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import jwt
import requests
from cryptography.hazmat.primitives import serialization

from dataverse_sandbox.contracts import Clock
from dataverse_sandbox.entra import ProvisionedClients, TokenService
from dataverse_sandbox.entra.certificates import certificate_info

__all__ = [
    "JWT_BEARER",
    "TEST_REDIRECT_URI",
    "EntraServer",
    "form_fields",
    "make_assertion",
    "redirect_params",
    "sign_in",
]

TEST_REDIRECT_URI = "http://127.0.0.1:1/test-callback"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass
class EntraServer:
    """A running token service and what tests need to talk to it."""

    base_url: str
    service: TokenService
    clock: Clock
    provisioned: ProvisionedClients

    @property
    def tenant_id(self) -> str:
        return self.service.tenant_id

    @property
    def api_resource(self) -> str:
        """The resource URI standing in for the Web API (the server's origin)."""
        return self.base_url

    def token_url(self, version: str = "2.0", tenant: str | None = None) -> str:
        middle = "oauth2/token" if version == "1.0" else "oauth2/v2.0/token"
        return f"{self.base_url}/{tenant or self.tenant_id}/{middle}"

    def authorize_url(self, version: str = "2.0", tenant: str | None = None) -> str:
        middle = "oauth2/authorize" if version == "1.0" else "oauth2/v2.0/authorize"
        return f"{self.base_url}/{tenant or self.tenant_id}/{middle}"


# --- client assertions ------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _load_key(path: Path) -> Any:
    # Loading checks the RSA key (about 0.1 s); the provisioned keys never change during a test run.
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def make_assertion(
    *,
    client_id: str,
    key_file: Path | None = None,
    key: Any = None,
    certificate_pem: bytes | None = None,
    certificate_file: Path | None = None,
    audience: str,
    algorithm: str = "RS256",
    thumbprint: str = "x5t",
    now: float | None = None,
    claims: Mapping[str, Any] | None = None,
    headers: Mapping[str, Any] | None = None,
) -> str:
    """Sign a client assertion the way MSAL does.

    :param thumbprint: ``x5t``, ``x5t#S256``, ``both`` or ``none``.
    :param claims: claims to override (a value of ``None`` removes the claim).
    :param headers: header fields to override.
    """
    if key is None:
        assert key_file is not None
        key = _load_key(key_file)
    pem = (
        certificate_pem if certificate_pem is not None else (certificate_file.read_bytes() if certificate_file else b"")
    )
    info = certificate_info(pem)
    issued = time.time() if now is None else now
    body: dict[str, Any] = {
        "aud": audience,
        "iss": client_id,
        "sub": client_id,
        "jti": str(uuid.uuid4()),
        "nbf": int(issued),
        "iat": int(issued),
        "exp": int(issued) + 600,
    }
    for name, value in (claims or {}).items():
        if value is None:
            body.pop(name, None)
        else:
            body[name] = value
    header: dict[str, Any] = {}
    if thumbprint in ("x5t", "both"):
        header["x5t"] = info.x5t
    if thumbprint in ("x5t#S256", "both"):
        header["x5t#S256"] = info.x5t_s256
    header.update(headers or {})
    return jwt.encode(body, key, algorithm=algorithm, headers=header)


# --- interactive sign-in ----------------------------------------------------------------------------------------


class _FormParser(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form" and self.action is None:
            self.action = values.get("action", "")
        elif tag == "input" and values.get("name"):
            self.fields[values["name"]] = values.get("value", "")


def form_fields(page: str) -> tuple[str, dict[str, str]]:
    """:returns: the first form's action and its input fields (name → value) of an HTML page."""
    parser = _FormParser()
    parser.feed(page)
    assert parser.action is not None, "no form on the page"
    return parser.action, parser.fields


def redirect_params(response: requests.Response) -> dict[str, str]:
    """:returns: the query parameters of a 302's ``Location`` (one value each)."""
    assert response.status_code == 302, response.text
    query = urlsplit(response.headers["Location"]).query
    return {name: values[0] for name, values in parse_qs(query).items()}


def sign_in(
    session: requests.Session,
    authorize_url: str,
    params: Mapping[str, str],
    *,
    user_name: str,
    password: str,
    decision: str = "accept",
) -> requests.Response:
    """Open the authorize URL, sign in and answer the consent page, as a browser user would.

    :returns: the final response (a 302 to the redirect URI, not followed).
    """
    page = session.get(authorize_url, params=params, allow_redirects=False, timeout=10)
    assert page.status_code == 200, page.text
    action, fields = form_fields(page.text)
    fields.update(login=user_name, passwd=password)
    response = session.post(urljoin(authorize_url, action), data=fields, allow_redirects=False, timeout=10)
    if response.status_code != 200:
        return response
    action, fields = form_fields(response.text)
    if "passwd" in fields:
        return response  # the login page again: the sign-in failed
    fields["decision"] = decision
    return session.post(urljoin(authorize_url, action), data=fields, allow_redirects=False, timeout=10)
