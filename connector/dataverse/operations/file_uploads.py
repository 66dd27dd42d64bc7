"""The Upload File operation: one file per input document into a record's file or image column, in one request or
in 4 MB blocks, with memory bounded by the block size whatever the file's size.

* **One request** (``transfer: single``, or ``auto`` for a file of known size up to ``single_request_max_bytes``):
  ``PATCH <record>/<column>`` with the bytes (``Content-Type`` the file's type, its name in ``x-ms-file-name``,
  or in the ``x-ms-file-name`` query parameter when it is not ASCII, as Dataverse documents). Dataverse takes at
  most 128 MB in one request.
* **Blocks** (``transfer: blocks``, or ``auto`` for larger files and streams of unknown size):
  ``InitializeFileBlocksUpload`` (``Target``, ``FileAttributeName``, ``FileName``) → a continuation token; one
  ``UploadBlock`` per block (``BlockId``, the block in base64, at most 4 MB); ``CommitFileBlocksUpload``
  (``BlockList`` in order, ``FileName``, ``MimeType``) → ``FileId``, ``FileSizeInBytes``. One block is in memory at
  a time (with its base64 form and the request body: about five times the block size).

Before anything is sent, the file's size (when known) is checked against the column's ``MaxSizeInKB``; a stream's
size is counted as it is read, and a stream that turns out too large is not committed. A file larger than the
column holds, a column the table does not have, a path outside ``local_directory``: each fails that document only,
naming what to fix. ``UploadBlock`` and the single ``PATCH`` replace what they write, so they are re-sent after a
lost answer; the commit is not. The result: ``success`` with the record's edit link and id, ``file_name``,
``file_size``, ``mime_type``, ``file_id`` (from the commit) and properties ``file_name``, ``file_size``,
``sha256`` and ``transfer``. Its options are :class:`~connector.dataverse.operations.file_options.
UploadFileOptions`. Not for downloads: :mod:`connector.dataverse.operations.file_downloads`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any, Final

import requests

from connector.dataverse.odata.answers import json_body
from connector.dataverse.odata.literals import guid_of, is_guid
from connector.dataverse.operations.file_contents import FileSource, file_source, plain_file_name
from connector.dataverse.operations.file_options import UploadFileOptions
from connector.dataverse.operations.file_targets import FileTarget, file_target, record_id_of
from connector.dataverse.operations.inputs import DocumentError, document_query_parameters
from connector.dataverse.operations.outcomes import error_result, properties_of, success_result
from connector.dataverse.operations.running import OperationContext
from connector.errors import TransientError
from connector.results import OperationResult

__all__ = ["SINGLE_REQUEST_LIMIT", "upload_file"]

SINGLE_REQUEST_LIMIT: Final = 128 * 1024 * 1024
"""Dataverse's largest single request (Learn: "Work with file column definitions")."""


def upload_file(
    context: OperationContext[UploadFileOptions], index: int, document: Mapping[str, Any]
) -> OperationResult:
    """Upload the file one document carries into its record's column.

    :param context: the run.
    :param index: the document's index.
    :param document: the record's address and the file (``file_path``, ``file_content`` or ``file_stream``).
    :returns: ``success`` with the file's name, size and id, or the error result.
    """
    found = file_target(context, document)
    source = file_source(document, context.options.local_directory)
    try:
        _check_size(found, source, source.size)
        options = context.options
        single = options.transfer == "single" or (
            options.transfer == "auto" and source.size is not None and source.size <= options.single_request_max_bytes
        )
        if single:
            return _single(context, index, document, found, source)
        return _blocks(context, index, document, found, source)
    finally:
        source.close()


def _check_size(found: FileTarget, source: FileSource, size: int | None) -> None:
    limit = found.column.max_bytes
    if size is not None and limit is not None and size > limit:
        raise DocumentError(
            source.member,
            f"the file is {size} bytes; the column {found.column.logical_name} holds at most "
            f"{found.column.max_size_kb} KB ({limit} bytes, its MaxSizeInKB)",
        )


def _single(
    context: OperationContext[UploadFileOptions],
    index: int,
    document: Mapping[str, Any],
    found: FileTarget,
    source: FileSource,
) -> OperationResult:
    if source.size is not None and source.size > SINGLE_REQUEST_LIMIT:
        raise DocumentError(source.member, "is larger than Dataverse's 128 MB for one request: use transfer blocks")
    pieces: list[bytes] = []
    for piece in source.blocks(1024 * 1024):
        pieces.append(piece)
        if source.read_bytes > SINGLE_REQUEST_LIMIT:
            # A stream of unknown size: stop reading as soon as it cannot be one request.
            raise DocumentError(source.member, "is larger than Dataverse's 128 MB for one request: use transfer blocks")
    content = b"".join(pieces)
    del pieces
    _check_size(found, source, len(content))
    client = context.client
    query = list(document_query_parameters(document, context.common.query_parameters))
    headers = client.headers(extra={"Content-Type": source.mime_type})
    if plain_file_name(source.name):
        # A header value cannot start or end with a space, nor hold a control character: such a name travels as the
        # query parameter, as a name beyond ASCII does.
        headers["x-ms-file-name"] = source.name
    else:
        query.append(("x-ms-file-name", source.name))
    # Replacing the column's content with the same bytes twice leaves the same file: safe to re-send.
    response = client.transport.send(
        "PATCH", client.url(found.url, query), headers=headers, data=content, idempotent=True
    )
    if response.status_code >= 400:
        return _error(context, response, index, found)
    record_id = guid_of(found.target.record_id) if is_guid(found.target.record_id) else None
    return _uploaded(found, source, record_id, None, "single", response.status_code, index)


def _blocks(
    context: OperationContext[UploadFileOptions],
    index: int,
    document: Mapping[str, Any],
    found: FileTarget,
    source: FileSource,
) -> OperationResult:
    client = context.client
    parameters = document_query_parameters(document, context.common.query_parameters)
    record_id = record_id_of(context, found)
    start = {
        "Target": found.reference(record_id),
        "FileAttributeName": found.column.logical_name,
        "FileName": source.name,
    }
    response = client.send("POST", "InitializeFileBlocksUpload", query=parameters, json=start)
    if response.status_code >= 400:
        return _error(context, response, index, found)
    token = _answer(response).get("FileContinuationToken")
    if not isinstance(token, str):
        raise TransientError("The service started the upload without a FileContinuationToken")
    block_ids: list[str] = []
    url = client.url("UploadBlock", parameters)
    headers = client.headers(extra={"Content-Type": "application/json; charset=utf-8"})
    tail = b'","FileContinuationToken":' + json.dumps(token).encode("utf-8") + b"}"
    for number, block in enumerate(source.blocks(context.options.block_size)):
        _check_size(found, source, source.read_bytes)
        # Every block id has the same length, as Dataverse requires: base64 of a zero-padded number.
        block_id = base64.b64encode(f"block-{number:012d}".encode("ascii")).decode("ascii")
        # The body is written as bytes around the base64 block: one copy of it, not the three a JSON encoder makes.
        body = b"".join((b'{"BlockId":"', block_id.encode("ascii"), b'","BlockData":"', base64.b64encode(block), tail))
        del block
        # The same block id with the same data replaces the block: safe to re-send after a lost answer.
        response = client.transport.send("POST", url, headers=headers, data=body, idempotent=True)
        del body
        if response.status_code >= 400:
            return _error(context, response, index, found)
        block_ids.append(block_id)
    if source.size is not None and source.read_bytes != source.size:
        raise DocumentError(
            source.member, f"gave {source.read_bytes} bytes where file_size said {source.size}; nothing was committed"
        )
    commit = {
        "BlockList": block_ids,
        "FileName": source.name,
        "MimeType": source.mime_type,
        "FileContinuationToken": token,
    }
    response = client.send("POST", "CommitFileBlocksUpload", query=parameters, json=commit)
    if response.status_code >= 400:
        return _error(context, response, index, found)
    answer = _answer(response)
    file_id = answer.get("FileId") if isinstance(answer.get("FileId"), str) else None
    return _uploaded(found, source, record_id, file_id, "blocks", response.status_code, index)


def _answer(response: requests.Response) -> Mapping[str, Any]:
    body = json_body(response) if response.content else {}
    return body if isinstance(body, Mapping) else {}


def _uploaded(
    found: FileTarget,
    source: FileSource,
    record_id: str | None,
    file_id: str | None,
    transfer: str,
    status: int,
    index: int,
) -> OperationResult:
    payload = found.payload(record_id)
    payload.update({"file_name": source.name, "file_size": source.read_bytes, "mime_type": source.mime_type})
    if file_id:
        payload["file_id"] = file_id
    properties = {
        **found.properties(record_id),
        **properties_of(
            file_name=source.name,
            file_size=source.read_bytes,
            sha256=source.sha256.hexdigest(),
            transfer=transfer,
            http_status=status,
        ),
    }
    return success_result(payload, properties, index)


def _error(
    context: OperationContext[UploadFileOptions], response: requests.Response, index: int, found: FileTarget
) -> OperationResult:
    reason = "not_found" if response.status_code == 404 else None
    return error_result(
        context.client.transport,
        response,
        index,
        application_errors=context.common.return_application_errors,
        reason=reason,
        properties=found.properties(None),
    )
