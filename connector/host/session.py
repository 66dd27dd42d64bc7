"""Open a connection the way every reference-host command does: read the config file, lend the encrypted token
store and the checkpoint file as the runtime context's stores, and call ``connect`` through the entry point.

Not for rendering or arguments: the commands in :mod:`connector.host.cli` do that.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from connector.errors import ConfigError
from connector.host.checkpoint_store import FileCheckpointStore
from connector.host.config_file import HostConfig, load_config_file
from connector.host.facade import ConnectorHost
from connector.host.redis_token_store import RedisTokenStore
from connector.host.token_store import EncryptedTokenStore, open_token_store
from connector.results import AuthorizationStart, Connection

__all__ = ["OpenSession", "begin_sign_in", "open_session"]


@dataclass(frozen=True)
class OpenSession:
    """A connected host session.

    :param host: the facade over the installed connectors.
    :param connector_id: the connector in use.
    :param config: the loaded config (its ``secrets`` are scrubbed from output).
    :param connection: the live connection.
    :param token_store: the encrypted token store lent to the connection.
    """

    host: ConnectorHost
    connector_id: str
    config: HostConfig
    connection: Connection
    token_store: EncryptedTokenStore | RedisTokenStore


def open_session(
    config_path: str | Path,
    connector_id: str,
    *,
    token_store_path: str | Path | None = None,
    callback_url: str | None = None,
    host: ConnectorHost | None = None,
) -> OpenSession:
    """Load a config and connect.

    :param config_path: the config file.
    :param connector_id: the connector to use.
    :param token_store_path: the encrypted token store: a file, or a Redis URL
        (:func:`~connector.host.token_store.open_token_store`); the default file when ``None``.
    :param callback_url: overrides the runtime section's OAuth callback URL (the loopback listener's).
    :param host: an existing host facade, or ``None`` to load the installed connectors.
    :returns: the session.
    :raises ConfigFileError: when the config file is unreadable or a reference does not resolve.
    :raises ConfigError: when ``connect`` refuses the settings.
    """
    store = open_token_store(token_store_path)
    config = load_config_file(config_path, token_store=store)
    # Incremental reads resume where the last run ended: checkpoints persist beside a file token store (in the
    # connector's home with a Redis one: a checkpoint belongs to one machine's runs).
    beside = store.path.with_name("checkpoints.json") if isinstance(store, EncryptedTokenStore) else None
    context = dataclasses.replace(config.context, checkpoint_store=FileCheckpointStore(beside))
    if callback_url is not None:
        context = dataclasses.replace(context, callback_url=callback_url)
    config = dataclasses.replace(config, context=context)
    facade = host or ConnectorHost()
    connection = facade.connect(connector_id, config.settings, config.context)
    return OpenSession(facade, connector_id, config, connection, store)


def begin_sign_in(session: OpenSession) -> AuthorizationStart | None:
    """Start the connection's sign-in the way every reference host does: the grant's ``start`` step, or, when the
    connector refuses it because of the grant type (client credentials has no start step), the ``token`` step at
    once. A host reads nothing of a connection's settings (docs/decisions.md D62); the refusal says which field.

    :param session: the open session.
    :returns: where to send the person to sign in, or ``None`` when tokens were obtained and stored.
    :raises ConnectorError: the start step's refusal of any other setting (a missing authorization URL ...), or
        the token step's failure.
    """
    host, connector_id, connection = session.host, session.connector_id, session.connection
    try:
        start = host.authorize(connector_id, connection, "start")
    except ConfigError as refusal:
        if not all(error.path.endswith("grant_type") for error in refusal.errors):
            raise
        host.authorize(connector_id, connection, "token")
        return None
    return start if isinstance(start, AuthorizationStart) else None
