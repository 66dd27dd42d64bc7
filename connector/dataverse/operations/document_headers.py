"""A document's own request headers (``@connector.headers``), overriding the run's, as
``@connector.query_parameters`` overrides its query parameters.

``{"@connector.headers": {"CallerObjectId": "<guid>", "x-correlation-id": "42", "MSCRM.SolutionUniqueName": null}}``:
each name sets or replaces a header of the run (names compare case-insensitively), ``null`` removes one. Names and
values are checked by :func:`~connector.dataverse.request_headers.header_problem` before anything is sent; the
impersonation and solution headers the options set may be overridden here (acting for another user per document),
the refused ones never. A problem fails that document only, naming the header.

:func:`for_document` gives a document's run context a client view carrying its headers;
:func:`document_scoped` wraps a per-document handler with it. Not for the run's own headers
(:mod:`connector.dataverse.request_headers`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Final, TypeVar

from connector.dataverse.operations.inputs import DocumentError
from connector.dataverse.operations.options import OperationOptions
from connector.dataverse.operations.running import DocumentHandler, OperationContext
from connector.dataverse.request_headers import CALLER_HEADERS, GUID_HEADERS, header_problem
from connector.results import OperationResult

__all__ = ["HEADERS", "document_headers", "document_scoped", "for_document"]

HEADERS: Final = "@connector.headers"
"""The document member holding a document's own headers."""

OptionsT = TypeVar("OptionsT", bound=OperationOptions)


def document_headers(document: Mapping[str, Any], base: Mapping[str, str]) -> dict[str, str]:
    """The headers one document's requests carry: the run's, overridden by the document's.

    :param document: the input document.
    :param base: the run's headers.
    :returns: the headers (the run's own dict, copied, when the document has none).
    :raises DocumentError: naming ``@connector.headers`` (or one of its names) when it is malformed.
    """
    override = document.get(HEADERS)
    if override is None:
        return dict(base)
    if not isinstance(override, Mapping):
        raise DocumentError(HEADERS, "must be an object of header names and values")
    merged = dict(base)
    folded = {name.lower(): name for name in merged}
    for key, value in override.items():
        name = key if isinstance(key, str) else ""
        if value is None:
            merged.pop(folded.get(name.lower(), name), None)
            continue
        problem = header_problem(name, value, allow_option_headers=True)
        if problem is not None:
            raise DocumentError(f"{HEADERS}.{name}" if name else HEADERS, problem[1])
        merged.pop(folded.get(name.lower(), name), None)
        merged[name] = value.strip("{}").lower() if name.lower() in GUID_HEADERS else value
        folded[name.lower()] = name
    present = [caller for caller in CALLER_HEADERS if caller.lower() in {name.lower() for name in merged}]
    if len(present) > 1:
        raise DocumentError(HEADERS, f"impersonates twice ({' and '.join(present)}): keep one of them")
    return merged


def for_document(context: OperationContext[OptionsT], document: Mapping[str, Any]) -> OperationContext[OptionsT]:
    """The run context one document is handled with: the run's, with a client carrying the document's headers.

    :param context: the run.
    :param document: the input document.
    :returns: ``context`` itself when the document has no headers of its own.
    :raises DocumentError: when its ``@connector.headers`` is malformed.
    """
    if HEADERS not in document:
        return context
    headers = document_headers(document, context.client.default_headers)
    return dataclasses.replace(context, client=context.client.scoped(headers))


def document_scoped(handler: DocumentHandler[OptionsT]) -> DocumentHandler[OptionsT]:
    """:returns: ``handler``, called with each document's own context (:func:`for_document`)."""

    def scoped(context: OperationContext[OptionsT], index: int, document: Mapping[str, Any]) -> OperationResult:
        return handler(for_document(context, document), index, document)

    return scoped
