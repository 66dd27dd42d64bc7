"""Option-set labels in write bodies, turned into the values Dataverse stores (the ``option_labels`` option).

With ``option_labels`` on, a Create, Update or Upsert body may name a choice by its label: ``{"industrycode":
"Consulting"}`` is sent as ``{"industrycode": 7}``. Choice columns (``Picklist``, ``State``, ``Status``) take one
label; multi-choice columns (``MultiSelectPicklist``) take a list of labels (``["Red", "Blue"]``), or one text
holding one label or several separated by commas, and are sent as Dataverse writes them (``"1,2"``). Integers and
``null`` pass unchanged, so do digit strings that are values of the column. Labels are matched exactly, then
ignoring case when exactly one option matches that way; with ``label_language`` (a language code such as
``1031``) they are matched in that language, otherwise in the user's language (the metadata's
``UserLocalizedLabel``). The labels come from the table's metadata, read once per connection
(:meth:`~connector.dataverse.metadata.cache.MetadataCache.describe`).

A label the column does not have fails that document only (:class:`~connector.dataverse.operations.inputs.
DocumentError`), naming the column (with the navigation properties that lead to it, ``primarycontactid.gendercode``)
and listing its labels. Records nested under navigation properties (a deep insert) are converted against their own
tables, as deep as a write body may nest them (:data:`~connector.dataverse.operations.inputs.MOST_NESTING`). A nested
record's table is the one its own ``"@odata.type": "Microsoft.Dynamics.CRM.<logical name>"`` names (how a client
says which table a record of a polymorphic navigation property belongs to), else the one its navigation property
leads to: a single-valued property's from the lookup's relationship (``ManyToOneRelationships``), a
collection-valued one's from ``OneToManyRelationships``. An ``@odata.type`` of another form, or one that names no
table, fails the document, naming it (``primarycontactid.@odata.type``); one that names another table than the
property leads to is the record's table (a task under a property leading to ``activitypointer``, its base table),
and the service judges whether the property takes it. A nested record whose table cannot be told, or whose named
table's columns may not be read, is sent as it is.
Not for filters (:mod:`connector.dataverse.odata.filters` reads labels there) nor for reading formatted values.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Final

from connector.dataverse.metadata.cache import MetadataCache
from connector.dataverse.metadata.tables import AttributeInfo, EntityInfo, OptionInfo
from connector.dataverse.operations.inputs import MOST_NESTING, DocumentError
from connector.dataverse.operations.options import OperationOptions
from connector.dataverse.operations.running import OperationContext
from connector.dataverse.operations.write_options import RecordWriteOptions
from connector.excerpts import excerpt
from connector.numerals import integer

__all__ = ["CHOICE_TYPES", "MULTI_CHOICE_TYPE", "option_value_of", "with_option_values"]

CHOICE_TYPES: Final = frozenset({"Picklist", "State", "Status"})
"""Attribute types whose value is one option."""
MULTI_CHOICE_TYPE: Final = "MultiSelectPicklist"
"""The attribute type whose value is several options, written as ``"1,2,3"``."""
_LISTED: Final = 40
"""The most labels an error message lists."""
_TYPE: Final = "@odata.type"
"""The annotation by which a nested record names its own table."""
_TYPE_PREFIX: Final = "Microsoft.Dynamics.CRM."
"""What an ``@odata.type`` holds before the table's logical name (after an optional ``#``)."""
_SHOWN: Final = 100
"""The most characters of a malformed ``@odata.type`` quoted."""
_LOGICAL_NAME: Final = re.compile(r"[A-Za-z0-9_]+", re.ASCII)
"""The shape of a logical name: anything else names no table, so it is refused without asking the service."""


def with_option_values(context: OperationContext[OperationOptions], body: dict[str, Any]) -> dict[str, Any]:
    """Replace the labels of a write body's choice and multi-choice members with their values, in nested records too.

    :param context: the run (nothing changes unless its options are a record write's with ``option_labels`` on).
    :param body: the body to send.
    :returns: ``body``, or a new dict with values in place of labels.
    :raises DocumentError: naming the column, for a label it does not have; naming a nested record's
        ``@odata.type``, when that is malformed or names no table.
    :raises ConnectorError: when the tables' metadata cannot be read.
    """
    options = context.options
    if not isinstance(options, RecordWriteOptions) or not options.option_labels:
        return body
    return _with_values(context.metadata, context.entity_set, body, options.label_language, "")


def _with_values(
    metadata: MetadataCache, entity_set: str, body: dict[str, Any], language: int | None, path: str, depth: int = 0
) -> dict[str, Any]:
    candidates = [name for name, value in body.items() if _may_be_label(value)]
    # write_body refuses deeper bodies, so every record of a body it let through is converted.
    nested = [name for name, value in body.items() if _holds_records(value)] if depth < MOST_NESTING else []
    if not candidates and not nested:
        return body
    description = metadata.describe(entity_set)
    converted = dict(body)
    for name in candidates:
        attribute = description.attribute(name)
        if attribute is None or not attribute.options:
            continue
        if attribute.attribute_type in CHOICE_TYPES:
            converted[name] = option_value_of(attribute, body[name], language, path)
        elif attribute.attribute_type == MULTI_CHOICE_TYPE:
            converted[name] = _multi_value(attribute, body[name], language, path)
    for name in nested:
        target = metadata.navigation_target(entity_set, name)
        value = body[name]
        if isinstance(value, dict):
            converted[name] = _nested_values(metadata, target, value, language, f"{path}{name}", depth + 1)
        else:
            converted[name] = [
                _nested_values(metadata, target, item, language, f"{path}{name}[{number}]", depth + 1)
                if isinstance(item, dict)
                else item
                for number, item in enumerate(value)
            ]
    return converted


def _nested_values(
    metadata: MetadataCache,
    target: str | None,
    record: dict[str, Any],
    language: int | None,
    where: str,
    depth: int,
) -> dict[str, Any]:
    """One nested record converted against its own table: the one its ``@odata.type`` names, else ``target``.

    :param target: the entity set its navigation property leads to, or ``None`` when that cannot be told.
    :param where: the navigation properties leading to the record (``contact_customer_accounts[1]``).
    :returns: ``record``, or a new dict with values in place of labels.
    :raises DocumentError: naming its ``@odata.type``, when that is malformed or names no table.
    """
    if _TYPE in record:
        declared = _declared_table(metadata, record[_TYPE], f"{where}.{_TYPE}")
        # The record names the table it is (a task under a property that leads to activitypointer, its base): its
        # columns are that table's, and the service judges whether the property takes it. A table whose columns may
        # not be read leaves the record as it is, not converted against another table's.
        target = declared.entity_set if metadata.describable(declared.entity_set) else None
    if target is None:
        return record
    return _with_values(metadata, target, record, language, f"{where}.", depth)


def _declared_table(metadata: MetadataCache, value: Any, field: str) -> EntityInfo:
    """The table a nested record's ``@odata.type`` names.

    :raises DocumentError: naming ``field``, when it is not ``Microsoft.Dynamics.CRM.<logical name>`` (with or
        without a leading ``#``), or no table with an entity set has that logical name.
    """
    shape = f"'{_TYPE_PREFIX}<logical name>' (with or without a leading '#')"
    if not isinstance(value, str):
        kind = "null" if value is None else type(value).__name__
        raise DocumentError(field, f"must be text of the form {shape}, not {kind}")
    text = value.removeprefix("#")
    logical_name = text.removeprefix(_TYPE_PREFIX)
    if logical_name == text or not _LOGICAL_NAME.fullmatch(logical_name):
        raise DocumentError(
            field, f"{excerpt(value, limit=_SHOWN, what='an @odata.type')!r} is not of the form {shape}"
        )
    table = metadata.entity_named(logical_name)
    if table is None:
        raise DocumentError(field, f"names no table: none with an entity set is called {logical_name!r}")
    return table


def _holds_records(value: Any) -> bool:
    """Whether a member is a deep insert: a nested record, or a list of them."""
    return isinstance(value, dict) or (isinstance(value, list) and any(isinstance(item, dict) for item in value))


def _may_be_label(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, list) and any(isinstance(item, str) for item in value))


def option_value_of(attribute: AttributeInfo, value: Any, language: int | None, path: str = "") -> Any:
    """The value one choice member is sent with.

    :param attribute: the choice column.
    :param value: the member's value: a label, a value, or anything else (sent unchanged, for the service to judge).
    :param language: the labels' language code, or ``None`` for the user's labels.
    :param path: the navigation properties leading to a nested record's column (``primarycontactid.``).
    :returns: the option's value for a label; ``value`` itself otherwise.
    :raises DocumentError: naming the column, for text that is neither a label nor a value of it.
    """
    if not isinstance(value, str):
        return value
    found = _match(attribute.options, value, language)
    if found is None:
        raise _unknown(attribute, value, language, path)
    return found


def _multi_value(attribute: AttributeInfo, value: Any, language: int | None, path: str) -> Any:
    if isinstance(value, str):
        whole = _match(attribute.options, value, language)
        if whole is not None:
            return str(whole)
        items: Sequence[Any] = [part.strip() for part in value.split(",")]
    elif isinstance(value, list):
        items = value
    else:
        return value
    values: list[int] = []
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool):
            values.append(item)
            continue
        found = _match(attribute.options, item, language) if isinstance(item, str) else None
        if found is None:
            raise _unknown(attribute, item, language, path)
        values.append(found)
    return ",".join(str(number) for number in dict.fromkeys(values))


def _label_of(option: OptionInfo, language: int | None) -> str | None:
    return option.label if language is None else option.label_in(language)


def _match(options: Sequence[OptionInfo], text: str, language: int | None) -> int | None:
    for option in options:
        if _label_of(option, language) == text:
            return option.value
    folded = text.casefold()
    matches = [option.value for option in options if (_label_of(option, language) or "").casefold() == folded]
    if len(matches) == 1:
        return matches[0]
    number = integer(text)
    if number is not None and any(option.value == number for option in options):
        return number
    return None


def _unknown(attribute: AttributeInfo, value: Any, language: int | None, path: str) -> DocumentError:
    labels = [(option.value, _label_of(option, language)) for option in attribute.options]
    named = [f"{text} ({number})" for number, text in labels if text is not None]
    where = f" in language {language}" if language is not None else ""
    if not named:
        available = sorted({code for option in attribute.options for code, _ in option.labels})
        known = ", ".join(str(code) for code in available) or "none"
        return DocumentError(
            path + attribute.logical_name,
            f"{value!r} cannot be matched: the column has no labels{where} (its languages: {known})",
        )
    shown = ", ".join(named[:_LISTED]) + (f", and {len(named) - _LISTED} more" if len(named) > _LISTED else "")
    kind = "multi-choice" if attribute.attribute_type == MULTI_CHOICE_TYPE else "choice"
    return DocumentError(
        path + attribute.logical_name, f"{value!r} is not a label of this {kind} column{where}; its labels: {shown}"
    )
