"""Fault injection of the sandbox (dataverse_sandbox.faults and connection_reset).

Unit-level behaviour goes through werkzeug's test client; connection resets and truncated bodies go through a
real werkzeug server on 127.0.0.1 and plain ``requests``, because only a socket shows what a client sees.
"""

from __future__ import annotations

import errno
import io
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

import pytest
import requests
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.test import Client

from dataverse_sandbox.contracts import Clock
from dataverse_sandbox.faults import (
    FaultAwareRequestHandler,
    FaultInjector,
    FaultKind,
    FaultSettings,
    InjectedResetError,
)
from dataverse_sandbox.middleware import ENVIRON_FAULT

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

API = "/api/data/v9.2/accounts"
TOKEN = "/00000000-0000-0000-0000-0000000000aa/oauth2/v2.0/token"


class RecordingApp:
    """The inner application: counts calls (a call is a committed write) and answers with a JSON body."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.environs: list[WSGIEnvironment] = []
        self._lock = threading.Lock()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        environ["wsgi.input"].read(length)
        with self._lock:
            self.calls.append(f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}")
            self.environs.append(environ)
        body = json.dumps({"value": [{"name": "Contoso", "accountid": "1"}, {"name": "Fabrikam"}]}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


@pytest.fixture
def inner() -> RecordingApp:
    return RecordingApp()


def injector(inner: RecordingApp, seed: int = 1, **settings: object) -> FaultInjector:
    return FaultInjector(inner, FaultSettings(**settings), seed=seed)  # type: ignore[arg-type]


def test_scheduled_errors_answer_in_dataverse_shape_without_processing(inner: RecordingApp) -> None:
    faults = injector(inner)
    faults.schedule(FaultKind.ERROR, 2, status=503)
    client = Client(faults)
    for _ in range(2):
        response = client.post(API, json={"name": "x"})
        assert response.status_code == 503
        assert response.headers["Content-Type"] == "application/json; odata.metadata=minimal"
        assert response.headers["OData-Version"] == "4.0"
        error = response.get_json()["error"]
        assert error["code"] == "0x80040216"
        assert error["message"]
    assert inner.calls == []
    assert client.post(API, json={"name": "x"}).status_code == 200
    assert inner.calls == [f"POST {API}"]
    assert faults.injected() == {"error": 2}


def test_error_without_status_uses_the_first_configured_one(inner: RecordingApp) -> None:
    faults = injector(inner, error_statuses=(504, 502))
    faults.schedule("error", 1)
    assert Client(faults).get(API).status_code == 504


def test_errors_on_token_service_paths_use_entra_shape(inner: RecordingApp) -> None:
    faults = injector(inner)
    faults.schedule("error", 1, status=502)
    response = Client(faults).post(TOKEN, data={"grant_type": "client_credentials"})
    assert response.status_code == 502
    body = response.get_json()
    assert body["error"] == "server_error"
    assert body["error_codes"] == [90033]


def test_token_outage_answers_503_temporarily_unavailable_on_token_paths_only(inner: RecordingApp) -> None:
    client = Client(injector(inner, token_outage=True))
    response = client.post(TOKEN, data={"grant_type": "client_credentials"})
    assert response.status_code == 503
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    body = response.get_json()
    assert body["error"] == "temporarily_unavailable"
    assert body["error_description"].startswith("AADSTS90033: ")
    assert "\r\nTrace ID: " in body["error_description"]
    assert "\r\nCorrelation ID: " in body["error_description"]
    assert body["error_codes"] == [90033]
    assert {"timestamp", "trace_id", "correlation_id"} <= body.keys()
    assert client.get("/tenant/v2.0/.well-known/openid-configuration").status_code == 503
    assert inner.calls == []
    assert client.get(API).status_code == 200


def test_admin_paths_are_never_faulted(inner: RecordingApp) -> None:
    faults = injector(inner, error_rate=1.0, token_outage=True, latency_ms=10)
    slept: list[float] = []
    faults = FaultInjector(inner, faults.settings, seed=1, sleeper=slept.append)
    assert Client(faults).get("/_sandbox/stats").status_code == 200
    assert slept == []


def test_same_seed_and_requests_make_the_same_decisions(inner: RecordingApp) -> None:
    settings = {"error_rate": 0.2, "malformed_rate": 0.1, "truncate_rate": 0.1}

    def run(seed: int) -> list[tuple[int, str | None]]:
        faults = injector(RecordingApp(), seed=seed, **settings)
        client = Client(faults)
        seen = []
        for i in range(200):
            response = client.get(f"{API}?page={i}")
            seen.append((response.status_code, response.headers.get("Content-Length")))
        return seen

    first, again, other = run(7), run(7), run(8)
    assert first == again
    assert first != other
    errors = sum(1 for status, _ in first if status >= 500)
    assert 20 <= errors <= 60  # 20 % of 200, loosely


def test_rates_decide_one_fault_per_request_and_count_them(inner: RecordingApp) -> None:
    faults = injector(inner, seed=3, error_rate=0.5, malformed_rate=0.5)
    client = Client(faults)
    statuses = [client.get(API).status_code for _ in range(50)]
    counts = faults.injected()
    assert counts["error"] + counts["malformed"] == 50
    assert statuses.count(200) == counts["malformed"]
    assert [f.kind for f in faults.history()].count("error") == counts["error"]


def test_path_prefix_and_methods_restrict_eligibility(inner: RecordingApp) -> None:
    client = Client(injector(inner, error_rate=1.0, path_prefix="/api/", methods=("post",)))
    assert client.get(API).status_code == 200
    assert client.post(API, json={}).status_code >= 500
    assert client.post(TOKEN, data={}).status_code == 200


def test_latency_uses_the_injected_sleeper_for_eligible_requests(inner: RecordingApp) -> None:
    slept: list[float] = []
    faults = FaultInjector(inner, FaultSettings(latency_ms=250, path_prefix="/api/"), seed=1, sleeper=slept.append)
    client = Client(faults)
    client.get(API)
    client.post(TOKEN, data={})
    assert slept == [0.25]


def test_malformed_is_a_200_whose_json_body_does_not_parse(inner: RecordingApp) -> None:
    faults = injector(inner)
    faults.schedule("malformed", 1)
    response = Client(faults).post(API, json={"name": "x"})
    assert response.status_code == 200
    assert response.headers["Content-Length"] == str(len(response.data))
    with pytest.raises(ValueError, match=r"Expecting|Unterminated"):
        json.loads(response.data)
    assert inner.calls == [f"POST {API}"]  # the request itself was processed


def test_truncate_declares_the_full_length_but_sends_part_of_the_body(inner: RecordingApp) -> None:
    faults = injector(inner)
    faults.schedule("truncate", 1)
    response = Client(faults).get(API)
    assert response.status_code == 200
    assert int(response.headers["Content-Length"]) > len(response.data) > 0


def test_resets_raise_through_the_test_client_before_or_after_processing(inner: RecordingApp) -> None:
    faults = injector(inner)
    faults.schedule("reset_before", 1)
    faults.schedule("reset_after", 1)
    assert faults.scheduled() == ["reset_before", "reset_after"]
    client = Client(faults)
    with pytest.raises(InjectedResetError):
        client.post(API, json={})
    assert inner.calls == []
    with pytest.raises(InjectedResetError):
        client.post(API, json={})
    assert inner.calls == [f"POST {API}"]
    assert faults.scheduled() == []


@pytest.mark.parametrize(
    ("length", "drained"),
    [
        ("12", 12),
        (" 12", 12),
        ("12\n", 12),
        ("\uff11\uff12", 0),
        ("9" * 20, 0),
        ("9" * 4301, 0),
        ("twelve", 0),
        ("0" * 30 + "12", 12),
        ("0" * 5000 + "12", 12),
    ],
    ids=[
        "digits",
        "leading space",
        "trailing newline",
        "full-width digits",
        "20 digits",
        "4301 digits",
        "letters",
        "leading zeros",
        "more leading zeros than int() reads",
    ],
)
def test_a_reset_before_drains_a_body_only_as_long_as_the_server_reads_its_length(
    inner: RecordingApp, length: str, drained: int
) -> None:
    # Read as the sandbox reads Content-Length everywhere (ASCII digits, surrounding whitespace allowed): int() took
    # full-width digits as 12 and 20 digits as a body to read to its end.
    faults = injector(inner)
    faults.schedule("reset_before", 1)
    body = io.BytesIO(b"x" * 64)
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": API, "CONTENT_LENGTH": length, "wsgi.input": body}

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: object = None
    ) -> Callable[[bytes], object]:
        raise AssertionError(f"a reset answers nothing, got {status}")

    with pytest.raises(InjectedResetError):
        faults(environ, start_response)
    assert body.tell() == drained
    assert inner.calls == []


def test_the_fault_kind_is_left_in_the_environ_for_the_recorder(inner: RecordingApp) -> None:
    seen: dict[str, object] = {}

    def outer(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        body = middleware(environ, start_response)
        seen["fault"] = environ.get(ENVIRON_FAULT)
        return body

    middleware = injector(inner)
    middleware.schedule("malformed", 1)
    Client(outer).get(API)
    assert seen["fault"] == "malformed"


def test_settings_validate_and_update_at_run_time(inner: RecordingApp) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        FaultSettings(error_rate=1.5)
    with pytest.raises(ValueError, match="add up to"):
        FaultSettings(error_rate=0.6, reset_after_rate=0.6)
    with pytest.raises(ValueError, match="5xx"):
        FaultSettings(error_statuses=(404,))
    faults = injector(inner)
    client = Client(faults)
    assert client.get(API).status_code == 200
    faults.update(FaultSettings(error_rate=1.0))
    assert client.get(API).status_code >= 500
    with pytest.raises(ValueError, match="unknown_kind"):
        faults.schedule("unknown_kind", 1)
    with pytest.raises(ValueError, match="status applies"):
        faults.schedule("malformed", 1, status=503)


# --- through a real server ---------------------------------------------------------------------------------


def serve(app: WSGIApplication, handler: type[WSGIRequestHandler]) -> Iterator[str]:
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True, request_handler=handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def http() -> Iterator[requests.Session]:
    """A client that ignores proxy settings from the environment: loopback traffic only."""
    with requests.Session() as session:
        session.trust_env = False
        yield session


@pytest.fixture
def faults(inner: RecordingApp) -> FaultInjector:
    return FaultInjector(inner, FaultSettings(), seed=1, clock=Clock())


@pytest.fixture
def base_url(faults: FaultInjector) -> Iterator[str]:
    yield from serve(faults, FaultAwareRequestHandler)


def caused_by_reset(error: BaseException) -> bool:
    """Whether a ``ConnectionResetError`` (a TCP RST seen by the client) is anywhere in the exception's chain."""
    pending: list[object] = [error]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen or not isinstance(current, BaseException):
            continue
        seen.add(id(current))
        # http.client's RemoteDisconnected (a FIN without a response) subclasses ConnectionResetError too;
        # only ECONNRESET means the peer sent RST.
        if isinstance(current, ConnectionResetError) and current.errno == errno.ECONNRESET:
            return True
        pending.extend([current.__cause__, current.__context__, *current.args])
    return False


def test_reset_before_sends_rst_and_never_reaches_the_application(
    http: requests.Session, faults: FaultInjector, inner: RecordingApp, base_url: str
) -> None:
    faults.schedule("reset_before", 1)
    with pytest.raises(requests.ConnectionError) as raised:
        http.post(base_url + API, json={"name": "x"}, timeout=5)
    assert caused_by_reset(raised.value), repr(raised.value)
    assert inner.calls == []
    # The server carries on serving.
    assert http.get(base_url + API, timeout=5).status_code == 200


def test_reset_after_commits_the_write_then_sends_rst(
    http: requests.Session, faults: FaultInjector, inner: RecordingApp, base_url: str
) -> None:
    faults.schedule("reset_after", 1)
    with pytest.raises(requests.ConnectionError) as raised:
        http.post(base_url + API, json={"name": "x"}, timeout=5)
    assert caused_by_reset(raised.value), repr(raised.value)
    assert inner.calls == [f"POST {API}"]


def test_truncated_body_breaks_the_client_read(http: requests.Session, faults: FaultInjector, base_url: str) -> None:
    faults.schedule("truncate", 1)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        http.get(base_url + API, timeout=5)
    assert http.get(base_url + API, timeout=5).json()["value"][0]["name"] == "Contoso"


def test_malformed_body_reaches_the_client_intact_but_unparseable(
    http: requests.Session, faults: FaultInjector, base_url: str
) -> None:
    faults.schedule("malformed", 1)
    response = http.get(base_url + API, timeout=5)
    assert response.status_code == 200
    with pytest.raises(requests.exceptions.JSONDecodeError):
        response.json()


def test_werkzeug_exposes_the_socket_that_the_handler_resets(
    http: requests.Session, faults: FaultInjector, inner: RecordingApp
) -> None:
    for url in serve(faults, FaultAwareRequestHandler):
        http.get(url + API, timeout=5)
    environ = inner.environs[0]
    assert "werkzeug.socket" in environ
    assert callable(environ["dataverse_sandbox.reset_connection"])


def test_without_the_cooperating_handler_a_reset_still_ends_the_connection(
    http: requests.Session, faults: FaultInjector, inner: RecordingApp
) -> None:
    faults.schedule("reset_before", 1)
    for url in serve(faults, WSGIRequestHandler):
        with pytest.raises(requests.ConnectionError):
            http.get(url + API, timeout=5)
        assert http.get(url + API, timeout=5).status_code == 200
