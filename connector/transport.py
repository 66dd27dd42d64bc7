"""The HTTP layer every request of a connection goes through: session, time-outs, proxy, trust, the bearer token,
and the hand-over to the retry engine.

* **Session**: ``trust_env`` is off, so proxy and CA-bundle environment variables (``HTTPS_PROXY``,
  ``REQUESTS_CA_BUNDLE``) never override the connection's decisions; the CA bundle comes from the runtime context;
  every request carries the connection's connect and read time-outs and its proxy plan.
* **Retries** are :class:`~connector.retry.Retrier`'s, with the transport's gate (by default a
  :class:`~connector.retry.SharedPause`: while one thread waits out a ``Retry-After``, every other thread of the
  connection waits too). The transport tells the engine which failures of ``requests`` got no answer, and whether
  the request may have reached the server (:mod:`connector.request_failures`); TLS, proxy and URL failures are not
  retried: they raise the :class:`~connector.errors.ConfigError` Test Connection's diagnosis gives
  (:mod:`connector.diagnosis`), naming ``runtime.proxy.*``, ``runtime.ca_bundle`` or the URL's field.
* **Bearer token**: attached only to URLs of the connection's own origin; a next link or redirect elsewhere never
  receives it; a 401 renews it once. No request follows redirects: a redirected token request would carry its form
  body (the client secret) to wherever the redirect points. A redirect is never success either: :meth:`Transport.send`
  raises a :class:`~connector.errors.ConfigError` naming the field of the URL and the origin the redirect pointed at
  (never its path or query, which may hold secrets), whatever the method.
* **Errors**: :meth:`Transport.error_for` maps a failed answer to a :class:`~connector.errors.ConnectorError` by the
  outcome table; what the body says (code and message) comes from an injected :data:`ErrorDescriber`. A 401 that a
  new token did not cure names the token's audience, the service's ``WWW-Authenticate`` and what to check
  (:func:`connector.diagnosis.unauthorized`).
* **Logging**: method, origin and path at DEBUG; never headers, bodies, query strings or tokens.

This module does not know OData; ``connector.dataverse`` builds the requests and reads the answers (its error
describer is :func:`connector.dataverse.odata.answers.describe_error`).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping
from http.cookiejar import DefaultCookiePolicy
from typing import Any, Final, NamedTuple, Protocol
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter

from connector import __version__
from connector.diagnosis import Finding, ca_bundle_unreadable, proxy_credentials_refused, token_claims, unauthorized
from connector.errors import AuthError, ConfigError, ConnectorError, FailureType, RemoteError, TransientError
from connector.excerpts import CODE_LIMIT, excerpt
from connector.oauth_settings import TOKEN_URL_FIELD
from connector.request_failures import proxy_failure, sent_nothing, tls_finding
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


def redirect_origin(url: str, location: str) -> str | None:
    """:returns: the origin a redirect's ``Location`` points to (relative to ``url``), or ``None`` when it is no URL
    (``https://[x/``, a port past 65535).
    """
    try:
        return origin_of(urljoin(url, location))
    except ValueError:
        return None


class _NoRedirects(requests.Session):
    """A session that never prepares a redirect's next request: the transport follows none, and ``requests`` builds
    that request even when told not to follow it, raising ``ValueError`` from deep inside for a ``Location`` that is
    no URL (``https://[x/``) before the transport could refuse the redirect with its own error.
    """

    def resolve_redirects(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        """:returns: no redirect to follow, ever."""
        return iter(())


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
    :param session: another transport's HTTP session, whose pooled connections this one sends through (see
        :meth:`sharing_pool`); ``None``: a session of its own.
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
        session: requests.Session | None = None,
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
        self.pool_size = pool_size
        self._owns_session = session is None
        if session is None:
            session = _NoRedirects()
            session.trust_env = False
            session.verify = settings.ca_bundle or True
            session.headers["User-Agent"] = USER_AGENT
            # No cookies, kept or sent: requests carry their bearer token, and Dataverse's server-affinity cookie
            # (ARRAffinity) would pin every concurrent request to one web server, which Microsoft advises against
            # for parallel clients (Learn, "Send parallel requests": server affinity).
            session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        self.session = session

    def sharing_pool(
        self,
        *,
        gate: Gate[Any],
        concurrency: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> Transport:
        """A transport for one run of concurrent requests (a bulk write, a partitioned read): the same settings,
        token source, retry bounds and error describer, its own gate and clocks, and this transport's connection
        pool, so the run starts on connections the connection already holds (no new TCP connection or TLS
        handshake) and leaves its own there for the next run. Closing it leaves the pool open.

        :param gate: admits every attempt of the run's requests.
        :param concurrency: the most requests the run has in flight; above this pool's size the run gets a pool of
            its own, sized for it (a shared pool would open and drop connections past its size).
        """
        shared = self.session if self.pool_size >= concurrency else None
        return Transport(
            self.settings,
            bearer=self.bearer,
            policy=self.policy,
            clock=clock,
            sleep=sleep,
            wall_clock=wall_clock,
            rng=rng,
            pool_size=max(self.pool_size, concurrency),
            gate=gate,
            describe_error=self.describe_error,
            session=shared,
        )

    def close(self) -> None:
        """Close pooled connections (a transport sharing another's pool leaves it open)."""
        if self._owns_session:
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
        if response.status_code == 401 and sent_token is not None:
            # What the token was for, read without verification, to explain a persistent 401 (never the token).
            vars(response)[_AUDIENCE] = str(token_claims(sent_token).get("aud") or "")
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
            challenge = response.headers.get("Proxy-Authenticate", "")
            refusal = proxy_credentials_refused(status, challenge, self.settings.proxy, tunnel=False)
            if refusal is not None:
                return refusal.as_config_error()
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
        if status == 401:
            return self._unauthorized_error(response, code)
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

    def _host_field(self, url: str) -> str:
        """The settings field that names a URL's host, as Test Connection names it: the base URL's for the API's host
        (also when the token endpoint shares it), the access token URL's for the token endpoint's own host.
        """
        origin = origin_of(url)
        if origin != self.origin and origin == origin_of(self.settings.oauth.access_token_url):
            return TOKEN_URL_FIELD
        return BASE_URL_FIELD

    def _redirect_error(self, response: requests.Response, url: str, *, token_request: bool) -> ConfigError:
        """A redirect is never followed nor taken for success: it says the URL is not the service's."""
        status = f"{response.status_code} {excerpt(response.reason or '', limit=CODE_LIMIT)}".strip()
        field = self._field_for(url, token_request=token_request)
        location = response.headers.get("Location")
        if not location:
            return ConfigError.single(field, f"{origin_of(url)} answered {status} without saying where to go")
        target = redirect_origin(url, location)
        if target is None:
            return ConfigError.single(field, f"{origin_of(url)} answered {status} to a place that is not a URL")
        parts, moved = urlsplit(url), urlsplit(urljoin(url, location))
        where = f"to another path on {target}" if target == origin_of(url) else f"to {target}"
        remedy = "use the address of the service itself"
        if field == BASE_URL_FIELD and parts.scheme != moved.scheme and parts.hostname == moved.hostname:
            field, remedy = PROTOCOL_FIELD, f"choose {moved.scheme}"
        return ConfigError.single(
            field,
            f"{origin_of(url)} answered {status}, redirecting {where}: the connector follows no redirect (it would "
            f"carry the access token or the client secret elsewhere) and takes none for success; {remedy}",
        )

    def _unauthorized_error(self, response: requests.Response, code: str | None) -> AuthError:
        """A 401 that renewing the token did not cure: what the token was for, what the service said, what to check."""
        challenge = response.headers.get("WWW-Authenticate") or ""
        audience = str(getattr(response, _AUDIENCE, "") or "")
        finding = unauthorized(challenge, audience, self.settings)
        said = (
            f"it answered WWW-Authenticate: {excerpt(challenge, limit=_CHALLENGE_LIMIT, what='the challenge')}"
            if challenge
            else "it sent no WWW-Authenticate challenge"
        )
        token = f"the token was for the audience {audience}" if audience else "the token's audience is not readable"
        message = (
            f"The Web API at {self.origin} refused the access token (401 Unauthorized): {finding.message} "
            f"{finding.remediation} ({token}; {said})"
        )
        return AuthError(message, status=401, code=code, field=finding.field)

    def _proxy_refusal(self, url: str, response: requests.Response) -> Finding | None:
        """A plain-``http`` request's proxy refusing its credentials (a tunnel's refusal raises before an answer)."""
        if response.status_code not in (401, 407) or not self.settings.proxy.proxies_for(url):
            return None
        challenge = response.headers.get("Proxy-Authenticate") or response.headers.get("WWW-Authenticate") or ""
        return proxy_credentials_refused(response.status_code, challenge, self.settings.proxy, tunnel=False)

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
        """Send one attempt; a failure that got no answer becomes :class:`~connector.retry.NoAnswerError`, and a
        proxy or TLS failure the :class:`~connector.errors.ConfigError` :mod:`connector.diagnosis` words for it.
        """
        try:
            response = self.session.request(
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
                # The head first: a proxy's refusal is judged by its status, whatever its body (tinyproxy cuts it).
                stream=True,
            )
            refusal = self._proxy_refusal(url, response)
            if refusal is not None:
                response.close()
                raise refusal.as_config_error()
            try:
                response.content  # noqa: B018 - the body is read here, within the read time-out, as without stream
            except BaseException:
                response.close()
                raise
            return response
        except requests.exceptions.SSLError as error:
            finding = tls_finding(url, error, field=self._host_field(url), ca_bundle=self.settings.ca_bundle)
            raise finding.as_config_error() from None
        except requests.exceptions.ProxyError as error:
            field = self._host_field(url)
            raise proxy_failure(url, error, origin=origin_of(url), field=field, policy=self.settings.proxy) from None
        except requests.exceptions.InvalidURL as error:
            raise ConfigError.single("connection.base_url", f"gives an invalid URL ({error})") from None
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as error:
            raise NoAnswerError(
                origin_of(url),
                timed_out=isinstance(error, requests.Timeout),
                reached=not sent_nothing(error),
                cause=type(error).__name__,
            ) from None
        except OSError as error:
            # requests checks the CA bundle's path itself, before anything is sent, and says so in a bare OSError.
            if isinstance(error, requests.RequestException) or "CA certificate bundle" not in str(error):
                raise
            # ("Could not find a suitable TLS CA certificate bundle, invalid path"): the file does not exist.
            reason = "No such file or directory"
            raise ca_bundle_unreadable(self.settings.ca_bundle, reason).as_config_error() from None


_AUDIENCE: Final = "_connector_token_audience"
_CHALLENGE_LIMIT: Final = 300


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{origin_of(url)}{parts.path}"
