"""Input documents: the body sent, per-document query parameters, and how a record is addressed."""

from __future__ import annotations

import pytest
import responses

from connector.dataverse.client import DataverseClient
from connector.dataverse.metadata.cache import metadata_for
from connector.dataverse.operations.inputs import (
    DocumentError,
    as_document,
    document_etag,
    document_query_parameters,
    resolve_target,
    write_body,
)
from tests.support.dataverse import API, add_entity

ID = "00000000-0000-0000-0000-000000000001"


def test_bodies_keep_binds_exactly_and_drop_read_annotations() -> None:
    document = {
        "name": "x",
        "PrimaryContactId@odata.bind": "/contacts(1)",
        "parentaccountid@odata.bind": None,
        "_primarycontactid_value": "00000000-0000-0000-0000-000000000001",
        "@odata.etag": 'W/"1"',
        "@odata.context": "...",
        "@odata.editLink": "accounts(1)",
        "@odata.type": "Microsoft.Dynamics.CRM.account",
        "@connector.query_parameters": {},
        "statecode@OData.Community.Display.V1.FormattedValue": "Active",
        "Account_Tasks": [{"subject": "t", "@odata.etag": 'W/"2"'}],
        "primarycontactid": {"lastname": "y", "fullname@OData.Community.Display.V1.FormattedValue": "y"},
    }
    assert write_body(document) == {
        "name": "x",
        "PrimaryContactId@odata.bind": "/contacts(1)",
        "parentaccountid@odata.bind": None,
        "@odata.type": "Microsoft.Dynamics.CRM.account",
        "Account_Tasks": [{"subject": "t"}],
        "primarycontactid": {"lastname": "y"},
    }


def test_document_query_parameters_override_add_and_remove() -> None:
    base = (("tag", "a"), ("keep", "k"))
    assert document_query_parameters({}, base) == base
    override = {"@connector.query_parameters": {"tag": "b", "new": 3, "keep": None, "flag": True}}
    assert document_query_parameters(override, base) == (("tag", "b"), ("new", "3"), ("flag", "true"))


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ([], "@connector.query_parameters"),
        ({"": "x"}, "@connector.query_parameters"),
        ({"$select": "name"}, "@connector.query_parameters.$select"),
        ({"tag": {"nested": 1}}, "@connector.query_parameters.tag"),
    ],
)
def test_bad_document_query_parameters_are_named(value: object, field: str) -> None:
    with pytest.raises(DocumentError) as caught:
        document_query_parameters({"@connector.query_parameters": value}, ())
    assert caught.value.field == field


def test_etags_must_be_text() -> None:
    assert document_etag({"@odata.etag": 'W/"1"'}) == 'W/"1"'
    assert document_etag({"@odata.etag": ""}) is None
    with pytest.raises(DocumentError):
        document_etag({"@odata.etag": 1})


def test_documents_must_be_objects() -> None:
    with pytest.raises(DocumentError, match="not null"):
        as_document(None)


def test_key_fields_win_then_the_edit_link_then_the_primary_key(
    mocked: responses.RequestsMock, client: DataverseClient
) -> None:
    metadata = metadata_for(client)
    document = {"accountnumber": "A 1", "@odata.editLink": f"accounts({ID})", "accountid": ID}
    by_key = resolve_target(client, metadata, "accounts", ["accountnumber"], document)
    assert by_key.url == f"{API}accounts(accountnumber='A%201')"
    assert by_key.consumed == {"accountnumber"}
    by_link = resolve_target(client, metadata, "accounts", [], document)
    assert by_link.url == f"{API}accounts({ID})"
    assert by_link.record_id == ID
    add_entity(mocked)
    by_id = resolve_target(client, metadata, "accounts", [], {"accountid": ID.upper()})
    assert (by_id.url, by_id.record_id, set(by_id.consumed)) == (f"{API}accounts({ID})", ID, {"accountid"})
    with pytest.raises(DocumentError, match="'accountid'"):
        resolve_target(client, metadata, "accounts", [], {"name": "x"})
