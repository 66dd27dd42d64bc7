"""The options of Create, Update and Upsert, parsed once: headers, the returned record, keys, concurrency, bulk,
option-set labels.

They live apart from :mod:`connector.dataverse.operations.write` because the bulk writer
(:mod:`connector.dataverse.bulk`) reads them too. :class:`RecordWriteOptions` is what the three share (the record
returned, duplicate detection, the ``bulk`` option); each has its own class on top. Delete's options are
:class:`~connector.dataverse.operations.delete.DeleteOptions`. Not for building requests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

from connector.dataverse.bulk.options import BulkOptions
from connector.dataverse.operations.options import BypassBusinessLogic, CommonOptions, WriteOptions, strings
from connector.errors import FieldError

__all__ = ["ClientKeys", "CreateOptions", "RecordWriteOptions", "UpdateOptions", "UpsertOptions"]

ClientKeys = Literal["always", "bulk", "never"]
"""When a create without its primary key gets one assigned by the connector."""


@dataclass(frozen=True, kw_only=True)
class RecordWriteOptions(WriteOptions):
    """What Create, Update and Upsert share.

    :param duplicate_detection: run the organisation's duplicate detection rules.
    :param return_representation: return the written record (with the ``select`` properties).
    :param select: the properties of the returned record; empty returns all.
    :param bulk: how documents are grouped into bulk requests.
    :param option_labels: turn choice labels in bodies into their values
        (:mod:`connector.dataverse.operations.option_labels`).
    :param label_language: the language code labels are matched in; ``None``: the user's labels.
    """

    duplicate_detection: bool
    return_representation: bool
    select: tuple[str, ...]
    bulk: BulkOptions
    option_labels: bool
    label_language: int | None

    def headers(self) -> dict[str, str]:
        """:returns: the ``MSCRM.*`` headers these options choose."""
        headers: dict[str, str] = {}
        if self.duplicate_detection:
            # Duplicate detection is off by default in the Web API; "false" means "do not suppress".
            headers["MSCRM.SuppressDuplicateDetection"] = "false"
        headers.update(super().headers())
        return headers

    def representation(self) -> tuple[list[tuple[str, str]], list[str]]:
        """:returns: the ``$select`` query and the ``Prefer`` values of a write that returns its record, if asked."""
        if not self.return_representation:
            return [], []
        return ([("$select", ",".join(self.select))] if self.select else []), ["return=representation"]


class _SharedFields(TypedDict):
    common: CommonOptions
    bypass_custom_plugins: bool
    bypass_business_logic: BypassBusinessLogic
    duplicate_detection: bool
    return_representation: bool
    select: tuple[str, ...]
    bulk: BulkOptions
    option_labels: bool
    label_language: int | None


def _shared(operation: str, values: Mapping[str, Any]) -> _SharedFields:
    """The fields of :class:`RecordWriteOptions` (and its bases), from validated values."""
    return {
        "common": CommonOptions.from_values(values),
        "bypass_custom_plugins": bool(values["bypass_custom_plugins"]),
        "bypass_business_logic": values["bypass_business_logic"],
        "duplicate_detection": bool(values["duplicate_detection"]),
        "return_representation": bool(values["return_representation"]),
        "select": strings(values["select"]),
        "bulk": BulkOptions.from_values(operation, values["bulk"]),
        "option_labels": bool(values["option_labels"]),
        "label_language": int(values["label_language"]) if values.get("label_language") is not None else None,
    }


@dataclass(frozen=True, kw_only=True)
class CreateOptions(RecordWriteOptions):
    """The Create operation's options.

    :param client_keys: when a document without its primary key gets a random one (``always``: every create;
        ``bulk``: in bulk requests only; ``never``).
    :param key_source_field: the member holding the source system's id, from which a document without its primary
        key gets a derived id (:mod:`~connector.dataverse.operations.keys`); ``None``: none.
    """

    client_keys: ClientKeys
    key_source_field: str | None

    @classmethod
    def from_values(cls, operation: str, values: Mapping[str, Any]) -> CreateOptions:
        """:returns: the options of validated values (``operation`` is ``create``; defaults filled in)."""
        return cls(
            **_shared(operation, values),
            client_keys=values["client_keys"],
            key_source_field=values["key_source_field"],
        )


@dataclass(frozen=True, kw_only=True)
class UpdateOptions(RecordWriteOptions):
    """The Update operation's options.

    :param key_fields: the document members that form an alternate key; empty: edit link or primary key.
    :param concurrency_mode: the header that carries the ETag (``if_match``: update only an unchanged record;
        ``if_none_match``: create only).
    :param etag: the ETag sent when a document carries none; ``None``: none (the update may create).
    """

    key_fields: tuple[str, ...]
    concurrency_mode: Literal["if_match", "if_none_match"]
    etag: str | None

    @classmethod
    def from_values(cls, operation: str, values: Mapping[str, Any]) -> UpdateOptions:
        """:returns: the options of validated values (``operation`` is ``update``; defaults filled in)."""
        return cls(
            **_shared(operation, values),
            key_fields=strings(values["key_fields"]),
            concurrency_mode=values["concurrency_mode"],
            etag=str(values["etag"]) if values["etag"] else None,
        )


@dataclass(frozen=True, kw_only=True)
class UpsertOptions(RecordWriteOptions):
    """The Upsert operation's options.

    :param key_fields: the document members that form an alternate key; empty: edit link or primary key.
    :param key_source_field: the member holding the source system's id: a document without an edit link or its
        primary key addresses the record whose id is derived from it (:mod:`~connector.dataverse.operations.keys`).
    """

    key_fields: tuple[str, ...]
    key_source_field: str | None

    @classmethod
    def from_values(cls, operation: str, values: Mapping[str, Any]) -> UpsertOptions:
        """:returns: the options of validated values (``operation`` is ``upsert``; defaults filled in)."""
        return cls(
            **_shared(operation, values),
            key_fields=strings(values["key_fields"]),
            key_source_field=values["key_source_field"],
        )

    def problems(self) -> list[FieldError]:
        """:returns: an error when both alternate key fields and a key source field name the record."""
        if self.key_fields and self.key_source_field:
            return [
                FieldError(
                    "options.key_source_field",
                    "cannot be used with key_fields: the record is named either by its alternate key or by the id"
                    " derived from its source id",
                )
            ]
        return []
