"""Re-running a bulk create that stopped midway (issue 12, item 16), against the sandbox through the reference host:
the host stops reading results (as a killed job does) after part of the input; requests already sent finish, so
the service holds records the host was never told about. Run again with ``key_source_field``, the same input stores
each record once; run again without keys of its own, it stores those records twice, as docs/operations.md says.
"""

from __future__ import annotations

import collections
import itertools
import uuid
from collections.abc import Generator
from typing import Any

from connector.dataverse.operations.keys import derived_key
from connector.results import ResultStatus
from tests.support.operations import Live

DOCUMENTS = 600
READ_BEFORE_THE_KILL = 150
BULK = {"batch_size": 50, "initial_concurrency": 2, "max_concurrency": 4}


def documents_of(marker: str) -> list[dict[str, Any]]:
    # The source id in a column no alternate key covers (the sandbox has one on accountnumber, which would refuse
    # duplicates by itself): only the derived ids can keep a re-run from storing a record twice.
    return [{"description": f"src-{marker}-{n}", "name": f"{marker} {n}"} for n in range(DOCUMENTS)]


def killed_midway(live: Live, options: dict[str, Any], documents: list[dict[str, Any]]) -> int:
    """Run until the host has read part of the results, then stop reading; :returns: how many results it read."""
    stream = live.stream("create", options, documents)
    read = sum(1 for _ in itertools.islice(stream, READ_BEFORE_THE_KILL))
    assert isinstance(stream, Generator)
    stream.close()  # the bulk runner finishes the requests already sent and sends no more
    return read


def stored(live: Live, marker: str) -> list[dict[str, Any]]:
    return live.rows("account", "name LIKE ?", [f"{marker}%"])


def test_a_killed_bulk_create_run_again_with_derived_keys_stores_each_record_once(live: Live) -> None:
    marker = uuid.uuid4().hex
    documents = documents_of(marker)
    options = {"entity_set": "accounts", "key_source_field": "description", "bulk": BULK}
    assert killed_midway(live, options, documents) == READ_BEFORE_THE_KILL
    written_first = len(stored(live, marker))
    assert READ_BEFORE_THE_KILL <= written_first < DOCUMENTS
    results = live.run("create", options, documents)
    assert [result.status for result in results] == [ResultStatus.SUCCESS] * DOCUMENTS
    rows = stored(live, marker)
    assert len(rows) == DOCUMENTS
    assert collections.Counter(row["description"] for row in rows).most_common(1)[0][1] == 1
    assert all(str(row["accountid"]) == derived_key("account", row["description"]) for row in rows)
    found = [result for result in results if result.properties.get("already_stored") == "true"]
    assert len(found) == written_first  # every record of the first run found by its id, none written again


def test_a_killed_bulk_create_run_again_without_keys_of_its_own_stores_records_twice(live: Live) -> None:
    marker = uuid.uuid4().hex
    documents = documents_of(marker)
    options = {"entity_set": "accounts", "bulk": BULK}
    killed_midway(live, options, documents)
    written_first = len(stored(live, marker))
    results = live.run("create", options, documents)
    assert all(result.status is ResultStatus.SUCCESS for result in results)
    assert len(stored(live, marker)) == DOCUMENTS + written_first  # the documented duplicates of a keyless re-run
