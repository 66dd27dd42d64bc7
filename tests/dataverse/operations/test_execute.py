"""Execute: unbound and bound actions and functions, parameters as aliases or JSON bodies."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import responses
from responses import matchers

from connector.results import Connection, ResultStatus
from tests.support.dataverse import API, add_entity, run, url_of

ID = "00000000-0000-0000-0000-000000000001"
# The reference's WhoAmI answer (§1.4).
WHO = {
    "@odata.context": f"{API}$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
    "BusinessUnitId": "ded5a64f-f06d-e511-80d0-00155db07cb1",
    "UserId": "d96e9f55-f06d-e511-80d0-00155db07cb1",
    "OrganizationId": "4faf1f34-f06d-e511-80d0-00155db07cb1",
}


def test_an_unbound_function_without_parameters(mocked: responses.RequestsMock, connection: Connection) -> None:
    mocked.add("GET", f"{API}WhoAmI()", json=WHO)
    [result] = run(connection, "execute", {"name": "WhoAmI", "kind": "function"}, [{}])
    assert result.status is ResultStatus.SUCCESS
    assert result.payload == WHO


def test_function_parameters_travel_as_aliases(mocked: responses.RequestsMock, connection: Connection) -> None:
    mocked.add("GET", f"{API}systemusers({ID})/Microsoft.Dynamics.CRM.RetrieveUserPrivileges()", json={"x": 1})
    mocked.add(
        "GET",
        f"{API}GetTimeZoneCodeByLocalizedName(LocaleId=@p1,LocalizedStandardName=@p2,Target=@p3)",
        json={"TimeZoneCode": 92},
    )
    bound = {"name": "RetrieveUserPrivileges", "kind": "function", "binding": "entity", "entity_set": "systemusers"}
    assert run(connection, "execute", bound, [{"@odata.editLink": f"systemusers({ID})"}])[0].ok
    options = {
        "name": "GetTimeZoneCodeByLocalizedName",
        "kind": "function",
        "parameters": {"LocaleId": 1033},
        "parameter_types": {"Target": "json"},
    }
    document = {"LocalizedStandardName": "Pacific Standard Time') or x eq ('", "Target": {"@odata.id": "a(1)"}}
    [result] = run(connection, "execute", options, [document])
    assert result.payload == {"TimeZoneCode": 92}
    query = parse_qs(urlsplit(url_of(mocked.calls[1])).query)
    assert query == {
        "@p1": ["1033"],
        "@p2": ["'Pacific Standard Time'') or x eq ('''"],
        "@p3": ['{"@odata.id":"a(1)"}'],
    }


def test_a_bound_action_posts_the_parameters(mocked: responses.RequestsMock, connection: Connection) -> None:
    add_entity(mocked, "leads", "lead", "leadid", "fullname")
    mocked.add(
        "POST",
        f"{API}leads({ID})/Microsoft.Dynamics.CRM.QualifyLead",
        match=[matchers.json_params_matcher({"CreateAccount": True, "Status": 3})],
        status=200,
        json={"value": []},
    )
    options = {
        "name": "QualifyLead",
        "binding": "entity",
        "entity_set": "leads",
        "parameters": {"CreateAccount": False},
    }
    [result] = run(connection, "execute", options, [{"leadid": ID, "CreateAccount": True, "Status": 3}])
    assert result.ok
    assert result.properties["id"] == ID


def test_an_action_without_an_answer(mocked: responses.RequestsMock, connection: Connection) -> None:
    mocked.add("POST", f"{API}accounts/Microsoft.Dynamics.CRM.Custom", status=204)
    options = {"name": "Custom", "binding": "collection", "entity_set": "accounts"}
    [result] = run(connection, "execute", options, [{}])
    assert result.ok
    assert result.payload is None


def test_bad_parameters_fail_the_document(mocked: responses.RequestsMock, connection: Connection) -> None:
    options = {"name": "Fn", "kind": "function", "parameter_types": {"Id": "guid"}}
    documents = [{"Id": "nope"}, {"a b": 1}, {"Id\n": 1}]
    bad_type, bad_name, line_end = run(connection, "execute", options, documents)
    assert bad_type.error is not None
    assert bad_type.error.field == "Id"
    assert bad_name.error is not None
    assert bad_name.error.field == "a b"
    assert line_end.error is not None  # a line end after the name passed, and went into the function's URL
    assert line_end.error.field == "Id\n"


def test_an_error_answer_in_boomis_form(mocked: responses.RequestsMock, connection: Connection) -> None:
    mocked.add(
        "POST",
        f"{API}Nope",
        status=404,
        json={"error": {"code": "0x8006088a", "message": "Resource not found for the segment 'Nope'."}},
    )
    [result] = run(connection, "execute", {"name": "Nope"}, [{}])
    assert result.error is not None
    assert result.error.message == "(0x8006088a)Resource not found for the segment 'Nope'.[404]"
