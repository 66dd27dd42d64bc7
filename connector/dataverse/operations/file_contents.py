"""Where file content comes from (an upload's document) and where it goes (a download's), never all in memory.

A document carries an upload's content in one of three members:

* ``file_path``: a local file, relative to the ``local_directory`` option (or absolute inside it): read block by
  block, never whole. A path that leaves the directory (``..``, a symbolic link out of it) is refused, and without
  the option no local file is read at all, so a document cannot make the connector send an arbitrary file;
* ``file_content``: the content in base64 (for small files: a JSON document holds it whole);
* ``file_stream``: for a host calling the hook in process, any binary object with ``read(n)`` (an open file, a
  socket's file, ``io.BytesIO``), read block by block and not closed; ``file_size`` may give its size.

with ``file_name`` (from the path when not given) and ``mime_type`` (guessed from the name when not given). A
download's content goes to the document's ``file_stream`` when it has one (any object with ``write(b)``), else as
the ``output`` option says: to a file under ``local_directory`` (the document's ``file_path``, else the service's
file name), written beside its final name and renamed only once complete, or into the result as base64. Every
problem fails its document with :class:`~connector.dataverse.operations.inputs.DocumentError` naming the member.
Not for requests: :mod:`connector.dataverse.operations.file_uploads` and
:mod:`connector.dataverse.operations.file_downloads`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import mimetypes
import os
import re
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any, Final

from connector.dataverse.operations.inputs import DocumentError

__all__ = [
    "FILE_CONTENT",
    "FILE_NAME",
    "FILE_PATH",
    "FILE_SIZE",
    "FILE_STREAM",
    "MIME_TYPE",
    "FileSink",
    "FileSource",
    "file_sink",
    "file_source",
    "local_path",
    "plain_file_name",
]

FILE_PATH: Final = "file_path"
FILE_CONTENT: Final = "file_content"
FILE_STREAM: Final = "file_stream"
FILE_NAME: Final = "file_name"
FILE_SIZE: Final = "file_size"
MIME_TYPE: Final = "mime_type"
_SOURCES: Final = (FILE_PATH, FILE_CONTENT, FILE_STREAM)
# Parameters in Latin-1 without control characters: the type goes into the Content-Type header of a one-request
# upload, where a line break or a character outside Latin-1 failed deep inside http.client (reported as a connection
# failure naming no field).
_MIME: Final = re.compile(r"[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+([ \t]*;[\t\x20-\x7e\xa0-\xff]*)?")
_OCTET_STREAM: Final = "application/octet-stream"


def local_path(directory: Path | None, given: Any, member: str) -> Path:
    """A document's path, resolved inside the directory the options allow.

    :param directory: the ``local_directory`` option, or ``None``.
    :param given: the document's path (relative to the directory, or absolute inside it).
    :param member: the document member it came from (for errors).
    :returns: the absolute, resolved path.
    :raises DocumentError: without a directory, for a path that is not text, or one that leaves the directory.
    """
    if directory is None:
        raise DocumentError(member, "local files need the local_directory option: the only directory they may be in")
    if not isinstance(given, str) or not given.strip() or "\x00" in given:
        raise DocumentError(member, "must be a file path")
    base = directory.resolve()
    try:
        target = (base / given).resolve()
    except (OSError, ValueError) as error:  # a lone surrogate ("\ud800.pdf") cannot be a file system's name
        raise DocumentError(member, f"is not a path this system can use ({error})") from None
    if not target.is_relative_to(base):
        raise DocumentError(member, f"{given!r} is outside the local directory {str(base)!r}")
    return target


class FileSource:
    """An upload's content, its name, type and size, read in blocks.

    :param name: the file name sent to the service.
    :param mime_type: its MIME type.
    :param size: its size in bytes, when known before reading.
    :param member: the document member the content came from (for errors).
    :param stream: the content.
    :param owned: whether :meth:`close` closes the stream (a file the connector opened).
    """

    def __init__(
        self, name: str, mime_type: str, size: int | None, member: str, stream: IO[bytes], *, owned: bool
    ) -> None:
        self.name = name
        self.mime_type = mime_type
        self.size = size
        self.member = member
        self._stream = stream
        self._owned = owned
        self.read_bytes = 0
        self.sha256 = hashlib.sha256()

    def blocks(self, block_size: int) -> Iterator[bytes]:
        """:returns: the content in blocks of ``block_size`` bytes (the last one shorter), each hashed and counted."""
        while True:
            block = self._read(block_size)
            if not block:
                return
            yield block

    def _read(self, size: int) -> bytes:
        parts: list[bytes] = []
        wanted = size
        while wanted > 0:
            try:
                piece = self._stream.read(wanted)
            except (OSError, ValueError) as error:
                raise DocumentError(self.member, f"could not be read ({error})") from None
            if not piece:
                break
            if not isinstance(piece, bytes | bytearray | memoryview):
                raise DocumentError(self.member, "must give bytes when read (a file opened in binary mode)")
            parts.append(bytes(piece))
            wanted -= len(piece)
        block = b"".join(parts)
        self.read_bytes += len(block)
        self.sha256.update(block)
        return block

    def close(self) -> None:
        """Close the stream when the connector opened it."""
        if self._owned:
            self._stream.close()


def file_source(document: Mapping[str, Any], directory: Path | None) -> FileSource:
    """Open an upload document's content.

    :param document: the input document.
    :param directory: the ``local_directory`` option.
    :returns: the source (close it when done).
    :raises DocumentError: naming the member at fault.
    """
    given = [member for member in _SOURCES if document.get(member) is not None]
    if len(given) != 1:
        what = "none of" if not given else "more than one of"
        raise DocumentError("(document)", f"has {what} {', '.join(_SOURCES)}: give exactly one (the file's content)")
    member = given[0]
    value = document[member]
    name = document.get(FILE_NAME)
    if member == FILE_PATH:
        path = local_path(directory, value, member)
        name = name if name is not None else path.name
        try:
            stream: IO[bytes] = path.open("rb")
            size: int | None = os.fstat(stream.fileno()).st_size
        except OSError as error:
            raise DocumentError(member, f"cannot be read: {error.strerror or error}") from None
        if not path.is_file():
            stream.close()
            raise DocumentError(member, "is not a file")
        return FileSource(_name(name), _mime(document, str(name)), size, member, stream, owned=True)
    if member == FILE_CONTENT:
        if not isinstance(value, str):
            raise DocumentError(member, "must be the content in base64 text")
        try:
            content = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise DocumentError(member, "is not valid base64") from None
        checked = _name(name, required=True)
        return FileSource(checked, _mime(document, checked), len(content), member, io.BytesIO(content), owned=True)
    if not callable(getattr(value, "read", None)):
        raise DocumentError(member, "must be a binary stream with read(n) (a host passes it in process)")
    size = document.get(FILE_SIZE)
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise DocumentError(FILE_SIZE, "must be the stream's size in bytes")
    checked = _name(name, required=True)
    return FileSource(checked, _mime(document, checked), size, member, value, owned=False)


def _name(name: Any, *, required: bool = False) -> str:
    if name is None and required:
        raise DocumentError(FILE_NAME, "is needed: the name the file gets in Dataverse")
    if not isinstance(name, str) or not name.strip() or any(ord(char) < 32 or char in "/\\" for char in name):
        raise DocumentError(FILE_NAME, "must be a file name without path separators or control characters")
    return name


def _mime(document: Mapping[str, Any], name: str) -> str:
    given = document.get(MIME_TYPE)
    if given is None:
        guessed, _ = mimetypes.guess_type(name, strict=False)
        return guessed or _OCTET_STREAM
    if not isinstance(given, str) or _MIME.fullmatch(given) is None:
        raise DocumentError(MIME_TYPE, "must be a MIME type such as application/pdf")
    return given


class FileSink:
    """Where a download's content goes: a stream the host gave, a file under the local directory, or memory.

    :param member: what to name in errors (``file_stream``, ``file_path`` or ``options.max_inline_bytes``).
    :param stream: the target.
    :param final: for a file, its final path (the content is written beside it and renamed at :meth:`finish`).
    :param limit: for memory, the most bytes kept.
    """

    def __init__(self, member: str, stream: IO[bytes] | None, final: Path | None, limit: int | None) -> None:
        self.member = member
        self._stream = stream
        self._final = final
        self._partial = final.with_name(f".{final.name}.{uuid.uuid4().hex}.part") if final is not None else None
        self._limit = limit
        self._memory = bytearray()
        self.written = 0
        self.sha256 = hashlib.sha256()
        if self._partial is not None:
            self._stream = self._partial.open("xb")

    def write(self, block: bytes) -> None:
        """Add one block.

        :raises DocumentError: when memory would pass its limit, or the target refuses the bytes.
        """
        self.written += len(block)
        self.sha256.update(block)
        if self._stream is None:
            if self._limit is not None and self.written > self._limit:
                raise DocumentError(
                    self.member,
                    f"the file is larger than {self._limit} bytes, the most a result carries in base64; "
                    "use output file (or a file_stream) for large files",
                )
            self._memory += block
            return
        try:
            self._stream.write(block)
        except (OSError, ValueError) as error:
            raise DocumentError(self.member, f"could not be written ({error})") from None

    def finish(self) -> dict[str, Any]:
        """Complete the content: rename a file into place.

        :returns: what the result's payload says of where the content went (``file_path`` or ``file_content``).
        """
        if self._partial is not None and self._final is not None and self._stream is not None:
            self._stream.close()
            os.replace(self._partial, self._final)
            self._partial = None
            return {FILE_PATH: str(self._final)}
        if self._stream is None:
            return {FILE_CONTENT: base64.b64encode(bytes(self._memory)).decode("ascii")}
        return {}

    def abandon(self) -> None:
        """Drop what was written (a failed download never leaves a partial file under the final name)."""
        if self._partial is not None and self._stream is not None:
            self._stream.close()
            self._partial.unlink(missing_ok=True)
            self._partial = None


def file_sink(
    document: Mapping[str, Any],
    *,
    output: str,
    directory: Path | None,
    service_name: str,
    overwrite: bool,
    limit: int,
) -> FileSink:
    """Choose where one download's content goes.

    :param document: the input document (``file_stream``, ``file_path``).
    :param output: the ``output`` option (``file`` or ``base64``).
    :param directory: the ``local_directory`` option.
    :param service_name: the file's name in Dataverse (used when the document gives no path).
    :param overwrite: whether an existing file may be replaced.
    :param limit: the ``max_inline_bytes`` option.
    :returns: the sink (call :meth:`FileSink.finish` or :meth:`FileSink.abandon`).
    :raises DocumentError: naming the member at fault.
    """
    stream = document.get(FILE_STREAM)
    if stream is not None:
        if not callable(getattr(stream, "write", None)):
            raise DocumentError(FILE_STREAM, "must be a binary stream with write(b) (a host passes it in process)")
        return FileSink(FILE_STREAM, stream, None, None)
    if output != "file":
        return FileSink("options.max_inline_bytes", None, None, limit)
    given = document.get(FILE_PATH)
    member = FILE_PATH if given is not None else FILE_NAME
    if given is None:
        safe = os.path.basename(service_name.replace("\\", "/")).strip() or "file"
        given = "".join(char if ord(char) >= 32 else "_" for char in safe)
    path = local_path(directory, given, member)
    try:
        if path.exists() and (not overwrite or not path.is_file()):
            raise DocumentError(member, f"{str(path)!r} exists; turn on overwrite to replace it")
        path.parent.mkdir(parents=True, exist_ok=True)
        return FileSink(member, None, path, None)
    except OSError as error:
        raise DocumentError(member, f"cannot be written: {error.strerror or error}") from None


def plain_file_name(name: str) -> bool:
    """:returns: whether an ``x-ms-file-name`` header carries ``name`` as it is: printable ASCII without leading or
    trailing whitespace (an upload sends any other name as the query parameter; a download's other names come
    percent-encoded, :func:`~connector.dataverse.operations.file_downloads.header_file_name`).
    """
    return name.isascii() and name.isprintable() and name == name.strip()
