"""Metadata definitions sent to the Web API (``EntityMetadata``, ``AttributeMetadata``, ``EntityKeyMetadata`` JSON)
read into the sandbox's metadata types, with Dataverse's defaults and validation.

* :func:`read_attribute` — one ``…AttributeMetadata`` (``@odata.type`` or ``AttributeType``; the ``Complex…`` types
  of ``CreateEntities`` too) as an :class:`~.metadata.AttributeMeta`: string, memo, integer, big integer, decimal,
  double, money, boolean, date and time (date-only with ``DateTimeBehavior`` ``DateOnly``), choice, choices and
  file columns. Lookups are refused here: Dataverse creates them only with a one-to-many relationship.
* :func:`read_entity` — an ``EntityMetadata`` with its primary name attribute as a new custom table: primary key
  ``<logical name>id``, ``statecode``/``statuscode``, ``createdon``/``modifiedon``/``versionnumber``.
* :func:`plural` — the entity set name Dataverse gives a new table (``new_bankaccount`` → ``new_bankaccounts``).
* :func:`label_text` — the user-language text of a ``Label``.

Not for applying a change (storage, catalog): see :mod:`.schema_changes`.
"""

from __future__ import annotations

import uuid
from typing import Any

from dataverse_sandbox.numbers import finite

from .errors import DataverseError, invalid_argument
from .metadata import AttributeKind, AttributeMeta, EntityMeta, Option

__all__ = ["label_text", "plural", "read_attribute", "read_entity", "schema_name_of", "valid_name"]

_STATE = (Option(0, "Active"), Option(1, "Inactive"))
_STATUS = (Option(1, "Active", state=0), Option(2, "Inactive", state=1))
_TYPES = {
    "String": AttributeKind.STRING,
    "Memo": AttributeKind.MEMO,
    "Integer": AttributeKind.INTEGER,
    "BigInt": AttributeKind.BIGINT,
    "Decimal": AttributeKind.DECIMAL,
    "Double": AttributeKind.DOUBLE,
    "Money": AttributeKind.MONEY,
    "Boolean": AttributeKind.BOOLEAN,
    "DateTime": AttributeKind.DATETIME,
    "Picklist": AttributeKind.PICKLIST,
    "MultiSelectPicklist": AttributeKind.MULTISELECT,
    "File": AttributeKind.FILE,
}
#: Dataverse's defaults for a new column where the definition leaves them out.
_DEFAULT_LENGTH = {AttributeKind.STRING: 100, AttributeKind.MEMO: 2000}
_DEFAULT_RANGE = {
    AttributeKind.INTEGER: (-2147483648.0, 2147483647.0),
    AttributeKind.BIGINT: (-9223372036854775808.0, 9223372036854775807.0),
    AttributeKind.DECIMAL: (-100000000000.0, 100000000000.0),
    AttributeKind.DOUBLE: (-100000000000.0, 100000000000.0),
    AttributeKind.MONEY: (-922337203685477.0, 922337203685477.0),
}


def label_text(label: Any, default: str) -> str:
    """:returns: the English (or first) text of a ``Label`` (``LocalizedLabels``), ``default`` when it has none."""
    if not isinstance(label, dict):
        return default
    labels = [item for item in label.get("LocalizedLabels") or [] if isinstance(item, dict) and item.get("Label")]
    if isinstance(label.get("UserLocalizedLabel"), dict) and label["UserLocalizedLabel"].get("Label"):
        labels.insert(0, label["UserLocalizedLabel"])
    english = [item for item in labels if item.get("LanguageCode") == 1033]
    chosen = (english or labels or [{"Label": default}])[0]
    return str(chosen["Label"])


def _translations(label: Any) -> tuple[tuple[int, str], ...]:
    if not isinstance(label, dict):
        return ()
    found = []
    for item in label.get("LocalizedLabels") or []:
        if not isinstance(item, dict) or not item.get("Label") or item.get("LanguageCode") in (None, 1033):
            continue
        code = item["LanguageCode"]
        if type(code) is not int:  # "x" raised ValueError (a 500); "1031" was taken as 1031
            raise invalid_argument(f"A label's LanguageCode must be a whole number; got {repr(code)[:40]}.")
        found.append((code, str(item["Label"])))
    return tuple(found)


def plural(logical_name: str) -> str:
    """:returns: the entity set name of a new table: its logical name in English plural, as Dataverse forms it."""
    if logical_name.endswith(("s", "x", "z", "ch", "sh")):
        return logical_name + "es"
    if logical_name.endswith("y") and logical_name[-2:-1] not in ("a", "e", "i", "o", "u"):
        return logical_name[:-1] + "ies"
    return logical_name + "s"


def valid_name(name: Any, what: str) -> str:
    """:returns: ``name`` when it is a valid schema name: an ASCII letter first, then letters, digits, underscores.

    :raises DataverseError: 400 ``0x80040203`` otherwise (names reach SQL and CSDL only after this check).
    """
    if not isinstance(name, str) or not name.isascii() or not name[:1].isalpha() or not name.replace("_", "").isalnum():
        raise invalid_argument(f"The {what} needs a valid name (a letter, then letters, digits or '_'); got {name!r}.")
    return name


def schema_name_of(body: dict[str, Any], what: str) -> str:
    """:returns: the definition's ``SchemaName``.

    :raises DataverseError: 400 ``0x80040203`` when it is missing or not a valid name (:func:`valid_name`).
    """
    return valid_name(body.get("SchemaName"), f"{what} definition's SchemaName")


def _type_name(body: dict[str, Any]) -> str:
    odata_type = str(body.get("@odata.type") or "").lstrip("#").removeprefix("Microsoft.Dynamics.CRM.")
    odata_type = odata_type.removeprefix("Complex").removesuffix("AttributeMetadata")
    return odata_type or str(body.get("AttributeType") or "")


def _options(body: dict[str, Any], kind: AttributeKind) -> tuple[Option, ...]:
    option_set = body.get("OptionSet") if isinstance(body.get("OptionSet"), dict) else {}
    assert isinstance(option_set, dict)
    if kind is AttributeKind.BOOLEAN:
        false, true = option_set.get("FalseOption") or {}, option_set.get("TrueOption") or {}
        return (
            Option(0, label_text(false.get("Label"), "No"), translations=_translations(false.get("Label"))),
            Option(1, label_text(true.get("Label"), "Yes"), translations=_translations(true.get("Label"))),
        )
    options = []
    for index, item in enumerate(option_set.get("Options") or []):
        if not isinstance(item, dict):
            continue
        given = _number(item, "Value", whole=True, bounds=(-(2**31), 2**31 - 1), owner="option")
        value = given if given is not None else 100000000 + index
        text = label_text(item.get("Label"), str(value))
        options.append(Option(value, text, translations=_translations(item.get("Label"))))
    return tuple(options)


#: The largest MaxLength of a text column (a memo's; a string's is 4000) and MaxSizeInKB of a file (10 GB).
_LONGEST_TEXT = 1_048_576
_LARGEST_FILE_KB = 10_485_760


def _number(
    body: dict[str, Any], name: str, *, whole: bool, bounds: tuple[float, float] | None = None, owner: str = "attribute"
) -> Any:
    """:returns: the definition's numeric property ``name`` (``None`` when absent).

    :param owner: what the property belongs to, as the message names it (``attribute``, ``option``).

    :raises DataverseError: 400 ``0x80040203`` naming the property when it is not a (whole) number or out of bounds.
    """
    value = body.get(name)
    if value is None:
        return None
    numeric = isinstance(value, int | float) and not isinstance(value, bool) and finite(value)
    if not numeric or (whole and not float(value).is_integer()):
        shown = repr(value)[:60]
        raise invalid_argument(f"The {owner}'s {name} must be a {'whole ' if whole else ''}number; got {shown}.")
    if bounds is not None and not bounds[0] <= value <= bounds[1]:
        raise invalid_argument(f"The {owner}'s {name} must be between {bounds[0]:g} and {bounds[1]:g}; got {value:g}.")
    return int(value) if whole else float(value)


def _date_format(body: dict[str, Any], kind: AttributeKind) -> str | None:
    if kind not in (AttributeKind.DATETIME, AttributeKind.DATEONLY):
        return None
    value = body.get("Format")
    if value in ("DateOnly", "DateAndTime"):
        return str(value)
    return "DateOnly" if kind is AttributeKind.DATEONLY else "DateAndTime"


def read_attribute(entity_logical_name: str, body: dict[str, Any]) -> list[AttributeMeta]:
    """Read a column definition.

    :param entity_logical_name: the table it is added to (for messages).
    :param body: the ``…AttributeMetadata`` JSON.
    :returns: the column, then the columns Dataverse adds with it (a file column's ``<name>_name``).
    :raises DataverseError: 400 ``0x80040203`` for a missing schema name or a type the sandbox cannot create.
    """
    schema = schema_name_of(body, "attribute")
    type_name = _type_name(body)
    if type_name == "Lookup":
        raise invalid_argument(
            "A lookup attribute cannot be created on its own: create a one-to-many relationship with it "
            "(POST RelationshipDefinitions)."
        )
    kind = _TYPES.get(type_name)
    if kind is None:
        raise invalid_argument(
            f"The attribute type '{type_name or body.get('@odata.type')}' of '{schema}' cannot be created on "
            f"entity '{entity_logical_name}'."
        )
    behaviour = body.get("DateTimeBehavior")
    if kind is AttributeKind.DATETIME and isinstance(behaviour, dict) and behaviour.get("Value") == "DateOnly":
        kind = AttributeKind.DATEONLY
    logical = schema.lower()
    required = body.get("RequiredLevel")
    low, high = _DEFAULT_RANGE.get(kind, (None, None))
    attribute = AttributeMeta(
        logical,
        kind,
        label_text(body.get("DisplayName"), schema),
        max_length=(_number(body, "MaxLength", whole=True, bounds=(1, _LONGEST_TEXT)) or _DEFAULT_LENGTH[kind])
        if kind in _DEFAULT_LENGTH
        else None,
        options=_options(body, kind)
        if kind.is_option_set or kind in (AttributeKind.BOOLEAN, AttributeKind.MULTISELECT)
        else (),
        valid_for_create=kind is not AttributeKind.FILE,
        valid_for_update=kind is not AttributeKind.FILE,
        required=str(required.get("Value") or "None") if isinstance(required, dict) else "None",
        min_value=_or(_number(body, "MinValue", whole=False), low),
        max_value=_or(_number(body, "MaxValue", whole=False), high),
        max_size_kb=(_number(body, "MaxSizeInKB", whole=True, bounds=(1, _LARGEST_FILE_KB)) or 32768)
        if kind is AttributeKind.FILE
        else None,
        schema=schema,
        custom=True,
        given_id=str(uuid.uuid4()),
        date_format=_date_format(body, kind),
    )
    if kind is not AttributeKind.FILE:
        return [attribute]
    name_column = AttributeMeta(
        f"{logical}_name",
        AttributeKind.STRING,
        f"{attribute.display_name}: File Name",
        max_length=200,
        valid_for_create=False,
        valid_for_update=False,
        attribute_of=logical,
        custom=True,
        given_id=str(uuid.uuid4()),
    )
    return [attribute, name_column]


def _or(value: float | None, default: float | None) -> float | None:
    return default if value is None else value


def read_entity(body: dict[str, Any], object_type_code: int) -> EntityMeta:
    """Read a table definition.

    :param body: the ``EntityMetadata`` (or ``ComplexEntityMetadata``) JSON with its ``Attributes``.
    :param object_type_code: the type code to give it.
    :returns: the new table, its primary name attribute and the system columns Dataverse adds.
    :raises DataverseError: 400 ``0x80040203`` for a missing schema name or no primary name attribute.
    """
    schema = schema_name_of(body, "entity")
    logical = schema.lower()
    definitions = [item for item in body.get("Attributes") or [] if isinstance(item, dict)]
    primary = [item for item in definitions if item.get("IsPrimaryName")]
    if len(primary) != 1 or _type_name(primary[0]) != "String":
        raise invalid_argument(
            f"The entity '{schema}' needs exactly one primary name attribute: a StringAttributeMetadata with "
            "IsPrimaryName true."
        )
    columns: list[AttributeMeta] = []
    for item in [primary[0], *(item for item in definitions if item is not primary[0])]:
        columns.extend(read_attribute(logical, item))
    names = [column.logical_name for column in columns]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise DataverseError(
            400, "0x80047013", f"An attribute with the specified name '{duplicates[0]}' already exists."
        )
    display = label_text(body.get("DisplayName"), schema)

    def system(name: str, kind: AttributeKind, label: str, **extra: Any) -> AttributeMeta:
        return AttributeMeta(name, kind, label, valid_for_create=False, valid_for_update=False, **extra)

    primary_id = f"{logical}id"
    return EntityMeta(
        logical_name=logical,
        entity_set_name=plural(logical),
        display_name=display,
        primary_id=primary_id,
        primary_name=columns[0].logical_name,
        object_type_code=object_type_code,
        metadata_id=str(uuid.uuid4()),
        attributes=(
            AttributeMeta(primary_id, AttributeKind.UNIQUEIDENTIFIER, display, valid_for_update=False),
            *columns,
            AttributeMeta("statecode", AttributeKind.STATE, "Status", options=_STATE),
            AttributeMeta("statuscode", AttributeKind.STATUS, "Status Reason", options=_STATUS),
            system("createdon", AttributeKind.DATETIME, "Created On"),
            system("modifiedon", AttributeKind.DATETIME, "Modified On"),
            system("versionnumber", AttributeKind.BIGINT, "Version Number"),
        ),
        change_tracking=bool(body.get("ChangeTrackingEnabled", False)),
        schema=schema,
        custom=True,
    )
