"""The reference host's encrypted token store: one file, encrypted with Fernet (AES-128-CBC + HMAC-SHA256).

The key comes from the environment variable :data:`KEY_ENV` when set (a urlsafe-base64 Fernet key), otherwise from a
key file beside the store, created once with mode 0600. The store file is also written with mode 0600, atomically
(a temporary file, then a rename), under an exclusive lock so that two CLI processes do not lose each other's
rotated refresh tokens. Its bytes contain no token: only Fernet's ciphertext.

It implements the runtime context's :class:`~connector.context.TokenStore` protocol; it does not know what a token
set contains.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

from connector.errors import ConfigError

__all__ = ["KEY_ENV", "EncryptedTokenStore", "default_store_path", "exclusive_lock", "write_private"]

KEY_ENV: Final = "CONNECTOR_TOKEN_KEY"
"""A Fernet key (urlsafe base64, 32 bytes) to use instead of the key file."""

HOME_ENV: Final = "CONNECTOR_HOME"
"""Where the reference host keeps its files; defaults to ``~/.config/dynamics365-ce-connector``."""


def default_store_path() -> Path:
    """:returns: the token store's default location (``$CONNECTOR_HOME/tokens.fernet``)."""
    home = os.environ.get(HOME_ENV) or str(Path.home() / ".config" / "dynamics365-ce-connector")
    return Path(home) / "tokens.fernet"


def write_private(path: Path, data: bytes) -> None:
    """Write a file only its owner can read, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``<path>.lock`` (between processes) while the block runs."""
    lock_path = path.with_name(path.name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(lock_path, "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


class EncryptedTokenStore:
    """Token sets by key, encrypted at rest.

    :param path: the store file.
    :param key: a Fernet key; defaults to :data:`KEY_ENV`, then to the key file ``<path>.key`` (created if missing).
    """

    def __init__(self, path: Path | None = None, key: bytes | None = None) -> None:
        from cryptography.fernet import Fernet

        self.path = path or default_store_path()
        self._lock = threading.Lock()
        self._fernet = Fernet(key or self._load_or_create_key())

    def _load_or_create_key(self) -> bytes:
        from cryptography.fernet import Fernet

        from_env = os.environ.get(KEY_ENV)
        if from_env:
            return from_env.encode()
        key_path = self.path.with_name(self.path.name + ".key")
        if not key_path.exists():
            key_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            try:
                descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process created it first: use theirs
            else:
                with os.fdopen(descriptor, "wb") as handle:
                    handle.write(Fernet.generate_key())
        return key_path.read_bytes().strip()

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        with self._lock, exclusive_lock(self.path):
            yield

    def _read_all(self) -> dict[str, Any]:
        from cryptography.fernet import InvalidToken

        if not self.path.exists():
            return {}
        try:
            plain = self._fernet.decrypt(self.path.read_bytes())
        except InvalidToken:
            raise ConfigError.single(
                "token store key",
                f"cannot decrypt {self.path}: the key ({KEY_ENV} or the key file) is not the one it was written with",
            ) from None
        data: dict[str, Any] = json.loads(plain)
        return data

    def load(self, key: str) -> Mapping[str, Any] | None:
        """:returns: the token set stored under ``key``, or ``None``."""
        with self._exclusive():
            item = self._read_all().get(key)
        return dict(item) if isinstance(item, Mapping) else None

    def save(self, key: str, token_set: Mapping[str, Any]) -> None:
        """Store a token set under ``key``, replacing the previous one, before the caller uses it."""
        with self._exclusive():
            data = self._read_all()
            data[key] = dict(token_set)
            write_private(self.path, self._fernet.encrypt(json.dumps(data, sort_keys=True).encode()))

    def keys(self) -> list[str]:
        """:returns: the keys of every stored token set."""
        with self._exclusive():
            return sorted(self._read_all())

    def __repr__(self) -> str:
        return f"EncryptedTokenStore(path={str(self.path)!r})"
