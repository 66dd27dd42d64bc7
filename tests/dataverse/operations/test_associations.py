"""Associate and disassociate through $ref, for collection- and single-valued navigation properties."""

from __future__ import annotations

import responses
from responses import matchers

from connector.results import Connection, ResultStatus
from tests.support.dataverse import API, run

ACCOUNT = "00000000-0000-0000-0000-000000000001"
OPPORTUNITY = "00000000-0000-0000-0000-000000000002"


def test_associate_a_collection(mocked: responses.RequestsMock, connection: Connection) -> None:
    mocked.add(
        "POST",
        f"{API}accounts({ACCOUNT})/opportunity_customer_accounts/$ref",
        status=204,
        match=[matchers.json_params_matcher({"@odata.id": f"{API}opportunities({OPPORTUNITY})"})],
    )
    options = {"entity_set": "accounts", "relationship": "opportunity_customer_accounts"}
    document = {"@odata.editLink": f"accounts({ACCOUNT})", "@odata.id": f"opportunities({OPPORTUNITY})"}
    [result] = run(connection, "associate", options, [document])
    assert result.status is ResultStatus.SUCCESS
    assert result.properties["id"] == ACCOUNT


def test_set_and_clear_a_single_valued_navigation(mocked: responses.RequestsMock, connection: Connection) -> None:
    url = f"{API}opportunities({OPPORTUNITY})/customerid_account/$ref"
    mocked.add("PUT", url, status=204, match=[matchers.json_params_matcher({"@odata.id": f"{API}accounts({ACCOUNT})"})])
    mocked.add("DELETE", url, status=204)
    options = {"entity_set": "opportunities", "relationship": "customerid_account", "single_valued": True}
    source = {"@odata.editLink": f"opportunities({OPPORTUNITY})"}
    assert run(connection, "associate", options, [{**source, "@odata.id": f"{API}accounts({ACCOUNT})"}])[0].ok
    assert run(connection, "disassociate", options, [source])[0].ok


def test_disassociate_a_collection_names_the_related_record(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    mocked.add("DELETE", f"{API}accounts({ACCOUNT})/opportunity_customer_accounts/$ref", status=204)
    options = {"entity_set": "accounts", "relationship": "opportunity_customer_accounts"}
    document = {"@odata.editLink": f"accounts({ACCOUNT})", "@odata.id": f"/opportunities({OPPORTUNITY})"}
    assert run(connection, "disassociate", options, [document])[0].ok
    assert mocked.calls[0].request.url == (
        f"{API}accounts({ACCOUNT})/opportunity_customer_accounts/$ref?$id={API}opportunities({OPPORTUNITY})"
    )


def test_the_related_record_is_required_and_must_be_ours(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    options = {"entity_set": "accounts", "relationship": "opportunity_customer_accounts"}
    source = {"@odata.editLink": f"accounts({ACCOUNT})"}
    missing, foreign = run(connection, "associate", options, [source, {**source, "@odata.id": "https://x.test/a(1)"}])
    assert missing.error is not None
    assert missing.error.field == "@odata.id"
    assert foreign.error is not None
    assert "another service" in foreign.error.message
