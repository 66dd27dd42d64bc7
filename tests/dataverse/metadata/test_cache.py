"""Metadata: the documented EntityDefinitions query forms, the per-connection cache, and attribute descriptions."""

from __future__ import annotations

import pytest
import responses
from responses import matchers

from connector.dataverse.client import DataverseClient
from connector.dataverse.metadata.cache import MetadataCache, OptionInfo, metadata_for
from connector.dataverse.metadata.definitions import ENTITY_COLUMNS
from connector.errors import RemoteError
from tests.support.dataverse import API, add_description, add_entity


def test_an_entity_is_resolved_once_per_connection(mocked: responses.RequestsMock, client: DataverseClient) -> None:
    add_entity(mocked)
    cache = metadata_for(client)
    first = cache.entity("accounts")
    assert (first.logical_name, first.primary_id, first.primary_name, first.label) == (
        "account",
        "accountid",
        "name",
        "Account",
    )
    assert cache.entity("accounts") is first
    assert metadata_for(client) is cache
    assert len(mocked.calls) == 1
    url = mocked.calls[0].request.url
    assert url == f"{API}EntityDefinitions?$select={','.join(ENTITY_COLUMNS)}&$filter=EntitySetName%20eq%20'accounts'"


@pytest.mark.parametrize(("table_type", "elastic"), [("Standard", False), ("Elastic", True), ("Activity", False)])
def test_an_elastic_table_is_known_by_its_table_type(
    mocked: responses.RequestsMock, client: DataverseClient, table_type: str, elastic: bool
) -> None:
    add_entity(mocked, table_type=table_type)
    assert metadata_for(client).entity("accounts").elastic is elastic


def test_use_cache_false_reads_again(mocked: responses.RequestsMock, client: DataverseClient) -> None:
    add_entity(mocked)
    add_entity(mocked)
    cache = metadata_for(client)
    cache.entity("accounts")
    cache.entity("accounts", use_cache=False)
    assert len(mocked.calls) == 2


def test_entity_set_names_are_case_sensitive(mocked: responses.RequestsMock, client: DataverseClient) -> None:
    mocked.add(
        "GET",
        f"{API}EntityDefinitions",
        json={"value": [{"LogicalName": "account", "EntitySetName": "accounts", "PrimaryIdAttribute": "accountid"}]},
    )
    with pytest.raises(RemoteError) as caught:
        metadata_for(client).entity("Accounts")
    assert caught.value.status == 404
    assert "'Accounts'" in caught.value.user_message
    assert "did you mean 'accounts'" in caught.value.user_message


def test_a_refused_metadata_request_raises_in_boomis_form(
    mocked: responses.RequestsMock, client: DataverseClient
) -> None:
    mocked.add(
        "GET",
        f"{API}EntityDefinitions",
        status=403,
        json={"error": {"code": "0x80040220", "message": "The user does not hold the necessary privileges."}},
    )
    with pytest.raises(RemoteError) as caught:
        metadata_for(client).entity("accounts")
    assert caught.value.user_message == "(0x80040220)The user does not hold the necessary privileges.[403]"


def test_entity_sets_list_reads_a_few_columns_and_no_attributes(
    mocked: responses.RequestsMock, client: DataverseClient
) -> None:
    mocked.add(
        "GET",
        f"{API}EntityDefinitions",
        match=[matchers.query_param_matcher({"$select": ",".join(ENTITY_COLUMNS)})],
        json={
            "value": [
                {"LogicalName": "contact", "EntitySetName": "contacts", "DisplayName": {"UserLocalizedLabel": None}},
                {"LogicalName": "account", "EntitySetName": "accounts"},
                {"LogicalName": "internal", "EntitySetName": None},
            ]
        },
    )
    found = metadata_for(client).entity_sets()
    assert [entity.entity_set for entity in found] == ["accounts", "contacts"]
    assert found[1].label == "contacts"
    assert metadata_for(client).entity("contacts") is found[1]
    assert len(mocked.calls) == 1


def test_describe_reads_types_lengths_formats_options_and_navigations(
    mocked: responses.RequestsMock, client: DataverseClient
) -> None:
    add_entity(mocked)
    add_description(mocked)
    description = metadata_for(client).describe("accounts")
    names = [attribute.logical_name for attribute in description.attributes]
    assert "primarycontactidname" not in names  # virtual: no value of its own
    name = description.attribute("name")
    assert name is not None
    assert name.max_length == 160
    assert name.required_level == "ApplicationRequired"
    assert description.literal_type("sample_establishedon") == "date"
    assert description.literal_type("lastonholdtime") == "datetime"
    assert description.literal_type("_primarycontactid_value") == "guid"
    assert description.literal_type("primarycontactid/fullname") is None
    industry = description.attribute("industrycode")
    assert industry is not None
    assert industry.options == (OptionInfo(1, "Accounting"), OptionInfo(7, "Consulting"))
    assert description.option_value("industrycode", "consulting") == 7
    lookup = description.attribute("_primarycontactid_value")
    assert lookup is not None
    assert lookup.navigations == (("primarycontactid", "contact"),)
    assert not description.navigation_inferred
    assert metadata_for(client).describe("accounts") is description


def test_without_relationship_metadata_navigation_names_are_assumed_and_flagged(
    mocked: responses.RequestsMock, client: DataverseClient
) -> None:
    add_entity(mocked)
    add_description(mocked, relationships_status=400)
    description = metadata_for(client).describe("accounts")
    lookup = description.attribute("primarycontactid")
    assert lookup is not None
    assert lookup.navigations == (("primarycontactid", ""),)
    assert description.navigation_inferred


def test_polymorphic_lookups_get_one_navigation_per_target(
    mocked: responses.RequestsMock, client: DataverseClient
) -> None:
    add_entity(mocked, "contacts", "contact", "contactid", "fullname")
    add_description(
        mocked,
        "contact",
        [{"LogicalName": "parentcustomerid", "AttributeType": "Customer", "IsValidForCreate": True}],
        relationships=[
            {
                "ReferencingAttribute": "parentcustomerid",
                "ReferencingEntityNavigationPropertyName": "parentcustomerid_account",
                "ReferencedEntity": "account",
            },
            {
                "ReferencingAttribute": "parentcustomerid",
                "ReferencingEntityNavigationPropertyName": "parentcustomerid_contact",
                "ReferencedEntity": "contact",
            },
        ],
    )
    lookup = metadata_for(client).describe("contacts").attribute("_parentcustomerid_value")
    assert lookup is not None
    assert lookup.navigations == (("parentcustomerid_account", "account"), ("parentcustomerid_contact", "contact"))


def test_a_table_named_by_logical_name_is_asked_once_and_read_from_the_table_list_when_held(
    mocked: responses.RequestsMock, client: DataverseClient
) -> None:
    listed = {"value": [{"LogicalName": "contact", "EntitySetName": "contacts", "PrimaryIdAttribute": "contactid"}]}
    mocked.add("GET", f"{API}EntityDefinitions", json=listed)
    cache = metadata_for(client)
    found = cache.entity_named("contact")
    assert found is not None
    assert found.entity_set == "contacts"
    assert cache.entity_named("contact") is found
    assert str(mocked.calls[0].request.url).endswith("$filter=LogicalName%20eq%20'contact'")
    other = MetadataCache(client)
    other.entity_sets()
    asked = len(mocked.calls)
    # The list holds every table with an entity set: asking it again per name (per nested record) cost a request each.
    assert other.entity_named("contact") is not None
    assert len(mocked.calls) == asked
    # A name the list lacks is asked for once (a table created since), and the answer remembered.
    assert other.entity_named("nosuchtable") is None
    assert other.entity_named("nosuchtable") is None
    assert len(mocked.calls) == asked + 1


def test_a_table_missing_from_the_list_read_earlier_is_asked_for(
    mocked: responses.RequestsMock, client: DataverseClient
) -> None:
    # A table created after the connection read its list: answering from the list alone said it did not exist.
    mocked.add("GET", f"{API}EntityDefinitions", json={"value": []})
    cache = MetadataCache(client)
    cache.entity_sets()
    listed = {"value": [{"LogicalName": "new_x", "EntitySetName": "new_xs", "PrimaryIdAttribute": "new_xid"}]}
    mocked.add("GET", f"{API}EntityDefinitions", json=listed)
    found = cache.entity_named("new_x")
    assert found is not None
    assert found.entity_set == "new_xs"
    assert str(mocked.calls[-1].request.url).endswith("$filter=LogicalName%20eq%20'new_x'")
