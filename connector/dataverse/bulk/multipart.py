"""The ``$batch`` wire format on the connector's side: writing a batch request, reading the batch response.

A request is a ``multipart/mixed`` body of ``application/http`` parts, one per record, each with a ``Content-ID``
(its position in the request, from 1), optionally wrapped in one change set (all or nothing). The response's parts
are read back, change-set responses included, as :class:`requests.Response` objects, so that an answer inside a
batch is turned into a result by exactly the code that reads an answer of its own. CRLF line ends are written;
CRLF or bare LF are read. Not for deciding what to put in a batch: :mod:`connector.dataverse.bulk.runner`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import requests
from requests.structures import CaseInsensitiveDict

from connector.numerals import whole_number
from connector.retry import delivery_of, note_delivery

__all__ = ["BatchFormatError", "BatchPart", "PartAnswer", "build_batch", "read_batch"]

_CRLF = b"\r\n"


class BatchFormatError(ValueError):
    """A batch response that cannot be read (no boundary, no closing delimiter, a part that is no HTTP message)."""


@dataclass(slots=True)
class BatchPart:
    """One request inside a batch; never changed once built (not frozen, as
    :class:`~connector.dataverse.bulk.plan.BulkItem`: a bulk run builds one per record).

    :param method: the HTTP method.
    :param url: the absolute URL.
    :param headers: its headers (``Content-Type`` of a body included).
    :param body: its body, if any.
    """

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None = None


@dataclass(frozen=True)
class PartAnswer:
    """One answer read from a batch response.

    :param content_id: the ``Content-ID`` it echoes, if any.
    :param response: the answer as a response object.
    """

    content_id: str | None
    response: requests.Response


def build_batch(parts: Sequence[BatchPart], *, change_set: bool) -> tuple[bytes, str]:
    """Write a batch request body.

    :param parts: the requests, in order; part ``n`` (from 1) gets ``Content-ID: n``.
    :param change_set: wrap every part in one change set, so that they are written all or nothing.
    :returns: the body and its ``Content-Type``.
    """
    batch = f"batch_{uuid.uuid4()}"
    if not change_set:
        return _multipart(batch, [_http_part(part, str(number)) for number, part in enumerate(parts, 1)]), (
            f"multipart/mixed; boundary={batch}"
        )
    changeset = f"changeset_{uuid.uuid4()}"
    inner = _multipart(changeset, [_http_part(part, str(number)) for number, part in enumerate(parts, 1)])
    outer = f"Content-Type: multipart/mixed; boundary={changeset}".encode() + _CRLF + _CRLF + inner
    return _multipart(batch, [outer]), f"multipart/mixed; boundary={batch}"


def _http_part(part: BatchPart, content_id: str) -> bytes:
    head = [
        b"Content-Type: application/http",
        b"Content-Transfer-Encoding: binary",
        f"Content-ID: {content_id}".encode(),
        b"",
        f"{part.method} {part.url} HTTP/1.1".encode(),
    ]
    head.extend(f"{name}: {value}".encode() for name, value in part.headers.items())
    return _CRLF.join(head) + _CRLF + _CRLF + (part.body or b"")


def _multipart(boundary: str, bodies: Sequence[bytes]) -> bytes:
    delimiter = b"--" + boundary.encode()
    chunks: list[bytes] = []
    for body in bodies:
        chunks.extend((delimiter, _CRLF, body, _CRLF))
    chunks.extend((delimiter, b"--", _CRLF))
    return b"".join(chunks)


def read_batch(response: requests.Response) -> list[PartAnswer]:
    """Read a batch response into its answers, change-set answers flattened in order.

    :param response: the answer to the ``$batch`` request (``multipart/mixed``).
    :returns: the answers in order; each carries the batch's :class:`~connector.retry.Delivery`, so that a part's
        refusal after the batch was sent again is read as an answer to a repeat.
    :raises BatchFormatError: when the body is not a readable batch response.
    """
    boundary = _boundary(response.headers.get("Content-Type"))
    if boundary is None:
        raise BatchFormatError("the batch response is not multipart/mixed with a boundary")
    answers = _read_parts(response.content, boundary, response.url, 0)
    delivery = delivery_of(response)
    for answer in answers:
        note_delivery(answer.response, delivery)
    return answers


def _boundary(content_type: str | None) -> str | None:
    if not content_type or not content_type.lower().startswith("multipart/mixed"):
        return None
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.strip().partition("=")
        if name.strip().lower() == "boundary" and value.strip():
            return value.strip().strip('"')
    return None


def _read_parts(body: bytes, boundary: str, url: str, depth: int) -> list[PartAnswer]:
    if depth > 1:  # a batch holds change sets, which hold requests: nothing nests deeper
        raise BatchFormatError("the batch response nests multipart bodies deeper than change sets")
    delimiter = b"--" + boundary.encode()
    pieces = body.split(delimiter)
    if len(pieces) < 2 or not pieces[-1].startswith(b"--"):
        raise BatchFormatError("the batch response has no closing delimiter")
    answers: list[PartAnswer] = []
    for piece in pieces[1:-1]:
        # A delimiter ends its line; the line break before the next delimiter belongs to that delimiter.
        piece = _strip_break(piece, leading=True)
        piece = _strip_break(piece, leading=False)
        headers, content = _split_head(piece)
        nested = _boundary(headers.get("Content-Type"))
        if nested is not None:
            answers.extend(_read_parts(content, nested, url, depth + 1))
            continue
        answers.append(PartAnswer(headers.get("Content-ID"), _http_response(content, url)))
    return answers


def _strip_break(data: bytes, *, leading: bool) -> bytes:
    for ending in (_CRLF, b"\n"):
        if leading and data.startswith(ending):
            return data[len(ending) :]
        if not leading and data.endswith(ending):
            return data[: -len(ending)]
    return data


def _split_head(data: bytes) -> tuple[CaseInsensitiveDict[str], bytes]:
    headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
    rest = data
    while rest:
        line, newline, remainder = rest.partition(b"\n")
        text = line.rstrip(b"\r").decode("utf-8", errors="replace")
        rest = remainder if newline else b""
        if not text.strip():
            return headers, rest
        name, colon, value = text.partition(":")
        if colon:
            headers[name.strip()] = value.strip()
    return headers, b""


def _http_response(data: bytes, url: str) -> requests.Response:
    data = data.lstrip(b"\r\n")
    status_line, _, rest = data.partition(b"\n")
    words = status_line.rstrip(b"\r").decode("utf-8", errors="replace").split(" ", 2)
    status = whole_number(words[1]) if len(words) >= 2 and words[0].upper().startswith("HTTP/") else None
    if status is None:
        raise BatchFormatError(f"a batch part holds no HTTP response: {status_line[:40]!r}")
    headers, body = _split_head(rest)
    response = requests.Response()
    response.status_code = status
    response.reason = words[2] if len(words) > 2 else ""
    response.headers = headers
    response._content = body if body.strip() else b""
    response.encoding = "utf-8"
    response.url = url
    return response
