"""HTTP/1.1 keep-alive of the sandbox's server (dataverse_sandbox.http_server), checked on the wire with http.client."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import BinaryIO
from urllib.parse import urlsplit

import pytest
import requests

from dataverse_sandbox.faults import FaultSettings
from dataverse_sandbox.server import Sandbox
from tests.support.sandbox import WebApiSession, bearer_token


@contextmanager
def connection(sb: Sandbox) -> Iterator[http.client.HTTPConnection]:
    parts = urlsplit(sb.origin)
    assert parts.hostname is not None
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        yield conn
    finally:
        conn.close()


def exchange(
    conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None, **headers: str
) -> http.client.HTTPResponse:
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    response.read()
    return response


def local_port(conn: http.client.HTTPConnection) -> int:
    assert conn.sock is not None
    port: int = conn.sock.getsockname()[1]
    return port


def test_one_connection_carries_many_requests(sandbox: Sandbox) -> None:
    token = bearer_token(sandbox)
    with connection(sandbox) as conn:
        first = exchange(conn, "GET", "/api/data/v9.2/WhoAmI", Authorization=f"Bearer {token}")
        port = local_port(conn)
        for _ in range(3):
            again = exchange(conn, "GET", "/api/data/v9.2/WhoAmI", Authorization=f"Bearer {token}")
            assert again.status == 200
            assert local_port(conn) == port  # http.client would have reconnected after a close
        assert first.status == 200
        assert first.getheader("Connection") is None


@pytest.mark.parametrize("size", [10, 200_000], ids=["buffered", "large"])
def test_a_body_the_application_never_read_is_drained_before_the_next_request(sandbox: Sandbox, size: int) -> None:
    token = bearer_token(sandbox)
    with connection(sandbox) as conn:
        # No token: the Web API answers 401 without reading the body.
        refused = exchange(
            conn,
            "POST",
            "/api/data/v9.2/accounts",
            b'{"name":"' + b"x" * size + b'"}',
            **{"Content-Type": "application/json"},
        )
        assert refused.status == 401
        port = local_port(conn)
        after = exchange(conn, "GET", "/api/data/v9.2/WhoAmI", Authorization=f"Bearer {token}")
        assert after.status == 200
        assert local_port(conn) == port


def read_response(reader: BinaryIO) -> int:
    """Read one response with a Content-Length body off a raw connection; :returns: its status."""
    status = int(reader.readline().split()[1])
    length = 0
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    reader.read(length)
    return status


def test_pipelined_requests_after_an_unread_body_are_answered_in_order(sandbox: Sandbox) -> None:
    token = bearer_token(sandbox)
    parts = urlsplit(sandbox.origin)
    assert parts.hostname is not None
    body = b'{"name":"unread"}'
    # One write: the unread body and the next request reach the server's buffer together.
    wire = (
        b"POST /api/data/v9.2/accounts HTTP/1.1\r\nHost: sandbox\r\nContent-Type: application/json\r\n"
        b"Content-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
        + b"GET /api/data/v9.2/WhoAmI HTTP/1.1\r\nHost: sandbox\r\nAuthorization: Bearer "
        + token.encode()
        + b"\r\n\r\n"
    )
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as raw:
        raw.sendall(wire)
        reader = raw.makefile("rb")
        statuses = [read_response(reader) for _ in range(2)]
    assert statuses == [401, 200]


def test_a_request_asking_to_close_gets_closed(sandbox: Sandbox) -> None:
    with connection(sandbox) as conn:
        response = exchange(conn, "GET", "/api/data/v9.2/WhoAmI", Connection="close")
        assert response.getheader("Connection") == "close"
        assert response.will_close


def test_keep_alive_can_be_switched_off(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(keep_alive=False)
    with connection(sb) as conn:
        response = exchange(conn, "GET", "/api/data/v9.2/WhoAmI")
        assert response.getheader("Connection") == "close"


def test_a_truncated_body_ends_the_connection_instead_of_leaving_the_client_waiting(api: WebApiSession) -> None:
    api.sandbox.faults.schedule("truncate", 1)
    started = time.perf_counter()
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        api.get("WhoAmI", timeout=5)
    assert time.perf_counter() - started < 2
    assert api.get("WhoAmI").status_code == 200


@pytest.mark.parametrize("kind", ["reset_before", "reset_after"])
def test_a_reset_on_a_kept_alive_connection_is_a_reset_and_the_next_request_reconnects(
    api: WebApiSession, kind: str
) -> None:
    assert api.get("WhoAmI").status_code == 200  # the session now holds an open connection
    api.sandbox.faults.schedule(kind, 1)
    with pytest.raises(requests.ConnectionError):
        api.get("WhoAmI")
    assert api.get("WhoAmI").status_code == 200


def test_stop_closes_idle_kept_alive_connections(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(faults=FaultSettings())
    session = WebApiSession(sb, bearer_token(sb))
    assert session.get("WhoAmI").status_code == 200
    stopper = threading.Thread(target=sb.stop)
    started = time.perf_counter()
    stopper.start()
    stopper.join(10)
    assert not stopper.is_alive()
    assert time.perf_counter() - started < 5
    with pytest.raises(requests.ConnectionError):
        session.get("WhoAmI")
    session.close()
