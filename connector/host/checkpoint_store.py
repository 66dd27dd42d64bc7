"""The reference host's checkpoint store: incremental-read checkpoints (change-tracking delta links) in one JSON
file, so that ``connector run ... query`` with change tracking resumes where the last run ended.

Each save rewrites the file atomically (a temporary file, then a rename) under an exclusive lock, so a run killed
midway leaves the previous checkpoint intact and two runs do not lose each other's keys. A delta link is not a
secret, but it points into the tenant: the file is created with mode 0600 like the token store.

A file that cannot be read (garbled, truncated, not a JSON object, a directory, unreadable) is a configuration
error naming the file and what to do, never a transient one a host would retry, and it is never overwritten: a save
refuses too, so a damaged file is kept for the user to inspect or remove.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from connector.errors import ConfigError
from connector.host.token_store import default_store_path, exclusive_lock, write_private

__all__ = ["FileCheckpointStore", "default_checkpoint_path"]


def default_checkpoint_path() -> Path:
    """:returns: the checkpoint store's default location (``$CONNECTOR_HOME/checkpoints.json``)."""
    return default_store_path().with_name("checkpoints.json")


class FileCheckpointStore:
    """Checkpoints by key, in a JSON file.

    :param path: the file; :func:`default_checkpoint_path` when ``None``.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_checkpoint_path()

    def _read(self) -> dict[str, Any]:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8") or "{}")
        except OSError as error:
            raise self._damaged(f"cannot be read ({error.strerror or 'unreadable'})") from None
        except ValueError:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise self._damaged("is not valid JSON (damaged or truncated)") from None
        if not isinstance(data, dict):
            raise self._damaged("does not hold a JSON object of checkpoints")
        return data

    def _damaged(self, what: str) -> ConfigError:
        return ConfigError.single(
            "checkpoint_store",
            f"the checkpoint file {self.path} {what}. It was left as it is. Remove it (or restore it from a backup) "
            "to start incremental reads again with a full read",
        )

    def load(self, key: str) -> str | None:
        """:returns: the last committed checkpoint for ``key``, or ``None``."""
        with exclusive_lock(self.path):
            value = self._read().get(key)
        return value if isinstance(value, str) else None

    def save(self, key: str, checkpoint: str) -> None:
        """Commit a checkpoint for ``key``."""
        with exclusive_lock(self.path):
            data = self._read()
            data[key] = checkpoint
            write_private(self.path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())

    def __repr__(self) -> str:
        return f"FileCheckpointStore(path={str(self.path)!r})"
