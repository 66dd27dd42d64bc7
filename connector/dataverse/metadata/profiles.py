"""Request and response profiles: one table's metadata as two JSON Schemas (2020-12) for a host's import wizard.

* The **request** profile is what Create, Update and Upsert accept: attributes valid for create or update, lookups
  as ``<navigation property>@odata.bind`` strings (the navigation property exactly as the service names it: it is
  case-sensitive), option sets as integers with their labels, ``required`` holding what a create needs.
* The **response** profile is what Get and Query return: readable attributes, lookups as ``_<attribute>_value``
  GUIDs, plus ``@odata.etag`` and ``@odata.editLink``; further properties are allowed, because fields missing from
  the metadata still come back in records.

Every property has a title (the attribute's display name) and a description. This module only transforms; the
metadata comes from :mod:`connector.dataverse.metadata.cache`.
"""

from __future__ import annotations

from typing import Any, Final

from connector.dataverse.metadata.tables import AttributeInfo, EntityDescription

__all__ = ["request_schema", "response_schema"]

SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
_REQUIRED_LEVELS: Final = frozenset({"ApplicationRequired", "SystemRequired"})
_GUID_PATTERN: Final = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_REFERENCE_PATTERN: Final = r"^(https?://[^/]+)?/?([A-Za-z0-9_]+/)*[A-Za-z_][A-Za-z0-9_]*\(.+\)$"


def request_schema(description: EntityDescription) -> dict[str, Any]:
    """Build the request profile of a table.

    :param description: the table's metadata.
    :returns: a JSON Schema for Create, Update and Upsert documents.
    """
    entity = description.entity
    properties: dict[str, Any] = {}
    required: list[str] = []
    for attribute in description.attributes:
        if not (attribute.valid_for_create or attribute.valid_for_update):
            continue
        if attribute.is_lookup:
            for navigation, target in attribute.navigations:
                properties[f"{navigation}@odata.bind"] = _bind_property(attribute, navigation, target, description)
            continue
        properties[attribute.logical_name] = _value_property(attribute, writing=True)
        if attribute.required_level in _REQUIRED_LEVELS and attribute.valid_for_create and not attribute.is_primary_id:
            required.append(attribute.logical_name)
    return {
        "$schema": SCHEMA_DIALECT,
        "title": f"{entity.label} ({entity.entity_set}) request",
        "description": (
            f"A {entity.logical_name} record to create, update or upsert through the {entity.entity_set} entity "
            f"set. 'required' lists what a create needs; an update may send any subset."
        ),
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": True,
        "x-entity-set": entity.entity_set,
        "x-logical-name": entity.logical_name,
        "x-primary-id": entity.primary_id,
    }


def response_schema(description: EntityDescription) -> dict[str, Any]:
    """Build the response profile of a table.

    :param description: the table's metadata.
    :returns: a JSON Schema for the records Get and Query return.
    """
    entity = description.entity
    properties: dict[str, Any] = {
        "@odata.etag": {
            "title": "ETag",
            "description": "The record's version, for If-Match and If-None-Match.",
            "type": "string",
        },
        "@odata.editLink": {
            "title": "Edit link",
            "description": "The record's URL relative to the API root, which Update and Delete accept.",
            "type": "string",
        },
    }
    for attribute in description.attributes:
        if not attribute.valid_for_read:
            continue
        if attribute.is_lookup:
            properties[attribute.property_name] = {
                "title": attribute.label,
                "description": f"The id of the record the {attribute.logical_name} lookup points at.",
                "type": ["string", "null"],
                "pattern": _GUID_PATTERN,
            }
            continue
        properties[attribute.logical_name] = _value_property(attribute, writing=False)
    return {
        "$schema": SCHEMA_DIALECT,
        "title": f"{entity.label} ({entity.entity_set}) response",
        "description": f"A {entity.logical_name} record as Get and Query return it from the {entity.entity_set} "
        "entity set; records may carry further properties and annotations.",
        "type": "object",
        "properties": properties,
        "additionalProperties": True,
        "x-entity-set": entity.entity_set,
        "x-logical-name": entity.logical_name,
        "x-primary-id": entity.primary_id,
    }


def _bind_property(
    attribute: AttributeInfo, navigation: str, target: str, description: EntityDescription
) -> dict[str, Any]:
    target_text = f"a {target} record" if target else "a record"
    note = ""
    if description.navigation_inferred:
        note = " (navigation name assumed: the service gave no relationship metadata)"
    return {
        "title": f"{attribute.label} ({navigation})",
        "description": (
            f"Sets the {attribute.logical_name} lookup to {target_text}, as '/<entity set>(<id>)'; null clears it. "
            f"The navigation property name is case-sensitive{note}."
        ),
        "type": ["string", "null"],
        "pattern": _REFERENCE_PATTERN,
    }


def _value_property(attribute: AttributeInfo, *, writing: bool) -> dict[str, Any]:
    prop: dict[str, Any] = {
        "title": attribute.label,
        "description": _describe(attribute, writing=writing),
    }
    kind = attribute.attribute_type
    if kind in ("String", "Memo"):
        prop["type"] = ["string", "null"]
        if attribute.max_length:
            prop["maxLength"] = attribute.max_length
    elif kind in ("Integer", "BigInt"):
        prop["type"] = ["integer", "null"]
    elif kind in ("Decimal", "Double", "Money"):
        prop["type"] = ["number", "null"]
    elif kind == "Boolean":
        prop["type"] = ["boolean", "null"]
    elif kind == "DateTime":
        prop["type"] = ["string", "null"]
        prop["format"] = "date" if attribute.date_only else "date-time"
    elif kind == "Uniqueidentifier":
        prop["type"] = ["string", "null"]
        prop["pattern"] = _GUID_PATTERN
    elif kind in ("Picklist", "State", "Status"):
        if attribute.options:
            prop["oneOf"] = [{"const": option.value, "title": option.label} for option in attribute.options] + [
                {"const": None, "title": "(none)"}
            ]
        else:
            prop["type"] = ["integer", "null"]
    elif kind == "MultiSelectPicklist":
        prop["type"] = ["string", "null"]
    return prop


def _describe(attribute: AttributeInfo, *, writing: bool) -> str:
    text = f"{attribute.logical_name} ({_type_text(attribute)})"
    if attribute.options and attribute.attribute_type == "MultiSelectPicklist":
        choices = ", ".join(f"{option.value} = {option.label}" for option in attribute.options)
        text += f"; comma-separated values of: {choices}"
    if writing:
        if not attribute.valid_for_update:
            text += "; set on create only"
        elif not attribute.valid_for_create:
            text += "; set on update only"
        if attribute.required_level in _REQUIRED_LEVELS:
            text += "; required"
    return text + "."


def _type_text(attribute: AttributeInfo) -> str:
    if attribute.attribute_type == "DateTime":
        return "date only" if attribute.date_only else "date and time, UTC"
    return attribute.attribute_type
