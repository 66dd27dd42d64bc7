"""Request headers: the run's from the options (impersonation, solution, bypassed logic, custom headers), a
document's own overriding them, and every name or value that must never reach a request refused first.
"""

from __future__ import annotations

from typing import Any

import pytest
import responses

from connector.dataverse.operations.document_headers import document_headers
from connector.dataverse.operations.inputs import DocumentError
from connector.dataverse.request_headers import REFUSED_HEADERS, header_option_errors, header_problem, run_headers
from connector.errors import ConfigError
from connector.results import Connection, ResultStatus
from tests.support.dataverse import API, add_entity, run

USER = "E39C5D16-675B-48D1-8E67-667427E9C084"
OTHER = "0b5e0a4c-8a0e-4d7b-9a4a-0d8d3b3c0f11"
RECORD = "00000000-0000-0000-0000-000000000001"


@pytest.mark.parametrize(
    ("name", "value", "field", "words"),
    [
        ("x-ok", "plain value\twith tab", None, ""),
        ("bad name", "x", "name", "not a valid header name"),
        ("x:colon", "x", "name", "not a valid header name"),
        ("", "x", "name", "needs a name"),
        ("x-crlf", "a\r\nInjected: 1", "value", "line break"),
        ("x-lf", "a\nb", "value", "line break"),
        ("x-nul", "a\x00b", "value", "control character"),
        ("x-accent", "café", "value", "non-ASCII"),
        ("x-number", 5, "value", "must be text"),
        ("CallerObjectId", "not-a-guid", "value", "must be a GUID"),
        ("MSCRMCallerID", "{" + USER + "}", None, ""),
    ],
)
def test_names_must_be_tokens_and_values_visible_ascii(name: Any, value: Any, field: str | None, words: str) -> None:
    problem = header_problem(name, value, allow_option_headers=True)
    if field is None:
        assert problem is None
    else:
        assert problem is not None
        assert problem[0] == field
        assert words in problem[1]


@pytest.mark.parametrize("name", sorted(REFUSED_HEADERS))
def test_every_refused_name_is_refused_in_any_case(name: str) -> None:
    for spelling in (name, name.upper(), name.title()):
        problem = header_problem(spelling, "x", allow_option_headers=True)
        assert problem is not None
        assert problem[0] == "name"
        assert "cannot be set" in problem[1]


def test_option_headers_are_for_options_and_documents_only() -> None:
    problem = header_problem("callerobjectid", USER, allow_option_headers=False)
    assert problem == ("name", "'callerobjectid' is set by the option caller_object_id; use that option")
    assert header_problem("CallerObjectId", USER, allow_option_headers=True) is None


def test_option_errors_name_each_bad_header_and_both_callers() -> None:
    errors = header_option_errors(
        {
            "caller_object_id": USER,
            "caller_id": OTHER,
            "custom_headers": [
                {"name": "x-a", "value": "1"},
                {"name": "X-A", "value": "2"},
                {"name": "Host", "value": "evil"},
                {"name": "MSCRM.BypassCustomPluginExecution", "value": "true"},
                {"name": "x-b", "value": "a\r\nb"},
            ],
        }
    )
    expected = [
        ("options.caller_id", "cannot be combined with caller_object_id"),
        ("options.custom_headers[1].name", "repeats 'X-A' (already header 0)"),
        ("options.custom_headers[2].name", "'Host' cannot be set"),
        ("options.custom_headers[3].name", "is set by the option bypass_custom_plugins"),
        ("options.custom_headers[4].value", "holds a line break"),
    ]
    assert [error.path for error in errors] == [path for path, _ in expected]
    for error, (_, words) in zip(errors, expected, strict=True):
        assert words in error.message


def test_run_headers_in_a_fixed_order_guids_normalised() -> None:
    values = {
        "custom_headers": [{"name": "x-run", "value": "1"}],
        "bypass_step_ids": ["{45E0C603-0D0B-466E-A286-D7FC1CDA8361}", OTHER],
        "bypass_business_logic": "CustomSync,CustomAsync",
        "bypass_custom_plugins": True,
        "solution_unique_name": "contosocore",
        "caller_object_id": "{" + USER + "}",
    }
    assert run_headers(values) == (
        ("CallerObjectId", USER.lower()),
        ("MSCRM.SolutionUniqueName", "contosocore"),
        ("MSCRM.BypassCustomPluginExecution", "true"),
        ("MSCRM.BypassBusinessLogicExecution", "CustomSync,CustomAsync"),
        ("MSCRM.BypassBusinessLogicExecutionStepIds", f"45e0c603-0d0b-466e-a286-d7fc1cda8361,{OTHER}"),
        ("x-run", "1"),
    )
    assert run_headers({"bypass_business_logic": "none", "bypass_custom_plugins": False}) == ()


def test_a_document_overrides_removes_and_adds_case_insensitively() -> None:
    base = {"CallerObjectId": USER.lower(), "x-run": "1", "x-keep": "k"}
    document = {"@connector.headers": {"callerobjectid": OTHER.upper(), "X-RUN": None, "x-new": "n"}}
    assert document_headers(document, base) == {"x-keep": "k", "callerobjectid": OTHER, "x-new": "n"}
    assert document_headers({}, base) == base


@pytest.mark.parametrize(
    ("override", "field", "words"),
    [
        ("x", "@connector.headers", "must be an object"),
        ({"x-a": "a\r\nb"}, "@connector.headers.x-a", "line break"),
        ({"Content-Length": "5"}, "@connector.headers.Content-Length", "cannot be set"),
        ({"MSCRMCallerID": OTHER}, "@connector.headers", "impersonates twice"),
    ],
)
def test_a_bad_document_header_is_a_document_error_naming_it(override: Any, field: str, words: str) -> None:
    with pytest.raises(DocumentError) as caught:
        document_headers({"@connector.headers": override}, {"CallerObjectId": USER})
    assert caught.value.field == field
    assert words in caught.value.user_message


def test_bad_header_options_are_a_config_error_before_any_request(connection: Connection) -> None:
    with pytest.raises(ConfigError) as caught:
        run(
            connection,
            "get",
            {
                "entity_set": "accounts",
                "custom_headers": [{"name": "Authorization", "value": "Bearer x"}, {"name": "x", "value": "a\nb"}],
                "caller_object_id": "nope",
                "tag": "t",
                "custom_query_parameters": [{"name": "tag", "value": "u"}],
            },
            [{}],
        )
    assert set(caught.value.fields) == {
        "options.custom_headers[0].name",
        "options.custom_headers[1].value",
        "options.caller_object_id",
        "options.tag",
    }


def test_get_sends_the_run_headers_and_the_documents_own(
    mocked: responses.RequestsMock, connection: Connection
) -> None:
    add_entity(mocked)
    for _ in range(2):
        mocked.add("GET", f"{API}accounts({RECORD})", json={"accountid": RECORD})
    options = {"entity_set": "accounts", "caller_id": USER, "tag": "nightly"}
    documents = [{"accountid": RECORD}, {"accountid": RECORD, "@connector.headers": {"MSCRMCallerID": OTHER}}]
    results = run(connection, "get", options, documents)
    assert [result.status for result in results] == [ResultStatus.SUCCESS] * 2
    metadata, first, second = (call.request for call in mocked.calls)
    assert "MSCRMCallerID" not in metadata.headers
    assert first.headers["MSCRMCallerID"] == USER.lower()
    assert second.headers["MSCRMCallerID"] == OTHER
    assert first.url == f"{API}accounts({RECORD})?tag=nightly"
