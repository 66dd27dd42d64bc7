"""The web host answers nothing without its one-time token, listens on loopback only, and ``connector ui`` prints the
URL and stops on Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import requests

from connector.host.web import WebHost
from connector.host.web.server import TOKEN_HEADER


def get(url: str, **kwargs: object) -> requests.Response:
    with requests.Session() as session:
        session.trust_env = False
        return session.get(url, timeout=10, allow_redirects=False, **kwargs)  # type: ignore[arg-type]


def test_every_route_needs_the_token(web_host: WebHost) -> None:
    base = web_host.base_url
    assert web_host._server.server_address[0] == "127.0.0.1"
    for path in ("/", "/static/app.js", "/api/state", "/oauth/callback?code=x&state=y", "/nowhere"):
        assert get(base + path).status_code == 403, path
    assert get(base + "/?token=not-the-token").status_code == 403
    assert get(base + "/api/state", headers={TOKEN_HEADER: web_host.token[:-1] + "x"}).status_code == 403

    page = get(web_host.url)
    assert page.status_code == 200
    assert "connector-ui-token" in page.text
    cookie = page.cookies.get(f"connector_ui_{web_host.port}")
    assert cookie == web_host.token
    assert "httponly" in page.headers["Set-Cookie"].lower()
    assert get(base + "/static/app.js", cookies={f"connector_ui_{web_host.port}": cookie}).status_code == 200
    # The API takes the token from its header only: another site's form post would carry the cookie.
    assert get(base + "/api/state", cookies={f"connector_ui_{web_host.port}": cookie}).status_code == 403
    state = get(base + "/api/state", headers={TOKEN_HEADER: web_host.token})
    assert state.status_code == 200
    assert state.json()["callback_url"] == web_host.callback_url


def test_another_host_name_is_refused(web_host: WebHost) -> None:
    answer = get(web_host.url, headers={"Host": f"attacker.example:{web_host.port}"})
    assert answer.status_code == 403


def _interruptible() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_connector_ui_prints_the_url_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    env = {**os.environ, "CONNECTOR_HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1"}
    child = subprocess.Popen(
        [sys.executable, "-m", "connector.host.cli", "ui", str(tmp_path / "d365.json"), "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        # As from a terminal: a suite started as a background job of a script runs with SIGINT ignored, and a child
        # that inherits that never sees Ctrl-C (Python installs its KeyboardInterrupt handler only when not ignored).
        preexec_fn=_interruptible,
    )
    try:
        assert child.stdout is not None
        url = ""
        for line in child.stdout:
            if "?token=" in line:
                url = line.strip()
                break
        assert url.startswith("http://127.0.0.1:"), url
        assert get(url).status_code == 200
        assert get(url.split("?", 1)[0]).status_code == 403
        child.send_signal(signal.SIGINT)
        child.wait(timeout=20)
        out, err = child.stdout.read(), (child.stderr.read() if child.stderr else "")
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, (out, err)
    assert "Stopped." in out, (out, err)
    assert "token=" not in err  # no request log
