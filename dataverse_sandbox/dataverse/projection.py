"""``$select`` and ``$expand``: which columns and related rows a response carries.

Parses the two query options into a :class:`Projection` (validated against the metadata; unknown names are 400
``0x80060888``) and writes the ``@odata.context`` fragment for it. Not for rendering rows: see :mod:`.rendering`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dataverse_sandbox.numbers import ascii_integer

from .errors import bad_request, unknown_property
from .metadata import AttributeKind, AttributeMeta, CollectionNavigation, EntityMeta, ManyToManyNavigation
from .preferences import split_top_level

__all__ = ["Expansion", "Projection", "parse_projection"]


@dataclass(frozen=True)
class Expansion:
    """One ``$expand`` item.

    :param navigation: the navigation property as written (case-sensitive).
    :param projection: what to return of the related rows.
    :param lookup: for a single-valued navigation, the parent's lookup attribute.
    :param collection: for a collection-valued navigation, its definition.
    :param association: for a many-to-many navigation, its definition.
    :param top: ``$top`` inside the expansion (collections only).
    :param filter: ``$filter`` inside the expansion (collections only).
    :param orderby: ``$orderby`` inside the expansion (collections only).
    """

    navigation: str
    projection: Projection
    lookup: AttributeMeta | None = None
    collection: CollectionNavigation | None = None
    association: ManyToManyNavigation | None = None
    top: int | None = None
    filter: str | None = None
    orderby: str | None = None


@dataclass(frozen=True)
class Projection:
    """The shape of the records in a response.

    :param entity: the table.
    :param selected: the ``$select`` attributes, or ``None`` for every column.
    :param expansions: the ``$expand`` items.
    """

    entity: EntityMeta
    selected: tuple[AttributeMeta, ...] | None = None
    expansions: tuple[Expansion, ...] = ()

    def attributes(self) -> tuple[AttributeMeta, ...]:
        """:returns: the columns to write: the selection, plus the primary key, plus the currency for money."""
        if self.selected is None:
            return self.entity.attributes
        chosen = list(self.selected)
        if any(a.kind is AttributeKind.MONEY for a in chosen):
            currency = self.entity.by_logical_name("transactioncurrencyid")
            if currency is not None and currency not in chosen:
                chosen.append(currency)
        primary = self.entity.by_logical_name(self.entity.primary_id)
        if primary is not None and primary not in chosen:
            chosen.append(primary)
        return tuple(chosen)

    def columns(self) -> tuple[str, ...]:
        """:returns: the SQL columns rendering needs: the output columns, the version, and expansion keys."""
        needed = [a.column for a in self.attributes()]
        for extra in ("versionnumber", self.entity.primary_id):
            if extra not in needed:
                needed.append(extra)
        for expansion in self.expansions:
            if expansion.lookup is not None and expansion.lookup.column not in needed:
                needed.append(expansion.lookup.column)
        return tuple(needed)

    def context_fragment(self) -> str:
        """:returns: the ``(name,nav(col))`` part of ``@odata.context``, empty when every column is returned."""
        parts = [a.property_name for a in self.selected or ()]
        for expansion in self.expansions:
            parts.append(f"{expansion.navigation}{expansion.projection.context_fragment() or '()'}")
        if not parts:
            return ""
        return "(" + ",".join(parts) + ")"

    @property
    def select_text(self) -> str | None:
        """:returns: the ``$select`` value to repeat in next and delta links, or ``None``."""
        if self.selected is None:
            return None
        return ",".join(a.property_name for a in self.selected)


def parse_projection(
    catalog: Mapping[str, EntityMeta], entity: EntityMeta, select: str | None, expand: str | None
) -> Projection:
    """Validate ``$select`` and ``$expand`` against the metadata.

    :param catalog: every table, for expansion targets.
    :param entity: the table queried.
    :param select: the ``$select`` value, or ``None``.
    :param expand: the ``$expand`` value, or ``None``.
    :returns: the projection.
    :raises DataverseError: 400 ``0x80060888`` for an unknown column or navigation property.
    """
    selected: tuple[AttributeMeta, ...] | None = None
    if select is not None and select.strip() and select.strip() != "*":
        chosen: list[AttributeMeta] = []
        for name in (part.strip() for part in select.split(",")):
            attribute = entity.by_property(name)
            if attribute is None:
                raise unknown_property(name, entity.logical_name)
            if attribute not in chosen:
                chosen.append(attribute)
        selected = tuple(chosen)
    expansions = tuple(_expansion(catalog, entity, item) for item in split_top_level(expand or ""))
    return Projection(entity, selected, expansions)


def _expansion(catalog: Mapping[str, EntityMeta], entity: EntityMeta, item: str) -> Expansion:
    name, _, rest = item.partition("(")
    name = name.strip()
    options: dict[str, str] = {}
    if rest:
        if not rest.endswith(")"):
            raise bad_request(f"The $expand item '{item}' is malformed.")
        for option in split_top_level(rest[:-1], ";"):
            key, sep, value = option.partition("=")
            if not sep or key.strip() not in ("$select", "$expand", "$top", "$filter", "$orderby"):
                raise bad_request(f"The query option '{key.strip()}' is not supported inside $expand.")
            options[key.strip()] = value.strip()
    lookup = entity.by_navigation(name)
    collection = entity.collection(name)
    association = entity.association(name)
    if lookup is not None and lookup.target is not None and lookup.target in catalog:
        target = catalog[lookup.target]
    elif collection is not None:
        target = catalog[collection.target]
    elif association is not None and association.target in catalog:
        target = catalog[association.target]
    else:
        raise unknown_property(name, entity.logical_name)
    projection = parse_projection(catalog, target, options.get("$select"), options.get("$expand"))
    top = None
    if "$top" in options:
        top = ascii_integer(options["$top"])  # int() read other scripts' digits, '1_0' and '+5'
        if top is None:
            raise bad_request(f"The value '{options['$top']}' of $top is not a valid integer.")
    if lookup is not None and ({"$top", "$filter", "$orderby"} & options.keys()):
        raise bad_request(f"Only $select and $expand are allowed when expanding '{name}'.")
    return Expansion(
        navigation=name,
        projection=projection,
        lookup=lookup,
        collection=collection,
        association=association if collection is None else None,
        top=top,
        filter=options.get("$filter"),
        orderby=options.get("$orderby"),
    )
