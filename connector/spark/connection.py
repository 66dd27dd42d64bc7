"""Open a connection on a Spark driver or executor the way a host does: settings from the options, the connector
through its entry point, ``connect`` through the reference host's facade.

Every Spark task opens its own connection (a Python worker cannot share one with another), so each signs in on its
own. That is safe with client credentials (a secret or a certificate: nothing is stored between tokens); a grant
that keeps a refresh token would have every task refresh the same one, which a service that detects reuse revokes,
so the data source refuses it until the token store can be shared safely across machines. Not for the hooks' use
(that is the reader's and the writer's), nor for parsing the other options (:mod:`connector.spark.options`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from connector.errors import ConfigError
from connector.host.config_file import HostConfig, load_config, load_config_file
from connector.host.facade import ConnectorHost
from connector.results import BrowseRequest, BrowseResult, Connection, OperationResult
from connector.spark.options import ConnectionOptions

__all__ = ["CONNECTOR_ID", "OpenConnection", "open_connection"]

CONNECTOR_ID: Final = "dynamics365-ce"
_GRANTS: Final = frozenset({"client_credentials", "managed_identity"})


@dataclass
class OpenConnection:
    """A connection through the reference host's facade, with the two hooks the data source uses.

    :param host: the facade over the installed connectors.
    :param connection: the live connection.
    """

    host: ConnectorHost
    connection: Connection

    def run(
        self, operation: str, options: Mapping[str, Any], documents: Iterable[Mapping[str, Any]]
    ) -> Iterator[OperationResult]:
        """:returns: the results of ``execute_operation``, streamed."""
        return self.host.execute_operation(CONNECTOR_ID, self.connection, operation, options, documents)

    def describe(self, entity_set: str) -> BrowseResult:
        """:returns: ``browse``'s profiles of one table."""
        return self.host.browse(CONNECTOR_ID, self.connection, BrowseRequest("describe", object_type=entity_set))

    def close(self) -> None:
        """Close the facade."""
        self.host.close()

    def __enter__(self) -> OpenConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def load_settings(options: ConnectionOptions) -> HostConfig:
    """Read the connection settings from the options: a config file, or the same object as JSON.

    ``$env`` and ``$file`` references are resolved where this runs (on each executor, for a task), relative paths
    against the config file's folder, or the working directory for ``settings``.

    :param options: where the settings are.
    :returns: the settings and the runtime context.
    :raises ConfigFileError: when the file or a reference cannot be read.
    :raises ConfigError: for a grant the data source cannot use on many machines.
    """
    if options.config_path is not None:
        config = load_config_file(options.config_path)
    else:
        data = json.loads(options.settings_json or "{}")
        config = load_config(data, origin=Path("options.settings"), base_dir=Path.cwd())
    grant = (config.settings.get("oauth2") or {}).get("grant_type")
    if grant not in _GRANTS:
        raise ConfigError.single(
            "oauth2.grant_type",
            f"must be client_credentials or managed_identity for the Spark data source (got {grant!r}): every Spark "
            "task signs in on its own, and a refresh token shared by many tasks would be refreshed by all of them "
            "at once",
        )
    return config


def open_connection(options: ConnectionOptions) -> OpenConnection:
    """Connect through the connector's entry point, as a host does.

    :param options: where the settings are.
    :returns: the open connection; close it when done.
    :raises ConfigFileError: when the settings cannot be read.
    :raises ConfigError: when ``connect`` refuses them.
    """
    config = load_settings(options)
    host = ConnectorHost()
    try:
        connection = host.connect(CONNECTOR_ID, config.settings, config.context)
    except BaseException:
        host.close()
        raise
    return OpenConnection(host, connection)
