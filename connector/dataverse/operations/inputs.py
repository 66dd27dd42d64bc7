"""Input documents: which record a document addresses, what it may send, and its per-document controls.

A document is a JSON object. Besides the record's own members it may carry:

* ``@odata.editLink``: the record's URL (absolute, or relative to the API root), as Get and Query return it;
* ``@odata.etag``: the record's version, for the concurrency headers;
* ``@odata.id``: for associate and disassociate, the related record;
* ``@connector.query_parameters``: an object of custom URL query parameters overriding the operation's (a
  ``null`` value removes one).

A record is addressed by the operation's alternate-key fields when it has some, else by ``@odata.editLink``, else by
its primary key member. Bodies sent to the service keep every member exactly as given (``<Nav>@odata.bind`` keys
keep their case), minus what only describes a read record and cannot be written: instance annotations
(``@odata.etag``, ``name@OData.Community.Display.V1.FormattedValue`` ...), lookup values (``_<attribute>_value``:
lookups are written through ``<nav>@odata.bind``) and the ``@connector.`` controls. So a record from Get or Query
can go straight into Update.
A problem with one document raises :class:`DocumentError`, which fails that document only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from connector.dataverse.client import DataverseClient, ForeignLinkError
from connector.dataverse.metadata.cache import MetadataCache
from connector.dataverse.odata.literals import LiteralError, entity_path, guid_of, record_id_of
from connector.dataverse.operations.options import RESERVED_QUERY_NAMES
from connector.errors import OperationError

__all__ = [
    "EDIT_LINK",
    "ETAG",
    "ODATA_ID",
    "QUERY_PARAMETERS",
    "DocumentError",
    "Target",
    "as_document",
    "document_etag",
    "document_query_parameters",
    "resolve_target",
    "write_body",
]

EDIT_LINK: Final = "@odata.editLink"
ETAG: Final = "@odata.etag"
ODATA_ID: Final = "@odata.id"
QUERY_PARAMETERS: Final = "@connector.query_parameters"
_KEPT_ANNOTATIONS: Final = frozenset({"@odata.type"})
_BIND_SUFFIX: Final = "@odata.bind"
_LOOKUP_VALUE: Final = re.compile(r"^_\w+_value$")


class DocumentError(OperationError):
    """One input document cannot be used; the message names the member to fix.

    :param field: the document member (or ``(document)`` for the whole document).
    :param message: what is wrong.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", field=field)


@dataclass(frozen=True)
class Target:
    """The record a document addresses.

    :param url: its absolute URL.
    :param record_id: its primary key when known, else the alternate key's text.
    :param consumed: document members used to address it (not parameters of an action).
    """

    url: str
    record_id: str | None
    consumed: frozenset[str] = frozenset()


def as_document(document: Any) -> Mapping[str, Any]:
    """:returns: the document, checked to be a JSON object.

    :raises DocumentError: when it is not one.
    """
    if isinstance(document, Mapping):
        return document
    kind = "null" if document is None else "a list" if isinstance(document, list) else type(document).__name__
    raise DocumentError("(document)", f"must be a JSON object, not {kind}")


def write_body(document: Mapping[str, Any]) -> dict[str, Any]:
    """The body to send for a document: its members minus read-only annotations and connector controls.

    :param document: the input document.
    :returns: a new dict; nested records (deep insert) are cleaned the same way.
    """
    body: dict[str, Any] = {}
    for name, value in document.items():
        if name.startswith("@"):
            if name in _KEPT_ANNOTATIONS:
                body[name] = value
            continue
        if "@" in name and not name.endswith(_BIND_SUFFIX):
            continue
        if _LOOKUP_VALUE.match(name):
            # A lookup's read-only value (as Get and Query return it); lookups are written through binds.
            continue
        body[name] = _clean(value)
    return body


def _clean(value: Any) -> Any:
    if isinstance(value, Mapping):
        return write_body(value)
    if isinstance(value, list):
        return [_clean(item) for item in value]
    return value


def document_etag(document: Mapping[str, Any]) -> str | None:
    """:returns: the document's ``@odata.etag``, if it has one.

    :raises DocumentError: when it is not text.
    """
    etag = document.get(ETAG)
    if etag is None or etag == "":
        return None
    if not isinstance(etag, str):
        raise DocumentError(ETAG, 'must be text such as W/"468026" or *')
    return etag


def document_query_parameters(
    document: Mapping[str, Any], base: Sequence[tuple[str, str]]
) -> tuple[tuple[str, str], ...]:
    """The custom query parameters for one document: the operation's, overridden by the document's.

    :param document: the input document.
    :param base: the operation's parameters, in order.
    :returns: the parameters to send, in order (overrides in place, additions last).
    :raises DocumentError: when the document's ``@connector.query_parameters`` is malformed.
    """
    override = document.get(QUERY_PARAMETERS)
    if override is None:
        return tuple(base)
    if not isinstance(override, Mapping):
        raise DocumentError(QUERY_PARAMETERS, "must be an object of parameter names and values")
    merged = dict(base)
    for name, value in override.items():
        if not isinstance(name, str) or not name.strip():
            raise DocumentError(QUERY_PARAMETERS, "has a blank parameter name")
        if name in RESERVED_QUERY_NAMES:
            raise DocumentError(f"{QUERY_PARAMETERS}.{name}", "is set by the operation itself")
        if value is None:
            merged.pop(name, None)
        elif isinstance(value, str | int | float) and not isinstance(value, bool):
            merged[name] = str(value)
        elif isinstance(value, bool):
            merged[name] = "true" if value else "false"
        else:
            raise DocumentError(f"{QUERY_PARAMETERS}.{name}", "must be text, a number, a boolean or null")
    return tuple(merged.items())


def resolve_target(
    client: DataverseClient,
    metadata: MetadataCache,
    entity_set: str,
    key_fields: Sequence[str],
    document: Mapping[str, Any],
) -> Target:
    """Find the record a document addresses.

    :param client: the Web API client (to resolve links).
    :param metadata: the connection's metadata (the primary key's name, read only when needed).
    :param entity_set: the operation's object type.
    :param key_fields: the alternate key's members, when the operation has some.
    :param document: the input document.
    :returns: the record's URL and id.
    :raises DocumentError: when the document does not address a record, or addresses one badly.
    """
    if key_fields:
        missing = [name for name in key_fields if document.get(name) is None]
        if missing:
            raise DocumentError(missing[0], "is missing from the document (it is part of the alternate key)")
        try:
            path = entity_path(entity_set, [(name, document[name], None) for name in key_fields])
        except LiteralError as error:
            raise DocumentError(key_fields[0], str(error)) from None
        url = client.url(path)
        return Target(url, record_id_of(path), frozenset(key_fields))
    link = document.get(EDIT_LINK)
    if link is not None:
        if not isinstance(link, str) or not link.strip():
            raise DocumentError(EDIT_LINK, "must be the record's URL")
        try:
            url = client.link(link.strip())
        except ForeignLinkError as error:
            raise DocumentError(EDIT_LINK, f"points to another service ({error})") from None
        return Target(url, record_id_of(url))
    primary_id = metadata.entity(entity_set).primary_id
    if primary_id and document.get(primary_id) is not None:
        try:
            record_id = guid_of(document[primary_id])
        except LiteralError as error:
            raise DocumentError(primary_id, str(error)) from None
        return Target(client.url(entity_path(entity_set, record_id)), record_id, frozenset({primary_id}))
    expected = f"{EDIT_LINK} or {primary_id!r}" if primary_id else EDIT_LINK
    raise DocumentError("(document)", f"does not say which record: it needs {expected}, or the operation key fields")
