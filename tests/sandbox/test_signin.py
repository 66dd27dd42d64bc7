"""Headless sign-in (dataverse_sandbox.signin) with a loopback redirect URI on a free port registered at run time.

The flow a CLI's ``authorize`` runs: listen on 127.0.0.1 and a free port, register that URI (admin endpoint or the
in-process handle), open the authorization URL, complete the login and consent pages, land on the listener with
``code`` and ``state``, redeem the code with PKCE, call the Web API. Everything else is plain ``requests``.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import secrets
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from dataverse_sandbox.server import Sandbox
from dataverse_sandbox.signin import SignInError, sign_in_headless


class Listener:
    """A loopback HTTP listener that keeps the query of the first request it gets (a CLI's redirect target)."""

    def __init__(self) -> None:
        received: dict[str, str] = {}
        arrived = threading.Event()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                received.update({k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()})
                arrived.set()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.redirect_uri = f"http://127.0.0.1:{self.server.server_port}/callback"
        self.received = received
        self.arrived = arrived
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def wait(self) -> dict[str, str]:
        assert self.arrived.wait(10), "the browser never reached the listener"
        return self.received

    def close(self) -> None:
        self.server.shutdown()
        self.thread.join(5)
        self.server.server_close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    started = Listener()
    try:
        yield started
    finally:
        started.close()


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorization_url(sb: Sandbox, redirect_uri: str, state: str, challenge: str) -> str:
    clients = sb.clients
    assert clients is not None
    query = {
        "client_id": clients.authorization_code_client.client_id,
        "response_type": "code",
        "redirect_uri": redirect_uri,
        "scope": f"{sb.origin}/user_impersonation offline_access",
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return f"{sb.authorize_url_v2}?{urlencode(query)}"


def sign_in(sb: Sandbox, redirect_uri: str) -> tuple[str, str, str]:
    """:returns: the redirect the pages answered with, the state sent and the PKCE verifier."""
    clients = sb.clients
    assert clients is not None
    user = clients.users[0]
    verifier, challenge = pkce()
    state = secrets.token_urlsafe(12)
    redirect = sign_in_headless(
        authorization_url(sb, redirect_uri, state, challenge), user_name=user.user_name, password=user.read_password()
    )
    return redirect, state, verifier


def redeem(sb: Sandbox, code: str, redirect_uri: str, verifier: str) -> requests.Response:
    clients = sb.clients
    assert clients is not None
    client = clients.authorization_code_client
    return requests.post(
        sb.token_url_v2,
        data={
            "grant_type": "authorization_code",
            "client_id": client.client_id,
            "client_secret": client.read_secret(),
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
            "scope": f"{sb.origin}/user_impersonation offline_access",
        },
        timeout=10,
    )


def test_a_loopback_uri_registered_through_the_admin_endpoint_completes_the_grant(
    sandbox: Sandbox, listener: Listener
) -> None:
    clients = sandbox.clients
    assert clients is not None
    client_id = clients.authorization_code_client.client_id
    registered = requests.post(
        f"{sandbox.admin_url}clients/{client_id}/redirect_uris",
        json={"uri": listener.redirect_uri},
        headers=sandbox.admin_headers,
        timeout=5,
    )
    assert registered.status_code == 201
    assert listener.redirect_uri in registered.json()["redirect_uris"]
    redirect, state, verifier = sign_in(sandbox, listener.redirect_uri)
    assert redirect.startswith(listener.redirect_uri + "?")
    requests.get(redirect, timeout=5)  # the browser follows the redirect to the listener
    params = listener.wait()
    assert params["state"] == state
    tokens = redeem(sandbox, params["code"], listener.redirect_uri, verifier)
    assert tokens.status_code == 200, tokens.text
    assert "refresh_token" in tokens.json()
    who = requests.get(
        sandbox.api_root + "WhoAmI", headers={"Authorization": f"Bearer {tokens.json()['access_token']}"}, timeout=5
    )
    assert who.status_code == 200


def test_the_in_process_handle_registers_a_uri_too(make_sandbox: Callable[..., Sandbox], listener: Listener) -> None:
    sb = make_sandbox()
    assert sb.clients is not None
    client_id = sb.clients.authorization_code_client.client_id
    with pytest.raises(SignInError):
        sign_in(sb, listener.redirect_uri)  # not registered yet: Entra's error page, no redirect
    assert listener.redirect_uri in sb.register_redirect_uri(client_id, listener.redirect_uri)
    redirect, _, verifier = sign_in(sb, listener.redirect_uri)
    code = parse_qs(urlsplit(redirect).query)["code"][0]
    assert redeem(sb, code, listener.redirect_uri, verifier).status_code == 200


def test_any_port_switch_accepts_the_registered_loopback_uri_on_any_port(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    sb = make_sandbox(loopback_redirect_any_port=True)
    # Provisioning registers http://localhost/callback (no port); the switch lets any port match it.
    redirect, _, _ = sign_in(sb, "http://localhost:53999/callback")
    assert redirect.startswith("http://localhost:53999/callback?code=")
    with pytest.raises(SignInError):
        sign_in(sb, "http://localhost:53999/elsewhere")


def test_auto_consent_through_the_admin_endpoint_skips_the_pages(
    make_sandbox: Callable[..., Sandbox], listener: Listener
) -> None:
    sb = make_sandbox()
    assert sb.clients is not None
    client_id = sb.clients.authorization_code_client.client_id
    sb.register_redirect_uri(client_id, listener.redirect_uri)
    switched = requests.put(
        f"{sb.admin_url}clients/{client_id}/auto_consent", json={"enabled": True}, headers=sb.admin_headers, timeout=5
    )
    assert switched.json() == {"client_id": client_id, "auto_consent": True}
    _, challenge = pkce()
    direct = requests.get(
        authorization_url(sb, listener.redirect_uri, "s", challenge), allow_redirects=False, timeout=5
    )
    assert direct.status_code == 302
    assert direct.headers["Location"].startswith(listener.redirect_uri + "?code=")


def test_a_wrong_password_stops_the_headless_sign_in(sandbox: Sandbox) -> None:
    clients = sandbox.clients
    assert clients is not None
    _, challenge = pkce()
    url = authorization_url(sandbox, "http://localhost/callback", "s", challenge)
    with pytest.raises(SignInError, match="user name or password"):
        sign_in_headless(url, user_name=clients.users[0].user_name, password="not-the-password")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"uri": "http://example.com/callback"}, 400, "invalid_redirect_uri"),
        ({"uri": "http://127.0.0.1:8080/cb#fragment"}, 400, "invalid_redirect_uri"),
        ({"url": "http://127.0.0.1:8080/cb"}, 400, "invalid_request"),
        ({"uri": 5}, 400, "invalid_request"),
    ],
)
def test_admin_refuses_bad_redirect_uris(sandbox: Sandbox, body: dict[str, Any], status: int, code: str) -> None:
    clients = sandbox.clients
    assert clients is not None
    url = f"{sandbox.admin_url}clients/{clients.authorization_code_client.client_id}/redirect_uris"
    response = requests.post(url, json=body, headers=sandbox.admin_headers, timeout=5)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_admin_names_an_unknown_client(sandbox: Sandbox) -> None:
    response = requests.post(
        f"{sandbox.admin_url}clients/00000000-0000-0000-0000-00000000abcd/redirect_uris",
        json={"uri": "http://127.0.0.1:9/cb"},
        headers=sandbox.admin_headers,
        timeout=5,
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_client"


def test_admin_lists_redirect_uris(sandbox: Sandbox) -> None:
    clients = sandbox.clients
    assert clients is not None
    client_id = clients.authorization_code_client.client_id
    listed = requests.get(
        f"{sandbox.admin_url}clients/{client_id}/redirect_uris", headers=sandbox.admin_headers, timeout=5
    )
    assert listed.status_code == 200
    assert "http://localhost/callback" in listed.json()["redirect_uris"]
