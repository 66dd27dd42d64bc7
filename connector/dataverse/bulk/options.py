"""The ``bulk`` option of Create, Update and Upsert, read once into a frozen value with the schema's defaults.

The defaults live in ``schemas/operations/<operation>.schema.json`` only (read here, never written twice); they
follow Dataverse's published limits: at most 1000 requests in a ``$batch``, 52 concurrent requests per user.
:class:`BulkOptions` is one field of the write options (:mod:`connector.dataverse.operations.write_options`).
Not for other options: :mod:`connector.dataverse.operations.options`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from connector.dataverse.operations.options import option_schema, with_defaults

__all__ = ["BulkMode", "BulkOptions"]

BulkMode = Literal["auto", "multiple", "batch", "off"]


@dataclass(frozen=True, kw_only=True)
class BulkOptions:
    """How documents are grouped into bulk requests.

    :param mode: ``auto`` (bulk actions where possible, else ``$batch``), ``multiple`` (bulk actions, no
        fallback to ``$batch`` for a table without them), ``batch`` (always ``$batch``), ``off`` (one request per
        document).
    :param batch_size: the most records in one request.
    :param min_batch_size: a chunk with fewer records is sent one request per record (unless all or nothing).
    :param max_request_bytes: the largest request body; a larger single record goes alone.
    :param max_concurrency: the most requests in flight at once.
    :param initial_concurrency: requests in flight at the start (never above ``max_concurrency``).
    :param all_or_nothing: each request's records are one ``$batch`` change set.
    """

    mode: BulkMode
    batch_size: int
    min_batch_size: int
    max_request_bytes: int
    max_concurrency: int
    initial_concurrency: int
    all_or_nothing: bool

    @classmethod
    def from_values(cls, operation: str, given: Mapping[str, Any] | None) -> BulkOptions:
        """Read the ``bulk`` option of validated options, filling in the schema's defaults.

        :param operation: ``create``, ``update`` or ``upsert``.
        :param given: the ``bulk`` option as given (valid against the schema), or ``None``.
        :returns: the bulk options.
        """
        value = with_defaults(option_schema(operation)["properties"]["bulk"], given)
        return cls(
            mode=value["mode"],
            batch_size=int(value["batch_size"]),
            min_batch_size=int(value["min_batch_size"]),
            max_request_bytes=int(value["max_request_bytes"]),
            max_concurrency=int(value["max_concurrency"]),
            initial_concurrency=min(int(value["initial_concurrency"]), int(value["max_concurrency"])),
            all_or_nothing=bool(value["all_or_nothing"]),
        )
