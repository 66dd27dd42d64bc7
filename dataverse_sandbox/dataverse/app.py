"""The Web API as a WSGI application: version check, bearer authentication, access, routing and error rendering.

Every request under ``/api/data/v9.0|v9.1|v9.2/`` needs ``Authorization: Bearer <token>`` verified by the token
service for the resource ``<origin>``; a missing or refused token gets ``401`` with an empty body and Dataverse's
``WWW-Authenticate`` challenge (reference §4.4). A principal with access ``none`` gets ``403 0x80072560``;
``read`` gets ``403 0x80040220`` on writes. Every response carries ``OData-Version: 4.0``.
Not for the token service, the admin endpoint or the middlewares: see :mod:`dataverse_sandbox.server`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from dataverse_sandbox.config import AccessLevel
from dataverse_sandbox.contracts import AccessTokenClaims, InvalidAccessTokenError, TokenVerifier
from dataverse_sandbox.middleware import ENVIRON_BATCH

from .context import Call, Principal, Service
from .errors import DataverseError, not_a_member, unknown_segment
from .preferences import parse_preferences
from .router import route

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = ["CLAIMS_KEY", "BatchHandler", "WebApi"]

logger = logging.getLogger(__name__)

#: Where :meth:`WebApi.principal_of` caches the verified claims of a request.
CLAIMS_KEY = "sandbox.claims"
_AUTH_ERROR_KEY = "sandbox.auth_error"
_VERSIONS = ("v9.0", "v9.1", "v9.2")
_API_PATH = re.compile(r"^/api/data/(?P<version>[^/]+)(?:/(?P<rest>.*))?$")

#: ``handle_batch(request, dispatch, *, transaction=...)`` of :mod:`dataverse_sandbox.batch`.
BatchHandler = Callable[..., Response]


class WebApi:
    """The Dataverse-compatible Web API.

    :param service: storage, metadata and behaviour.
    :param verifier: the token service, which verifies bearer tokens and knows the registrations.
    :param origin: ``http(s)://host:port``; the token audience and the base of every URL returned.
    :param tenant_id: the tenant named in the 401 challenge.
    :param access: access overrides by client id or object id.
    :param batch: the ``$batch`` handler, ``None`` to answer ``$batch`` with 501.
    """

    def __init__(
        self,
        service: Service,
        verifier: TokenVerifier,
        origin: str,
        tenant_id: str,
        access: Mapping[str, AccessLevel] | None = None,
        batch: BatchHandler | None = None,
    ) -> None:
        self.service = service
        self._verifier = verifier
        self._origin = origin.rstrip("/")
        self._tenant_id = tenant_id
        self._access = dict(access or {})
        self._batch = batch

    # -- authentication -----------------------------------------------------------------------------------------

    def principal_of(self, environ: WSGIEnvironment) -> str | None:
        """Verify the request's bearer token once, caching the claims in ``environ[CLAIMS_KEY]``.

        :returns: the principal's object id, or ``None`` (not a Web API request, or no valid token).
        """
        claims = self._claims(environ)
        return claims.subject if claims is not None else None

    def _claims(self, environ: WSGIEnvironment) -> AccessTokenClaims | None:
        if CLAIMS_KEY in environ:
            cached: AccessTokenClaims = environ[CLAIMS_KEY]
            return cached
        if _AUTH_ERROR_KEY in environ or not str(environ.get("PATH_INFO", "")).startswith("/api/"):
            return None
        header = str(environ.get("HTTP_AUTHORIZATION", ""))
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            environ[_AUTH_ERROR_KEY] = "missing bearer token"
            return None
        try:
            claims = self._verifier.verify_access_token(token.strip(), resource=self._origin)
        except InvalidAccessTokenError as exc:
            # The reason only: never the token.
            logger.info("bearer token refused: %s", exc.reason)
            environ[_AUTH_ERROR_KEY] = exc.reason
            return None
        environ[CLAIMS_KEY] = claims
        return claims

    def _principal(self, claims: AccessTokenClaims) -> Principal:
        registration = self._verifier.client(claims.client_id)
        access: AccessLevel = registration.dataverse_access if registration is not None else "none"
        access = self._access.get(claims.client_id, self._access.get(claims.subject, access))
        return Principal(claims.subject, claims.client_id, access, claims.user_name)

    def _challenge(self) -> Response:
        value = (
            f"Bearer authorization_uri={self._origin}/{self._tenant_id}/oauth2/authorize, resource_id={self._origin}/"
        )
        if self.service.behaviour.challenge_error_parameters:
            value += ', error="invalid_token", error_description="The access token is missing or invalid."'
        response = Response(b"", status=401)
        response.headers.pop("Content-Type", None)
        response.headers["WWW-Authenticate"] = value
        return response

    # -- serving ------------------------------------------------------------------------------------------------

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Serve one WSGI request."""
        request = Request(environ)
        response = self.respond(request)
        response.headers["OData-Version"] = "4.0"
        return response(environ, start_response)

    def respond(self, request: Request) -> Response:
        """Serve one request (authentication included).

        :returns: the response, errors rendered as Dataverse's JSON.
        """
        match = _API_PATH.match(request.path)
        if match is None:
            return _error_response(unknown_segment(request.path.strip("/").split("/")[-1] or "api"), None)
        claims = self._claims(request.environ)
        if claims is None:
            return self._challenge()
        principal = self._principal(claims)
        if principal.access == "none":
            return _error_response(not_a_member(), request)
        return self._dispatch(request, principal, match.group("version"), match.group("rest") or "")

    def _dispatch(self, request: Request, principal: Principal, version: str, rest: str) -> Response:
        self.service.headers_seen.record(
            request.method,
            request.path,
            request.query_string.decode("latin-1"),
            request.headers.items(),
            in_batch=bool(request.environ.get(ENVIRON_BATCH)),
        )
        preferences = parse_preferences(request.headers.getlist("Prefer"))
        try:
            if version not in _VERSIONS:
                raise unknown_segment(version)
            root = f"{self._origin}/api/data/{version}/"
            if rest.rstrip("/") == "$batch":
                return self._run_batch(request, principal)
            aliases = {k: v for k, v in request.args.items() if k.startswith("@")}
            call = Call(self.service, request, root, principal, preferences, aliases, rest)
            return route(call)
        except DataverseError as exc:
            return _error_response(exc, request, preferences.wants_annotation)
        except RecursionError:
            # A query option or body nested deeper than the parsers recurse: the request's fault, not the server's.
            nested = DataverseError(400, "0x80060888", "The request is nested too deeply to be parsed.")
            return _error_response(nested, request)
        except Exception:
            logger.exception("unexpected failure serving %s %s", request.method, request.path)
            failure = DataverseError(500, "0x80040216", "An unexpected error occurred.")
            return _error_response(failure, request)

    def _run_batch(self, request: Request, principal: Principal) -> Response:
        if request.method != "POST":
            raise DataverseError(405, "0x80060888", "$batch must be sent with POST.")
        if self._batch is None:
            raise DataverseError(501, "0x80040216", "$batch is not available in this sandbox build.")

        def dispatch(part: Request) -> Response:
            match = _API_PATH.match(part.path)
            if match is None:
                return _error_response(unknown_segment(part.path), part)
            if (match.group("rest") or "").rstrip("/") == "$batch":
                nested = DataverseError(400, "0x80060888", "Nested $batch requests are not allowed.")
                return _error_response(nested, part)
            response = self._dispatch(part, principal, match.group("version"), match.group("rest") or "")
            response.headers["OData-Version"] = "4.0"
            return response

        # Change sets are atomic through the storage's (re-entrant) transaction: every part of a change set is
        # dispatched on this thread, inside it (a part's own transaction becomes a savepoint; a part that is one
        # statement needs none).
        return self._batch(request, dispatch, transaction=self.service.storage.transaction)


def _error_response(
    error: DataverseError, request: Request | None, wants: Callable[[str], bool] | None = None
) -> Response:
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if wants is not None:
        if wants("Microsoft.PowerApps.CDS.ErrorDetails.OperationStatus"):
            body["@Microsoft.PowerApps.CDS.ErrorDetails.OperationStatus"] = "0"
        if wants("Microsoft.PowerApps.CDS.HelpLink"):
            body["@Microsoft.PowerApps.CDS.HelpLink"] = (
                "http://go.microsoft.com/fwlink/?LinkID=398563&error=Microsoft.Crm.CrmException%3a"
                f"{error.code.removeprefix('0x')}&client=platform"
            )
        if wants("Microsoft.PowerApps.CDS.InnerError.Message"):
            body["@Microsoft.PowerApps.CDS.InnerError.Message"] = error.message
    payload = json.dumps({"error": body}, ensure_ascii=False).encode("utf-8")
    response = Response(payload, status=error.status, content_type="application/json; odata.metadata=minimal")
    response.headers["OData-Version"] = "4.0"
    return response
