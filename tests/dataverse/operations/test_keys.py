"""Record ids derived from a source field (issue 12, item 16): the same id in every run, for Create and Upsert,
alone and in bulk; a document whose source id is missing or unfit fails naming the field, and nothing is sent.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import pytest
import responses

from connector.dataverse.operations.inputs import DocumentError
from connector.dataverse.operations.keys import (
    RECORD_KEY_NAMESPACE,
    SequentialKeys,
    derived_key,
    new_record_key,
    source_key,
)
from connector.dataverse.partitions.keys import in_sql_order
from connector.errors import ConfigError
from connector.results import Connection, ResultStatus
from tests.support.clock import FakeClock
from tests.support.dataverse import API, add_entity, run, url_of

A1001 = "aa80b41e-0b4f-59dc-b220-add52d121f80"  # documented in docs/operations.md: account:A-1001


def test_the_namespace_and_the_documented_example_never_change() -> None:
    assert uuid.uuid5(uuid.NAMESPACE_URL, "https://schemas.dynamics365-ce-connector.invalid/record-keys") == (
        RECORD_KEY_NAMESPACE
    )
    assert derived_key("account", "A-1001") == A1001
    assert source_key({"accountnumber": "A-1001"}, "accountnumber", "account") == A1001
    assert source_key({"n": 42}, "n", "account") == derived_key("account", "42")
    assert derived_key("contact", "A-1001") != A1001  # per table


@pytest.mark.parametrize(
    "document",
    [{}, {"src": None}, {"src": ""}, {"src": "  "}, {"src": True}, {"src": 1.5}, {"src": {"id": 1}}, {"src": "\ud800"}],
)
def test_a_missing_or_unfit_source_id_is_named(document: dict[str, Any]) -> None:
    with pytest.raises(DocumentError) as caught:
        source_key(document, "src", "account")
    assert caught.value.field == "src"


def echo_key(request: Any) -> tuple[int, dict[str, str], str]:
    record_id = json.loads(request.body)["accountid"]
    return 204, {"OData-EntityId": f"{API}accounts({record_id})"}, ""


def test_a_create_gets_the_derived_id_and_a_document_key_still_wins(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    add_entity(mocked)
    mocked.add_callback("POST", f"{API}accounts", callback=echo_key)
    own = "00000000-0000-0000-0000-0000000000c3"
    options = {"entity_set": "accounts", "key_source_field": "accountnumber", "bulk": {"mode": "off"}}
    documents = [{"accountnumber": "A-1001", "name": "a"}, {"accountid": own, "accountnumber": "A-2", "name": "b"}]
    documents.append({"name": "no source id"})
    first, second, third = run(connection, "create", options, documents)
    assert first.properties["id"] == A1001
    assert json.loads(mocked.calls[1].request.body or b"") == {
        "accountnumber": "A-1001",
        "name": "a",
        "accountid": A1001,
    }
    assert second.properties["id"] == own
    assert third.status is ResultStatus.FAILED
    assert third.error is not None
    assert third.error.field == "accountnumber"
    assert len(mocked.calls) == 3  # the metadata read and two creates: nothing for the third


def test_a_source_field_starting_with_at_derives_the_id_and_is_not_sent(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    add_entity(mocked)
    mocked.add_callback("POST", f"{API}accounts", callback=echo_key)
    options = {"entity_set": "accounts", "key_source_field": "@source.id", "bulk": {"mode": "off"}}
    [result] = run(connection, "create", options, [{"@source.id": 1001, "name": "a"}])
    assert result.properties["id"] == derived_key("account", "1001")
    assert json.loads(mocked.calls[1].request.body or b"") == {"name": "a", "accountid": result.properties["id"]}


def test_bulk_creates_carry_the_derived_ids(mocked: responses.RequestsMock, connection: Connection) -> None:
    add_entity(mocked)

    def ids(request: Any) -> tuple[int, dict[str, str], str]:
        return 200, {}, json.dumps({"Ids": [target["accountid"] for target in json.loads(request.body)["Targets"]]})

    mocked.add_callback("POST", f"{API}accounts/Microsoft.Dynamics.CRM.CreateMultiple", callback=ids)
    options = {"entity_set": "accounts", "key_source_field": "accountnumber", "bulk": {"min_batch_size": 2}}
    documents = [{"accountnumber": f"A-{n}", "name": str(n)} for n in range(5)]
    results = run(connection, "create", options, documents)
    assert [result.properties["id"] for result in results] == [derived_key("account", f"A-{n}") for n in range(5)]


def test_an_upsert_addresses_the_record_by_its_derived_id(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    add_entity(mocked)
    mocked.add("PATCH", f"{API}accounts({A1001})", status=204)
    options = {"entity_set": "accounts", "key_source_field": "accountnumber", "bulk": {"mode": "off"}}
    [result] = run(connection, "upsert", options, [{"accountnumber": "A-1001", "name": "renamed"}])
    assert result.status is ResultStatus.SUCCESS
    assert result.properties["id"] == A1001
    assert url_of(mocked.calls[-1]) == f"{API}accounts({A1001})"
    assert json.loads(mocked.calls[-1].request.body or b"") == {"accountnumber": "A-1001", "name": "renamed"}


def test_an_upsert_cannot_name_its_record_twice(connection: Connection) -> None:
    options = {"entity_set": "accounts", "key_fields": ["accountnumber"], "key_source_field": "accountnumber"}
    with pytest.raises(ConfigError) as caught:
        run(connection, "upsert", options, [])
    assert caught.value.fields == ["options.key_source_field"]


def test_new_keys_ascend_in_sql_servers_order_even_within_one_millisecond() -> None:
    clock = FakeClock(1_796_540_354.0)
    keys = SequentialKeys(clock=clock)
    made = [keys() for _ in range(200)]  # 200 keys in one millisecond: more than its 64, the rest borrow the next
    clock.advance(0.5)
    made += [keys() for _ in range(200)]
    assert in_sql_order(made)
    assert all(uuid.UUID(key).version == 4 and uuid.UUID(key).variant == uuid.RFC_4122 for key in made)
    assert all(str(uuid.UUID(key)) == key for key in made)  # the canonical form: lower-case, hyphens in place
    assert len({key[:23] for key in made}) == len(made)  # the ten leading bytes are random


def test_a_later_generators_keys_follow_an_earlier_ones_in_sql_servers_order() -> None:
    # Keys carry the time, so a later run's records go after an earlier run's in the primary-key index.
    clock = FakeClock(1_796_540_354.0)
    earlier = SequentialKeys(clock=clock)
    made = [earlier() for _ in range(100)]
    clock.advance(1.0)
    later = SequentialKeys(clock=clock)
    made += [later() for _ in range(3)]
    assert in_sql_order(made)


def test_a_forked_process_makes_other_keys_than_its_parent() -> None:
    # The module's generator is reseeded in a child process: the same random state would repeat the parent's keys.
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write, new_record_key().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.waitpid(pid, 0)
    os.close(read)
    parent = new_record_key()
    assert uuid.UUID(child).version == 4
    assert child[:23] != parent[:23]  # the random part (the last group holds the time and a count)


def test_keys_of_two_generators_in_the_same_millisecond_differ() -> None:
    clock = FakeClock(1_796_540_354.0)
    first, second = SequentialKeys(clock=clock), SequentialKeys(clock=clock)
    ones, others = [first() for _ in range(1000)], [second() for _ in range(1000)]
    assert not set(ones) & set(others)
    assert [key[24:] for key in ones] == [key[24:] for key in others]  # the same sequence, told apart by the rest


def test_a_bulk_runs_records_get_ascending_keys(mocked: responses.RequestsMock, connection: Connection) -> None:
    add_entity(mocked)

    def ids(request: Any) -> tuple[int, dict[str, str], str]:
        return 200, {}, json.dumps({"Ids": [target["accountid"] for target in json.loads(request.body)["Targets"]]})

    mocked.add_callback("POST", f"{API}accounts/Microsoft.Dynamics.CRM.CreateMultiple", callback=ids)
    documents = [{"name": f"n{index}"} for index in range(50)]
    # One request at a time, so the order of the recorded calls is the order the requests were sent in.
    bulk = {"min_batch_size": 2, "initial_concurrency": 1, "max_concurrency": 1}
    results = run(connection, "create", {"entity_set": "accounts", "bulk": bulk}, documents)
    assert in_sql_order([result.properties["id"] for result in results])
    sent = [json.loads(call.request.body or b"")["Targets"] for call in mocked.calls if call.request.method == "POST"]
    keys = [target["accountid"] for request in sent for target in request]
    assert len(keys) == 50
    assert in_sql_order(keys)
