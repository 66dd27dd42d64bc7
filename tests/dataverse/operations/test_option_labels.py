"""Option-set labels on write: choice and multi-choice labels turned into values from the metadata, in the user's
language or a chosen one, and a label a column does not have failing its document with the column's labels listed.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses
from responses import matchers

from connector.dataverse.metadata.definitions import ENTITY_COLUMNS
from connector.dataverse.metadata.tables import AttributeInfo, OptionInfo
from connector.dataverse.operations.inputs import DocumentError
from connector.dataverse.operations.option_labels import option_value_of, with_option_values
from connector.dataverse.operations.options import parse_options
from connector.dataverse.operations.running import OperationContext
from connector.dataverse.operations.write_options import CreateOptions
from connector.results import Connection, ResultStatus
from tests.support.dataverse import API, add_description, add_entity, make_client, run

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
    mocked.add(
        "GET",
        f"{API}EntityDefinitions",
        match=[
            matchers.query_param_matcher({"$select": ",".join(ENTITY_COLUMNS), "$filter": "LogicalName eq 'contact'"})
        ],
        json={"value": [{"LogicalName": "contact", "EntitySetName": "contacts", "PrimaryIdAttribute": "contactid"}]},
    )
    mocked.add(
        "GET",
        f"{API}EntityDefinitions(LogicalName='contact')/Attributes",
        status=403,
        json={"error": {"code": "0x80040220", "message": "Refused."}},
    )
    mocked.add("POST", f"{API}accounts", status=204, headers={"OData-EntityId": f"{API}accounts({NEW_ID})"})
    options = {"entity_set": "accounts", "option_labels": True, "bulk": {"mode": "off"}, "client_keys": "never"}
    contact = {"lastname": "x", "gendercode": "Female"}
    [result] = run(connection, "create", options, [{"name": "a", "primarycontactid": contact}])
    assert result.status is ResultStatus.SUCCESS
    post = next(call for call in mocked.calls if call.request.method == "POST")
    assert json.loads(post.request.body or b"") == {"name": "a", "primarycontactid": contact}
