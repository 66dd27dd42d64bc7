"""Rendering a Test Connection report as text and as JSON."""

from __future__ import annotations

import json

from connector.host.report_view import render_json, render_text, report_to_dict
from connector.results import Check, CheckStatus, TestReport

REPORT = TestReport(
    "dynamics365-ce",
    (
        Check("settings", "Settings are valid", CheckStatus.PASSED, 1.2, "The settings are valid."),
        Check(
            "api_root",
            "API root",
            CheckStatus.WARNING,
            0.4,
            "API root: http://x/api/data/v9.2/. It uses http.",
            "connection.protocol",
            "Choose https.",
            {"api_root": "http://x/api/data/v9.2/"},
        ),
        Check(
            "token",
            "Access token",
            CheckStatus.FAILED,
            35.0,
            "The client secret is wrong.",
            "oauth2.client_secret",
            "Enter the secret's value.",
        ),
        Check("whoami", "WhoAmI", CheckStatus.SKIPPED, 0.0, "Skipped because the check 'Access token' failed."),
    ),
)


def test_text_starts_with_the_verdict_and_counts() -> None:
    first = render_text(REPORT).splitlines()[0]
    assert first.startswith("Test Connection (dynamics365-ce): FAILED (1 passed, 1 failed, 1 warning, 1 skipped;")


def test_text_shows_each_check_in_order_with_field_and_remediation() -> None:
    text = render_text(REPORT)
    lines = text.splitlines()
    headings = [line for line in lines if line[:1].isdigit()]
    assert headings == [
        "1. PASS  Settings are valid  (1 ms)",
        "2. WARN  API root  (0 ms)",
        "3. FAIL  Access token  (35 ms)",
        "4. SKIP  WhoAmI",
    ]
    failure = lines.index("3. FAIL  Access token  (35 ms)")
    assert lines[failure + 1 : failure + 4] == [
        "         The client secret is wrong.",
        "         Field to fix: oauth2.client_secret",
        "         What to do: Enter the secret's value.",
    ]
    assert "         api_root: http://x/api/data/v9.2/" in lines


def test_an_ok_report_says_ok() -> None:
    report = TestReport("x", REPORT.checks[:2])
    assert render_text(report).startswith("Test Connection (x): OK (1 passed, 1 warning;")


def test_json_has_every_field_of_every_check() -> None:
    data = json.loads(render_json(REPORT))
    assert data == report_to_dict(REPORT)
    assert data["ok"] is False
    assert data["summary"] == {"passed": 1, "failed": 1, "warning": 1, "skipped": 1}
    assert data["checks"][2] == {
        "name": "token",
        "title": "Access token",
        "status": "failed",
        "duration_ms": 35.0,
        "message": "The client secret is wrong.",
        "field": "oauth2.client_secret",
        "remediation": "Enter the secret's value.",
        "details": {},
    }
    assert [check["status"] for check in data["checks"]] == ["passed", "warning", "failed", "skipped"]
