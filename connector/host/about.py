"""Describe an installed connector for people: ``connector about`` in text, JSON or Markdown.

Everything shown comes from what a host sees (the entry point, the manifest and the schemas), never from the
connector's code, so the description is exactly what another host would render.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from connector.host.loader import InstalledConnector

__all__ = ["SettingField", "render_about", "setting_fields"]

AboutFormat = Literal["text", "json", "markdown"]


@dataclass(frozen=True)
class SettingField:
    """One field of a connection form.

    :param path: dotted path (``oauth2.jwt.signature_algorithm``).
    :param title: the schema's title.
    :param type: the JSON type, or the choices.
    :param default: the default, rendered as JSON, or empty.
    :param secret: whether the field is ``writeOnly``.
    :param description: the schema's description.
    """

    path: str
    title: str
    type: str
    default: str
    secret: bool
    description: str


def _type_of(schema: Mapping[str, Any]) -> str:
    if "oneOf" in schema and all("const" in option for option in schema["oneOf"]):
        return " | ".join(str(option["const"]) for option in schema["oneOf"])
    if "enum" in schema:
        return " | ".join(str(value) for value in schema["enum"])
    kind = schema.get("type", "object" if "$ref" not in schema else "list")
    return " or ".join(kind) if isinstance(kind, list) else str(kind)


def setting_fields(schema: Mapping[str, Any], prefix: str) -> Iterator[SettingField]:
    """Walk a form schema's properties in form order.

    :param schema: a connection or OAuth schema.
    :param prefix: the part's name (``connection``, ``oauth2``).
    :returns: one :class:`SettingField` per property, nested objects flattened.
    """
    properties: Mapping[str, Any] = schema.get("properties", {})
    order = schema.get("x-form-order", list(properties))
    for name in order:
        prop = properties[name]
        path = f"{prefix}.{name}"
        default = json.dumps(prop["default"]) if "default" in prop else ""
        yield SettingField(
            path,
            prop.get("title", name),
            _type_of(prop),
            default,
            bool(prop.get("writeOnly")),
            prop.get("description", ""),
        )
        if prop.get("type") == "object" and "properties" in prop:
            yield from setting_fields(prop, path)


def _about_dict(connector: InstalledConnector, schemas: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    manifest = dict(connector.manifest or {})
    fields = [field for name, schema in schemas.items() for field in setting_fields(schema, name)]
    return {
        "id": connector.id,
        "name": manifest.get("name", connector.id),
        "version": connector.version,
        "distribution": connector.distribution,
        "description": manifest.get("description", ""),
        "module": connector.module,
        "hook_contract_version": manifest.get("hook_contract_version"),
        "hooks": list(connector.hooks),
        "operations": [op["name"] for op in manifest.get("operations", [])],
        "capabilities": manifest.get("capabilities", []),
        "auth_methods": manifest.get("auth_methods", []),
        "settings": [field.__dict__ for field in fields],
    }


def render_about(
    connector: InstalledConnector, schemas: Mapping[str, Mapping[str, Any]], output_format: AboutFormat = "text"
) -> str:
    """Render a connector's description.

    :param connector: the installed connector.
    :param schemas: its form schemas by part name.
    :param output_format: ``text``, ``json`` or ``markdown``.
    :returns: the rendered text.
    """
    about = _about_dict(connector, schemas)
    if output_format == "json":
        return json.dumps(about, indent=2)
    if output_format == "markdown":
        lines = [
            f"# {about['name']} ({about['id']} {about['version']})",
            "",
            about["description"],
            "",
            f"- Distribution: `{about['distribution']}`, module `{about['module']}`",
            f"- Hook contract {about['hook_contract_version']}: {', '.join(about['hooks'])}",
            f"- Operations: {', '.join(about['operations']) or 'none yet'}",
            f"- Authentication: {', '.join(about['auth_methods'])}",
            "",
            "| Setting | Title | Type | Default | Secret |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| `{f['path']}` | {f['title']} | {f['type']} | {f['default']} | {'yes' if f['secret'] else ''} |"
            for f in about["settings"]
        ]
        return "\n".join(lines)
    lines = [
        f"{about['name']}",
        f"  id: {about['id']}   version: {about['version']}   distribution: {about['distribution']}",
        f"  {about['description']}",
        f"  hooks ({about['hook_contract_version']}): {', '.join(about['hooks'])}",
        f"  operations: {', '.join(about['operations']) or 'none yet'}",
        f"  authentication: {', '.join(about['auth_methods'])}",
        "  settings:",
    ]
    width = max((len(f["path"]) for f in about["settings"]), default=0)
    for f in about["settings"]:
        marks = " (secret)" if f["secret"] else ""
        default = f" = {f['default']}" if f["default"] else ""
        lines.append(f"    {f['path']:<{width}}  {f['title']}{marks}: {f['type']}{default}")
    return "\n".join(lines)
