"""File and image columns: their content, stored beside the rows, uploaded and downloaded as Dataverse does.

Microsoft Learn, "Use file column data" and "Use image column data" (power-apps/developer/data-platform/
file-column-data, image-column-data), served here:

* one request: ``PATCH /<set>(<id>)/<column>`` with the bytes as the body and ``x-ms-file-name`` → 204;
  ``GET /<set>(<id>)/<column>/$value`` → the bytes with ``x-ms-file-name`` and ``x-ms-file-size`` (``Range:
  bytes=a-b`` → 206 with that slice); ``DELETE /<set>(<id>)/<column>`` → 204. An image column's ``$value`` is its
  thumbnail, ``?size=full`` its full-size image.
* chunks over the same URL: ``PATCH`` with ``x-ms-transfer-mode: chunked`` and no body → 200 with ``Location:
  …?sessiontoken=<token>`` and ``x-ms-chunk-size`` (4 MB); then ``PATCH <Location>`` with ``Content-Range: bytes
  a-b/total`` and the chunk → 206 until the last, 204.
* actions: ``InitializeFileBlocksUpload`` (``Target``, ``FileAttributeName``, ``FileName``) → a
  ``FileContinuationToken``; ``UploadBlock`` (``BlockId``, ``BlockData`` base64, at most 4 MB) → 204;
  ``CommitFileBlocksUpload`` (``BlockList``, ``FileName``, ``MimeType``) → ``FileId``, ``FileSizeInBytes``;
  ``InitializeFileBlocksDownload`` → token, ``FileSizeInBytes``, ``FileName``, ``IsChunkingSupported``;
  ``DownloadBlock`` (``Offset``, ``BlockLength``) → ``Data`` base64.

A committed file sets the row's file column to the file's id and ``<column>_name`` to its name; an image sets the
column to its thumbnail (base64) and ``<column>id``, ``<column>_timestamp``, ``<column>_url``. Both are row writes
(new version). ``MaxSizeInKB`` is enforced. Content is stored in parts of at most 4 MB (the storage's
``sandbox_file_parts``), so a file of any size the column allows (Dataverse: up to 10 GB) fits, and a range is read
without reading the whole file. Upload sessions live in memory and end with the process.

The name a download's ``x-ms-file-name`` carries: Microsoft Learn shows the plain name as it is (``x-ms-file-name:
4094kb.txt``) and says nothing of names outside ASCII, only that the *request* header cannot carry them (an upload
sends such a name in the ``x-ms-file-name`` query parameter). A header value is Latin-1 at most (werkzeug cannot
send a name beyond it: the client got no answer at all), so the sandbox sends a *plain* name (printable ASCII
without leading or trailing whitespace; ``%`` allowed, so ``Invoice%2001.pdf`` goes as it is, as the service sends
it) unchanged, and any other name as its UTF-8 bytes percent-encoded (``quote(name, safe="")``), as that query
parameter carries it. A client that decodes a value only when the decoded name is not plain (the connector's
``header_file_name``) gets every encoded name back exactly, and keeps a plain name as sent unless that name is
itself such an encoding (``%C3%9C.txt``). Not RFC 8187's
``UTF-8''…``: that form is for header parameters such as Content-Disposition's ``filename*``, not for a whole
header value.

Not for JSON writes of an image column (``"entityimage": "<base64>"``): :mod:`.writes` stores those as a value.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from werkzeug.wrappers import Response

from dataverse_sandbox.numbers import ascii_int64

from .context import Call, Service
from .errors import DataverseError, bad_request, method_not_allowed, not_found
from .keys import require_row
from .metadata import AttributeKind, AttributeMeta, EntityMeta
from .paths import KeyPredicate
from .storage import Row
from .values import format_timestamp, parse_guid

__all__ = [
    "BLOCK_SIZE",
    "FileStore",
    "column_request",
    "commit_blocks",
    "download_block",
    "initialize_download",
    "initialize_upload",
    "upload_block",
]

#: Dataverse's chunk size: blocks of at most 4 MB (``x-ms-chunk-size``, ``UploadBlock``).
BLOCK_SIZE = 4 * 1024 * 1024
#: How much content one stored part holds.
PART_SIZE = BLOCK_SIZE
_FILE_KINDS = (AttributeKind.FILE, AttributeKind.IMAGE)
# ASCII digits (int() would read another script's digits and refuse 4301 of them); a Range offset past 64 bits is
# past any file's end, a Content-Range has at most 19 digits (the connector's are small).
_RANGE = re.compile(r"bytes=(\d+)-(\d*)", re.ASCII)
_CONTENT_RANGE = re.compile(r"bytes (\d{1,19})-(\d{1,19})/(\d{1,19})", re.ASCII)


@dataclass
class _Upload:
    entity: str
    record_id: str
    attribute: str
    file_name: str
    blocks: dict[str, bytes] = field(default_factory=dict)
    received: list[bytes] = field(default_factory=list)
    size: int = 0


@dataclass(frozen=True)
class _Download:
    file_id: str


@dataclass(frozen=True)
class StoredFile:
    """One stored file or image (its content is read with :meth:`FileStore.read`).

    :param file_id: its id (the file column's value).
    :param name: the file name.
    :param mime_type: its MIME type.
    :param size: its size in bytes.
    """

    file_id: str
    name: str
    mime_type: str
    size: int


class FileStore:
    """Where file and image content lives (the storage's ``sandbox_files`` table) and the open upload sessions.

    :param service: the service whose storage holds the content.
    """

    def __init__(self, service: Service) -> None:
        self._service = service
        self._uploads: dict[str, _Upload] = {}
        self._downloads: dict[str, _Download] = {}
        self._lock = threading.Lock()

    # -- content ------------------------------------------------------------------------------------------------

    def load(self, entity: EntityMeta, record_id: str, attribute: AttributeMeta) -> StoredFile | None:
        """:returns: the file stored in a row's column, or ``None``."""
        return self._found(
            "entity = ? AND record_id = ? AND attribute = ?", (entity.logical_name, record_id, attribute.logical_name)
        )

    def by_id(self, file_id: str) -> StoredFile | None:
        """:returns: the file with that id, or ``None``."""
        return self._found("file_id = ?", (file_id,))

    def _found(self, where: str, params: tuple[str, ...]) -> StoredFile | None:
        with self._service.storage.reading() as connection:
            found = connection.execute(
                f"SELECT file_id, name, mime, COALESCE(LENGTH(data), 0) FROM sandbox_files WHERE {where}",  # noqa: S608 - fixed conditions, bound values
                params,
            ).fetchone()
            if found is None:
                return None
            parts = connection.execute(
                "SELECT COALESCE(SUM(LENGTH(data)), 0) FROM sandbox_file_parts WHERE file_id = ?", (found[0],)
            ).fetchone()[0]
        return StoredFile(found[0], found[1] or "", found[2] or "", int(found[3]) + int(parts))

    def read(self, found: StoredFile, offset: int = 0, length: int | None = None) -> bytes:
        """Read part of a stored file's content.

        :param found: the file.
        :param offset: the first byte.
        :param length: how many bytes (``None``: to the end).
        :returns: the bytes (fewer at the end of the file).
        """
        end = found.size if length is None else min(found.size, offset + length)
        if offset >= end:
            return b""
        with self._service.storage.reading() as connection:
            legacy = connection.execute("SELECT data FROM sandbox_files WHERE file_id = ?", (found.file_id,)).fetchone()
            if legacy is not None and legacy[0] is not None:
                # Stored whole by an earlier sandbox version.
                return bytes(legacy[0])[offset:end]
            first, last = offset // PART_SIZE, (end - 1) // PART_SIZE
            rows = connection.execute(
                "SELECT seq, data FROM sandbox_file_parts WHERE file_id = ? AND seq BETWEEN ? AND ? ORDER BY seq",
                (found.file_id, first, last),
            ).fetchall()
        joined = b"".join(bytes(row[1]) for row in rows)
        start = offset - first * PART_SIZE
        return joined[start : start + (end - offset)]

    def save(
        self,
        call: Call,
        entity: EntityMeta,
        row: Row,
        attribute: AttributeMeta,
        name: str,
        mime: str,
        content: Iterable[bytes],
        size: int,
    ) -> StoredFile:
        """Store a file in a row's column (replacing any earlier one) and point the row at it.

        :param content: the content, in pieces of any size (stored in parts of :data:`PART_SIZE`).
        :param size: its total size.
        :raises DataverseError: 400 when the file is larger than the column's ``MaxSizeInKB``.
        """
        limit = (attribute.max_size_kb or 32768) * 1024
        if size > limit:
            raise bad_request(
                f"The file size {size} exceeds the maximum of {limit} bytes ({attribute.max_size_kb} KB) of "
                f"the column '{attribute.logical_name}'."
            )
        file_id = str(uuid.uuid4())
        record_id = str(row[entity.primary_id])
        storage = self._service.storage
        image = bytearray() if attribute.kind is AttributeKind.IMAGE else None
        with storage.transaction() as connection:
            _forget(
                connection,
                "entity = ? AND record_id = ? AND attribute = ?",
                (entity.logical_name, record_id, attribute.logical_name),
            )
            connection.execute(
                "INSERT INTO sandbox_files (file_id, entity, record_id, attribute, name, mime, data) "
                "VALUES (?, ?, ?, ?, ?, ?, NULL)",
                (file_id, entity.logical_name, record_id, attribute.logical_name, name, mime),
            )
            for seq, part in enumerate(_parts(content)):
                connection.execute(
                    "INSERT INTO sandbox_file_parts (file_id, seq, data) VALUES (?, ?, ?)", (file_id, seq, part)
                )
                if image is not None:
                    image += part
            version = storage.next_version()
            changes: Row = {"versionnumber": version, "modifiedon": format_timestamp(call.service.clock.now())}
            thumbnail = bytes(image) if image is not None else b""
            changes.update(_companions(entity, attribute, file_id, name, thumbnail, version, record_id))
            storage.update(entity, record_id, changes)
        return StoredFile(file_id, name, mime, size)

    def remove(self, call: Call, entity: EntityMeta, row: Row, attribute: AttributeMeta) -> None:
        """Delete a row's file and clear its column (nothing to delete is fine)."""
        record_id = str(row[entity.primary_id])
        storage = self._service.storage
        with storage.transaction() as connection:
            _forget(
                connection,
                "entity = ? AND record_id = ? AND attribute = ?",
                (entity.logical_name, record_id, attribute.logical_name),
            )
            changes: Row = {
                "versionnumber": storage.next_version(),
                "modifiedon": format_timestamp(call.service.clock.now()),
            }
            changes.update(dict.fromkeys(_companions(entity, attribute, "", "", b"", 0, record_id)))
            storage.update(entity, record_id, changes)

    # -- sessions -----------------------------------------------------------------------------------------------

    def open_upload(self, entity: EntityMeta, record_id: str, attribute: AttributeMeta, file_name: str) -> str:
        """:returns: the continuation token of a new upload session."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._uploads[token] = _Upload(entity.logical_name, record_id, attribute.logical_name, file_name)
        return token

    def upload(self, token: str) -> _Upload:
        """:returns: the open upload session. :raises DataverseError: 400 for an unknown token."""
        with self._lock:
            session = self._uploads.get(token)
        if session is None:
            raise bad_request("The file continuation token is not valid or has expired.")
        return session

    def close_upload(self, token: str) -> None:
        """Forget an upload session."""
        with self._lock:
            self._uploads.pop(token, None)

    def open_download(self, file_id: str) -> str:
        """:returns: the continuation token of a download session."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._downloads[token] = _Download(file_id)
        return token

    def download(self, token: str) -> StoredFile:
        """:returns: the file a download token reads. :raises DataverseError: 400 for an unknown token."""
        with self._lock:
            session = self._downloads.get(token)
        found = self.by_id(session.file_id) if session is not None else None
        if found is None:
            raise bad_request("The file continuation token is not valid or has expired.")
        return found


def _parts(content: Iterable[bytes]) -> Iterator[bytes]:
    """:returns: the content again, in parts of exactly :data:`PART_SIZE` bytes (the last one shorter)."""
    pending = bytearray()
    for piece in content:
        pending += piece
        while len(pending) >= PART_SIZE:
            yield bytes(pending[:PART_SIZE])
            del pending[:PART_SIZE]
    if pending:
        yield bytes(pending)


def _forget(connection: Any, where: str, params: tuple[str, ...]) -> None:
    """Delete the files (and their parts) that match a condition on ``sandbox_files``."""
    connection.execute(
        f"DELETE FROM sandbox_file_parts WHERE file_id IN (SELECT file_id FROM sandbox_files WHERE {where})",  # noqa: S608 - fixed conditions, bound values
        params,
    )
    connection.execute(f"DELETE FROM sandbox_files WHERE {where}", params)  # noqa: S608 - fixed conditions, bound values


def _companions(
    entity: EntityMeta, attribute: AttributeMeta, file_id: str, name: str, data: bytes, version: int, record_id: str
) -> Row:
    """:returns: the row columns that describe a stored file or image."""
    column = attribute.logical_name
    values: Row = {attribute.column: file_id or None}
    if attribute.kind is AttributeKind.IMAGE:
        # No image library: the thumbnail is the image itself (Dataverse scales it to 144 x 144).
        values[attribute.column] = base64.b64encode(data).decode("ascii") if data else None
        url = f"/Image/download.aspx?Entity={entity.logical_name}&Attribute={column}&Id={record_id}&Timestamp={version}"
        extra = {f"{column}id": file_id or None, f"{column}_timestamp": version or None, f"{column}_url": url}
        values.update({key: value for key, value in extra.items() if entity.by_logical_name(key) is not None})
    else:
        for companion in entity.attributes:
            if companion.attribute_of == column:
                values[companion.column] = name or None
    return values


def _store(call: Call) -> FileStore:
    store: FileStore = call.service.files
    return store


# -- the column's URL ---------------------------------------------------------------------------------------------


def column_request(
    call: Call, entity: EntityMeta, key: KeyPredicate, attribute: AttributeMeta, raw: bool
) -> Response | None:
    """Serve a request on a file or image column's URL.

    :param raw: whether ``/$value`` followed the column.
    :returns: the response, or ``None`` for a request the ordinary property handler serves (``GET`` without
        ``$value``: the column's value).
    """
    if call.method == "GET" and not raw:
        return None
    row = require_row(call.service, entity, key)
    store = _store(call)
    if call.method == "GET":
        return _download(call, store.load(entity, str(row[entity.primary_id]), attribute))
    if raw:
        raise method_not_allowed(f"The method {call.method} is not allowed on '$value' of a file column.")
    if call.method == "DELETE":
        call.require_write(entity, "Write")
        store.remove(call, entity, row, attribute)
        return call.empty(204)
    if call.method in ("PATCH", "PUT"):
        call.require_write(entity, "Write")
        chunked = call.request.headers.get("x-ms-transfer-mode", "").lower() == "chunked"
        if chunked or "sessiontoken" in call.request.args:
            return _chunked_upload(call, entity, row, attribute)
        name = call.request.headers.get("x-ms-file-name") or call.request.args.get("x-ms-file-name")
        if not name:
            raise bad_request("The header 'x-ms-file-name' is required to upload a file.")
        data = call.request.get_data(cache=False)
        mime = call.request.mimetype or "application/octet-stream"
        store.save(call, entity, row, attribute, name, mime, [data], len(data))
        return call.empty(204)
    raise method_not_allowed(f"The method {call.method} is not allowed on a file column.")


def _download(call: Call, found: StoredFile | None) -> Response:
    if found is None:
        return call.empty(204)
    store = _store(call)
    status = 200
    headers = {
        "x-ms-file-name": _header_file_name(found.name),
        "x-ms-file-size": str(found.size),
        "Accept-Ranges": "bytes",
    }
    if found.mime_type:
        headers["mimetype"] = found.mime_type
    wanted = call.request.headers.get("Range")
    if wanted:
        match = _RANGE.fullmatch(wanted.strip())
        if match is None:
            raise bad_request(f"The Range header '{wanted}' is not valid; expected bytes=<first>-<last>.")
        first = ascii_int64(match.group(1))
        end = ascii_int64(match.group(2)) if match.group(2) else None
        last = found.size - 1 if end is None else min(end, found.size - 1)
        if first is None or first > last:
            raise DataverseError(416, "0x80040203", f"The range starts at {match.group(1)[:40]}, past the file's end.")
        headers["Content-Range"] = f"bytes {first}-{last}/{found.size}"
        headers["x-ms-chunk-size"] = str(BLOCK_SIZE)
        data, status = store.read(found, first, last - first + 1), 206
    else:
        data = store.read(found)
    response = Response(data, status=status, content_type="application/octet-stream")
    for name, value in headers.items():
        response.headers[name] = value
    return response


def _header_file_name(name: str) -> str:
    """:returns: ``name`` as a download's ``x-ms-file-name`` value: itself when it is plain (printable ASCII without
    leading or trailing whitespace, ``%`` allowed), else its UTF-8 bytes percent-encoded (see the module docstring).
    """
    if name.isascii() and name.isprintable() and name == name.strip():
        return name
    return quote(name, safe="")


def _chunked_upload(call: Call, entity: EntityMeta, row: Row, attribute: AttributeMeta) -> Response:
    store = _store(call)
    token = call.request.args.get("sessiontoken")
    if token is None:
        name = call.request.args.get("x-ms-file-name") or call.request.headers.get("x-ms-file-name")
        if not name:
            raise bad_request("The parameter 'x-ms-file-name' is required to start a chunked upload.")
        token = store.open_upload(entity, str(row[entity.primary_id]), attribute, name)
        response = call.empty(200)
        location = f"{call.request.base_url}?x-ms-file-name={quote(name)}&sessiontoken={quote(token)}"
        response.headers["Location"] = location
        response.headers["x-ms-chunk-size"] = str(BLOCK_SIZE)
        return response
    session = store.upload(token)
    if (session.entity, session.record_id, session.attribute) != (
        entity.logical_name,
        str(row[entity.primary_id]),
        attribute.logical_name,
    ):
        raise bad_request("The session token belongs to another file column.")
    content_range = _CONTENT_RANGE.fullmatch(call.request.headers.get("Content-Range", "").strip())
    if content_range is None:
        raise bad_request("A chunk needs a 'Content-Range: bytes <first>-<last>/<total>' header.")
    first, last, total = (int(part) for part in content_range.groups())
    chunk = call.request.get_data(cache=False)
    if first != session.size or last - first + 1 != len(chunk) or last >= total:
        raise bad_request(
            f"The chunk bytes {first}-{last}/{total} does not continue the upload at byte {session.size}."
        )
    session.received.append(chunk)
    session.size += len(chunk)
    if session.size < total:
        return call.empty(206)
    store.close_upload(token)
    mime = call.request.mimetype or "application/octet-stream"
    store.save(call, entity, row, attribute, session.file_name, mime, session.received, session.size)
    return call.empty(204)


# -- the actions (declared in :mod:`.operations`) ------------------------------------------------------------------


def _target(call: Call, params: Mapping[str, Any]) -> tuple[EntityMeta, Row, AttributeMeta]:
    target = params.get("Target")
    if not isinstance(target, dict):
        raise bad_request("The parameter 'Target' must be an entity reference with '@odata.type' and its key.")
    type_name = str(target.get("@odata.type", "")).lstrip("#").removeprefix("Microsoft.Dynamics.CRM.")
    entity = call.service.catalog.get(type_name)
    if entity is None:
        raise bad_request(f"The '@odata.type' of 'Target' names no table: '{target.get('@odata.type')}'.")
    record_id = parse_guid(str(target.get(entity.primary_id, "")))
    if record_id is None:
        raise bad_request(f"'Target' must carry '{entity.primary_id}'.")
    row = call.service.storage.fetch_by_id(entity, record_id)
    if row is None:
        raise not_found(entity.logical_name, record_id)
    name = str(params.get("FileAttributeName", ""))
    attribute = entity.by_logical_name(name)
    if attribute is None or attribute.kind not in _FILE_KINDS:
        raise bad_request(f"'{name}' is not a file or image column of '{entity.logical_name}'.")
    return entity, row, attribute


def initialize_upload(call: Call, _row: Row | None, params: Mapping[str, Any]) -> dict[str, Any]:
    """``InitializeFileBlocksUpload``: :returns: ``FileContinuationToken``."""
    entity, row, attribute = _target(call, params)
    call.require_write(entity, "Write")
    token = _store(call).open_upload(entity, str(row[entity.primary_id]), attribute, str(params["FileName"]))
    return {"FileContinuationToken": token}


def upload_block(call: Call, _row: Row | None, params: Mapping[str, Any]) -> dict[str, Any]:
    """``UploadBlock``: keep one block (at most 4 MB) until the commit. :returns: nothing (204)."""
    session = _store(call).upload(str(params["FileContinuationToken"]))
    try:
        data = base64.b64decode(str(params["BlockData"]), validate=True)
    except (binascii.Error, ValueError):
        raise bad_request("'BlockData' is not valid base64.") from None
    if len(data) > BLOCK_SIZE:
        raise bad_request(f"A block holds at most {BLOCK_SIZE} bytes (4 MB); this one has {len(data)}.")
    session.blocks[str(params["BlockId"])] = data
    return {}


def commit_blocks(call: Call, _row: Row | None, params: Mapping[str, Any]) -> dict[str, Any]:
    """``CommitFileBlocksUpload``: join the listed blocks in order. :returns: ``FileId``, ``FileSizeInBytes``."""
    store = _store(call)
    token = str(params["FileContinuationToken"])
    session = store.upload(token)
    block_list = params.get("BlockList")
    if not isinstance(block_list, list) or not block_list:
        raise bad_request("'BlockList' must list the ids of the uploaded blocks, in order.")
    missing = [block for block in block_list if str(block) not in session.blocks]
    if missing:
        raise bad_request(f"The block(s) {', '.join(map(str, missing))} were not uploaded.")
    content = [session.blocks[str(block)] for block in block_list]
    size = sum(len(block) for block in content)
    entity = call.service.catalog[session.entity]
    row = call.service.storage.fetch_by_id(entity, session.record_id)
    if row is None:
        raise not_found(entity.logical_name, session.record_id)
    attribute = entity.by_logical_name(session.attribute)
    assert attribute is not None
    mime = str(params.get("MimeType") or "application/octet-stream")
    name = str(params.get("FileName") or session.file_name)
    saved = store.save(call, entity, row, attribute, name, mime, content, size)
    store.close_upload(token)
    return {"FileId": saved.file_id, "FileSizeInBytes": size}


def initialize_download(call: Call, _row: Row | None, params: Mapping[str, Any]) -> dict[str, Any]:
    """``InitializeFileBlocksDownload``. :returns: token, ``FileSizeInBytes``, ``FileName``, ``IsChunkingSupported``."""
    entity, row, attribute = _target(call, params)
    store = _store(call)
    found = store.load(entity, str(row[entity.primary_id]), attribute)
    if found is None:
        raise DataverseError(
            404, "0x80040217", f"No file is stored in '{attribute.logical_name}' of this {entity.logical_name}."
        )
    return {
        "FileContinuationToken": store.open_download(found.file_id),
        "FileSizeInBytes": found.size,
        "FileName": found.name,
        "IsChunkingSupported": True,
    }


def download_block(call: Call, _row: Row | None, params: Mapping[str, Any]) -> dict[str, Any]:
    """``DownloadBlock``: :returns: ``Data``, the block's bytes in base64."""
    store = _store(call)
    found = store.download(str(params["FileContinuationToken"]))
    offset, length = params.get("Offset"), params.get("BlockLength")
    if not isinstance(offset, int) or not isinstance(length, int) or offset < 0 or length < 1:
        raise bad_request("'Offset' and 'BlockLength' must be integers (Offset >= 0, BlockLength >= 1).")
    if length > BLOCK_SIZE:
        raise bad_request(f"A block holds at most {BLOCK_SIZE} bytes (4 MB).")
    return {"Data": base64.b64encode(store.read(found, offset, length)).decode("ascii")}
