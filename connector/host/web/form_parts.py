"""The tabs of the web host's form: each installed connector's shipped JSON Schemas with their UI schemas, and the
host's own Runtime tab.

A connector names its schemas in its manifest (``schemas.connection``, ``schemas.oauth2``); a UI schema (rjsf's
``uiSchema`` convention) is found through the manifest too: any manifest entry that names a ``*.ui.json`` file for
the tab (``{"ui_schemas": {"oauth2": ...}}``, ``{"schemas": {"oauth2_ui": ...}}`` ...), else the file beside the schema
(``oauth2.schema.json`` → ``oauth2.ui.json``) when the connector ships one. A connector without UI schemas is still
rendered, from its schemas alone. Secrets the UI schema leaves in clear text are masked (:func:`with_secret_widgets`).
The Runtime tab is the host's: the config file's ``runtime`` section
(:data:`~connector.host.config_file.RUNTIME_SCHEMA`), without the OAuth callback URL, which is the web host's own.

Not for reading or writing config values (:mod:`connector.host.web.config_form`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from connector.host.config_file import RUNTIME_SCHEMA
from connector.host.facade import ConnectorHost
from connector.host.loader import read_package_json

__all__ = ["CONNECTOR_TABS", "FormPart", "form_parts", "runtime_form_schema", "ui_schema_path", "with_secret_widgets"]

CONNECTOR_TABS: Final = (("connection", "Connection"), ("oauth2", "OAuth 2.0"))
"""The connector's tabs: manifest schema name and title."""

_UI_SUFFIX: Final = ".ui.json"


@dataclass(frozen=True)
class FormPart:
    """One tab of the form.

    :param name: the config file's section (``connection``, ``oauth2``, ``runtime``).
    :param title: the tab's title.
    :param schema: its JSON Schema.
    :param ui_schema: its UI schema, or ``None`` when there is none.
    """

    name: str
    title: str
    schema: Mapping[str, Any]
    ui_schema: Mapping[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        """:returns: the tab as the page receives it."""
        return {"name": self.name, "title": self.title, "schema": self.schema, "ui_schema": self.ui_schema}


def _strings(node: Any, keys: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str]]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield from _strings(value, (*keys, str(key)))
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value, keys)
    elif isinstance(node, str):
        yield keys, node


def _stem(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return name.split(".", 1)[0]


def ui_schema_path(manifest: Mapping[str, Any], name: str) -> str | None:
    """Find the UI schema of one tab through a manifest.

    :param manifest: the connector's manifest.
    :param name: the tab's schema name (``oauth2``).
    :returns: the package-relative path of its UI schema as the manifest names it, the conventional file beside the
        schema (``<stem>.ui.json``) when the manifest names none, or ``None`` when the manifest names no schema.
    """
    schema_path = (manifest.get("schemas") or {}).get(name)
    schema_stem = _stem(schema_path) if isinstance(schema_path, str) else name
    for keys, value in _strings(manifest):
        if not value.endswith(_UI_SUFFIX):
            continue
        named_for_tab = any(key == name or key.removesuffix("_ui").removesuffix("-ui") == name for key in keys)
        if named_for_tab or _stem(value) == schema_stem:
            return value
    if not isinstance(schema_path, str):
        return None
    folder = schema_path.rsplit("/", 1)[0] + "/" if "/" in schema_path else ""
    return f"{folder}{schema_stem}{_UI_SUFFIX}"


def runtime_form_schema() -> dict[str, Any]:
    """:returns: the Runtime tab's schema: the config file's ``runtime`` schema without ``callback_url`` (the web host
    serves its own callback) and with the proxy's host required only by the server's check on save, so that an empty
    proxy section does not block saving.
    """
    schema = copy.deepcopy(dict(RUNTIME_SCHEMA))
    properties = schema["properties"]
    properties.pop("callback_url", None)
    proxy = properties["proxy"]
    proxy.pop("required", None)
    # A default would make a renderer fill the proxy section with its port, as if a proxy had been configured.
    proxy["properties"]["port"].pop("default", None)
    return schema


RUNTIME_UI_SCHEMA: Final[Mapping[str, Any]] = {
    "ui:order": ["proxy", "timeouts", "ca_bundle"],
    "proxy": {
        "ui:order": ["host", "port", "user", "password", "non_proxy_hosts"],
        "password": {"ui:widget": "password"},
        "non_proxy_hosts": {"ui:placeholder": "*.corp.example|localhost"},
    },
    "ca_bundle": {"ui:placeholder": "/etc/ssl/certs/corporate-ca.pem"},
}


_BRANCHES: Final = ("allOf", "anyOf", "oneOf")
_CONDITIONALS: Final = ("if", "then", "else")


def with_secret_widgets(schema: Mapping[str, Any], ui_schema: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Mask every secret the UI schema leaves unmasked.

    Renderers do not honour ``writeOnly`` for display; a host can. Every string property marked ``writeOnly`` that
    has no widget in the UI schema and no ``format`` (rjsf draws ``format: password`` masked by itself) gets
    rjsf's ``password`` widget; properties in conditional branches and ``$defs`` are found too, at the UI schema's
    place for their object, as rjsf looks them up (for option *i* of a ``oneOf``/``anyOf``, the UI schema's own
    ``oneOf``/``anyOf`` entry *i* when it has one).

    :param schema: a tab's schema.
    :param ui_schema: its UI schema, or ``None``.
    :returns: a copy of the UI schema with the widgets added; ``None`` when there was none and none was needed.
    """
    result = copy.deepcopy(dict(ui_schema or {}))
    defs: Mapping[str, Any] = schema.get("$defs") or {}
    added = False

    def resolve(node: Any) -> Any:
        ref = node.get("$ref") if isinstance(node, Mapping) else None
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return {**(defs.get(ref.removeprefix("#/$defs/")) or {}), **{k: v for k, v in node.items() if k != "$ref"}}
        return node

    def walk(node: Any, ui: dict[str, Any], depth: int) -> None:
        nonlocal added
        node = resolve(node)
        if not isinstance(node, Mapping) or depth > 20:
            return
        for keyword in _BRANCHES:
            option_uis = ui.get(keyword) if keyword != "allOf" else None
            for index, branch in enumerate(node.get(keyword) or ()):
                # rjsf draws option i of a oneOf/anyOf with the UI schema's own oneOf/anyOf entry i when it has one.
                if isinstance(option_uis, list) and index < len(option_uis) and isinstance(option_uis[index], dict):
                    walk(branch, option_uis[index], depth + 1)
                else:
                    walk(branch, ui, depth + 1)
        for keyword in _CONDITIONALS:
            walk(node.get(keyword), ui, depth + 1)
        for branch in (node.get("dependentSchemas") or {}).values():
            walk(branch, ui, depth + 1)
        for name, prop in (node.get("properties") or {}).items():
            prop = resolve(prop)
            if not isinstance(prop, Mapping):
                continue
            existing = ui.get(name)
            field_ui: dict[str, Any] = existing if isinstance(existing, dict) else {}
            if prop.get("writeOnly") and "format" not in prop and "ui:widget" not in field_ui:
                ui[name] = {**field_ui, "ui:widget": "password"}
                added = True
                continue
            if "properties" in prop or any(keyword in prop for keyword in (*_BRANCHES, *_CONDITIONALS)):
                ui[name] = field_ui
                walk(prop, field_ui, depth + 1)
            items = prop.get("items")
            if isinstance(items, Mapping):
                ui[name] = field_ui
                existing_items = field_ui.get("items")
                item_ui: dict[str, Any] = existing_items if isinstance(existing_items, dict) else {}
                field_ui["items"] = item_ui
                walk(items, item_ui, depth + 1)

    walk(schema, result, 0)
    if ui_schema is None and not added:
        return None
    return _without_empty(result)


def _without_empty(ui: dict[str, Any]) -> dict[str, Any]:
    pruned = {key: _pruned(value) for key, value in ui.items()}
    return {key: value for key, value in pruned.items() if value != {}}


def _pruned(value: Any) -> Any:
    if isinstance(value, dict):
        return _without_empty(value)
    if isinstance(value, list):  # a oneOf/anyOf list keeps every entry: its place says which option it is for
        return [_pruned(item) for item in value]
    return value


def form_parts(host: ConnectorHost, connector_id: str) -> list[FormPart]:
    """Collect every tab of one connector's form.

    :param host: the facade over the installed connectors.
    :param connector_id: the connector.
    :returns: Connection, OAuth 2.0 (each from the connector's files) and Runtime (the host's).
    :raises UnknownConnectorError: when no connector has that id.
    :raises ConnectorError: when the connector ships no schema for a tab.
    """
    connector = host.connector(connector_id)
    manifest = connector.manifest or {}
    plugin = host.manager.get_plugin(connector_id)
    parts = []
    for name, title in CONNECTOR_TABS:
        schema = host.schema(connector_id, name)
        relative = ui_schema_path(manifest, name)
        ui_schema = read_package_json(plugin, relative) if relative else None
        parts.append(FormPart(name, str(schema.get("title") or title), schema, with_secret_widgets(schema, ui_schema)))
    parts.append(FormPart("runtime", "Runtime", runtime_form_schema(), RUNTIME_UI_SCHEMA))
    return parts
