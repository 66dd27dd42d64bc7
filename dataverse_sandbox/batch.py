"""Dataverse ``$batch``: many Web API requests in one ``multipart/mixed`` POST (reference §3.10).

What it is for: :func:`handle_batch` reads a batch, runs its parts in order through the server's own request
dispatcher, and writes the multipart response: change sets are atomic (through a transaction the storage
provides), ``Content-ID`` references (``$1`` in URLs and in ``@odata.bind`` / ``@odata.id`` values) resolve to
the URL of the entity an earlier part created, processing stops at the first failure unless the client sent
``Prefer: odata.continue-on-error``, and at most ``max_parts`` requests are accepted.

What it is not for: the wire format itself (``multipart``), the requests' meaning (the dispatcher), or
service-protection accounting: a batch reaches the limits as one request, and the dispatcher must not send its
parts through the limits again.

The seam with the server:

* ``dispatch(request) -> response`` serves one inner request exactly as if it had arrived on its own. Inner
  requests carry the outer request's ``Authorization`` header (unless a part has its own) and nothing else of
  the outer request: not its ``Prefer`` (a part that wants ``return=representation`` says so itself). Their
  environ has ``dataverse_sandbox.batch`` set to ``True``.
* ``transaction()`` returns a context manager that commits when the block ends normally and rolls back when an
  exception leaves it. Each change set runs inside one; a failing change set raises :class:`ChangeSetFailedError`
  inside it. Without a transaction, change sets are not atomic.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from werkzeug.datastructures import Headers
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from dataverse_sandbox.middleware import ENVIRON_BATCH, ENVIRON_PRINCIPAL
from dataverse_sandbox.multipart import (
    BatchFormatError,
    ResponsePart,
    boundary_of,
    parse_http_request,
    render_multipart,
    split_multipart,
)
from dataverse_sandbox.request_body import InvalidJsonError, decode_json

__all__ = ["BATCH_ERROR_CODE", "MAX_BATCH_PARTS", "ChangeSetFailedError", "Transaction", "handle_batch"]

logger = logging.getLogger(__name__)

#: Dataverse's documented limit of requests in one batch.
MAX_BATCH_PARTS = 1000
#: The code of batch-level format errors. Not documented; Dataverse reports OData-layer errors with it.
BATCH_ERROR_CODE = "0x80060888"
#: The code of an unexpected failure of one part.
_UNEXPECTED_CODE = "0x80040216"

Dispatch = Callable[[Request], Response]
Transaction = Callable[[], AbstractContextManager[Any]]

#: OData system resources that look like ``$n`` references but are not.
_SYSTEM_RESOURCES = frozenset({"$metadata", "$batch", "$entity", "$crossjoin", "$all", "$root", "$ref"})
_REFERENCE = re.compile(r"^\$([^/?()$]+)(.*)$", re.DOTALL)
_JSON_ERROR_TYPE = "application/json; odata.metadata=minimal"


class ChangeSetFailedError(Exception):
    """A part of a change set failed: raised inside the change set's transaction so that it rolls back."""


@dataclass(frozen=True)
class _Operation:
    content_id: str | None
    method: str
    target: str
    headers: Headers
    body: bytes


@dataclass(frozen=True)
class _ChangeSet:
    operations: tuple[_Operation, ...]


class _ReferenceError(Exception):
    def __init__(self, reference: str) -> None:
        super().__init__(f"Content-ID Reference: '{reference}' does not exist in the batch context.")
        self.message = str(self)


def _error(status: int, code: str, message: str) -> Response:
    return Response(
        json.dumps({"error": {"code": code, "message": message}}),
        status=status,
        headers={"OData-Version": "4.0"},
        content_type=_JSON_ERROR_TYPE,
    )


def _reference_of(value: str) -> tuple[str, str] | None:
    """``$1/lastname`` → (``1``, ``/lastname``); ``None`` when the value is not a reference."""
    match = _REFERENCE.match(value)
    if match is None or f"${match.group(1)}" in _SYSTEM_RESOURCES:
        return None
    return match.group(1), match.group(2)


def _body_references(value: Any, bound: bool = False) -> Iterator[tuple[str, str]]:
    """Every ``$n`` reference in ``@odata.bind`` and ``@odata.id`` values of a decoded JSON body."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _body_references(item, key.endswith("@odata.bind") or key == "@odata.id")
    elif isinstance(value, list):
        for item in value:
            yield from _body_references(item, bound)
    elif bound and isinstance(value, str):
        reference = _reference_of(value)
        if reference is not None:
            yield reference


def _replace_references(value: Any, resolve: Callable[[str, str], str], bound: bool = False) -> Any:
    if isinstance(value, dict):
        return {
            key: _replace_references(item, resolve, key.endswith("@odata.bind") or key == "@odata.id")
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_replace_references(item, resolve, bound) for item in value]
    if bound and isinstance(value, str):
        reference = _reference_of(value)
        if reference is not None:
            return resolve(*reference)
    return value


def _json_body(operation: _Operation) -> Any:
    if operation.body.strip()[:1] not in (b"{", b"["):
        return None
    try:
        return decode_json(operation.body)
    except InvalidJsonError:
        return None  # the dispatcher reports the bad body as it would outside a batch


def _references(operation: _Operation) -> list[str]:
    found = []
    url_reference = _reference_of(operation.target)
    if url_reference is not None:
        found.append(url_reference[0])
    found.extend(content_id for content_id, _ in _body_references(_json_body(operation)))
    return found


def _parse_operation(part_headers: Headers, body: bytes) -> _Operation:
    message = parse_http_request(body)
    content_id = part_headers.get("Content-ID") or message.headers.get("Content-ID")
    if urlsplit(message.target).path.rstrip("/").endswith("$batch"):
        raise BatchFormatError("A batch request cannot contain another batch request.")
    return _Operation(content_id, message.method, message.target, message.headers, message.body)


def _parse(request: Request, max_parts: int) -> list[_Operation | _ChangeSet]:
    mimetype, boundary = boundary_of(request.headers.get("Content-Type"))
    if mimetype != "multipart/mixed" or boundary is None:
        raise BatchFormatError("The batch request must have Content-Type multipart/mixed with a boundary.")
    items: list[_Operation | _ChangeSet] = []
    count = 0
    for part in split_multipart(request.get_data(), boundary):
        part_type, part_boundary = boundary_of(part.headers.get("Content-Type"))
        if part_type == "application/http":
            items.append(_parse_operation(part.headers, part.body))
            count += 1
        elif part_type == "multipart/mixed" and part_boundary is not None:
            operations = []
            for inner in split_multipart(part.body, part_boundary):
                inner_type, _ = boundary_of(inner.headers.get("Content-Type"))
                if inner_type != "application/http":
                    raise BatchFormatError("A change set can contain only application/http parts.")
                operation = _parse_operation(inner.headers, inner.body)
                if operation.method in ("GET", "HEAD"):
                    raise BatchFormatError("GET requests are not allowed in a change set.")
                operations.append(operation)
            items.append(_ChangeSet(tuple(operations)))
            count += len(operations)
        else:
            raise BatchFormatError(f"Unsupported Content-Type of a batch part: {part_type or 'none'}.")
        if count > max_parts:
            raise BatchFormatError(f"The batch contains more than {max_parts} requests, the maximum allowed.")
    return items


def _check_references(items: list[_Operation | _ChangeSet]) -> None:
    """Refuse a reference to a ``Content-ID`` that no earlier part declared, before anything runs."""
    batch_ids: set[str] = set()
    for item in items:
        operations = item.operations if isinstance(item, _ChangeSet) else (item,)
        local_ids: set[str] = set()
        for operation in operations:
            for content_id in _references(operation):
                if content_id not in local_ids and content_id not in batch_ids:
                    raise _ReferenceError(f"${content_id}")
            if operation.content_id is not None:
                if isinstance(item, _ChangeSet) and operation.content_id in local_ids:
                    raise BatchFormatError(
                        f"The Content-ID '{operation.content_id}' appears more than once in a change set."
                    )
                local_ids.add(operation.content_id)
        batch_ids |= local_ids


def _continue_on_error(request: Request) -> bool:
    for header in request.headers.getlist("Prefer"):
        for preference in header.split(","):
            name, _, value = preference.strip().partition("=")
            if name.strip().lower() in ("odata.continue-on-error", "continue-on-error"):
                return value.strip().strip('"').lower() != "false"
    return False


class _Run:
    """One batch's execution state: dispatcher, outer request and the entity URLs of ``Content-ID`` parts."""

    def __init__(self, request: Request, dispatch: Dispatch) -> None:
        self._request = request
        self._dispatch = dispatch
        self.batch_urls: dict[str, str | None] = {}
        path = request.path
        self._base_path = path[: path.rfind("/") + 1] or "/"

    def execute(self, operation: _Operation, local_urls: dict[str, str | None]) -> Response:
        """Run one operation; references resolve in ``local_urls`` first, then in the batch's."""

        def resolve(content_id: str, rest: str) -> str:
            url = local_urls.get(content_id) or self.batch_urls.get(content_id)
            if url is None:
                raise _ReferenceError(f"${content_id}")
            return url + rest

        try:
            target = operation.target
            reference = _reference_of(target)
            if reference is not None:
                target = resolve(*reference)
            body = operation.body
            decoded = _json_body(operation)
            if decoded is not None and any(True for _ in _body_references(decoded)):
                body = json.dumps(_replace_references(decoded, resolve)).encode()
        except _ReferenceError as exc:
            response = _error(400, BATCH_ERROR_CODE, exc.message)
        else:
            response = self._call(operation, target, body)
        if operation.content_id is not None:
            location = response.headers.get("OData-EntityId") or response.headers.get("Location")
            local_urls[operation.content_id] = location if response.status_code < 400 else None
        return response

    def _call(self, operation: _Operation, target: str, body: bytes) -> Response:
        inner = self._build(operation, target, body)
        try:
            response = self._dispatch(inner)
        except Exception:
            logger.exception("a $batch part failed unexpectedly: %s %s", operation.method, inner.path)
            return _error(500, _UNEXPECTED_CODE, "An unexpected error occurred.")
        return _decorate(response)

    def _build(self, operation: _Operation, target: str, body: bytes) -> Request:
        outer = self._request
        split = urlsplit(target)
        absolute = bool(split.scheme and split.netloc) or target.startswith("/")
        # A relative target is relative to the service root, as OData allows.
        path = split.path if absolute else self._base_path + split.path
        headers = Headers([(k, v) for k, v in operation.headers.items() if k.lower() != "content-id"])
        environ_base: dict[str, Any] = {"REMOTE_ADDR": outer.remote_addr or "127.0.0.1", ENVIRON_BATCH: True}
        authorization = outer.headers.get("Authorization")
        if "Authorization" not in headers and authorization is not None:
            headers["Authorization"] = authorization
            if ENVIRON_PRINCIPAL in outer.environ:
                # Same credentials as the outer request: reuse the principal it was verified as.
                environ_base[ENVIRON_PRINCIPAL] = outer.environ[ENVIRON_PRINCIPAL]
        builder = EnvironBuilder(
            path=path,
            query_string=split.query,
            method=operation.method,
            base_url=f"{outer.scheme}://{outer.host}",
            headers=headers,
            data=body,
            environ_base=environ_base,
        )
        try:
            return builder.get_request()
        finally:
            builder.close()


def _decorate(response: Response) -> Response:
    """Dress a part's response as Dataverse does inside a batch."""
    content_type = response.headers.get("Content-Type", "")
    if (
        response.status_code < 400
        and content_type.startswith("application/json")
        and "odata.metadata=minimal" in content_type
        and "odata.streaming" not in content_type
    ):
        response.headers["Content-Type"] = content_type + "; odata.streaming=true"
    if response.status_code in (204, 304) and not response.get_data():
        response.headers.pop("Content-Type", None)  # werkzeug adds a default; a body-less part has none
    if response.status_code >= 400 and "REQ_ID" not in response.headers:
        response.headers["REQ_ID"] = str(uuid.uuid4())
    return response


def _run_changeset(
    run: _Run, changeset: _ChangeSet, transaction: Transaction
) -> tuple[list[ResponsePart], ResponsePart | None]:
    """Run a change set atomically. :returns: its parts on success, or the failing part."""
    local_urls: dict[str, str | None] = {}
    parts: list[ResponsePart] = []
    failure: ResponsePart | None = None
    try:
        with transaction():
            for operation in changeset.operations:
                response = run.execute(operation, local_urls)
                part = ResponsePart(response=response, content_id=operation.content_id)
                if response.status_code >= 400:
                    failure = part
                    raise ChangeSetFailedError
                parts.append(part)
    except ChangeSetFailedError:
        pass
    if failure is None:
        run.batch_urls.update(local_urls)
    return parts, failure


def handle_batch(
    request: Request,
    dispatch: Dispatch,
    *,
    max_parts: int = MAX_BATCH_PARTS,
    transaction: Transaction | None = None,
) -> Response:
    """Serve a ``POST …/$batch`` request.

    :param request: the outer request (its method and path are the caller's business).
    :param dispatch: serves one inner request; it must not count it against the service-protection limits.
    :param max_parts: the most requests (change-set members included) a batch may hold.
    :param transaction: a factory of context managers that make a change set atomic (see the module docs).
    :returns: ``200`` with every part answered; ``400 BadRequest`` holding only the failing part when a part
        failed without ``Prefer: odata.continue-on-error``; ``400`` with an error body for a malformed batch,
        too many parts, a GET in a change set or a forward ``Content-ID`` reference.
    """
    try:
        items = _parse(request, max_parts)
        _check_references(items)
    except (BatchFormatError, _ReferenceError) as exc:
        return _error(400, BATCH_ERROR_CODE, exc.message)
    continue_on_error = _continue_on_error(request)
    open_transaction: Transaction = transaction or contextlib.nullcontext
    run = _Run(request, dispatch)
    answered: list[ResponsePart] = []
    failed: ResponsePart | None = None
    for item in items:
        if isinstance(item, _ChangeSet):
            parts, failed = _run_changeset(run, item, open_transaction)
            if failed is None:
                boundary = f"changesetresponse_{uuid.uuid4()}"
                answered.append(ResponsePart(changeset_boundary=boundary, parts=parts))
        else:
            response = run.execute(item, run.batch_urls)
            part = ResponsePart(response=response, content_id=item.content_id)
            failed = part if response.status_code >= 400 else None
            if failed is None:
                answered.append(part)
        if failed is not None:
            if not continue_on_error:
                return _multipart([failed], "400 BadRequest")
            answered.append(failed)
    return _multipart(answered, "200 OK")


def _multipart(parts: list[ResponsePart], status: str) -> Response:
    boundary = f"batchresponse_{uuid.uuid4()}"
    return Response(
        render_multipart(boundary, parts),
        status=status,
        headers={"OData-Version": "4.0"},
        content_type=f"multipart/mixed; boundary={boundary}",
    )
