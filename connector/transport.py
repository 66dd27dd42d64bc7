"""The HTTP layer every request of a connection goes through: session, time-outs, proxy, trust, the bearer token,
and the hand-over to the retry engine.

* **Session**: ``trust_env`` is off, so proxy and CA-bundle environment variables (``HTTPS_PROXY``,
  ``REQUESTS_CA_BUNDLE``) never override the connection's decisions; the CA bundle comes from the runtime context;
  every request carries the connection's connect and read time-outs and its proxy plan.
* **Retries** are :class:`~connector.retry.Retrier`'s, with the transport's gate (by default a
  :class:`~connector.retry.SharedPause`: while one thread waits out a ``Retry-After``, every other thread of the
  connection waits too). The transport tells the engine which failures of ``requests`` got no answer, and whether
  the request may have reached the server; TLS, proxy and URL failures are not retried.
* **Bearer token**: attached only to URLs of the connection's own origin; a next link or redirect elsewhere never
  receives it; a 401 renews it once. No request follows redirects: a redirected token request would carry its form
  body (the client secret) to wherever the redirect points. A redirect is never success either: :meth:`Transport.send`
  raises a :class:`~connector.errors.ConfigError` naming the field of the URL and the origin the redirect pointed at
  (never its path or query, which may hold secrets), whatever the method.
* **Errors**: :meth:`Transport.error_for` maps a failed answer to a :class:`~connector.errors.ConnectorError` by the
  outcome table; what the body says (code and message) comes from an injected :data:`ErrorDescriber`.
* **Logging**: method, origin and path at DEBUG; never headers, bodies, query strings or tokens.

This module does not know OData; ``connector.dataverse`` builds the requests and reads the answers (its error
describer is :func:`connector.dataverse.odata.answers.describe_error`).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from typing import Any, Final, NamedTuple, Protocol
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

from connector import __version__
from connector.auth.config import TOKEN_URL_FIELD
from connector.errors import AuthError, ConfigError, ConnectorError, FailureType, RemoteError, TransientError
from connector.excerpts import CODE_LIMIT, excerpt
from connector.retry import (
    HTTP_ACTIONS,
    Gate,
    JitteredBackoff,
    NoAnswerError,
    ResendRule,
    Retrier,
    RetryPolicy,
    SharedPause,
    action_for,
    delivery_of,
    is_redirect,
    parse_retry_after,
)
from connector.settings import ConnectionSettings

__all__ = [
    "IDEMPOTENT_METHODS",
    "RESENT_NOTE",
    "USER_AGENT",
    "BearerProvider",
    "ErrorDescriber",
    "ErrorDescription",
    "RetryPolicy",
    "Transport",
    "origin_of",
    "parse_retry_after",
    "reason_phrase",
]

USER_AGENT: Final = f"dynamics365-ce-connector/{__version__}"
RESENT_NOTE: Final = (
    "it answers a repeat of the request, sent after an earlier attempt the service may have carried out"
)
"""Added to the message of an error answer to a request sent again after an attempt the service may have acted on."""
IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
"""Methods whose requests are idempotent unless the caller says otherwise."""
BASE_URL_FIELD: Final = "connection.base_url"
PROTOCOL_FIELD: Final = "connection.protocol"
_log = logging.getLogger(__name__)


class BearerProvider(Protocol):
    """Where the transport gets access tokens (implemented by ``connector.auth.tokens.TokenSource``)."""

    def bearer(self) -> str:
        """:returns: a valid access token, renewed before it expires."""
        ...

    def renew(self, rejected: str) -> str:
        """Get a new access token after the service rejected one (a 401).

        :param rejected: the token that was refused; if another thread already replaced it, that newer one is
            returned without asking the identity provider again.
        :returns: the new access token.
        """
        ...


class ErrorDescription(NamedTuple):
    """What an error answer's body says.

    :param code: the service's error code (``0x80040217``), if it gave one.
    :param message: the message (the reason phrase when the body says none).
    """

    code: str | None
    message: str


ErrorDescriber = Callable[[requests.Response], ErrorDescription]
"""Reads an error answer's body: the service's own error shape is the caller's knowledge, not the transport's."""


def reason_phrase(response: requests.Response) -> ErrorDescription:
    """The describer of a transport that knows no service's error shape: the status line's reason phrase."""
    reason = excerpt(response.reason or "", limit=CODE_LIMIT, what="the reason phrase")
    return ErrorDescription(None, reason or f"HTTP {response.status_code}")


def origin_of(url: str) -> str:
    """:returns: ``scheme://host[:port]`` of a URL, lower-cased, default ports dropped."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" if port in (None, default) else f"{scheme}://{host}:{port}"


def _sent_nothing(error: requests.RequestException) -> bool:
    # The connection was never made: re-sending cannot duplicate anything.
    if isinstance(error, requests.ConnectTimeout):
        return True
    reason: Any = error.args[0] if error.args else None
    reason = getattr(reason, "reason", reason)
    return isinstance(reason, NewConnectionError)


class Transport:
    """Sends a connection's HTTP requests.

    :param settings: the connection's validated settings.
    :param bearer: where access tokens come from; ``None`` for unauthenticated use (token endpoints).
    :param policy: retry bounds.
    :param clock: monotonic seconds (injectable for tests).
    :param sleep: how to wait (injectable for tests).
    :param wall_clock: epoch seconds, for ``Retry-After`` dates.
    :param rng: the jitter's random source.
    :param pool_size: connections kept per host (at least the concurrency the connection uses).
    :param gate: admits every attempt of every request (see :class:`~connector.retry.Gate`); defaults to a
        :class:`~connector.retry.SharedPause` of this transport's own.
    :param resend: when a request that is not idempotent is sent again; defaults to
        :class:`~connector.retry.ResendRule`'s.
    :param describe_error: reads error answers' bodies for :meth:`error_for`; without one, the reason phrase
        (the Web API's transport passes Dataverse's, :func:`connector.dataverse.odata.answers.describe_error`).
    """

    def __init__(
        self,
        settings: ConnectionSettings,
        *,
        bearer: BearerProvider | None = None,
        policy: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        pool_size: int = 64,
        gate: Gate[Any] | None = None,
        resend: ResendRule | None = None,
        describe_error: ErrorDescriber | None = None,
    ) -> None:
        self.settings = settings
        self.bearer = bearer
        self.policy = policy or RetryPolicy()
        self.describe_error: ErrorDescriber = describe_error or reason_phrase
        self._wall_clock = wall_clock
        self.retrier = Retrier(
            self.policy,
            table=HTTP_ACTIONS,
            backoff=JitteredBackoff(self.policy.backoff_base_seconds, self.policy.backoff_cap_seconds, rng),
            gate=gate or SharedPause(clock, sleep),
            resend=resend,
            clock=clock,
            sleep=sleep,
            wall_clock=wall_clock,
        )
        self.origin = origin_of(settings.api_root)
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = settings.ca_bundle or True
        self.session.headers["User-Agent"] = USER_AGENT
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)

    def close(self) -> None:
        """Close pooled connections."""
        self.session.close()

    def __repr__(self) -> str:
        return f"Transport(origin={self.origin!r})"

    # -- sending ----------------------------------------------------------------------------------------------

    def send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        data: Any = None,
        data_factory: Callable[[], Any] | None = None,
        auth: tuple[str, str] | None = None,
        authenticate: bool = True,
        idempotent: bool | None = None,
    ) -> requests.Response:
        """Send a request, retrying as the :class:`~connector.retry.Retrier` decides.

        :param method: the HTTP method.
        :param url: an absolute URL.
        :param params: query parameters to add.
        :param headers: extra headers.
        :param json: a JSON body.
        :param data: a form or raw body.
        :param data_factory: makes the form or raw body anew for each attempt, instead of ``data`` (a signed client
            assertion must not be sent twice).
        :param auth: HTTP Basic credentials (token endpoints).
        :param authenticate: attach the bearer token (only ever to the connection's own origin).
        :param idempotent: whether re-sending after the service may have acted on the request is safe; defaults
            by method (:data:`IDEMPOTENT_METHODS`: GET, HEAD, PUT, DELETE, OPTIONS yes; POST and PATCH no).
        :returns: the final response, whatever its status but a redirect (after retries and one token renewal).
        :raises TransientError: when the network fails or retries are exhausted.
        :raises ConfigError: when the proxy, TLS or URL setup is wrong, or the answer is a redirect.
        """
        if idempotent is None:
            idempotent = method.upper() in IDEMPOTENT_METHODS
        sent_token: str | None = None

        def send_once() -> requests.Response:
            nonlocal sent_token
            sent_token = self._token_for(url) if authenticate else None
            request_headers = dict(headers or {})
            if sent_token is not None:
                request_headers["Authorization"] = f"Bearer {sent_token}"
            body = data_factory() if data_factory is not None else data
            return self._send_once(method, url, params=params, headers=request_headers, json=json, data=body, auth=auth)

        def renew() -> bool:
            if sent_token is None or self.bearer is None:
                return False
            self.bearer.renew(sent_token)
            return True

        response = self.retrier.run(send_once, idempotent=idempotent, renew=renew, label=f"{method} {_path(url)}")
        if is_redirect(response.status_code):
            response.close()
            raise self._redirect_error(response, url, token_request=not authenticate)
        return response

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """Like :meth:`send`, but an error status raises the matching :class:`ConnectorError`.

        :returns: a successful (2xx, or 304) response.
        :raises TransientError: throttled or unavailable after every retry.
        :raises AuthError: 401 after renewing the token, or 403.
        :raises RemoteError: any other error status.
        """
        response = self.send(method, url, **kwargs)
        if response.status_code < 400:
            return response
        raise self.error_for(response)

    def error_for(self, response: requests.Response) -> ConnectorError:
        """Build the error for a failed response, in Boomi's ``(<code>)<message>[<status>]`` form.

        :param response: a response with status 400 or more.
        :returns: the error to raise or to report for one document.
        """
        status = response.status_code
        code, message = self.describe_error(response)
        text = f"({code}){message}[{status}]" if code else f"{message}[{status}]"
        _, failure = action_for(status, self.retrier.table)
        delivery = delivery_of(response)
        if status == 407:
            return ConfigError.single(
                "runtime.proxy.password",
                "the runtime proxy refused its user and password (407 Proxy Authentication Required)",
            )
        if is_redirect(status):
            return self._redirect_error(response, response.url, token_request=False)
        if failure is FailureType.TRANSIENT:
            now = self._wall_clock()
            retry_after = parse_retry_after(response.headers.get("Retry-After"), now)
            if delivery.ambiguous:
                text += "; the request may have been processed, so it was not sent again"
            return TransientError(text, retry_after=retry_after, status=status, code=code, ambiguous=delivery.ambiguous)
        if delivery.resent:
            text += f"; {RESENT_NOTE}"
        if failure is FailureType.AUTH:
            return AuthError(text, status=status, code=code, field="oauth2")
        return RemoteError(text, status=status, code=code)

    # -- helpers ----------------------------------------------------------------------------------------------

    def _field_for(self, url: str, *, token_request: bool) -> str:
        """The settings field that names a URL's host: the access token URL's for token requests to its origin (and
        any request there that is not the API's), else the base URL's.
        """
        origin = origin_of(url)
        token_origin = origin_of(self.settings.oauth.access_token_url)
        if origin == token_origin and (token_request or origin != self.origin):
            return TOKEN_URL_FIELD
        return BASE_URL_FIELD

    def _redirect_error(self, response: requests.Response, url: str, *, token_request: bool) -> ConfigError:
        """A redirect is never followed nor taken for success: it says the URL is not the service's."""
        status = f"{response.status_code} {excerpt(response.reason or '', limit=CODE_LIMIT)}".strip()
        field = self._field_for(url, token_request=token_request)
        location = response.headers.get("Location")
        if not location:
            return ConfigError.single(field, f"{origin_of(url)} answered {status} without saying where to go")
        target = origin_of(urljoin(url, location))
        where = f"to another path on {target}" if target == origin_of(url) else f"to {target}"
        parts, moved = urlsplit(url), urlsplit(urljoin(url, location))
        remedy = "use the address of the service itself"
        if field == BASE_URL_FIELD and parts.scheme != moved.scheme and parts.hostname == moved.hostname:
            field, remedy = PROTOCOL_FIELD, f"choose {moved.scheme}"
        return ConfigError.single(
            field,
            f"{origin_of(url)} answered {status}, redirecting {where}: the connector follows no redirect (it would "
            f"carry the access token or the client secret elsewhere) and takes none for success; {remedy}",
        )

    def _token_for(self, url: str) -> str | None:
        if self.bearer is None:
            return None
        if origin_of(url) != self.origin:
            _log.warning("not sending the access token to %s: it is not the API's origin", origin_of(url))
            return None
        return self.bearer.bearer()

    def _send_once(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str],
        json: Any,
        data: Any,
        auth: tuple[str, str] | None,
    ) -> requests.Response:
        """Send one attempt; a failure that got no answer becomes :class:`~connector.retry.NoAnswerError`."""
        try:
            return self.session.request(
                method,
                url,
                params=params,
                headers=headers,
                json=json,
                data=data,
                auth=auth,
                timeout=self.settings.timeouts.as_requests(),
                proxies=self.settings.proxy.proxies_for(url),
                # Never: a redirect would carry a token endpoint's form body (secrets) or the bearer elsewhere.
                allow_redirects=False,
            )
        except requests.exceptions.SSLError as error:
            raise self._tls_error(url, error) from None
        except requests.exceptions.ProxyError as error:
            raise TransientError(
                f"Could not connect through the runtime proxy to {origin_of(url)}",
                internal_message=f"proxy error: {type(error).__name__}",
                field="connection.honor_runtime_proxy",
            ) from None
        except requests.exceptions.InvalidURL as error:
            raise ConfigError.single("connection.base_url", f"gives an invalid URL ({error})") from None
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as error:
            raise NoAnswerError(
                origin_of(url),
                timed_out=isinstance(error, requests.Timeout),
                reached=not _sent_nothing(error),
                cause=type(error).__name__,
            ) from None

    def _tls_error(self, url: str, error: requests.exceptions.SSLError) -> ConfigError:
        reason = "certificate verify failed" if "CERTIFICATE_VERIFY_FAILED" in str(error) else "TLS handshake failed"
        return ConfigError.single(
            "runtime.ca_bundle",
            f"{reason} for {origin_of(url)}: trust the server's CA in the runtime's CA bundle",
        )


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{origin_of(url)}{parts.path}"
