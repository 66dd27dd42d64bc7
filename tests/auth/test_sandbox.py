"""End to end against the sandbox's Entra-compatible token service and its Web API, through the ``authorize`` hook and
the transport: every grant and assertion type, the authorization-code flow completed headlessly through the login and
consent pages, refresh with rotation, a long run in which the access token expires several times (the sandbox's clock
drives both sides), and refusals reported with the field to fix.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from connector.auth.entra_errors import AUTHORIZATION_REQUIRED
from connector.auth.tokens import TokenSource, build_token_source
from connector.context import RuntimeContext
from connector.dataverse.odata.answers import describe_error
from connector.errors import AuthError, ConfigError, TransientError
from connector.host.facade import ConnectorHost
from connector.host.loader import get_plugin_manager
from connector.live import has_own_settings
from connector.results import AuthorizationCallback, AuthorizationStart, TokenSet
from connector.settings import ConnectionSettings, parse_settings
from connector.transport import RetryPolicy, Transport
from dataverse_sandbox.config import SandboxConfig
from dataverse_sandbox.entra.clients import DEFAULT_REDIRECT_URI
from dataverse_sandbox.faults import FaultSettings
from dataverse_sandbox.limits import LimitSettings
from dataverse_sandbox.server import Sandbox
from tests.support.auth import RecordingStore, key_material
from tests.support.clock import FakeClock
from tests.support.entra import redirect_params, sign_in
from tests.support.sandbox import start_sandbox

CONNECTOR = "dynamics365-ce"
HOUR = 3600.0


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    """A sandbox without service-protection limits: these tests jump its clock by hours, and its execution-time
    limit counts a request that completes across such a jump as hours long (reported to the sandbox's owner).
    """
    sb = start_sandbox(SandboxConfig(limits=LimitSettings(enabled=False)))
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture(scope="module")
def host() -> Iterator[ConnectorHost]:
    connector_host = ConnectorHost(get_plugin_manager(environ={}), trace=False)
    yield connector_host
    connector_host.close()


def clients(sb: Sandbox) -> Any:
    assert sb.clients is not None
    return sb.clients


def raw_settings(sb: Sandbox, oauth: dict[str, Any]) -> dict[str, Any]:
    parts = urlsplit(sb.origin)
    return {"connection": {"protocol": parts.scheme, "base_url": parts.netloc}, "oauth2": oauth}


def secret_tab(sb: Sandbox, **overrides: Any) -> dict[str, Any]:
    client = clients(sb).secret_client
    tab: dict[str, Any] = {
        "grant_type": "client_credentials",
        "client_id": client.client_id,
        "client_secret": client.read_secret(),
        "access_token_url": sb.token_url,
        "access_token_parameters": [{"name": "resource", "value": sb.origin}],
    }
    tab.update(overrides)
    return tab


def certificate_tab(sb: Sandbox, algorithm: str, *, pkcs12: bool = False, **jwt: Any) -> dict[str, Any]:
    provisioned = clients(sb)
    client = provisioned.certificate_client
    files = next(f for f in client.certificates if f.algorithm == ("EC" if algorithm.startswith("ES") else "RSA"))
    if pkcs12:
        key: dict[str, Any] = {
            "format": "pkcs12",
            "pkcs12": base64.b64encode(files.pfx_file.read_bytes()).decode(),
            "password": provisioned.read_pfx_password(),
        }
    else:
        key = {
            "format": "pem",
            "private_key": files.key_file.read_text(),
            "certificate": files.certificate_file.read_text(),
        }
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": "jwt",
        "client_id": client.client_id,
        "access_token_url": sb.token_url,
        "access_token_parameters": [{"name": "resource", "value": sb.origin}],
        "jwt": {"signature_algorithm": algorithm, "signature_key": key, **jwt},
    }


def code_tab(sb: Sandbox, **overrides: Any) -> dict[str, Any]:
    client = clients(sb).authorization_code_client
    tab: dict[str, Any] = {
        "grant_type": "authorization_code",
        "client_id": client.client_id,
        "client_secret": client.read_secret(),
        "access_token_url": sb.token_url,
        "authorization_parameters": [{"name": "resource", "value": sb.origin}],
    }
    tab.update(overrides)
    return tab


def parsed(sb: Sandbox, oauth: dict[str, Any], context: RuntimeContext) -> ConnectionSettings:
    return parse_settings(raw_settings(sb, oauth), context)


def who_am_i(transport: Transport) -> requests.Response:
    return transport.send("GET", transport.settings.api_root + "WhoAmI", headers={"Accept": "application/json"})


def web_api(sb: Sandbox, oauth: dict[str, Any], store: RecordingStore | None = None) -> tuple[TokenSource, Transport]:
    """A token source on the sandbox's clock and the Web API transport that uses it."""
    context = RuntimeContext(callback_url=DEFAULT_REDIRECT_URI, token_store=store or RecordingStore())
    settings = parsed(sb, oauth, context)
    source = build_token_source(settings, context, clock=sb.clock.now)
    return source, Transport(settings, bearer=source, sleep=lambda _seconds: None, describe_error=describe_error)


def v2_code_tab(sb: Sandbox, **overrides: Any) -> dict[str, Any]:
    """The documented v2 set-up: the v2 token URL, no resource parameter, Scope with offline_access."""
    tab = code_tab(
        sb,
        access_token_url=sb.token_url_v2,
        authorization_parameters=[],
        scope=f"{sb.origin}/user_impersonation offline_access",
    )
    tab.update(overrides)
    return tab


def authorize_headlessly(
    sb: Sandbox, host: ConnectorHost, store: RecordingStore, oauth: dict[str, Any] | None = None
) -> tuple[Any, TokenSet]:
    """Run the authorization-code grant through the hook, signing in on the sandbox's pages as a browser would."""
    context = RuntimeContext(callback_url=DEFAULT_REDIRECT_URI, token_store=store)
    connection = host.connect(CONNECTOR, raw_settings(sb, oauth or code_tab(sb)), context)
    start = host.authorize(CONNECTOR, connection, "start")
    assert isinstance(start, AuthorizationStart)
    authorize_query = parse_qs(urlsplit(start.url).query)
    assert has_own_settings(connection)
    assert ("resource" in authorize_query) is (connection.settings.oauth.entra_version != "v2")
    user = clients(sb).users[0]
    with requests.Session() as browser:
        browser.trust_env = False
        answer = sign_in(browser, start.url, {}, user_name=user.user_name, password=user.read_password())
    params = redirect_params(answer)
    assert answer.headers["Location"].startswith(DEFAULT_REDIRECT_URI)
    token_set = host.authorize(
        CONNECTOR, connection, AuthorizationCallback(params, state=start.state, code_verifier=start.code_verifier)
    )
    assert isinstance(token_set, TokenSet)
    return connection, token_set


# --- every grant and assertion type -------------------------------------------------------------------------------


@pytest.mark.parametrize("authentication", ["client_secret_post", "client_secret_basic"])
def test_client_secret_reaches_the_web_api(sandbox: Sandbox, authentication: str) -> None:
    source, transport = web_api(sandbox, secret_tab(sandbox, client_authentication=authentication))
    response = who_am_i(transport)
    assert response.status_code == 200, response.text
    assert source.requests == 1


def test_client_secret_on_the_v2_endpoint_with_a_scope(sandbox: Sandbox) -> None:
    tab = secret_tab(
        sandbox, access_token_url=sandbox.token_url_v2, access_token_parameters=[], scope=f"{sandbox.origin}/.default"
    )
    _, transport = web_api(sandbox, tab)
    assert who_am_i(transport).status_code == 200


@pytest.mark.parametrize(
    ("algorithm", "s256", "sha1"),
    [
        ("RS256", False, True),
        ("RS384", True, False),
        ("RS512", True, True),
        ("PS256", True, False),
        ("PS384", True, True),
        ("PS512", False, True),
        ("ES256", True, False),
        ("ES256", False, True),
    ],
)
def test_certificate_assertion_reaches_the_web_api(sandbox: Sandbox, algorithm: str, s256: bool, sha1: bool) -> None:
    _, transport = web_api(sandbox, certificate_tab(sandbox, algorithm, include_x5t_s256=s256, include_x5t=sha1))
    response = who_am_i(transport)
    assert response.status_code == 200, response.text


def test_pkcs12_certificate_assertion(sandbox: Sandbox) -> None:
    _, transport = web_api(sandbox, certificate_tab(sandbox, "PS256", pkcs12=True))
    assert who_am_i(transport).status_code == 200


def test_client_credentials_through_the_hook(sandbox: Sandbox, host: ConnectorHost) -> None:
    store = RecordingStore()
    connection = host.connect(CONNECTOR, raw_settings(sandbox, secret_tab(sandbox)), RuntimeContext(token_store=store))
    token_set = host.authorize(CONNECTOR, connection, "token")
    assert isinstance(token_set, TokenSet)
    assert token_set.expires_at is not None
    assert [saved["access_token"] for _, saved in store.saves] == [token_set.access_token]


# --- authorization code ------------------------------------------------------------------------------------------


def test_authorization_code_headlessly_then_refresh_with_rotation(sandbox: Sandbox, host: ConnectorHost) -> None:
    store = RecordingStore()
    connection, first = authorize_headlessly(sandbox, host, store)
    assert first.refresh_token
    ((key, saved),) = store.saves
    assert saved["refresh_token"] == first.refresh_token

    refreshed = host.authorize(CONNECTOR, connection, "token")
    assert isinstance(refreshed, TokenSet)
    assert refreshed.refresh_token not in (None, first.refresh_token)  # rotated ...
    assert store.items[key]["refresh_token"] == refreshed.refresh_token  # ... and saved

    # The token works on the Web API.
    response = who_am_i(connection.state.transport)
    assert response.status_code == 200, response.text

    # The first refresh token was single-use: the token service refuses it now.
    other_worker = RuntimeContext(token_store=RecordingStore())
    stale = host.connect(CONNECTOR, raw_settings(sandbox, code_tab(sandbox)), other_worker)
    assert has_own_settings(stale)
    stale_source = build_token_source(stale.settings, stale.context)
    stale.context.token_store.save(stale_source.store_key, first.to_dict())
    with pytest.raises(AuthError) as caught:
        stale_source.fetch()
    assert caught.value.code == AUTHORIZATION_REQUIRED


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({}, id="documented"),
        # A resource parameter left from a v1 set-up: connect warns, and it is never sent (the sandbox, like Entra,
        # refuses it on v2 with AADSTS901002 at authorize, redemption and refresh alike).
        pytest.param(
            {"authorization_parameters": [{"name": "resource", "value": "https://placeholder.crm.dynamics.com"}]},
            id="resource left in",
        ),
        pytest.param({"access_token_parameters": [{"name": "resource", "value": "x"}]}, id="resource in token"),
    ],
)
def test_authorization_code_on_the_v2_endpoints(sandbox: Sandbox, host: ConnectorHost, extra: dict[str, Any]) -> None:
    store = RecordingStore()
    oauth = v2_code_tab(sandbox, **extra)
    connection, first = authorize_headlessly(sandbox, host, store, oauth)
    assert connection.settings.oauth.authorization_url == sandbox.authorize_url_v2
    assert first.refresh_token  # offline_access was asked for
    assert first.scope is not None
    assert "user_impersonation" in first.scope
    refreshed = host.authorize(CONNECTOR, connection, "token")
    assert isinstance(refreshed, TokenSet)
    assert refreshed.refresh_token not in (None, first.refresh_token)
    response = who_am_i(connection.state.transport)
    assert response.status_code == 200, response.text
    warned = [d.field for d in connection.settings.oauth.diagnostics if d.level == "warning"]
    assert warned == [
        field
        for field in ("oauth2.authorization_parameters", "oauth2.access_token_parameters")
        if field.rsplit(".", 1)[1] in extra
    ]


def test_v2_authorization_code_without_a_scope_is_refused_by_connect(sandbox: Sandbox, host: ConnectorHost) -> None:
    oauth = v2_code_tab(sandbox)
    del oauth["scope"]
    with pytest.raises(ConfigError) as caught:
        host.connect(CONNECTOR, raw_settings(sandbox, oauth), RuntimeContext(callback_url=DEFAULT_REDIRECT_URI))
    assert caught.value.fields == ["oauth2.scope"]
    assert "/oauth2/v2.0/" in caught.value.user_message


def test_declined_consent_is_an_auth_error(sandbox: Sandbox, host: ConnectorHost) -> None:
    context = RuntimeContext(callback_url=DEFAULT_REDIRECT_URI)
    # prompt=consent: the user may have consented in an earlier test of this module.
    parameters = [{"name": "resource", "value": sandbox.origin}, {"name": "prompt", "value": "consent"}]
    connection = host.connect(
        CONNECTOR, raw_settings(sandbox, code_tab(sandbox, authorization_parameters=parameters)), context
    )
    start = host.authorize(CONNECTOR, connection, "start")
    assert isinstance(start, AuthorizationStart)
    user = clients(sandbox).users[0]
    with requests.Session() as browser:
        browser.trust_env = False
        answer = sign_in(
            browser, start.url, {}, user_name=user.user_name, password=user.read_password(), decision="cancel"
        )
    params = redirect_params(answer)
    with pytest.raises(AuthError) as caught:
        host.authorize(CONNECTOR, connection, AuthorizationCallback(params, start.state, start.code_verifier))
    assert caught.value.code == AUTHORIZATION_REQUIRED
    assert "AADSTS65004" in caught.value.user_message


# --- long runs ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("grant", ["client_credentials", "authorization_code"])
def test_long_run_outlives_several_access_tokens_without_a_failed_call(
    sandbox: Sandbox, host: ConnectorHost, grant: str
) -> None:
    store = RecordingStore()
    if grant == "authorization_code":
        authorize_headlessly(sandbox, host, store)
        oauth = code_tab(sandbox)
    else:
        oauth = secret_tab(sandbox)
    source, transport = web_api(sandbox, oauth, store)
    statuses = []
    for _hour in range(5):
        for _call in range(3):
            statuses.append(who_am_i(transport).status_code)
            sandbox.clock.advance(HOUR / 3)  # tokens live an hour: each one expires within the loop
    assert statuses == [200] * 15
    # Renewed ahead of expiry, never after a 401: one token per ~55 minutes of sandbox time.
    assert 5 <= source.requests <= 6
    if grant == "authorization_code":
        refresh_tokens = [saved["refresh_token"] for _, saved in store.saves]
        assert len(set(refresh_tokens)) == len(refresh_tokens)  # every rotation saved


def test_a_token_the_web_api_rejects_is_renewed_once_and_the_call_succeeds(sandbox: Sandbox) -> None:
    context = RuntimeContext(token_store=RecordingStore())
    settings = parsed(sandbox, secret_tab(sandbox), context)
    frozen = FakeClock(sandbox.clock.now())
    source = build_token_source(settings, context, clock=frozen)  # believes its token never ages
    transport = Transport(settings, bearer=source, sleep=lambda _seconds: None, describe_error=describe_error)
    assert who_am_i(transport).status_code == 200
    sandbox.clock.advance(2 * HOUR)  # the service sees the token expire
    assert who_am_i(transport).status_code == 200  # 401, renew, retry
    assert source.requests == 2


# --- refusals name the field --------------------------------------------------------------------------------------


def token_error(sb: Sandbox, oauth: dict[str, Any]) -> AuthError:
    source, _ = web_api(sb, oauth)
    with pytest.raises(AuthError) as caught:
        source.bearer()
    return caught.value


def test_wrong_secret_names_client_secret(sandbox: Sandbox) -> None:
    error = token_error(sandbox, secret_tab(sandbox, client_secret="not-the-secret"))
    assert (error.field, error.status) == ("oauth2.client_secret", 401)
    assert "AADSTS7000215" in error.user_message
    assert "not-the-secret" not in str(error)


def test_unknown_client_names_client_id(sandbox: Sandbox) -> None:
    error = token_error(sandbox, secret_tab(sandbox, client_id="11111111-2222-3333-4444-555555555555"))
    assert error.field == "oauth2.client_id"


def test_unknown_resource_names_the_resource_parameter(sandbox: Sandbox) -> None:
    params = [{"name": "resource", "value": "https://unknown.crm.dynamics.com"}]
    error = token_error(sandbox, secret_tab(sandbox, access_token_parameters=params))
    assert error.field == "oauth2.access_token_parameters"
    assert "https://unknown.crm.dynamics.com" in error.user_message


def test_v2_without_scope_is_warned_at_connect_and_its_refusal_names_scope(sandbox: Sandbox) -> None:
    """A v1 set-up moved to the v2 URL: resource is not sent, and the token service's AADSTS900144 ("must contain
    'scope'") names Scope, the field that was warned about at connect (issue 12, item 10).
    """
    tab = secret_tab(sandbox, access_token_url=sandbox.token_url_v2)
    settings = parsed(sandbox, tab, RuntimeContext())
    assert [(d.field, "set Scope to" in d.message) for d in settings.oauth.diagnostics] == [
        ("oauth2.access_token_parameters", True)
    ]
    error = token_error(sandbox, tab)
    assert (error.field, error.status) == ("oauth2.scope", 400)
    assert "AADSTS900144" in error.user_message


def test_unknown_tenant_names_the_token_url(sandbox: Sandbox) -> None:
    url = sandbox.token_url.replace(clients(sandbox).tenant_id, "99999999-9999-9999-9999-999999999999")
    error = token_error(sandbox, secret_tab(sandbox, access_token_url=url))
    assert error.field == "oauth2.access_token_url"


def test_assertion_signed_by_another_certificate_names_the_signature_key(sandbox: Sandbox) -> None:
    tab = certificate_tab(sandbox, "RS256")
    stranger = key_material("RS256")
    tab["jwt"]["signature_key"] = {
        "format": "pem",
        "private_key": stranger.key_pem,
        "certificate": stranger.certificate_pem,
    }
    error = token_error(sandbox, tab)
    assert error.field == "oauth2.jwt.signature_key"
    assert "AADSTS700027" in error.user_message


# --- a refused assertion names the setting that caused it (issue 12, item 11) ---------------------------------------


def assertion_error(sb: Sandbox, oauth: dict[str, Any], *, ahead: float = 0.0) -> AuthError:
    context = RuntimeContext(token_store=RecordingStore())
    source = build_token_source(parsed(sb, oauth, context), context, clock=lambda: sb.clock.now() + ahead)
    with pytest.raises(AuthError) as caught:
        source.bearer()
    return caught.value


def test_a_clock_ahead_of_the_token_service_names_the_time_window_and_the_clock(sandbox: Sandbox) -> None:
    error = assertion_error(sandbox, certificate_tab(sandbox, "PS256"), ahead=120)
    assert error.field == "oauth2.jwt.expiration_seconds"
    assert "AADSTS700024" in error.user_message
    assert "clock is ahead" in error.user_message


def test_a_clock_far_behind_says_the_assertion_expired_on_arrival(sandbox: Sandbox) -> None:
    error = assertion_error(sandbox, certificate_tab(sandbox, "PS256", expiration_seconds=60), ahead=-600)
    assert error.field == "oauth2.jwt.expiration_seconds"
    assert "expired" in error.user_message


def test_an_audience_override_names_the_audience(sandbox: Sandbox) -> None:
    other = sandbox.token_url.replace(clients(sandbox).tenant_id, "99999999-9999-9999-9999-999999999999")
    error = assertion_error(sandbox, certificate_tab(sandbox, "PS256", audience=other))
    assert error.field == "oauth2.jwt.audience"
    assert other in error.user_message
    assert "AADSTS50027" in error.user_message


def test_jti_none_names_the_id_claim_generator(sandbox: Sandbox) -> None:
    error = assertion_error(sandbox, certificate_tab(sandbox, "PS256", jti="NONE"))
    assert error.field == "oauth2.jwt.jti"
    assert "choose UUID" in error.user_message


def test_a_replayed_jti_names_the_id_claim_generator(sandbox: Sandbox) -> None:
    """The connector never repeats a jti (a new one per attempt); a signer made to repeat one shows the mapping."""
    from connector.auth.assertion import ClientAssertionSigner
    from connector.auth.grants import request_client_credentials

    settings = parsed(sandbox, certificate_tab(sandbox, "PS256"), RuntimeContext())
    assert settings.oauth.jwt is not None
    signer = ClientAssertionSigner(settings.oauth.jwt, clock=sandbox.clock.now, jti=lambda: "the-same-jti")
    transport = Transport(settings, policy=RetryPolicy(max_attempts=1), sleep=lambda _seconds: None)
    request_client_credentials(settings.oauth, transport, clock=sandbox.clock.now, signer=signer)
    with pytest.raises(AuthError) as caught:
        request_client_credentials(settings.oauth, transport, clock=sandbox.clock.now, signer=signer)
    assert caught.value.field == "oauth2.jwt.jti"
    assert "replay" in caught.value.user_message


def test_token_service_outage_is_transient(sandbox: Sandbox) -> None:
    context = RuntimeContext(token_store=RecordingStore())
    settings = parsed(sandbox, secret_tab(sandbox), context)
    transport = Transport(settings, policy=RetryPolicy(max_attempts=2), sleep=lambda _seconds: None)
    source = TokenSource(settings.oauth, context, transport, clock=sandbox.clock.now)
    previous = sandbox.faults.settings
    sandbox.faults.update(FaultSettings(token_outage=True))
    try:
        with pytest.raises(TransientError) as caught:
            source.bearer()
    finally:
        sandbox.faults.update(previous)
    assert sandbox.token_url in caught.value.user_message
    assert source.bearer()  # back once the outage ends
