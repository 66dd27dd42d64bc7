"""Pieces of the conformance suite's Test Connection test: the canary replacement of secrets, and the sandbox
settings with a wrong secret that ``tests/testing/test_conformance.py`` hands to the suite as ``bad_credentials``.
"""

from __future__ import annotations

from connector.results import CheckStatus
from connector.testing.suite import CANARY_PREFIX, replace_write_only
from dataverse_sandbox.server import Sandbox
from tests.support.diagnostics import CANARY_SECRET, run_test, sandbox_settings


def test_replace_write_only_puts_a_distinct_canary_in_every_secret() -> None:
    settings = {
        "oauth2": {
            "client_id": "app",
            "client_secret": "s3cret",
            "jwt": {"signature_key": {"private_key": "PEM", "password": ""}},
            "pairs": [{"client_secret": "x"}],
        }
    }
    replaced = replace_write_only(settings, {"client_secret", "private_key", "password"})
    assert replaced == {
        "oauth2": {
            "client_id": "app",
            "client_secret": f"{CANARY_PREFIX}oauth2.client_secret",
            "jwt": {
                "signature_key": {"private_key": f"{CANARY_PREFIX}oauth2.jwt.signature_key.private_key", "password": ""}
            },
            "pairs": [{"client_secret": f"{CANARY_PREFIX}oauth2.pairs[0].client_secret"}],
        }
    }


def test_the_bad_credentials_of_the_sandbox_fail_the_token_check(sandbox: Sandbox) -> None:
    report = run_test(sandbox_settings(sandbox, secret=CANARY_SECRET))
    failed = [check for check in report.checks if check.status is CheckStatus.FAILED]
    assert [check.name for check in failed] == ["token"]
