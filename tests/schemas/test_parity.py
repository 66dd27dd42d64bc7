"""One validation truth: ajv (Ajv2020, strict mode, ajv-formats), as JavaScript hosts and rjsf run it, compiles every
shipped schema and judges every configuration of the corpus exactly as Python's jsonschema (and so ``connect``)
does; the UI schemas name only fields that exist; the schemas carry no private keyword.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from connector.resources import load_manifest
from tests.support.form_corpus import cases
from tests.support.forms import SCHEMAS_DIR, ajv_validate
from tests.support.paths import REPO_ROOT


def shipped_schemas() -> dict[str, Path]:
    """Every schema the manifest names, and the manifest's own schema."""
    manifest = load_manifest()
    named = {name: REPO_ROOT / path for name, path in manifest["schemas"].items()}
    named.update({f"operations/{op['name']}": REPO_ROOT / op["options_schema"] for op in manifest["operations"]})
    named["manifest"] = SCHEMAS_DIR / "manifest.schema.json"
    return named


@pytest.fixture(scope="module")
def ajv_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str | None], list[dict[str, Any]]]:
    corpus = [(schema, instance) for schema, _, instance in cases()]
    return ajv_validate(shipped_schemas(), corpus, tmp_path_factory.mktemp("ajv"))


def test_the_corpus_is_large_and_mixed() -> None:
    corpus = cases()
    validators = {
        name: Draft202012Validator(json.loads((SCHEMAS_DIR / f"{name}.schema.json").read_text()))
        for name in ("connection", "oauth2")
    }
    valid = [label for schema, label, instance in corpus if validators[schema].is_valid(instance)]
    assert len(corpus) >= 100
    assert len(valid) >= 30
    assert len(corpus) - len(valid) >= 70


def test_ajv_strict_compiles_every_shipped_schema(ajv_run: tuple[dict[str, str | None], list[dict[str, Any]]]) -> None:
    compiled, _ = ajv_run
    assert set(compiled) == set(shipped_schemas())
    assert {name: error for name, error in compiled.items() if error is not None} == {}


def test_ajv_and_jsonschema_agree_on_every_case(ajv_run: tuple[dict[str, str | None], list[dict[str, Any]]]) -> None:
    _, results = ajv_run
    validators = {name: Draft202012Validator(json.loads(path.read_text())) for name, path in shipped_schemas().items()}
    disagreements = []
    for (schema, label, instance), result in zip(cases(), results, strict=True):
        python = validators[schema].is_valid(instance)
        if python is not result["valid"]:
            disagreements.append(f"{schema} / {label}: python {python}, ajv {result['valid']} {result['errors'][:2]}")
    assert disagreements == []


def test_the_manifest_validates_under_ajv_too(tmp_path: Path) -> None:
    compiled, results = ajv_validate(
        {"manifest": SCHEMAS_DIR / "manifest.schema.json"}, [("manifest", load_manifest())], tmp_path
    )
    assert compiled == {"manifest": None}
    assert results[0]["valid"], results[0]["errors"]


def _keywords(node: Any) -> Iterator[str]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield key
            # Under properties, $defs and the like the keys are names, not keywords.
            children = value.values() if key in {"properties", "$defs", "patternProperties"} else [value]
            for child in children:
                yield from _keywords(child)
    elif isinstance(node, list):
        for item in node:
            yield from _keywords(item)


@pytest.mark.parametrize("name", sorted(shipped_schemas()))
def test_no_private_keywords(name: str) -> None:
    schema = json.loads(shipped_schemas()[name].read_text())
    assert sorted({k for k in _keywords(schema) if k.startswith("x-")}) == []


@pytest.mark.parametrize("name", sorted(shipped_schemas()))
def test_patterns_cannot_match_before_a_final_newline(name: str) -> None:
    """Python's ``$`` also matches before a final newline, JavaScript's does not: every ``$`` is guarded."""
    text = shipped_schemas()[name].read_text()
    patterns = re.findall(r'"pattern": "((?:[^"\\]|\\.)*)"', text)
    assert [p for p in patterns if p.endswith("$")] == []


def _ui_fields(schema: Mapping[str, Any], ui: Mapping[str, Any], where: str) -> Iterator[str]:
    """Every problem with a UI schema: a hint for a field the schema does not have, an order that misses one."""
    properties: Mapping[str, Any] = schema.get("properties", {})
    sections = [s for s in schema.get("oneOf", ()) if isinstance(s, Mapping) and "properties" in s]
    if "ui:order" in ui and set(ui["ui:order"]) != set(properties):
        yield f"{where}: ui:order {ui['ui:order']} is not the fields {list(properties)}"
    for key, value in ui.items():
        if key == "oneOf":
            if len(value) != len(sections):
                yield f"{where}: {len(value)} section hints for {len(sections)} sections"
            for index, (section, section_ui) in enumerate(zip(sections, value, strict=False)):
                yield from _ui_fields(section, section_ui, f"{where}.oneOf[{index}]")
        elif not key.startswith("ui:"):
            if key not in properties:
                yield f"{where}: hints for {key!r}, which is not a field"
            elif isinstance(value, Mapping) and "items" not in value:
                yield from _ui_fields(properties[key], value, f"{where}.{key}")


@pytest.mark.parametrize("name", ["connection", "oauth2"])
def test_ui_schemas_fit_their_schemas(name: str) -> None:
    manifest = load_manifest()
    schema = json.loads((REPO_ROOT / manifest["schemas"][name]).read_text())
    ui = json.loads((REPO_ROOT / manifest["ui_schemas"][name]).read_text())
    assert list(_ui_fields(schema, ui, name)) == []


def test_every_secret_is_masked() -> None:
    """``writeOnly`` with ``format: password`` in the schema, and a password or file widget in the UI schema."""
    manifest = load_manifest()
    problems = []
    for name in ("connection", "oauth2"):
        schema = json.loads((REPO_ROOT / manifest["schemas"][name]).read_text())
        ui = json.loads((REPO_ROOT / manifest["ui_schemas"][name]).read_text())
        problems += list(_unmasked(schema, ui, name))
    assert problems == []


def _unmasked(schema: Mapping[str, Any], ui: Mapping[str, Any], where: str) -> Iterator[str]:
    for key, prop in schema.get("properties", {}).items():
        hints = ui.get(key, {})
        if prop.get("writeOnly"):
            if prop.get("format") != "password":
                yield f"{where}.{key}: no format password"
            if hints.get("ui:widget") not in {"password", "file"}:
                yield f"{where}.{key}: widget {hints.get('ui:widget')!r}"
        yield from _unmasked(prop, hints, f"{where}.{key}")
    for index, section in enumerate(schema.get("oneOf", ())):
        if isinstance(section, Mapping) and "properties" in section:
            yield from _unmasked(section, ui.get("oneOf", [{}] * (index + 1))[index], f"{where}.oneOf[{index}]")


def test_a_field_shared_by_sections_is_declared_alike() -> None:
    """The sign-in methods repeat client_id, the token URL ...: each repetition is the same declaration."""
    schema = json.loads((SCHEMAS_DIR / "oauth2.schema.json").read_text())
    seen: dict[str, Any] = {}
    different = []
    for section in schema["oneOf"]:
        for name, prop in section["properties"].items():
            if name in {"grant_type", "client_assertion_type", "client_secret"}:
                continue  # told apart by const, or described per method on purpose
            if seen.setdefault(name, prop) != prop:
                different.append(name)
    assert different == []
