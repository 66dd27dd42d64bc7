"""A token store that cannot be used says which file is wrong and what to do, as a configuration error, on every path
(issue 12, item 14): the file store itself, the token source behind the ``authorize`` hook (client credentials and
authorization code), and Test Connection. Never a transient error a host would retry forever, never a raw
``ValueError``, and never an overwrite of what could not be read.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import responses
from cryptography.fernet import Fernet

from connector.context import RuntimeContext
from connector.errors import ConfigError, FailureType
from connector.host.facade import ConnectorHost
from connector.host.token_store import KEY_ENV, EncryptedTokenStore
from connector.results import CheckStatus
from dataverse_sandbox.config import SandboxConfig
from dataverse_sandbox.entra.clients import DEFAULT_REDIRECT_URI
from dataverse_sandbox.limits import LimitSettings
from tests.support.auth import CONNECTION, TOKEN_URL, code_oauth, secret_oauth
from tests.support.sandbox import start_sandbox

CONNECTOR = "dynamics365-ce"
ACCESS = "canary-access-token-d4m4"
REFRESH = "canary-refresh-token-d4m4"


@pytest.fixture(autouse=True)
def no_key_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)


def written_store(folder: Path) -> Path:
    path = folder / "tokens.fernet"
    EncryptedTokenStore(path).save("k", {"access_token": ACCESS, "refresh_token": REFRESH})
    return path


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


def garble(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[40:48] = b"!!!!!!!!"
    path.write_bytes(bytes(data))


def empty(path: Path) -> None:
    path.write_bytes(b"")


def other_key(path: Path) -> None:
    path.with_name(path.name + ".key").write_bytes(Fernet.generate_key())


def flipped_byte(path: Path) -> None:
    """Fernet's shape kept, one ciphertext byte changed: the HMAC no longer matches (as with another key)."""
    import base64

    raw = bytearray(base64.urlsafe_b64decode(path.read_bytes()))
    raw[30] ^= 0x01
    path.write_bytes(base64.urlsafe_b64encode(bytes(raw)))


def deleted_key(path: Path) -> None:
    path.with_name(path.name + ".key").unlink()


def malformed_key_file(path: Path) -> None:
    path.with_name(path.name + ".key").write_bytes(b"not a key \xff")


def key_file_is_a_directory(path: Path) -> None:
    key = path.with_name(path.name + ".key")
    key.unlink()
    key.mkdir()


DAMAGES: dict[str, tuple[Callable[[Path], None], str, str]] = {
    # damage: (how, field, words of the message)
    "truncated": (truncate, "token_store", "is damaged"),
    "garbled": (garble, "token_store", "is damaged"),
    "empty": (empty, "token_store", "is damaged"),
    "another key": (other_key, "token_store_key", "written with another key"),
    "altered bytes": (flipped_byte, "token_store_key", "its bytes were altered"),
    "key file deleted": (deleted_key, "token_store_key", "is missing, but the token store"),
    "key file malformed": (malformed_key_file, "token_store_key", "is not a Fernet key"),
    "key file a directory": (key_file_is_a_directory, "token_store_key", "cannot be read (Is a directory)"),
}


def use_store(path: Path, action: Callable[[EncryptedTokenStore], Any]) -> ConfigError:
    """Open the store (a key problem may already show there) and act on it; return the configuration error."""
    with pytest.raises(ConfigError) as caught:
        action(EncryptedTokenStore(path))
    return caught.value


@pytest.mark.parametrize("damage", sorted(DAMAGES))
@pytest.mark.parametrize("action", ["load", "save"])
def test_a_damaged_store_says_what_is_wrong_with_which_file_and_is_left_as_it_is(
    tmp_path: Path, damage: str, action: str
) -> None:
    how, field, words = DAMAGES[damage]
    path = written_store(tmp_path)
    how(path)
    before = path.read_bytes()
    keys_before = sorted(p.name for p in tmp_path.iterdir())
    error = use_store(path, (lambda s: s.load("k")) if action == "load" else (lambda s: s.save("k", {"a": "b"})))
    assert error.failure_type is FailureType.CONFIG
    assert error.fields == [field]
    assert words in error.user_message
    assert str(path) in error.user_message
    assert error.user_message.startswith("The token store cannot be used")
    assert "authorize" in error.user_message or "Restore" in error.user_message
    assert path.read_bytes() == before  # never overwritten
    assert sorted(p.name for p in tmp_path.iterdir()) == keys_before  # no new key beside it
    for secret in (ACCESS, REFRESH):
        assert secret not in error.user_message


@pytest.mark.parametrize("action", ["open", "load", "save"])
def test_a_store_path_that_is_a_directory_names_it(tmp_path: Path, action: str) -> None:
    folder = tmp_path / "tokens"
    folder.mkdir()
    actions: dict[str, Callable[[EncryptedTokenStore], Any]] = {
        "open": lambda _store: None,
        "load": lambda store: store.load("k"),
        "save": lambda store: store.save("k", {}),
    }
    error = use_store(folder, actions[action])
    assert error.fields == ["token_store"]
    assert f"{folder} is a directory" in error.user_message
    assert not (tmp_path / "tokens.key").exists()


def test_a_store_that_became_a_directory_is_named_on_use(tmp_path: Path) -> None:
    path = written_store(tmp_path)
    store = EncryptedTokenStore(path)
    path.unlink()
    path.mkdir()
    with pytest.raises(ConfigError, match="is a directory"):
        store.load("k")


@pytest.mark.parametrize("value", ["not-a-key-c4n4ry", "é" * 44, Fernet.generate_key().decode()[:-4]])
def test_a_malformed_key_in_the_environment_is_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(KEY_ENV, value)
    with pytest.raises(ConfigError) as caught:
        EncryptedTokenStore(tmp_path / "tokens.fernet")
    assert caught.value.fields == ["token_store_key"]
    assert KEY_ENV in caught.value.user_message
    assert value not in caught.value.user_message


def test_an_unwritable_store_is_a_configuration_error(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        folder = tmp_path / "parent-is-a-file"
        folder.write_text("x")
        path = folder / "tokens.fernet"
    else:  # pragma: no cover - the suite runs as root in CI
        folder = tmp_path / "read-only"
        folder.mkdir(mode=0o500)
        path = folder / "tokens.fernet"
    with pytest.raises(ConfigError) as caught:
        EncryptedTokenStore(path, key=Fernet.generate_key()).save("k", {"a": "b"})
    assert caught.value.fields == ["token_store"]


# --- through the hooks: the token source and Test Connection ------------------------------------------------------


@pytest.fixture
def token_service() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(TOKEN_URL, json={"access_token": ACCESS, "token_type": "Bearer", "expires_in": 3599})
        yield mock


def connect(oauth: dict[str, Any], store: EncryptedTokenStore) -> Any:
    settings = {"connection": copy.deepcopy(CONNECTION), "oauth2": oauth}
    return ConnectorHost().connect(
        CONNECTOR, settings, RuntimeContext(token_store=store, callback_url="https://host.example/callback")
    )


@pytest.mark.parametrize("damage", ["truncated", "garbled", "another key", "altered bytes"])
@pytest.mark.parametrize("oauth", [secret_oauth(), code_oauth()], ids=["client credentials", "authorization code"])
def test_authorize_reports_the_damaged_store_as_configuration_and_keeps_it(
    tmp_path: Path, token_service: responses.RequestsMock, damage: str, oauth: dict[str, Any]
) -> None:
    how, field, words = DAMAGES[damage]
    path = written_store(tmp_path)
    how(path)
    before = path.read_bytes()
    connection = connect(oauth, EncryptedTokenStore(path))
    with pytest.raises(ConfigError) as caught:
        ConnectorHost().authorize(CONNECTOR, connection, "token")
    assert caught.value.failure_type is FailureType.CONFIG
    assert caught.value.fields == [field]
    assert words in caught.value.user_message
    assert "Try again" not in caught.value.user_message
    assert path.read_bytes() == before
    if oauth["grant_type"] == "authorization_code":
        # No refresh without a store to keep the rotated refresh token in: it would be lost with the grant.
        assert not token_service.calls


def test_new_tokens_a_store_cannot_save_are_a_configuration_error_that_says_so(
    tmp_path: Path, token_service: responses.RequestsMock
) -> None:
    """The store breaks between the read and the save: the token was obtained, is kept in memory, and the user is
    told the store is the problem, not the network.
    """
    path = written_store(tmp_path)

    class BreaksOnSave(EncryptedTokenStore):
        def save(self, key: str, token_set: Any) -> None:
            truncate(self.path)
            super().save(key, token_set)

    connection = connect(secret_oauth(), BreaksOnSave(path))
    with pytest.raises(ConfigError) as caught:
        ConnectorHost().authorize(CONNECTOR, connection, "token")
    assert caught.value.user_message.startswith("The new tokens could not be saved")
    assert caught.value.fields == ["token_store"]
    assert ACCESS not in caught.value.user_message


def test_test_connection_names_the_damaged_store_for_authorization_code(tmp_path: Path) -> None:
    sandbox = start_sandbox(SandboxConfig(limits=LimitSettings(enabled=False)))
    try:
        assert sandbox.clients is not None
        client = sandbox.clients.authorization_code_client
        oauth = code_oauth(
            client_id=client.client_id,
            client_secret=client.read_secret(),
            access_token_url=sandbox.token_url,
            authorization_parameters=[{"name": "resource", "value": sandbox.origin}],
        )
        parts = urlsplit(sandbox.origin)
        settings = {"connection": {"protocol": parts.scheme, "base_url": parts.netloc}, "oauth2": oauth}
        path = written_store(tmp_path)
        truncate(path)
        context = RuntimeContext(token_store=EncryptedTokenStore(path), callback_url=DEFAULT_REDIRECT_URI)
        host = ConnectorHost()
        report = host.test(CONNECTOR, host.connect(CONNECTOR, settings, context))
    finally:
        sandbox.stop()
    failed = [check for check in report.checks if check.status is CheckStatus.FAILED]
    assert [check.field for check in failed] == ["token_store"]
    assert "is damaged" in failed[0].message
    assert "authorize first" not in failed[0].message
