"""Text and numbers no real client sends get a 400 in Dataverse's error shape, never a 500: each case raised a
ValueError, OverflowError or IndexError deep inside before (or read another script's digits as a number).
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from dataverse_sandbox.dataverse.paging import PageToken, fingerprint
from tests.support.sandbox import WebApiSession

HUGE = "1" * 4301  # int() refuses this many digits


def _refused(response: object, words: str = "") -> None:
    assert getattr(response, "status_code") == 400, getattr(response, "text")  # noqa: B009 - the assertion's text
    message = getattr(response, "json")()["error"]["message"]  # noqa: B009
    assert message
    assert words in message


@pytest.mark.parametrize(
    "body",
    [
        '{"name": "x", "revenue": ' + HUGE + "}",  # json.loads: a plain ValueError
        '{"name": "x", "revenue": 1' + "0" * 400 + "}",  # math.isfinite: OverflowError
        '{"name": "x", "lastonholdtime": "0001-01-01T00:00:00+01:00"}',  # astimezone: OverflowError
    ],
    ids=["4301 digits", "past a double", "before the first instant"],
)
def test_a_create_with_a_number_or_time_no_column_holds_is_a_400(api: WebApiSession, body: str) -> None:
    _refused(api.post("accounts", data=body, headers={"Content-Type": "application/json"}))


@pytest.mark.parametrize(
    "query",
    [
        "$filter=statuscode eq Microsoft.Dynamics.CRM.Status'" + HUGE + "'",
        "$filter=Microsoft.Dynamics.CRM.LastXDays(PropertyName='createdon',PropertyValue='" + HUGE + "')",
        "$top=\u0661\u0660",
        "$expand=contact_customer_accounts($top=\u0661\u0660)",
    ],
    ids=["enum member", "function parameter", "$top in another script's digits", "a nested $top so written"],
)
def test_a_query_with_a_number_no_client_sends_is_a_400(api: WebApiSession, query: str) -> None:
    _refused(api.get(f"accounts?{query}"))


@pytest.mark.parametrize(
    ("last", "snapshot", "phase"),
    [
        ("x", "y", 0),
        (2**70, None, 0),
        (1, 2**70, 0),
        (1e400, None, 0),
        (1, None, 1e400),
        (1e300, None, 0),
        (1.5, None, 0),
    ],
    ids=[
        "text",
        "a key past 64 bits",
        "a snapshot past 64 bits",
        "an infinite key",
        "an infinite phase",
        "a finite float past 64 bits",
        "a fraction",
    ],
)
def test_a_forged_delta_skiptoken_is_a_400(api: WebApiSession, last: Any, snapshot: Any, phase: Any) -> None:
    api.create("accounts", {"name": "tracked"})
    link = api.get("accounts?$select=name", headers={"Prefer": "odata.track-changes"}).json()["@odata.deltaLink"]
    token = parse_qs(urlsplit(link).query)["$deltatoken"][0]
    since = token.split("!", 1)[0]
    # The fingerprint is a digest anyone can compute: a token can carry values that are no numbers, or too large.
    forged = PageToken((last,), fingerprint("delta", "account", since), snapshot, 0)
    text = json.dumps({"l": list(forged.last), "q": forged.query, "s": forged.snapshot, "p": phase})
    encoded = base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")
    # "is not valid", not "does not belong to this query": the fingerprint was right, the values were not.
    _refused(api.get(f"accounts?$select=name&$deltatoken={token}&$skiptoken={encoded}"), "is not valid")


@pytest.mark.parametrize("token", ["\u0661\u0662", "9" * 19, "-1"])
def test_a_delta_token_no_client_holds_is_a_400(api: WebApiSession, token: str) -> None:
    _refused(api.get(f"accounts?$select=name&$deltatoken={token}"))


def test_an_option_label_with_a_language_code_that_is_no_number_is_a_400(api: WebApiSession) -> None:
    labels = [{"Label": "Seven", "LanguageCode": 1033}, {"Label": "Sieben", "LanguageCode": "x"}]
    definition = {
        "@odata.type": "Microsoft.Dynamics.CRM.PicklistAttributeMetadata",
        "SchemaName": "new_Kind",
        "OptionSet": {"Options": [{"Value": 7, "Label": {"LocalizedLabels": labels}}]},
    }
    _refused(api.post("EntityDefinitions(LogicalName='account')/Attributes", json=definition))


def test_a_column_bound_past_a_double_is_a_400(api: WebApiSession) -> None:
    # math.isfinite of an integer past a double's range raised OverflowError (a 500).
    definition = (
        '{"@odata.type": "Microsoft.Dynamics.CRM.IntegerAttributeMetadata", "SchemaName": "new_Count", '
        '"MinValue": -1' + "0" * 400 + ', "MaxValue": 10}'
    )
    _refused(
        api.post(
            "EntityDefinitions(LogicalName='account')/Attributes",
            data=definition,
            headers={"Content-Type": "application/json"},
        )
    )


@pytest.mark.parametrize("number", ["\u0661\u0662", "9" * 4301], ids=["another script's digits", "4301 digits"])
def test_a_metadata_filter_number_no_client_sends_is_a_400(api: WebApiSession, number: str) -> None:
    # int() read '١٢' as 12, and raised ValueError on 4301 digits (a 500).
    _refused(api.get(f"EntityDefinitions?$select=LogicalName&$filter=ObjectTypeCode eq {number}"))
