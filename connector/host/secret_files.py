"""Where the reference host keeps the secrets a person types into a form: one file per secret, only its owner can
read it, referenced from the config file as ``{"$file": path}``.

``connector form`` and ``connector ui`` both save secrets here, so a config written by either is read the same way
by :mod:`connector.host.config_file`. Not for tokens (:mod:`connector.host.token_store`).
"""

from __future__ import annotations

import os
from pathlib import Path

from connector.host.token_store import default_store_path

__all__ = ["secrets_dir_for", "write_secret_file"]


def secrets_dir_for(config_path: Path | None, connector_id: str) -> Path:
    """:returns: the folder for a config's secret files: ``<config>.secrets`` beside the config file, or
    ``$CONNECTOR_HOME/secrets/<connector id>`` when the config has no file.
    """
    if config_path is not None:
        return config_path.with_name(config_path.name + ".secrets")
    return default_store_path().parent / "secrets" / connector_id


def write_secret_file(secrets_dir: Path, path: str, value: str) -> dict[str, str]:
    """Save one secret in a file only its owner can read.

    :param secrets_dir: the config's secrets folder (created with mode 0700).
    :param path: the field's path (``oauth2.client_secret``); it names the file, so saving the field again replaces
        the same file and the reference stays the same.
    :param value: the secret.
    :returns: the reference to put in the config: ``{"$file": "<secrets_dir>/oauth2_client_secret"}``.
    """
    secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = secrets_dir / path.replace(".", "_")
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(value)
    return {"$file": str(target)}
