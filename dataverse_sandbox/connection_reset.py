"""Resetting a client's TCP connection from inside a WSGI application, for the fault injector.

What it is for: a werkzeug request handler that lets the application abort its connection with a TCP RST
(what a crashed proxy or a dropped load balancer looks like to a client), and the function the fault
injector calls to do so. A reset cannot be expressed in WSGI, so the server has to cooperate: it must be
built with ``make_server(..., request_handler=FaultAwareRequestHandler)``.

What it is not for: deciding when to reset (``faults``).
"""

from __future__ import annotations

import logging
import socket
import struct
from typing import TYPE_CHECKING, NoReturn

from werkzeug.serving import WSGIRequestHandler

from dataverse_sandbox.middleware import ENVIRON_RESET_CONNECTION

if TYPE_CHECKING:
    from collections.abc import Callable

    from _typeshed.wsgi import WSGIEnvironment

__all__ = ["FaultAwareRequestHandler", "InjectedResetError", "reset_connection"]

logger = logging.getLogger(__name__)

_LINGER_ZERO = struct.pack("ii", 1, 0)


class InjectedResetError(ConnectionError):
    """Raised through the WSGI stack after an injected connection reset, so that nothing tries to respond.

    werkzeug's server treats a :class:`ConnectionError` from the application as a dropped connection and stays
    quiet; werkzeug's test client lets it reach the test, which is how a unit test observes a reset.
    """


class FaultAwareRequestHandler(WSGIRequestHandler):
    """werkzeug request handler that can reset its connection with a TCP RST when the application asks.

    It puts a callable under ``environ["dataverse_sandbox.reset_connection"]``; calling it sets
    ``SO_LINGER`` to zero and closes the socket, which makes the kernel send RST instead of FIN, and marks
    the connection finished so that the handler neither reads nor writes it again.
    """

    def make_environ(self) -> WSGIEnvironment:
        """:returns: werkzeug's environ plus the reset callable."""
        environ = super().make_environ()
        environ[ENVIRON_RESET_CONNECTION] = self._reset_connection
        return environ

    def _reset_connection(self) -> None:
        self.close_connection = True
        connection: socket.socket = self.connection
        try:
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
        except OSError:
            logger.debug("could not set SO_LINGER on the connection being reset", exc_info=True)
        # The descriptor stays open while the buffered reader made from the socket is open: close both.
        connection.close()
        self.rfile.close()


_warned_without_handler = False


def reset_connection(environ: WSGIEnvironment) -> NoReturn:
    """Reset the connection a request arrived on, then abort the WSGI call.

    With :class:`FaultAwareRequestHandler` the client sees a TCP RST. Under another werkzeug handler the best
    available is an abrupt shutdown (the client sees the connection end without a response); under werkzeug's
    test client there is no connection and only the exception remains.

    :param environ: the request's environ.
    :raises InjectedResetError: always.
    """
    global _warned_without_handler
    hook: Callable[[], None] | None = environ.get(ENVIRON_RESET_CONNECTION)
    if hook is not None:
        hook()
    else:
        connection: socket.socket | None = environ.get("werkzeug.socket")
        if connection is not None:
            if not _warned_without_handler:
                _warned_without_handler = True
                logger.warning("connection resets need FaultAwareRequestHandler; shutting down instead")
            try:
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                logger.debug("could not shut the connection down", exc_info=True)
    raise InjectedResetError("connection reset by the sandbox's fault injector")
