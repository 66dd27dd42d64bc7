"""Bulk bound actions: ``CreateMultiple``, ``UpdateMultiple``, ``UpsertMultiple``, and ``DeleteMultiple`` (elastic
tables only: ``sample_events``; on standard tables Dataverse refuses it, and so does the sandbox).

``POST /<set>/Microsoft.Dynamics.CRM.<Action>`` with ``{"Targets": [...]}``; every target needs
``"@odata.type": "Microsoft.Dynamics.CRM.<logical name>"``. On standard tables the request is all-or-nothing: the
first failing target's error fails the whole request and nothing is written (reference §3.11).
Not for ``$batch``: see :mod:`dataverse_sandbox.batch`.
"""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Response

from .context import Call
from .entities import read_json
from .errors import bad_request, not_found, unknown_segment
from .keys import find_row, parse_key
from .metadata import EntityMeta
from .paths import KeyPredicate, split_path
from .values import parse_guid
from .writes import create_row, update_row

__all__ = ["BULK_ACTIONS", "run_bulk_action"]

#: The bulk actions, as declared in ``$metadata``: name and whether it returns ``Ids``.
BULK_ACTIONS = (
    ("CreateMultiple", True),
    ("UpdateMultiple", False),
    ("UpsertMultiple", False),
    ("DeleteMultiple", False),
)


def _targets(call: Call, entity: EntityMeta) -> list[dict[str, Any]]:
    body = read_json(call)
    targets = body.get("Targets") if isinstance(body, dict) else None
    if not isinstance(targets, list) or not targets:
        raise bad_request("The 'Targets' parameter must be a non-empty array of records.")
    expected = entity.qualified_type
    for index, target in enumerate(targets):
        if not isinstance(target, dict):
            raise bad_request(f"Target {index} is not a JSON object.")
        declared = str(target.get("@odata.type", "")).lstrip("#")
        if not declared:
            raise bad_request(
                f"Target {index}: the '@odata.type' annotation is required for each record, e.g. '{expected}'."
            )
        if declared != expected:
            raise bad_request(f"Target {index}: '@odata.type' is '{declared}' but this entity set holds '{expected}'.")
    return targets


def _identify(call: Call, entity: EntityMeta, target: dict[str, Any]) -> KeyPredicate | None:
    reference = target.get("@odata.id")
    if isinstance(reference, str):
        path = reference.rsplit("/", 1)[-1] if "://" in reference else reference.lstrip("/")
        segments = split_path(path)
        if len(segments) != 1 or segments[0].name != entity.entity_set_name or segments[0].args is None:
            raise bad_request(f"The '@odata.id' value '{reference}' does not identify a {entity.logical_name}.")
        return parse_key(call.service, entity, segments[0], {})
    primary = target.get(entity.primary_id)
    if isinstance(primary, str):
        guid = parse_guid(primary)
        if guid is None:
            raise bad_request(f"The value '{primary}' of '{entity.primary_id}' is not a valid Guid.")
        return KeyPredicate(guid, (), f"{entity.entity_set_name}({guid})")
    for key in entity.alternate_keys:
        if all(target.get(column) is not None for column in key.attributes):
            values = tuple((column, target[column]) for column in key.attributes)
            return KeyPredicate(None, values, "")
    return None


def run_bulk_action(call: Call, entity: EntityMeta, action: str) -> Response:
    """Run a bulk action on ``entity``'s set.

    :param action: the action name without namespace.
    :returns: 200 with ``Ids`` for ``CreateMultiple``, else 204.
    :raises DataverseError: the failing target's error (nothing is written), 400 for a bad body.
    """
    if action == "DeleteMultiple":
        if not entity.elastic:
            raise bad_request("DeleteMultiple has not yet been implemented.")
        return _delete_multiple(call, entity)
    if action not in ("CreateMultiple", "UpdateMultiple", "UpsertMultiple"):
        raise unknown_segment(f"Microsoft.Dynamics.CRM.{action}")
    call.require_write(entity, "Create" if action != "UpdateMultiple" else "Write")
    targets = _targets(call, entity)
    ids: list[str] = []
    with call.service.storage.transaction():
        for target in targets:
            if action == "CreateMultiple":
                row = create_row(call, entity, target)
            elif action == "UpdateMultiple":
                key = _identify(call, entity, {entity.primary_id: target.get(entity.primary_id)})
                if key is None or key.record_id is None:
                    raise bad_request(f"Each target of UpdateMultiple must carry '{entity.primary_id}'.")
                existing = find_row(call.service, entity, key)
                if existing is None:
                    raise not_found(entity.logical_name, key.record_id)
                row = update_row(call, entity, existing, _without(target, entity.primary_id))
            else:
                key = _identify(call, entity, target)
                existing = find_row(call.service, entity, key) if key is not None else None
                body = _without(target, "@odata.id")
                if existing is not None and key is not None:
                    keep = frozenset(column for column, _ in key.values)
                    row = update_row(call, entity, existing, _without(body, entity.primary_id), keep=keep)
                else:
                    record_id = key.record_id if key is not None else None
                    defaults = dict(key.values) if key is not None else {}
                    row = create_row(call, entity, body, record_id=record_id, defaults=defaults)
            ids.append(str(row[entity.primary_id]))
    if action == "CreateMultiple":
        return call.json(
            {"@odata.context": f"{call.root}$metadata#Microsoft.Dynamics.CRM.CreateMultipleResponse", "Ids": ids}
        )
    return call.empty(204)


def _delete_multiple(call: Call, entity: EntityMeta) -> Response:
    """``DeleteMultiple`` on an elastic table: every target names a row by its key (``partitionid`` optional).

    Elastic tables allow partial success (Learn: "Bulk operations"): rows that exist are deleted, ids that match no
    row are skipped, and the answer is 204.
    """
    call.require_write(entity, "Delete")
    targets = _targets(call, entity)
    ids = []
    for index, target in enumerate(targets):
        key = _identify(call, entity, target)
        if key is None or key.record_id is None:
            raise bad_request(f"Target {index} of DeleteMultiple must carry '{entity.primary_id}'.")
        ids.append((key.record_id, target.get("partitionid")))
    storage = call.service.storage
    with storage.transaction():
        for record_id, partition in ids:
            row = storage.fetch_by_id(entity, record_id)
            if row is not None and (partition is None or row.get("partitionid") == partition):
                storage.delete(entity, record_id)
    return call.empty(204)


def _without(target: dict[str, Any], name: str) -> dict[str, Any]:
    return {key: value for key, value in target.items() if key != name}
