"""Multi-select choice columns (account.sample_colours) as Dataverse's Web API serves them: values as text separated
by commas, each one of the column's options, labels in the metadata's MultiSelectPicklist cast (English and German).
"""

from __future__ import annotations

from tests.support.sandbox import WebApiSession

FORMATTED = "sample_colours@OData.Community.Display.V1.FormattedValue"


def test_values_are_text_of_option_values(api: WebApiSession) -> None:
    account = api.create("accounts", {"name": "colours", "sample_colours": "1, 3"})
    read = api.get(
        f"accounts({account})?$select=sample_colours",
        headers={"Prefer": 'odata.include-annotations="OData.Community.Display.V1.FormattedValue"'},
    ).json()
    assert (read["sample_colours"], read[FORMATTED]) == ("1,3", "Red; Green")
    assert api.patch(f"accounts({account})", json={"sample_colours": "4"}).status_code == 400
    assert api.patch(f"accounts({account})", json={"sample_colours": [1, 2]}).status_code == 400
    assert api.patch(f"accounts({account})", json={"sample_colours": "Red"}).status_code == 400
    assert api.patch(f"accounts({account})", json={"sample_colours": "\u00b2"}).status_code == 400  # not int()'s
    assert api.patch(f"accounts({account})", json={"sample_colours": None}).status_code == 204


def test_the_metadata_names_the_options_in_every_language(api: WebApiSession) -> None:
    base = "EntityDefinitions(LogicalName='account')/Attributes"
    plain = api.get(f"{base}(LogicalName='sample_colours')").json()
    assert (plain["AttributeType"], plain["AttributeTypeName"]["Value"]) == ("Virtual", "MultiSelectPicklistType")
    cast = api.get(
        f"{base}/Microsoft.Dynamics.CRM.MultiSelectPicklistAttributeMetadata",
        params={"$select": "LogicalName", "$expand": "OptionSet($select=Options)"},
    ).json()["value"]
    [colours] = cast
    labels = [
        {label["LanguageCode"]: label["Label"] for label in option["Label"]["LocalizedLabels"]}
        for option in colours["OptionSet"]["Options"]
    ]
    assert labels == [{1033: "Red", 1031: "Rot"}, {1033: "Blue", 1031: "Blau"}, {1033: "Green", 1031: "Grün"}]


def test_contain_values_is_not_served(api: WebApiSession) -> None:
    function = "Microsoft.Dynamics.CRM.ContainValues(PropertyName='sample_colours',PropertyValues=['1'])"
    assert api.get(f"accounts?$filter={function}").status_code == 400
