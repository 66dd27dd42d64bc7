"""Workers for the shared-refresh proofs: separate Python processes, each with its own connections' token sources over
one shared token store (the reference host's file store or the Redis store), driven round by round by the test.

Run as ``python -m tests.support.refresh_worker JOB`` (``JOB`` is JSON: the connection settings, the store, the lease
and how many connections). The worker reads one JSON command per line on stdin and answers one JSON line on stdout:

* ``{"op": "bearer", "offset": S}``: move this worker's clock to ``time.time() + S`` and let every connection ask
  for a token at the same moment (a barrier); answer the tokens, grants attempted so far and errors.
* ``{"op": "hold"}``: take the store's refresh lock as a token source does before renewing (lease kept alive by its
  renewal thread) and answer; the test then kills the process while it holds the lock, or sends ``release``.
* ``{"op": "release"}``: release the locks it holds, as a renewal does once its tokens are saved.

It exits when stdin closes. :class:`RefreshWorker` is the test's side. Not for: anything the connector ships.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connector.auth.tokens import TokenSource, build_token_source
from connector.context import RuntimeContext, TokenStore
from connector.errors import ConnectorError
from connector.settings import parse_settings
from tests.support.paths import REPO_ROOT

__all__ = ["RefreshWorker", "StoreSpec", "open_store"]

REPLY_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class StoreSpec:
    """Where the shared store is: ``kind`` ``file`` (``location`` is the path) or ``redis`` (``location`` is the URL).

    :ivar key: the Fernet key every worker shares (base64 text).
    :ivar namespace: the Redis key prefix.
    """

    kind: str
    location: str
    key: str
    namespace: str = "refresh-proof"

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "location": self.location, "key": self.key, "namespace": self.namespace}


def open_store(spec: StoreSpec) -> TokenStore:
    """:returns: a new store object over the shared place (each worker opens its own, as separate hosts would)."""
    if spec.kind == "file":
        from connector.host.token_store import EncryptedTokenStore

        return EncryptedTokenStore(Path(spec.location), spec.key.encode())
    from connector.host.redis_token_store import RedisTokenStore

    return RedisTokenStore(spec.location, key=spec.key.encode(), namespace=spec.namespace)


class _Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def _sources(job: Mapping[str, Any], clock: _Clock) -> list[TokenSource]:
    sources = []
    for _ in range(int(job["connections"])):
        context = RuntimeContext(token_store=open_store(StoreSpec(**job["store"])), ca_bundle=job.get("ca_bundle"))
        settings = parse_settings(job["settings"], context)
        sources.append(build_token_source(settings, context, clock=clock, lease_seconds=float(job["lease_seconds"])))
    return sources


def _bearer_round(sources: list[TokenSource]) -> dict[str, Any]:
    barrier = threading.Barrier(len(sources))
    tokens: list[str | None] = [None] * len(sources)
    errors: list[str] = []

    def ask(index: int) -> None:
        barrier.wait()
        try:
            tokens[index] = sources[index].bearer()
        except ConnectorError as error:
            errors.append(f"{type(error).__name__}: {error.user_message}")

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(sources))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"tokens": tokens, "requests": sum(s.requests for s in sources), "errors": errors}


def main(argv: list[str]) -> int:
    job = json.loads(argv[1])
    clock = _Clock()
    sources = _sources(job, clock)
    held = []
    for line in sys.stdin:
        command = json.loads(line)
        if command["op"] == "bearer":
            clock.offset = float(command["offset"])
            reply = _bearer_round(sources)
        elif command["op"] == "hold":
            lease = sources[0].shared_lock.try_acquire()
            held.append(lease)
            reply = {"held": lease is not None, "pid": os.getpid()}
        elif command["op"] == "release":
            for lease in held:
                if lease is not None:
                    lease.release()
            reply = {"released": len(held)}
            held.clear()
        else:
            reply = {"error": f"unknown op {command['op']!r}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
    return 0


class RefreshWorker:
    """The test's handle on one worker process.

    :param job: the worker's job (see the module docstring).
    """

    def __init__(self, job: Mapping[str, Any]) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.refresh_worker", json.dumps(job)],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        self._buffer = b""

    def send(self, command: Mapping[str, Any]) -> None:
        """Send one command (answer with :meth:`reply`)."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command).encode() + b"\n")
        self.process.stdin.flush()

    def reply(self, timeout: float = REPLY_TIMEOUT_S) -> dict[str, Any]:
        """:returns: the worker's next answer.

        :raises AssertionError: when none comes within ``timeout`` seconds, or the worker exited.
        """
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"worker {self.process.pid} gave no answer within {timeout:.0f} s"
                if selector.select(remaining):
                    chunk = os.read(self.process.stdout.fileno(), 65536)
                    assert chunk, f"worker {self.process.pid} exited with {self.process.wait(5)}"
                    self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        answer: dict[str, Any] = json.loads(line)
        return answer

    def stop(self) -> None:
        """Close stdin (the worker exits) and wait; kill it if it does not."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
