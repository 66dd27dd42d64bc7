"""``connector form``: fill a connector's connection form in a terminal, from its JSON Schemas.

Fields come in the schema's ``x-form-order`` with their titles, descriptions, defaults and choices; a field shows
only when its ``x-form-show-when`` condition holds (so the grant type decides what follows); each answer is
validated against its own property at once and asked again when wrong. Secrets are typed without echo and never
written into the config: each is saved to a file only its owner can read and referenced as ``{"$file": path}``, or,
when left blank, referenced as an environment variable ``{"$env": NAME}``.

This module only asks and builds the config; :mod:`connector.host.config_file` reads configs and resolves references.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from connector.host.secret_files import write_secret_file

__all__ = ["FormIO", "fill_form"]


@dataclass
class FormIO:
    """How the form talks to the person: injectable for tests.

    :param ask: shows a prompt and returns the typed line.
    :param ask_secret: same, without echo.
    :param say: prints a line.
    """

    ask: Callable[[str], str] = input
    ask_secret: Callable[[str], str] = field(default_factory=lambda: __import__("getpass").getpass)
    say: Callable[[str], None] = print


def _env_name(path: str) -> str:
    return "CONNECTOR_" + re.sub(r"[^A-Z0-9]+", "_", path.upper()).strip("_")


class _Form:
    def __init__(self, schema: Mapping[str, Any], io: FormIO, secrets_dir: Path) -> None:
        self.root = schema
        self.io = io
        self.secrets_dir = secrets_dir

    def _resolve(self, prop: Mapping[str, Any]) -> dict[str, Any]:
        merged = dict(prop)
        ref = merged.pop("$ref", None)
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            merged = {**self.root["$defs"][ref.removeprefix("#/$defs/")], **merged}
        return merged

    def _validator(self, prop: Mapping[str, Any]) -> Draft202012Validator:
        return Draft202012Validator({**prop, "$defs": self.root.get("$defs", {})})

    def object(self, schema: Mapping[str, Any], path: str) -> dict[str, Any]:
        answers: dict[str, Any] = {}
        properties: Mapping[str, Any] = schema.get("properties", {})
        for name in schema.get("x-form-order", list(properties)):
            prop = self._resolve(properties[name])
            condition: Mapping[str, Any] = prop.get("x-form-show-when", {})
            if any(answers.get(key, self._default_of(properties, key)) != value for key, value in condition.items()):
                continue
            value = self.field(prop, f"{path}.{name}", name in self._required(schema, answers))
            if value is not None:
                answers[name] = value
        return answers

    def _required(self, schema: Mapping[str, Any], answers: Mapping[str, Any]) -> set[str]:
        """The fields required now: always-required ones, plus those of every ``if``/``then`` whose ``if`` holds."""
        required = set(schema.get("required", ()))
        properties: Mapping[str, Any] = schema.get("properties", {})
        for rule in schema.get("allOf", ()):
            condition = rule.get("if", {}).get("properties", {})
            if all(
                answers.get(key, self._default_of(properties, key)) == option.get("const")
                for key, option in condition.items()
            ):
                required |= set(rule.get("then", {}).get("required", ()))
        return required

    def _default_of(self, properties: Mapping[str, Any], key: str) -> Any:
        prop = properties.get(key, {})
        return prop.get("default") if isinstance(prop, Mapping) else None

    def field(self, prop: Mapping[str, Any], path: str, required: bool) -> Any:
        title = prop.get("title", path)
        kind = prop.get("type")
        if kind == "object" and "properties" in prop:
            self.io.say(f"\n{title}: {prop.get('description', '')}")
            return self.object(prop, path)
        if kind == "array":
            return self.pairs(prop, path)
        self.io.say(f"\n{title} — {prop.get('description', '')}")
        if prop.get("writeOnly"):
            return self.secret(title, path, required)
        choices = [option["const"] for option in prop.get("oneOf", []) if "const" in option] or list(
            prop.get("enum", [])
        )
        default = prop.get("default")
        hint = f" [{'/'.join(map(str, choices))}]" if choices else ""
        hint += f" (default {json.dumps(default)})" if default is not None else ""
        validator = self._validator(prop)
        while True:
            text = self.io.ask(f"{title}{hint}: ").strip()
            if not text:
                if default is not None or not required:
                    return default
                self.io.say("  this field is required")
                continue
            value = _convert(text, kind)
            errors = sorted(validator.iter_errors(value), key=lambda e: e.path)
            if not errors:
                return value
            self.io.say(f"  {errors[0].message}")

    def pairs(self, prop: Mapping[str, Any], path: str) -> list[dict[str, str]]:
        title = prop.get("title", path)
        self.io.say(f"\n{title} — {prop.get('description', '')}")
        pairs = [dict(item) for item in prop.get("default", [])]
        for item in pairs:
            answer = self.io.ask(f"  {item['name']} (default {item['value']!r}): ").strip()
            item["value"] = answer or item["value"]
        while True:
            name = self.io.ask("  another parameter name (blank to finish): ").strip()
            if not name:
                return pairs
            pairs.append({"name": name, "value": self.io.ask(f"  value of {name}: ")})

    def secret(self, title: str, path: str, required: bool) -> dict[str, str] | None:
        value = self.io.ask_secret(f"{title} (hidden; blank to use an environment variable): ")
        if value:
            reference = write_secret_file(self.secrets_dir, path, value)
            self.io.say(f"  saved to {reference['$file']} (readable only by you)")
            return reference
        default = _env_name(path) if required else ""
        shown = f"default {default}" if required else "blank for none"
        name = self.io.ask(f"  environment variable holding it ({shown}): ").strip() or default
        return {"$env": name} if name else None


def _convert(text: str, kind: Any) -> Any:
    kinds = kind if isinstance(kind, list) else [kind]
    if "integer" in kinds:
        try:
            return int(text)
        except ValueError:
            return text
    if "boolean" in kinds:
        lowered = text.lower()
        return {"y": True, "yes": True, "true": True, "n": False, "no": False, "false": False}.get(lowered, text)
    return text


def fill_form(schemas: Mapping[str, Mapping[str, Any]], io: FormIO, secrets_dir: Path) -> dict[str, Any]:
    """Ask for every field of each part's schema, in order.

    :param schemas: the form parts in order (``{"connection": schema, "oauth2": schema}``).
    :param io: how to ask and tell.
    :param secrets_dir: where typed secrets are saved (mode 0600 files).
    :returns: the config, with secrets as ``{"$file": ...}`` or ``{"$env": ...}`` references.
    """
    config: dict[str, Any] = {}
    for part, schema in schemas.items():
        io.say(f"\n== {schema.get('title', part)} ==")
        config[part] = _Form(schema, io, secrets_dir).object(schema, part)
    return config
