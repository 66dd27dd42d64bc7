"""Dataverse service-protection API limits, as a WSGI middleware.

What it is for: per principal (the bearer token's object id), a sliding-window request count, a sliding-window
combined execution time and an instantaneous concurrency gauge; over a limit the request is refused with
``429`` and the exact Dataverse error codes, messages and ``Retry-After`` header (reference §5). Limits can
be changed at run time and the next N responses can be forced to ``429``, so tests can exercise a client's
throttling path with small numbers instead of thousands of requests.

What it is not for: authentication (the principal lookup is injected) or fault injection (``faults``).
Requests without a principal (the token service, the admin endpoint, requests with a bad token) are never
limited.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dataverse_sandbox.contracts import Clock
from dataverse_sandbox.middleware import ENVIRON_THROTTLED, CompletionIterable, PrincipalOf

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = [
    "CONCURRENCY_CODE",
    "DOP_HINT_HEADER",
    "EXECUTION_TIME_CODE",
    "REQUEST_COUNT_CODE",
    "LimitSettings",
    "ServiceProtection",
    "throttle_message",
]

logger = logging.getLogger(__name__)

#: Number of requests over the window exceeded (decimal -2147015902).
REQUEST_COUNT_CODE = "0x80072322"
#: Combined execution time over the window exceeded (decimal -2147015903).
EXECUTION_TIME_CODE = "0x80072321"
#: Number of concurrent requests exceeded (decimal -2147015898).
CONCURRENCY_CODE = "0x80072326"
#: The degree of parallelism Dataverse recommends, on every answer (Learn, "Send parallel requests").
DOP_HINT_HEADER = "x-ms-dop-hint"

_CODES = (REQUEST_COUNT_CODE, EXECUTION_TIME_CODE, CONCURRENCY_CODE)


@dataclass(frozen=True)
class LimitSettings:
    """Service-protection limits, per principal. Defaults are Dataverse's.

    :param max_requests: requests allowed per sliding window.
    :param window_seconds: the sliding window, for the request count and the execution time.
    :param max_concurrent: requests allowed in flight at once; checked immediately.
    :param execution_time_ms: combined execution time allowed per sliding window.
    :param retry_after_seconds: a fixed ``Retry-After``; ``None`` computes it from the window (the seconds
        until enough of the window's load has left it, at least 1; 1 for the concurrency limit).
    :param enabled: ``False`` lets everything through (forced throttles still apply).
    :param enforcement_lag_seconds: how long the request-count and execution-time limits may stay exceeded
        before they bite. Dataverse documents a lag of up to five minutes; 0 (the default) makes them bite
        at once, which is what tests want. The concurrency limit never lags.
    :param dop_hint: the ``x-ms-dop-hint`` header of every answer to a principal's request: the degree of
        parallelism Dataverse recommends for the environment, which depends on the resources it has (Learn, "Send
        parallel requests"); ``None`` answers ``max_concurrent``. Set it lower to stand for a small environment.
    """

    max_requests: int = 6000
    window_seconds: float = 300
    max_concurrent: int = 52
    execution_time_ms: int = 1_200_000
    retry_after_seconds: int | None = None
    enabled: bool = True
    enforcement_lag_seconds: float = 0
    dop_hint: int | None = None

    def __post_init__(self) -> None:
        if self.max_requests < 1:
            raise ValueError(f"max_requests must be at least 1, got {self.max_requests}")
        if self.window_seconds <= 0:
            raise ValueError(f"window_seconds must be positive, got {self.window_seconds}")
        if self.max_concurrent < 1:
            raise ValueError(f"max_concurrent must be at least 1, got {self.max_concurrent}")
        if self.execution_time_ms < 1:
            raise ValueError(f"execution_time_ms must be at least 1, got {self.execution_time_ms}")
        if self.retry_after_seconds is not None and self.retry_after_seconds < 0:
            raise ValueError(f"retry_after_seconds must not be negative, got {self.retry_after_seconds}")
        if self.enforcement_lag_seconds < 0:
            raise ValueError(f"enforcement_lag_seconds must not be negative, got {self.enforcement_lag_seconds}")
        if self.dop_hint is not None and self.dop_hint < 1:
            raise ValueError(f"dop_hint must be at least 1, got {self.dop_hint}")


def _format_seconds(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)


def throttle_message(code: str, settings: LimitSettings) -> str:
    """The Dataverse message for a service-protection error code, with the configured numbers.

    :param code: one of :data:`REQUEST_COUNT_CODE`, :data:`EXECUTION_TIME_CODE`, :data:`CONCURRENCY_CODE`.
    :param settings: the limits the message quotes.
    :returns: the message, worded as Dataverse words it (two spaces before "milliseconds", as published).
    :raises ValueError: for any other code.
    """
    window = _format_seconds(settings.window_seconds)
    if code == REQUEST_COUNT_CODE:
        return f"Number of requests exceeded the limit of {settings.max_requests} over time window of {window} seconds."
    if code == EXECUTION_TIME_CODE:
        return (
            f"Combined execution time of incoming requests exceeded limit of {settings.execution_time_ms:,}  "
            f"milliseconds over time window of {window} seconds. Decrease number of concurrent requests or "
            "reduce the duration of requests and try again later."
        )
    if code == CONCURRENCY_CODE:
        return f"Number of concurrent requests exceeded the limit of {settings.max_concurrent}."
    raise ValueError(f"not a service-protection error code: {code!r} (expected one of {', '.join(_CODES)})")


@dataclass
class _PrincipalState:
    """What the limits remember about one principal. Guarded by the middleware's lock."""

    arrivals: deque[float] = field(default_factory=deque)
    # (completion time, duration in ms) of finished requests.
    executions: deque[tuple[float, float]] = field(default_factory=deque)
    execution_total_ms: float = 0.0
    in_flight: int = 0
    count_exceeded_since: float | None = None
    time_exceeded_since: float | None = None


@dataclass(frozen=True)
class _Forced:
    remaining: int
    code: str
    retry_after: int | None


class ServiceProtection:
    """WSGI middleware enforcing Dataverse's service-protection limits per principal. Thread-safe.

    A ``$batch`` is one request to this middleware (the server dispatches its parts internally), so it
    counts once, and its execution time is the sum of its parts, as in Dataverse.

    :param app: the application behind the limits.
    :param settings: the initial limits.
    :param clock: the time source for windows and ``Retry-After``.
    :param principal_of: returns the principal of a request, or ``None`` for requests that are not limited.
    """

    def __init__(
        self,
        app: WSGIApplication,
        settings: LimitSettings,
        clock: Clock,
        principal_of: PrincipalOf,
    ) -> None:
        self._app = app
        self._settings = settings
        self._clock = clock
        self._principal_of = principal_of
        self._lock = threading.Lock()
        self._states: dict[str, _PrincipalState] = {}
        self._forced: _Forced | None = None

    @property
    def settings(self) -> LimitSettings:
        """The limits in force."""
        with self._lock:
            return self._settings

    def update(self, settings: LimitSettings) -> None:
        """Replace the limits; requests already counted stay counted.

        :param settings: the new limits.
        """
        with self._lock:
            self._settings = settings
        logger.info("service-protection limits changed: %s", settings)

    def force_throttle(self, count: int, code: str = REQUEST_COUNT_CODE, retry_after: int | None = None) -> None:
        """Answer the next ``count`` limited requests (those with a principal) with ``429`` and ``code``.

        Replaces any forced throttling still pending; ``count`` 0 cancels it.

        :param count: how many requests.
        :param code: the Dataverse error code to send.
        :param retry_after: the ``Retry-After`` to send; ``None`` uses the settings' rule.
        :raises ValueError: for a negative count or an unknown code.
        """
        if count < 0:
            raise ValueError(f"count must not be negative, got {count}")
        if code not in _CODES:
            raise ValueError(f"not a service-protection error code: {code!r} (expected one of {', '.join(_CODES)})")
        if retry_after is not None and retry_after < 0:
            raise ValueError(f"retry_after must not be negative, got {retry_after}")
        with self._lock:
            self._forced = _Forced(count, code, retry_after) if count else None

    def forced_remaining(self) -> int:
        """:returns: how many forced ``429`` responses are still pending."""
        with self._lock:
            return self._forced.remaining if self._forced else 0

    def reset(self) -> None:
        """Forget every principal's counts (requests in flight finish normally) and any forced throttling."""
        with self._lock:
            for state in self._states.values():
                state.arrivals.clear()
                state.executions.clear()
                state.execution_total_ms = 0.0
                state.count_exceeded_since = None
                state.time_exceeded_since = None
            self._forced = None

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Serve one WSGI request within the service-protection limits."""
        principal = self._principal_of(environ)
        if principal is None:
            return self._app(environ, start_response)
        verdict = self._admit(principal)
        if isinstance(verdict, _Refusal):
            environ[ENVIRON_THROTTLED] = verdict.code
            logger.info("throttled principal %s with %s, Retry-After %s", principal, verdict.code, verdict.retry_after)
            return _refuse(verdict, start_response)
        hint = self._settings.dop_hint or self._settings.max_concurrent

        def start_with_hint(
            status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
        ) -> Callable[[bytes], object]:
            return start_response(status, [*headers, (DOP_HINT_HEADER, str(hint))], exc_info)

        if verdict is None:
            return self._app(environ, start_with_hint)
        return self._run_counted(principal, verdict, environ, start_with_hint)

    def _admit(self, principal: str) -> _Refusal | _Admission | None:
        """Decide on one request and count it if admitted (``None``: limits disabled, nothing counted)."""
        with self._lock:
            # Read the clock under the lock so that decisions see time move forward in the order they are made.
            now = self._clock.now()
            settings = self._settings
            if self._forced is not None:
                forced = self._forced
                self._forced = _Forced(forced.remaining - 1, forced.code, forced.retry_after)
                if self._forced.remaining <= 0:
                    self._forced = None
                state = self._states.setdefault(principal, _PrincipalState())
                self._prune(state, settings, now)
                retry = forced.retry_after
                if retry is None:
                    retry = self._retry_after(forced.code, state, settings, now)
                return _Refusal(forced.code, throttle_message(forced.code, settings), retry)
            if not settings.enabled:
                return None
            state = self._states.setdefault(principal, _PrincipalState())
            self._prune(state, settings, now)
            code = self._exceeded(state, settings, now)
            if code is not None:
                return _Refusal(code, throttle_message(code, settings), self._retry_after(code, state, settings, now))
            state.arrivals.append(now)
            state.in_flight += 1
            return _Admission(
                started=now,
                burst_remaining=max(settings.max_requests - len(state.arrivals), 0),
                time_remaining_ms=max(settings.execution_time_ms - state.execution_total_ms, 0.0),
            )

    @staticmethod
    def _prune(state: _PrincipalState, settings: LimitSettings, now: float) -> None:
        horizon = now - settings.window_seconds
        while state.arrivals and state.arrivals[0] <= horizon:
            state.arrivals.popleft()
        while state.executions and state.executions[0][0] <= horizon:
            _, duration = state.executions.popleft()
            state.execution_total_ms -= duration
        if not state.executions:
            state.execution_total_ms = 0.0  # no floating-point residue once the window is empty

    @staticmethod
    def _exceeded(state: _PrincipalState, settings: LimitSettings, now: float) -> str | None:
        if state.in_flight >= settings.max_concurrent:
            return CONCURRENCY_CODE
        lag = settings.enforcement_lag_seconds
        if len(state.arrivals) >= settings.max_requests:
            if state.count_exceeded_since is None:
                state.count_exceeded_since = now
            if lag <= 0 or now - state.count_exceeded_since >= lag:
                return REQUEST_COUNT_CODE
        else:
            state.count_exceeded_since = None
        if state.execution_total_ms >= settings.execution_time_ms:
            if state.time_exceeded_since is None:
                state.time_exceeded_since = now
            if lag <= 0 or now - state.time_exceeded_since >= lag:
                return EXECUTION_TIME_CODE
        else:
            state.time_exceeded_since = None
        return None

    @staticmethod
    def _retry_after(code: str, state: _PrincipalState, settings: LimitSettings, now: float) -> int:
        if settings.retry_after_seconds is not None:
            return settings.retry_after_seconds
        if code == REQUEST_COUNT_CODE and state.arrivals:
            # Once the oldest arrival leaves the window, one more request fits.
            excess = len(state.arrivals) - settings.max_requests
            index = min(max(excess, 0), len(state.arrivals) - 1)
            return max(1, math.ceil(state.arrivals[index] + settings.window_seconds - now))
        if code == EXECUTION_TIME_CODE and state.executions:
            remaining = state.execution_total_ms
            for finished, duration in state.executions:
                remaining -= duration
                if remaining < settings.execution_time_ms:
                    return max(1, math.ceil(finished + settings.window_seconds - now))
        return 1

    def _run_counted(
        self,
        principal: str,
        admission: _Admission,
        environ: WSGIEnvironment,
        start_response: StartResponse,
    ) -> Iterable[bytes]:
        def start_with_headers(
            status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
        ) -> Callable[[bytes], object]:
            headers = [
                *headers,
                ("x-ms-ratelimit-burst-remaining-xrm-requests", str(admission.burst_remaining)),
                ("x-ms-ratelimit-time-remaining-xrm-requests", f"{admission.time_remaining_ms:.2f}"),
            ]
            return start_response(status, headers, exc_info)

        def done() -> None:
            self._complete(principal, admission.started)

        try:
            body = self._app(environ, start_with_headers)
        except BaseException:
            done()
            raise
        return CompletionIterable(body, done)

    def _complete(self, principal: str, started: float) -> None:
        with self._lock:
            now = self._clock.now()
            state = self._states[principal]
            state.in_flight -= 1
            duration_ms = max(now - started, 0.0) * 1000.0
            state.executions.append((now, duration_ms))
            state.execution_total_ms += duration_ms


@dataclass(frozen=True)
class _Admission:
    started: float
    burst_remaining: int
    time_remaining_ms: float


@dataclass(frozen=True)
class _Refusal:
    code: str
    message: str
    retry_after: int


def _refuse(refusal: _Refusal, start_response: StartResponse) -> Iterable[bytes]:
    body = json.dumps({"error": {"code": refusal.code, "message": refusal.message}}).encode()
    start_response(
        "429 Too Many Requests",
        [
            ("Content-Type", "application/json; odata.metadata=minimal"),
            ("OData-Version", "4.0"),
            ("Retry-After", str(refusal.retry_after)),
            ("Content-Length", str(len(body))),
        ],
    )
    return [body]
