"""Finding rows by key: primary keys, alternate keys, and entity references (``/contacts(<id>)`` in a bind).

Not for what happens to the row once found: see :mod:`.writes` and :mod:`.entities`.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

from .context import Call, Service
from .errors import DataverseError, alternate_key_not_found, bad_request, not_found, unknown_segment
from .metadata import EntityMeta
from .paths import KeyPredicate, Segment, parse_parameters, split_path
from .storage import Row
from .values import parse_guid, to_storage

__all__ = ["find_row", "parse_key", "parse_reference", "require_row"]


def parse_key(service: Service, entity: EntityMeta, segment: Segment, aliases: Mapping[str, str]) -> KeyPredicate:
    """Parse the key predicate of ``entity_set(<key>)``.

    :returns: a primary key or alternate-key values (converted to the storage convention).
    :raises DataverseError: 400 for a malformed key or columns that form no alternate key.
    """
    pairs = parse_parameters(segment.args or "", aliases)
    if not pairs:
        raise bad_request(f"The key of segment '{segment.raw}' is empty.")
    if len(pairs) == 1 and pairs[0][0] in (None, entity.primary_id):
        value = pairs[0][1]
        guid = parse_guid(value) if isinstance(value, str) else None
        if guid is None:
            raise bad_request(f"The key value '{value}' of '{segment.raw}' is not a valid Guid.")
        return KeyPredicate(guid, (), segment.raw)
    if any(name is None for name, _ in pairs):
        raise bad_request(f"The key of segment '{segment.raw}' mixes named and unnamed values.")
    names = {str(name) for name, _ in pairs}
    for key in entity.alternate_keys:
        if set(key.attributes) == names and len(names) == len(pairs):
            values = []
            for name, value in pairs:
                attribute = entity.by_property(str(name))
                assert attribute is not None
                stored = to_storage(entity, attribute, value)
                values.append((attribute.column, stored))
            return KeyPredicate(None, tuple(values), segment.raw)
    raise DataverseError(
        service.behaviour.unknown_alternate_key_status,
        "0x80060888",
        f"The key attributes ({', '.join(sorted(names))}) do not match an alternate key defined for entity "
        f"'{entity.logical_name}'.",
    )


def find_row(service: Service, entity: EntityMeta, key: KeyPredicate) -> Row | None:
    """:returns: the row the key identifies, or ``None``."""
    if key.record_id is not None:
        return service.storage.fetch_by_id(entity, key.record_id)
    where = " AND ".join(f"{column} = ?" for column, _ in key.values)
    return service.storage.fetch(entity, where, [value for _, value in key.values])


def require_row(service: Service, entity: EntityMeta, key: KeyPredicate) -> Row:
    """:returns: the row the key identifies.

    :raises DataverseError: 404 ``0x80040217`` (primary key) or ``0x80060891`` (alternate key).
    """
    row = find_row(service, entity, key)
    if row is None:
        if key.record_id is not None:
            raise not_found(entity.logical_name, key.record_id)
        raise alternate_key_not_found(entity.logical_name)
    return row


def parse_reference(call: Call, reference: object) -> tuple[EntityMeta, Row]:
    """Resolve an entity reference as written in ``@odata.bind`` or ``@odata.id``.

    Accepts ``/contacts(<id>)``, ``contacts(<id>)``, an absolute URL of this service (any version), and
    alternate keys (``accounts(accountnumber='A1')``).

    :returns: the referenced table and row.
    :raises DataverseError: 400 for a malformed reference, 404 when the row does not exist.
    """
    if not isinstance(reference, str) or not reference:
        raise bad_request(f"The entity reference '{reference}' is not a valid URI.")
    try:
        path = unquote(urlsplit(reference).path) if "://" in reference else reference
    except ValueError:  # "https://[x/…": not a URL at all
        raise bad_request("The entity reference is not a valid URI.") from None
    path = path.lstrip("/")
    if path.startswith("api/data/"):
        parts = path.split("/", 3)
        path = parts[3] if len(parts) > 3 else ""
    segments = split_path(path)
    if len(segments) != 1 or segments[0].args is None:
        raise bad_request(f"The entity reference '{reference}' does not identify one record.")
    entity = call.service.by_entity_set(segments[0].name)
    if entity is None:
        raise unknown_segment(segments[0].name)
    key = parse_key(call.service, entity, segments[0], {})
    return entity, require_row(call.service, entity, key)
