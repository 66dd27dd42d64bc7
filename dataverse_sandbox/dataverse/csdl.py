"""The ``$metadata`` document (CSDL XML) generated from the table metadata and the operation declarations.

Alternate keys are always annotated (``OData.Community.Keys.V1.AlternateKeys``); the change-tracking capability
annotation appears only with ``?annotations=true`` (reference §1.3). Not for ``EntityDefinitions`` (JSON
metadata): see :mod:`.entity_definitions`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from xml.sax.saxutils import quoteattr

from .bulk import BULK_ACTIONS
from .metadata import AttributeKind, CollectionNavigation, EntityMeta, ManyToManyNavigation
from .operations import OPERATIONS, Operation

__all__ = ["render_csdl"]


def _attr(value: str) -> str:
    return quoteattr(value)


def _collections(entity: EntityMeta) -> list[CollectionNavigation | ManyToManyNavigation]:
    """:returns: the collection-valued navigation properties: one-to-many, then many-to-many."""
    return [*entity.collections, *entity.associations]


def _entity_type(entity: EntityMeta, catalog: Mapping[str, EntityMeta]) -> Iterable[str]:
    yield f'<EntityType Name="{entity.logical_name}" BaseType="mscrm.crmbaseentity">'
    yield f'<Key><PropertyRef Name="{entity.primary_id}"/></Key>'
    for attribute in entity.attributes:
        extra = f' MaxLength="{attribute.max_length}"' if attribute.max_length else ""
        yield f'<Property Name="{attribute.property_name}" Type="{attribute.kind.edm_type}"{extra}/>'
    for attribute in entity.attributes:
        if attribute.kind is AttributeKind.LOOKUP and attribute.navigation and attribute.target in catalog:
            target = catalog[str(attribute.target)]
            yield (
                f'<NavigationProperty Name="{attribute.navigation}" Type="mscrm.{attribute.target}">'
                f'<ReferentialConstraint Property="{attribute.property_name}" '
                f'ReferencedProperty="{target.primary_id}"/></NavigationProperty>'
            )
    for collection in _collections(entity):
        yield f'<NavigationProperty Name="{collection.name}" Type="Collection(mscrm.{collection.target})"/>'
    if entity.alternate_keys:
        yield '<Annotation Term="OData.Community.Keys.V1.AlternateKeys"><Collection>'
        for key in entity.alternate_keys:
            yield '<Record Type="OData.Community.Keys.V1.AlternateKey"><PropertyValue Property="Key"><Collection>'
            for column in key.attributes:
                yield (
                    '<Record Type="OData.Community.Keys.V1.PropertyRef">'
                    f'<PropertyValue Property="Alias" String="{column}"/>'
                    f'<PropertyValue Property="Name" PropertyPath="{column}"/></Record>'
                )
            yield "</Collection></PropertyValue></Record>"
        yield "</Collection></Annotation>"
    yield "</EntityType>"


def _operation(operation: Operation) -> Iterable[str]:
    bound = ' IsBound="true"' if operation.bound_to else ""
    yield f"<{operation.kind} Name={_attr(operation.name)}{bound}>"
    if operation.bound_to:
        yield f'<Parameter Name="entity" Type="mscrm.{operation.bound_to}" Nullable="false"/>'
    for parameter in operation.parameters:
        nullable = ' Nullable="true"' if parameter.optional else ' Nullable="false"'
        yield f'<Parameter Name="{parameter.name}" Type="{parameter.edm_type}"{nullable}/>'
    yield f'<ReturnType Type="mscrm.{operation.name}Response" Nullable="false"/>'
    yield f"</{operation.kind}>"


def _response_type(operation: Operation) -> Iterable[str]:
    yield f'<ComplexType Name="{operation.name}Response">'
    for prop in operation.returns:
        yield f'<Property Name="{prop.name}" Type="{prop.edm_type}"/>'
    yield "</ComplexType>"


def render_csdl(catalog: Mapping[str, EntityMeta], *, annotations: bool) -> str:
    """Write the CSDL document.

    :param catalog: the tables.
    :param annotations: add capability annotations (``?annotations=true``).
    :returns: the XML text.
    """
    parts: list[str] = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">',
        (
            '<edmx:Reference Uri="http://vocabularies.odata.org/OData.Community.Keys.V1.xml">'
            '<edmx:Include Namespace="OData.Community.Keys.V1" Alias="Keys"/>'
            '<edmx:IncludeAnnotations TermNamespace="OData.Community.Keys.V1"/></edmx:Reference>'
        ),
        (
            '<edmx:Reference Uri="http://vocabularies.odata.org/OData.Community.Display.V1.xml">'
            '<edmx:Include Namespace="OData.Community.Display.V1" Alias="Display"/>'
            '<edmx:IncludeAnnotations TermNamespace="OData.Community.Display.V1"/></edmx:Reference>'
        ),
        (
            '<edmx:Reference Uri="http://docs.oasis-open.org/odata/odata/v4.0/os/vocabularies/'
            'Org.OData.Capabilities.V1.xml">'
            '<edmx:Include Namespace="Org.OData.Capabilities.V1" Alias="Capabilities"/></edmx:Reference>'
        ),
        "<edmx:DataServices>",
        '<Schema Namespace="Microsoft.Dynamics.CRM" Alias="mscrm" xmlns="http://docs.oasis-open.org/odata/ns/edm">',
        '<EntityType Name="crmbaseentity" Abstract="true"/>',
    ]
    for entity in catalog.values():
        parts.extend(_entity_type(entity, catalog))
    for operation in OPERATIONS.values():
        parts.extend(_response_type(operation))
    parts.append(
        '<ComplexType Name="CreateMultipleResponse"><Property Name="Ids" Type="Collection(Edm.Guid)"/></ComplexType>'
    )
    for operation in OPERATIONS.values():
        parts.extend(_operation(operation))
    for name, returns_ids in BULK_ACTIONS:
        parts.append(
            f'<Action Name="{name}" IsBound="true">'
            '<Parameter Name="entityset" Type="Collection(mscrm.crmbaseentity)" Nullable="false"/>'
            '<Parameter Name="Targets" Type="Collection(mscrm.crmbaseentity)" Nullable="false"/>'
            + (f'<ReturnType Type="mscrm.{name}Response" Nullable="false"/>' if returns_ids else "")
            + "</Action>"
        )
    parts.append('<EntityContainer Name="System">')
    for entity in catalog.values():
        parts.append(
            f'<EntitySet Name="{entity.entity_set_name}" EntityType="Microsoft.Dynamics.CRM.{entity.logical_name}">'
        )
        for attribute in entity.attributes:
            if attribute.navigation and attribute.target in catalog:
                target_set = catalog[str(attribute.target)].entity_set_name
                parts.append(f'<NavigationPropertyBinding Path="{attribute.navigation}" Target="{target_set}"/>')
        for collection in _collections(entity):
            target_set = catalog[collection.target].entity_set_name
            parts.append(f'<NavigationPropertyBinding Path="{collection.name}" Target="{target_set}"/>')
        if annotations and entity.change_tracking:
            parts.append(
                '<Annotation Term="Org.OData.Capabilities.V1.ChangeTracking"><Record>'
                '<PropertyValue Property="Supported" Bool="true"/></Record></Annotation>'
            )
        parts.append("</EntitySet>")
    for operation in OPERATIONS.values():
        if operation.bound_to is None:
            tag = "FunctionImport" if operation.kind == "Function" else "ActionImport"
            ref = "Function" if operation.kind == "Function" else "Action"
            parts.append(f'<{tag} Name="{operation.name}" {ref}="Microsoft.Dynamics.CRM.{operation.name}"/>')
    parts.extend(["</EntityContainer>", "</Schema>", "</edmx:DataServices>", "</edmx:Edmx>"])
    return "".join(parts)
