"""The encrypted token store: no token in the file's bytes, 0600 files, survives a restart, rotations not lost."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from connector.context import TokenStore
from connector.errors import ConfigError
from connector.host.token_store import KEY_ENV, EncryptedTokenStore

ACCESS = "canary-access-token-5e1d"
REFRESH = "canary-refresh-token-9b77"


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_round_trip_is_encrypted_and_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    store = EncryptedTokenStore(tmp_path / "store" / "tokens.fernet")
    assert isinstance(store, TokenStore)
    store.save("conn-1", {"access_token": ACCESS, "refresh_token": REFRESH, "expires_at": 123.0})
    raw = store.path.read_bytes()
    assert ACCESS.encode() not in raw
    assert REFRESH.encode() not in raw
    assert b"access_token" not in raw
    assert mode_of(store.path) == 0o600
    assert mode_of(store.path.with_name("tokens.fernet.key")) == 0o600
    assert store.load("conn-1") == {"access_token": ACCESS, "refresh_token": REFRESH, "expires_at": 123.0}
    assert store.load("other") is None
    assert REFRESH not in repr(store)


def test_survives_a_restart_of_the_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    path = tmp_path / "tokens.fernet"
    writer = (
        "import sys; from pathlib import Path; from connector.host.token_store import EncryptedTokenStore; "
        "EncryptedTokenStore(Path(sys.argv[1])).save('k', {'refresh_token': sys.argv[2]})"
    )
    subprocess.run([sys.executable, "-c", writer, str(path), REFRESH], check=True, env={**os.environ})
    assert EncryptedTokenStore(path).load("k") == {"refresh_token": REFRESH}


def test_key_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = Fernet.generate_key()
    monkeypatch.setenv(KEY_ENV, key.decode())
    store = EncryptedTokenStore(tmp_path / "tokens.fernet")
    store.save("k", {"access_token": ACCESS})
    assert not (tmp_path / "tokens.fernet.key").exists()
    assert Fernet(key).decrypt(store.path.read_bytes()).startswith(b"{")


def test_a_wrong_key_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    EncryptedTokenStore(tmp_path / "tokens.fernet").save("k", {"access_token": ACCESS})
    other = EncryptedTokenStore(tmp_path / "tokens.fernet", key=Fernet.generate_key())
    with pytest.raises(ConfigError, match="cannot be decrypted with the key"):
        other.load("k")


def test_rotations_from_two_stores_are_not_lost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    first = EncryptedTokenStore(tmp_path / "tokens.fernet")
    second = EncryptedTokenStore(tmp_path / "tokens.fernet")
    first.save("a", {"refresh_token": "r1"})
    second.save("b", {"refresh_token": "r2"})
    first.save("a", {"refresh_token": "r3"})
    assert second.keys() == ["a", "b"]
    assert second.load("a") == {"refresh_token": "r3"}
    assert not list(tmp_path.glob(".*.tmp"))
