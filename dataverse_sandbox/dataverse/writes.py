"""Writing rows: request bodies to column values, creates (with deep insert and binds), updates and deletes.

Every write stamps ``modifiedon`` and a fresh ``versionnumber`` (the ETag), keeps ``statecode``/``statuscode``
consistent and, for contacts, ``fullname``. Used by single-record requests, bulk actions and ``$ref``.
Not for HTTP concerns (conditional headers, status codes, response bodies): see :mod:`.entities`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .context import Call
from .errors import bad_request, not_found, unknown_property
from .keys import parse_reference
from .metadata import USD_CURRENCY_ID, AttributeKind, AttributeMeta, CollectionNavigation, EntityMeta
from .new_ids import next_record_id
from .storage import Row
from .values import format_timestamp, parse_guid, to_storage

__all__ = ["Changes", "create_row", "delete_row", "read_body", "set_link", "update_row"]

_BIND = "@odata.bind"


@dataclass
class Changes:
    """A request body, validated against the table.

    :param values: column to stored value.
    :param nested_single: deep inserts under single-valued navigation properties.
    :param nested_collection: deep inserts under collection-valued navigation properties.
    :param collection_binds: rows to link through collection-valued navigation properties, by id.
    """

    values: dict[str, Any] = field(default_factory=dict)
    nested_single: list[tuple[AttributeMeta, dict[str, Any]]] = field(default_factory=list)
    nested_collection: list[tuple[CollectionNavigation, list[dict[str, Any]]]] = field(default_factory=list)
    collection_binds: list[tuple[CollectionNavigation, list[str]]] = field(default_factory=list)


def read_body(call: Call, entity: EntityMeta, body: Any, *, creating: bool) -> Changes:
    """Validate a JSON body for a create or an update.

    Instance annotations (``@odata.type``, ``x@OData.Community…``) are ignored; columns not valid for the
    operation (``createdon``, ``versionnumber``…) are ignored, as Dataverse does.

    :raises DataverseError: 400 ``0x80060888`` for an unknown property (navigation names are case-sensitive), or
        the value errors of :func:`.values.to_storage`; 404 when a bound row does not exist.
    """
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    changes = Changes()
    for name, value in body.items():
        if name.endswith(_BIND):
            _read_bind(call, entity, name[: -len(_BIND)], value, changes)
            continue
        if name.startswith("@") or "@" in name:
            continue
        attribute = entity.by_property(name)
        if attribute is not None and attribute.kind is not AttributeKind.LOOKUP:
            if creating and attribute.logical_name == entity.primary_id:
                if call.service.behaviour.accept_primary_key_on_create:
                    changes.values[attribute.column] = to_storage(entity, attribute, value)
                continue
            if (creating and attribute.valid_for_create) or (not creating and attribute.valid_for_update):
                changes.values[attribute.column] = to_storage(entity, attribute, value)
            continue
        lookup = entity.by_navigation(name)
        if lookup is not None:
            if value is None:
                changes.values[lookup.column] = None
            elif isinstance(value, dict) and creating:
                changes.nested_single.append((lookup, value))
            else:
                raise bad_request(f"The value of navigation property '{name}' must be a nested record on create.")
            continue
        collection = entity.collection(name)
        if collection is not None and creating and isinstance(value, list):
            if not all(isinstance(item, dict) for item in value):
                raise bad_request(f"Every item of '{name}' must be a JSON object.")
            changes.nested_collection.append((collection, value))
            continue
        raise unknown_property(name, entity.logical_name)
    return changes


def _read_bind(call: Call, entity: EntityMeta, name: str, value: Any, changes: Changes) -> None:
    lookup = entity.by_navigation(name)
    if lookup is not None:
        if value is None:
            changes.values[lookup.column] = None
            return
        changes.values[lookup.column] = _bound_id(call, lookup, value)
        return
    collection = entity.collection(name)
    if collection is not None:
        if not isinstance(value, list):
            raise bad_request(f"The value of '{name}@odata.bind' must be an array of entity references.")
        ids = []
        for reference in value:
            target, row = parse_reference(call, reference)
            if target.logical_name != collection.target:
                raise bad_request(f"The entity reference '{reference}' is not a '{collection.target}'.")
            ids.append(str(row[target.primary_id]))
        changes.collection_binds.append((collection, ids))
        return
    raise unknown_property(name, entity.logical_name)


def _bound_id(call: Call, lookup: AttributeMeta, reference: Any) -> str:
    if lookup.target == "transactioncurrency":
        text = str(reference)
        guid = parse_guid(text[text.find("(") + 1 : text.rfind(")")]) if "(" in text else None
        if guid != USD_CURRENCY_ID:
            raise not_found("transactioncurrency", guid or text)
        return guid
    target, row = parse_reference(call, reference)
    if target.logical_name != lookup.target:
        raise bad_request(
            f"The entity reference '{reference}' is not valid for navigation property '{lookup.navigation}': "
            f"expected a '{lookup.target}'."
        )
    return str(row[target.primary_id])


def _now(call: Call) -> str:
    return format_timestamp(call.service.clock.now())


def _normalise(entity: EntityMeta, row: Row, changed: set[str]) -> None:
    state = entity.by_logical_name("statecode")
    status = entity.by_logical_name("statuscode")
    if state is not None and status is not None:
        if "statuscode" in changed and row["statuscode"] is not None and "statecode" not in changed:
            for option in status.options:
                if option.value == row["statuscode"]:
                    row["statecode"] = option.state
        if row.get("statecode") is None:
            row["statecode"] = 0
        matching = [o for o in status.options if o.state == row["statecode"]]
        if row.get("statuscode") is None or row["statuscode"] not in {o.value for o in matching}:
            if "statuscode" in changed and row.get("statuscode") is not None:
                raise bad_request(
                    f"{row['statuscode']} is not a valid status code for state code "
                    f"{entity.display_name}State.{row['statecode']} on {entity.logical_name}."
                )
            row["statuscode"] = matching[0].value if matching else None
    if entity.logical_name == "contact":
        row["fullname"] = " ".join(part for part in (row.get("firstname"), row.get("lastname")) if part) or None


def create_row(
    call: Call, entity: EntityMeta, body: Any, *, record_id: str | None = None, defaults: Row | None = None
) -> Row:
    """Create a row (and its deep-inserted relatives) from a request body, atomically.

    :param record_id: the primary key to use (from an upsert URL); it wins over a key in the body.
    :param defaults: column values used when the body does not set them (alternate-key values of an upsert URL,
        the parent link of a deep insert).
    :returns: the stored row.
    :raises DataverseError: as :func:`read_body`, or 412 when a key is taken.
    """
    call.require_write(entity, "Create")
    changes = read_body(call, entity, body, creating=True)
    storage = call.service.storage
    if not (changes.nested_single or changes.nested_collection or changes.collection_binds):
        # One row: its insert is one statement, atomic by itself, so within a transaction (a bulk action's thousands)
        # it needs no savepoint. Outside one, the version is drawn under the transaction's lock with the insert, or
        # a change-tracking read in between would hand out a token past a row not yet written.
        if storage.in_transaction:
            return _insert_row(call, entity, changes, record_id, defaults)
        with storage.transaction():
            return _insert_row(call, entity, changes, record_id, defaults)
    with storage.transaction():
        for lookup, nested in changes.nested_single:
            assert lookup.target is not None
            target = call.service.catalog[lookup.target]
            child = create_row(call, target, nested)
            changes.values[lookup.column] = child[target.primary_id]
        row = _insert_row(call, entity, changes, record_id, defaults)
        new_id = str(row[entity.primary_id])
        for collection, items in changes.nested_collection:
            target = call.service.catalog[collection.target]
            link = target.by_logical_name(collection.lookup)
            assert link is not None
            for item in items:
                create_row(call, target, item, defaults={link.column: new_id})
        for collection, ids in changes.collection_binds:
            target = call.service.catalog[collection.target]
            for child_id in ids:
                set_link(call, target, child_id, collection.lookup, new_id)
    return row


def _insert_row(call: Call, entity: EntityMeta, changes: Changes, record_id: str | None, defaults: Row | None) -> Row:
    """Insert the row a create's changes describe (its deep inserts under lookups already made).

    :returns: the stored row.
    """
    storage = call.service.storage
    row: Row = dict.fromkeys(entity.columns)
    row.update(defaults or {})
    row.update(changes.values)
    row[entity.primary_id] = record_id or row.get(entity.primary_id) or next_record_id()
    now = _now(call)
    row["createdon"] = now
    row["modifiedon"] = now
    if "_transactioncurrencyid_value" in row and row["_transactioncurrencyid_value"] is None:
        row["_transactioncurrencyid_value"] = USD_CURRENCY_ID
    _normalise(entity, row, set(changes.values))
    row["versionnumber"] = storage.next_version()
    storage.insert(entity, row)
    return row


def update_row(call: Call, entity: EntityMeta, row: Row, body: Any, *, keep: frozenset[str] = frozenset()) -> Row:
    """Update a row from a request body; the version changes even when no value does.

    :param keep: columns the body may not change (alternate-key columns of an upsert URL).
    :returns: the row as stored afterwards.
    """
    call.require_write(entity, "Write")
    changes = read_body(call, entity, body, creating=False)
    values = {column: value for column, value in changes.values.items() if column not in keep}
    storage = call.service.storage
    with storage.transaction():
        updated = dict(row)
        updated.update(values)
        _normalise(entity, updated, set(values))
        updated["modifiedon"] = _now(call)
        updated["versionnumber"] = storage.next_version()
        diff = {column: value for column, value in updated.items() if row.get(column) != value}
        storage.update(entity, str(row[entity.primary_id]), diff)
        for collection, ids in changes.collection_binds:
            target = call.service.catalog[collection.target]
            for child_id in ids:
                set_link(call, target, child_id, collection.lookup, str(row[entity.primary_id]))
    return updated


def set_link(call: Call, entity: EntityMeta, record_id: str, lookup_name: str, value: str | None) -> None:
    """Point one row's lookup at another row (or clear it), as a write of that row.

    :raises DataverseError: 404 when the row does not exist.
    """
    call.require_write(entity, "Write")
    lookup = entity.by_logical_name(lookup_name)
    assert lookup is not None
    storage = call.service.storage
    with storage.transaction():
        row = storage.fetch_by_id(entity, record_id)
        if row is None:
            raise not_found(entity.logical_name, record_id)
        storage.update(
            entity,
            record_id,
            {lookup.column: value, "modifiedon": _now(call), "versionnumber": storage.next_version()},
        )


def delete_row(call: Call, entity: EntityMeta, row: Row) -> None:
    """Delete a row, clearing the lookups of rows that point at it (each such row gets a new version)."""
    call.require_write(entity, "Delete")
    storage = call.service.storage
    record_id = str(row[entity.primary_id])
    with storage.transaction():
        for other in call.service.catalog.values():
            for attribute in other.attributes:
                if attribute.kind is not AttributeKind.LOOKUP or attribute.target != entity.logical_name:
                    continue
                for linked in storage.fetch_all(other, f"{attribute.column} = ?", [record_id]):
                    storage.update(
                        other,
                        str(linked[other.primary_id]),
                        {attribute.column: None, "modifiedon": _now(call), "versionnumber": storage.next_version()},
                    )
        for nav in entity.associations:
            intersect = call.service.catalog.get(nav.intersect)
            if intersect is not None:
                storage.delete_where(intersect, f"{nav.own} = ?", (record_id,))
        storage.delete(entity, record_id)
