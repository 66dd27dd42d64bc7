"""The Download File operation: one record's file or image per input document, block by block, to a stream, a file
or the result, with memory bounded by the block size whatever the file's size.

* **Ranges** (``transfer: auto``): ``GET <record>/<column>/$value`` with ``Range: bytes=<first>-<last>``, one block
  at a time; the first answer's ``x-ms-file-size`` (or ``Content-Range``) gives the size, ``x-ms-file-name`` the
  name (:func:`header_file_name`). A file within one block takes one request. When no answer says the size (a
  ``206`` with ``Content-Range: bytes 0-4194303/*`` and no readable ``x-ms-file-size``), a full block means more may
  follow: the next range is asked for until a block comes back shorter than asked or empty, or a ``416`` says the
  last full block ended the file. A ``200`` is the whole file: the end for the first range, a transient failure for
  a later one (kept, it would follow the blocks already written).
* **One request** (``transfer: single``): ``GET …/$value`` without a range; the whole file is in memory once, so
  this is for small files.
* **Blocks** (``transfer: blocks``): ``InitializeFileBlocksDownload`` (``Target``, ``FileAttributeName``) → a
  continuation token, the size and name; ``DownloadBlock`` (``Offset``, ``BlockLength``) → the block in base64,
  until the size is reached (one block of the whole size when the service says ``IsChunkingSupported`` is false).

An image column gives its full-size image (``?size=full``) unless ``image_size`` is ``thumbnail`` (the ``$value``
itself; the block actions give the full image only). The content goes where
:func:`~connector.dataverse.operations.file_contents.file_sink` says: the document's ``file_stream``, a file under
``local_directory`` (renamed into place only when complete; a failed download leaves nothing under the final name),
or the result in base64 (at most ``max_inline_bytes``). Every request is a GET or a read-only action, safe to
re-send. A record without a file fails with ``reason: no_file``. The result: ``success`` with the record's edit
link and id, ``file_name``, ``file_size``, ``mime_type`` and ``file_path`` or ``file_content``; properties
``file_name``, ``file_size``, ``sha256``, ``transfer``. Its options are :class:`~connector.dataverse.operations.
file_options.DownloadFileOptions`. Not for uploads: :mod:`connector.dataverse.operations.file_uploads`.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import unquote

import requests

from connector.dataverse.odata.answers import json_body
from connector.dataverse.odata.literals import guid_of, is_guid
from connector.dataverse.operations.file_contents import FileSink, file_sink, plain_file_name
from connector.dataverse.operations.file_options import DownloadFileOptions
from connector.dataverse.operations.file_targets import FileTarget, file_target, record_id_of
from connector.dataverse.operations.inputs import document_query_parameters
from connector.dataverse.operations.outcomes import error_result, properties_of, success_result
from connector.dataverse.operations.running import OperationContext
from connector.errors import FailureType, TransientError
from connector.numerals import whole_number
from connector.results import ErrorInfo, OperationResult, ResultStatus

__all__ = ["download_file", "header_file_name"]

_CONTENT_RANGE: Final = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.ASCII)
MOST_FILE_BYTES: Final = 10 * 1024**3
"""The largest file a file column holds (10 GB, Learn: "File columns"): a download of unknown size that goes on past
its column's ``MaxSizeInKB``, or past this when the column does not say, is not the file."""
_OCTET_STREAM: Final = "application/octet-stream"


class _NoFileError(Exception):
    """The record's column holds no file."""


def download_file(
    context: OperationContext[DownloadFileOptions], index: int, document: Mapping[str, Any]
) -> OperationResult:
    """Download the file of one document's record.

    :param context: the run.
    :param index: the document's index.
    :param document: the record's address (and optionally ``file_path`` or ``file_stream``).
    :returns: ``success`` with where the content went, or the error result.
    """
    found = file_target(context, document)
    options = context.options
    parameters = list(document_query_parameters(document, context.common.query_parameters))
    if found.column.kind == "image" and options.image_size == "full":
        parameters.append(("size", "full"))
    if options.transfer == "blocks" and not (found.column.kind == "image" and options.image_size == "thumbnail"):
        return _blocks(context, index, document, found, parameters)
    return _ranges(context, index, document, found, parameters, single=options.transfer == "single")


class _Download:
    """One download in progress: the file's name and type, once the service said them."""

    def __init__(self, context: OperationContext[DownloadFileOptions], document: Mapping[str, Any]) -> None:
        self.context = context
        self.document = document
        self.name = ""
        self.mime_type = _OCTET_STREAM
        self.size = 0

    def open(self, name: str, mime_type: str, size: int) -> FileSink:
        options = self.context.options
        self.name, self.mime_type, self.size = name, mime_type or _OCTET_STREAM, size
        return file_sink(
            self.document,
            output=options.output,
            directory=options.local_directory,
            service_name=name or "file",
            overwrite=options.overwrite,
            limit=options.max_inline_bytes,
        )


def _ranges(
    context: OperationContext[DownloadFileOptions],
    index: int,
    document: Mapping[str, Any],
    found: FileTarget,
    parameters: list[tuple[str, str]],
    *,
    single: bool,
) -> OperationResult:
    client = context.client
    url = client.url(f"{found.url}/$value", parameters)
    block = context.options.block_size
    download = _Download(context, document)
    sink: FileSink | None = None
    offset = 0
    open_ended = False  # the last answer was a full block of a file whose size no answer said
    try:
        while True:
            ranged = {} if single else {"Range": f"bytes={offset}-{offset + block - 1}"}
            response = client.transport.send("GET", url, headers=client.headers(extra=ranged))
            if response.status_code == 204 or (response.status_code == 200 and not response.content and offset == 0):
                raise _NoFileError
            if response.status_code == 416 and open_ended and sink is not None:
                break  # the range starts at the file's end: the last full block was the last
            if response.status_code >= 400:
                return _error(context, response, index, found)
            if response.status_code == 200 and offset > 0:
                # The whole file again, not the range asked for: appended, it would follow the blocks already kept.
                raise TransientError(
                    f"The service answered the range from byte {offset} of the file with the whole file (200)"
                )
            if response.status_code == 206:
                _check_range(response, offset, block)
            total = _total(response)
            if sink is None:
                name = header_file_name(response.headers.get("x-ms-file-name", ""))
                mime = response.headers.get("mimetype") or response.headers.get("Content-Type", "")
                size = total if total is not None else len(response.content)
                sink = download.open(name, mime.split(";")[0].strip(), size)
            content = response.content
            sink.write(content)
            offset += len(content)
            got = len(content)
            del content, response
            more = offset < total if total is not None else got >= block
            if single or got == 0 or not more:
                break
            most = found.column.max_bytes or MOST_FILE_BYTES
            if total is None and offset > most:
                raise TransientError(
                    f"The service sent {offset} bytes of a file its column holds at most {most} bytes of, and went on"
                )
            open_ended = total is None
        return _downloaded(found, download, sink, "single" if single else "ranges", index)
    except _NoFileError:
        return _no_file(found, index)
    finally:
        if sink is not None:
            sink.abandon()


def header_file_name(value: str) -> str:
    """The file name a download's ``x-ms-file-name`` carries. Microsoft documents only plain names there, sent as they
    are (``x-ms-file-name: 4094kb.txt``): a name is *plain* when it is printable ASCII without leading or trailing
    whitespace, ``%`` allowed (``Invoice%2001.pdf`` and ``100%25.txt`` are names of their own). A header cannot carry
    other names as they are, so the sandbox sends them as percent-encoded UTF-8 (as the upload's ``x-ms-file-name``
    query parameter carries them), and a value is decoded only when decoding it (strictly: valid UTF-8) gives a name
    that is not plain. So every name the sandbox encodes comes back, and a plain name is kept as sent unless it is
    itself such an encoding (``%C3%9Cbersicht.pdf`` is read as ``Übersicht.pdf``: no rule can tell the two apart).
    A value beyond ASCII is raw UTF-8 bytes, which ``requests`` reads as Latin-1, or else Latin-1 as it is.

    :param value: the header's value as ``requests`` read it.
    :returns: the name.
    """
    if not value.isascii():
        try:
            return value.encode("latin-1").decode("utf-8")
        except UnicodeError:
            return value
    if "%" in value:
        try:
            decoded = unquote(value, errors="strict")
        except UnicodeDecodeError:
            return value
        if not plain_file_name(decoded):
            return decoded
    return value


def _check_range(response: requests.Response, offset: int, block: int) -> None:
    """A partial answer must hold the range asked for: the bytes from ``offset``, at most ``block`` of them (its
    ``Content-Range``, when it has one, must say so). Other bytes written at ``offset`` would make another file.

    :raises TransientError: when it holds other bytes (a proxy's or a cache's answer, a service defect).
    """
    got = len(response.content)
    match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
    first, last = (whole_number(match.group(1)), whole_number(match.group(2))) if match else (offset, offset + got - 1)
    if got > block or first != offset or last != offset + got - 1:
        raise TransientError(
            f"The service answered the range of {block} bytes from byte {offset} with other bytes; nothing was kept"
        )


def _total(response: requests.Response) -> int | None:
    """The whole file's size: ``x-ms-file-size``, else the ``Content-Range`` total, else a 200's own length; ``None``
    for a 206 without either (``Content-Range: bytes 0-4194303/*``: the ranged loop then reads until a short block).
    """
    size = whole_number(response.headers.get("x-ms-file-size"))
    if size is not None:
        return size
    match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
    total = whole_number(match.group(3)) if match else None
    if total is not None:
        return total
    return len(response.content) if response.status_code == 200 else None


def _blocks(
    context: OperationContext[DownloadFileOptions],
    index: int,
    document: Mapping[str, Any],
    found: FileTarget,
    parameters: list[tuple[str, str]],
) -> OperationResult:
    client = context.client
    custom = [(name, value) for name, value in parameters if name != "size"]
    record_id = record_id_of(context, found)
    start = {"Target": found.reference(record_id), "FileAttributeName": found.column.logical_name}
    response = client.send("POST", "InitializeFileBlocksDownload", query=custom, json=start, idempotent=True)
    download = _Download(context, document)
    if response.status_code == 404:
        return _no_file(found, index)
    if response.status_code >= 400:
        return _error(context, response, index, found)
    answer = json_body(response)
    if not isinstance(answer, Mapping):
        raise TransientError("The service started the download without a FileContinuationToken")
    token, size = answer.get("FileContinuationToken"), answer.get("FileSizeInBytes")
    if not isinstance(token, str) or not isinstance(size, int):
        raise TransientError("The service started the download without a FileContinuationToken or a size")
    block = context.options.block_size if answer.get("IsChunkingSupported", True) is not False else max(size, 1)
    sink = download.open(str(answer.get("FileName") or ""), "", size)
    try:
        offset = 0
        while offset < size:
            length = min(block, size - offset)
            body = {"Offset": offset, "BlockLength": length, "FileContinuationToken": token}
            response = client.send("POST", "DownloadBlock", query=custom, json=body, idempotent=True)
            if response.status_code >= 400:
                return _error(context, response, index, found)
            data = _block_data(response)
            if not data:
                raise TransientError(f"The service gave an empty block at byte {offset} of {size}")
            sink.write(data)
            offset += len(data)
            del data, response
        return _downloaded(found, download, sink, "blocks", index)
    finally:
        sink.abandon()


def _block_data(response: requests.Response) -> bytes:
    answer = json_body(response)
    data = answer.get("Data") if isinstance(answer, Mapping) else None
    if not isinstance(data, str):
        raise TransientError("The service answered DownloadBlock without Data")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise TransientError("The service answered DownloadBlock with Data that is not base64") from None


def _record_id(found: FileTarget) -> str | None:
    return guid_of(found.target.record_id) if is_guid(found.target.record_id) else None


def _downloaded(found: FileTarget, download: _Download, sink: FileSink, transfer: str, index: int) -> OperationResult:
    record_id = _record_id(found)
    payload = found.payload(record_id)
    payload.update({"file_name": download.name, "file_size": sink.written, "mime_type": download.mime_type})
    payload.update(sink.finish())
    properties = {
        **found.properties(record_id),
        **properties_of(
            file_name=download.name, file_size=sink.written, sha256=sink.sha256.hexdigest(), transfer=transfer
        ),
    }
    return success_result(payload, properties, index)


def _no_file(found: FileTarget, index: int) -> OperationResult:
    info = ErrorInfo(
        message=f"The record has no file in {found.column.logical_name}",
        failure_type=FailureType.OPERATION.value,
        field="options.column",
    )
    properties = {**found.properties(_record_id(found)), "reason": "no_file"}
    return OperationResult(status=ResultStatus.FAILED, properties=properties, error=info, input_index=index)


def _error(
    context: OperationContext[DownloadFileOptions],
    response: requests.Response,
    index: int,
    found: FileTarget,
) -> OperationResult:
    return error_result(
        context.client.transport,
        response,
        index,
        application_errors=context.common.return_application_errors,
        reason="not_found" if response.status_code == 404 else None,
        properties=found.properties(_record_id(found)),
    )
