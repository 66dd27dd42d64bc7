"""The files shipped inside the package: the manifest and the JSON Schemas.

They live at the repository root (``manifest.json``, ``schemas/``) and ship inside the wheel; this module reads them
through :mod:`importlib.resources`, never through repository paths, so an installed connector finds them wherever
pip put it. Each file is parsed once per process.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

__all__ = ["load_json_resource", "load_manifest", "load_schema"]

_PACKAGE = "connector"


@functools.cache
def load_json_resource(relative_path: str) -> Any:
    """Read a JSON file shipped in the package.

    :param relative_path: path below the package, e.g. ``schemas/connection.schema.json``.
    :returns: the parsed JSON. Callers must not mutate it (it is cached).
    :raises FileNotFoundError: when the package does not ship that file.
    """
    resource = resources.files(_PACKAGE).joinpath(relative_path)
    with resource.open("r", encoding="utf-8") as handle:
        return json.load(handle)


def load_manifest() -> dict[str, Any]:
    """:returns: the connector's manifest (``manifest.json``)."""
    manifest: dict[str, Any] = load_json_resource("manifest.json")
    return manifest


def load_schema(name: str) -> dict[str, Any]:
    """Read one of the connector's JSON Schemas.

    :param name: ``connection``, ``oauth2``, ``manifest`` or ``operations/<operation>``.
    :returns: the schema.
    """
    schema: dict[str, Any] = load_json_resource(f"schemas/{name}.schema.json")
    return schema
