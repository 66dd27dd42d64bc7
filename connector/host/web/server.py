"""``connector ui``'s HTTP server: the page, its API, and the OAuth callback, on loopback behind a one-time token.

It listens on 127.0.0.1 only (a free port unless one is given) and answers nothing without the token it prints, as
Jupyter does: the first page load carries it in the URL (``/?token=...``) and gets it back as a cookie bound to this
port, so the page and the identity provider's redirect to ``/oauth/callback`` are recognised; the page's API calls
send it in the ``X-Connector-Token`` header, which a page of another origin cannot set, so a cookie alone does not
reach the API. Tokens are compared in constant time; requests naming another ``Host`` (DNS rebinding) are refused.

The request log is off: request lines carry the token and authorization codes. Nothing a connector or the config
holds as a secret reaches a response (:mod:`connector.host.web.config_form` masks them, actions scrub messages).

Not for what the buttons do (:mod:`connector.host.web.actions`) or the form's content (``form_parts``,
``config_form``).
"""

from __future__ import annotations

import hmac
import html
import json
import logging
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from connector.errors import ConnectorError
from connector.host.facade import ConnectorHost
from connector.host.redaction import write_only_names
from connector.host.secret_files import secrets_dir_for
from connector.host.web.actions import ConnectionActions
from connector.host.web.config_form import FILE_MASK, SECRET_MASK, ConfigForm, SavedSecretError, data_url_names
from connector.host.web.form_parts import FormPart, form_parts

__all__ = ["CALLBACK_PATH", "TOKEN_HEADER", "WebHost"]

TOKEN_HEADER: Final = "X-Connector-Token"  # noqa: S105 - a header name, not a secret
CALLBACK_PATH: Final = "/oauth/callback"
MAX_BODY: Final = 4 * 1024 * 1024
"""The largest request body accepted (a PKCS#12 upload is a few kilobytes)."""

_STATIC: Final = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}
# ajv compiles each schema into a function (``new Function``): the page needs 'unsafe-eval', and only its own scripts.
_SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

_log = logging.getLogger(__name__)


class _QuietHandler(WSGIRequestHandler):
    """werkzeug's handler without the request log: request lines carry the token and authorization codes."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return

    def log(self, type: str, message: str, *args: Any) -> None:
        return


def _static_file(name: str) -> bytes:
    return resources.files("connector.host.web").joinpath("static", name).read_bytes()


def _page(title: str, token: str) -> str:
    return (
        "<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title>"
        f"<meta name='connector-ui-token' content='{html.escape(token)}'>"
        "<link rel='stylesheet' href='/static/app.css'></head>"
        "<body><div id='app'><noscript>This page needs JavaScript.</noscript></div>"
        "<script src='/static/app.js'></script></body></html>\n"
    )


def _message_page(title: str, text: str, ok: bool) -> str:
    css = "ok" if ok else "failed"
    return (
        "<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><link rel='stylesheet' href='/static/app.css'></head>"
        f"<body class='message-page'><main class='message {css}'><h1>{html.escape(title)}</h1>"
        f"<p>{html.escape(text)}</p></main></body></html>\n"
    )


class WebHost:
    """The web reference host for one connector and one config file.

    :param connector_id: the connector whose forms are shown.
    :param config_path: the config file Save writes (``connector form -o`` writes the same file).
    :param token_store_path: the encrypted token store; the default location when ``None``.
    :param port: the port on 127.0.0.1; 0 for a free one.
    :param host: the facade over the installed connectors; loaded from the entry points when ``None``.
    """

    def __init__(
        self,
        connector_id: str,
        config_path: Path,
        *,
        token_store_path: Path | None = None,
        port: int = 0,
        host: ConnectorHost | None = None,
    ) -> None:
        self.connector_id = connector_id
        self.config_path = config_path
        self.host = host or ConnectorHost()
        self.token = secrets.token_urlsafe(32)
        self.parts: list[FormPart] = form_parts(self.host, connector_id)
        self._server: BaseWSGIServer = make_server(
            "127.0.0.1", port, self._wsgi, threaded=True, request_handler=_QuietHandler
        )
        self.port = int(self._server.server_port)
        self._cookie = f"connector_ui_{self.port}"
        self.form = ConfigForm(
            config_path,
            secrets_dir_for(config_path, connector_id),
            {part.name: write_only_names(part.schema) for part in self.parts},
            file_names={part.name: data_url_names(part.schema) for part in self.parts},
        )
        self.actions = ConnectionActions(self.host, connector_id, config_path, token_store_path, self.callback_url)
        self._thread: threading.Thread | None = None
        self._routes: dict[tuple[str, str], Callable[[Request], Response]] = {
            ("GET", "/"): self._index,
            ("GET", "/favicon.ico"): lambda request: Response(status=204),
            ("GET", CALLBACK_PATH): self._callback,
            ("GET", "/api/state"): self._state,
            ("POST", "/api/save"): self._save,
            ("POST", "/api/test"): lambda request: _json(self.actions.test()),
            ("POST", "/api/authorize"): lambda request: _json(self.actions.authorize()),
            ("GET", "/api/authorize/status"): self._authorize_status,
            ("POST", "/api/browse"): self._browse,
            ("POST", "/api/query"): self._query,
        }

    # -- life cycle -------------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The URL to open: the page with the one-time token."""
        return f"{self.base_url}/?token={self.token}"

    @property
    def callback_url(self) -> str:
        """The OAuth redirect URI to register with the identity provider."""
        return f"{self.base_url}{CALLBACK_PATH}"

    def start(self) -> WebHost:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, name="connector-ui", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until :meth:`stop` or Ctrl-C (werkzeug's server returns on ``KeyboardInterrupt``)."""
        try:
            self._server.serve_forever()
        finally:
            self._server.server_close()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.host.close()

    def __enter__(self) -> WebHost:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    # -- HTTP ---------------------------------------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        response = self._respond(request)
        for name, value in _SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response(environ, start_response)

    def _token_matches(self, candidate: str | None) -> bool:
        return candidate is not None and hmac.compare_digest(candidate.encode(), self.token.encode())

    def _authorized(self, request: Request) -> bool:
        if request.path.startswith("/api/"):
            # The API takes the token only from its header: a cookie would be sent by any page's form post.
            return self._token_matches(request.headers.get(TOKEN_HEADER))
        return self._token_matches(request.args.get("token")) or self._token_matches(request.cookies.get(self._cookie))

    def _respond(self, request: Request) -> Response:
        if request.host not in {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}:
            return _text(403, "Forbidden: unexpected Host header.")
        if not self._authorized(request):
            return _text(403, "Forbidden: open the URL with the token that `connector ui` printed.")
        if request.path.startswith("/static/") and request.method == "GET":
            name = request.path.removeprefix("/static/")
            if name not in _STATIC:
                return _text(404, "Not found.")
            response = Response(_static_file(name), content_type=_STATIC[name])
            response.headers["Cache-Control"] = "no-cache"
            return response
        route = self._routes.get((request.method, request.path))
        if route is None:
            known = any(path == request.path for _, path in self._routes)
            return _text(405 if known else 404, "Method not allowed." if known else "Not found.")
        if request.content_length is not None and request.content_length > MAX_BODY:
            return _text(413, "Request too large.")
        try:
            return route(request)
        except ConnectorError as error:
            return _json({"ok": False, "error": error.user_message, "field": error.field}, status=400)
        except Exception as error:
            # The message could quote a value from the config: log the type only.
            _log.error("connector ui: %s while answering %s %s", type(error).__name__, request.method, request.path)
            return _json({"ok": False, "error": f"Internal error ({type(error).__name__}); see the terminal."}, 500)

    def _index(self, request: Request) -> Response:
        name = str((self.host.connector(self.connector_id).manifest or {}).get("name") or self.connector_id)
        response = Response(_page(f"{name} — connector ui", self.token), content_type="text/html; charset=utf-8")
        if request.args.get("token"):
            response.set_cookie(self._cookie, self.token, httponly=True, samesite="Lax", path="/")
        return response

    def _state(self, request: Request) -> Response:
        connector = self.host.connector(self.connector_id)
        manifest = connector.manifest or {}
        data = self.form.form_data()
        return _json(
            {
                "connector": {
                    "id": connector.id,
                    "name": manifest.get("name") or connector.id,
                    "version": connector.version or manifest.get("version"),
                },
                "config_path": str(self.config_path),
                "saved": self.config_path.exists(),
                "callback_url": self.callback_url,
                "secret_mask": SECRET_MASK,
                "file_mask": FILE_MASK,
                "tabs": [{**part.to_dict(), "data": data.get(part.name, {})} for part in self.parts],
            }
        )

    def _save(self, request: Request) -> Response:
        submitted = _body(request)
        try:
            config = self.form.merge(submitted)
        except SavedSecretError as error:
            return _json({"ok": False, "error": str(error)}, status=400)
        problems = self.form.runtime_errors(config)
        if problems:
            return _json(
                {
                    "ok": False,
                    "error": "The runtime settings are invalid.",
                    "field": problems[0].path,
                    "fields": {problem.path: problem.message for problem in problems},
                }
            )
        self.form.write(config)
        data = self.form.form_data()
        return _json({"ok": True, "message": f"Saved {self.config_path}; secrets are references.", "data": data})

    def _authorize_status(self, request: Request) -> Response:
        return _json(self.actions.status(request.args.get("state", "")))

    def _callback(self, request: Request) -> Response:
        params = {key: value for key, value in request.args.items() if key != "token"}
        outcome = self.actions.complete(params)
        if outcome.get("ok"):
            page = _message_page("Signed in", f"{outcome['message']} You can close this window.", ok=True)
            return Response(page, content_type="text/html; charset=utf-8")
        page = _message_page("Sign-in failed", str(outcome.get("error", "")), ok=False)
        return Response(page, status=400, content_type="text/html; charset=utf-8")

    def _browse(self, request: Request) -> Response:
        body = _body(request)
        name_filter = body.get("filter")
        return _json(self.actions.browse(name_filter if isinstance(name_filter, str) else None))

    def _query(self, request: Request) -> Response:
        body = _body(request)
        entity_set = body.get("entity_set")
        top = body.get("top", 10)
        if not isinstance(entity_set, str) or not entity_set or not isinstance(top, int):
            return _json({"ok": False, "error": "entity_set (text) and top (a number) are required"}, status=400)
        return _json(self.actions.query(entity_set, top))


def _body(request: Request) -> Mapping[str, Any]:
    try:
        data = json.loads(request.get_data(cache=False, as_text=True) or "{}")
    except ValueError:
        raise ConnectorError("The request body is not JSON.") from None
    if not isinstance(data, Mapping):
        raise ConnectorError("The request body must be a JSON object.")
    return data


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, content_type="application/json")


def _text(status: int, text: str) -> Response:
    return Response(text + "\n", status=status, content_type="text/plain; charset=utf-8")
