"""Finding which records of a refused bulk create are already stored, with one request for the whole chunk.

A bulk create whose records carry their own keys is refused as a whole (``409``/``412``) when one of them exists:
typically a job re-run after a crash, whose first run stored part of the input. Read back one by one, as a single
create's refusal is (:mod:`connector.dataverse.operations.resends`), confirming a chunk of 100 would cost 100
requests, and under Dataverse's 6,000 requests per 5 minutes a re-run would take far longer than the write.
:func:`find_stored` reads every key of the chunk with one query, ``$filter=<key> eq <id1> or <key> eq <id2> …``,
sent as the only part of a ``$batch`` (one request; a ``$batch`` part's URL may be far longer than a plain GET's,
reference §3.9), so the chunk writer (:mod:`connector.dataverse.bulk.chunks`) can confirm the stored records
against what it sent and write only the others.
Not for deciding what a stored record means: the chunk writer compares it with the body sent.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from connector.dataverse.bulk.multipart import BatchFormatError, BatchPart, build_batch, read_batch
from connector.dataverse.bulk.sender import BulkSender
from connector.dataverse.client import DataverseClient
from connector.dataverse.odata.answers import json_body
from connector.dataverse.odata.literals import guid_of
from connector.errors import ConnectorError

__all__ = ["find_stored"]

_log = logging.getLogger(__name__)


def find_stored(
    client: DataverseClient, sender: BulkSender, entity_set: str, primary_key: str, keys: Sequence[str]
) -> dict[str, Mapping[str, Any]] | None:
    """Read the records with these keys, in one request.

    :param client: the Web API client (URLs, headers).
    :param sender: the run's sender (its concurrency limit and retries).
    :param entity_set: the table's entity set.
    :param primary_key: the table's primary key.
    :param keys: the keys (GUIDs).
    :returns: the records found, by lower-case key; ``None`` when the answer could not be read (the caller then
        confirms records one by one, as before).
    """
    expression = " or ".join(f"{primary_key} eq {guid_of(key)}" for key in keys)
    part = BatchPart("GET", client.url(entity_set, [("$filter", expression)]), {"Accept": "application/json"})
    body, content_type = build_batch([part], change_set=False)
    headers = client.headers()
    headers["Content-Type"] = content_type
    try:
        response = sender.send("POST", client.url("$batch"), headers=headers, body=body, idempotent=True)
        if response.status_code >= 300:
            _log.info("reading back a refused chunk's keys failed (%d)", response.status_code)
            return None
        answers = read_batch(response)
        if len(answers) != 1 or answers[0].response.status_code != 200:
            return None
        page = json_body(answers[0].response)
    except (ConnectorError, BatchFormatError):
        return None
    rows = page.get("value") if isinstance(page, Mapping) else None
    if not isinstance(rows, list):
        return None
    found: dict[str, Mapping[str, Any]] = {}
    for row in rows:
        key = row.get(primary_key) if isinstance(row, Mapping) else None
        if isinstance(key, str):
            found[key.lower()] = row
    return found
