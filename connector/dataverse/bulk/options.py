"""The ``bulk`` option of Create, Update and Upsert, read once into a frozen value with the schema's defaults.

The defaults live in ``schemas/operations/<operation>.schema.json`` only (read here, never written twice); they
follow Dataverse's published limits: at most 1000 requests in a ``$batch``, 52 concurrent requests per user.
Not for other options: :mod:`connector.dataverse.operations.options`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

from connector.resources import load_schema

__all__ = ["BulkMode", "BulkOptions"]

BulkMode = Literal["auto", "multiple", "batch", "off"]


@dataclass(frozen=True)
class BulkOptions:
    """How documents are grouped into bulk requests.

    :param mode: ``auto`` (bulk actions where possible, else ``$batch``), ``multiple`` (bulk actions, no
        fallback to ``$batch`` for a table without them), ``batch`` (always ``$batch``), ``off`` (one request per
        document).
    :param batch_size: the most records in one request.
    :param min_batch_size: a chunk with fewer records is sent one request per record (unless all or nothing).
    :param max_request_bytes: the largest request body; a larger single record goes alone.
    :param max_concurrency: the most requests in flight at once.
    :param initial_concurrency: requests in flight at the start.
    :param all_or_nothing: each request's records are one ``$batch`` change set.
    """

    mode: BulkMode = "auto"
    batch_size: int = 100
    min_batch_size: int = 10
    max_request_bytes: int = 8 * 1024 * 1024
    max_concurrency: int = 52
    initial_concurrency: int = 2
    all_or_nothing: bool = False

    @classmethod
    def from_options(cls, operation: str, options: Mapping[str, Any]) -> BulkOptions:
        """Read the ``bulk`` option of validated options, filling in the schema's defaults.

        :param operation: ``create``, ``update`` or ``upsert``.
        :param options: the operation's validated options.
        :returns: the bulk options.
        """
        schema = load_schema(f"operations/{operation}")["properties"]["bulk"]["properties"]
        given = options.get("bulk") or {}
        value = {name: given.get(name, prop.get("default")) for name, prop in schema.items()}
        return cls(
            mode=cast(BulkMode, value["mode"]),
            batch_size=int(value["batch_size"]),
            min_batch_size=int(value["min_batch_size"]),
            max_request_bytes=int(value["max_request_bytes"]),
            max_concurrency=int(value["max_concurrency"]),
            initial_concurrency=min(int(value["initial_concurrency"]), int(value["max_concurrency"])),
            all_or_nothing=bool(value["all_or_nothing"]),
        )
