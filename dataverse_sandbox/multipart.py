"""The ``$batch`` wire format: ``multipart/mixed`` bodies whose parts are HTTP messages (OData 4.0 §11.7).

What it is for: splitting a batch request body into MIME parts, reading the HTTP request each
``application/http`` part carries, and writing HTTP responses back as parts of a ``multipart/mixed`` response,
in the shape Dataverse's documentation shows (reference §3.10). Lenient where clients differ: CRLF or bare LF
line ends, ``Name:value`` without a space, quoted or bare boundaries.

What it is not for: batch semantics (change sets, ``Content-ID`` references, error handling): see ``batch``.
"""

from __future__ import annotations

import http
from collections.abc import Sequence
from dataclasses import dataclass, field

from werkzeug.datastructures import Headers
from werkzeug.http import parse_options_header
from werkzeug.wrappers import Response

__all__ = [
    "BatchFormatError",
    "HttpRequestMessage",
    "MimePart",
    "ResponsePart",
    "boundary_of",
    "parse_http_request",
    "render_multipart",
    "split_multipart",
]

CRLF = b"\r\n"

#: Response headers that describe the outer connection, not the part: never copied into a part.
_HOP_HEADERS = frozenset({"content-length", "connection", "transfer-encoding", "date", "server", "keep-alive"})


class BatchFormatError(ValueError):
    """The batch body does not follow the wire format; the whole batch is refused with ``400``.

    :param message: what is wrong, shown to the client.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class MimePart:
    """One part of a ``multipart/mixed`` body.

    :param headers: the part's MIME headers.
    :param body: everything after the blank line that ends the headers.
    """

    headers: Headers
    body: bytes


@dataclass(frozen=True)
class HttpRequestMessage:
    """The HTTP request carried by an ``application/http`` part.

    :param method: the method, upper-case.
    :param target: the request target as written: a path, an absolute URL, a relative path or ``$n…``.
    :param headers: the request's headers.
    :param body: the request body, without the line break that precedes the next delimiter.
    """

    method: str
    target: str
    headers: Headers
    body: bytes


@dataclass(frozen=True)
class ResponsePart:
    """An HTTP response to write as an ``application/http`` part, or a nested change-set response.

    :param response: the response (``None`` for a change-set response).
    :param content_id: echoed as the part's ``Content-ID`` header.
    :param changeset_boundary: for a change-set response, the nested boundary.
    :param parts: for a change-set response, its parts.
    """

    response: Response | None = None
    content_id: str | None = None
    changeset_boundary: str | None = None
    parts: Sequence[ResponsePart] = field(default_factory=tuple)


def boundary_of(content_type: str | None) -> tuple[str, str | None]:
    """Split a ``Content-Type`` value into its media type and boundary.

    :param content_type: the header value (may be ``None``).
    :returns: the lower-case media type and the boundary parameter, or ``None`` when absent.
    """
    mimetype, options = parse_options_header(content_type or "")
    return mimetype.lower(), options.get("boundary") or None


def _strip_line_end(line: bytes) -> bytes:
    if line.endswith(CRLF):
        return line[:-2]
    if line.endswith(b"\n"):
        return line[:-1]
    return line


def parse_headers(lines: Sequence[bytes]) -> Headers:
    """Parse header lines (``Name: value``; continuation lines start with white space).

    :param lines: the header lines, without line ends.
    :returns: the headers.
    :raises BatchFormatError: for a line that is not a header.
    """
    pairs: list[list[str]] = []
    for raw in lines:
        text = raw.decode("utf-8", errors="replace")
        if text[:1] in (" ", "\t") and pairs:
            pairs[-1][1] += " " + text.strip()
            continue
        name, colon, value = text.partition(":")
        if not colon or not name.strip():
            raise BatchFormatError(f"Invalid header line in the batch: {text.strip()!r}.")
        pairs.append([name.strip(), value.strip()])
    return Headers([(name, value) for name, value in pairs])


def _split_head(data: bytes) -> tuple[list[bytes], bytes]:
    """Split a message into its head lines (up to the first empty line) and the rest."""
    lines = data.splitlines(keepends=True)
    head: list[bytes] = []
    for index, line in enumerate(lines):
        stripped = _strip_line_end(line)
        if not stripped:
            return head, b"".join(lines[index + 1 :])
        head.append(stripped)
    return head, b""


def split_multipart(body: bytes, boundary: str) -> list[MimePart]:
    """Split a ``multipart/mixed`` body into its parts (preamble and epilogue are ignored).

    :param body: the whole body.
    :param boundary: the boundary parameter of its ``Content-Type``.
    :returns: the parts in order.
    :raises BatchFormatError: when the close delimiter is missing or a part's headers are malformed.
    """
    delimiter = b"--" + boundary.encode("utf-8")
    close = delimiter + b"--"
    parts: list[MimePart] = []
    current: list[bytes] | None = None
    closed = False
    for line in body.splitlines(keepends=True):
        marker = _strip_line_end(line).rstrip(b" \t")  # transport padding may follow a delimiter
        if marker in (delimiter, close):
            if current is not None:
                parts.append(_make_part(current))
            current = [] if marker == delimiter else None
            if marker == close:
                closed = True
                break
            continue
        if current is not None:
            current.append(line)
    if not closed:
        raise BatchFormatError(f"The multipart body has no closing delimiter '--{boundary}--'.")
    return parts


def _make_part(lines: list[bytes]) -> MimePart:
    if lines:
        # The line break before a delimiter belongs to the delimiter, not to the part.
        lines = [*lines[:-1], _strip_line_end(lines[-1])]
    head, body = _split_head(b"".join(lines))
    return MimePart(parse_headers(head), body)


def parse_http_request(data: bytes) -> HttpRequestMessage:
    """Read the HTTP request inside an ``application/http`` part.

    :param data: the part's body.
    :returns: the request; its body loses trailing line breaks (they separate it from the next delimiter).
    :raises BatchFormatError: when there is no request line.
    """
    lines = data.splitlines(keepends=True)
    while lines and not _strip_line_end(lines[0]).strip():
        lines.pop(0)  # tolerate blank lines before the request line
    if not lines:
        raise BatchFormatError("A batch part has no request line.")
    request_line = _strip_line_end(lines[0]).decode("utf-8", errors="replace").strip()
    words = request_line.split(" ")
    if len(words) >= 3 and words[-1].upper().startswith("HTTP/"):
        method, target = words[0], " ".join(words[1:-1])
    elif len(words) >= 2:
        method, target = words[0], " ".join(words[1:])
    else:
        raise BatchFormatError(f"Invalid request line in the batch: {request_line!r}.")
    head, body = _split_head(b"".join(lines[1:]))
    return HttpRequestMessage(method.upper(), target.strip(), parse_headers(head), body.rstrip(b"\r\n"))


def _http_response_bytes(response: Response) -> bytes:
    status = response.status_code
    try:
        reason = http.HTTPStatus(status).phrase
    except ValueError:
        reason = response.status.partition(" ")[2]
    lines = [f"HTTP/1.1 {status} {reason}".encode()]
    for name, value in response.headers.items():
        if name.lower() not in _HOP_HEADERS:
            lines.append(f"{name}: {value}".encode())
    return CRLF.join(lines) + CRLF + CRLF + response.get_data()


def render_multipart(boundary: str, parts: Sequence[ResponsePart]) -> bytes:
    """Write response parts as a ``multipart/mixed`` body, nesting change-set responses.

    :param boundary: the boundary of this level (``batchresponse_…`` or ``changesetresponse_…``).
    :param parts: the parts, in order.
    :returns: the body, CRLF line ends, ending with the close delimiter.
    """
    out: list[bytes] = []
    for part in parts:
        out.append(b"--" + boundary.encode() + CRLF)
        if part.changeset_boundary is not None:
            out.append(f"Content-Type: multipart/mixed; boundary={part.changeset_boundary}".encode() + CRLF + CRLF)
            out.append(render_multipart(part.changeset_boundary, part.parts))
            continue
        assert part.response is not None, "an application/http part needs a response"
        out.append(b"Content-Type: application/http" + CRLF + b"Content-Transfer-Encoding: binary" + CRLF)
        if part.content_id is not None:
            out.append(f"Content-ID: {part.content_id}".encode() + CRLF)
        out.append(CRLF + _http_response_bytes(part.response) + CRLF)
    out.append(b"--" + boundary.encode() + b"--" + CRLF)
    return b"".join(out)
