"""Fakes and fixtures for unit tests of ``connector.dataverse``: a Web API client over a transport with a fake
bearer and a fake clock, a connection holding it, strict ``responses`` mocks, and canned metadata answers.

Import what a test module needs (``from tests.support.dataverse import ...``); the fixtures are plain pytest
fixtures.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest
import responses
from responses import matchers

from connector.context import RuntimeContext
from connector.dataverse.bulk.sizing import RequestSizes
from connector.dataverse.client import DataverseClient
from connector.dataverse.metadata.definitions import ATTRIBUTE_COLUMNS, ENTITY_COLUMNS, OPTION_SET_CASTS
from connector.dataverse.odata.answers import describe_error
from connector.dataverse.registry import run_operation
from connector.results import Connection, OperationResult
from connector.settings import ConnectionSettings, parse_settings
from connector.transport import RetryPolicy, Transport
from tests.support.clock import FakeClock
from tests.support.examples import CLIENT_SECRET_SETTINGS

__all__ = [
    "API",
    "ORIGIN",
    "FakeBearer",
    "FakeClock",
    "FakeState",
    "add_description",
    "add_entity",
    "client",
    "connection",
    "make_client",
    "mocked",
    "run",
    "url_of",
]

API = "https://contoso.crm.dynamics.com/api/data/v9.2/"
ORIGIN = "https://contoso.crm.dynamics.com"


class FakeBearer:
    """A token source that hands out ``token-1``, ``token-2``... and records renewals."""

    def __init__(self) -> None:
        self.tokens = ["token-1"]
        self.renewals: list[str] = []

    def bearer(self) -> str:
        return self.tokens[-1]

    def renew(self, rejected: str) -> str:
        self.renewals.append(rejected)
        self.tokens.append(f"token-{len(self.tokens) + 1}")
        return self.tokens[-1]


class FakeState:
    """The live state of a connection, reduced to what operations use."""

    def __init__(self, dataverse: DataverseClient) -> None:
        self.dataverse = dataverse


def make_client(clock: FakeClock | None = None, **policy: Any) -> DataverseClient:
    """:returns: a client for ``API`` whose transport never really sleeps."""
    clock = clock or FakeClock()
    settings = parse_settings(CLIENT_SECRET_SETTINGS, RuntimeContext())
    transport = Transport(
        settings,
        bearer=FakeBearer(),
        policy=RetryPolicy(**policy),
        clock=clock,
        sleep=clock.sleep,
        wall_clock=FakeClock(),  # the wall clock stands still while the monotonic one moves
        describe_error=describe_error,
    )
    return DataverseClient(transport, settings)


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    """Strict HTTP mocks: an unexpected request fails, and so does an expected one that was not made."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


@pytest.fixture
def client() -> DataverseClient:
    """A fresh client (so a fresh metadata cache) per test."""
    return make_client()


@pytest.fixture
def connection(client: DataverseClient) -> Connection[ConnectionSettings]:
    """A connection whose live state holds ``client``."""
    settings = client.transport.settings
    return Connection("dynamics365-ce", settings, RuntimeContext(), state=FakeState(client))


def run(
    connection: Connection, operation: str, options: Mapping[str, Any], documents: Sequence[Any]
) -> list[OperationResult]:
    """:returns: every result of an operation run."""
    return list(run_operation(connection, operation, options, documents))


def url_of(call: Any) -> str:
    """:returns: the URL a recorded ``responses`` call was made to."""
    return str(call.request.url)


def add_entity(
    rsps: responses.RequestsMock,
    entity_set: str = "accounts",
    logical_name: str = "account",
    primary_id: str = "accountid",
    primary_name: str = "name",
    table_type: str = "Standard",
) -> None:
    """Answer the entity lookup the operations make once per connection (exactly the documented query form)."""
    rsps.add(
        "GET",
        f"{API}EntityDefinitions",
        match=[
            matchers.query_param_matcher(
                {"$select": ",".join(ENTITY_COLUMNS), "$filter": f"EntitySetName eq '{entity_set}'"}
            )
        ],
        json={
            "@odata.context": f"{API}$metadata#EntityDefinitions(LogicalName,EntitySetName,PrimaryIdAttribute)",
            "value": [
                {
                    "LogicalName": logical_name,
                    "EntitySetName": entity_set,
                    "PrimaryIdAttribute": primary_id,
                    "PrimaryNameAttribute": primary_name,
                    "DisplayName": {"UserLocalizedLabel": {"Label": logical_name.title()}},
                    "TableType": table_type,
                    "MetadataId": "70816501-edb9-4740-a16c-6a5efbc05d84",
                }
            ],
        },
    )


def _label(text: str) -> dict[str, Any]:
    return {"LocalizedLabels": [{"Label": text, "LanguageCode": 1033}], "UserLocalizedLabel": {"Label": text}}


ACCOUNT_ATTRIBUTES: list[dict[str, Any]] = [
    {
        "LogicalName": "accountid",
        "AttributeType": "Uniqueidentifier",
        "IsValidForCreate": True,
        "IsValidForUpdate": False,
        "IsPrimaryId": True,
        "RequiredLevel": {"Value": "SystemRequired"},
    },
    {
        "LogicalName": "name",
        "AttributeType": "String",
        "IsValidForCreate": True,
        "IsValidForUpdate": True,
        "RequiredLevel": {"Value": "ApplicationRequired"},
        "DisplayName": _label("Account Name"),
    },
    {"LogicalName": "accountnumber", "AttributeType": "String", "IsValidForCreate": True, "IsValidForUpdate": True},
    {"LogicalName": "revenue", "AttributeType": "Money", "IsValidForCreate": True, "IsValidForUpdate": True},
    {
        "LogicalName": "numberofemployees",
        "AttributeType": "Integer",
        "IsValidForCreate": True,
        "IsValidForUpdate": True,
    },
    {"LogicalName": "creditonhold", "AttributeType": "Boolean", "IsValidForCreate": True, "IsValidForUpdate": True},
    {"LogicalName": "lastonholdtime", "AttributeType": "DateTime", "IsValidForCreate": True, "IsValidForUpdate": True},
    {
        "LogicalName": "sample_establishedon",
        "AttributeType": "DateTime",
        "IsValidForCreate": True,
        "IsValidForUpdate": True,
    },
    {
        "LogicalName": "industrycode",
        "AttributeType": "Picklist",
        "IsValidForCreate": True,
        "IsValidForUpdate": True,
        "DisplayName": _label("Industry"),
    },
    {
        "LogicalName": "primarycontactid",
        "AttributeType": "Lookup",
        "IsValidForCreate": True,
        "IsValidForUpdate": True,
        "DisplayName": _label("Primary Contact"),
    },
    {
        "LogicalName": "primarycontactidname",
        "AttributeType": "Virtual",
        "IsValidForCreate": False,
        "IsValidForUpdate": False,
    },
    {"LogicalName": "createdon", "AttributeType": "DateTime", "IsValidForCreate": False, "IsValidForUpdate": False},
]


def add_description(
    rsps: responses.RequestsMock,
    logical_name: str = "account",
    attributes: list[dict[str, Any]] | None = None,
    *,
    relationships: list[dict[str, Any]] | None = None,
    relationships_status: int = 200,
) -> None:
    """Answer the attribute, cast and relationship requests of a describe, in the order they are made."""
    base = f"{API}EntityDefinitions(LogicalName='{logical_name}')"
    attributes = ACCOUNT_ATTRIBUTES if attributes is None else attributes
    rsps.add(
        "GET",
        f"{base}/Attributes",
        match=[matchers.query_param_matcher({"$select": ",".join(ATTRIBUTE_COLUMNS)})],
        json={"value": [{"MetadataId": f"m-{index}", **item} for index, item in enumerate(attributes)]},
    )
    for cast in OPTION_SET_CASTS:
        options = []
        if cast == "Picklist":
            options = [
                {
                    "LogicalName": "industrycode",
                    "OptionSet": {
                        "Options": [
                            {"Value": 1, "Label": _label("Accounting")},
                            {"Value": 7, "Label": _label("Consulting")},
                        ]
                    },
                }
            ]
        rsps.add(
            "GET",
            f"{base}/Attributes/Microsoft.Dynamics.CRM.{cast}AttributeMetadata",
            match=[matchers.query_param_matcher({"$select": "LogicalName", "$expand": "OptionSet($select=Options)"})],
            json={"value": options},
        )
    rsps.add(
        "GET",
        f"{base}/Attributes/Microsoft.Dynamics.CRM.StringAttributeMetadata",
        match=[matchers.query_param_matcher({"$select": "LogicalName,MaxLength"})],
        json={"value": [{"LogicalName": "name", "MaxLength": 160}, {"LogicalName": "accountnumber", "MaxLength": 20}]},
    )
    rsps.add(
        "GET",
        f"{base}/Attributes/Microsoft.Dynamics.CRM.MemoAttributeMetadata",
        match=[matchers.query_param_matcher({"$select": "LogicalName,MaxLength"})],
        json={"value": []},
    )
    rsps.add(
        "GET",
        f"{base}/Attributes/Microsoft.Dynamics.CRM.DateTimeAttributeMetadata",
        match=[matchers.query_param_matcher({"$select": "LogicalName,Format"})],
        json={
            "value": [
                {"LogicalName": "lastonholdtime", "Format": "DateAndTime"},
                {"LogicalName": "sample_establishedon", "Format": "DateOnly"},
                {"LogicalName": "createdon", "Format": "DateAndTime"},
            ]
        },
    )
    relationship_json: Any
    if relationships_status == 200:
        relationship_json = {
            "value": relationships
            if relationships is not None
            else [
                {
                    "ReferencingAttribute": "primarycontactid",
                    "ReferencingEntityNavigationPropertyName": "primarycontactid",
                    "ReferencedEntity": "contact",
                }
            ]
        }
    else:
        relationship_json = {"error": {"code": "0x80060888", "message": "Resource not found for the segment."}}
    rsps.add(
        "GET",
        f"{base}/ManyToOneRelationships",
        match=[
            matchers.query_param_matcher(
                {"$select": "ReferencingAttribute,ReferencingEntityNavigationPropertyName,ReferencedEntity"}
            )
        ],
        json=relationship_json,
        status=relationships_status,
    )


def first_requests_hold(monkeypatch: pytest.MonkeyPatch, records: int) -> None:
    """Make every bulk route's first request hold ``records`` (growing past 1000 otherwise waits for quick answers)."""
    monkeypatch.setattr(RequestSizes, "first", lambda self, route, elastic=False: records)


def unanswered_requests(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """:returns: a list that receives ``(route, records)`` for each bulk request reported to its run's sizes as left
    without an answer in time (which makes the next ones smaller).
    """
    told: list[tuple[str, int]] = []
    original = RequestSizes.unanswered

    def record(self: RequestSizes, route: str, records: int, *, elastic: bool = False) -> None:
        told.append((route, records))
        original(self, route, records, elastic=elastic)

    monkeypatch.setattr(RequestSizes, "unanswered", record)
    return told
