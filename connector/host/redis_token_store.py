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

import functools
import re
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final

from connector.errors import TransientError
from connector.host.token_cipher import (
    KEY_ENV,
    STORE_FIELD,
    STORE_KEY_FIELD,
    TokenCipher,
    key_from_environment,
    new_key_hint,
    token_store_error,
)
from connector.secrets import REDACTED

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
                # redis-py builds a connection at its first command: build one now (no socket is opened), so a
                # mistyped query parameter (?socket_timout=5) is named here, not taken for a server failing later.
                pool = client.connection_pool
                pool.connection_class(**pool.connection_kwargs)
            except (ValueError, TypeError, redis.RedisError):  # its message may quote the URL, password included
                raise token_store_error(
                    STORE_FIELD,
                    f"redis-py cannot read the Redis URL {self.location}: check its form (redis://, rediss:// or "
                    "unix://) and its query parameters' values",
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

    @contextmanager
    def _server(self) -> Iterator[None]:
        """Read a failure of the Redis server as the connector's error, naming the store, never the password: a refused
        password or database is a configuration error, a server out of reach a transient one (redis-py's own messages
        name the error only; they may be worded from the URL).
        """
        from redis.exceptions import AuthenticationError, RedisError, ResponseError
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        passing = _passing_answers()

        try:
            yield
        except AuthenticationError:
            raise token_store_error(STORE_FIELD, f"the Redis server at {self.location} refused the password") from None
        except (RedisConnectionError, RedisTimeoutError) as error:
            raise TransientError(
                f"The Redis server of the token store ({self.location}) cannot be reached ({type(error).__name__}); "
                "check that it runs and the URL's host and port"
            ) from None
        except ResponseError as error:  # the server's words ("DB index is out of range"), never the URL's
            words = str(error)[:80]
            if isinstance(error, passing) or words.startswith("BUSY"):
                raise TransientError(
                    f"The Redis server of the token store ({self.location}) answered: {words}"
                ) from None
            # A database, command or key the server refuses (NOPERM, WRONGTYPE, MOVED from a cluster node): the same
            # answer each time, until the URL or the server's configuration changes.
            raise token_store_error(
                STORE_FIELD, f"the Redis server at {self.location} refused the store's command ({words})"
            ) from None
        except RedisError as error:  # a reply it could not read (not a Redis server at that port), and the like
            raise TransientError(
                f"The Redis server of the token store ({self.location}) failed ({type(error).__name__})"
            ) from None

    def _data_key(self, key: str) -> str:
        return f"{self.namespace}:tokens:{key}"

    def _lock_key(self, key: str) -> str:
        return f"{self.namespace}:lock:{key}"

    def load(self, key: str) -> Mapping[str, Any] | None:
        """:returns: the token set stored under ``key``, or ``None``."""
        name = self._data_key(key)
        with self._server():
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
        encrypted = self._cipher.encrypt(dict(token_set))
        with self._server():
            self._redis.set(self._data_key(key), encrypted)

    def acquire_lock(self, key: str, lease_seconds: float) -> str | None:
        """Take the refresh lock of ``key`` (``SET NX PX``) unless it is taken; never waits.

        :returns: the holder token, or ``None``.
        """
        holder = secrets.token_hex(16)
        with self._server():
            taken = self._redis.set(self._lock_key(key), holder, nx=True, px=_milliseconds(lease_seconds))
        return holder if taken else None

    def renew_lock(self, key: str, holder: str, lease_seconds: float) -> bool:
        """Extend ``holder``'s lease to ``lease_seconds`` from now.

        :returns: ``False`` when ``holder`` no longer holds the lock.
        """
        with self._server():
            return bool(self._renew(keys=[self._lock_key(key)], args=[holder, _milliseconds(lease_seconds)]))

    def release_lock(self, key: str, holder: str) -> bool:
        """Release ``holder``'s lock.

        :returns: ``False`` when ``holder`` no longer held it.
        """
        with self._server():
            return bool(self._release(keys=[self._lock_key(key)], args=[holder]))

    def keys(self) -> list[str]:
        """:returns: the keys of every stored token set."""
        prefix = self._data_key("")
        with self._server():
            found = list(self._redis.scan_iter(prefix + "*"))
        names = (name.decode() if isinstance(name, bytes) else str(name) for name in found)
        return sorted(name[len(prefix) :] for name in names)

    def close(self) -> None:
        """Close the client's connections."""
        self._redis.close()


@functools.cache
def _passing_answers() -> tuple[type[Exception], ...]:
    """The server's answers that describe a state which passes: a read-only replica after a fail-over, out of memory,
    a cluster moving its slots (redis-py 5 and later name them; older names are skipped).
    """
    from redis import exceptions

    names = ("ReadOnlyError", "OutOfMemoryError", "TryAgainError", "ClusterDownError")
    return tuple(getattr(exceptions, name) for name in names if hasattr(exceptions, name))


def _milliseconds(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def shown_url(url: str) -> str:
    """A Redis URL as it may be shown (logs, messages, reports): the server and database, never a password.

    Only a URL of an unambiguous form is shown (its user name, if any, with ``***`` for the password; no query, which
    may carry ``password=``). A password holding ``/``, ``?``, ``#`` or ``@`` unencoded moves where a parser sees the
    host (``redis://:2024/Summer@cache/0`` reads as port 2024), so such a URL is not shown at all.
    """
    match = _SHOWABLE.fullmatch(url)
    if match is None:
        return "the Redis URL given (not shown: its form could reveal a password)"
    user = match["user"]
    if user is None:
        shown_user = ""
    elif ":" in user and user.partition(":")[2]:
        shown_user = f"{user.partition(':')[0]}:{REDACTED}@"
    else:
        shown_user = f"{REDACTED}@"  # a single name may be a password written without its colon
    port = f":{match['port']}" if match["port"] else ""
    return f"{match['scheme']}://{shown_user}{match['host']}{port}{match['path'] or ''}"


_SHOWABLE: Final = re.compile(
    r"(?P<scheme>rediss?|unix)://(?:(?P<user>[^@/?#]*)@)?(?P<host>[A-Za-z0-9._-]*|\[[0-9A-Fa-f:.]+\])"
    r"(?::(?P<port>[0-9]{1,5}))?(?P<path>/[^?#@\x00-\x20\x7f]*)?(?:[?#][^@]*)?",
    re.IGNORECASE,
)
"""A Redis URL whose parts a reader cannot mistake: no ``@`` but the one ending the user information."""
