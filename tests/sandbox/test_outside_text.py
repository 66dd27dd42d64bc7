"""Text and numbers no real client sends get a 400 in Dataverse's error shape, never a 500: each case raised a
ValueError, OverflowError or IndexError deep inside before (or read another script's digits as a number).
"""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import pytest

from dataverse_sandbox.dataverse.paging import PageToken, fingerprint
from tests.support.sandbox import WebApiSession

HUGE = "1" * 4301  # int() refuses this many digits


def _refused(response: object) -> None:
    assert getattr(response, "status_code") == 400, getattr(response, "text")  # noqa: B009 - the assertion's text
    assert getattr(response, "json")()["error"]["message"]  # noqa: B009


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
    ],
    ids=["enum member", "function parameter", "$top in another script's digits"],
)
def test_a_query_with_a_number_no_client_sends_is_a_400(api: WebApiSession, query: str) -> None:
    _refused(api.get(f"accounts?{query}"))


def test_a_forged_delta_skiptoken_is_a_400(api: WebApiSession) -> None:
    api.create("accounts", {"name": "tracked"})
    link = api.get("accounts?$select=name", headers={"Prefer": "odata.track-changes"}).json()["@odata.deltaLink"]
    token = parse_qs(urlsplit(link).query)["$deltatoken"][0]
    since = token.split("!", 1)[0]
    # The fingerprint is a digest anyone can compute: a token can carry values that are not numbers.
    forged = PageToken(("x",), fingerprint("delta", "account", since), cast(Any, "y"), 0).encode()
    _refused(api.get(f"accounts?$select=name&$deltatoken={token}&$skiptoken={forged}"))
    _refused(api.get("accounts?$select=name&$deltatoken=\u0661\u0662"))


def test_an_option_label_with_a_language_code_that_is_no_number_is_not_a_500(api: WebApiSession) -> None:
    labels = [{"Label": "Seven", "LanguageCode": 1033}, {"Label": "Sieben", "LanguageCode": "x"}]
    definition = {
        "@odata.type": "Microsoft.Dynamics.CRM.PicklistAttributeMetadata",
        "SchemaName": "new_Kind",
        "OptionSet": {"Options": [{"Value": 7, "Label": {"LocalizedLabels": labels}}]},
    }
    answer = api.post("EntityDefinitions(LogicalName='account')/Attributes", json=definition)
    assert answer.status_code < 500, answer.text
