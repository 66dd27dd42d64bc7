"""The reference host's encrypted token store: one file, encrypted with Fernet (AES-128-CBC + HMAC-SHA256).

The key comes from the environment variable :data:`KEY_ENV` when set (a urlsafe-base64 Fernet key), otherwise from a
key file beside the store, created once with mode 0600. The store file is also written with mode 0600, atomically
(a temporary file, then a rename), under an exclusive lock so that two CLI processes do not lose each other's
rotated refresh tokens. Its bytes contain no token: only Fernet's ciphertext.

A store that cannot be used is a configuration error naming the file and what to do, never a transient one a host
would retry, and never a bare ``OSError`` or ``ValueError``: a store path that is a directory, a store file that is
cut short, garbled or written with another key, a key file that is malformed, unreadable or missing while the store it
encrypted exists (a new key is created only when there is no store yet, so a lost key never silently replaces the
tokens). What could not be read is never overwritten: a save refuses too, and the message says the file was left
as it is.

It implements the runtime context's :class:`~connector.context.LockingTokenStore` protocol for processes on one
machine: the refresh lock of a key is an exclusive ``flock`` on a file in ``<store>.locks/``, held by the holder's
open file, so the kernel releases it the moment a holder dies, even by SIGKILL. The file records a lease end; a
live holder that stops renewing (a stopped or hung process) is replaced once its lease has ended. It does not know
what a token set contains. For workers on several machines use :mod:`connector.host.redis_token_store`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Final

from connector.errors import ConfigError
from connector.host.redis_token_store import REDIS_SCHEMES, RedisTokenStore
from connector.host.token_cipher import (
    KEY_ENV,
    STORE_FIELD,
    STORE_KEY_FIELD,
    TokenCipher,
    key_from_environment,
    token_store_error,
)

__all__ = [
    "KEY_ENV",
    "STORE_ENV",
    "EncryptedTokenStore",
    "default_store_path",
    "exclusive_lock",
    "open_token_store",
    "store_named",
    "write_private",
]

HOME_ENV: Final = "CONNECTOR_HOME"
"""Where the reference host keeps its files; defaults to ``~/.config/dynamics365-ce-connector``."""
STORE_ENV: Final = "CONNECTOR_TOKEN_STORE"
"""The token store when a command names none: a file's path or a Redis URL (:func:`open_token_store`)."""


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


def open_token_store(where: str | Path | None) -> EncryptedTokenStore | RedisTokenStore:
    """The token store a host's user names.

    :param where: a Redis URL (:data:`~connector.host.redis_token_store.REDIS_SCHEMES`: workers on several machines
        sharing one connection; the ``redis`` extra, and :data:`KEY_ENV` set to the key every worker shares), else a
        store file; when ``None``, :data:`STORE_ENV` (which keeps a Redis password off the command line), else the
        default file.
    :raises ConfigError: as the store's constructor.
    """
    where = store_named(where)
    if isinstance(where, str) and where.lower().startswith(REDIS_SCHEMES):
        return RedisTokenStore(where)
    if isinstance(where, str) and "://" in where:
        # A file named after a URL (a mistyped scheme): its password, if any, would become a directory's name.
        raise token_store_error(STORE_FIELD, "names a URL that is no Redis URL (redis://, rediss:// or unix://)")
    return EncryptedTokenStore(Path(where) if where else None)


def store_named(where: str | Path | None) -> str | Path | None:
    """:returns: the token store a command names: its option, else :data:`STORE_ENV`, surrounding spaces removed."""
    if isinstance(where, Path):
        return where
    chosen = (where or "").strip() or (os.environ.get(STORE_ENV) or "").strip()
    return chosen or None


class EncryptedTokenStore:
    """Token sets by key, encrypted at rest, with a refresh lock per key for the processes of one machine.

    :param path: the store file.
    :param key: a Fernet key; defaults to :data:`KEY_ENV`, then to the key file ``<path>.key`` (created when neither
        it nor the store exists).
    :param clock: epoch seconds, for lease ends; inject a fake one to test leases without waiting.
    :raises ConfigError: when the path is a directory, or the key is malformed, unreadable, or missing while the store
        it encrypted exists.
    """

    def __init__(
        self, path: Path | None = None, key: bytes | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.path = path or default_store_path()
        self._lock = threading.Lock()
        self._clock = clock
        self._held: dict[str, int] = {}  # holder token -> the open, flock-ed lock file
        if self.path.is_dir():
            raise self._directory()
        if key is not None:
            self._cipher = TokenCipher(key, "the key given to the store")
        elif (from_env := key_from_environment()) is not None:
            self._cipher = TokenCipher(from_env, KEY_ENV)
        else:
            key_path = self.path.with_name(self.path.name + ".key")
            self._cipher = TokenCipher(self._load_or_create_key(key_path), str(key_path))

    @property
    def location(self) -> str:
        """Where the store is, to show."""
        return str(self.path)

    def _load_or_create_key(self, key_path: Path) -> bytes:
        from cryptography.fernet import Fernet

        if not key_path.exists() and not key_path.is_symlink():
            if self._store_exists():
                raise token_store_error(
                    STORE_KEY_FIELD,
                    f"the key file {key_path} is missing, but the token store {self.path} exists and was encrypted "
                    f"with it. Restore {key_path} from a backup (or set {KEY_ENV} to that key). If the key is lost, "
                    f"move {self.path} aside and authorize the connections again: a new key cannot read it, so none "
                    "was made and nothing was overwritten",
                )
            try:
                key_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process created it first: use theirs
            except OSError as error:
                raise token_store_error(
                    STORE_KEY_FIELD, f"the key file {key_path} cannot be created ({_reason(error)}): {_FIX_ACCESS}"
                ) from None
            else:
                with os.fdopen(descriptor, "wb") as handle:
                    handle.write(Fernet.generate_key())
        try:
            return key_path.read_bytes().strip()
        except OSError as error:
            raise token_store_error(
                STORE_KEY_FIELD,
                f"the key file {key_path} cannot be read ({_reason(error)}): it must be a file holding the key the "
                f"token store {self.path} was written with. Restore it from a backup; if the key is lost, move "
                f"{self.path} aside and authorize the connections again. {_FIX_ACCESS}",
            ) from None

    def _store_exists(self) -> bool:
        try:
            return self.path.stat().st_size > 0
        except OSError:
            return False

    def _directory(self) -> ConfigError:
        return token_store_error(
            STORE_FIELD,
            f"{self.path} is a directory, not a file: give the token store a file's path (--token-store), for "
            f"example {self.path / 'tokens.fernet'}",
        )

    def _remedy(self) -> str:
        return (
            f"If you have a backup of {self.path}, restore it; otherwise move it aside (to {self.path}.damaged, say) "
            "and authorize the connections again (Generate, or `connector authorize`)"
        )

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        with self._lock, contextlib.ExitStack() as stack:
            try:
                stack.enter_context(exclusive_lock(self.path))
            except OSError as error:
                raise token_store_error(
                    STORE_FIELD,
                    f"the lock file {self.path}.lock beside the token store cannot be opened ({_reason(error)}). "
                    f"{_FIX_ACCESS}",
                ) from None
            yield

    def _read_all(self) -> dict[str, Any]:
        try:
            content = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except IsADirectoryError:
            raise self._directory() from None
        except OSError as error:
            raise token_store_error(
                STORE_FIELD, f"{self.path} cannot be read ({_reason(error)}). {_FIX_ACCESS}"
            ) from None
        return self._cipher.decrypt(content, f"the token store {self.path}", remedy=self._remedy())

    def load(self, key: str) -> Mapping[str, Any] | None:
        """:returns: the token set stored under ``key``, or ``None``."""
        with self._exclusive():
            item = self._read_all().get(key)
        return dict(item) if isinstance(item, Mapping) else None

    def save(self, key: str, token_set: Mapping[str, Any]) -> None:
        """Store a token set under ``key``, replacing the previous one, before the caller uses it.

        :raises ConfigError: when the store cannot be read (it is then left as it is) or written.
        """
        with self._exclusive():
            data = self._read_all()
            data[key] = dict(token_set)
            try:
                write_private(self.path, self._cipher.encrypt(data))
            except OSError as error:
                raise token_store_error(
                    STORE_FIELD, f"{self.path} cannot be written ({_reason(error)}). {_FIX_ACCESS}"
                ) from None

    def keys(self) -> list[str]:
        """:returns: the keys of every stored token set."""
        with self._exclusive():
            return sorted(self._read_all())

    # -- the refresh lock (LockingTokenStore) ------------------------------------------------------------------

    def _lock_path(self, key: str) -> Path:
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]  # keys are opaque and may hold "/"
        return self.path.with_name(self.path.name + ".locks") / f"{digest}.lock"

    def acquire_lock(self, key: str, lease_seconds: float) -> str | None:
        """Take the refresh lock of ``key`` unless a live holder's lease has not ended; never waits.

        :returns: the holder token, or ``None``.
        """
        with self._exclusive():  # one acquirer at a time decides, so a replaced lock file is replaced once
            lock_path = self._lock_path(key)
            lock_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lease = _read_lease(descriptor)
                os.close(descriptor)
                if lease is not None and self._clock() < lease[1]:
                    return None
                # A live process holds the file but stopped renewing its lease: lock a new file in its place. The
                # old holder's renewal and release then find that the path names another file, and change nothing.
                lock_path.unlink()
                descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            holder = secrets.token_hex(16)
            _write_lease(descriptor, holder, self._clock() + lease_seconds)
            self._held[holder] = descriptor
            return holder

    def renew_lock(self, key: str, holder: str, lease_seconds: float) -> bool:
        """Extend ``holder``'s lease to ``lease_seconds`` from now.

        :returns: ``False`` when ``holder`` no longer holds the lock.
        """
        with self._exclusive():
            descriptor = self._held.get(holder)
            if descriptor is None or not self._still_held(key, holder, descriptor):
                return False
            _write_lease(descriptor, holder, self._clock() + lease_seconds)
            return True

    def release_lock(self, key: str, holder: str) -> bool:
        """Release ``holder``'s lock.

        :returns: ``False`` when ``holder`` no longer held it (its lease had ended and another took it).
        """
        with self._exclusive():
            descriptor = self._held.pop(holder, None)
            if descriptor is None:
                return False
            held = self._still_held(key, holder, descriptor)
            if held:
                os.ftruncate(descriptor, 0)
            os.close(descriptor)  # releases the flock
            return held

    def _still_held(self, key: str, holder: str, descriptor: int) -> bool:
        try:
            same_file = os.path.samestat(os.fstat(descriptor), os.stat(self._lock_path(key)))
        except FileNotFoundError:
            return False
        lease = _read_lease(descriptor)
        return same_file and lease is not None and lease[0] == holder

    def __repr__(self) -> str:
        return f"EncryptedTokenStore(path={str(self.path)!r})"


_FIX_ACCESS: Final = "Check its path and its permissions (the store and its key are the host user's, mode 0600)."


def _reason(error: OSError) -> str:
    return error.strerror or type(error).__name__


def _write_lease(descriptor: int, holder: str, expires_at: float) -> None:
    record = json.dumps({"holder": holder, "expires_at": expires_at, "pid": os.getpid()}).encode()
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, record, 0)


def _read_lease(descriptor: int) -> tuple[str, float] | None:
    try:
        record = json.loads(os.pread(descriptor, 4096, 0) or b"null")
        return str(record["holder"]), float(record["expires_at"])
    except (ValueError, TypeError, KeyError):
        return None  # empty (released, or being written) or damaged: no lease
