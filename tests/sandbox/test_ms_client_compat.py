"""Microsoft's own client agrees with the sandbox: every public operation of powerplatform-dataverse-client, run once
against the TLS sandbox (benchmarks/ms_client_compat.py), answers as the table in docs/sandbox.md says.

The client is installed from PyPI into a cached environment of its own on the first run (benchmarks/venvs.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.ms_client_compat import OPERATIONS, client_python, markdown_table, run_client
from dataverse_sandbox.config import SandboxConfig
from dataverse_sandbox.server import Sandbox

DOCS = Path(__file__).resolve().parents[2] / "docs" / "sandbox.md"


@pytest.fixture(scope="module")
def tls_sandbox() -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(tls=True)) as sandbox:
        yield sandbox


def test_docs_carry_the_compatibility_table() -> None:
    assert markdown_table() in DOCS.read_text(encoding="utf-8")


@pytest.mark.slow
def test_every_operation_answers_as_the_table_says(tls_sandbox: Sandbox) -> None:
    outcomes = run_client(tls_sandbox, client_python())
    assert sorted(outcomes) == sorted(op.name for op in OPERATIONS)
    differences = {
        op.name: (outcomes[op.name]["outcome"], op.sandbox_outcome, outcomes[op.name]["detail"])
        for op in OPERATIONS
        if outcomes[op.name]["outcome"] != op.sandbox_outcome
    }
    assert differences == {}
