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
tables: a single-valued navigation property's table comes from the lookup's relationship
(``ManyToOneRelationships``), a collection-valued one's from ``OneToManyRelationships``; a nested record whose table
cannot be told is sent as it is, for the service to judge. Nesting deeper than :data:`_DEPTH` is not converted.
Not for filters (:mod:`connector.dataverse.odata.filters` reads labels there) nor for reading formatted values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from connector.dataverse.metadata.cache import MetadataCache
from connector.dataverse.metadata.tables import AttributeInfo, OptionInfo
from connector.dataverse.operations.inputs import DocumentError
from connector.dataverse.operations.options import OperationOptions
from connector.dataverse.operations.running import OperationContext
from connector.dataverse.operations.write_options import RecordWriteOptions
from connector.numerals import integer

__all__ = ["CHOICE_TYPES", "MULTI_CHOICE_TYPE", "option_value_of", "with_option_values"]

CHOICE_TYPES: Final = frozenset({"Picklist", "State", "Status"})
"""Attribute types whose value is one option."""
MULTI_CHOICE_TYPE: Final = "MultiSelectPicklist"
"""The attribute type whose value is several options, written as ``"1,2,3"``."""
_LISTED: Final = 40
"""The most labels an error message lists."""
_DEPTH: Final = 8
"""The deepest nested records converted (a deep insert is rarely more than two levels)."""


def with_option_values(context: OperationContext[OperationOptions], body: dict[str, Any]) -> dict[str, Any]:
    """Replace the labels of a write body's choice and multi-choice members with their values, in nested records too.

    :param context: the run (nothing changes unless its options are a record write's with ``option_labels`` on).
    :param body: the body to send.
    :returns: ``body``, or a new dict with values in place of labels.
    :raises DocumentError: naming the column, for a label it does not have.
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
    nested = [name for name, value in body.items() if _holds_records(value)] if depth < _DEPTH else []
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
        if target is None:
            continue
        value = body[name]
        if isinstance(value, dict):
            converted[name] = _with_values(metadata, target, value, language, f"{path}{name}.", depth + 1)
        else:
            converted[name] = [
                _with_values(metadata, target, item, language, f"{path}{name}[{number}].", depth + 1)
                if isinstance(item, dict)
                else item
                for number, item in enumerate(value)
            ]
    return converted


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
