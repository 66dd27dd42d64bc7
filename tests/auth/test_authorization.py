"""The ``authorize`` hook's dispatch: each step reaches the right grant, through the connection's own token source."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import pytest
import responses

from connector.auth.authorization import run_authorization_step
from connector.auth.tokens import TokenSource, token_source_of
from connector.context import RuntimeContext
from connector.errors import ConfigError
from connector.host.facade import ConnectorHost
from connector.host.loader import get_plugin_manager
from connector.results import AuthorizationStart, AuthorizationStep, Connection, TokenSet
from connector.settings import parse_settings
from tests.support.auth import CALLBACK, CONNECTION, TOKEN_URL, RecordingStore, code_oauth, secret_oauth

CONNECTOR = "dynamics365-ce"


@pytest.fixture
def host() -> Iterator[ConnectorHost]:
    connector_host = ConnectorHost(get_plugin_manager(environ={}))
    yield connector_host
    connector_host.close()


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as strict:
        yield strict


def connect(host: ConnectorHost, oauth: dict[str, Any], store: RecordingStore | None = None) -> Connection:
    context = RuntimeContext(callback_url=CALLBACK, token_store=store or RecordingStore())
    return host.connect(CONNECTOR, {"connection": CONNECTION, "oauth2": oauth}, context)


def test_token_step_gets_a_client_credentials_token(host: ConnectorHost, mock: responses.RequestsMock) -> None:
    mock.post(TOKEN_URL, json={"access_token": "a1", "expires_in": 3600})
    store = RecordingStore()
    connection = connect(host, secret_oauth(), store)
    token_set = host.authorize(CONNECTOR, connection, "token")
    assert isinstance(token_set, TokenSet)
    assert token_set.access_token == "a1"
    assert store.saves[0][1]["access_token"] == "a1"


def test_the_hook_uses_the_connection_token_source(host: ConnectorHost, mock: responses.RequestsMock) -> None:
    mock.post(TOKEN_URL, json={"access_token": "a1", "expires_in": 3600})
    connection = connect(host, secret_oauth())
    source = token_source_of(connection)
    assert source is token_source_of(connection)  # held by the connection, built once
    host.authorize(CONNECTOR, connection, "token")
    assert source.bearer() == "a1"  # the hook's token is the connection's cached token
    assert len(mock.calls) == 1


def test_start_step_returns_the_url_state_and_verifier(host: ConnectorHost) -> None:
    start = host.authorize(CONNECTOR, connect(host, code_oauth()), "start")
    assert isinstance(start, AuthorizationStart)
    assert start.redirect_uri == CALLBACK
    assert f"state={start.state}" in start.url


def test_start_step_for_client_credentials_is_a_config_error(host: ConnectorHost) -> None:
    with pytest.raises(ConfigError) as caught:
        host.authorize(CONNECTOR, connect(host, secret_oauth()), "start")
    assert caught.value.fields == ["oauth2.grant_type"]


def test_an_unknown_step_is_a_config_error(host: ConnectorHost) -> None:
    connection = connect(host, secret_oauth())
    with pytest.raises(ConfigError) as caught:
        run_authorization_step(connection, cast(AuthorizationStep, "refresh"))
    assert caught.value.fields == ["step"]


def test_a_connection_without_state_gets_a_new_source() -> None:
    context = RuntimeContext()
    settings = parse_settings({"connection": CONNECTION, "oauth2": secret_oauth()}, context)
    bare = Connection(CONNECTOR, settings, context)
    assert isinstance(token_source_of(bare), TokenSource)
    with pytest.raises(ConfigError):
        token_source_of(Connection(CONNECTOR, object(), context))
