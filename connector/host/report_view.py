"""Render a Test Connection report as readable text or as JSON, for the reference host's CLI and any other host.

Works on the hook contract's :class:`~connector.results.TestReport` only, so it renders any connector's report; it
also builds the report a host shows when ``connect`` refused the settings. Not for running checks (the connector's
``test`` hook does) or for scrubbing secrets: a report holds none, and the CLI scrubs its output again with the secret
values it knows.
"""

from __future__ import annotations

import json
from typing import Any, Final

from connector.errors import ConfigError
from connector.results import Check, CheckStatus, TestReport

__all__ = ["render_json", "render_text", "report_to_dict", "settings_failure_report"]

_LABELS: Final = {
    CheckStatus.PASSED: "PASS",
    CheckStatus.FAILED: "FAIL",
    CheckStatus.WARNING: "WARN",
    CheckStatus.SKIPPED: "SKIP",
}


def report_to_dict(report: TestReport) -> dict[str, Any]:
    """:returns: the report as JSON-ready data: ``connector_id``, ``ok``, ``summary`` counts and ``checks``."""
    return {
        "connector_id": report.connector_id,
        "ok": report.ok,
        "summary": {status.value: _count(report, status) for status in CheckStatus},
        "duration_ms": round(sum(check.duration_ms for check in report.checks), 1),
        "checks": [_check_to_dict(check) for check in report.checks],
    }


def _check_to_dict(check: Check) -> dict[str, Any]:
    return {
        "name": check.name,
        "title": check.title,
        "status": check.status.value,
        "duration_ms": check.duration_ms,
        "message": check.message,
        "field": check.field,
        "remediation": check.remediation,
        "details": dict(check.details),
    }


def render_json(report: TestReport) -> str:
    """:returns: the report as indented JSON (see :func:`report_to_dict`)."""
    return json.dumps(report_to_dict(report), indent=2)


def render_text(report: TestReport) -> str:
    """Render the report for a terminal: a verdict line, then one block per check in order.

    :param report: the report.
    :returns: the text, without a trailing newline. Failed checks show the field to fix and what to do.
    """
    verdict = "OK" if report.ok else "FAILED"
    counts = ", ".join(f"{_count(report, status)} {status.value}" for status in CheckStatus if _count(report, status))
    seconds = sum(check.duration_ms for check in report.checks) / 1000
    lines = [f"Test Connection ({report.connector_id}): {verdict} ({counts}; {seconds:.2f} s)", ""]
    width = len(str(len(report.checks)))
    indent = " " * (width + 8)
    for number, check in enumerate(report.checks, 1):
        duration = "" if check.status is CheckStatus.SKIPPED else f"  ({check.duration_ms:.0f} ms)"
        lines.append(f"{number:>{width}}. {_LABELS[check.status]}  {check.title}{duration}")
        lines.append(f"{indent}{check.message}")
        if check.field:
            lines.append(f"{indent}Field to fix: {check.field}")
        if check.remediation:
            lines.append(f"{indent}What to do: {check.remediation}")
        lines.extend(f"{indent}{key}: {value}" for key, value in check.details.items())
    return "\n".join(lines)


def _count(report: TestReport, status: CheckStatus) -> int:
    return sum(1 for check in report.checks if check.status is status)


def settings_failure_report(connector_id: str, error: ConfigError) -> TestReport:
    """Build the report for settings that ``connect`` refused, so a host can show it like any other report.

    :param connector_id: the connector.
    :param error: the error ``connect`` raised; it lists every bad field.
    :returns: a report with one failed ``settings`` check naming every bad field.
    """
    problems = "; ".join(str(item) for item in error.errors)
    count = len(error.errors)
    return TestReport(
        connector_id,
        (
            Check(
                name="settings",
                title="Settings are valid",
                status=CheckStatus.FAILED,
                duration_ms=0.0,
                message=f"{count} field{'s are' if count > 1 else ' is'} invalid: {problems}",
                field=error.field,
                remediation="Correct every listed field, then test again.",
                details={item.path: item.message for item in error.errors},
            ),
        ),
    )
