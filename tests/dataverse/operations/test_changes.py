"""Change tracking: the delta link as a checkpoint, committed only after the last record was handed over; deletions
as results of their own kind; checkpoints checked before they are followed; options Dataverse refuses; progress.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest
import responses
from responses import matchers

from connector.context import MemoryCheckpointStore, Progress, RuntimeContext
from connector.dataverse.client import DataverseClient
from connector.dataverse.operations.changes import CHECKPOINT_KEY_PREFIX, is_deletion
from connector.dataverse.registry import run_operation
from connector.errors import ConfigError
from connector.results import Connection, OperationResult, ResultStatus
from tests.support.dataverse import API, FakeState, add_entity, url_of

GUIDS = [f"00000000-0000-0000-0000-{index:012d}" for index in range(1, 7)]
DEFAULT_KEY = f"{CHECKPOINT_KEY_PREFIX}contoso.crm.dynamics.com/api/data/v9.2/accounts?$select=name"
TRACKED = {"entity_set": "accounts", "select": ["name"], "change_tracking": True, "page_size": 2}
DELTA_1 = f"{API}accounts?$select=name&$deltatoken=100%2101%2f02%2f2026%2010%3a00%3a00"
DELTA_2 = f"{API}accounts?$select=name&$deltatoken=200%2101%2f03%2f2026%2010%3a00%3a00"
PREFER = "odata.track-changes,odata.maxpagesize=2"


class Recorder:
    """A progress callback keeping every report."""

    def __init__(self) -> None:
        self.reports: list[Progress] = []

    def __call__(self, progress: Progress) -> None:
        self.reports.append(progress)


def connect(client: DataverseClient, store: MemoryCheckpointStore, progress: Recorder | None = None) -> Connection:
    context = RuntimeContext(checkpoint_store=store, progress=progress)
    return Connection("dynamics365-ce", client.transport.settings, context, state=FakeState(client))


@pytest.fixture
def store() -> MemoryCheckpointStore:
    return MemoryCheckpointStore()


def records(ids: list[str]) -> list[dict[str, Any]]:
    return [{"@odata.etag": f'W/"{n}"', "name": f"Account {n}", "accountid": guid} for n, guid in enumerate(ids)]


def deleted(guid: str) -> dict[str, Any]:
    return {"@odata.context": f"{API}$metadata#accounts/$deletedEntity", "id": guid, "reason": "deleted"}


def prefer(value: str = PREFER) -> list[Any]:
    return [matchers.header_matcher({"Prefer": value})]


def test_first_run_reads_everything_and_commits_the_delta_link_only_after_the_last_record(
    mocked: responses.RequestsMock, client: DataverseClient, store: MemoryCheckpointStore
) -> None:
    add_entity(mocked)
    mocked.add(
        "GET",
        f"{API}accounts?$select=name",
        match=prefer(),
        json={"value": records(GUIDS[:2]), "@odata.nextLink": f"{API}accounts?$select=name&$skiptoken=2"},
    )
    mocked.add(
        "GET",
        f"{API}accounts?$select=name&$skiptoken=2",
        match=prefer(),
        json={"value": records(GUIDS[2:3]), "@odata.deltaLink": DELTA_1},
    )
    results = run_operation(connect(client, store), "query", TRACKED, [{}])
    for _ in range(3):
        result = next(results)
        assert result.status is ResultStatus.SUCCESS
        assert store.load(DEFAULT_KEY) is None
    assert result.properties["id"] == GUIDS[2]
    assert list(results) == []
    assert store.load(DEFAULT_KEY) == DELTA_1


def test_a_later_run_follows_the_checkpoint_and_returns_changes_then_deletions(
    mocked: responses.RequestsMock, client: DataverseClient, store: MemoryCheckpointStore
) -> None:
    store.save(DEFAULT_KEY, DELTA_1)
    add_entity(mocked)
    mocked.add(
        "GET",
        DELTA_1,
        match=prefer(),
        json={
            "@odata.context": f"{API}$metadata#accounts(name)/$delta",
            "value": [*records(GUIDS[:1]), deleted(GUIDS[4])],
            "@odata.nextLink": f"{API}accounts?$select=name&$deltatoken=100&$skiptoken=x",
        },
    )
    mocked.add(
        "GET",
        f"{API}accounts?$select=name&$deltatoken=100&$skiptoken=x",
        match=prefer(),
        json={"value": [deleted(GUIDS[5].upper())], "@odata.deltaLink": DELTA_2},
    )
    results = list(run_operation(connect(client, store), "query", TRACKED, [{}]))
    assert [result.status for result in results] == [ResultStatus.SUCCESS, ResultStatus.DELETED, ResultStatus.DELETED]
    assert results[0].payload is not None
    assert results[0].payload["name"] == "Account 0"
    removed = results[1]
    assert removed.payload == {"accountid": GUIDS[4], "@odata.editLink": f"accounts({GUIDS[4]})", "reason": "deleted"}
    assert removed.properties == {"id": GUIDS[4], "entity_url": f"{API}accounts({GUIDS[4]})", "reason": "deleted"}
    assert removed.input_index is None
    assert results[2].properties["id"] == GUIDS[5]
    assert store.load(DEFAULT_KEY) == DELTA_2


def test_no_change_still_moves_the_checkpoint_on(
    mocked: responses.RequestsMock, client: DataverseClient, store: MemoryCheckpointStore
) -> None:
    store.save(DEFAULT_KEY, DELTA_1)
    add_entity(mocked)
    mocked.add("GET", DELTA_1, json={"value": [], "@odata.deltaLink": DELTA_2})
    assert list(run_operation(connect(client, store), "query", TRACKED, [{}])) == []
    assert store.load(DEFAULT_KEY) == DELTA_2


def test_a_consumer_that_stops_early_commits_nothing(
    mocked: responses.RequestsMock, client: DataverseClient, store: MemoryCheckpointStore
) -> None:
    store.save(DEFAULT_KEY, DELTA_1)
    add_entity(mocked)
    mocked.add("GET", DELTA_1, json={"value": records(GUIDS[:2]), "@odata.deltaLink": DELTA_2})
    results = run_operation(connect(client, store), "query", TRACKED, [{}])
    next(results)
    next(results)  # the last record: handed over, but the consumer never asks for more
    assert isinstance(results, Generator)
    results.close()
    assert store.load(DEFAULT_KEY) == DELTA_1


def test_an_error_page_ends_the_run_without_a_new_checkpoint(
    mocked: responses.RequestsMock, client: DataverseClient, store: MemoryCheckpointStore
) -> None:
    store.save(DEFAULT_KEY, DELTA_1)
    add_entity(mocked)
    mocked.add("GET", DELTA_1, json={"value": records(GUIDS[:1]), "@odata.nextLink": f"{API}accounts?$skiptoken=2"})
    mocked.add(
        "GET",
        f"{API}accounts?$skiptoken=2",
        status=400,
        json={"error": {"code": "0x80040203", "message": "The delta token has expired."}},
    )
    results = list(run_operation(connect(client, store), "query", TRACKED, [{}]))
    assert [result.status for result in results] == [ResultStatus.SUCCESS, ResultStatus.FAILED]
    assert results[1].error is not None
    assert results[1].error.message == "(0x80040203)The delta token has expired.[400]"
    assert store.load(DEFAULT_KEY) == DELTA_1


def test_a_last_page_without_a_delta_link_fails_and_keeps_the_checkpoint(
    mocked: responses.RequestsMock, client: DataverseClient, store: MemoryCheckpointStore
) -> None:
    store.save(DEFAULT_KEY, DELTA_1)
    add_entity(mocked)
    mocked.add("GET", DELTA_1, json={"value": records(GUIDS[:1])})
    results = list(run_operation(connect(client, store), "query", TRACKED, [{}]))
    assert [result.status for result in results] == [ResultStatus.SUCCESS, ResultStatus.FAILED]
    assert results[1].error is not None
    assert results[1].error.field == "@odata.deltaLink"
    assert store.load(DEFAULT_KEY) == DELTA_1


@pytest.mark.parametrize(
    ("link", "reason"),
    [
        ("https://[x/", "its host is neither a name nor a bracketed IP address"),
        ("https://h:99999/", "its port is not a number from 0 to 65535"),
    ],
)
def test_a_delta_link_that_is_no_url_fails_after_the_records_and_keeps_the_checkpoint(
    mocked: responses.RequestsMock, client: DataverseClient, store: MemoryCheckpointStore, link: str, reason: str
) -> None:
    store.save(DEFAULT_KEY, DELTA_1)
    add_entity(mocked)
    mocked.add("GET", DELTA_1, json={"value": records(GUIDS[:1]), "@odata.deltaLink": link})
    results = list(run_operation(connect(client, store), "query", TRACKED, [{}]))
    assert [result.status for result in results] == [ResultStatus.SUCCESS, ResultStatus.FAILED]
    error = results[1].error
    assert error is not None
    assert error.field == "@odata.deltaLink"
    assert error.message.startswith(f"The service's @odata.deltaLink is not a URL ({reason}); it was not followed")
    assert store.load(DEFAULT_KEY) == DELTA_1


def test_custom_parameters_go_on_each_run_first_request_only_and_never_into_the_checkpoint(
    mocked: responses.RequestsMock, client: DataverseClient, store: MemoryCheckpointStore
) -> None:
    add_entity(mocked)
    options = {**TRACKED, "custom_query_parameters": [{"name": "tag", "value": "sync"}], "checkpoint_key": "mine"}
    mocked.add(
        "GET",
        f"{API}accounts?$select=name&tag=sync",
        json={"value": [], "@odata.nextLink": f"{API}accounts?$select=name&tag=sync&$skiptoken=2"},
    )
    mocked.add(
        "GET",
        f"{API}accounts?$select=name&$skiptoken=2",
        json={"value": [], "@odata.deltaLink": f"{API}accounts?$select=name&tag=sync&$deltatoken=5"},
    )
    assert list(run_operation(connect(client, store), "query", options, [{}])) == []
    assert store.load(f"{CHECKPOINT_KEY_PREFIX}mine") == f"{API}accounts?$select=name&$deltatoken=5"
    mocked.add(
        "GET",
        f"{API}accounts?$select=name&$deltatoken=5&tag=sync",
        json={"value": [], "@odata.deltaLink": f"{API}accounts?$select=name&tag=sync&$deltatoken=6"},
    )
    assert list(run_operation(connect(client, store), "query", options, [{}])) == []
    assert store.load(f"{CHECKPOINT_KEY_PREFIX}mine") == f"{API}accounts?$select=name&$deltatoken=6"
    assert url_of(mocked.calls[-1]) == f"{API}accounts?$select=name&$deltatoken=5&tag=sync"


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        (f"{API}contacts?$select=name&$deltatoken=5", "another query (contacts?$select=name)"),
        (f"{API}accounts?$select=name,revenue&$deltatoken=5", "another query (accounts?$select=name,revenue)"),
        (f"{API}accounts?$select=name", "another query (accounts?$select=name)"),
        ("https://evil.example/api/data/v9.2/accounts?$select=name&$deltatoken=5", "belongs to another service"),
        # urlsplit raises ValueError on these: it escaped as an internal failure before.
        (
            "https://[x/api/data/v9.2/accounts?$select=name&$deltatoken=5",
            "is not a URL (its host is neither a name nor a bracketed IP address); it was not followed",
        ),
        (
            "https://contoso.crm.dynamics.com:99999/api/data/v9.2/accounts?$deltatoken=5",
            "is not a URL (its port is not a number from 0 to 65535); it was not followed",
        ),
    ],
)
def test_a_checkpoint_of_another_query_or_origin_is_refused_before_any_request(
    mocked: responses.RequestsMock, client: DataverseClient, store: MemoryCheckpointStore, stored: str, expected: str
) -> None:
    store.save(DEFAULT_KEY, stored)
    add_entity(mocked)
    results = list(run_operation(connect(client, store), "query", TRACKED, [{}]))
    assert [result.status for result in results] == [ResultStatus.FAILED]
    error = results[0].error
    assert error is not None
    assert error.field == "options.checkpoint_key"
    assert expected in error.message
    assert len(mocked.calls) == 1  # the table's metadata only
    assert store.load(DEFAULT_KEY) == stored


def test_keys_are_derived_from_host_table_and_fields_unless_named(
    mocked: responses.RequestsMock, client: DataverseClient, store: MemoryCheckpointStore
) -> None:
    add_entity(mocked)
    mocked.add("GET", f"{API}accounts", json={"value": [], "@odata.deltaLink": f"{API}accounts?$deltatoken=1"})
    mocked.add("GET", f"{API}accounts?$select=name", json={"value": [], "@odata.deltaLink": DELTA_1})
    list(run_operation(connect(client, store), "query", {"entity_set": "accounts", "change_tracking": True}, [{}]))
    list(run_operation(connect(client, store), "query", {**TRACKED, "checkpoint_key": "crm:accounts/v1"}, [{}]))
    assert store.load(f"{CHECKPOINT_KEY_PREFIX}contoso.crm.dynamics.com/api/data/v9.2/accounts") == (
        f"{API}accounts?$deltatoken=1"
    )
    assert store.load(f"{CHECKPOINT_KEY_PREFIX}crm:accounts/v1") == DELTA_1
    assert store.load(DEFAULT_KEY) is None


def test_options_dataverse_refuses_with_change_tracking_are_configuration_errors(
    client: DataverseClient, store: MemoryCheckpointStore
) -> None:
    options = {
        **TRACKED,
        "filter": {"conditions": [{"field": "name", "operator": "eq", "value": "x"}]},
        "order_by": [{"field": "name"}],
        "expand": ["primarycontactid"],
        "top": 10,
    }
    with pytest.raises(ConfigError) as caught:
        run_operation(connect(client, store), "query", options, [{}])
    assert set(caught.value.fields) == {"options.filter", "options.order_by", "options.expand", "options.top"}
    fetch = {**TRACKED, "mode": "fetchxml", "fetch_xml": "<fetch><entity name='account'/></fetch>"}
    with pytest.raises(ConfigError) as caught:
        run_operation(connect(client, store), "query", fetch, [{}])
    assert caught.value.fields == ["options.mode"]


def test_odata_401_removed_entries_are_deletions_too(
    mocked: responses.RequestsMock, client: DataverseClient, store: MemoryCheckpointStore
) -> None:
    store.save(DEFAULT_KEY, DELTA_1)
    add_entity(mocked)
    mocked.add(
        "GET",
        DELTA_1,
        json={
            "value": [
                {"@removed": {"reason": "changed"}, "@id": f"accounts({GUIDS[0]})"},
            ],
            "@odata.deltaLink": DELTA_2,
        },
    )
    results = list(run_operation(connect(client, store), "query", TRACKED, [{}]))
    assert [(result.status, result.properties["id"], result.properties["reason"]) for result in results] == [
        (ResultStatus.DELETED, GUIDS[0], "changed")
    ]
    assert not is_deletion({"accountid": GUIDS[0], "reason": "deleted"})


def test_progress_goes_to_the_runtime_callback(
    mocked: responses.RequestsMock, client: DataverseClient, store: MemoryCheckpointStore
) -> None:
    add_entity(mocked)
    mocked.add(
        "GET",
        f"{API}accounts?$select=name",
        json={"value": records(GUIDS[:2]), "@odata.nextLink": f"{API}accounts?$skiptoken=2"},
    )
    mocked.add(
        "GET",
        f"{API}accounts?$skiptoken=2",
        status=400,
        json={"error": {"code": "0x80040203", "message": "Invalid argument."}},
    )
    recorder = Recorder()
    results: list[OperationResult] = list(
        run_operation(
            connect(client, store, recorder),
            "query",
            {"entity_set": "accounts", "select": ["name"], "parallel": {"mode": "off"}},
            [{}],
        )
    )
    assert len(results) == 3
    final = recorder.reports[-1]
    assert (final.operation, final.done, final.failed, final.total) == ("query", 3, 1, None)
    assert final.rate >= 0
