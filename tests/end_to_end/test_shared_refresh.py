"""Proof that refresh is single-flight across connections and processes sharing a token store, against servers that
revoke the whole grant when a rotated refresh token is used twice: the OpenID-certified npm ``oidc-provider``
(``oidc_interop``) and the sandbox's token service (AADSTS50173).

Each test authorizes once through the hooks (headless sign-in), then lets every worker's access token expire at the
same moment, round after round: 4 processes with 2 connections each, or 8 connections in one process, over the
reference host's file store or the Redis store. Every round must cost exactly one refresh on the server's side, give
every connection the same new token, and leave the grant alive. A worker killed (SIGKILL) while it holds the lock
must not block the others beyond the lease. Workers move their clocks (an offset on their own clock) instead of
waiting an hour; the servers keep real time, which refresh tokens do not mind.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jwt
import pytest
import requests
from cryptography.fernet import Fernet

from connector.auth.refresh_lock import DEFAULT_LEASE_SECONDS
from connector.auth.tokens import build_token_source
from connector.context import RuntimeContext
from connector.host.facade import ConnectorHost
from connector.host.loader import get_plugin_manager
from connector.results import AuthorizationCallback, AuthorizationStart, Connection, TokenSet
from connector.settings import parse_settings
from dataverse_sandbox.config import SandboxConfig
from dataverse_sandbox.entra.clients import DEFAULT_REDIRECT_URI
from dataverse_sandbox.limits import LimitSettings
from dataverse_sandbox.server import Sandbox
from tests.support.entra import redirect_params, sign_in
from tests.support.interop import InteropServer
from tests.support.redis_server import RedisServer
from tests.support.refresh_worker import RefreshWorker, StoreSpec, open_store
from tests.support.sandbox import start_sandbox

CONNECTOR = "dynamics365-ce"
PROCESSES = 4
CONNECTIONS_PER_PROCESS = 2
IN_PROCESS_CONNECTIONS = 8
ROUNDS = 3
LEASE_S = DEFAULT_LEASE_SECONDS  # 30 s, renewed every 10 s: a loaded machine cannot starve a renewal that long
REDIS_KILL_LEASE_S = 5.0  # short, so the killed-holder test with Redis waits it out quickly
FILE_KILL_LEASE_S = 60.0  # long: the file store's lock must come free long before its lease ends
WAIT_S = 60.0
HELD_S = 2.0  # how long a sign-in is watched while another worker holds the lock


@dataclass(frozen=True)
class Authority:
    """A reuse-detecting token server, seen from the test.

    :ivar settings: the connection settings (connection and OAuth tabs) of its authorization-code client.
    :ivar callback_url: the registered redirect URI.
    :ivar access_token_ttl: seconds its access tokens live.
    :ivar sign_in: completes the authorization URL headlessly and returns the callback's parameters.
    :ivar refreshes: how many refresh-token grants it has served so far.
    :ivar codes: how many authorization codes it has redeemed so far.
    :ivar revocations: how many times it has revoked a grant for a reused refresh token (the server is shared with
        other tests, some of which revoke on purpose: compare with the count before).
    :ivar check_token: fails unless the access token is one it issued and still accepts.
    """

    name: str
    settings: dict[str, Any]
    callback_url: str
    access_token_ttl: float
    sign_in: Callable[[str], dict[str, str]]
    refreshes: Callable[[], int]
    codes: Callable[[], int]
    revocations: Callable[[], int]
    check_token: Callable[[str], None]


@pytest.fixture(scope="module")
def host() -> Iterator[ConnectorHost]:
    connector_host = ConnectorHost(get_plugin_manager(environ={}), trace=False)
    yield connector_host
    connector_host.close()


@pytest.fixture(scope="module")
def refresh_sandbox() -> Iterator[Sandbox]:
    sb = start_sandbox(SandboxConfig(limits=LimitSettings(enabled=False)))
    try:
        yield sb
    finally:
        sb.stop()


def _oidc_authority(server: InteropServer) -> Authority:
    def log_lines(marker: str) -> int:
        return sum(marker in line for line in server.stderr_text().splitlines())

    def check_token(access_token: str) -> None:
        key = jwt.PyJWKSet.from_dict(server.jwks())[jwt.get_unverified_header(access_token)["kid"]]
        jwt.decode(access_token, key, algorithms=["RS256"], audience=server.resource, issuer=server.issuer)

    return Authority(
        name="oidc-provider",
        settings={
            "connection": {"protocol": "https", "base_url": "contoso.crm.dynamics.com"},
            "oauth2": {
                "grant_type": "authorization_code",
                "client_id": server.auth_code.client_id,
                "client_secret": server.auth_code.client_secret,
                "access_token_url": server.token_url,
                "authorization_url": server.authorize_url,
                "authorization_parameters": [{"name": "resource", "value": server.resource}],
            },
        },
        callback_url=server.redirect_uri,
        access_token_ttl=server.access_token_ttl,
        sign_in=lambda url: dict(parse_qsl(urlsplit(server.complete_authorization(url)).query)),
        refreshes=lambda: log_lines(f"grant.success client={server.auth_code.client_id} grant_type=refresh_token"),
        codes=lambda: log_lines(f"grant.success client={server.auth_code.client_id} grant_type=authorization_code"),
        revocations=lambda: log_lines("grant.revoked"),
        check_token=check_token,
    )


def _sandbox_authority(sb: Sandbox) -> Authority:
    assert sb.clients is not None
    client = sb.clients.authorization_code_client
    user = sb.clients.users[0]
    parts = urlsplit(sb.origin)

    def sign_in_headlessly(url: str) -> dict[str, str]:
        with requests.Session() as browser:
            browser.trust_env = False
            answer = sign_in(browser, url, {}, user_name=user.user_name, password=user.read_password())
        return redirect_params(answer)

    def check_token(access_token: str) -> None:
        headers = {"Authorization": f"Bearer {access_token}"}
        with requests.Session() as session:
            session.trust_env = False
            answer = session.get(sb.api_root + "WhoAmI", headers=headers, timeout=10)
        assert answer.status_code == 200, answer.text

    def counter(name: str, key: str) -> Callable[[], int]:
        return lambda: int(sb.stats.snapshot()[name].get(key, 0))

    return Authority(
        name="sandbox",
        settings={
            "connection": {"protocol": parts.scheme, "base_url": parts.netloc},
            "oauth2": {
                "grant_type": "authorization_code",
                "client_id": client.client_id,
                "client_secret": client.read_secret(),
                "access_token_url": sb.token_url,
                "authorization_parameters": [{"name": "resource", "value": sb.origin}],
            },
        },
        callback_url=DEFAULT_REDIRECT_URI,
        access_token_ttl=3600.0,
        sign_in=sign_in_headlessly,
        refreshes=counter("tokens_by_grant", "refresh_token"),
        codes=counter("tokens_by_grant", "authorization_code"),
        revocations=counter("tokens_refused_by_code", "50173"),
        check_token=check_token,
    )


@pytest.fixture(params=["oidc-provider", "sandbox"])
def authority(request: pytest.FixtureRequest) -> Authority:
    if request.param == "oidc-provider":
        request.applymarker(pytest.mark.interop)
        return _oidc_authority(request.getfixturevalue("oidc_interop"))
    return _sandbox_authority(request.getfixturevalue("refresh_sandbox"))


@pytest.fixture(params=["file", "redis"])
def store_spec(request: pytest.FixtureRequest, tmp_path: Path) -> StoreSpec:
    key = Fernet.generate_key().decode()
    if request.param == "file":
        return StoreSpec("file", str(tmp_path / "shared" / "tokens.fernet"), key)
    server: RedisServer = request.getfixturevalue("redis_server")
    return StoreSpec("redis", server.url, key, namespace=f"proof-{time.time_ns()}")


def authorize(host: ConnectorHost, authority: Authority, spec: StoreSpec) -> tuple[Connection, TokenSet]:
    """Run the authorization-code grant once through the hooks; the tokens land in the shared store."""
    context = RuntimeContext(callback_url=authority.callback_url, token_store=open_store(spec))
    connection = host.connect(CONNECTOR, authority.settings, context)
    start = host.authorize(CONNECTOR, connection, "start")
    assert isinstance(start, AuthorizationStart)
    params = authority.sign_in(start.url)
    token_set = host.authorize(CONNECTOR, connection, AuthorizationCallback(params, start.state, start.code_verifier))
    assert isinstance(token_set, TokenSet)
    return connection, token_set


def offset_of(authority: Authority, round_number: int) -> float:
    """How far a worker's clock is moved for a round: past the expiry of the previous round's token."""
    return round_number * (authority.access_token_ttl + 60)


def assert_grant_alive(host: ConnectorHost, connection: Connection, authority: Authority, revoked: int) -> None:
    refreshes = authority.refreshes()
    token_set = host.authorize(CONNECTOR, connection, "token")  # one more refresh with the stored refresh token
    assert isinstance(token_set, TokenSet)
    authority.check_token(token_set.access_token)
    assert authority.refreshes() == refreshes + 1
    assert authority.revocations() == revoked


def at_the_same_moment(calls: list[Callable[[], str]]) -> list[str]:
    """Run the calls in threads released together by a barrier; :returns: their results (all must succeed)."""
    barrier = threading.Barrier(len(calls))
    results: list[str] = []

    def run(call: Callable[[], str]) -> None:
        barrier.wait()
        results.append(call())

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S)
    return results


def job(authority: Authority, spec: StoreSpec, connections: int, lease_seconds: float = LEASE_S) -> dict[str, Any]:
    return {
        "settings": authority.settings,
        "store": spec.to_json(),
        "connections": connections,
        "lease_seconds": lease_seconds,
    }


def test_processes_sharing_a_store_refresh_once_per_expiry(
    host: ConnectorHost, authority: Authority, store_spec: StoreSpec
) -> None:
    connection, _ = authorize(host, authority, store_spec)
    revoked = authority.revocations()
    workers = [RefreshWorker(job(authority, store_spec, CONNECTIONS_PER_PROCESS)) for _ in range(PROCESSES)]
    try:
        requests_before = 0
        for round_number in range(1, ROUNDS + 1):
            refreshes = authority.refreshes()
            for worker in workers:  # as close to the same moment as pipes allow
                worker.send({"op": "bearer", "offset": offset_of(authority, round_number)})
            replies = [worker.reply() for worker in workers]
            assert [reply["errors"] for reply in replies] == [[]] * PROCESSES
            tokens = {token for reply in replies for token in reply["tokens"]}
            assert len(tokens) == 1, f"round {round_number}: {len(tokens)} different tokens"
            authority.check_token(tokens.pop())
            assert authority.refreshes() == refreshes + 1, f"round {round_number}"
            requests_made = sum(reply["requests"] for reply in replies)
            assert requests_made == requests_before + 1
            requests_before = requests_made
            assert authority.revocations() == revoked
    finally:
        for worker in workers:
            worker.stop()
    assert_grant_alive(host, connection, authority, revoked)


def test_connections_in_one_process_sharing_a_store_refresh_once_per_expiry(
    host: ConnectorHost, authority: Authority, store_spec: StoreSpec
) -> None:
    connection, _ = authorize(host, authority, store_spec)
    revoked = authority.revocations()
    store = open_store(store_spec)  # one store lent to every connection, as one host does
    offset = [0.0]
    sources = []
    for _ in range(IN_PROCESS_CONNECTIONS):
        context = RuntimeContext(token_store=store)
        settings = parse_settings(authority.settings, context)
        sources.append(build_token_source(settings, context, clock=lambda: time.time() + offset[0]))
    for round_number in range(1, ROUNDS + 1):
        refreshes = authority.refreshes()
        offset[0] = offset_of(authority, round_number)
        tokens = at_the_same_moment([source.bearer for source in sources])
        assert len(tokens) == IN_PROCESS_CONNECTIONS
        assert len(set(tokens)) == 1, f"round {round_number}"
        assert authority.refreshes() == refreshes + 1, f"round {round_number}"
        assert sum(source.requests for source in sources) == round_number
        assert authority.revocations() == revoked
    assert_grant_alive(host, connection, authority, revoked)


def test_a_worker_killed_while_holding_the_lock_blocks_the_others_at_most_its_lease(
    host: ConnectorHost, authority: Authority, store_spec: StoreSpec
) -> None:
    connection, _ = authorize(host, authority, store_spec)
    revoked = authority.revocations()
    lease = FILE_KILL_LEASE_S if store_spec.kind == "file" else REDIS_KILL_LEASE_S
    doomed = RefreshWorker(job(authority, store_spec, 1, lease))
    workers = [RefreshWorker(job(authority, store_spec, CONNECTIONS_PER_PROCESS, lease)) for _ in range(PROCESSES - 1)]
    try:
        doomed.send({"op": "hold"})
        assert doomed.reply()["held"] is True
        os.kill(doomed.process.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        assert doomed.process.wait(10) == -signal.SIGKILL
        refreshes = authority.refreshes()
        for worker in workers:
            worker.send({"op": "bearer", "offset": offset_of(authority, 1)})
        replies = [worker.reply() for worker in workers]
        blocked_for = time.monotonic() - killed_at
        assert [reply["errors"] for reply in replies] == [[]] * len(workers), f"after {blocked_for:.1f} s"
        assert len({token for reply in replies for token in reply["tokens"]}) == 1
        assert authority.refreshes() == refreshes + 1, f"after {blocked_for:.1f} s"
        # The file store's lock is the dead holder's open file, released by the kernel at once (well before the
        # minute-long lease ends); Redis expires the lock key when the lease the holder last renewed ends.
        # Either way far less than the 120 s a worker waits for a live holder; the slack is for a loaded machine.
        limit = FILE_KILL_LEASE_S / 2 if store_spec.kind == "file" else REDIS_KILL_LEASE_S + 15.0
        assert blocked_for < limit, f"blocked for {blocked_for:.1f} s"
    finally:
        doomed.stop()
        for worker in workers:
            worker.stop()
    assert_grant_alive(host, connection, authority, revoked)


def test_a_sign_in_completed_while_another_worker_holds_the_lock_waits_for_it(
    host: ConnectorHost, authority: Authority, store_spec: StoreSpec
) -> None:
    # A worker renewing the old grant holds the store's lock: a sign-in completed meanwhile must not redeem its code
    # and save the new grant until the holder is done, or one would save over the other (decision D30).
    authorize(host, authority, store_spec)
    revoked = authority.revocations()
    holder = RefreshWorker(job(authority, store_spec, 1))
    try:
        holder.send({"op": "hold"})
        assert holder.reply()["held"] is True
        context = RuntimeContext(callback_url=authority.callback_url, token_store=open_store(store_spec))
        connection = host.connect(CONNECTOR, authority.settings, context)
        start = host.authorize(CONNECTOR, connection, "start")
        assert isinstance(start, AuthorizationStart)
        callback = AuthorizationCallback(authority.sign_in(start.url), start.state, start.code_verifier)
        codes = authority.codes()
        outcome: list[object] = []

        def complete() -> None:
            try:
                outcome.append(host.authorize(CONNECTOR, connection, callback))
            except Exception as error:  # reported by the assertion below
                outcome.append(error)

        completion = threading.Thread(target=complete)
        completion.start()
        completion.join(HELD_S)
        assert completion.is_alive()  # waiting for the lock
        assert authority.codes() == codes  # the code is not redeemed while the lock is held
        holder.send({"op": "release"})
        assert holder.reply()["released"] == 1
        completion.join(WAIT_S)
        assert len(outcome) == 1
        assert isinstance(outcome[0], TokenSet), outcome
        assert authority.codes() == codes + 1
    finally:
        holder.stop()
    assert_grant_alive(host, connection, authority, revoked)
