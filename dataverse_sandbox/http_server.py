"""The sandbox's HTTP server: werkzeug's threaded server with HTTP/1.1 keep-alive and connections closed at stop.

What it is for: werkzeug's development server ends every response with ``Connection: close`` because Python's
``http.server`` cannot find the next request line when a request body was not read to its end. The handler here
makes that safe: each request's body is read through a reader that stops at its ``Content-Length``, whatever the
application left unread is drained after the response, and only then is werkzeug's ``Connection: close`` dropped,
so a client (a ``requests.Session``) reuses one TCP and TLS connection for many requests, as it would with
Dataverse. The connection still closes when the request asks for it (``Connection: close``, HTTP/1.0), when the
request body is chunked, when more than :data:`MAX_DRAIN` bytes of body were left unread, when a connection is reset
by the fault injector, or when a middleware marks the response (``environ[ENVIRON_CLOSE_CONNECTION]``, e.g. a
truncated body). Idle connections close after :attr:`KeepAliveRequestHandler.timeout` seconds and at
:meth:`SandboxHTTPServer.server_close`, so stopping never waits for an idle client.

What it is not for: what a request does (the WSGI application) or when to inject faults (``faults``).
"""

from __future__ import annotations

import io
import logging
import socket
import threading
from typing import TYPE_CHECKING, Any

from werkzeug.serving import ThreadedWSGIServer

from dataverse_sandbox.connection_reset import FaultAwareRequestHandler
from dataverse_sandbox.middleware import ENVIRON_CLOSE_CONNECTION
from dataverse_sandbox.numbers import ascii_whole_number

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = ["MAX_DRAIN", "KeepAliveRequestHandler", "RequestBody", "SandboxHTTPServer"]

logger = logging.getLogger(__name__)

#: Unread request-body bytes the server still reads away to keep a connection; past this it closes instead.
MAX_DRAIN = 1 << 20


class RequestBody(io.RawIOBase):
    """The body of one request: the connection's reader, cut off at the request's ``Content-Length``.

    :param source: the connection's buffered reader.
    :param length: the ``Content-Length`` (0 when absent).
    """

    def __init__(self, source: io.BufferedIOBase, length: int) -> None:
        super().__init__()
        self._source = source
        self.remaining = length

    def readable(self) -> bool:
        """:returns: ``True``: the body can be read."""
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        """Read into ``buffer``; :returns: the number of bytes read."""
        view = memoryview(buffer).cast("B")
        if self.remaining <= 0 or not len(view):
            return 0
        data = self._source.read(min(len(view), self.remaining))
        self.remaining -= len(data)
        view[: len(data)] = data
        return len(data)

    def read(self, size: int | None = -1) -> bytes:
        """:returns: at most ``size`` bytes of the body (all that is left for ``-1``)."""
        wanted = self.remaining if size is None or size < 0 else min(size, self.remaining)
        if wanted <= 0:
            return b""
        data = self._source.read(wanted)
        self.remaining -= len(data)
        return data

    def readline(self, size: int | None = -1) -> bytes:
        """:returns: one line of the body, at most ``size`` bytes."""
        wanted = self.remaining if size is None or size < 0 else min(size, self.remaining)
        if wanted <= 0:
            return b""
        data = self._source.readline(wanted)
        self.remaining -= len(data)
        return data

    def drain(self, limit: int) -> bool:
        """Read away what the application left unread.

        :param limit: the most bytes worth reading.
        :returns: whether the body is now fully read (the connection can carry another request).
        """
        if self.remaining > limit:
            return False
        while self.remaining > 0:
            if not self.read(min(self.remaining, 65536)):
                return False
        return True


class KeepAliveRequestHandler(FaultAwareRequestHandler):
    """werkzeug's request handler (with the fault injector's connection reset) that keeps connections open.

    :attr:`timeout` is the socket timeout: an idle keep-alive connection, or a client that stalls while sending or
    receiving, is closed after that many seconds.
    """

    timeout = 60
    # werkzeug writes the headers and the body separately: with Nagle's algorithm and the client's delayed ACK, a
    # kept-alive connection would wait ~40 ms before each body.
    disable_nagle_algorithm = True
    _body: RequestBody | None = None
    _socket_reader: Any = None

    def setup(self) -> None:
        """Set up the connection (see the class docstring)."""
        super().setup()
        tracked = getattr(self.server, "track", None)
        if tracked is not None:
            tracked(self.connection, True)

    def finish(self) -> None:
        """Finish the connection (see the class docstring)."""
        try:
            super().finish()
        finally:
            tracked = getattr(self.server, "track", None)
            if tracked is not None:
                tracked(self.connection, False)

    def run_wsgi(self) -> None:
        """Handle one request (see the class docstring)."""
        socket_reader = self._socket_reader = self.rfile
        body = self._request_body(socket_reader)
        self._body = body
        if body is not None:
            self.rfile = body  # type: ignore[assignment] # werkzeug reads the body through self.rfile
        try:
            super().run_wsgi()
        finally:
            self.rfile = socket_reader
            self._body = None
        if body is not None and not self.close_connection and not body.drain(MAX_DRAIN):
            self.close_connection = True

    def _reset_connection(self) -> None:
        super()._reset_connection()
        # The reset closed the body reader it found on the handler; the connection's own reader must close too.
        if self._socket_reader is not None:
            self._socket_reader.close()

    def _request_body(self, reader: Any) -> RequestBody | None:
        """:returns: the body reader when the connection may carry another request after this one."""
        if self.close_connection or self.request_version != "HTTP/1.1":
            return None
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return None
        length = ascii_whole_number(self.headers.get("Content-Length", "0").strip() or "0")
        if length is None:
            return None
        return RequestBody(reader, length)

    def send_header(self, keyword: str, value: str) -> None:
        """Drop werkzeug's ``Connection: close`` while the connection can carry another request."""
        if keyword.lower() == "connection" and value.lower() == "close" and self._keeps_alive():
            return
        super().send_header(keyword, value)

    def _keeps_alive(self) -> bool:
        environ = getattr(self, "environ", None) or {}
        return (
            self._body is not None
            and not self.close_connection
            and not environ.get(ENVIRON_CLOSE_CONNECTION)
            and getattr(self.server, "keep_alive", False)
        )


class SandboxHTTPServer(ThreadedWSGIServer):
    """werkzeug's threaded server that knows its open connections, to close them when it stops.

    :param keep_alive: whether responses may leave the connection open (HTTP/1.1 keep-alive).
    """

    def __init__(self, *args: Any, keep_alive: bool = True, **kwargs: Any) -> None:
        self.keep_alive = keep_alive
        self.opened = 0
        """Connections accepted since the server started."""
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def track(self, connection: socket.socket, is_open: bool) -> None:
        """Note a connection opening or closing (called by the request handler)."""
        with self._connections_lock:
            if is_open:
                self.opened += 1
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def server_close(self) -> None:
        """Close the listening socket and every open connection, then join the handler threads."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                # A handler blocked waiting for the next request line sees the end of the stream and finishes.
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                logger.debug("connection already gone at stop", exc_info=True)
        super().server_close()
