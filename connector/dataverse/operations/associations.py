"""The Associate and Disassociate operations: link or unlink two records through a navigation property (``$ref``).

The document addresses the source record (edit link, key fields or primary key) and names the related record in
``@odata.id`` (absolute, or relative to the API root): one record of an entity set below the API root, checked as an
edit link is (:func:`~connector.dataverse.operations.inputs.linked_record`); one named by an alternate key must be of
an entity set the service has, because ``name(key=value)`` is also how a function call is written.

For a collection-valued navigation property (1:N, N:N): associate ``POST <source>/<nav>/$ref {"@odata.id":
<related>}``, disassociate ``DELETE <source>/<nav>/$ref?$id=<related>``. For a single-valued one (a lookup):
associate ``PUT <source>/<nav>/$ref``, disassociate ``DELETE <source>/<nav>/$ref`` (no related record needed). The
navigation property is sent exactly as configured: it is case-sensitive. Not for lookups set inside a create or
update body (``<nav>@odata.bind``): those are ordinary writes. Both take :class:`AssociationOptions`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connector.dataverse.operations.inputs import (
    ODATA_ID,
    DocumentError,
    document_query_parameters,
    linked_record,
    resolve_target,
)
from connector.dataverse.operations.options import CommonOptions, OperationOptions, strings
from connector.dataverse.operations.outcomes import error_result, properties_of, success_result
from connector.dataverse.operations.running import OperationContext
from connector.errors import RemoteError
from connector.results import OperationResult

__all__ = ["AssociationOptions", "associate", "disassociate"]


@dataclass(frozen=True, kw_only=True)
class AssociationOptions(OperationOptions):
    """The options of Associate and Disassociate.

    :param key_fields: the document members that form the source's alternate key; empty: edit link or primary key.
    :param relationship: the source's navigation property, exactly as the service spells it.
    :param single_valued: the navigation property is a lookup (``PUT``/``DELETE`` without the related record).
    """

    key_fields: tuple[str, ...]
    relationship: str
    single_valued: bool

    @classmethod
    def from_values(cls, operation: str, values: Mapping[str, Any]) -> AssociationOptions:
        """:returns: the options of validated values (``associate`` or ``disassociate``; defaults filled in)."""
        return cls(
            common=CommonOptions.from_values(values),
            key_fields=strings(values["key_fields"]),
            relationship=str(values["relationship"]),
            single_valued=bool(values["single_valued"]),
        )


def associate(
    context: OperationContext[AssociationOptions], index: int, document: Mapping[str, Any]
) -> OperationResult:
    """Link the document's source record to its related record.

    :param context: the run.
    :param index: the document's index.
    :param document: the source's address and ``@odata.id``.
    :returns: ``success``, or the error result.
    """
    return _link(context, index, document, associating=True)


def disassociate(
    context: OperationContext[AssociationOptions], index: int, document: Mapping[str, Any]
) -> OperationResult:
    """Unlink the document's source record from its related record.

    :param context: the run.
    :param index: the document's index.
    :param document: the source's address and (for collections) ``@odata.id``.
    :returns: ``success``, or the error result.
    """
    return _link(context, index, document, associating=False)


def _link(
    context: OperationContext[AssociationOptions], index: int, document: Mapping[str, Any], *, associating: bool
) -> OperationResult:
    options = context.options
    client = context.client
    source = resolve_target(client, context.metadata, context.entity_set, options.key_fields, document)
    single = options.single_valued
    related = None if single and not associating else _related(context, document)
    url = f"{source.url}/{options.relationship}/$ref"
    query = list(document_query_parameters(document, context.common.query_parameters))
    if associating:
        # Linking twice leaves one link: re-sending after a lost answer cannot duplicate anything.
        method = "PUT" if single else "POST"
        response = client.send(method, url, query=query, json={ODATA_ID: related}, idempotent=True)
    else:
        if not single:
            query.insert(0, ("$id", str(related)))
        response = client.send("DELETE", url, query=query)
    known = properties_of(id=source.record_id, entity_url=source.url)
    if response.status_code >= 400:
        return error_result(
            client.transport,
            response,
            index,
            application_errors=context.common.return_application_errors,
            reason="not_found" if response.status_code == 404 else None,
            properties=known,
        )
    return success_result(None, {**known, **properties_of(http_status=response.status_code)}, index)


def _related(context: OperationContext[AssociationOptions], document: Mapping[str, Any]) -> str:
    related = document.get(ODATA_ID)
    if not isinstance(related, str) or not related.strip():
        raise DocumentError(ODATA_ID, "is missing: it names the related record, e.g. contacts(<id>)")
    entity_set, key, path = linked_record(context.client, ODATA_ID, related)
    if not isinstance(key, str) and entity_set != context.entity_set:
        try:
            context.metadata.entity(entity_set)
        except RemoteError as error:
            if error.status != 404:
                raise
            raise DocumentError(ODATA_ID, f"names {entity_set!r}, which is not an entity set of the service") from None
    return context.client.url(path)
