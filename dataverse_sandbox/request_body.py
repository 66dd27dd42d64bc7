"""Request bodies the sandbox accepts: a size limit checked before reading, chunked bodies read within it, and
JSON decoding that refuses what would break the server later.

What it is for: a server must hold up against bodies no real client sends. :class:`BodyLimit` (a WSGI middleware
in front of the router) answers ``413`` from ``Content-Length`` alone, before reading a byte of an oversized body
(however many digits its length has; a length that is not ASCII digits is a ``400``), and reads a chunked body
(``Transfer-Encoding: chunked``, no length announced) only up to the limit, answering ``413`` past it and ``400``
for malformed chunk framing. :func:`decode_json` turns bodies into JSON values or a
:class:`InvalidJsonError`: not UTF-8, not JSON, nested deeper than Python's recursion allows, or holding a lone
UTF-16 surrogate (``"\\ud800"``: valid JSON syntax, but no Unicode text, which SQLite and the UTF-8 encoder refuse).

The default limit is Dataverse's documented size limit of a single request, 128 MB ("The size limit to send a
single request is 128 MB", learn.microsoft.com/power-apps/developer/data-platform/file-attributes); larger files go
in chunks (``UploadBlock``). What Dataverse answers past it is not documented beyond "an error will be thrown"; the
sandbox answers ``413`` (the status class Dataverse's error docs give for "request too large").

What it is not for: what a request means (the Web API, the token service and the admin endpoint read the body).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from dataverse_sandbox.middleware import ENVIRON_CLOSE_CONNECTION
from dataverse_sandbox.numbers import ascii_whole_number

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["DEFAULT_MAX_BODY_BYTES", "BodyLimit", "InvalidJsonError", "decode_json"]

#: Dataverse's size limit of a single request: 128 MB (file-attributes page on Microsoft Learn).
DEFAULT_MAX_BODY_BYTES = 128 * 1024 * 1024

_CHUNK = 1 << 16
_SURROGATE = re.compile("[\ud800-\udfff]")
#: Where a decoded value can get a surrogate from: one in the text itself, or a ``\\uD800``-``\\uDFFF`` escape.
_SURROGATE_SOURCE = re.compile(r"[\ud800-\udfff]|\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
#: The error code of a refused body: Dataverse's ``InvalidArgument`` (the code of a 413 is not documented).
_CODE = "0x80040203"


class InvalidJsonError(ValueError):
    """A body that is not a JSON value the service can store; the message says why (without the body)."""


def decode_json(raw: bytes | str) -> Any:
    """Decode a JSON body.

    :param raw: the body (UTF-8 bytes, or text already decoded).
    :returns: the JSON value.
    :raises InvalidJsonError: for bytes that are not UTF-8, text that is not JSON, nesting deeper than the
        interpreter's recursion limit, or a string or name holding a lone surrogate.
    """
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise InvalidJsonError(f"The body is not UTF-8 ({exc.reason} at byte {exc.start}).") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        value = json.loads(text)
    except RecursionError:
        raise InvalidJsonError("The JSON is nested too deeply.") from None
    except ValueError as exc:  # JSONDecodeError, or int()'s refusal of a number of 4301 digits or more
        raise InvalidJsonError(f"Invalid JSON. {exc}") from None
    # Only a body whose text holds a surrogate or its escape can decode to one: most bodies skip the walk.
    if _SURROGATE_SOURCE.search(text) and _has_lone_surrogate(value):
        raise InvalidJsonError("The JSON holds a lone surrogate (\\ud800-\\udfff) that is not a character.")
    return value


def _has_lone_surrogate(value: Any) -> bool:
    """:returns: whether any string or name in ``value`` holds a surrogate code point (walked without recursion)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


class BodyLimit:
    """WSGI middleware: refuse request bodies over ``max_bytes`` (``413``) and malformed framing (``400``).

    A body with a ``Content-Length`` over the limit is refused before it is read, and the connection closes (the
    client may still be sending it). A chunked body is read here, up to the limit, and handed on with its length,
    so the application never sees the chunk framing or its errors.

    :param app: the application behind (the router).
    :param max_bytes: the largest body accepted.
    :raises ValueError: for a limit below 1.
    """

    def __init__(self, app: WSGIApplication, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1, got {max_bytes}")
        self._app = app
        self.max_bytes = max_bytes

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Serve one WSGI request, refusing a body over the limit before the application reads it."""
        chunked = "chunked" in str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower()
        if chunked:
            refusal = self._read_chunked(environ)
            if refusal is not None:
                return self._refuse(environ, start_response, *refusal)
            return self._app(environ, start_response)
        raw = str(environ.get("CONTENT_LENGTH", "") or "").strip()
        if raw and not (raw.isascii() and raw.isdigit()):
            return self._refuse(environ, start_response, 400, f"The Content-Length header is not a number: {raw!r}.")
        # A number with more significant digits than the reader takes (19, a 64-bit length; int() would refuse 4301)
        # is larger than any limit: a body over it, not a malformed header.
        length = ascii_whole_number(raw) if raw else 0
        if length is None or length > self.max_bytes:
            return self._refuse(environ, start_response, 413, self._too_large())
        return self._app(environ, start_response)

    def _too_large(self) -> str:
        return f"The request body is larger than the limit of {self.max_bytes} bytes; send large files in blocks."

    def _read_chunked(self, environ: WSGIEnvironment) -> tuple[int, str] | None:
        """Read a chunked body within the limit; :returns: ``(status, message)`` when it must be refused."""
        source = environ["wsgi.input"]
        body = bytearray()
        try:
            while True:
                piece = source.read(_CHUNK)
                if not piece:
                    break
                body += piece
                if len(body) > self.max_bytes:
                    return 413, self._too_large()
        except (OSError, ValueError) as exc:
            return 400, f"The chunked request body is malformed: {exc}."
        environ["wsgi.input"] = io.BytesIO(bytes(body))
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("wsgi.input_terminated", None)
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        return None

    def _refuse(
        self, environ: WSGIEnvironment, start_response: StartResponse, status: int, message: str
    ) -> Iterable[bytes]:
        # The rest of the body (if any) is not read: the connection cannot carry another request.
        environ[ENVIRON_CLOSE_CONNECTION] = True
        payload = json.dumps({"error": {"code": _CODE, "message": message}}).encode("utf-8")
        reason = "Request Entity Too Large" if status == 413 else "Bad Request"
        start_response(
            f"{status} {reason}",
            [
                ("Content-Type", "application/json; odata.metadata=minimal"),
                ("Content-Length", str(len(payload))),
                ("OData-Version", "4.0"),
            ],
        )
        return [payload]
