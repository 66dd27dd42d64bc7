"""Service document, ``$metadata`` and ``EntityDefinitions`` of the sandbox Web API."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable

from dataverse_sandbox.config import InferredBehaviour
from dataverse_sandbox.server import Sandbox
from tests.support.sandbox import WebApiSession, bearer_token

EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
ACCOUNT_METADATA_ID = "70816501-edb9-4740-a16c-6a5efbc05d84"


def test_service_document_lists_entity_sets(api: WebApiSession) -> None:
    body = api.get("").json()
    assert body["@odata.context"] == f"{api.root}$metadata"
    assert {"name": "accounts", "kind": "EntitySet", "url": "accounts"} in body["value"]
    assert {"name": "contacts", "kind": "EntitySet", "url": "contacts"} in body["value"]


def test_metadata_is_csdl_with_keys_navigation_and_alternate_keys(api: WebApiSession) -> None:
    response = api.get("$metadata")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/xml")
    root = ET.fromstring(response.content)  # noqa: S314 - the document comes from the sandbox under test
    schema = root.find(f".//{EDM}Schema")
    assert schema is not None
    assert (schema.get("Namespace"), schema.get("Alias")) == ("Microsoft.Dynamics.CRM", "mscrm")
    account = schema.find(f"{EDM}EntityType[@Name='account']")
    assert account is not None
    assert account.find(f"{EDM}Key/{EDM}PropertyRef").get("Name") == "accountid"  # type: ignore[union-attr]
    properties = {p.get("Name"): p.get("Type") for p in account.findall(f"{EDM}Property")}
    assert properties["revenue"] == "Edm.Decimal"
    assert properties["_primarycontactid_value"] == "Edm.Guid"
    assert properties["sample_establishedon"] == "Edm.Date"
    navigation = {n.get("Name") for n in account.findall(f"{EDM}NavigationProperty")}
    assert {"primarycontactid", "contact_customer_accounts"} <= navigation
    keys = account.find(f"{EDM}Annotation[@Term='OData.Community.Keys.V1.AlternateKeys']")
    assert keys is not None
    assert "accountnumber" in ET.tostring(keys, encoding="unicode")
    container = schema.find(f"{EDM}EntityContainer")
    assert container is not None
    assert container.get("Name") == "System"
    assert container.find(f"{EDM}FunctionImport[@Name='WhoAmI']") is not None
    assert schema.find(f"{EDM}Action[@Name='sample_Promote']") is not None
    assert "ChangeTracking" not in response.text


def test_metadata_annotations_show_change_tracking(api: WebApiSession) -> None:
    text = api.get("$metadata?annotations=true").text
    assert 'Term="Org.OData.Capabilities.V1.ChangeTracking"' in text


def test_entity_definitions_filter_and_select_as_the_python_sdk_asks(api: WebApiSession) -> None:
    response = api.get(
        "EntityDefinitions?$select=LogicalName,EntitySetName,PrimaryIdAttribute&$filter=LogicalName eq 'account'"
    )
    assert response.status_code == 200
    assert response.json() == {
        "@odata.context": f"{api.root}$metadata#EntityDefinitions(LogicalName,EntitySetName,PrimaryIdAttribute)",
        "value": [
            {
                "MetadataId": ACCOUNT_METADATA_ID,
                "LogicalName": "account",
                "EntitySetName": "accounts",
                "PrimaryIdAttribute": "accountid",
            }
        ],
    }


def test_entity_definition_by_key_is_a_single_object(api: WebApiSession) -> None:
    body = api.get("EntityDefinitions(LogicalName='contact')?$select=EntitySetName,PrimaryNameAttribute").json()
    assert body["@odata.context"].endswith("/$entity")
    assert (body["EntitySetName"], body["PrimaryNameAttribute"]) == ("contacts", "fullname")
    assert "MetadataId" in body
    by_id = api.get(f"EntityDefinitions({ACCOUNT_METADATA_ID})?$select=LogicalName").json()
    assert by_id["LogicalName"] == "account"
    assert api.get("EntityDefinitions(LogicalName='nothing')").status_code == 404


def test_entity_definition_by_key_can_be_wrapped(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(behaviour=InferredBehaviour(entity_definitions_key_as_object=False))
    session = WebApiSession(sb, bearer_token(sb))
    body = session.get("EntityDefinitions(LogicalName='account')?$select=LogicalName").json()
    assert body["value"][0]["LogicalName"] == "account"


def test_attributes_carry_their_metadata_type(api: WebApiSession) -> None:
    body = api.get("EntityDefinitions(LogicalName='account')/Attributes?$select=LogicalName,AttributeType").json()
    by_name = {item["LogicalName"]: item for item in body["value"]}
    assert by_name["revenue"]["@odata.type"] == "#Microsoft.Dynamics.CRM.MoneyAttributeMetadata"
    assert by_name["primarycontactid"]["AttributeType"] == "Lookup"
    assert all("MetadataId" in item for item in body["value"])
    name = api.get("EntityDefinitions(LogicalName='account')/Attributes(LogicalName='name')").json()
    assert name["MaxLength"] == 160
    money = api.get(
        "EntityDefinitions(LogicalName='account')/Attributes?$filter=AttributeType eq 'Money'&$select=LogicalName"
    ).json()
    assert {item["LogicalName"] for item in money["value"]} == {"revenue", "creditlimit"}


def test_picklist_cast_with_option_set(api: WebApiSession) -> None:
    body = api.get(
        "EntityDefinitions(LogicalName='account')/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata"
        "?$select=LogicalName&$expand=OptionSet"
    ).json()
    category = next(item for item in body["value"] if item["LogicalName"] == "accountcategorycode")
    labels = {o["Value"]: o["Label"]["UserLocalizedLabel"]["Label"] for o in category["OptionSet"]["Options"]}
    assert labels == {1: "Preferred Customer", 2: "Standard"}


def test_alternate_keys_are_listed(api: WebApiSession) -> None:
    keys = api.get("EntityDefinitions(LogicalName='contact')/Keys").json()["value"]
    assert [key["KeyAttributes"] for key in keys] == [["firstname", "emailaddress1"]]
    expanded = api.get("EntityDefinitions?$filter=LogicalName eq 'account'&$expand=Keys").json()["value"][0]
    assert expanded["Keys"][0]["KeyAttributes"] == ["accountnumber"]


def test_many_to_one_relationships_name_each_lookups_navigation_property(api: WebApiSession) -> None:
    response = api.get(
        "EntityDefinitions(LogicalName='contact')/ManyToOneRelationships"
        "?$select=ReferencingAttribute,ReferencingEntityNavigationPropertyName,ReferencedEntity"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["@odata.context"].endswith("/ManyToOneRelationships")
    found = {
        item["ReferencingAttribute"]: (item["ReferencingEntityNavigationPropertyName"], item["ReferencedEntity"])
        for item in body["value"]
    }
    # Not simply the attribute's name: binds need the navigation property, case-sensitive.
    assert found["parentcustomerid"] == ("parentcustomerid_account", "account")
    assert set(body["value"][0]) == {
        "MetadataId",
        "ReferencingAttribute",
        "ReferencingEntityNavigationPropertyName",
        "ReferencedEntity",
    }


def test_one_to_many_relationships_name_the_collection_navigation(api: WebApiSession) -> None:
    items = api.get(
        "EntityDefinitions(LogicalName='account')/OneToManyRelationships?$filter=ReferencingEntity eq 'contact'"
    ).json()["value"]
    by_attribute = {item["ReferencingAttribute"]: item for item in items}
    assert set(by_attribute) == {"parentcustomerid", "sample_preferredaccountid"}
    relationship = by_attribute["parentcustomerid"]
    assert relationship["SchemaName"] == "contact_customer_accounts"
    assert relationship["ReferencedEntityNavigationPropertyName"] == "contact_customer_accounts"
    assert relationship["ReferencingAttribute"] == "parentcustomerid"
    assert relationship["ReferencedAttribute"] == "accountid"
