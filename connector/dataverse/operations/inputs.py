"""Input documents: which record a document addresses, what it may send, and its per-document controls.

A document is a JSON object. Besides the record's own members it may carry:

* ``@odata.editLink``: the record's URL (absolute, or relative to the API root), as Get and Query return it;
* ``@odata.etag``: the record's version, for the concurrency headers;
* ``@odata.id``: for associate and disassociate, the related record;
* ``@connector.query_parameters``: an object of custom URL query parameters overriding the operation's (a
  ``null`` value removes one).

A record is addressed by the operation's alternate-key fields when it has some, else by ``@odata.editLink``, else by
its primary key member. A link a document gives (``@odata.editLink``, ``@odata.id``) must name exactly one record of
an entity set below the API root, ``<entity set>(<key>)``, on the API's origin (:func:`linked_record`); the request
then goes to the path rebuilt from the entity set and key it names, never to the document's text, and a link that
names anything else (a property, a function, ``..``, another origin or API version) fails the document before
anything is sent. Key values, ids and ETags are checked before they reach a URL or a header.

Bodies sent to the service keep every member exactly as given (``<Nav>@odata.bind`` keys keep their case), minus
what only describes a read record and cannot be written: instance annotations (``@odata.etag``,
``name@OData.Community.Display.V1.FormattedValue`` ...), lookup values (``_<attribute>_value``: lookups are written
through ``<nav>@odata.bind``) and the ``@connector.`` controls. So a record from Get or Query can go straight into
Update.
A problem with one document raises :class:`DocumentError`, which fails that document only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from connector.dataverse.client import DataverseClient, ForeignLinkError, MalformedLinkError, OutsideRootError
from connector.dataverse.metadata.cache import MetadataCache
from connector.dataverse.odata.literals import (
    LiteralError,
    RecordKey,
    entity_path,
    guid_of,
    parse_entity_path,
    record_id_of,
)
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
    "linked_record",
    "resolve_target",
    "write_body",
]

EDIT_LINK: Final = "@odata.editLink"
ETAG: Final = "@odata.etag"
ODATA_ID: Final = "@odata.id"
QUERY_PARAMETERS: Final = "@connector.query_parameters"
_KEPT_ANNOTATIONS: Final = frozenset({"@odata.type"})
_BIND_SUFFIX: Final = "@odata.bind"
_LOOKUP_VALUE: Final = re.compile(r"_\w+_value", re.ASCII)
# RFC 9110 entity-tag: [W/] DQUOTE *etagc DQUOTE, etagc printable ASCII but the quote (obs-text is not accepted).
_ETAG: Final = re.compile(r'(?:W/)?"[\x21\x23-\x7e]*"|\*')


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
    if type(document) is dict or isinstance(document, Mapping):
        return document
    kind = "null" if document is None else "a list" if isinstance(document, list) else type(document).__name__
    raise DocumentError("(document)", f"must be a JSON object, not {kind}")


def write_body(document: Mapping[str, Any]) -> dict[str, Any]:
    """The body to send for a document: its members minus read-only annotations and connector controls.

    :param document: the input document.
    :returns: a new dict; nested records (deep insert) are cleaned the same way.
    :raises DocumentError: naming the member, when its records nest deeper than :data:`MOST_NESTING` levels (a
        host's document that contains itself would otherwise end in a ``RecursionError``).
    """
    return _body(document, 0, "")


MOST_NESTING: Final = 32
"""The deepest nesting of records and lists a document may have (a deep insert is rarely more than two levels)."""

_PLAIN: Final = frozenset({str, int, float, bool, type(None)})


def _body(document: Mapping[str, Any], depth: int, field: str) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for name, value in document.items():
        if "@" in name:
            if name.startswith("@"):
                if name in _KEPT_ANNOTATIONS:
                    body[name] = value
                continue
            if not name.endswith(_BIND_SUFFIX):
                continue
        elif name.startswith("_") and _LOOKUP_VALUE.fullmatch(name):
            # A lookup's read-only value (as Get and Query return it); lookups are written through binds.
            continue
        # Most values are plain: tested by exact type first (a bulk run cleans every member of every record).
        body[name] = value if type(value) in _PLAIN else _clean(value, depth + 1, field or name)
    return body


def _clean(value: Any, depth: int, field: str) -> Any:
    if depth > MOST_NESTING and isinstance(value, Mapping | list):
        raise DocumentError(field, f"nests records more than {MOST_NESTING} levels deep (does it contain itself?)")
    if isinstance(value, Mapping):
        return _body(value, depth, field)
    if isinstance(value, list):
        return [_clean(item, depth + 1, field) for item in value]
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
    if not _ETAG.fullmatch(etag):
        # It goes into If-Match / If-None-Match (and into $batch parts as text): nothing but an entity tag may.
        raise DocumentError(ETAG, f'is not an entity tag such as W/"468026" or * (got {_shown(etag)})')
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
        if not _encodable(name):
            raise DocumentError(QUERY_PARAMETERS, f"has a name that is not valid Unicode text ({_shown(name)})")
        if isinstance(value, str) and not _encodable(value):
            raise DocumentError(f"{QUERY_PARAMETERS}.{name}", "is not valid Unicode text (a lone surrogate)")
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
        _, key, path = linked_record(client, EDIT_LINK, link, entity_set or None)
        return Target(client.url(path), key if isinstance(key, str) else record_id_of(path))
    primary_id = metadata.entity(entity_set).primary_id
    if primary_id and document.get(primary_id) is not None:
        try:
            record_id = guid_of(document[primary_id])
        except LiteralError as error:
            raise DocumentError(primary_id, str(error)) from None
        return Target(client.url(entity_path(entity_set, record_id)), record_id, frozenset({primary_id}))
    expected = f"{EDIT_LINK} or {primary_id!r}" if primary_id else EDIT_LINK
    raise DocumentError("(document)", f"does not say which record: it needs {expected}, or the operation key fields")


def linked_record(
    client: DataverseClient, member: str, link: Any, entity_set: str | None = None
) -> tuple[str, RecordKey, str]:
    """Check a link a document gives and rebuild the path of the one record it names.

    :param client: the Web API client (the API root and origin).
    :param member: the document member holding the link (``@odata.editLink``, ``@odata.id``), for the message.
    :param link: its value.
    :param entity_set: the entity set the record must belong to (the operation's object type); ``None``: any.
    :returns: the record's entity set, its key, and its path below the API root rebuilt from them (never the
        document's text).
    :raises DocumentError: naming ``member`` when the link is not one record's URL below the API root, on the API's
        origin, of ``entity_set``.
    """
    if not isinstance(link, str) or not link.strip():
        raise DocumentError(member, "must be the record's URL, e.g. accounts(<id>)")
    text = link.strip()
    try:
        record_set, key = parse_entity_path(client.record_path(text))
        path = entity_path(record_set, key)
    except ForeignLinkError as error:
        raise DocumentError(member, f"points to another service ({error}); nothing was sent") from None
    except (OutsideRootError, MalformedLinkError) as error:
        shown = "" if "carries a user name" in str(error) else f" (got {_shown(text)})"
        raise DocumentError(member, f"{error}; nothing was sent{shown}") from None
    except LiteralError as error:
        raise DocumentError(
            member,
            f"{error}: it must name one record below the API root, <entity set>(<key>), such as accounts(<id>); "
            f"nothing was sent (got {_shown(text)})",
        ) from None
    if entity_set is not None and record_set != entity_set:
        raise DocumentError(
            member, f"names a record of {record_set!r}, not of the operation's object type {entity_set!r}"
        )
    return record_set, key, path


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _shown(value: str) -> str:
    """:returns: ``value`` for a message: quoted, control characters escaped, at most 100 characters."""
    text = repr(value)
    return text if len(text) <= 100 else text[:97] + "..."
