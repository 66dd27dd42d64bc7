"""Option-set labels on write end to end against the sandbox, through the reference host and ``connector run``:
labels become values on create (one request each and in bulk), update and upsert, in English or German, and a label
that does not exist fails only its document, naming the column and its labels, with nothing written for it. Deep
inserts: nested records converted against the table their ``@odata.type`` names or their navigation property leads
to, ten levels down too, and an ``@odata.type`` that disagrees, is malformed or names no table failing its document.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from connector.host.sandbox_config import write_sandbox_config
from connector.results import ResultStatus
from tests.support.operations import Live


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def stored(live: Live, marker: str) -> dict[str, int | None]:
    rows = live.rows("account", "name LIKE ?", [f"{marker}%"])
    return {str(row["name"]): row["industrycode"] for row in rows}


def test_labels_become_values_in_single_and_bulk_writes(live: Live) -> None:
    marker = unique("lbl")
    documents = [
        {"name": f"{marker} {i}", "industrycode": label, "statuscode": "Active"}
        for i, label in enumerate(["Consulting", "accounting", "Brokers", 7] * 3)
    ]
    documents.append({"name": f"{marker} bad", "industrycode": "Consultancy"})
    results = live.run("create", {"entity_set": "accounts", "option_labels": True}, documents)
    assert [result.status for result in results] == [ResultStatus.SUCCESS] * 12 + [ResultStatus.FAILED]
    assert {result.properties.get("bulk") for result in results[:12]} == {"CreateMultiple"}
    bad = results[-1].error
    assert bad is not None
    assert bad.field == "industrycode"
    assert "'Consultancy' is not a label of this choice column; its labels: Accounting (1), " in bad.message
    assert "Consulting (7)" in bad.message
    rows = stored(live, marker)
    assert f"{marker} bad" not in rows
    assert sorted(value or 0 for value in rows.values()) == sorted([7, 1, 4, 7] * 3)


def test_german_labels_and_updates_and_upserts(live: Live) -> None:
    marker = unique("lblde")
    options = {"entity_set": "accounts", "option_labels": True, "label_language": 1031, "bulk": {"mode": "off"}}
    [created] = live.run(
        "create", {**options, "return_representation": True}, [{"name": marker, "industrycode": "Beratung"}]
    )
    assert created.status is ResultStatus.SUCCESS, created.error
    assert stored(live, marker) == {marker: 7}
    link = created.properties["entity_url"]
    [updated] = live.run("update", options, [{"@odata.editLink": link, "industrycode": "makler"}])
    assert updated.status is ResultStatus.SUCCESS, updated.error
    assert stored(live, marker) == {marker: 4}
    [english] = live.run("upsert", options, [{"@odata.editLink": link, "industrycode": "Consulting"}])
    assert english.status is ResultStatus.FAILED
    assert english.error is not None
    assert "in language 1031; its labels: Buchhaltung (1), Makler (4), Beratung (7)" in english.error.message
    assert stored(live, marker) == {marker: 4}


def test_multi_choice_labels_become_dataverses_comma_list(live: Live) -> None:
    marker = unique("lblmulti")
    options = {"entity_set": "accounts", "option_labels": True, "bulk": {"mode": "off"}}
    documents = [
        {"name": f"{marker} list", "sample_colours": ["Red", "blue", 3]},
        {"name": f"{marker} text", "sample_colours": "Green, Red"},
        {"name": f"{marker} bad", "sample_colours": ["Red", "Purple"]},
    ]
    results = live.run("create", options, documents)
    assert [result.status for result in results] == [ResultStatus.SUCCESS, ResultStatus.SUCCESS, ResultStatus.FAILED]
    bad = results[2].error
    assert bad is not None
    assert bad.field == "sample_colours"
    assert (
        "'Purple' is not a label of this multi-choice column; its labels: Red (1), Blue (2), Green (3)" in bad.message
    )
    [german] = live.run(
        "create", {**options, "label_language": 1031}, [{"name": f"{marker} de", "sample_colours": "Rot,Grün"}]
    )
    assert german.status is ResultStatus.SUCCESS, german.error
    rows = live.rows("account", "name LIKE ?", [f"{marker}%"])
    assert {str(row["name"]): row["sample_colours"] for row in rows} == {
        f"{marker} list": "1,2,3",
        f"{marker} text": "3,1",
        f"{marker} de": "1,3",
    }


def test_labels_in_deep_inserted_records_become_their_tables_values(live: Live) -> None:
    # A contact under the account's lookup and contacts under its one-to-many relationship: each converted against
    # the contact table's labels; a bad one fails the document naming the path to the column.
    marker = unique("deep")
    documents = [
        {
            "name": f"{marker} parent",
            "industrycode": "Consulting",
            "primarycontactid": {"lastname": f"{marker} primary", "gendercode": "Female"},
            "contact_customer_accounts": [
                {"lastname": f"{marker} child one", "gendercode": "male"},
                {"lastname": f"{marker} child two", "gendercode": 2},
            ],
        },
        {"name": f"{marker} bad", "primarycontactid": {"lastname": f"{marker} bad", "gendercode": "Unknown"}},
        {
            "name": f"{marker} bad child",
            "contact_customer_accounts": [{"lastname": f"{marker} ok"}, {"lastname": "x", "gendercode": "None"}],
        },
    ]
    results = live.run("create", {"entity_set": "accounts", "option_labels": True, "bulk": {"mode": "off"}}, documents)
    assert [result.status for result in results] == [ResultStatus.SUCCESS, ResultStatus.FAILED, ResultStatus.FAILED]
    bad_child = results[2].error
    assert bad_child is not None
    assert bad_child.field == "contact_customer_accounts[1].gendercode"
    contacts = live.rows("contact", "lastname LIKE ?", [f"{marker}%"])
    assert {row["lastname"]: row["gendercode"] for row in contacts} == {
        f"{marker} primary": 2,
        f"{marker} child one": 1,
        f"{marker} child two": 2,
    }
    assert stored(live, marker) == {f"{marker} parent": 7}
    bad = results[1].error
    assert bad is not None
    assert bad.field == "primarycontactid.gendercode"
    assert "'Unknown' is not a label of this choice column; its labels: Male (1), Female (2)" in bad.message


def test_without_the_option_a_label_is_sent_as_given(live: Live) -> None:
    [result] = live.run(
        "create", {"entity_set": "accounts"}, [{"name": unique("lbloff"), "industrycode": "Consulting"}]
    )
    assert result.status is ResultStatus.FAILED
    assert result.error is not None
    assert result.error.status == 400


def test_connector_run_converts_labels(live: Live, tmp_path: Path) -> None:
    config = write_sandbox_config(live.sandbox, "client_secret", tmp_path / "d365.json")
    marker = unique("lblcli")
    documents = [{"name": f"{marker} ok", "industrycode": "Consulting"}, {"name": f"{marker} no", "industrycode": "X"}]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "connector.host.cli",
            "run",
            str(config),
            "create",
            "--options",
            json.dumps({"entity_set": "accounts", "option_labels": True}),
        ],
        input="".join(json.dumps(document) + "\n" for document in documents),
        env={**os.environ, "CONNECTOR_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["status"] for line in lines] == ["success", "failed"]
    assert lines[1]["error"]["field"] == "industrycode"
    assert "1 succeeded, 1 failed" in result.stderr
    assert stored(live, marker) == {f"{marker} ok": 7}


def test_a_nested_records_own_odata_type_names_its_table_and_must_agree(live: Live) -> None:
    # Nested records that name their table (with and without '#') are converted against it; one that names another
    # table than its navigation property leads to is converted against its own table and the service judges it (the
    # sandbox, as Dataverse, refuses an account where a contact goes); one of another form and one that names no table
    # each fail their document, naming the annotation, with nothing written for it; the documents after them are
    # written.
    marker = unique("lbltype")
    options = {"entity_set": "accounts", "option_labels": True, "bulk": {"mode": "off"}}
    documents = [
        {
            "name": f"{marker} typed",
            "primarycontactid": {
                "@odata.type": "#Microsoft.Dynamics.CRM.contact",
                "lastname": f"{marker} primary",
                "gendercode": "Female",
            },
            "contact_customer_accounts": [
                {"@odata.type": "Microsoft.Dynamics.CRM.contact", "lastname": f"{marker} child", "gendercode": "male"}
            ],
        },
        {
            "name": f"{marker} other table",
            "primarycontactid": {
                "@odata.type": "Microsoft.Dynamics.CRM.account",
                "name": "x",
                "industrycode": "Consulting",
            },
        },
        {
            "name": f"{marker} alias",
            "contact_customer_accounts": [{"lastname": "x"}, {"@odata.type": "mscrm.contact", "lastname": "y"}],
        },
        {
            "name": f"{marker} no table",
            "primarycontactid": {"@odata.type": "Microsoft.Dynamics.CRM.sample_nosuchtable", "lastname": "x"},
        },
        {"name": f"{marker} after", "primarycontactid": {"lastname": f"{marker} after", "gendercode": "Male"}},
    ]
    results = live.run("create", options, documents)
    assert [result.status for result in results] == [
        ResultStatus.SUCCESS,
        ResultStatus.FAILED,
        ResultStatus.FAILED,
        ResultStatus.FAILED,
        ResultStatus.SUCCESS,
    ], [result.error for result in results]
    refused = results[1].error
    assert refused is not None
    assert refused.failure_type == "remote", refused  # the service's refusal: the labels passed the connector
    assert "Consulting" not in refused.message
    errors = [result.error for result in results[2:4]]
    assert [error.field if error is not None else None for error in errors] == [
        "contact_customer_accounts[1].@odata.type",
        "primarycontactid.@odata.type",
    ]
    messages = [error.message if error is not None else "" for error in errors]
    assert "'mscrm.contact' is not of the form 'Microsoft.Dynamics.CRM.<logical name>'" in messages[0]
    assert "names no table: none with an entity set is called 'sample_nosuchtable'" in messages[1]
    assert set(stored(live, marker)) == {f"{marker} typed", f"{marker} after"}
    contacts = live.rows("contact", "lastname LIKE ?", [f"{marker}%"])
    assert {row["lastname"]: row["gendercode"] for row in contacts} == {
        f"{marker} primary": 2,
        f"{marker} child": 1,
        f"{marker} after": 1,
    }


def test_labels_ten_levels_deep_become_values(live: Live) -> None:
    # An account whose primary contact's company has a primary contact whose company... ten levels down: every
    # record's label is converted against its own table, the deepest included.
    marker = unique("lbl10")
    levels = 10
    record: dict[str, object] = {"name": f"{marker} {levels}", "industrycode": "Brokers"}
    for level in range(levels - 1, -1, -1):
        if level % 2:
            record = {"lastname": f"{marker} {level}", "gendercode": "Female", "parentcustomerid_account": record}
        else:
            record = {"name": f"{marker} {level}", "industrycode": "Consulting", "primarycontactid": record}
    [result] = live.run("create", {"entity_set": "accounts", "option_labels": True, "bulk": {"mode": "off"}}, [record])
    assert result.status is ResultStatus.SUCCESS, result.error
    assert stored(live, marker) == {
        **{f"{marker} {level}": 7 for level in range(0, levels, 2)},
        f"{marker} {levels}": 4,
    }
    contacts = live.rows("contact", "lastname LIKE ?", [f"{marker}%"])
    assert {row["lastname"]: row["gendercode"] for row in contacts} == {
        f"{marker} {level}": 2 for level in range(1, levels, 2)
    }
