"""What the sandbox saw: one record per request and the counters tests assert on.

What it is for: the server's own view of a run, so a test can check what a client really did (requests per
principal, ``429`` responses sent, faults injected, tokens issued, whether a client waited ``Retry-After``
seconds before coming back). :class:`RequestRecorder` is the outermost WSGI middleware that feeds
:class:`SandboxStats`; the token service reports to it through the
:class:`~dataverse_sandbox.contracts.TokenEventRecorder` interface (:meth:`SandboxStats.record_issued`,
:meth:`SandboxStats.record_refused`), the same one its own :class:`~dataverse_sandbox.entra.TokenStats` has.

What it is not for: logging. Records never hold a token, a secret or a query-string value that could be one.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from dataverse_sandbox.contracts import Clock
from dataverse_sandbox.middleware import ENVIRON_FAULT, ENVIRON_THROTTLED, CompletionIterable, PrincipalOf

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["RequestRecord", "RequestRecorder", "RetryAfterViolation", "SandboxStats"]

#: Query parameters whose values are replaced by ``***`` in records (OAuth parameters that carry credentials).
_SECRET_PARAMETERS = frozenset(
    {
        "access_token",
        "client_assertion",
        "client_secret",
        "code",
        "code_verifier",
        "id_token",
        "password",
        "refresh_token",
        "token",
    }
)


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server saw it.

    :param time: when it arrived (the sandbox clock, epoch seconds).
    :param finished: when its response was complete, or the connection reset.
    :param method: the HTTP method.
    :param path: the path, without the query string.
    :param query: the query string with credential-bearing parameter values masked.
    :param principal: the principal (token object id), ``None`` when unauthenticated or not an API request.
    :param authorization: whether an ``Authorization`` header was present (its value is never kept).
    :param host: the ``Host`` header.
    :param status: the response status, ``None`` when the connection was reset without a response.
    :param throttled: the service-protection error code when the request was refused with ``429``.
    :param fault: the kind of fault injected into it, if any.
    :param retry_after: the ``Retry-After`` header of the response, in seconds, if any.
    """

    time: float
    finished: float
    method: str
    path: str
    query: str
    principal: str | None
    authorization: bool
    host: str
    status: int | None
    throttled: str | None = None
    fault: str | None = None
    retry_after: int | None = None


@dataclass(frozen=True)
class RetryAfterViolation:
    """A request that arrived before the ``Retry-After`` of an earlier ``429`` to the same principal elapsed.

    :param throttled: the ``429`` response's record.
    :param early: the request that came too soon.
    :param waited: seconds from the ``429`` response to the early request.
    """

    throttled: RequestRecord
    early: RequestRecord
    waited: float


class SandboxStats:
    """Thread-safe store of request records and counters.

    :param clock: the time source for records.
    :param max_records: how many request records are kept (the oldest are dropped; counters stay exact).
    """

    def __init__(self, clock: Clock, max_records: int = 100_000) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._records: deque[RequestRecord] = deque(maxlen=max_records)
        self._requests_total = 0
        self._by_principal: Counter[str] = Counter()
        self._by_status: Counter[int] = Counter()
        self._throttled: Counter[str] = Counter()
        self._faults: Counter[str] = Counter()
        self._tokens_by_client: Counter[str] = Counter()
        self._tokens_by_grant: Counter[str] = Counter()
        self._tokens_refused: Counter[str] = Counter()

    @property
    def clock(self) -> Clock:
        """The time source of the records."""
        return self._clock

    def record_request(self, record: RequestRecord) -> None:
        """Add one request's record and count it.

        :param record: what the server saw.
        """
        with self._lock:
            self._records.append(record)
            self._requests_total += 1
            if record.principal is not None:
                self._by_principal[record.principal] += 1
            if record.status is not None:
                self._by_status[record.status] += 1
            if record.status == 429:
                self._throttled[record.throttled or "unknown"] += 1
            if record.fault is not None:
                self._faults[record.fault] += 1

    def record_issued(self, client_id: str, grant_type: str) -> None:
        """Count a token the token service issued (:class:`~dataverse_sandbox.contracts.TokenEventRecorder`).

        :param client_id: the application the token was issued to.
        :param grant_type: the grant type (``client_credentials``, ``authorization_code``, ``refresh_token``).
        """
        with self._lock:
            self._tokens_by_client[client_id] += 1
            self._tokens_by_grant[grant_type] += 1

    def record_refused(self, code: int) -> None:
        """Count a token-service refusal (:class:`~dataverse_sandbox.contracts.TokenEventRecorder`).

        :param code: the AADSTS number.
        """
        with self._lock:
            self._tokens_refused[str(code)] += 1

    def record_token(self, client_id: str, grant: str) -> None:
        """The former name of :meth:`record_issued`, kept for existing callers."""
        self.record_issued(client_id, grant)

    def requests(
        self,
        *,
        principal: str | None = None,
        method: str | None = None,
        path_prefix: str | None = None,
        status: int | None = None,
        since: float | None = None,
    ) -> list[RequestRecord]:
        """The kept records that match every given filter, in arrival order.

        :param principal: only this principal's requests.
        :param method: only this method (case-insensitive).
        :param path_prefix: only paths starting with this.
        :param status: only responses with this status.
        :param since: only requests that arrived at or after this time.
        :returns: the matching records.
        """
        with self._lock:
            records = list(self._records)
        wanted_method = method.upper() if method else None
        return [
            r
            for r in records
            if (principal is None or r.principal == principal)
            and (wanted_method is None or r.method == wanted_method)
            and (path_prefix is None or r.path.startswith(path_prefix))
            and (status is None or r.status == status)
            and (since is None or r.time >= since)
        ]

    def retry_after_violations(
        self, principal: str | None = None, *, tolerance: float = 0.0
    ) -> list[RetryAfterViolation]:
        """Requests that arrived while an earlier ``429``'s ``Retry-After`` was still running.

        A request counts only if it arrived after the ``429`` was sent: requests already on their way cannot
        have obeyed it.

        :param principal: check only this principal (default: every principal).
        :param tolerance: seconds of slack for clock granularity and network delay.
        :returns: one entry per early request, in arrival order.
        """
        records = [r for r in self.requests(principal=principal) if r.principal is not None]
        violations: list[RetryAfterViolation] = []
        for throttled in records:
            if throttled.status != 429 or not throttled.retry_after:
                continue
            deadline = throttled.finished + throttled.retry_after - tolerance
            for later in records:
                if later.principal == throttled.principal and throttled.finished < later.time < deadline:
                    violations.append(RetryAfterViolation(throttled, later, later.time - throttled.finished))
        violations.sort(key=lambda v: v.early.time)
        return violations

    def snapshot(self, *, include_records: bool = False) -> dict[str, Any]:
        """The counters (and optionally the kept records) as JSON-serialisable data.

        :param include_records: add ``records``, a list of every kept record as a dict.
        :returns: a dict of plain values.
        """
        with self._lock:
            result: dict[str, Any] = {
                "time": self._clock.now(),
                "requests_total": self._requests_total,
                "requests_by_principal": dict(self._by_principal),
                "requests_by_status": {str(k): v for k, v in sorted(self._by_status.items())},
                "throttled_total": sum(self._throttled.values()),
                "throttled_by_code": dict(self._throttled),
                "faults_total": sum(self._faults.values()),
                "faults_by_kind": dict(self._faults),
                "tokens_issued": sum(self._tokens_by_client.values()),
                "tokens_by_client": dict(self._tokens_by_client),
                "tokens_by_grant": dict(self._tokens_by_grant),
                "tokens_refused": sum(self._tokens_refused.values()),
                "tokens_refused_by_code": dict(self._tokens_refused),
                "records_kept": len(self._records),
            }
            if include_records:
                result["records"] = [asdict(r) for r in self._records]
        return result

    def reset(self) -> None:
        """Forget every record and counter."""
        with self._lock:
            self._records.clear()
            self._requests_total = 0
            for counter in (
                self._by_principal,
                self._by_status,
                self._throttled,
                self._faults,
                self._tokens_by_client,
                self._tokens_by_grant,
                self._tokens_refused,
            ):
                counter.clear()


def _mask_query(query: str) -> str:
    if not query:
        return ""
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(k, "***" if k.lower() in _SECRET_PARAMETERS else v) for k, v in pairs], safe="$*,()'/:@")


def _retry_after(headers: list[tuple[str, str]]) -> int | None:
    for name, value in headers:
        if name.lower() == "retry-after":
            try:
                return int(value.strip())
            except ValueError:
                return None
    return None


class RequestRecorder:
    """WSGI middleware recording every request into :class:`SandboxStats`; mount it outermost.

    It reads the markers the limits and the fault injector leave in the environ, so it must wrap them. A
    request whose connection was reset is recorded with status ``None`` and the exception passes through.

    :param app: the application to record.
    :param stats: where the records go.
    :param principal_of: the principal lookup (memoise it with
        :func:`~dataverse_sandbox.middleware.memoize_principal` when the limits use it too).
    """

    def __init__(self, app: WSGIApplication, stats: SandboxStats, principal_of: PrincipalOf) -> None:
        self._app = app
        self._stats = stats
        self._principal_of = principal_of

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Serve one WSGI request, counting it."""
        clock = self._stats.clock
        arrived = clock.now()
        principal = self._principal_of(environ)
        response: dict[str, Any] = {}

        def recording_start(
            status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
        ) -> Callable[[bytes], object]:
            response["status"] = int(status.split(None, 1)[0])
            response["retry_after"] = _retry_after(headers)
            return start_response(status, headers, exc_info)

        def done() -> None:
            self._stats.record_request(
                RequestRecord(
                    time=arrived,
                    finished=clock.now(),
                    method=environ.get("REQUEST_METHOD", "GET").upper(),
                    path=environ.get("PATH_INFO", ""),
                    query=_mask_query(environ.get("QUERY_STRING", "")),
                    principal=principal,
                    authorization=bool(environ.get("HTTP_AUTHORIZATION")),
                    host=environ.get("HTTP_HOST", ""),
                    status=response.get("status"),
                    throttled=environ.get(ENVIRON_THROTTLED),
                    fault=environ.get(ENVIRON_FAULT),
                    retry_after=response.get("retry_after"),
                )
            )

        try:
            body = self._app(environ, recording_start)
        except BaseException:
            done()
            raise
        return CompletionIterable(body, done)
