"""The loopback redirect listener: free port on 127.0.0.1, one callback captured, other paths refused, deadline."""

from __future__ import annotations

import logging

import pytest
import requests

from connector.errors import TransientError
from connector.host.loopback import LoopbackListener


def test_captures_the_callback_and_answers_the_browser(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    with LoopbackListener() as listener:
        assert listener.redirect_uri.startswith("http://127.0.0.1:")
        assert listener.redirect_uri.endswith("/callback")
        session = requests.Session()
        session.trust_env = False
        missing = session.get(listener.redirect_uri.replace("/callback", "/other"), timeout=5)
        page = session.get(listener.redirect_uri + "?code=canary-code-123&state=s1", timeout=5)
        params = listener.wait(timeout=5)
    assert missing.status_code == 404
    assert page.status_code == 200
    assert "Signed in" in page.text
    assert params == {"code": "canary-code-123", "state": "s1"}
    # The browser side (urllib3) may log its own request line; the listener itself must say nothing of the code.
    assert all("canary-code-123" not in r.getMessage() for r in caplog.records if not r.name.startswith("urllib3"))
    assert "canary-code-123" not in capfd.readouterr().err


def test_an_error_redirect_is_returned_too() -> None:
    with LoopbackListener() as listener:
        session = requests.Session()
        session.trust_env = False
        page = session.get(listener.redirect_uri + "?error=access_denied&error_description=no", timeout=5)
        params = listener.wait(timeout=5)
    assert "Sign-in failed" in page.text
    assert params["error"] == "access_denied"


def test_no_redirect_in_time_is_a_clear_error() -> None:
    with LoopbackListener() as listener, pytest.raises(TransientError, match="No sign-in redirect reached"):
        listener.wait(timeout=0.05)
