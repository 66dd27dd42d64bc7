"""The reference host's checkpoint store: incremental-read checkpoints (change-tracking delta links) in one JSON
file, so that ``connector run ... query`` with change tracking resumes where the last run ended.

Each save rewrites the file atomically (a temporary file, then a rename) under an exclusive lock, so a run killed
midway leaves the previous checkpoint intact and two runs do not lose each other's keys. A delta link is not a
secret, but it points into the tenant: the file is created with mode 0600 like the token store.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
        data: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8") or "{}")
        return data

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
