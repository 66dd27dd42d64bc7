"""Incremental Query through Dataverse change tracking, with the delta link as a checkpoint kept by the host.

The first run (no checkpoint under the query's key) asks for every record with ``Prefer: odata.track-changes`` and
follows the pages; the last page carries ``@odata.deltaLink``. Later runs GET the stored delta link and receive only
what changed since: new and updated records (``success`` results, as Query returns them), then deletions
(``deleted`` results carrying the record's id). The delta link is the checkpoint. It is committed to the runtime
context's checkpoint store only when the consumer asks for the result after the last record of the last page, so
every record was handed over first. A run that ends earlier (killed, an error page, a consumer that stops pulling)
commits nothing, and the next run starts again from the previous checkpoint: each change is delivered at least
once, and the records between that checkpoint and the interruption are delivered again.

Not for plain queries (:mod:`connector.dataverse.operations.query`) nor for reading pages
(:mod:`connector.dataverse.operations.pages`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

from connector.context import CheckpointStore
from connector.dataverse.client import ForeignLinkError, MalformedLinkError
from connector.dataverse.metadata.tables import EntityInfo
from connector.dataverse.odata.literals import entity_path, guid_of, is_guid
from connector.dataverse.operations.inputs import EDIT_LINK
from connector.dataverse.operations.options import OperationOptions
from connector.dataverse.operations.outcomes import properties_of, success_result
from connector.dataverse.operations.pages import (
    RecordResults,
    follow_link,
    follow_pages,
    records_of,
    without_parameters,
)
from connector.dataverse.operations.query_options import QueryOptions
from connector.dataverse.operations.running import OperationContext
from connector.errors import OperationError
from connector.results import OperationResult, ResultStatus

__all__ = [
    "CHECKPOINT_KEY_PREFIX",
    "TRACK_CHANGES",
    "checkpoint_key",
    "deletion_result",
    "is_deletion",
    "track_changes",
]

_log = logging.getLogger(__name__)

TRACK_CHANGES: Final = "odata.track-changes"
"""The ``Prefer`` value asking for a delta link (reference §2.2)."""

CHECKPOINT_KEY_PREFIX: Final = "dynamics365-ce/changes/"
"""Every checkpoint key this connector uses starts with this, so hosts can tell them from other connectors'."""

_DELETED_ENTITY: Final = "/$deletedEntity"


def checkpoint_key(context: OperationContext[QueryOptions]) -> str:
    """The checkpoint store key of a change-tracking query.

    :param context: the run (its ``checkpoint_key`` option, entity set and ``select``).
    :returns: :data:`CHECKPOINT_KEY_PREFIX` + the ``checkpoint_key`` option when given, else + the API root's host
        and path, the entity set and the selected columns (``contoso.crm.dynamics.com/api/data/v9.2/accounts?
        $select=name``), so two organisations, tables or column lists never share a checkpoint by default.
    """
    named = context.options.checkpoint_key
    if named:
        return CHECKPOINT_KEY_PREFIX + named
    root = urlsplit(context.client.api_root)
    select = ",".join(context.options.select)
    return f"{CHECKPOINT_KEY_PREFIX}{root.netloc}{root.path}{context.entity_set}" + (
        f"?$select={select}" if select else ""
    )


def track_changes(
    context: OperationContext[QueryOptions], store: CheckpointStore, index: int, parameters: Sequence[tuple[str, str]]
) -> Iterator[OperationResult]:
    """Run a change-tracking query for one input document.

    :param context: the run (options already checked: no filter, sort, expansion, ``top`` or FetchXML).
    :param store: where the delta link is loaded from and committed to.
    :param index: the input document's index (for a failed result).
    :param parameters: the custom query parameters, sent with the first request only.
    :returns: changed records (``success``) and deletions (``deleted``), lazily.
    :raises ConnectorError: for a stored checkpoint that does not fit this query, or a page that cannot be read.
    """
    entity = context.metadata.entity(context.entity_set)
    key = checkpoint_key(context)
    stored = store.load(key)
    if stored:
        url = context.client.url(_checked_checkpoint(context, key, stored), parameters)
        _log.info("change tracking: reading changes of %s since the stored checkpoint", context.entity_set)
    else:
        url = context.client.url(context.entity_set, [*context.options.select_expand(), *parameters])
        _log.info("change tracking: no checkpoint for %s; reading every record", context.entity_set)
    prefer = [TRACK_CHANGES, f"odata.maxpagesize={context.options.page_size}"]
    annotations = context.options.annotation_preference()
    if annotations:
        prefer.append(annotations)
    result_of = RecordResults(context.client, entity)
    delta_link = ""
    for outcome in follow_pages(context, index, url, prefer, parameters, read_ahead=context.options.read_ahead):
        if isinstance(outcome, OperationResult):
            # The run ends without a new checkpoint: the next one starts again from the stored delta link.
            yield outcome
            return
        for record in records_of(outcome):
            if is_deletion(record):
                yield deletion_result(context, entity, record)
            else:
                yield result_of(record)
        found = outcome.get("@odata.deltaLink")
        # Only the last page (the one without a next link) carries the delta link.
        delta_link = found if isinstance(found, str) and not outcome.get("@odata.nextLink") else ""
    if not delta_link:
        raise OperationError(
            "The service ended the change-tracking query without a delta link; no checkpoint was saved, so the "
            "next run reads the same changes again",
            field="@odata.deltaLink",
        )
    # Reached only when the consumer pulled past the last record: everything before the link was handed over.
    checkpoint = follow_link(context, delta_link, parameters, "@odata.deltaLink")
    store.save(key, checkpoint)
    _log.info("change tracking: checkpoint of %s committed", context.entity_set)


def _checked_checkpoint(context: OperationContext[QueryOptions], key: str, stored: str) -> str:
    """:returns: the stored delta link, absolute, once it is known to belong to this query.

    :raises OperationError: naming ``options.checkpoint_key`` when it belongs to another origin or query.
    """
    try:
        link = context.client.link(stored)
    except ForeignLinkError as error:
        raise OperationError(
            f"The checkpoint stored under {key!r} belongs to another service ({error}); it was not followed. "
            "Choose another checkpoint key, or clear this one to read every record again",
            field="options.checkpoint_key",
        ) from None
    except MalformedLinkError as error:
        raise OperationError(
            f"The checkpoint stored under {key!r} {error}; it was not followed. Clear it to read every record again",
            field="options.checkpoint_key",
        ) from None
    path, _, query = context.client.relative(link).partition("?")
    arguments = dict(parse_qsl(query, keep_blank_values=True))
    columns = {column for column in arguments.get("$select", "").split(",") if column}
    wanted = set(context.options.select)
    if path != context.entity_set or columns != wanted or not arguments.get("$deltatoken"):
        taken_for = f"{path}?$select={','.join(sorted(columns))}" if columns else path
        raise OperationError(
            f"The checkpoint stored under {key!r} was taken for another query ({taken_for}). Choose another "
            "checkpoint key, or clear this one to read every record again",
            field="options.checkpoint_key",
        )
    # Custom query parameters are the current run's: the stored link never carries them.
    names = {name for name, _ in context.common.query_parameters}
    return without_parameters(link, names)


def is_deletion(record: Mapping[str, Any]) -> bool:
    """:returns: whether a member of a delta answer reports a removed record: OData 4.0's ``$deletedEntity``
    (``@odata.context`` ending in ``/$deletedEntity``, as Dataverse sends) or OData 4.01's ``@removed``.
    """
    context = record.get("@odata.context")
    if isinstance(context, str) and context.endswith(_DELETED_ENTITY):
        return True
    return isinstance(record.get("@removed"), Mapping)


def deletion_result(
    context: OperationContext[OperationOptions], entity: EntityInfo, record: Mapping[str, Any]
) -> OperationResult:
    """The ``deleted`` result of one removed record.

    :param context: the run (for absolute URLs).
    :param entity: the table.
    :param record: the delta answer's entry: ``{"@odata.context": "…/$deletedEntity", "id": …, "reason": …}``.
    :returns: status ``deleted``; payload ``{"<primary key>": id, "@odata.editLink": "<set>(<id>)", "reason": …}``;
        properties ``id``, ``entity_url`` and ``reason`` (``deleted``, or ``changed`` for a record that left the
        query's scope).
    """
    removed = record.get("@removed")
    reason = str((removed if isinstance(removed, Mapping) else record).get("reason") or "deleted")
    record_id = _removed_id(record)
    payload: dict[str, Any] = {"reason": reason}
    entity_url = None
    if record_id:
        link = entity_path(entity.entity_set, record_id)
        payload.update({entity.primary_id or "id": record_id, EDIT_LINK: link})
        entity_url = context.client.url(link)
    return success_result(
        payload,
        properties_of(id=record_id, entity_url=entity_url, reason=reason),
        None,
        ResultStatus.DELETED,
    )


def _removed_id(record: Mapping[str, Any]) -> str | None:
    value = record.get("id")
    if is_guid(value):
        return guid_of(value)
    # OData 4.01 names the record by its id URL (``accounts(<guid>)``) instead.
    link = record.get("@id") or record.get("@odata.id")
    if isinstance(link, str) and link.endswith(")") and "(" in link:
        candidate = link[link.rindex("(") + 1 : -1]
        if is_guid(candidate):
            return guid_of(candidate)
    return None
