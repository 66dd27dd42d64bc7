"""The Redis token store: encrypted at rest as the file store, a key every worker must share, the lease kept by
renewal on Redis' own clock, and no secret in its repr or in Redis in the clear.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import redis
from cryptography.fernet import Fernet

from connector.context import LockingTokenStore
from connector.errors import ConfigError, TransientError
from connector.host.redis_token_store import RedisTokenStore, shown_url
from connector.host.token_cipher import KEY_ENV
from connector.host.token_store import STORE_ENV, EncryptedTokenStore, open_token_store
from tests.support.redis_server import RedisServer

ACCESS = "canary-access-token-r3d1"
REFRESH = "canary-refresh-token-r3d2"
KEY = "dynamics365-ce/oauth2/0123456789abcdef"


@pytest.fixture
def namespace(request: pytest.FixtureRequest) -> str:
    return f"test-{request.node.name}-{time.time_ns()}"


@pytest.fixture
def store(redis_server: RedisServer, namespace: str) -> Iterator[RedisTokenStore]:
    redis_store = RedisTokenStore(redis_server.url, key=Fernet.generate_key(), namespace=namespace)
    yield redis_store
    redis_store.close()


def test_round_trip_is_encrypted_in_redis(store: RedisTokenStore, redis_server: RedisServer) -> None:
    assert isinstance(store, LockingTokenStore)
    store.save(KEY, {"access_token": ACCESS, "refresh_token": REFRESH, "expires_at": 123.0})
    client = redis_server.client()
    try:
        names = list(client.scan_iter(f"{store.namespace}:*"))
        assert names == [f"{store.namespace}:tokens:{KEY}".encode()]
        raw = client.get(names[0])
    finally:
        client.close()
    assert isinstance(raw, bytes)
    assert ACCESS.encode() not in raw
    assert REFRESH.encode() not in raw
    assert b"access_token" not in raw
    assert store.load(KEY) == {"access_token": ACCESS, "refresh_token": REFRESH, "expires_at": 123.0}
    assert store.load("other") is None
    assert store.keys() == [KEY]


def test_workers_share_the_key_from_the_environment(
    redis_server: RedisServer, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, Fernet.generate_key().decode())
    writer, reader = (
        RedisTokenStore(redis_server.url, namespace=namespace),
        RedisTokenStore(redis_server.url, namespace=namespace),
    )
    writer.save(KEY, {"refresh_token": REFRESH})
    assert reader.load(KEY) == {"refresh_token": REFRESH}
    writer.close()
    reader.close()


def test_without_a_key_the_error_names_the_variable(redis_server: RedisServer, namespace: str) -> None:
    with pytest.raises(ConfigError, match=KEY_ENV):
        RedisTokenStore(redis_server.url, namespace=namespace)


def test_a_malformed_key_is_a_config_error_that_does_not_quote_it(
    redis_server: RedisServer, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, "not-a-fernet-key-c4n4ry")
    with pytest.raises(ConfigError) as caught:
        RedisTokenStore(redis_server.url, namespace=namespace)
    assert KEY_ENV in str(caught.value)
    assert "c4n4ry" not in str(caught.value)


def test_a_wrong_key_is_a_clear_error(store: RedisTokenStore, redis_server: RedisServer) -> None:
    store.save(KEY, {"access_token": ACCESS})
    other = RedisTokenStore(redis_server.url, key=Fernet.generate_key(), namespace=store.namespace)
    with pytest.raises(ConfigError, match="cannot be decrypted with the key"):
        other.load(KEY)
    other.close()


def test_renewal_extends_the_lease_on_redis_clock(store: RedisTokenStore, redis_server: RedisServer) -> None:
    holder = store.acquire_lock(KEY, 0.5)
    assert holder
    client = redis_server.client()
    try:
        lock_key = f"{store.namespace}:lock:{KEY}"
        assert 0 < client.pttl(lock_key) <= 500
        assert store.renew_lock(KEY, holder, 60.0)
        assert client.pttl(lock_key) > 59_000
        assert client.get(lock_key) == holder.encode()  # the lock holds a random holder token, nothing else
    finally:
        client.close()
    assert store.release_lock(KEY, holder)


def test_repr_shows_no_url_or_password(redis_server: RedisServer, namespace: str) -> None:
    url = redis_server.url.replace("redis://", "redis://:canary-redis-password@")
    store = RedisTokenStore(url, key=Fernet.generate_key(), namespace=namespace)
    assert "canary-redis-password" not in repr(store)
    assert "127.0.0.1" not in repr(store)


# --- a value that cannot be read (issue 12, item 14) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "field", "words"),
    [
        (b"cut-off-c4n4ry", "token_store", "is damaged"),
        (Fernet(Fernet.generate_key()).encrypt(b'{"access_token": "x"}'), "token_store_key", "another key"),
    ],
    ids=["garbled", "another key"],
)
def test_a_value_that_cannot_be_read_names_the_redis_key_and_is_left_as_it_is(
    store: RedisTokenStore, redis_server: RedisServer, value: bytes, field: str, words: str
) -> None:
    name = f"{store.namespace}:tokens:{KEY}"
    client = redis_server.client()
    try:
        client.set(name, value)
        with pytest.raises(ConfigError) as caught:
            store.load(KEY)
        assert client.get(name) == value
    finally:
        client.close()
    assert caught.value.fields == [field]
    assert words in caught.value.user_message
    assert name in caught.value.user_message
    assert "redis-cli DEL" in caught.value.user_message
    assert "c4n4ry" not in caught.value.user_message


def test_a_non_ascii_key_in_the_environment_is_a_configuration_error(
    redis_server: RedisServer, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, "ключ" * 11)
    with pytest.raises(ConfigError) as caught:
        RedisTokenStore(redis_server.url, namespace=namespace)
    assert caught.value.fields == ["token_store_key"]
    assert "ключ" not in caught.value.user_message


def test_a_client_that_decodes_responses_is_a_configuration_error(redis_server: RedisServer, namespace: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    text_store = RedisTokenStore(key=Fernet.generate_key(), namespace=namespace, client=client)
    client.set(f"{namespace}:tokens:{KEY}", "text")
    try:
        with pytest.raises(ConfigError, match="decode_responses"):
            text_store.load(KEY)
    finally:
        text_store.close()


def test_authorize_reports_a_damaged_redis_value_as_configuration(
    store: RedisTokenStore, redis_server: RedisServer
) -> None:
    from connector.auth.tokens import token_store_key
    from connector.context import RuntimeContext
    from connector.errors import FailureType
    from connector.host.facade import ConnectorHost
    from connector.live import has_own_settings
    from tests.support.auth import CONNECTION, code_oauth

    host = ConnectorHost()
    settings = {"connection": dict(CONNECTION), "oauth2": code_oauth()}
    connection = host.connect("dynamics365-ce", settings, RuntimeContext(token_store=store))
    assert has_own_settings(connection)
    client = redis_server.client()
    try:
        client.set(f"{store.namespace}:tokens:{token_store_key(connection.settings.oauth)}", b"garbled")
    finally:
        client.close()
    with pytest.raises(ConfigError) as caught:
        host.authorize("dynamics365-ce", connection, "token")
    assert caught.value.failure_type is FailureType.CONFIG
    assert caught.value.fields == ["token_store"]


NOT_SHOWN = "the Redis URL given (not shown: its form could reveal a password)"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://:canary-pw@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("rediss://worker:canary-pw@cache.example:6380/2", "rediss://worker:***@cache.example:6380/2"),
        ("redis://cache.example/0?password=canary-pw&socket_timeout=5", "redis://cache.example/0"),
        ("unix://:canary-pw@/run/redis.sock?db=1", "unix://:***@/run/redis.sock"),
        ("redis://canary-pw@cache.example/0", "redis://***@cache.example/0"),  # a name alone may be the password
        ("redis://[::1]:6379/0", "redis://[::1]:6379/0"),
        ("redis://redis_cache:6379/0", "redis://redis_cache:6379/0"),  # a Compose service's name
        ("redis://canary-pw:@cache.example/0", "redis://***@cache.example/0"),  # a password typed before the colon
        ("redis://cache.example/0\x1b[2J", NOT_SHOWN),  # no terminal escapes in what is shown
        # A '/', '?', '#' or '@' in the password moves where a reader sees the host: urlsplit read ":2024" as the port
        # and showed the rest of the password as the path.
        ("redis://:2024/canary-pw@cache.example:6379/0", NOT_SHOWN),
        ("redis://admin:2024/canary-pw@cache.example:6379/0", NOT_SHOWN),
        ("redis://:2024#canary-pw@cache.example/0", NOT_SHOWN),
        ("redis://:2024?canary-pw@cache.example/0", NOT_SHOWN),
        ("redis://cache.example/0?password=x@canary-pw", NOT_SHOWN),
    ],
)
def test_a_redis_url_is_shown_without_its_password(url: str, shown: str) -> None:
    assert shown_url(url) == shown
    try:
        where = RedisTokenStore(url, key=Fernet.generate_key()).location
    except ConfigError as error:  # a URL redis-py refuses: the message shows it as shown_url does
        where = error.user_message
    assert "canary-pw" not in where


def test_a_redis_url_or_a_file_names_the_token_store(
    redis_server: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, Fernet.generate_key().decode())
    assert isinstance(open_token_store("REDIS" + redis_server.url[len("redis") :]), RedisTokenStore)
    assert isinstance(open_token_store(redis_server.url), RedisTokenStore)
    local = open_token_store(str(tmp_path / "tokens.fernet"))
    assert isinstance(local, EncryptedTokenStore)
    assert local.location == str(tmp_path / "tokens.fernet")


def test_a_refused_password_or_a_server_out_of_reach_names_the_store(redis_server: RedisServer) -> None:
    # redis-py's own errors went through as "could not lock the tokens ... try again", naming no store.
    admin = redis_server.client()
    admin.config_set("requirepass", "canary-right")
    try:
        wrong = RedisTokenStore(f"redis://:canary-wrong@127.0.0.1:{redis_server.port}/0", key=Fernet.generate_key())
        with pytest.raises(ConfigError) as refused:
            wrong.load("k")
        assert refused.value.field == "token_store"
        assert "refused the password" in refused.value.user_message
        assert "canary-wrong" not in refused.value.user_message
    finally:
        authed = RedisTokenStore(f"redis://:canary-right@127.0.0.1:{redis_server.port}/0", key=Fernet.generate_key())
        authed._redis.config_set("requirepass", "")
        authed.close()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    away = RedisTokenStore(f"redis://:canary-pw@127.0.0.1:{free}/0", key=Fernet.generate_key())
    with pytest.raises(TransientError, match="cannot be reached") as unreachable:
        away.save("k", {"access_token": "x"})
    assert "canary-pw" not in unreachable.value.user_message
    with pytest.raises(ConfigError, match="DB index is out of range"):
        RedisTokenStore(f"redis://127.0.0.1:{redis_server.port}/999", key=Fernet.generate_key()).load("k")


def test_a_mistyped_query_parameter_is_named_at_once() -> None:
    # redis-py builds a connection at the first command: the TypeError read as the store failing, later.
    with pytest.raises(ConfigError, match="cannot read the Redis URL") as caught:
        RedisTokenStore("redis://:canary-pw@127.0.0.1:6379/0?socket_timout=5", key=Fernet.generate_key())
    assert "canary-pw" not in caught.value.user_message


class _Answering:
    """A client whose server answers every command with one error."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def register_script(self, script: str) -> object:
        return object()

    def get(self, name: str) -> bytes:
        raise self.error


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (redis.exceptions.ReadOnlyError("You can't write against a read only replica."), TransientError),
        (redis.exceptions.ResponseError("BUSY Redis is busy running a script."), TransientError),
        (
            redis.exceptions.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"),
            ConfigError,
        ),
        (redis.exceptions.ResponseError("MOVED 3999 127.0.0.1:6381"), ConfigError),
    ],
    ids=["read-only replica", "busy", "a key of another type", "a cluster node"],
)
def test_the_servers_state_passes_its_configuration_does_not(error: Exception, kind: type[Exception]) -> None:
    # A read-only replica after a fail-over is no configuration error; a key of another type will not change by itself.
    store = RedisTokenStore(client=cast(Any, _Answering(error)), key=Fernet.generate_key())
    with pytest.raises(kind):
        store.load("k")


@pytest.mark.parametrize("where", [" redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0\n"])
def test_spaces_around_a_redis_url_do_not_make_it_a_file(where: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # " redis://:pw@…" became a file store named after the URL, password and all.
    monkeypatch.setenv(KEY_ENV, Fernet.generate_key().decode())
    assert isinstance(open_token_store(where), RedisTokenStore)
    monkeypatch.setenv(STORE_ENV, where)
    assert isinstance(open_token_store("  "), RedisTokenStore)  # a blank option leaves the choice to the variable


def test_a_url_that_is_no_redis_url_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        open_token_store("http://:canary-pw@cache.example/0")
    assert caught.value.field == "token_store"
    assert "canary-pw" not in caught.value.user_message
