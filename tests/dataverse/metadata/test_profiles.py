"""Request and response profiles generated from attribute metadata."""

from __future__ import annotations

from jsonschema import Draft202012Validator

from connector.dataverse.metadata.profiles import request_schema, response_schema
from connector.dataverse.metadata.tables import AttributeInfo, EntityDescription, EntityInfo, OptionInfo

ENTITY = EntityInfo("contacts", "contact", "contactid", "fullname", "Contact")
ATTRIBUTES = (
    AttributeInfo("contactid", "Uniqueidentifier", "Contact", "SystemRequired", True, False, True, True),
    AttributeInfo("fullname", "String", "Full Name", max_length=160),
    AttributeInfo("lastname", "String", "Last Name", "ApplicationRequired", True, True, max_length=50),
    AttributeInfo("birthdate", "DateTime", "Birthday", valid_for_create=True, valid_for_update=True, date_only=True),
    AttributeInfo("lastusedincampaign", "DateTime", "Last Campaign", valid_for_create=True, valid_for_update=True),
    AttributeInfo("numberofchildren", "Integer", "Children", valid_for_create=True, valid_for_update=True),
    AttributeInfo("annualincome", "Money", "Annual Income", valid_for_create=True, valid_for_update=True),
    AttributeInfo("donotemail", "Boolean", "Do not Email", valid_for_create=True, valid_for_update=True),
    AttributeInfo(
        "gendercode",
        "Picklist",
        "Gender",
        valid_for_create=True,
        valid_for_update=True,
        options=(OptionInfo(1, "Male"), OptionInfo(2, "Female")),
    ),
    AttributeInfo(
        "parentcustomerid",
        "Customer",
        "Company Name",
        valid_for_create=True,
        valid_for_update=True,
        navigations=(("parentcustomerid_account", "account"), ("parentcustomerid_contact", "contact")),
    ),
    AttributeInfo("createdon", "DateTime", "Created On"),
)
DESCRIPTION = EntityDescription(ENTITY, ATTRIBUTES)


def test_request_profile_has_writable_attributes_binds_and_required() -> None:
    schema = request_schema(DESCRIPTION)
    Draft202012Validator.check_schema(schema)
    properties = schema["properties"]
    assert "fullname" not in properties
    assert "createdon" not in properties
    assert properties["lastname"]["maxLength"] == 50
    assert properties["birthdate"]["format"] == "date"
    assert properties["lastusedincampaign"]["format"] == "date-time"
    assert properties["gendercode"]["oneOf"][:2] == [{"const": 1, "title": "Male"}, {"const": 2, "title": "Female"}]
    assert "parentcustomerid_account@odata.bind" in properties
    assert "parentcustomerid_contact@odata.bind" in properties
    assert "_parentcustomerid_value" not in properties
    assert schema["required"] == ["lastname"]
    for name, prop in properties.items():
        assert prop["title"], name
        assert prop["description"], name


def test_request_profile_validates_a_real_document_and_rejects_a_wrong_one() -> None:
    validator = Draft202012Validator(request_schema(DESCRIPTION))
    good = {
        "lastname": "O'Brien",
        "gendercode": 2,
        "birthdate": "1990-01-01",
        "parentcustomerid_account@odata.bind": "/accounts(00000000-0000-0000-0000-000000000001)",
    }
    assert validator.is_valid(good)
    assert not validator.is_valid({"lastname": "x", "gendercode": 3})
    assert not validator.is_valid({"gendercode": 1})
    assert not validator.is_valid({"lastname": "x", "parentcustomerid_account@odata.bind": "not a reference"})


def test_response_profile_has_readable_attributes_lookup_values_and_annotations() -> None:
    schema = response_schema(DESCRIPTION)
    Draft202012Validator.check_schema(schema)
    properties = schema["properties"]
    assert {"@odata.etag", "@odata.editLink", "fullname", "createdon", "_parentcustomerid_value"} <= set(properties)
    assert schema["additionalProperties"] is True
    record = {
        "@odata.etag": 'W/"72201545"',
        "fullname": "Yvonne McKay (sample)",
        "contactid": "49b0be2e-d01c-ed11-b83e-000d3a572421",
        "_parentcustomerid_value": None,
        "fullname@OData.Community.Display.V1.FormattedValue": "Yvonne McKay (sample)",
    }
    assert Draft202012Validator(schema).is_valid(record)


def test_inferred_navigation_names_are_flagged_in_the_profile() -> None:
    inferred = EntityDescription(ENTITY, ATTRIBUTES, navigation_inferred=True)
    description = request_schema(inferred)["properties"]["parentcustomerid_account@odata.bind"]["description"]
    assert "assumed" in description
