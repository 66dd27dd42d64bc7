"""The ``redis_server`` fixture: Debian's ``redis-server`` on a free loopback port, without persistence, for the
Redis token store's tests.

The server runs under a shell that ends it when its standard input closes, so a test run that dies (even by SIGKILL)
does not leave it behind; teardown closes that input and waits. Its log is attached to the report of a failing test
that used it. ``scripts/test.sh`` installs ``redis-server``; its absence fails the test, it never skips it.

Not for: anything the connector ships.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

__all__ = ["RedisServer", "redis_server"]

READY_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0

# Runs redis-server in the background and ends it when stdin closes ("$@" are redis-server's arguments).
_SUPERVISOR = 'redis-server "$@" & child=$!; cat >/dev/null; kill "$child" 2>/dev/null; wait "$child"'


@dataclass(frozen=True)
class RedisServer:
    """A running Redis server.

    :ivar url: ``redis://127.0.0.1:PORT/0``.
    :ivar port: its port.
    :ivar log_path: its log file.
    """

    url: str
    port: int
    log_path: Path

    def client(self) -> redis.Redis:
        """:returns: a new client of this server (bytes responses)."""
        return redis.Redis.from_url(self.url)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until_ready(server: RedisServer, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    client = server.client()
    try:
        while True:
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log = server.log_path.read_text(errors="replace") if server.log_path.exists() else "(no log)"
                raise RuntimeError(f"redis-server did not start on port {server.port}:\n{log}")
            time.sleep(0.02)  # polling a starting server's port, with a deadline
    finally:
        client.close()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A Redis server on a free loopback port for the whole session, stopped at teardown.

    :returns: its URL, port and log.
    """
    if shutil.which("redis-server") is None:
        pytest.fail("`redis-server` is not on PATH: scripts/test.sh installs it (Debian package redis-server)")
    workdir = tmp_path_factory.mktemp("redis")
    log_path = workdir / "redis.log"
    for _attempt in range(3):  # another process may take the free port before redis-server binds it
        port = _free_port()
        arguments = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        arguments += ["--dir", str(workdir), "--logfile", str(log_path)]
        process = subprocess.Popen(["sh", "-c", _SUPERVISOR, "sh", *arguments], stdin=subprocess.PIPE)
        server = RedisServer(f"redis://127.0.0.1:{port}/0", port, log_path)
        try:
            _wait_until_ready(server, process)
        except RuntimeError:
            _stop(process)
            if _attempt == 2:
                raise
            continue
        try:
            yield server
        finally:
            _stop(process)
        return


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.stdin is not None:
        process.stdin.close()
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_TIMEOUT_S)
