"""A token store in Redis, for workers on several machines sharing one connection (the ``redis`` extra).

Token sets are encrypted exactly as in the file store (:class:`~connector.host.token_cipher.TokenCipher`, Fernet),
so Redis, its persistence files and its replicas never hold a token in the clear; every worker needs the same key
(:data:`~connector.host.token_cipher.KEY_ENV` or given). It implements
:class:`~connector.context.LockingTokenStore`: the refresh lock of a key is a Redis key set with ``SET NX PX`` to a
random holder token, renewed and released by Lua scripts that first compare the holder token, so a holder whose
lease ended can never extend or delete its successor's lock. A holder that dies blocks the others until its lease
ends (Redis expires the key).

Not for: choosing the Redis deployment. A lock in one Redis primary is as safe as that primary: after a fail-over
to a replica that had not yet received the lock, two workers may hold it (see ``docs/hooks.md``). A stored value that
cannot be read (cut short, another key's) is a configuration error naming the Redis key, and a save does not read
first, so only a load reports it.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from connector.host.token_cipher import (
    KEY_ENV,
    STORE_FIELD,
    STORE_KEY_FIELD,
    TokenCipher,
    key_from_environment,
    new_key_hint,
    token_store_error,
)

if TYPE_CHECKING:
    from redis import Redis

__all__ = ["DEFAULT_NAMESPACE", "REDIS_SCHEMES", "RedisTokenStore", "shown_url"]

REDIS_SCHEMES: Final = ("redis://", "rediss://", "unix://")
"""The URL schemes of a Redis server (``unix://`` for a socket)."""

DEFAULT_NAMESPACE: Final = "dynamics365-ce-connector"
"""The prefix of every Redis key the store writes: ``<namespace>:tokens:<key>`` and ``<namespace>:lock:<key>``."""

# Compare the holder token, then act: atomic on the Redis server, so the check and the change cannot interleave with
# another worker's acquisition after the lease ended.
_RENEW: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisTokenStore:
    """Token sets by key in Redis, encrypted, with a refresh lock per key for every worker that reaches the server.

    :param url: a Redis URL (``redis://host:6379/0``, ``rediss://`` for TLS, ``unix://``); a password in it is used,
        never shown. Ignored when ``client`` is given.
    :param key: the Fernet key; defaults to :data:`~connector.host.token_cipher.KEY_ENV`.
    :param namespace: the prefix of the store's Redis keys.
    :param client: a ready ``redis.Redis`` client (its responses must be bytes, the default).
    :raises ConfigError: when there is no key, or it is not a Fernet key.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        key: bytes | None = None,
        namespace: str = DEFAULT_NAMESPACE,
        client: Redis | None = None,
    ) -> None:
        self.location = shown_url(url) if url and client is None else "a Redis client"
        """Where the store is, to show: the URL without its password or query (:func:`shown_url`)."""
        if client is None:
            if not url:
                raise token_store_error(STORE_FIELD, "give the Redis URL of the token store")
            try:
                import redis
            except ImportError:
                raise token_store_error(
                    STORE_FIELD, "a Redis URL needs the redis extra: pip install 'dynamics365-ce-connector[redis]'"
                ) from None
            try:
                client = redis.Redis.from_url(url)
            except ValueError:  # its message may quote the URL, password included
                raise token_store_error(
                    STORE_FIELD, f"{self.location} is not a Redis URL (redis://, rediss:// or unix://)"
                ) from None
        if key is None:
            key = key_from_environment()
            if key is None:
                raise token_store_error(
                    STORE_KEY_FIELD,
                    f"set {KEY_ENV} to the Fernet key every worker shares (a Redis store has no key file); a new "
                    f"one: {new_key_hint()}",
                )
            self._cipher = TokenCipher(key, KEY_ENV)
        else:
            self._cipher = TokenCipher(key, "the key given to the store")
        self._redis = client
        self.namespace = namespace
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    def __repr__(self) -> str:
        return f"RedisTokenStore(namespace={self.namespace!r})"

    def _data_key(self, key: str) -> str:
        return f"{self.namespace}:tokens:{key}"

    def _lock_key(self, key: str) -> str:
        return f"{self.namespace}:lock:{key}"

    def load(self, key: str) -> Mapping[str, Any] | None:
        """:returns: the token set stored under ``key``, or ``None``."""
        name = self._data_key(key)
        value = self._redis.get(name)
        if value is None:
            return None
        if not isinstance(value, bytes):
            raise token_store_error(
                STORE_FIELD, "the Redis client returns text: create it with decode_responses off (the default)"
            )
        remedy = (
            f"Restore the Redis key {name} from a backup, or delete it (redis-cli DEL '{name}') and authorize the "
            "connection again"
        )
        return self._cipher.decrypt(value, f"the Redis key {name}", remedy=remedy)

    def save(self, key: str, token_set: Mapping[str, Any]) -> None:
        """Store a token set under ``key``, replacing the previous one, before the caller uses it."""
        self._redis.set(self._data_key(key), self._cipher.encrypt(dict(token_set)))

    def acquire_lock(self, key: str, lease_seconds: float) -> str | None:
        """Take the refresh lock of ``key`` (``SET NX PX``) unless it is taken; never waits.

        :returns: the holder token, or ``None``.
        """
        holder = secrets.token_hex(16)
        taken = self._redis.set(self._lock_key(key), holder, nx=True, px=_milliseconds(lease_seconds))
        return holder if taken else None

    def renew_lock(self, key: str, holder: str, lease_seconds: float) -> bool:
        """Extend ``holder``'s lease to ``lease_seconds`` from now.

        :returns: ``False`` when ``holder`` no longer holds the lock.
        """
        return bool(self._renew(keys=[self._lock_key(key)], args=[holder, _milliseconds(lease_seconds)]))

    def release_lock(self, key: str, holder: str) -> bool:
        """Release ``holder``'s lock.

        :returns: ``False`` when ``holder`` no longer held it.
        """
        return bool(self._release(keys=[self._lock_key(key)], args=[holder]))

    def keys(self) -> list[str]:
        """:returns: the keys of every stored token set."""
        prefix = self._data_key("")
        found = self._redis.scan_iter(prefix + "*")
        names = (name.decode() if isinstance(name, bytes) else str(name) for name in found)
        return sorted(name[len(prefix) :] for name in names)

    def close(self) -> None:
        """Close the client's connections."""
        self._redis.close()


def _milliseconds(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def shown_url(url: str) -> str:
    """A Redis URL as it may be shown (logs, messages, reports): without its password, nor its query (which may carry
    ``password=``).
    """
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "the Redis URL given"
    user = parts.username or ""
    if parts.password is not None:
        user += ":***"
    at = "@" if user else ""
    return f"{parts.scheme}://{user}{at}{parts.hostname or ''}{port}{parts.path}"
