"""The HTTP layer every request of a connection goes through: session, time-outs, proxy, trust, retries, the bearer
token, and the one table that maps HTTP outcomes to actions.

* **Session**: ``trust_env`` is off, so proxy and CA-bundle environment variables (``HTTPS_PROXY``,
  ``REQUESTS_CA_BUNDLE``) never override the connection's decisions; the CA bundle comes from the runtime context;
  every request carries the connection's connect and read time-outs and its proxy plan.
* **Retries** follow :data:`HTTP_ACTIONS`: 429 waits for ``Retry-After`` (seconds or an HTTP date), 502/503/504 and
  connection failures back off exponentially with full jitter, both bounded in attempts and total time; a 401
  renews the token once; 400/403/404/412 fail at once. A request that may have reached the server (a reset while
  waiting for the answer) is re-sent only when it is idempotent. While one thread waits out a ``Retry-After``, every
  other thread of the connection waits too, so the service sees nothing before the time it asked for.
* **Bearer token**: attached only to URLs of the connection's own origin; a next link or redirect elsewhere never
  receives it. No request follows redirects: a redirected token request would carry its form body (the client
  secret) to wherever the redirect points.
* **Logging**: method, origin and path at DEBUG; never headers, bodies, query strings or tokens.

This module does not know OData; ``connector.dataverse`` builds the requests and reads the answers.
"""

from __future__ import annotations

import email.utils
import enum
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

from connector import __version__
from connector.errors import AuthError, ConfigError, ConnectorError, FailureType, RemoteError, TransientError
from connector.settings import ConnectionSettings

__all__ = [
    "HTTP_ACTIONS",
    "USER_AGENT",
    "Action",
    "BearerProvider",
    "RetryPolicy",
    "Transport",
    "dataverse_error",
    "origin_of",
    "parse_retry_after",
]

USER_AGENT: Final = f"dynamics365-ce-connector/{__version__}"
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


class Action(enum.Enum):
    """What to do with an HTTP outcome."""

    SUCCEED = "succeed"
    RETRY_AFTER = "retry_after"
    """Wait for ``Retry-After`` (or back off when absent), then retry."""
    RETRY_BACKOFF = "retry_backoff"
    """Back off exponentially with jitter, then retry."""
    RENEW_TOKEN = "renew_token"  # noqa: S105 - an action name, not a secret
    """Renew the access token once and retry; a second 401 fails."""
    FAIL = "fail"


HTTP_ACTIONS: Final[Mapping[int, tuple[Action, FailureType]]] = {
    401: (Action.RENEW_TOKEN, FailureType.AUTH),
    407: (Action.FAIL, FailureType.CONFIG),
    429: (Action.RETRY_AFTER, FailureType.TRANSIENT),
    502: (Action.RETRY_BACKOFF, FailureType.TRANSIENT),
    503: (Action.RETRY_AFTER, FailureType.TRANSIENT),
    504: (Action.RETRY_BACKOFF, FailureType.TRANSIENT),
}
"""HTTP statuses that are not plain success or plain failure. Any other 2xx/3xx succeeds; any other 4xx/5xx fails
without a retry (``REMOTE``): 400, 403, 404, 405, 409, 412, 413, 500 among them."""


def action_for(status: int) -> tuple[Action, FailureType | None]:
    """:returns: the action for an HTTP status, and the failure type when it is an error."""
    if status in HTTP_ACTIONS:
        return HTTP_ACTIONS[status]
    if status < 400:
        return Action.SUCCEED, None
    return Action.FAIL, FailureType.REMOTE


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds on retrying.

    :param max_attempts: attempts per request, the first included.
    :param max_total_seconds: give up when the next wait would end later than this after the first attempt.
    :param backoff_base_seconds: the first backoff's ceiling; it doubles with each retry.
    :param backoff_cap_seconds: the largest backoff ceiling.
    :param max_retry_after_seconds: the longest single ``Retry-After`` the connector agrees to wait.
    """

    max_attempts: int = 8
    max_total_seconds: float = 600.0
    backoff_base_seconds: float = 0.5
    backoff_cap_seconds: float = 30.0
    max_retry_after_seconds: float = 300.0


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Read a ``Retry-After`` header.

    :param value: the header: seconds (``"30"``) or an HTTP date.
    :param now: the current wall-clock time (epoch seconds), for dates.
    :returns: seconds to wait (never negative), or ``None`` when absent or unreadable.
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


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


def dataverse_error(response: requests.Response) -> tuple[str | None, str]:
    """Read Dataverse's error shape ``{"error": {"code": ..., "message": ...}}``.

    :param response: an error response.
    :returns: the code (``0x80040217``) or ``None``, and the message (the reason phrase when the body says none).
    """
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        error = body["error"]
        code = error.get("code")
        return (str(code) if code else None), str(error.get("message") or response.reason or "")
    return None, response.reason or f"HTTP {response.status_code}"


def _sent_nothing(error: requests.RequestException) -> bool:
    # The connection was never made: re-sending cannot duplicate anything.
    if isinstance(error, requests.ConnectTimeout):
        return True
    reason: Any = error.args[0] if error.args else None
    reason = getattr(reason, "reason", reason)
    return isinstance(reason, NewConnectionError)


@dataclass
class _Gate:
    """The earliest monotonic time any thread of a connection may send again."""

    not_before: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def hold_until(self, moment: float) -> None:
        with self.lock:
            self.not_before = max(self.not_before, moment)


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
    ) -> None:
        self.settings = settings
        self.bearer = bearer
        self.policy = policy or RetryPolicy()
        self._clock = clock
        self._sleep = sleep
        self._wall_clock = wall_clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._gate = _Gate()
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
        auth: tuple[str, str] | None = None,
        authenticate: bool = True,
        idempotent: bool | None = None,
    ) -> requests.Response:
        """Send a request, retrying per :data:`HTTP_ACTIONS` and the policy.

        :param method: the HTTP method.
        :param url: an absolute URL.
        :param params: query parameters to add.
        :param headers: extra headers.
        :param json: a JSON body.
        :param data: a form or raw body.
        :param auth: HTTP Basic credentials (token endpoints).
        :param authenticate: attach the bearer token (only ever to the connection's own origin).
        :param idempotent: whether re-sending after an ambiguous failure is safe; defaults by method
            (GET, HEAD, PUT, DELETE, OPTIONS yes; POST and PATCH no).
        :returns: the final response, whatever its status (after retries and one token renewal).
        :raises TransientError: when the network fails or retries are exhausted.
        :raises ConfigError: when the proxy, TLS or URL setup is wrong.
        """
        if idempotent is None:
            idempotent = method.upper() in {"GET", "HEAD", "PUT", "DELETE", "OPTIONS"}
        started = self._clock()
        renewed = False
        attempt = 0
        while True:
            attempt += 1
            token = self._token_for(url) if authenticate else None
            request_headers = dict(headers or {})
            if token is not None:
                request_headers["Authorization"] = f"Bearer {token}"
            self._wait_for_gate()
            try:
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    headers=request_headers,
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
                if not (idempotent or _sent_nothing(error)):
                    raise self._network_error(url, error, ambiguous=True) from None
                wait = self._backoff(attempt)
                if not self._may_retry(attempt, started, wait):
                    raise self._network_error(url, error, ambiguous=False) from None
                _log.debug("retrying %s %s after %s (attempt %d)", method, _path(url), type(error).__name__, attempt)
                self._sleep(wait)
                continue
            action, _ = action_for(response.status_code)
            _log.debug("%s %s -> %d", method, _path(url), response.status_code)
            if action is Action.RENEW_TOKEN and token is not None and not renewed and self.bearer is not None:
                renewed = True
                self.bearer.renew(token)
                continue
            if action in (Action.RETRY_AFTER, Action.RETRY_BACKOFF):
                wait = self._wait_after(response, attempt, action)
                if self._may_retry(attempt, started, wait):
                    if action is Action.RETRY_AFTER:
                        self._gate.hold_until(self._clock() + wait)
                    _log.info("%s %s answered %d; retrying in %.1f s", method, _path(url), response.status_code, wait)
                    response.close()
                    if action is Action.RETRY_BACKOFF:
                        self._sleep(wait)
                    continue
            return response

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """Like :meth:`send`, but an error status raises the matching :class:`ConnectorError`.

        :returns: a successful (2xx or 3xx) response.
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
        code, message = dataverse_error(response)
        text = f"({code}){message}[{status}]" if code else f"{message}[{status}]"
        _, failure = action_for(status)
        if status == 407:
            return ConfigError.single(
                "runtime.proxy.password",
                "the runtime proxy refused its user and password (407 Proxy Authentication Required)",
            )
        if failure is FailureType.TRANSIENT:
            now = self._wall_clock()
            retry_after = parse_retry_after(response.headers.get("Retry-After"), now)
            return TransientError(text, retry_after=retry_after, status=status, code=code)
        if failure is FailureType.AUTH:
            return AuthError(text, status=status, code=code, field="oauth2")
        return RemoteError(text, status=status, code=code)

    # -- helpers ----------------------------------------------------------------------------------------------

    def _token_for(self, url: str) -> str | None:
        if self.bearer is None:
            return None
        if origin_of(url) != self.origin:
            _log.warning("not sending the access token to %s: it is not the API's origin", origin_of(url))
            return None
        return self.bearer.bearer()

    def _wait_for_gate(self) -> None:
        # Sleep until the gate opens; wait again only if another thread pushed it further meanwhile. Progress is
        # tracked from what was slept, not from re-reading the clock, so an injected clock that does not move
        # while sleeping cannot spin this loop.
        waited_until = self._clock()
        while self._gate.not_before > waited_until:
            delay = self._gate.not_before - waited_until
            self._sleep(delay)
            waited_until += delay

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.policy.backoff_cap_seconds, self.policy.backoff_base_seconds * 2 ** (attempt - 1))
        return self._rng.uniform(0, ceiling)

    def _wait_after(self, response: requests.Response, attempt: int, action: Action) -> float:
        if action is Action.RETRY_AFTER:
            retry_after = parse_retry_after(response.headers.get("Retry-After"), self._wall_clock())
            if retry_after is not None:
                return retry_after
        return self._backoff(attempt)

    def _may_retry(self, attempt: int, started: float, wait: float) -> bool:
        if attempt >= self.policy.max_attempts or wait > self.policy.max_retry_after_seconds:
            return False
        return self._clock() + wait - started <= self.policy.max_total_seconds

    def _network_error(self, url: str, error: requests.RequestException, *, ambiguous: bool) -> TransientError:
        kind = "timed out" if isinstance(error, requests.Timeout) else "failed"
        message = f"The connection to {origin_of(url)} {kind}"
        if ambiguous:
            message += "; the request may have been processed, so it was not sent again"
        return TransientError(message, internal_message=f"{message}: {type(error).__name__}", ambiguous=ambiguous)

    def _tls_error(self, url: str, error: requests.exceptions.SSLError) -> ConfigError:
        reason = "certificate verify failed" if "CERTIFICATE_VERIFY_FAILED" in str(error) else "TLS handshake failed"
        return ConfigError.single(
            "runtime.ca_bundle",
            f"{reason} for {origin_of(url)}: trust the server's CA in the runtime's CA bundle",
        )


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{origin_of(url)}{parts.path}"
