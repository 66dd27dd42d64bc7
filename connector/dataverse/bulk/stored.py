"""Finding which records of a refused bulk create are already stored, with one request for the whole chunk.

A bulk create whose records carry their own keys is refused as a whole (``409``/``412``) when one of them exists:
typically a job re-run after a crash, whose first run stored part of the input. Read back one by one, as a single
create's refusal is (:mod:`connector.dataverse.operations.resends`), confirming a chunk of 100 would cost 100
requests, and under Dataverse's 6,000 requests per 5 minutes a re-run would take far longer than the write.
:func:`find_stored` reads every key of the chunk with one request: a ``$batch`` of GETs, each asking for up to
:data:`KEYS_PER_PART` keys with Dataverse's ``In`` query function
(``$filter=Microsoft.Dynamics.CRM.In(PropertyName='accountid',PropertyValues=["<id>",…])``, see
learn.microsoft.com/power-apps/developer/data-platform/webapi/query/filter-rows, *Dataverse query functions*; one
function with a list of values where a thousand ``or`` comparisons would make an expression a thousand levels deep;
a ``$batch`` part's URL may be far longer than a plain GET's, reference §3.9), asking only for the columns the
comparison needs (:func:`~connector.dataverse.operations.resends.compared_columns`), so the chunk writer
(:mod:`connector.dataverse.bulk.chunks`) can confirm the stored records against what it sent and write only the
others.
Not for deciding what a stored record means: the chunk writer compares it with the body sent.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Final

from connector.dataverse.bulk.multipart import BatchFormatError, BatchPart, build_batch, read_batch
from connector.dataverse.bulk.sender import BulkSender
from connector.dataverse.client import DataverseClient
from connector.dataverse.odata.answers import json_body
from connector.dataverse.odata.literals import guid_of
from connector.errors import ConnectorError

__all__ = ["KEYS_PER_PART", "find_stored"]

_log = logging.getLogger(__name__)

KEYS_PER_PART: Final = 250
"""Keys read by one ``$batch`` part: its URL stays near 10 KB."""


def find_stored(
    client: DataverseClient,
    sender: BulkSender,
    entity_set: str,
    primary_key: str,
    keys: Sequence[str],
    columns: Sequence[str] = (),
) -> dict[str, Mapping[str, Any]] | None:
    """Read the records with these keys, in one request.

    :param client: the Web API client (URLs, headers).
    :param sender: the run's sender (its concurrency limit and retries).
    :param entity_set: the table's entity set.
    :param primary_key: the table's primary key.
    :param keys: the keys (GUIDs).
    :param columns: the columns to read (``$select``; every column when empty). Thousands of records of a wide
        table read whole would make an answer of many megabytes where the comparison needs a few columns.
    :returns: the records found, by lower-case key; ``None`` when the answer could not be read (the caller then
        confirms records one by one, as before).
    """
    select = [("$select", ",".join(columns))] if columns else []
    parts = [
        BatchPart(
            "GET",
            client.url(
                entity_set, [("$filter", _in_filter(primary_key, keys[start : start + KEYS_PER_PART])), *select]
            ),
            {"Accept": "application/json"},
        )
        for start in range(0, len(keys), KEYS_PER_PART)
    ]
    body, content_type = build_batch(parts, change_set=False)
    headers = client.headers()
    headers["Content-Type"] = content_type
    found: dict[str, Mapping[str, Any]] = {}
    try:
        response = sender.send("POST", client.url("$batch"), headers=headers, body=body, idempotent=True)
        if response.status_code >= 300:
            _log.info("reading back a refused chunk's keys failed (%d)", response.status_code)
            return None
        answers = read_batch(response)
        if len(answers) != len(parts) or any(answer.response.status_code != 200 for answer in answers):
            return None
        for answer in answers:
            rows = _rows(json_body(answer.response))
            if rows is None:
                return None
            for row in rows:
                key = row.get(primary_key)
                if isinstance(key, str):
                    found[key.lower()] = row
    except (ConnectorError, BatchFormatError):
        return None
    return found


def _in_filter(primary_key: str, keys: Sequence[str]) -> str:
    """:returns: ``Microsoft.Dynamics.CRM.In(PropertyName='<key>',PropertyValues=["<id>",…])``."""
    values = ",".join(f'"{guid_of(key)}"' for key in keys)
    return f"Microsoft.Dynamics.CRM.In(PropertyName='{primary_key}',PropertyValues=[{values}])"


def _rows(page: Any) -> list[Mapping[str, Any]] | None:
    rows = page.get("value") if isinstance(page, Mapping) else None
    if not isinstance(rows, list):
        return None
    return [row for row in rows if isinstance(row, Mapping)]
