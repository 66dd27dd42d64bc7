"""``connector form``: fill a connector's connection form in a terminal, from its JSON Schemas and UI schemas.

Fields come in the UI schema's ``ui:order`` (rjsf's convention; the schema's own order otherwise) with their titles,
descriptions, defaults and choices. A ``oneOf`` of sections (the OAuth tab's sign-in methods, the signature key's
formats) is asked as one numbered choice, then only the chosen section's fields follow; a field with one allowed value
(``const``, or an ``enum`` of one) is filled in without asking. Each answer is validated against its own property
at once and asked again when wrong.

Key and certificate fields (a ``file`` or ``textarea`` widget in the UI schema) take either a pasted PEM block,
read line by line through its ``-----END`` line, or a file path. Secrets are typed without echo and never written
into the config: a typed secret is saved to a file only its owner can read and referenced as ``{"$file": path}``, a
key file given by path is referenced where it is, and a secret left blank is referenced as an environment variable
``{"$env": NAME}``. Optional parts (the runtime settings: proxy, time-outs, CA bundle) are offered after the form.

This module only asks and builds the config; :mod:`connector.host.config_file` reads configs and resolves references.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from jsonschema import Draft202012Validator

from connector.host.secret_files import write_secret_file
from connector.numerals import whole_number
from connector.validation import fixed_value

__all__ = ["FormIO", "FormPart", "fill_form", "read_hidden_line"]

_BLOCK_WIDGETS: Final = frozenset({"file", "textarea"})
_PEM_BEGIN: Final = "-----BEGIN "
_PEM_END: Final = "-----END "


def read_hidden_line(prompt: str) -> str:
    """Read one line without echo, keeping whatever else was pasted for the next call.

    :func:`getpass.getpass` flushes pending input when it restores the terminal, which would drop every line of a
    pasted PEM key after the first; this turns echo off and on without flushing.

    :param prompt: shown first (may be empty).
    :returns: the line without its line break.
    :raises EOFError: at the end of input.
    """
    sys.stdout.write(prompt)
    sys.stdout.flush()
    stream = sys.stdin
    if not stream.isatty():
        line = stream.readline()
    else:
        import termios

        descriptor = stream.fileno()
        before = termios.tcgetattr(descriptor)
        quiet = list(before)
        quiet[3] &= ~termios.ECHO
        termios.tcsetattr(descriptor, termios.TCSANOW, quiet)
        try:
            line = stream.readline()
        finally:
            termios.tcsetattr(descriptor, termios.TCSANOW, before)
            sys.stdout.write("\n")
    if not line:
        raise EOFError
    return line.rstrip("\r\n")


@dataclass
class FormIO:
    """How the form talks to the person: injectable for tests.

    :param ask: shows a prompt and returns the typed line.
    :param ask_secret: same, without echo (one line).
    :param ask_hidden: same, without echo, and without dropping the rest of a paste (for multi-line secrets).
    :param say: prints a line.
    """

    ask: Callable[[str], str] = input
    ask_secret: Callable[[str], str] = field(default_factory=lambda: __import__("getpass").getpass)
    ask_hidden: Callable[[str], str] = read_hidden_line
    say: Callable[[str], None] = print


@dataclass(frozen=True)
class FormPart:
    """One part of the config: a schema, its UI schema, and whether the person may skip it.

    :param schema: the part's JSON Schema.
    :param ui_schema: rjsf-style presentation hints (``ui:order``, ``ui:widget``, ``oneOf`` per section).
    :param optional: offered with a yes/no question instead of asked outright.
    """

    schema: Mapping[str, Any]
    ui_schema: Mapping[str, Any] = field(default_factory=dict)
    optional: bool = False


def _env_name(path: str) -> str:
    return "CONNECTOR_" + re.sub(r"[^A-Z0-9]+", "_", path.upper()).strip("_")


def _sections(schema: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    options = schema.get("oneOf", ())
    return [option for option in options if isinstance(option, Mapping) and "properties" in option]


def _ordered(properties: Mapping[str, Any], ui: Mapping[str, Any]) -> list[str]:
    order = [name for name in ui.get("ui:order", ()) if name in properties]
    return order + [name for name in properties if name not in order]


def _yes(text: str) -> bool:
    return text.strip().lower() in {"y", "yes"}


class _Form:
    def __init__(self, root: Mapping[str, Any], io: FormIO, secrets_dir: Path) -> None:
        self.root = root
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

    def object(self, schema: Mapping[str, Any], ui: Mapping[str, Any], path: str) -> dict[str, Any]:
        answers: dict[str, Any] = {}
        properties: Mapping[str, Any] = schema.get("properties", {})
        required = set(schema.get("required", ()))
        for name in _ordered(properties, ui):
            prop = self._resolve(properties[name])
            fixed, value = fixed_value(prop)
            if fixed:  # it tells the chosen section apart: nothing to ask
                answers[name] = value
                continue
            value = self.field(prop, ui.get(name, {}), f"{path}.{name}", name in required)
            if value is not None:
                answers[name] = value
        sections = _sections(schema)
        if sections:
            index = self.choose(schema, ui, sections)
            section_ui = ui.get("oneOf", [])
            answers.update(self.object(sections[index], section_ui[index] if index < len(section_ui) else ui, path))
        return answers

    def choose(self, schema: Mapping[str, Any], ui: Mapping[str, Any], sections: Sequence[Mapping[str, Any]]) -> int:
        label = ui.get("ui:title") or schema.get("title", "Choose")
        self.io.say(f"\n{label}:")
        for number, section in enumerate(sections, 1):
            self.io.say(f"  {number}. {section.get('title', number)}: {section.get('description', '')}")
        while True:
            text = self.io.ask(f"{label} [1-{len(sections)}] (default 1): ").strip() or "1"
            choice = whole_number(text)
            if choice is not None and 1 <= choice <= len(sections):
                return choice - 1
            self.io.say(f"  type a number from 1 to {len(sections)}")

    def field(self, prop: Mapping[str, Any], ui: Mapping[str, Any], path: str, required: bool) -> Any:
        title = prop.get("title", path)
        kind = prop.get("type")
        if kind == "object" and ("properties" in prop or _sections(prop)):
            if not required and not _yes(
                self.io.ask(f"\n{title}: {prop.get('description', '')}\nSet {title}? [y/N]: ")
            ):
                return None
            self.io.say(f"\n{title}: {prop.get('description', '')}")
            return self.object(prop, ui, path)
        if kind == "array":
            return self.pairs(prop, path)
        self.io.say(f"\n{title} — {prop.get('description', '')}")
        if ui.get("ui:widget") in _BLOCK_WIDGETS:
            accept = str(ui.get("ui:options", {}).get("accept", ""))
            return self.block(prop, path, required, binary=".pfx" in accept or ".p12" in accept)
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

    def block(self, prop: Mapping[str, Any], path: str, required: bool, *, binary: bool) -> Any:
        """A key or certificate: a pasted PEM block (through its END line) or a file path; a binary file (PKCS#12,
        told by the UI schema's ``accept``) by path or as base64.
        """
        title = prop.get("title", path)
        secret = bool(prop.get("writeOnly"))
        what = "a file path or the file's base64" if binary else "a file path, or paste the PEM text"
        hidden = ", hidden" if secret else ""
        blank = "; blank to use an environment variable" if secret else ""
        read = self.io.ask_hidden if secret else self.io.ask
        while True:
            try:
                first = read(f"{title} ({what}{hidden}{blank}): ").strip()
            except EOFError:
                first = ""
            if not first:
                if secret:
                    return self.env_reference(path, required)
                if not required:
                    return None
                self.io.say("  this field is required")
                continue
            if first.startswith(_PEM_BEGIN) and not binary:
                lines = [first]
                try:
                    while not lines[-1].strip().startswith(_PEM_END):
                        lines.append(read(""))
                except EOFError:
                    self.io.say(f"  the paste ended before its {_PEM_END}... line: paste the whole block again")
                    continue
                text = "\n".join(lines) + "\n"
                self.io.say(f"  read {len(lines)} lines")
                return self.save_secret(text, path) if secret else text
            candidate = Path(first).expanduser()
            if candidate.is_file():
                return self.from_file(candidate, path, secret=secret, binary=binary)
            if binary and _is_base64(first):
                return self.save_secret(first, path) if secret else first
            self.io.say(f"  neither {'base64' if binary else 'PEM text'} nor an existing file: try again")

    def from_file(self, source: Path, path: str, *, secret: bool, binary: bool) -> Any:
        data = source.read_bytes()
        if binary:
            encoded = base64.b64encode(data).decode("ascii")
            return self.save_secret(encoded, path) if secret else encoded
        if _PEM_BEGIN.encode() not in data:
            self.io.say(f"  {source} holds no PEM block ({_PEM_BEGIN}...): it is used as given")
        if secret:
            self.io.say(f"  referenced where it is: {source.resolve()}")
            return {"$file": str(source.resolve())}
        return data.decode("utf-8", errors="replace")

    def secret(self, title: str, path: str, required: bool) -> dict[str, str] | None:
        value = self.io.ask_secret(f"{title} (hidden; blank to use an environment variable): ")
        if value:
            return self.save_secret(value, path)
        return self.env_reference(path, required)

    def save_secret(self, value: str, path: str) -> dict[str, str]:
        """Save a secret in the config's secrets folder; :returns: the ``$file`` reference to it."""
        reference = write_secret_file(self.secrets_dir, path, value)
        self.io.say(f"  saved to {reference['$file']} (readable only by you)")
        return reference

    def env_reference(self, path: str, required: bool) -> dict[str, str] | None:
        default = _env_name(path) if required else ""
        shown = f"default {default}" if required else "blank for none"
        name = self.io.ask(f"  environment variable holding it ({shown}): ").strip() or default
        return {"$env": name} if name else None


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


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


def fill_form(parts: Mapping[str, FormPart | Mapping[str, Any]], io: FormIO, secrets_dir: Path) -> dict[str, Any]:
    """Ask for every field of each part, in order.

    :param parts: the form parts in order (``{"connection": FormPart(...), "oauth2": ..., "runtime": ...}``); a bare
        schema is a part without UI hints.
    :param io: how to ask and tell.
    :param secrets_dir: where typed secrets are saved (mode 0600 files).
    :returns: the config, with secrets as ``{"$file": ...}`` or ``{"$env": ...}`` references; an optional part the
        person skipped is left out.
    """
    config: dict[str, Any] = {}
    for name, given in parts.items():
        part = given if isinstance(given, FormPart) else FormPart(given)
        title = part.schema.get("title", name)
        if part.optional:
            question = f"\n{title}: {part.schema.get('description', '')}\nFill in the {title} settings now? [y/N]: "
            if not _yes(io.ask(question)):
                continue
        io.say(f"\n== {title} ==")
        config[name] = _Form(part.schema, io, secrets_dir).object(part.schema, part.ui_schema, name)
    return config
