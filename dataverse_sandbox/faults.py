"""Fault injection for the sandbox, as a WSGI middleware: what an unreliable network and service look like.

What it is for: added latency, ``502``/``503``/``504`` answers in Dataverse's error shape, connection resets
before or after the request is processed, truncated and malformed bodies, and a token-service outage, at
configurable rates decided by a seeded random generator (the same seed and the same request sequence make the
same decisions) or scheduled exactly ("the next 3 requests are reset"). Settings can change at run time.

What it is not for: service-protection limits (``limits``) or counting what happened (``stats``, which
reads the ``environ`` marker this middleware leaves). Connection resets need the server's cooperation:
:class:`FaultAwareRequestHandler` (from :mod:`.connection_reset`, re-exported here) is the werkzeug request
handler that performs them.

Paths under ``/_sandbox`` (the admin endpoint) are never faulted, so a test can always switch faults off.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from dataverse_sandbox.connection_reset import FaultAwareRequestHandler, InjectedResetError, reset_connection
from dataverse_sandbox.contracts import Clock
from dataverse_sandbox.fault_responses import (
    API_PREFIX,
    error_response,
    malformed_response,
    token_outage_response,
)
from dataverse_sandbox.middleware import ENVIRON_CLOSE_CONNECTION, ENVIRON_FAULT
from dataverse_sandbox.numbers import ascii_whole_number

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = [
    "ADMIN_PREFIX",
    "API_PREFIX",
    "MAX_SCHEDULED",
    "FaultAwareRequestHandler",
    "FaultInjector",
    "FaultKind",
    "FaultSettings",
    "InjectedFault",
    "InjectedResetError",
]

logger = logging.getLogger(__name__)

#: Paths of the admin endpoint, never faulted.
ADMIN_PREFIX = "/_sandbox"
#: The most scheduled faults queued at once (each is one entry in memory; a test needs a handful).
MAX_SCHEDULED = 100_000


class FaultKind(StrEnum):
    """The faults that can be scheduled or drawn at random."""

    ERROR = "error"
    RESET_BEFORE = "reset_before"
    RESET_AFTER = "reset_after"
    TRUNCATE = "truncate"
    MALFORMED = "malformed"


#: Kind recorded in the environ marker when the token-service outage answered a request.
TOKEN_OUTAGE = "token_outage"


@dataclass(frozen=True)
class FaultSettings:
    """What to inject. Rates are probabilities per eligible request; at most one fault per request.

    :param latency_ms: added to every eligible request before anything else happens.
    :param error_rate: share of eligible requests answered with a status from ``error_statuses``, without
        being processed.
    :param error_statuses: the statuses an error fault picks from (uniformly).
    :param reset_before_rate: share of requests whose connection is reset (RST) before they are processed.
    :param reset_after_rate: share of requests processed completely (a write is committed) and then reset.
    :param truncate_rate: share of responses sent with their full ``Content-Length`` but only part of the
        body.
    :param malformed_rate: share of responses replaced by a ``200`` whose JSON body is cut short.
    :param token_outage: token-service paths (everything outside ``/api/`` and ``/_sandbox``) answer ``503``
        ``temporarily_unavailable``.
    :param path_prefix: only paths starting with this are eligible (``None``: every path but ``/_sandbox``).
    :param methods: only these methods are eligible (``None``: all).
    """

    latency_ms: float = 0
    error_rate: float = 0
    error_statuses: tuple[int, ...] = (502, 503, 504)
    reset_before_rate: float = 0
    reset_after_rate: float = 0
    truncate_rate: float = 0
    malformed_rate: float = 0
    token_outage: bool = False
    path_prefix: str | None = None
    methods: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.latency_ms < 0:
            raise ValueError(f"latency_ms must not be negative, got {self.latency_ms}")
        for name, rate in self.fault_rates().items():
            if not 0 <= rate <= 1:
                raise ValueError(f"{name}_rate must be between 0 and 1, got {rate}")
        total = sum(self.fault_rates().values())
        if total > 1 + 1e-9:
            raise ValueError(f"the fault rates add up to {total}, more than 1")
        if not self.error_statuses or any(not 500 <= s <= 599 for s in self.error_statuses):
            raise ValueError(f"error_statuses must be 5xx statuses, got {self.error_statuses}")
        if self.methods is not None:
            object.__setattr__(self, "methods", tuple(m.upper() for m in self.methods))

    def fault_rates(self) -> dict[str, float]:
        """:returns: each fault kind's rate, in the order a random draw is mapped onto them."""
        # The order is part of the deterministic decision: one uniform draw is mapped onto these intervals.
        return {
            FaultKind.RESET_BEFORE.value: self.reset_before_rate,
            FaultKind.ERROR.value: self.error_rate,
            FaultKind.RESET_AFTER.value: self.reset_after_rate,
            FaultKind.TRUNCATE.value: self.truncate_rate,
            FaultKind.MALFORMED.value: self.malformed_rate,
        }


@dataclass(frozen=True)
class InjectedFault:
    """One fault the injector applied.

    :param time: when (the injector's clock).
    :param kind: a :class:`FaultKind` value or ``token_outage``.
    :param status: the status sent for error faults and the outage, else ``None``.
    :param method: the request's method.
    :param path: the request's path (no query string).
    """

    time: float
    kind: str
    status: int | None
    method: str
    path: str


@dataclass
class _Decision:
    kind: FaultKind | None = None
    status: int = 0
    latency_ms: float = 0


@dataclass
class _Captured:
    status: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)


class FaultInjector:
    """WSGI middleware injecting faults. Thread-safe; decisions are serialised, sleeping and serving are not.

    :param app: the application behind the faults.
    :param settings: what to inject initially.
    :param seed: seeds the random generator behind rate-based decisions.
    :param clock: time source for the log of injected faults (wall clock when ``None``).
    :param sleeper: how latency is applied; tests pass a fake.
    :param history_size: how many injected faults :meth:`history` keeps (the oldest are dropped).
    """

    def __init__(
        self,
        app: WSGIApplication,
        settings: FaultSettings,
        seed: int,
        clock: Clock | None = None,
        sleeper: Callable[[float], None] = time.sleep,
        history_size: int = 10_000,
    ) -> None:
        self._app = app
        self._settings = settings
        self._random = random.Random(seed)
        self._clock = clock or Clock()
        self._sleeper = sleeper
        self._lock = threading.Lock()
        self._scheduled: deque[tuple[FaultKind, int | None]] = deque()
        self._counts: Counter[str] = Counter()
        self._history: deque[InjectedFault] = deque(maxlen=history_size)

    @property
    def settings(self) -> FaultSettings:
        """The settings in force."""
        with self._lock:
            return self._settings

    def update(self, settings: FaultSettings) -> None:
        """Replace the settings; scheduled faults stay scheduled and the random sequence continues.

        :param settings: the new settings.
        """
        with self._lock:
            self._settings = settings
        logger.info("fault settings changed: %s", settings)

    def schedule(self, kind: FaultKind | str, count: int, *, status: int | None = None) -> None:
        """Inject exactly ``count`` faults of ``kind`` into the next eligible requests, after any already
        queued.

        Scheduled faults take precedence over rates; a request that takes one draws nothing at random.

        :param kind: a :class:`FaultKind` or its value.
        :param count: how many requests.
        :param status: for ``error``: the status to answer (default: the first of ``error_statuses``).
        :raises ValueError: for an unknown kind, a negative count, more than :data:`MAX_SCHEDULED` queued in all,
            or a status that is not 5xx.
        """
        fault = FaultKind(kind)
        if count < 0:
            raise ValueError(f"count must not be negative, got {count}")
        if status is not None and (fault is not FaultKind.ERROR or not 500 <= status <= 599):
            raise ValueError(f"status applies to 5xx error faults only, got {status} for {fault.value}")
        with self._lock:
            if count > MAX_SCHEDULED - len(self._scheduled):
                raise ValueError(
                    f"at most {MAX_SCHEDULED} faults can be queued; {len(self._scheduled)} are, {count} more asked"
                )
            self._scheduled.extend([(fault, status)] * count)

    def scheduled(self) -> list[str]:
        """:returns: the kinds still queued, in the order they will be injected."""
        with self._lock:
            return [kind.value for kind, _ in self._scheduled]

    def clear_schedule(self) -> None:
        """Drop every scheduled fault."""
        with self._lock:
            self._scheduled.clear()

    def injected(self) -> dict[str, int]:
        """:returns: how many faults of each kind (and ``token_outage`` answers) were injected so far."""
        with self._lock:
            return dict(self._counts)

    def history(self) -> list[InjectedFault]:
        """:returns: the most recent injected faults, oldest first."""
        with self._lock:
            return list(self._history)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Serve one WSGI request, injecting the fault due for it, if any."""
        path: str = environ.get("PATH_INFO", "")
        method: str = environ.get("REQUEST_METHOD", "GET").upper()
        if path.startswith(ADMIN_PREFIX):
            return self._app(environ, start_response)
        decision, outage = self._decide(path, method)
        if decision.latency_ms > 0:
            self._sleeper(decision.latency_ms / 1000.0)
        if outage:
            self._mark(environ, TOKEN_OUTAGE)
            return token_outage_response(start_response)
        if decision.kind is None:
            return self._app(environ, start_response)
        self._mark(environ, decision.kind.value)
        logger.info("injecting %s into %s %s", decision.kind.value, method, path)
        if decision.kind is FaultKind.ERROR:
            return error_response(decision.status, path, start_response)
        if decision.kind is FaultKind.RESET_BEFORE:
            # Read the whole request first: the client is then waiting for the response when the RST lands.
            # A client still sending may swallow the reset (urllib3 ignores ECONNRESET on send) and see EOF.
            _drain_request_body(environ)
            reset_connection(environ)
        captured, body = self._run_buffered(environ)
        if decision.kind is FaultKind.RESET_AFTER or (decision.kind is FaultKind.TRUNCATE and not body):
            reset_connection(environ)
        if decision.kind is FaultKind.TRUNCATE:
            # The client must see the connection end short of the announced length, not wait for the rest.
            environ[ENVIRON_CLOSE_CONNECTION] = True
            headers = [(k, v) for k, v in captured.headers if k.lower() != "content-length"]
            start_response(captured.status, [*headers, ("Content-Length", str(len(body)))])
            return [body[: len(body) // 2]]
        return malformed_response(body, start_response)

    def _decide(self, path: str, method: str) -> tuple[_Decision, bool]:
        with self._lock:
            settings = self._settings
            eligible = (settings.path_prefix is None or path.startswith(settings.path_prefix)) and (
                settings.methods is None or method in settings.methods
            )
            outage = settings.token_outage and not path.startswith(API_PREFIX)
            if outage:
                self._note(TOKEN_OUTAGE, 503, method, path)
            if not eligible:
                return _Decision(), outage
            decision = _Decision(latency_ms=settings.latency_ms)
            if outage:
                return decision, True
            if self._scheduled:
                kind, status = self._scheduled.popleft()
                decision.kind = kind
                decision.status = status or settings.error_statuses[0]
            else:
                # Exactly one draw per eligible request (two for an error), so the sequence of decisions
                # depends only on the seed and the sequence of requests.
                draw = self._random.random()
                threshold = 0.0
                for name, rate in settings.fault_rates().items():
                    threshold += rate
                    if draw < threshold:
                        decision.kind = FaultKind(name)
                        break
                if decision.kind is FaultKind.ERROR:
                    decision.status = self._random.choice(settings.error_statuses)
            if decision.kind is not None:
                self._note(decision.kind.value, decision.status or None, method, path)
            return decision, False

    def _note(self, kind: str, status: int | None, method: str, path: str) -> None:
        """Count and log one injected fault; the caller holds the lock."""
        self._counts[kind] += 1
        self._history.append(InjectedFault(self._clock.now(), kind, status, method, path))

    def _mark(self, environ: WSGIEnvironment, kind: str) -> None:
        environ[ENVIRON_FAULT] = kind

    def _run_buffered(self, environ: WSGIEnvironment) -> tuple[_Captured, bytes]:
        captured = _Captured()

        def capture(
            status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
        ) -> Callable[[bytes], object]:
            captured.status = status
            captured.headers = list(headers)
            return lambda data: None

        body = self._app(environ, capture)
        try:
            data = b"".join(body)
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
        return captured, data


def _drain_request_body(environ: WSGIEnvironment) -> None:
    stream = environ["wsgi.input"]
    if environ.get("wsgi.input_terminated"):
        while stream.read(65536):
            pass
        return
    # Read as the server's body reader and the body limit read it; a length they cannot read (another script's
    # digits, more digits than any body has) has no end to drain to, and the connection is reset regardless.
    remaining = ascii_whole_number(str(environ.get("CONTENT_LENGTH") or "0"))
    if remaining is None:
        return
    while remaining > 0:
        chunk = stream.read(min(remaining, 65536))
        if not chunk:
            break
        remaining -= len(chunk)
