"""Reading an answer's head in the network checks: a status line that is not HTTP is said so, never a crash."""

from __future__ import annotations

import socket

import pytest

from connector.diagnostics.http_head import NotHttpError, exchange_head


@pytest.mark.parametrize(
    "answer",
    [b"HTTP/1.1 \xb2 OK\r\n\r\n", b"HTTP/1.1 OK\r\n\r\n", b"SSH-2.0-OpenSSH\r\n\r\n"],
    ids=["a status int() refuses", "no status", "not http"],
)
def test_an_answer_without_a_readable_status_is_not_http(answer: bytes) -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(answer)
        theirs.shutdown(socket.SHUT_WR)
        with pytest.raises(NotHttpError):
            exchange_head(ours, "HEAD / HTTP/1.1\r\n\r\n", timeout=5)


def test_a_readable_status_and_challenge_are_read() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(b'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm="x"\r\n\r\n')
        head = exchange_head(ours, "HEAD / HTTP/1.1\r\n\r\n", timeout=5)
    assert (head.status, head.reason, head.challenge) == (401, "Unauthorized", 'Bearer realm="x"')
