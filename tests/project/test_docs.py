"""Documentation that must stay in step with the code: hook signatures, error classes, README commands."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import connector.errors
from connector import hookspecs
from connector.context import LockingTokenStore, TokenStore
from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT
HOOKS = ("connect", "authorize", "test", "execute_operation", "browse")
STORE_METHODS = (
    (TokenStore, "load"),
    (TokenStore, "save"),
    (LockingTokenStore, "acquire_lock"),
    (LockingTokenStore, "renew_lock"),
    (LockingTokenStore, "release_lock"),
)


def spec_signature(name: str) -> str:
    signature = inspect.signature(getattr(hookspecs, name))
    params = ", ".join(f"{p.name}: {p.annotation}" for p in signature.parameters.values())
    return f"{name}({params}) -> {signature.return_annotation}"


def method_signature(protocol: type, name: str) -> str:
    signature = inspect.signature(getattr(protocol, name))
    params = ", ".join(f"{p.name}: {p.annotation}" for p in signature.parameters.values() if p.name != "self")
    return f"{protocol.__name__}.{name}({params}) -> {signature.return_annotation}"


def doc_headings(path: Path, part: int = 0) -> list[str]:
    """:returns: the ``## `` headings of one part of a page (parts are separated by ``# `` headings)."""
    parts: list[list[str]] = [[]]
    for line in path.read_text().splitlines():
        if line.startswith("# ") and any(parts[0]):
            parts.append([])
        elif line.startswith("## "):
            parts[-1].append(line[3:].strip())
    return parts[part]


def test_every_hook_is_documented_with_its_exact_signature() -> None:
    headings = doc_headings(ROOT / "docs" / "hooks.md")
    assert headings == [spec_signature(name) for name in HOOKS]


def test_the_token_store_contract_is_documented_with_exact_signatures() -> None:
    headings = doc_headings(ROOT / "docs" / "hooks.md", part=1)
    documented = [heading for heading in headings if "." in heading.split("(")[0]]
    assert documented == [method_signature(protocol, name) for protocol, name in STORE_METHODS]
    every_method = {
        name for protocol in (TokenStore, LockingTokenStore) for name in vars(protocol) if not name.startswith("_")
    }
    assert every_method == {name for _, name in STORE_METHODS}


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


PATH_PATTERN = re.compile(
    r"(?<![\w./-])((?:connector|dataverse_sandbox|tests|schemas|benchmarks|scripts|docs)/[\w./-]*[\w])(?![\w/])"
)
MODULE_PATTERN = re.compile(r"(?<![\w.])((?:connector|dataverse_sandbox)(?:\.\w+)+)")
LINK_PATTERN = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _docs() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]


def _sources() -> list[Path]:
    return [path for package in ("connector", "dataverse_sandbox") for path in sorted((ROOT / package).rglob("*.py"))]


def _module_exists(dotted: str) -> bool:
    """:returns: whether ``dotted`` names a module or package, or a name inside one (the longest module prefix)."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        base = ROOT.joinpath(*parts[:end])
        if base.with_suffix(".py").is_file() or (base / "__init__.py").is_file():
            return True
    return False


def _missing_paths(text: str, folder: Path = ROOT) -> list[str]:
    """:returns: the repository paths ``text`` names that exist neither from the root nor from ``folder``."""
    missing = []
    for name in PATH_PATTERN.findall(text):
        if any(mark in name for mark in ("*", "<", "...")):
            continue
        if not (ROOT / name).exists() and not (folder / name).exists():
            missing.append(name)
    return missing


def test_every_file_a_doc_names_exists() -> None:
    missing = {}
    for doc in _docs():
        text = doc.read_text(encoding="utf-8")
        names = _missing_paths(text, doc.parent)
        names += [
            link
            for link in LINK_PATTERN.findall(text)
            if "://" not in link and not link.startswith("mailto:") and not (doc.parent / link).exists()
        ]
        if names:
            missing[str(doc.relative_to(ROOT))] = names
    assert missing == {}


def test_every_module_a_docstring_or_doc_names_exists() -> None:
    missing = {}
    for path in [*_docs(), *_sources()]:
        text = path.read_text(encoding="utf-8")
        names = [name for name in MODULE_PATTERN.findall(text) if not _module_exists(name)]
        if path.suffix == ".py":
            names += _missing_paths(text)
        if names:
            missing[str(path.relative_to(ROOT))] = sorted(set(names))
    assert missing == {}


def test_every_test_file_a_doc_names_exists() -> None:
    named = {
        name for doc in _docs() for name in re.findall(r"`((?:[\w/]+/)?test_\w+\.py)`", doc.read_text(encoding="utf-8"))
    }
    assert named, "the docs name test files; the pattern must find them"
    assert sorted(name for name in named if not (ROOT / name).exists() and not (ROOT / "tests" / name).exists()) == []
