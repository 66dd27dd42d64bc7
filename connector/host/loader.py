"""Discover, filter and register the installed connectors.

:func:`get_plugin_manager` adds the hook specifications, loads every entry point of the
``integration_runtime.connectors`` group (minus those the allow-list or block-list environment variables exclude),
registers each under its connector id and calls ``check_pending()`` so a misspelt hook implementation fails loudly.
:func:`installed_connectors` describes what was loaded: id, distribution, version, hooks and manifest.

This module does not call hooks; :mod:`connector.host.facade` does.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata, resources
from types import ModuleType
from typing import Any, Final

import pluggy

from connector import hookspecs

__all__ = [
    "ALLOW_ENV",
    "BLOCK_ENV",
    "ConnectorPluginManager",
    "InstalledConnector",
    "get_plugin_manager",
    "installed_connectors",
    "read_manifest",
    "read_package_json",
]

ALLOW_ENV: Final = "INTEGRATION_RUNTIME_CONNECTORS"
"""Comma-separated connector ids; when set, only these are loaded."""

BLOCK_ENV: Final = "INTEGRATION_RUNTIME_BLOCK_CONNECTORS"
"""Comma-separated connector ids that are never loaded."""

HOOK_NAMES: Final = ("connect", "authorize", "test", "execute_operation", "browse")

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InstalledConnector:
    """One connector the host loaded.

    :param id: the connector id (the entry point's name).
    :param module: the plugin module's name.
    :param distribution: the distribution that installed it, when known.
    :param version: that distribution's version.
    :param hooks: the hooks it implements.
    :param manifest: its ``manifest.json``, when its package ships one.
    """

    id: str
    module: str
    distribution: str | None
    version: str | None
    hooks: tuple[str, ...]
    manifest: Mapping[str, Any] | None = field(default=None, repr=False)


def _id_list(value: str | None) -> set[str]:
    return {item.strip() for item in (value or "").split(",") if item.strip()}


class ConnectorPluginManager(pluggy.PluginManager):
    """A pluggy manager that also remembers which entry point each connector came from."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT_NAME)
        self.entry_points: dict[str, metadata.EntryPoint] = {}


def get_plugin_manager(
    *, extra_plugins: Mapping[str, object] | None = None, environ: Mapping[str, str] | None = None
) -> ConnectorPluginManager:
    """Build a plugin manager with every allowed connector loaded.

    :param extra_plugins: connectors to register besides the entry points, by id (tests, embedded hosts).
    :param environ: where to read :data:`ALLOW_ENV` and :data:`BLOCK_ENV`; defaults to ``os.environ``.
    :returns: the plugin manager; each plugin is registered under its connector id.
    :raises pluggy.PluginValidationError: when a connector implements a hook that is not in the contract.
    """
    env = os.environ if environ is None else environ
    allowed = _id_list(env.get(ALLOW_ENV))
    blocked = _id_list(env.get(BLOCK_ENV))
    manager = ConnectorPluginManager()
    manager.add_hookspecs(hookspecs)
    candidates: dict[str, tuple[object, metadata.EntryPoint | None]] = {}
    for entry_point in metadata.entry_points(group=hookspecs.ENTRY_POINT_GROUP):
        candidates.setdefault(entry_point.name, (entry_point, entry_point))
    for connector_id, plugin in (extra_plugins or {}).items():
        candidates[connector_id] = (plugin, None)
    for connector_id, (source, origin) in sorted(candidates.items()):
        if (allowed and connector_id not in allowed) or connector_id in blocked:
            _log.debug("connector %s not loaded: excluded by %s/%s", connector_id, ALLOW_ENV, BLOCK_ENV)
            continue
        plugin = origin.load() if origin is not None else source
        manager.register(plugin, name=connector_id)
        if origin is not None:
            manager.entry_points[connector_id] = origin
    manager.check_pending()
    return manager


def read_package_json(plugin: object, relative_path: str) -> dict[str, Any] | None:
    """Read a JSON file shipped in a plugin's top-level package (its manifest, its schemas).

    :param plugin: the registered plugin (a module, normally).
    :param relative_path: the path below the package, as the manifest names it.
    :returns: the parsed file, or ``None`` when the package does not ship it.
    """
    module_name = plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__module__
    package = module_name.split(".", 1)[0]
    try:
        resource = resources.files(package).joinpath(relative_path)
        if not resource.is_file():
            return None
        loaded: dict[str, Any] = json.loads(resource.read_text(encoding="utf-8"))
    except (ModuleNotFoundError, OSError, ValueError):
        return None
    return loaded


def read_manifest(plugin: object) -> dict[str, Any] | None:
    """:returns: the ``manifest.json`` shipped in a plugin's top-level package, or ``None``."""
    return read_package_json(plugin, "manifest.json")


def installed_connectors(manager: ConnectorPluginManager) -> list[InstalledConnector]:
    """Describe every registered connector.

    :param manager: a manager from :func:`get_plugin_manager`.
    :returns: one entry per connector, sorted by id.
    """
    found = []
    for connector_id, plugin in sorted(manager.list_name_plugin(), key=lambda item: str(item[0])):
        if plugin is None or connector_id is None:
            continue
        entry_point = manager.entry_points.get(connector_id)
        distribution = entry_point.dist if entry_point is not None else None
        hooks = tuple(name for name in HOOK_NAMES if callable(getattr(plugin, name, None)))
        module = plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__module__
        found.append(
            InstalledConnector(
                id=connector_id,
                module=module,
                distribution=distribution.name if distribution is not None else None,
                version=distribution.version if distribution is not None else None,
                hooks=hooks,
                manifest=read_manifest(plugin) if entry_point is not None else None,
            )
        )
    return found
