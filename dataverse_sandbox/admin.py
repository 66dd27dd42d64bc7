"""The sandbox's admin endpoint: read what the server saw and change limits and faults while it runs.

What it is for: tests that run the sandbox in another process (and people poking at a running sandbox with
``curl``) need the same handles the in-process objects give: statistics, fault settings and schedules,
service-protection limits and forced throttling. The server mounts :func:`admin_app` at ``/_sandbox/``.

Every request needs the sandbox's admin credential, a random value generated at each start (printed in the
``connector sandbox`` banner, :attr:`~dataverse_sandbox.server.Sandbox.admin_token` in process), sent as
``Authorization: Bearer <credential>`` or as the :data:`ADMIN_HEADER` header; without it the answer is ``401``.
So another local user, or a web page in a browser on the machine, cannot switch limits off or read request records.

What it is not for: anything reachable from outside the machine (keep the sandbox on loopback: the credential
travels in clear over plain http). It is not part of the Dataverse surface either: its errors use a plain
``{"error": {"code", "message"}}`` shape with admin-specific codes.

Routes (relative to the mount point; ``/_sandbox`` in ``PATH_INFO`` is accepted too)::

    GET    stats                 counters; ?records=true adds every kept request record
    GET    stats/requests        records; filters: principal, method, path_prefix, status, since
    GET    stats/violations      requests that came back before Retry-After elapsed; principal, tolerance
    POST   stats/reset           forget records and counters
    GET    faults                FaultSettings as JSON
    PUT    faults                replace them (omitted fields take their defaults)
    PATCH  faults                change only the given fields
    GET    faults/schedule       the scheduled faults still queued
    POST   faults/schedule       {"kind": "reset_before", "count": 2, "status": 503 (error only, optional)}
    DELETE faults/schedule       drop the queue
    GET    faults/injected       counts per kind and the recent history
    GET    limits                LimitSettings as JSON
    PUT    limits / PATCH limits as for faults
    POST   limits/force          {"count": 3, "code": "0x80072322", "retry_after": 2 (optional)}
    POST   limits/reset          forget every principal's counts and any forced throttling
    GET    clients/<id>/redirect_uris   the application's redirect URIs
    POST   clients/<id>/redirect_uris   {"uri": "http://127.0.0.1:53121/callback"}: accept one more (201)
    PUT    clients/<id>/auto_consent    {"enabled": true}: skip the login and consent pages for it
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import logging
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from werkzeug.wrappers import Request, Response

from dataverse_sandbox.faults import FaultInjector, FaultSettings
from dataverse_sandbox.limits import LimitSettings, ServiceProtection
from dataverse_sandbox.request_body import InvalidJsonError, decode_json
from dataverse_sandbox.stats import SandboxStats

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = [
    "ADMIN_HEADER",
    "AdminRequestError",
    "ClientAdministration",
    "admin_app",
    "settings_from_json",
    "settings_to_json",
]

logger = logging.getLogger(__name__)

_MOUNT = "/_sandbox"

#: The header that may carry the admin credential instead of ``Authorization: Bearer``.
ADMIN_HEADER = "X-Sandbox-Admin-Token"

SettingsT = TypeVar("SettingsT", FaultSettings, LimitSettings)


class ClientAdministration(Protocol):
    """Run-time changes to the token service's applications (implemented by the server's ``Sandbox``)."""

    def register_redirect_uri(self, client_id: str, uri: str) -> tuple[str, ...]:
        """Accept one more redirect URI; :returns: all of them. :raises KeyError, ValueError:"""
        ...

    def redirect_uris(self, client_id: str) -> tuple[str, ...]:
        """:returns: the application's redirect URIs. :raises KeyError:"""
        ...

    def set_auto_consent(self, client_id: str, enabled: bool) -> None:
        """Switch the consent page off or on for an application. :raises KeyError:"""
        ...


class AdminRequestError(Exception):
    """A request to the admin endpoint that cannot be served; rendered as JSON with its status.

    :param status: the HTTP status.
    :param code: a short machine-readable code.
    :param message: what was wrong, naming the field.
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def settings_to_json(settings: FaultSettings | LimitSettings) -> dict[str, Any]:
    """:returns: the settings as JSON-ready data (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(settings).items()}


def _coerce(name: str, hint: Any, value: Any) -> Any:
    """Check one JSON value against a settings field's type; lists become tuples."""
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(name, option, value)
            except AdminRequestError as exc:
                errors.append(exc.message)
        raise AdminRequestError(400, "invalid_settings", errors[0] if errors else f"{name}: invalid value")
    if origin is tuple:
        (item,) = typing.get_args(hint)[:1]
        if not isinstance(value, list):
            raise AdminRequestError(400, "invalid_settings", f"{name} must be a list, got {value!r}")
        return tuple(_coerce(name, item, v) for v in value)
    if hint is bool:
        if not isinstance(value, bool):
            raise AdminRequestError(400, "invalid_settings", f"{name} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise AdminRequestError(400, "invalid_settings", f"{name} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise AdminRequestError(400, "invalid_settings", f"{name} must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise AdminRequestError(400, "invalid_settings", f"{name} must be a string, got {value!r}")
        return value
    raise AdminRequestError(400, "invalid_settings", f"{name}: unsupported type")  # pragma: no cover


def settings_from_json(cls: type[SettingsT], data: Any, base: SettingsT | None = None) -> SettingsT:
    """Build settings from JSON, checking every field's type and the settings' own rules.

    :param cls: :class:`FaultSettings` or :class:`LimitSettings`.
    :param data: the decoded JSON object.
    :param base: fields not in ``data`` come from here (a merge); ``None`` uses the defaults (a replacement).
    :returns: the new settings.
    :raises AdminRequestError: (400) for a non-object, an unknown field, a wrong type or an invalid value.
    """
    if not isinstance(data, dict):
        raise AdminRequestError(400, "invalid_settings", "the body must be a JSON object")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise AdminRequestError(
            400, "invalid_settings", f"unknown field(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    values = {name: _coerce(name, hints[name], value) for name, value in data.items()}
    try:
        return dataclasses.replace(base, **values) if base is not None else cls(**values)
    except ValueError as exc:
        raise AdminRequestError(400, "invalid_settings", str(exc)) from exc


def _json(payload: Any, status: int = 200) -> Response:
    return Response(json.dumps(payload), status=status, content_type="application/json")


def _body(request: Request) -> Any:
    raw = request.get_data()
    if not raw.strip():
        return None
    try:
        return decode_json(raw)
    except InvalidJsonError as exc:
        raise AdminRequestError(400, "invalid_json", f"the body is not JSON: {exc}") from exc


def _field(data: Any, name: str, kind: type, *, required: bool = True) -> Any:
    if not isinstance(data, dict):
        raise AdminRequestError(400, "invalid_request", "the body must be a JSON object")
    if name not in data:
        if required:
            raise AdminRequestError(400, "invalid_request", f"missing field: {name}")
        return None
    value = data[name]
    if value is None and not required:
        return None
    if isinstance(value, bool) is not (kind is bool) or not isinstance(value, kind):
        raise AdminRequestError(400, "invalid_request", f"{name} must be a {kind.__name__}, got {value!r}")
    return value


def _flag(request: Request, name: str) -> bool:
    return request.args.get(name, "").lower() in ("1", "true", "yes")


#: An admin route: the methods it answers and its handler.
_Route = tuple[tuple[str, ...], Callable[[Request], Response]]


def _client_routes(clients: ClientAdministration | None, path: str) -> _Route | None:
    """The ``clients/<id>/…`` routes, or ``None`` when ``path`` is not one of them."""
    parts = path.strip("/").split("/")
    if len(parts) != 3 or parts[0] != "clients" or parts[2] not in ("redirect_uris", "auto_consent"):
        return None
    client_id, what = parts[1], parts[2]

    def unknown() -> AdminRequestError:
        return AdminRequestError(404, "unknown_client", f"no application with client id {client_id!r}")

    def redirect_uris(request: Request) -> Response:
        if clients is None:
            raise AdminRequestError(404, "no_token_service", "this sandbox has no token service")
        try:
            if request.method == "POST":
                uris = clients.register_redirect_uri(client_id, _field(_body(request), "uri", str))
                return _json({"client_id": client_id, "redirect_uris": list(uris)}, 201)
            return _json({"client_id": client_id, "redirect_uris": list(clients.redirect_uris(client_id))})
        except KeyError:
            raise unknown() from None
        except ValueError as exc:
            raise AdminRequestError(400, "invalid_redirect_uri", str(exc)) from exc

    def auto_consent(request: Request) -> Response:
        if clients is None:
            raise AdminRequestError(404, "no_token_service", "this sandbox has no token service")
        enabled = _field(_body(request), "enabled", bool)
        try:
            clients.set_auto_consent(client_id, enabled)
        except KeyError:
            raise unknown() from None
        return _json({"client_id": client_id, "auto_consent": enabled})

    if what == "redirect_uris":
        return ("GET", "POST"), redirect_uris
    return ("PUT",), auto_consent


def _presented_credential(request: Request) -> str:
    """:returns: the credential the request carries (bearer or :data:`ADMIN_HEADER`), ``""`` when none."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get(ADMIN_HEADER, "").strip()


def _unauthorized() -> Response:
    response = _json(
        {
            "error": {
                "code": "unauthorized",
                "message": f"the admin endpoint needs the sandbox's admin credential (Authorization: Bearer <it>, "
                f"or {ADMIN_HEADER}); it is printed in the start-up banner",
            }
        },
        401,
    )
    response.headers["WWW-Authenticate"] = 'Bearer realm="dataverse-sandbox-admin"'
    return response


def admin_app(
    stats: SandboxStats,
    faults: FaultInjector,
    limits: ServiceProtection,
    *,
    credential: str,
    clients: ClientAdministration | None = None,
) -> WSGIApplication:
    """Build the admin endpoint's WSGI application.

    :param stats: the statistics to report and reset.
    :param faults: the fault injector to configure.
    :param limits: the service-protection middleware to configure.
    :param credential: the value every request must present (bearer or :data:`ADMIN_HEADER`); not empty.
    :param clients: the token service's applications, for the ``clients/…`` routes (``None``: they answer 404).
    :returns: a WSGI application; mount it at ``/_sandbox/`` on a loopback-only server.
    :raises ValueError: for an empty credential.
    """
    if not credential:
        raise ValueError("the admin endpoint needs a non-empty credential")
    expected = credential.encode("utf-8")

    def stats_get(request: Request) -> Response:
        return _json(stats.snapshot(include_records=_flag(request, "records")))

    def stats_requests(request: Request) -> Response:
        args = request.args
        try:
            status = int(args["status"]) if "status" in args else None
            since = float(args["since"]) if "since" in args else None
        except ValueError as exc:
            raise AdminRequestError(400, "invalid_request", f"bad filter: {exc}") from exc
        records = stats.requests(
            principal=args.get("principal"),
            method=args.get("method"),
            path_prefix=args.get("path_prefix"),
            status=status,
            since=since,
        )
        return _json({"requests": [asdict(r) for r in records]})

    def stats_violations(request: Request) -> Response:
        try:
            tolerance = float(request.args.get("tolerance", "0"))
        except ValueError as exc:
            raise AdminRequestError(400, "invalid_request", f"bad tolerance: {exc}") from exc
        found = stats.retry_after_violations(request.args.get("principal"), tolerance=tolerance)
        return _json({"violations": [asdict(v) for v in found]})

    def stats_reset(request: Request) -> Response:
        stats.reset()
        return Response(status=204)

    def faults_settings(request: Request) -> Response:
        if request.method in ("PUT", "PATCH"):
            base = faults.settings if request.method == "PATCH" else None
            faults.update(settings_from_json(FaultSettings, _body(request), base))
        return _json(settings_to_json(faults.settings))

    def faults_schedule(request: Request) -> Response:
        if request.method == "POST":
            data = _body(request)
            kind = _field(data, "kind", str)
            count = _field(data, "count", int)
            status = _field(data, "status", int, required=False)
            try:
                faults.schedule(kind, count, status=status)
            except ValueError as exc:
                raise AdminRequestError(400, "invalid_request", str(exc)) from exc
        elif request.method == "DELETE":
            faults.clear_schedule()
        return _json({"scheduled": faults.scheduled()})

    def faults_injected(request: Request) -> Response:
        return _json({"counts": faults.injected(), "history": [asdict(f) for f in faults.history()]})

    def limits_settings(request: Request) -> Response:
        if request.method in ("PUT", "PATCH"):
            base = limits.settings if request.method == "PATCH" else None
            limits.update(settings_from_json(LimitSettings, _body(request), base))
        return _json(settings_to_json(limits.settings))

    def limits_force(request: Request) -> Response:
        data = _body(request)
        count = _field(data, "count", int)
        code = _field(data, "code", str, required=False) or "0x80072322"
        retry_after = _field(data, "retry_after", int, required=False)
        try:
            limits.force_throttle(count, code, retry_after)
        except ValueError as exc:
            raise AdminRequestError(400, "invalid_request", str(exc)) from exc
        return _json({"forced_remaining": limits.forced_remaining()})

    def limits_reset(request: Request) -> Response:
        limits.reset()
        return Response(status=204)

    routes: dict[str, _Route] = {
        "/stats": (("GET",), stats_get),
        "/stats/requests": (("GET",), stats_requests),
        "/stats/violations": (("GET",), stats_violations),
        "/stats/reset": (("POST",), stats_reset),
        "/faults": (("GET", "PUT", "PATCH"), faults_settings),
        "/faults/schedule": (("GET", "POST", "DELETE"), faults_schedule),
        "/faults/injected": (("GET",), faults_injected),
        "/limits": (("GET", "PUT", "PATCH"), limits_settings),
        "/limits/force": (("POST",), limits_force),
        "/limits/reset": (("POST",), limits_reset),
    }

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        path = request.path
        if path.startswith(_MOUNT + "/"):
            path = path[len(_MOUNT) :]
        path = path.rstrip("/") or "/"
        # Constant-time comparison: the answer must not tell how much of a guess was right.
        if not hmac.compare_digest(_presented_credential(request).encode("utf-8"), expected):
            logger.info("admin %s %s refused: no or wrong credential", request.method, path)
            return _unauthorized()(environ, start_response)
        try:
            route = routes.get(path) or _client_routes(clients, path)
            if route is None:
                raise AdminRequestError(404, "not_found", f"no admin route {path!r}")
            methods, handler = route
            if request.method not in methods:
                response = _json(
                    {"error": {"code": "method_not_allowed", "message": f"{request.method} not allowed"}}, 405
                )
                response.headers["Allow"] = ", ".join(methods)
            else:
                response = handler(request)
        except AdminRequestError as exc:
            response = _json({"error": {"code": exc.code, "message": exc.message}}, exc.status)
        else:
            if request.method != "GET":
                logger.info("admin %s %s -> %s", request.method, path, response.status_code)
        return response(environ, start_response)

    return app
