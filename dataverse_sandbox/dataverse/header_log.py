"""The request headers the Web API saw, kept so that tests can check what a client sent.

Dataverse accepts ``CallerObjectId``, ``MSCRMCallerID``, ``MSCRM.SolutionUniqueName``, the ``MSCRM.Bypass*``
headers and any other header, and none of them changes a successful answer's wire format (reference §2.4); the
sandbox serves them the same way and records every request's headers here, ``$batch`` parts included (each part
with its own headers, marked ``in_batch``). Credentials are never kept: ``Authorization``, ``Proxy-Authorization``
and ``Cookie`` are left out. Bounded: the oldest entries go first. Not for the request counters and timings:
:mod:`dataverse_sandbox.stats`.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["HeaderLog", "SeenRequest"]

_NEVER_KEPT = frozenset({"authorization", "proxy-authorization", "cookie"})


@dataclass(frozen=True)
class SeenRequest:
    """One request's method, path, query string and headers.

    :param method: the HTTP method.
    :param path: the path, without the query string.
    :param query: the query string as sent.
    :param headers: every header but the credentials, in the order received.
    :param in_batch: whether it was a part of a ``$batch`` request.
    """

    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    in_batch: bool

    def header(self, name: str) -> str | None:
        """:returns: the value of a header (name compared case-insensitively), or ``None``."""
        folded = name.lower()
        return next((value for key, value in self.headers if key.lower() == folded), None)


class HeaderLog:
    """A bounded, thread-safe log of :class:`SeenRequest` entries.

    :param capacity: how many entries are kept.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self._entries: deque[SeenRequest] = deque(maxlen=capacity)
        self._lock = threading.Lock()

    def record(self, method: str, path: str, query: str, headers: Iterable[tuple[str, str]], *, in_batch: bool) -> None:
        """Keep one request's headers (credentials left out)."""
        kept = tuple((name, value) for name, value in headers if name.lower() not in _NEVER_KEPT)
        with self._lock:
            self._entries.append(SeenRequest(method.upper(), path, query, kept, in_batch))

    def entries(self, *, path_prefix: str = "", method: str | None = None) -> list[SeenRequest]:
        """:returns: the kept entries whose path starts with ``path_prefix`` (and of that method), oldest first."""
        with self._lock:
            entries = list(self._entries)
        wanted = method.upper() if method else None
        return [e for e in entries if e.path.startswith(path_prefix) and (wanted is None or e.method == wanted)]

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()
