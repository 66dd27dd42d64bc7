"""A one-shot loopback redirect listener for the authorization-code grant (RFC 8252 §7.3).

It listens on 127.0.0.1 (a free port unless one is given, so the URL can match a registered callback exactly),
waits for the identity provider's redirect, answers the browser with a short page, and hands back the callback's
query parameters. It answers only its own path, stops after the first callback or at its deadline, and never logs the
authorization code.
"""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Final
from urllib.parse import parse_qsl, urlsplit

from connector.errors import TransientError

__all__ = ["LoopbackListener"]

_PAGE: Final = (
    "<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
    "<body style='font-family:sans-serif'><h1>{title}</h1><p>{text}</p></body></html>"
)


class LoopbackListener:
    """Waits for one OAuth redirect on ``http://127.0.0.1:<port>/<path>``.

    :param port: the port, 0 for a free one.
    :param path: the callback path.
    """

    def __init__(self, port: int = 0, path: str = "/callback") -> None:
        self.path = "/" + path.strip("/")
        self._params: dict[str, str] | None = None
        self._received = threading.Event()
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path != listener.path:
                    self.send_error(404)
                    return
                params = dict(parse_qsl(parts.query, keep_blank_values=True))
                ok = "code" in params and "error" not in params
                title = "Signed in" if ok else "Sign-in failed"
                text = "You can close this window and return to the terminal." if ok else "See the terminal."
                body = _PAGE.format(title=title, text=text).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                if not listener._received.is_set():
                    listener._params = params
                    listener._received.set()

            def log_message(self, format: str, *args: object) -> None:
                return  # the request line carries the authorization code: never log it

        self._server = http.server.HTTPServer(("127.0.0.1", port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="oauth-loopback", daemon=True)

    @property
    def redirect_uri(self) -> str:
        """The URL to register and to send as ``redirect_uri``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.path}"

    def __enter__(self) -> LoopbackListener:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop listening."""
        self._server.shutdown()
        self._server.server_close()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def wait(self, timeout: float) -> Mapping[str, str]:
        """Wait for the redirect.

        :param timeout: seconds to wait.
        :returns: the callback's query parameters (``code`` and ``state``, or ``error``).
        :raises TransientError: when no redirect arrived in time.
        """
        deadline = time.monotonic() + timeout
        if not self._received.wait(max(0.0, deadline - time.monotonic())) or self._params is None:
            raise TransientError(f"No sign-in redirect reached {self.redirect_uri} within {timeout:.0f} s")
        return dict(self._params)
