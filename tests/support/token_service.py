"""A fake token service for the token source's tests: a real class with the transport's ``send`` that issues numbered
tokens (``access-N`` / ``refresh-N``) and enforces single-use refresh tokens, as Entra and oidc-provider do, with a
gate a test can close to hold token requests in flight.

Not for: anything the connector ships, or proofs against a real server (``tests.support.interop``, the sandbox).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

import requests

from connector.results import TokenSet
from tests.support.auth import CANARY_ID_TOKEN

__all__ = ["WAIT_S", "FakeTokenService", "json_answer"]

WAIT_S = 5.0
"""The longest a test waits for another thread."""


class FakeTokenService:
    """Issues ``access-N`` / ``refresh-N``; a refresh token works once (rotation), as Entra and oidc-provider."""

    def __init__(self, *, lifetime: int = 3600) -> None:
        self.lifetime = lifetime
        self.forms: list[dict[str, str]] = []
        self.live_refresh_tokens: set[str] = set()
        self.gate: threading.Event | None = None
        self.arrived = threading.Event()
        self._issued = 0
        self._lock = threading.Lock()

    def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        data_factory: Callable[[], Any] | None = None,
        authenticate: bool = True,
        idempotent: bool | None = None,
    ) -> requests.Response:
        assert (method, authenticate) == ("POST", False)
        assert data_factory is not None
        form = dict(data_factory())
        with self._lock:
            self.forms.append(form)
        self.arrived.set()
        if self.gate is not None:
            assert self.gate.wait(WAIT_S)
        with self._lock:
            if form["grant_type"] == "refresh_token":
                if form["refresh_token"] not in self.live_refresh_tokens:
                    return json_answer(400, {"error": "invalid_grant", "error_description": "grant request is invalid"})
                self.live_refresh_tokens.discard(form["refresh_token"])
            self._issued += 1
            body: dict[str, Any] = {
                "access_token": f"access-{self._issued}",
                "token_type": "Bearer",
                "expires_in": self.lifetime,
                "id_token": CANARY_ID_TOKEN,
            }
            if form["grant_type"] != "client_credentials":
                body["refresh_token"] = f"refresh-{self._issued}"
                body["scope"] = "user_impersonation"
                self.live_refresh_tokens.add(body["refresh_token"])
            return json_answer(200, body)

    def grant(self) -> TokenSet:
        """Issue an authorization-code token set directly (as if the callback had been redeemed)."""
        with self._lock:
            self._issued += 1
            refresh = f"refresh-{self._issued}"
            self.live_refresh_tokens.add(refresh)
            return TokenSet(f"access-{self._issued}", refresh_token=refresh, expires_at=None)

    @property
    def requests(self) -> int:
        return len(self.forms)


def json_answer(status: int, body: dict[str, Any]) -> requests.Response:
    answer = requests.Response()
    answer.status_code = status
    answer._content = json.dumps(body).encode()
    answer.headers["Content-Type"] = "application/json"
    return answer
