"""Read a reference-host config file: the connection's settings, the runtime section, and secret references.

The file is JSON::

    {
      "connection": {...},                      # the Connection tab, as the host stores it
      "oauth2": {..., "client_secret": {"$env": "D365_CLIENT_SECRET"}},
      "runtime": {                              # optional: what the host lends (the runtime context)
        "proxy": {"host": "proxy.corp", "port": 3128, "user": "svc", "password": {"$env": "PROXY_PASSWORD"},
                  "non_proxy_hosts": "*.corp|localhost"},
        "timeouts": {"connect_ms": 30000, "read_ms": 120000},
        "ca_bundle": "ca.pem",
        "callback_url": "http://127.0.0.1:8765/callback"
      }
    }

Any value may be a reference instead of a literal: ``{"$env": "NAME"}`` is replaced by the environment variable
``NAME`` and ``{"$file": "path"}`` by the file's text (``connector form`` writes both), so secrets need not sit in the
file. A missing variable or file is an error naming it and the field that refers to it. Relative paths (``$file``,
``ca_bundle``) are relative to the config file. The runtime section is checked against :data:`RUNTIME_SCHEMA` and
every bad field is reported at once; the connection settings are not checked here: ``connect`` does that.

Not for writing configs (``form``) or storing tokens (``token_store``): the context gets the default in-memory
token store unless the caller passes one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from connector.context import NetworkTimeouts, ProxySettings, RuntimeContext, TokenStore
from connector.errors import ConnectorError, FailureType, FieldError
from connector.host.redaction import secret_values
from connector.secrets import Secret
from connector.validation import field_path, schema_field_errors

__all__ = ["RUNTIME_SCHEMA", "ConfigFileError", "HostConfig", "load_config", "load_config_file", "resolve_references"]

_TIMEOUT: Final = {"type": ["integer", "null"], "title": "Time-out (ms)", "description": "Milliseconds; blank: none."}

RUNTIME_SCHEMA: Final[Mapping[str, Any]] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Runtime",
    "description": "What the host lends a connection: proxy, network time-outs, trusted CAs, OAuth callback URL.",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "proxy": {
            "title": "Proxy",
            "description": "The runtime's HTTP proxy, used by connections that honour it.",
            "type": "object",
            "additionalProperties": False,
            "required": ["host"],
            "properties": {
                "host": {"type": "string", "minLength": 1, "title": "Proxy host", "description": "Host name."},
                "port": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 65535,
                    "default": 80,
                    "title": "Proxy port",
                    "description": "TCP port (80 when blank).",
                },
                "user": {"type": "string", "title": "Proxy user", "description": "For Basic authentication."},
                "password": {
                    "type": "string",
                    "writeOnly": True,
                    "title": "Proxy password",
                    "description": "For Basic authentication.",
                },
                "non_proxy_hosts": {
                    "type": "string",
                    "title": "Non-proxy hosts",
                    "description": "Hosts reached directly: |-separated, * wildcards.",
                },
            },
        },
        "timeouts": {
            "title": "Network time-outs",
            "description": "The runtime's defaults, used by connections whose time-outs are blank or negative.",
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "connect_ms": {**_TIMEOUT, "title": "Connect time-out (ms)"},
                "read_ms": {**_TIMEOUT, "title": "Read time-out (ms)"},
            },
        },
        "ca_bundle": {
            "type": "string",
            "minLength": 1,
            "title": "CA bundle",
            "description": "PEM file of trusted CA certificates, relative to the config file.",
        },
        "callback_url": {
            "type": "string",
            "minLength": 1,
            "title": "OAuth callback URL",
            "description": "The redirect URL registered with the identity provider.",
        },
    },
}
"""The ``runtime`` section's JSON Schema."""


class ConfigFileError(ConnectorError):
    """The config file cannot be used: unreadable, not JSON, a reference that does not resolve, a bad runtime field.

    :param path: the config file.
    :param problems: what is wrong, each naming its field.
    """

    failure_type = FailureType.CONFIG

    def __init__(self, path: Path, problems: list[FieldError]) -> None:
        self.path = path
        self.problems = tuple(problems)
        if len(problems) == 1:
            text = f"{path}: {problems[0]}"
        else:
            text = f"{path}:\n" + "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(text, field=problems[0].path if problems else None)


@dataclass(frozen=True)
class HostConfig:
    """A loaded config.

    :param settings: ``{"connection": ..., "oauth2": ...}`` (and anything else the file had besides ``runtime``),
        references resolved, for the ``connect`` hook.
    :param context: the runtime context built from the ``runtime`` section.
    :param secrets: every value that came from a reference or sits under a secret-looking key: output is scrubbed
        of them.
    """

    settings: Mapping[str, Any]
    context: RuntimeContext
    secrets: frozenset[str]

    def __repr__(self) -> str:
        return f"HostConfig(parts={sorted(self.settings)!r}, secrets={len(self.secrets)})"


def resolve_references(
    value: Any, *, environ: Mapping[str, str], base_dir: Path, path: str = "", resolved: set[str] | None = None
) -> tuple[Any, list[FieldError]]:
    """Replace every ``{"$env": NAME}`` and ``{"$file": path}`` in a JSON value.

    :param value: the value.
    :param environ: the environment to read variables from.
    :param base_dir: what relative ``$file`` paths are relative to.
    :param path: the field path of ``value``, for messages.
    :param resolved: collects the substituted values (secrets, for scrubbing output).
    :returns: the resolved copy, and a problem for each reference that does not resolve.
    """
    found = resolved if resolved is not None else set()
    problems: list[FieldError] = []
    if isinstance(value, Mapping):
        if set(value) & {"$env", "$file"}:
            return _resolve_one(value, environ, base_dir, path, found, problems), problems
        copy: dict[str, Any] = {}
        for key, item in value.items():
            copy[key], inner = resolve_references(
                item, environ=environ, base_dir=base_dir, path=field_path(path, [str(key)]), resolved=found
            )
            problems += inner
        return copy, problems
    if isinstance(value, list):
        items = []
        for index, item in enumerate(value):
            resolved_item, inner = resolve_references(
                item, environ=environ, base_dir=base_dir, path=field_path(path, [index]), resolved=found
            )
            items.append(resolved_item)
            problems += inner
        return items, problems
    return value, problems


def _resolve_one(
    reference: Mapping[str, Any],
    environ: Mapping[str, str],
    base_dir: Path,
    path: str,
    found: set[str],
    problems: list[FieldError],
) -> Any:
    where = path or "the file"
    if len(reference) != 1 or not isinstance(next(iter(reference.values())), str):
        problems.append(FieldError(where, 'a reference must be exactly {"$env": "NAME"} or {"$file": "path"}'))
        return None
    if "$env" in reference:
        name = reference["$env"]
        if name not in environ:
            problems.append(FieldError(where, f"refers to the environment variable {name}, which is not set"))
            return None
        value = environ[name]
    else:
        target = Path(reference["$file"]).expanduser()
        target = target if target.is_absolute() else base_dir / target
        try:
            value = target.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as error:
            problems.append(FieldError(where, f"refers to the file {target}, which cannot be read ({error.strerror})"))
            return None
    if value:
        found.add(value)
    return value


def load_config_file(
    path: str | Path, *, environ: Mapping[str, str] | None = None, token_store: TokenStore | None = None
) -> HostConfig:
    """Load a config file.

    :param path: the JSON file.
    :param environ: the environment for ``$env`` references; ``os.environ`` by default.
    :param token_store: the context's token store; the default in-memory store when ``None``.
    :returns: the settings for ``connect`` and the runtime context.
    :raises ConfigFileError: when the file cannot be read or parsed, a reference does not resolve, or the runtime
        section is invalid; every problem is listed.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigFileError(file, [FieldError("file", f"cannot be read ({error.strerror})")]) from None
    try:
        data = json.loads(text)
    except ValueError as error:
        raise ConfigFileError(file, [FieldError("file", f"is not valid JSON ({error})")]) from None
    return load_config(data, origin=file, base_dir=file.resolve().parent, environ=environ, token_store=token_store)


def load_config(
    data: Any,
    *,
    origin: Path,
    base_dir: Path,
    environ: Mapping[str, str] | None = None,
    token_store: TokenStore | None = None,
) -> HostConfig:
    """Load a config already parsed from JSON (a file's content, or the same object handed over another way).

    :param data: the parsed JSON.
    :param origin: where it came from, the first word of every message (a file, or e.g. ``options.settings``).
    :param base_dir: what relative paths (``$file``, ``ca_bundle``) are relative to.
    :param environ: the environment for ``$env`` references; ``os.environ`` by default.
    :param token_store: the context's token store; the default in-memory store when ``None``.
    :returns: the settings for ``connect`` and the runtime context.
    :raises ConfigFileError: as :func:`load_config_file`.
    """
    if not isinstance(data, Mapping):
        raise ConfigFileError(origin, [FieldError("file", "must hold a JSON object with connection and oauth2")])
    found: set[str] = set()
    resolved, problems = resolve_references(
        data, environ=os.environ if environ is None else environ, base_dir=base_dir, resolved=found
    )
    found |= secret_values(resolved)
    runtime_raw = resolved.pop("runtime", None) or {}
    problems += schema_field_errors(runtime_raw, RUNTIME_SCHEMA, "runtime")
    if problems:
        raise ConfigFileError(origin, sorted(problems, key=lambda problem: problem.path))
    context = _context(runtime_raw, base_dir, token_store)
    return HostConfig(settings=resolved, context=context, secrets=frozenset(found))


def _context(runtime: Mapping[str, Any], base_dir: Path, token_store: TokenStore | None) -> RuntimeContext:
    proxy_raw: Mapping[str, Any] = runtime.get("proxy") or {}
    password = proxy_raw.get("password")
    proxy = ProxySettings(
        host=proxy_raw.get("host"),
        port=int(proxy_raw.get("port", 80)),
        user=proxy_raw.get("user") or None,
        password=Secret(password) if password else None,
        non_proxy_hosts=str(proxy_raw.get("non_proxy_hosts", "")),
    )
    timeouts_raw: Mapping[str, Any] = runtime.get("timeouts") or {}
    bundle = runtime.get("ca_bundle")
    if bundle:
        bundle_path = Path(bundle).expanduser()
        bundle = str(bundle_path if bundle_path.is_absolute() else base_dir / bundle_path)
    optional: dict[str, Any] = {"token_store": token_store} if token_store is not None else {}
    return RuntimeContext(
        proxy=proxy,
        network_timeouts=NetworkTimeouts(timeouts_raw.get("connect_ms"), timeouts_raw.get("read_ms")),
        ca_bundle=bundle,
        callback_url=runtime.get("callback_url"),
        **optional,
    )
