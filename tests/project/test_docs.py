"""Documentation that must stay in step with the code: hook signatures, error classes, README commands."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import connector.errors
from connector import hookspecs
from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT
HOOKS = ("connect", "authorize", "test", "execute_operation", "browse")


def spec_signature(name: str) -> str:
    signature = inspect.signature(getattr(hookspecs, name))
    params = ", ".join(f"{p.name}: {p.annotation}" for p in signature.parameters.values())
    return f"{name}({params}) -> {signature.return_annotation}"


def doc_headings(path: Path) -> list[str]:
    return [line[3:].strip() for line in path.read_text().splitlines() if line.startswith("## ")]


def test_every_hook_is_documented_with_its_exact_signature() -> None:
    headings = doc_headings(ROOT / "docs" / "hooks.md")
    assert headings == [spec_signature(name) for name in HOOKS]


def test_every_hookspec_is_in_the_list_the_docs_test_checks() -> None:
    specs = {name for name, value in vars(hookspecs).items() if hasattr(value, "integration_runtime_spec")}
    assert specs == set(HOOKS)


def test_every_error_class_is_documented() -> None:
    text = (ROOT / "docs" / "errors.md").read_text()
    for name in connector.errors.__all__:
        assert f"`{name}`" in text, name


def test_readme_has_exactly_two_setup_commands() -> None:
    blocks = re.findall(r"```(?:sh|bash|shell)\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    commands = [line for block in blocks for line in block.strip().splitlines() if line.strip()]
    assert len(commands) == 2, commands
    ci = (ROOT / ".ci" / "run").read_text()
    assert commands[1] in ci, "CI must run the README's test command"
