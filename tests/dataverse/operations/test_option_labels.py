"""Option-set labels on write: choice and multi-choice labels turned into values from the metadata, in the user's
language or a chosen one, and a label a column does not have failing its document with the column's labels listed;
nested records converted against the table their own ``@odata.type`` names (one that is malformed, names no table or
names another table than the navigation property's being the record's table), as deep as a write body may nest them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses
from responses import matchers

from connector.dataverse.metadata.definitions import ENTITY_COLUMNS
from connector.dataverse.metadata.tables import AttributeInfo, EntityInfo, OptionInfo
from connector.dataverse.operations.inputs import MOST_NESTING, DocumentError, write_body
from connector.dataverse.operations.option_labels import option_value_of, with_option_values
from connector.dataverse.operations.options import parse_options
from connector.dataverse.operations.running import OperationContext
from connector.dataverse.operations.write_options import CreateOptions
from connector.results import Connection, ResultStatus
from tests.support.dataverse import API, add_description, add_entity, make_client, run, url_of

NEW_ID = "7eb682f1-ca75-e511-80d4-00155d2a68d1"


def option(value: int, english: str, german: str | None = None) -> OptionInfo:
    labels = ((1033, english),) + (((1031, german),) if german else ())
    return OptionInfo(value, english, labels)


INDUSTRY = AttributeInfo(
    "industrycode",
    "Picklist",
    "Industry",
    options=(option(1, "Accounting", "Buchhaltung"), option(7, "Consulting", "Beratung"), option(8, "consulting")),
)
COLOURS = AttributeInfo(
    "sample_colours",
    "MultiSelectPicklist",
    "Colours",
    options=(option(1, "Red", "Rot"), option(2, "Blue", "Blau"), option(3, "Red, dark")),
)


@pytest.mark.parametrize(
    ("value", "language", "expected"),
    [
        ("Accounting", None, 1),
        ("ACCOUNTING", None, 1),
        ("Consulting", None, 7),  # exact first: "consulting" (8) differs only by case
        ("consulting", None, 8),
        ("Beratung", 1031, 7),
        ("7", None, 7),
        (7, None, 7),
        (None, None, None),
        (True, None, True),
    ],
)
def test_a_choice_label_becomes_its_value(value: Any, language: int | None, expected: Any) -> None:
    assert option_value_of(INDUSTRY, value, language) == expected


def test_case_folding_that_matches_two_options_is_no_match() -> None:
    with pytest.raises(DocumentError) as caught:
        option_value_of(INDUSTRY, "CONSULTING", None)
    assert caught.value.field == "industrycode"


@pytest.mark.parametrize(
    ("value", "language", "words"),
    [
        ("Consultancy", None, "'Consultancy' is not a label of this choice column; its labels: Accounting (1), "),
        ("Consulting", 1031, "'Consulting' is not a label of this choice column in language 1031; its labels: "),
        ("99", None, "'99' is not a label"),
        ("\u00b2", None, "'\u00b2' is not a label"),  # isdigit() says yes, int() refuses it
        ("Consulting", 1036, "the column has no labels in language 1036 (its languages: 1031, 1033)"),
    ],
)
def test_an_unknown_label_names_the_column_and_its_labels(value: str, language: int | None, words: str) -> None:
    with pytest.raises(DocumentError) as caught:
        option_value_of(INDUSTRY, value, language)
    assert caught.value.field == "industrycode"
    assert words in caught.value.user_message


class FakeDescription:
    """The two columns above, as a table's description answers for them."""

    def attribute(self, name: str) -> AttributeInfo | None:
        return {"industrycode": INDUSTRY, "sample_colours": COLOURS}.get(name)


class FakeMetadata:
    """A metadata cache that describes every table with the two columns above."""

    def describe(self, entity_set: str) -> FakeDescription:
        return FakeDescription()


def context_for(options: dict[str, Any]) -> Any:
    """A Create run whose metadata knows the two columns above."""
    parsed = parse_options("create", {"entity_set": "accounts", **options}, CreateOptions.from_values)
    return OperationContext("create", make_client(), FakeMetadata(), parsed)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "language", "expected"),
    [
        (["Red", "Blue"], None, "1,2"),
        (["Rot", 2, "Blau"], 1031, "1,2"),
        ("Red, dark", None, "3"),  # one label holding a comma wins over splitting
        ("Red,Blue", None, "1,2"),
        ("blue, RED, Blue", None, "2,1"),
        ("1,2", None, "1,2"),
        ([1, 2], None, [1, 2]),  # no text in it: sent as given
    ],
)
def test_multi_choice_labels_become_dataverses_comma_list(value: Any, language: int | None, expected: Any) -> None:
    body = {"sample_colours": value, "name": "n"}
    language_option = {"label_language": language} if language is not None else {}
    converted = with_option_values(context_for({"option_labels": True, **language_option}), body)
    assert converted == {"sample_colours": expected, "name": "n"}


def test_an_unknown_multi_choice_label_fails_naming_the_column() -> None:
    with pytest.raises(DocumentError) as caught:
        with_option_values(context_for({"option_labels": True}), {"sample_colours": ["Red", "Green"]})
    assert caught.value.field == "sample_colours"
    assert "'Green' is not a label of this multi-choice column; its labels: Red (1), Blue (2)" in str(
        caught.value.user_message
    )


def test_off_sends_the_body_unchanged() -> None:
    body = {"industrycode": "Consulting"}
    assert with_option_values(context_for({}), body) is body


def test_create_sends_the_value_and_a_bad_label_fails_only_its_document(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    add_entity(mocked)
    add_description(mocked)
    mocked.add("POST", f"{API}accounts", status=204, headers={"OData-EntityId": f"{API}accounts({NEW_ID})"})
    options = {"entity_set": "accounts", "option_labels": True, "bulk": {"mode": "off"}, "client_keys": "never"}
    documents = [{"name": "a", "industrycode": "Consulting"}, {"name": "b", "industrycode": "Consultancy"}]
    good, bad = run(connection, "create", options, documents)
    assert good.status is ResultStatus.SUCCESS
    post = next(call for call in mocked.calls if call.request.method == "POST")
    assert json.loads(post.request.body or b"") == {"name": "a", "industrycode": 7}
    assert bad.status is ResultStatus.FAILED
    assert bad.error is not None
    assert bad.error.field == "industrycode"
    assert "its labels: Accounting (1), Consulting (7)" in bad.error.message


@pytest.mark.parametrize(
    ("status", "code"), [(404, "0x80060888"), (403, "0x80040220")], ids=["no-metadata", "not-allowed"]
)
def test_a_nested_record_whose_table_cannot_be_told_is_sent_as_it_is(
    mocked: responses.RequestsMock, connection: Connection, status: int, code: str
) -> None:
    # No one-to-many relationship metadata, or no right to read it: the account's own label is converted, the
    # nested records are sent unchanged for the service to judge, and the create goes ahead.
    add_entity(mocked)
    add_description(mocked)
    mocked.add(
        "GET",
        f"{API}EntityDefinitions(LogicalName='account')/OneToManyRelationships",
        status=status,
        json={"error": {"code": code, "message": "Refused."}},
    )
    mocked.add("POST", f"{API}accounts", status=204, headers={"OData-EntityId": f"{API}accounts({NEW_ID})"})
    options = {"entity_set": "accounts", "option_labels": True, "bulk": {"mode": "off"}, "client_keys": "never"}
    nested = [{"lastname": "x", "gendercode": "Female"}]
    documents = [{"name": name, "industrycode": "Consulting", "children": nested} for name in ("a", "b")]
    results = run(connection, "create", options, documents)
    assert [result.status for result in results] == [ResultStatus.SUCCESS] * 2
    posts = [call for call in mocked.calls if call.request.method == "POST"]
    assert [json.loads(post.request.body or b"") for post in posts] == [
        {"name": name, "industrycode": 7, "children": nested} for name in ("a", "b")
    ]
    # What the service would not say is remembered: the second document asks nothing more.
    assert sum("OneToManyRelationships" in (call.request.url or "") for call in mocked.calls) == 1


def test_a_nested_record_whose_table_may_not_be_described_is_sent_as_it_is(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    # The contact table is found, but the user may not read its attributes: the nested contact goes as given.
    add_entity(mocked)
    add_description(mocked)
    add_contact_description(mocked, attributes_status=403)
    mocked.add("POST", f"{API}accounts", status=204, headers={"OData-EntityId": f"{API}accounts({NEW_ID})"})
    options = {"entity_set": "accounts", "option_labels": True, "bulk": {"mode": "off"}, "client_keys": "never"}
    contact = {"lastname": "x", "gendercode": "Female"}
    [result] = run(connection, "create", options, [{"name": "a", "primarycontactid": contact}])
    assert result.status is ResultStatus.SUCCESS
    post = next(call for call in mocked.calls if call.request.method == "POST")
    assert json.loads(post.request.body or b"") == {"name": "a", "primarycontactid": contact}


GENDER = AttributeInfo("gendercode", "Picklist", "Gender", options=(option(1, "Male"), option(2, "Female")))
TABLES = {
    "account": EntityInfo("accounts", "account", "accountid", "name", "Account"),
    "contact": EntityInfo("contacts", "contact", "contactid", "fullname", "Contact"),
    "task": EntityInfo("tasks", "task", "activityid", "subject", "Task"),  # its columns may not be read
}


class TableDescription:
    """One table's choice columns, as its description answers for them."""

    def __init__(self, columns: dict[str, AttributeInfo]) -> None:
        self.columns = columns

    def attribute(self, name: str) -> AttributeInfo | None:
        return self.columns.get(name)


class TwoTables:
    """A metadata cache that knows accounts (industry) and contacts (gender), the navigation properties in
    ``targets``, and records which logical names it was asked for.
    """

    def __init__(self, targets: dict[tuple[str, str], str | None]) -> None:
        self.targets = targets
        self.named: list[str] = []

    def describe(self, entity_set: str) -> TableDescription:
        return TableDescription(
            {"accounts": {"industrycode": INDUSTRY}, "contacts": {"gendercode": GENDER}}[entity_set]
        )

    def navigation_target(self, entity_set: str, navigation: str) -> str | None:
        return self.targets.get((entity_set, navigation))

    def describable(self, entity_set: str) -> bool:
        return entity_set in ("accounts", "contacts")

    def entity_named(self, logical_name: str) -> EntityInfo | None:
        self.named.append(logical_name)
        return TABLES.get(logical_name)


def convert(metadata: TwoTables, body: dict[str, Any]) -> dict[str, Any]:
    """:returns: ``body`` as an accounts Create with ``option_labels`` on would send it."""
    parsed = parse_options("create", {"entity_set": "accounts", "option_labels": True}, CreateOptions.from_values)
    context = OperationContext("create", make_client(), metadata, parsed)  # type: ignore[arg-type]
    return with_option_values(context, body)


@pytest.mark.parametrize("odata_type", ["Microsoft.Dynamics.CRM.contact", "#Microsoft.Dynamics.CRM.contact"])
def test_a_nested_records_own_odata_type_names_its_table_when_the_navigation_property_cannot_tell(
    odata_type: str,
) -> None:
    metadata = TwoTables({("accounts", "sample_members"): None})
    contact = {"@odata.type": odata_type, "lastname": "x", "gendercode": "Female"}
    body = {"industrycode": "Consulting", "sample_members": [contact, {"gendercode": "Female"}]}
    assert convert(metadata, body) == {
        "industrycode": 7,
        "sample_members": [{**contact, "gendercode": 2}, {"gendercode": "Female"}],  # untyped: sent as it is
    }
    assert metadata.named == ["contact"]


def test_a_nested_records_odata_type_that_agrees_with_its_navigation_property_is_converted() -> None:
    metadata = TwoTables({("accounts", "primarycontactid"): "contacts"})
    body = {"primarycontactid": {"@odata.type": "Microsoft.Dynamics.CRM.contact", "gendercode": "male"}}
    assert convert(metadata, body) == {
        "primarycontactid": {"@odata.type": "Microsoft.Dynamics.CRM.contact", "gendercode": 1}
    }


def test_a_nested_records_odata_type_that_names_another_table_is_its_table() -> None:
    # A task under a property leading to activitypointer (its base table) names its own table: its columns are that
    # table's, and the service judges whether the property takes it (the document failed before the service saw it).
    metadata = TwoTables({("accounts", "primarycontactid"): "contacts"})
    body = {"primarycontactid": {"@odata.type": "Microsoft.Dynamics.CRM.account", "industrycode": "Consulting"}}
    assert convert(metadata, body) == {
        "primarycontactid": {"@odata.type": "Microsoft.Dynamics.CRM.account", "industrycode": 7}
    }


def test_a_nested_record_naming_another_table_whose_columns_may_not_be_read_is_sent_as_it_is() -> None:
    # Converted against the navigation property's table instead, its labels could become another table's values.
    metadata = TwoTables({("accounts", "primarycontactid"): "contacts"})
    task = {"@odata.type": "Microsoft.Dynamics.CRM.task", "gendercode": "Female"}
    assert convert(metadata, {"primarycontactid": task}) == {"primarycontactid": task}


@pytest.mark.parametrize(
    ("odata_type", "words"),
    [
        ("mscrm.contact", "'mscrm.contact' is not of the form 'Microsoft.Dynamics.CRM.<logical name>' (with or"),
        ("contact", "'contact' is not of the form"),
        ("Microsoft.Dynamics.CRM.", "'Microsoft.Dynamics.CRM.' is not of the form"),
        ("##Microsoft.Dynamics.CRM.contact", "is not of the form"),
        ("Microsoft.Dynamics.CRM.contact eq 'x'", "is not of the form"),
        ("Microsoft.Dynamics.CRM.Microsoft.Dynamics.CRM.contact", "is not of the form"),
        (
            7,
            "must be text of the form 'Microsoft.Dynamics.CRM.<logical name>' (with or without a leading '#'), not int",
        ),
        (None, "not null"),
        ({"name": "contact"}, "not dict"),
    ],
)
def test_a_malformed_odata_type_fails_naming_it_without_asking_the_service(odata_type: Any, words: str) -> None:
    metadata = TwoTables({("accounts", "sample_members"): None})
    body = {"sample_members": [{"gendercode": "Female"}, {"@odata.type": odata_type, "gendercode": "Female"}]}
    with pytest.raises(DocumentError) as caught:
        convert(metadata, body)
    assert caught.value.field == "sample_members[1].@odata.type"
    assert words in caught.value.user_message
    assert metadata.named == []


def test_an_odata_type_that_names_no_table_fails_naming_it() -> None:
    metadata = TwoTables({("accounts", "primarycontactid"): "contacts"})
    body = {"primarycontactid": {"@odata.type": "Microsoft.Dynamics.CRM.sample_gone", "gendercode": "Female"}}
    with pytest.raises(DocumentError) as caught:
        convert(metadata, body)
    assert caught.value.field == "primarycontactid.@odata.type"
    assert "names no table: none with an entity set is called 'sample_gone'" in (caught.value.user_message)


def test_records_are_converted_as_deep_as_a_write_body_may_nest_them() -> None:
    # A chain of accounts under parentaccountid, each with a label, exactly as deep as write_body lets through.
    metadata = TwoTables({("accounts", "parentaccountid"): "accounts"})
    document: dict[str, Any] = {"industrycode": "Accounting"}
    for _ in range(MOST_NESTING):
        document = {"industrycode": "Accounting", "parentaccountid": document}
    body = convert(metadata, write_body(document))
    depth = 0
    while True:
        assert body["industrycode"] == 1, f"not converted {depth} levels deep"
        if "parentaccountid" not in body:
            break
        body = body["parentaccountid"]
        depth += 1
    assert depth == MOST_NESTING


def add_contact_description(mocked: responses.RequestsMock, attributes_status: int = 200) -> None:
    """Answer the contact table's lookup by logical name and its describe: a gender column (Male 1, Female 2)."""
    mocked.add(
        "GET",
        f"{API}EntityDefinitions",
        match=[
            matchers.query_param_matcher({"$select": ",".join(ENTITY_COLUMNS), "$filter": "LogicalName eq 'contact'"})
        ],
        json={"value": [{"LogicalName": "contact", "EntitySetName": "contacts", "PrimaryIdAttribute": "contactid"}]},
    )
    base = f"{API}EntityDefinitions(LogicalName='contact')/Attributes"
    if attributes_status != 200:
        mocked.add("GET", base, status=attributes_status, json={"error": {"code": "0x80040220", "message": "No."}})
        return
    gender = {"LogicalName": "gendercode", "AttributeType": "Picklist", "IsValidForCreate": True}
    add_description(mocked, "contact", [gender], relationships=[])
    mocked.replace(
        "GET",
        f"{base}/Microsoft.Dynamics.CRM.PicklistAttributeMetadata",
        match=[matchers.query_param_matcher({"$select": "LogicalName", "$expand": "OptionSet($select=Options)"})],
        json={
            "value": [
                {
                    "LogicalName": "gendercode",
                    "OptionSet": {
                        "Options": [
                            {"Value": 1, "Label": {"UserLocalizedLabel": {"Label": "Male"}}},
                            {"Value": 2, "Label": {"UserLocalizedLabel": {"Label": "Female"}}},
                        ]
                    },
                }
            ]
        },
    )


def _typed_children_without_relationships(
    mocked: responses.RequestsMock, *, contact_attributes: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Accounts whose one-to-many relationships the service will not read, contacts whose attributes answer
    ``contact_attributes``, and a create that succeeds.

    :returns: the run's options, and a nested record naming its table.
    """
    add_entity(mocked)
    add_description(mocked)
    mocked.add(
        "GET",
        f"{API}EntityDefinitions(LogicalName='account')/OneToManyRelationships",
        status=404,
        json={"error": {"code": "0x80060888", "message": "Resource not found for the segment."}},
    )
    add_contact_description(mocked, attributes_status=contact_attributes)
    mocked.add("POST", f"{API}accounts", status=204, headers={"OData-EntityId": f"{API}accounts({NEW_ID})"})
    options = {"entity_set": "accounts", "option_labels": True, "bulk": {"mode": "off"}, "client_keys": "never"}
    return options, {"@odata.type": "Microsoft.Dynamics.CRM.contact", "lastname": "x", "gendercode": "Female"}


def test_a_nested_record_naming_its_table_is_converted_where_the_relationships_cannot_be_read(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    # The service will not tell where 'children' leads (no one-to-many relationship metadata), but each nested
    # record says it is a contact: its labels are converted against the contact table, asked once for the run.
    options, typed = _typed_children_without_relationships(mocked, contact_attributes=200)
    documents = [{"name": name, "children": [typed]} for name in ("a", "b")]
    results = run(connection, "create", options, documents)
    assert [result.status for result in results] == [ResultStatus.SUCCESS] * 2, [result.error for result in results]
    posts = [call for call in mocked.calls if call.request.method == "POST"]
    assert [json.loads(post.request.body or b"") for post in posts] == [
        {"name": name, "children": [{**typed, "gendercode": 2}]} for name in ("a", "b")
    ]
    # The contact table is looked up and described once for the run, not once per record.
    assert sum(url_of(call).endswith("LogicalName%20eq%20'contact'") for call in mocked.calls) == 1
    described = f"{API}EntityDefinitions(LogicalName='contact')/Attributes?"
    assert sum(url_of(call).startswith(described) for call in mocked.calls) == 1


def test_a_nested_record_naming_a_table_that_may_not_be_described_is_sent_as_it_is(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    options, typed = _typed_children_without_relationships(mocked, contact_attributes=403)
    documents = [{"name": name, "industrycode": "Consulting", "children": [typed]} for name in ("a", "b")]
    results = run(connection, "create", options, documents)
    assert [result.status for result in results] == [ResultStatus.SUCCESS] * 2, [result.error for result in results]
    posts = [json.loads(call.request.body or b"") for call in mocked.calls if call.request.method == "POST"]
    assert posts == [{"name": name, "industrycode": 7, "children": [typed]} for name in ("a", "b")]
    # The refusal is remembered for the connection: asking again per nested record would cost a request each.
    refused = f"{API}EntityDefinitions(LogicalName='contact')/Attributes"
    assert sum(url_of(call).startswith(refused) for call in mocked.calls) == 1
