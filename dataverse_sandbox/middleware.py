"""Plumbing shared by the sandbox's WSGI middlewares (limits, faults, statistics).

What it is for: the ``environ`` keys through which the middlewares tell each other what they did (a request
was throttled, a fault was injected, the server can reset the connection), a response-body wrapper that
reports when the server has finished with a response, and memoisation of the principal lookup so that a
bearer token is verified once per request however many middlewares ask.

What it is not for: any behaviour of the service itself; the middlewares live in ``limits``, ``faults`` and
``stats``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

__all__ = [
    "ENVIRON_BATCH",
    "ENVIRON_CLOSE_CONNECTION",
    "ENVIRON_FAULT",
    "ENVIRON_PRINCIPAL",
    "ENVIRON_RESET_CONNECTION",
    "ENVIRON_THROTTLED",
    "CompletionIterable",
    "PrincipalOf",
    "memoize_principal",
]

#: Set by :class:`~dataverse_sandbox.limits.ServiceProtection` to the Dataverse error code of a 429 it sent.
ENVIRON_THROTTLED = "dataverse_sandbox.throttled"
#: Set by :class:`~dataverse_sandbox.faults.FaultInjector` to the kind of fault it injected.
ENVIRON_FAULT = "dataverse_sandbox.fault"
#: A zero-argument callable the cooperating request handler puts in the environ: reset the connection (RST).
ENVIRON_RESET_CONNECTION = "dataverse_sandbox.reset_connection"
#: The memoised result of the principal lookup (a string, or ``None`` for "no principal").
ENVIRON_PRINCIPAL = "dataverse_sandbox.principal"
#: Set to ``True`` by a middleware whose response must end the connection (a body cut short of its length).
ENVIRON_CLOSE_CONNECTION = "dataverse_sandbox.close_connection"
#: ``True`` in the environ of a request :func:`~dataverse_sandbox.batch.handle_batch` built from a batch part.
ENVIRON_BATCH = "dataverse_sandbox.batch"

PrincipalOf = Callable[["WSGIEnvironment"], "str | None"]


def memoize_principal(principal_of: PrincipalOf) -> PrincipalOf:
    """Wrap a principal lookup so that it runs at most once per request.

    The lookup usually verifies the bearer token's signature, which is the most expensive step of a small
    request; the recorder, the limits and the Web API all need its answer.

    :param principal_of: returns the principal (the token's object id) of a request, or ``None``.
    :returns: the same lookup, caching its answer in the request's environ.
    """

    def cached(environ: WSGIEnvironment) -> str | None:
        if ENVIRON_PRINCIPAL in environ:
            value: str | None = environ[ENVIRON_PRINCIPAL]
            return value
        principal = principal_of(environ)
        environ[ENVIRON_PRINCIPAL] = principal
        return principal

    return cached


class CompletionIterable:
    """A WSGI response body that calls ``on_done`` exactly once, when the server has (all but) finished with it.

    "Finished" is the first of: the body is about to hand over its last chunk (it reads one chunk ahead, so that a
    client holding the complete response on a kept-alive connection already sees its effects: the request recorded,
    the concurrency slot freed), ``close()`` was called, or iterating raised. The server calls ``close()``;
    werkzeug's test client does not unless asked, so exhaustion counts too.

    :param body: the inner application's response body.
    :param on_done: called once, with no arguments.
    """

    def __init__(self, body: Iterable[bytes], on_done: Callable[[], None]) -> None:
        self._body = body
        self._iterator: Iterator[bytes] | None = None
        self._pending: bytes | None = None
        self._error: BaseException | None = None
        self._on_done = on_done
        self._done = False
        self._lock = threading.Lock()

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._iterator is None:
            self._iterator = iter(self._body)
            self._pending = self._pull()
        current = self._pending
        if current is None:
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            raise StopIteration
        self._pending = self._pull()
        return current

    def _pull(self) -> bytes | None:
        """:returns: the next chunk, or ``None`` at the end (completion reported; an error kept for later)."""
        assert self._iterator is not None
        try:
            return next(self._iterator)
        except StopIteration:
            self._finish()
            return None
        except BaseException as exc:
            self._finish()
            self._error = exc
            return None

    def close(self) -> None:
        """Close the inner body (if it can be closed) and report completion."""
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._finish()

    def _finish(self) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        self._on_done()
