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
    :param applies_to: the titles of the form's sections (sign-in methods, key formats) the field belongs to; empty
        when it belongs to all.
    """

    path: str
    title: str
    type: str
    default: str
    secret: bool
    description: str
    applies_to: tuple[str, ...] = ()


def _type_of(schema: Mapping[str, Any]) -> str:
    if "const" in schema:
        return json.dumps(schema["const"])
    if "oneOf" in schema and all("const" in option for option in schema["oneOf"]):
        return " | ".join(str(option["const"]) for option in schema["oneOf"])
    if "enum" in schema:
        return " | ".join(str(value) for value in schema["enum"])
    kind = schema.get("type", "object" if "$ref" not in schema else "list")
    return " or ".join(kind) if isinstance(kind, list) else str(kind)


def _sections(schema: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    options = schema.get("oneOf") or schema.get("anyOf") or []
    return [option for option in options if isinstance(option, Mapping) and "properties" in option]


def setting_fields(schema: Mapping[str, Any], prefix: str) -> Iterator[SettingField]:
    """Walk a form schema's properties in the schema's order, then those of its ``oneOf`` sections.

    :param schema: a connection or OAuth schema.
    :param prefix: the part's name (``connection``, ``oauth2``).
    :returns: one :class:`SettingField` per property, nested objects flattened. A property of several sections is
        listed once, with every value it takes (``grant_type``: ``"authorization_code" | "client_credentials"``) and
        the sections it belongs to.
    """
    sections = _sections(schema)
    found: dict[str, tuple[Mapping[str, Any], list[str], list[str]]] = {}
    for section in [schema, *sections]:
        title = "" if section is schema else str(section.get("title", ""))
        for name, prop in (section.get("properties") or {}).items():
            _, types, titles = found.setdefault(name, (prop, [], []))
            if _type_of(prop) not in types:
                types.append(_type_of(prop))
            if title:
                titles.append(title)
    for name, (prop, types, titles) in found.items():
        path = f"{prefix}.{name}"
        default = json.dumps(prop["default"]) if "default" in prop and "const" not in prop else ""
        applies = tuple(titles) if sections and len(titles) < len(sections) else ()
        yield SettingField(
            path,
            prop.get("title", name),
            " | ".join(types),
            default,
            bool(prop.get("writeOnly")),
            prop.get("description", ""),
            applies,
        )
        if prop.get("type") == "object" and ("properties" in prop or _sections(prop)):
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
            "| Setting | Title | Type | Default | Secret | Applies to |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| `{f['path']}` | {f['title']} | {f['type']} | {f['default']} | {'yes' if f['secret'] else ''} "
            f"| {'; '.join(f['applies_to']) or 'all'} |"
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
        applies = f"  [{'; '.join(f['applies_to'])}]" if f["applies_to"] else ""
        lines.append(f"    {f['path']:<{width}}  {f['title']}{marks}: {f['type']}{default}{applies}")
    return "\n".join(lines)
