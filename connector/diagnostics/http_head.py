"""The one HTTP exchange the network checks speak on a raw socket: send a request head, read the answer's head.

Enough HTTP/1.1 to learn a status, a reason and a ``WWW-Authenticate`` challenge from a server or a proxy, with a
time-out and a cap on what is read; bodies are never read. Not for real requests: those go through ``transport``.
"""

from __future__ import annotations

import errno
import socket
import ssl
from dataclasses import dataclass
from typing import Final

from connector.diagnostics.endpoint import Endpoint
from connector.numerals import whole_number

__all__ = ["USER_AGENT", "HttpHead", "NotHttpError", "describe_os_error", "exchange_head", "head_request"]

USER_AGENT: Final = "dynamics365-ce-connector (Test Connection)"
_MAX_HEAD_BYTES: Final = 65_536


@dataclass(frozen=True)
class HttpHead:
    """What the network checks read of an answer.

    :param status: the status code.
    :param reason: the reason phrase.
    :param challenge: the ``WWW-Authenticate`` value, or empty.
    """

    status: int
    reason: str
    challenge: str = ""


class NotHttpError(Exception):
    """The peer answered something that is not an HTTP status line, or closed without answering."""

    def __init__(self, received: bytes) -> None:
        super().__init__("the answer is not HTTP" if received else "the connection was closed without an answer")
        # A TLS record (alert or handshake) starts with 0x15 or 0x16 and the major version 3.
        self.looks_like_tls = len(received) >= 2 and received[0] in (0x15, 0x16) and received[1] == 0x03


def head_request(endpoint: Endpoint, *, absolute: bool) -> str:
    """A ``HEAD`` request head for the endpoint's path, without the final blank line (headers may follow).

    :param endpoint: where to.
    :param absolute: use the absolute form a proxy needs (``HEAD http://host:port/path``).
    :returns: the request lines.
    """
    target = f"{endpoint.scheme}://{endpoint.authority}{endpoint.path}" if absolute else endpoint.path
    return f"HEAD {target} HTTP/1.1\r\nHost: {endpoint.authority}\r\nUser-Agent: {USER_AGENT}\r\nConnection: close\r\n"


def exchange_head(sock: socket.socket, request: str, timeout: float) -> HttpHead:
    """Send a request head and read the answer's head.

    :param sock: a connected (possibly TLS) socket.
    :param request: the complete request head, blank line included.
    :param timeout: seconds allowed for sending and for each read.
    :returns: the answer's status, reason and challenge.
    :raises TimeoutError: when nothing (or not enough) arrives in time.
    :raises NotHttpError: when the answer is not HTTP or the connection closes first.
    :raises OSError: when the connection fails.
    """
    sock.settimeout(timeout)
    sock.sendall(request.encode("latin-1"))
    received = b""
    while b"\r\n\r\n" not in received and len(received) < _MAX_HEAD_BYTES:
        chunk = sock.recv(4096)
        if not chunk:
            break
        received += chunk
        if not received.startswith(b"HTTP/"[: len(received)]):
            break
    return _parse_head(received)


def _parse_head(received: bytes) -> HttpHead:
    lines = received.split(b"\r\n\r\n", 1)[0].decode("latin-1", "replace").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = whole_number(parts[1]) if len(parts) >= 2 and parts[0].startswith("HTTP/") else None
    if status is None:
        raise NotHttpError(received)
    challenge = next(
        (line.split(":", 1)[1].strip() for line in lines[1:] if line.lower().startswith("www-authenticate:")), ""
    )
    return HttpHead(status, parts[2] if len(parts) > 2 else "", challenge)


def describe_os_error(error: BaseException) -> str:
    """:returns: a short reason for a socket or TLS error, without the addresses and paths its text may hold."""
    if isinstance(error, ssl.SSLError):
        return str(error.reason or error.strerror or type(error).__name__)
    if isinstance(error, OSError) and error.errno is not None:
        return error.strerror or errno.errorcode.get(error.errno, type(error).__name__)
    return str(error) or type(error).__name__
