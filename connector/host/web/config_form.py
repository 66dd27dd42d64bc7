"""The config file as the web form sees it: values to fill the form with, secrets masked, and the config to write
back from what the form submitted.

The file is the one ``connector form`` writes and every command reads (:mod:`connector.host.config_file`):
``connection``, ``oauth2`` and ``runtime`` sections whose secrets are ``{"$file": ...}`` or ``{"$env": ...}``
references. A secret is a property the tab's schema marks ``writeOnly`` or whose name says it is one (the same rule
the host's redaction uses). The form never receives a secret: each one that is set arrives as
:data:`~connector.secrets.REDACTED`, and a submitted :data:`REDACTED` means "unchanged", so the reference is kept. A
new secret is saved in its own file (:func:`~connector.host.secret_files.write_secret_file`, the same file ``connector
form`` uses for that field) and only the reference goes into the config. Non-secret references (a certificate read
from a file) are shown resolved and kept as references while their value is unchanged.

Not for validation of the connector's settings: the ``connect`` hook does that when the config is used.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from connector.errors import FieldError
from connector.host.config_file import RUNTIME_SCHEMA, resolve_references
from connector.host.redaction import SECRET_KEY_PATTERN, property_names, redact
from connector.host.secret_files import write_secret_file
from connector.secrets import REDACTED
from connector.validation import schema_field_errors

__all__ = ["FILE_MASK", "SECRET_MASK", "ConfigForm", "SavedSecretError", "data_url_names"]

SECRET_MASK: Final = REDACTED
"""What the form shows for a secret that is set; submitting it back keeps the secret."""

FILE_MASK: Final = "data:application/octet-stream;name=saved-secret;base64,"
"""The mask of a secret uploaded as a file (``format: data-url``): a valid data URL, so the form still validates and
the file widget shows it as a saved file; submitting it back keeps the secret."""

SECTIONS: Final = ("connection", "oauth2", "runtime")


class SavedSecretError(ValueError):
    """A submitted value cannot be saved (not JSON-like where the config needs it)."""


def _is_reference(value: Any) -> bool:
    return isinstance(value, Mapping) and len(value) == 1 and set(value) <= {"$env", "$file"}


def _prune(value: Any) -> Any:
    """Drop empty objects, ``None`` and empty strings, which a form submits for fields left blank."""
    if isinstance(value, Mapping):
        pruned = {key: _prune(item) for key, item in value.items()}
        return {key: item for key, item in pruned.items() if item not in (None, "", {})}
    if isinstance(value, list):
        return [_prune(item) for item in value]
    return value


class ConfigForm:
    """One config file, read for the form and written from it.

    :param path: the config file (it need not exist yet).
    :param secrets_dir: where new secrets are saved.
    :param secret_names: per section, the property names its schema marks ``writeOnly``.
    :param environ: the environment ``$env`` references are resolved from (for display); ``os.environ`` by default.
    :param file_names: per section, the property names whose schema says ``format: data-url`` (masked as
        :data:`FILE_MASK`).
    """

    def __init__(
        self,
        path: Path,
        secrets_dir: Path,
        secret_names: Mapping[str, Iterable[str]],
        environ: Mapping[str, str] | None = None,
        file_names: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self.path = path
        self.secrets_dir = secrets_dir
        self.secret_names = {section: frozenset(names) for section, names in secret_names.items()}
        self.file_names = {section: frozenset(names) for section, names in (file_names or {}).items()}
        self.environ = os.environ if environ is None else environ

    def _is_secret(self, section: str, key: str) -> bool:
        return key in self.secret_names.get(section, ()) or bool(SECRET_KEY_PATTERN.search(key))

    def raw(self) -> dict[str, Any]:
        """:returns: the file as it is (references unresolved); ``{}`` when it does not exist or is not an object."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def form_data(self) -> dict[str, Any]:
        """:returns: each section's values for the form: secrets masked, other references resolved (a reference
        that does not resolve shows as blank).
        """
        raw = self.raw()
        data: dict[str, Any] = {}
        for section in SECTIONS:
            part = raw.get(section)
            if not isinstance(part, Mapping):
                data[section] = {}
                continue
            masked = _file_masks(
                redact(part, self.secret_names.get(section, ())), self.file_names.get(section, frozenset())
            )
            resolved, _ = resolve_references(masked, environ=self.environ, base_dir=self.path.resolve().parent)
            data[section] = _prune(resolved)
        return data

    def merge(self, submitted: Mapping[str, Any]) -> dict[str, Any]:
        """Build the config to write from what the form submitted, saving new secrets in their files.

        :param submitted: ``{"connection": ..., "oauth2": ..., "runtime": ...}`` as the form holds them.
        :returns: the new config (sections the form does not know are kept as they were).
        :raises SavedSecretError: when a section is not an object.
        """
        raw = self.raw()
        config: dict[str, Any] = {}
        for section in SECTIONS:
            value = submitted.get(section, {})
            if not isinstance(value, Mapping):
                raise SavedSecretError(f"{section} must be an object")
            old = raw.get(section)
            merged = self._merge(section, _prune(value), old if isinstance(old, Mapping) else {}, section)
            if merged or section != "runtime":
                config[section] = merged
        config.update((key, value) for key, value in raw.items() if key not in SECTIONS)
        return config

    def _merge(self, section: str, new: Mapping[str, Any], old: Mapping[str, Any], path: str) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for key, value in new.items():
            field = f"{path}.{key}"
            previous = old.get(key)
            if self._is_secret(section, key) and isinstance(value, str):
                if value in (SECRET_MASK, FILE_MASK):
                    if previous not in (None, ""):
                        merged[key] = previous
                else:
                    merged[key] = write_secret_file(self.secrets_dir, field, value)
            elif isinstance(value, Mapping):
                merged[key] = self._merge(section, value, previous if isinstance(previous, Mapping) else {}, field)
            elif _is_reference(previous) and self._resolves_to(previous, field) == value:
                merged[key] = previous
            else:
                merged[key] = value
        return merged

    def _resolves_to(self, reference: Any, field: str) -> Any:
        value, problems = resolve_references(
            reference, environ=self.environ, base_dir=self.path.resolve().parent, path=field
        )
        return None if problems else value

    def runtime_errors(self, config: Mapping[str, Any]) -> list[FieldError]:
        """:returns: what is wrong with the config's ``runtime`` section, each naming its field (references are
        checked as strings: the CLI resolves them before checking).
        """
        runtime = config.get("runtime") or {}
        placeholders = _references_as_strings(runtime)
        return schema_field_errors(placeholders, RUNTIME_SCHEMA, "runtime")

    def write(self, config: Mapping[str, Any]) -> None:
        """Write the config as ``connector form -o`` does: indented JSON with a final newline."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def data_url_names(schema: Mapping[str, Any]) -> set[str]:
    """:returns: the names of every property a schema declares ``format: data-url`` (a file widget's value)."""
    return property_names(schema, lambda subschema: subschema.get("format") == "data-url")


def _file_masks(value: Any, names: frozenset[str]) -> Any:
    if isinstance(value, Mapping):
        return {
            key: FILE_MASK if key in names and item == SECRET_MASK else _file_masks(item, names)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_file_masks(item, names) for item in value]
    return value


def _references_as_strings(value: Any) -> Any:
    if _is_reference(value):
        return "reference"
    if isinstance(value, Mapping):
        return {key: _references_as_strings(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_references_as_strings(item) for item in value]
    return value
