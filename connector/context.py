"""What the host owns and lends to a connector: the runtime context.

The counterpart of Boomi's runtime properties: proxy settings, network time-outs, the trusted CA bundle, the OAuth
callback URL, a token store (the plugin saves every rotated refresh token through it), a checkpoint store, a progress
callback and a logger. A connector keeps no state between calls that a second worker would need; what must survive
goes through these stores.

This module defines types only; it performs no I/O and imports nothing heavy.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from connector.secrets import Secret

__all__ = [
    "CheckpointStore",
    "LockingTokenStore",
    "MemoryCheckpointStore",
    "MemoryTokenStore",
    "NetworkTimeouts",
    "Progress",
    "ProgressCallback",
    "ProxySettings",
    "RuntimeContext",
    "TokenStore",
]


@dataclass(frozen=True)
class ProxySettings:
    """The runtime's proxy, used only when a connection turns on "honor runtime proxy".

    :param host: proxy host name; ``None`` means the runtime has no proxy.
    :param port: proxy port (Boomi's default is 80).
    :param user: proxy user id, if the proxy needs authentication.
    :param password: proxy password (secret).
    :param non_proxy_hosts: hosts reached directly, ``|``-separated, ``*`` wildcards, case-insensitive
        (``*.mycompany.com|localhost``).
    """

    host: str | None = None
    port: int = 80
    user: str | None = None
    password: Secret | None = None
    non_proxy_hosts: str = ""


@dataclass(frozen=True)
class NetworkTimeouts:
    """The runtime's network time-outs in milliseconds; ``None`` means the runtime sets none.

    :param connect_ms: time allowed to establish a connection.
    :param read_ms: time allowed between bytes of a response.
    """

    connect_ms: int | None = None
    read_ms: int | None = None


@runtime_checkable
class TokenStore(Protocol):
    """Where the host keeps token sets, encrypted. Keys are opaque strings chosen by the connector."""

    def load(self, key: str) -> Mapping[str, Any] | None:
        """:returns: the stored token set as saved, or ``None``."""
        ...

    def save(self, key: str, token_set: Mapping[str, Any]) -> None:
        """Store a token set, replacing any earlier one. Called before the new tokens are used."""
        ...


@runtime_checkable
class LockingTokenStore(TokenStore, Protocol):
    """A token store that also lends a lock with a lease per key: what single-flight refresh across connections,
    processes and machines sharing the store needs.

    The connector takes the lock of a key before it renews that key's tokens, loads the store again under it (another
    worker may have rotated the tokens meanwhile), requests and saves new tokens only if it must, and then releases
    the lock. While it holds the lock it renews the lease every third of its length, so a slow token request keeps
    it; a holder that dies or stops renewing loses it when the lease ends. The methods never wait: the connector
    polls. A store without these methods still works, with single flight only inside each connection (see
    ``docs/hooks.md`` for the risk).
    """

    def acquire_lock(self, key: str, lease_seconds: float) -> str | None:
        """Take the lock of ``key`` if nobody holds an unexpired lease on it; never wait.

        :param key: the token store key the lock protects.
        :param lease_seconds: how long the lock stays taken unless renewed or released.
        :returns: a holder token (an opaque, unguessable string) for :meth:`renew_lock` and :meth:`release_lock`, or
            ``None`` when another holder's lease has not ended.
        """
        ...

    def renew_lock(self, key: str, holder: str, lease_seconds: float) -> bool:
        """Extend the lease of a lock ``holder`` still holds to ``lease_seconds`` from now.

        :returns: ``False`` when ``holder`` no longer holds the lock (its lease ended and another took it).
        """
        ...

    def release_lock(self, key: str, holder: str) -> bool:
        """Release the lock if ``holder`` still holds it; otherwise change nothing.

        :returns: ``False`` when ``holder`` no longer held the lock.
        """
        ...


@runtime_checkable
class CheckpointStore(Protocol):
    """Where the host keeps incremental-read checkpoints (e.g. change-tracking delta links)."""

    def load(self, key: str) -> str | None:
        """:returns: the last committed checkpoint, or ``None``."""
        ...

    def save(self, key: str, checkpoint: str) -> None:
        """Commit a checkpoint; called only after every record before it was handed over."""
        ...


@dataclass(frozen=True)
class Progress:
    """A progress report of a long operation.

    :param operation: the operation name.
    :param done: documents finished so far (succeeded + failed).
    :param failed: documents that failed so far.
    :param rate: documents per second since the operation started.
    :param total: the number of input documents when known.
    """

    operation: str
    done: int
    failed: int
    rate: float
    total: int | None = None


class ProgressCallback(Protocol):
    """Called by long operations, at most a few times a second."""

    def __call__(self, progress: Progress) -> None:
        """Receive one progress report."""
        ...


class MemoryTokenStore:
    """A token store that lives as long as the process; for tests and short scripts. It implements
    :class:`LockingTokenStore`, so connections sharing one refresh their tokens one at a time.

    :param clock: seconds, for lease ends (monotonic by default).
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._items: dict[str, dict[str, Any]] = {}
        self._leases: dict[str, tuple[str, float]] = {}  # key -> (holder, lease end)
        self._clock = clock
        self._mutex = threading.Lock()

    def load(self, key: str) -> Mapping[str, Any] | None:
        """:returns: the token set saved under ``key``, or ``None``."""
        with self._mutex:
            item = self._items.get(key)
            return dict(item) if item is not None else None

    def save(self, key: str, token_set: Mapping[str, Any]) -> None:
        """Save ``token_set`` under ``key``, replacing what was there."""
        with self._mutex:
            self._items[key] = dict(token_set)

    def acquire_lock(self, key: str, lease_seconds: float) -> str | None:
        """:returns: a holder token when the lock on ``key`` was free (or its lease had ended), else ``None``."""
        with self._mutex:
            now = self._clock()
            lease = self._leases.get(key)
            if lease is not None and now < lease[1]:
                return None
            holder = os.urandom(16).hex()  # what secrets.token_hex does, without importing hmac and hashlib
            self._leases[key] = (holder, now + lease_seconds)
            return holder

    def renew_lock(self, key: str, holder: str, lease_seconds: float) -> bool:
        """:returns: whether ``holder`` still held the lock, whose lease now ends ``lease_seconds`` from now."""
        with self._mutex:
            lease = self._leases.get(key)
            if lease is None or lease[0] != holder:
                return False
            self._leases[key] = (holder, self._clock() + lease_seconds)
            return True

    def release_lock(self, key: str, holder: str) -> bool:
        """:returns: whether ``holder`` held the lock, which is now free."""
        with self._mutex:
            lease = self._leases.get(key)
            if lease is None or lease[0] != holder:
                return False
            del self._leases[key]
            return True

    def __repr__(self) -> str:
        return f"MemoryTokenStore(keys={sorted(self._items)!r})"


class MemoryCheckpointStore:
    """A checkpoint store that lives as long as the process; for tests and short scripts."""

    def __init__(self) -> None:
        self._items: dict[str, str] = {}

    def load(self, key: str) -> str | None:
        """:returns: the checkpoint saved under ``key``, or ``None``."""
        return self._items.get(key)

    def save(self, key: str, checkpoint: str) -> None:
        """Save ``checkpoint`` under ``key``, replacing what was there."""
        self._items[key] = checkpoint


def _null_logger() -> logging.Logger:
    return logging.getLogger("connector.runtime")


@dataclass(frozen=True)
class RuntimeContext:
    """Everything the host owns and lends to a connection.

    :param proxy: the runtime's proxy settings.
    :param network_timeouts: the runtime's network time-outs.
    :param ca_bundle: path of a PEM file of trusted CAs; ``None`` uses the platform's default trust store.
        Environment variables such as ``REQUESTS_CA_BUNDLE`` never replace it.
    :param callback_url: the OAuth redirect URL registered for this host.
    :param token_store: where token sets are saved (every rotated refresh token goes through it); a
        :class:`LockingTokenStore` makes refresh single-flight across every connection, process and machine sharing it.
    :param checkpoint_store: where incremental-read checkpoints are committed.
    :param progress: called with progress of long operations.
    :param logger: the host's logger; secrets are never passed to it.
    """

    proxy: ProxySettings = field(default_factory=ProxySettings)
    network_timeouts: NetworkTimeouts = field(default_factory=NetworkTimeouts)
    ca_bundle: str | None = None
    callback_url: str | None = None
    token_store: TokenStore = field(default_factory=MemoryTokenStore)
    checkpoint_store: CheckpointStore = field(default_factory=MemoryCheckpointStore)
    progress: ProgressCallback | None = None
    logger: logging.Logger = field(default_factory=_null_logger)
