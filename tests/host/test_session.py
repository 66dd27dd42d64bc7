"""Starting a sign-in as every reference host does: the grant's start step, the token step when the connector
refuses a start because of the grant type, and any other refusal reported as it is (never hidden behind a token
request that would fail for another reason).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from connector.context import RuntimeContext
from connector.errors import ConfigError
from connector.host.config_file import HostConfig
from connector.host.facade import ConnectorHost
from connector.host.session import OpenSession, begin_sign_in
from connector.host.token_store import EncryptedTokenStore
from connector.results import AuthorizationStart, Connection, TokenSet

START = AuthorizationStart(
    url="https://login.example/authorize?state=s", state="s", code_verifier="v", redirect_uri="http://127.0.0.1:1/cb"
)


class FakeHost:
    """Answers ``authorize`` as a connector would: the start step by the given outcome, the token step with tokens."""

    def __init__(self, start: AuthorizationStart | ConfigError) -> None:
        self.start = start
        self.steps: list[str] = []

    def authorize(self, connector_id: str, connection: Connection, step: Any) -> AuthorizationStart | TokenSet:
        self.steps.append(step)
        if step == "token":
            return TokenSet("access-1")
        if isinstance(self.start, ConfigError):
            raise self.start
        return self.start


def session_with(host: FakeHost, tmp_path: Path) -> OpenSession:
    connection: Connection = Connection("fake", object(), RuntimeContext())
    config = cast(HostConfig, None)  # begin_sign_in reads nothing of the config
    return OpenSession(cast(ConnectorHost, host), "fake", config, connection, EncryptedTokenStore(tmp_path / "t"))


def test_a_grant_with_a_start_step_returns_where_to_sign_in(tmp_path: Path) -> None:
    host = FakeHost(START)
    assert begin_sign_in(session_with(host, tmp_path)) == START
    assert host.steps == ["start"]


def test_a_start_refused_for_the_grant_type_gets_tokens_at_once(tmp_path: Path) -> None:
    host = FakeHost(ConfigError.single("oauth2.grant_type", "is 'client_credentials'; it has no start step"))
    assert begin_sign_in(session_with(host, tmp_path)) is None
    assert host.steps == ["start", "token"]


def test_a_start_refused_for_another_setting_is_that_refusal(tmp_path: Path) -> None:
    refusal = ConfigError.single("oauth2.authorization_url", "is required (it cannot be derived from the token URL)")
    host = FakeHost(refusal)
    with pytest.raises(ConfigError) as raised:
        begin_sign_in(session_with(host, tmp_path))
    assert raised.value is refusal
    assert host.steps == ["start"]  # no token request that would fail for another reason and hide this one
