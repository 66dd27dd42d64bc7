"""The transport over the retry engine: the HTTP outcome table, Retry-After, backoff bounds, token renewal, origin
checks, trust and proxy decisions, the injected error describer. Strict `responses` mocks; a fake clock instead of
sleeping. The engine alone, with fake answers: ``tests/core/test_retry.py``.
"""

from __future__ import annotations

import base64
import email.utils
import json
from typing import Any

import pytest
import requests
import responses
import urllib3
from requests.exceptions import ConnectionError as RequestsConnectionError
from urllib3.exceptions import NewConnectionError, ProtocolError

from connector.context import ProxySettings, RuntimeContext
from connector.dataverse.odata.answers import describe_error
from connector.errors import AuthError, ConfigError, RemoteError, TransientError
from connector.retry import SharedPause, delivery_of
from connector.secrets import Secret
from connector.settings import parse_settings
from connector.transport import RESENT_NOTE, ErrorDescription, RetryPolicy, Transport, origin_of
from tests.support.clock import FakeClock
from tests.support.dataverse import API, FakeBearer
from tests.support.examples import CLIENT_SECRET_SETTINGS


def make_transport(
    clock: FakeClock, bearer: FakeBearer | None = None, gate: SharedPause | None = None, **policy: Any
) -> Transport:
    settings = parse_settings(CLIENT_SECRET_SETTINGS, RuntimeContext())
    return Transport(
        settings,
        bearer=bearer,
        policy=RetryPolicy(**policy),
        clock=clock,
        sleep=clock.sleep,
        wall_clock=FakeClock(),  # the wall clock stands still while the monotonic one moves
        gate=gate,
        describe_error=describe_error,
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def mocked() -> Any:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


THROTTLED = {
    "error": {
        "code": "0x80072322",
        "message": "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
    }
}


def test_429_waits_for_retry_after_then_succeeds(mocked: Any, clock: FakeClock) -> None:
    mocked.get(API + "WhoAmI", status=429, json=THROTTLED, headers={"Retry-After": "7"})
    mocked.get(API + "WhoAmI", status=200, json={"UserId": "u"})
    response = make_transport(clock).send("GET", API + "WhoAmI")
    assert response.json() == {"UserId": "u"}
    assert clock.sleeps == [7.0]


def test_retry_after_as_http_date(mocked: Any, clock: FakeClock) -> None:
    when = email.utils.formatdate(1_700_000_000.0 + 12, usegmt=True)
    mocked.get(API + "x", status=429, json=THROTTLED, headers={"Retry-After": when})
    mocked.get(API + "x", status=200, json={})
    make_transport(clock).send("GET", API + "x")
    assert clock.sleeps == [12.0]


def test_503_and_504_back_off_with_growing_bounded_waits(mocked: Any, clock: FakeClock) -> None:
    for status in (503, 502, 504, 503):
        mocked.get(API + "x", status=status, json={"error": {"code": "0x0", "message": "busy"}})
    mocked.get(API + "x", status=200, json={})
    make_transport(clock, backoff_base_seconds=1, backoff_cap_seconds=3).send("GET", API + "x")
    assert len(clock.sleeps) == 4
    assert all(0 <= wait <= ceiling for wait, ceiling in zip(clock.sleeps, [1, 2, 3, 3], strict=True))


def test_retries_stop_at_max_attempts_and_raise_transient(mocked: Any, clock: FakeClock) -> None:
    for _ in range(3):
        mocked.get(API + "x", status=429, json=THROTTLED, headers={"Retry-After": "1"})
    transport = make_transport(clock, max_attempts=3)
    with pytest.raises(TransientError) as caught:
        transport.request("GET", API + "x")
    assert (
        caught.value.user_message
        == "(0x80072322)Number of requests exceeded the limit of 6000 over time window of 300 seconds.[429]"
    )
    assert caught.value.retry_after == 1.0
    assert clock.sleeps == [1.0, 1.0]


def test_a_retry_after_beyond_the_longest_wait_fails_at_once_and_carries_it(mocked: Any, clock: FakeClock) -> None:
    """The host cannot wait inside the call, but must learn when to come back (issue 12)."""
    mocked.get(API + "x", status=429, json=THROTTLED, headers={"Retry-After": "3600"})
    with pytest.raises(TransientError) as caught:
        make_transport(clock).request("GET", API + "x")
    assert caught.value.retry_after == 3600.0
    assert clock.sleeps == []


def test_retries_stop_at_the_total_time_bound(mocked: Any, clock: FakeClock) -> None:
    mocked.get(API + "x", status=429, json=THROTTLED, headers={"Retry-After": "40"})
    mocked.get(API + "x", status=429, json=THROTTLED, headers={"Retry-After": "40"})
    with pytest.raises(TransientError):
        make_transport(clock, max_total_seconds=60).request("GET", API + "x")
    assert clock.sleeps == [40.0]


@pytest.mark.parametrize("status", [400, 403, 404, 405, 412, 413, 500])
def test_client_and_server_errors_are_not_retried(mocked: Any, clock: FakeClock, status: int) -> None:
    body = {"error": {"code": "0x80040217", "message": "account With Id = 1 Does Not Exist"}}
    mocked.get(API + "x", status=status, json=body)
    with pytest.raises(RemoteError) as caught:
        make_transport(clock).request("GET", API + "x")
    assert caught.value.user_message == f"(0x80040217)account With Id = 1 Does Not Exist[{status}]"
    assert (caught.value.status, caught.value.code) == (status, "0x80040217")
    assert clock.sleeps == []


def test_401_renews_the_token_once(mocked: Any, clock: FakeClock) -> None:
    bearer = FakeBearer()
    mocked.get(API + "x", status=401, match=[responses.matchers.header_matcher({"Authorization": "Bearer token-1"})])
    mocked.get(
        API + "x", status=200, json={}, match=[responses.matchers.header_matcher({"Authorization": "Bearer token-2"})]
    )
    make_transport(clock, bearer).request("GET", API + "x")
    assert bearer.renewals == ["token-1"]


def test_a_second_401_is_an_auth_error(mocked: Any, clock: FakeClock) -> None:
    bearer = FakeBearer()
    mocked.get(API + "x", status=401)
    mocked.get(API + "x", status=401)
    with pytest.raises(AuthError) as caught:
        make_transport(clock, bearer).request("GET", API + "x")
    assert bearer.renewals == ["token-1"]
    assert caught.value.status == 401
    assert "the token's audience is not readable; it sent no WWW-Authenticate challenge" in caught.value.user_message


def unsigned_jwt(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


class JwtBearer(FakeBearer):
    """Hands out JWTs for one audience."""

    def __init__(self, audience: str) -> None:
        super().__init__()
        self.tokens = [unsigned_jwt({"aud": audience, "n": 1})]

    def renew(self, rejected: str) -> str:
        self.renewals.append(rejected)
        self.tokens.append(unsigned_jwt({"aud": json.loads(_claims(rejected))["aud"], "n": len(self.tokens) + 1}))
        return self.tokens[-1]


def _claims(token: str) -> str:
    payload = token.split(".")[1]
    return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()


CHALLENGE = (
    "Bearer authorization_uri=https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/authorize, "
    "resource_id=https://contoso.crm.dynamics.com/"
)


def test_a_persistent_401_names_the_audience_the_challenge_and_the_resource_to_fix(
    mocked: Any, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A persistent 401 said only "Unauthorized[401]" (issue 12)."""
    caplog.set_level("DEBUG")
    bearer = JwtBearer("https://other.crm.dynamics.com")
    mocked.get(API + "x", status=401, headers={"WWW-Authenticate": CHALLENGE})
    mocked.get(API + "x", status=401, headers={"WWW-Authenticate": CHALLENGE})
    with pytest.raises(AuthError) as caught:
        make_transport(clock, bearer).request("GET", API + "x")
    error = caught.value
    assert error.field == "oauth2.access_token_parameters"
    assert error.user_message == (
        "The Web API at https://contoso.crm.dynamics.com refused the access token (401 Unauthorized): the Web API "
        "accepts tokens for https://contoso.crm.dynamics.com, but the token is for https://other.crm.dynamics.com. "
        "Set the resource to https://contoso.crm.dynamics.com (the Web API's protocol and host). (the token was for "
        f"the audience https://other.crm.dynamics.com; it answered WWW-Authenticate: {CHALLENGE})"
    )
    for token in bearer.tokens:
        assert token not in error.user_message
        assert token not in caplog.text


def test_a_persistent_401_for_the_right_audience_says_what_to_check_in_the_environment(
    mocked: Any, clock: FakeClock
) -> None:
    bearer = JwtBearer("https://contoso.crm.dynamics.com/")
    mocked.get(API + "x", status=401, headers={"WWW-Authenticate": CHALLENGE})
    mocked.get(API + "x", status=401, headers={"WWW-Authenticate": CHALLENGE})
    with pytest.raises(AuthError) as caught:
        make_transport(clock, bearer).request("GET", API + "x")
    error = caught.value
    assert error.field == "oauth2.client_id"
    assert "is an application user of this environment (Power Platform admin center) with a security role" in (
        error.user_message
    )
    assert "the resource or scope is the API's origin https://contoso.crm.dynamics.com" in error.user_message
    assert "the token was for the audience https://contoso.crm.dynamics.com/" in error.user_message


def test_a_persistent_401_from_another_tenant_names_the_token_url(mocked: Any, clock: FakeClock) -> None:
    other = CHALLENGE.replace("contoso.onmicrosoft.com", "fabrikam.onmicrosoft.com")
    bearer = JwtBearer("https://contoso.crm.dynamics.com")
    mocked.get(API + "x", status=401, headers={"WWW-Authenticate": other})
    mocked.get(API + "x", status=401, headers={"WWW-Authenticate": other})
    with pytest.raises(AuthError) as caught:
        make_transport(clock, bearer).request("GET", API + "x")
    assert caught.value.field == "oauth2.access_token_url"
    assert "the environment belongs to the tenant in https://login.microsoftonline.com/fabrikam" in (
        caught.value.user_message
    )


def test_token_is_never_sent_to_another_origin(mocked: Any, clock: FakeClock) -> None:
    mocked.get("https://evil.example/api/data/v9.2/accounts", status=200, json={"value": []})
    make_transport(clock, FakeBearer()).send("GET", "https://evil.example/api/data/v9.2/accounts")
    assert "Authorization" not in mocked.calls[0].request.headers


@pytest.mark.parametrize("method", ["GET", "DELETE", "PATCH", "POST"])
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_never_success_nor_followed_and_names_where_it_pointed(
    mocked: Any, clock: FakeClock, method: str, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    """A 302 answered to a delete was reported `deleted`; on a Get it was "transient", retried forever (issue 12)."""
    caplog.set_level("DEBUG")
    mocked.add(method, API + "x", status=status, headers={"Location": "https://evil.example/steal?code=s3cr3t#f"})
    with pytest.raises(ConfigError) as caught:
        make_transport(clock, FakeBearer()).send(method, API + "x")
    assert caught.value.fields == ["connection.base_url"]
    message = caught.value.user_message
    assert f"https://contoso.crm.dynamics.com answered {status} " in message
    assert "redirecting to https://evil.example: the connector follows no redirect" in message
    assert "s3cr3t" not in message
    assert "/steal" not in message
    assert "s3cr3t" not in caplog.text
    assert mocked.calls[0].request.headers["Authorization"] == "Bearer token-1"
    assert len(mocked.calls) == 1
    assert clock.sleeps == []


def test_a_redirect_to_https_names_the_protocol(mocked: Any, clock: FakeClock) -> None:
    settings = parse_settings(
        {**CLIENT_SECRET_SETTINGS, "connection": {**CLIENT_SECRET_SETTINGS["connection"], "protocol": "http"}},
        RuntimeContext(),
    )
    plain = "http://contoso.crm.dynamics.com/api/data/v9.2/"
    mocked.get(plain + "WhoAmI()", status=301, headers={"Location": API + "WhoAmI()"})
    with pytest.raises(ConfigError) as caught:
        Transport(settings, clock=clock, sleep=clock.sleep).send("GET", plain + "WhoAmI()")
    assert caught.value.fields == ["connection.protocol"]
    assert caught.value.user_message.endswith("choose https")


def test_a_redirect_without_a_location_and_one_to_another_path(mocked: Any, clock: FakeClock) -> None:
    mocked.get(API + "x", status=302)
    mocked.get(API + "y", status=308, headers={"Location": "/login?hidden=q1w2e3"})
    transport = make_transport(clock)
    with pytest.raises(ConfigError, match="answered 302 Found without saying where to go"):
        transport.send("GET", API + "x")
    with pytest.raises(ConfigError, match=r"redirecting to another path on https://contoso\.crm\.dynamics\.com: ") as c:
        transport.send("GET", API + "y")
    assert "q1w2e3" not in c.value.user_message
    assert "/login" not in c.value.user_message


@pytest.mark.parametrize("location", ["https://[x/login", "https://contoso.crm.dynamics.com:99999/"])
def test_a_redirect_to_no_url_is_still_a_configuration_error(mocked: Any, clock: FakeClock, location: str) -> None:
    # Reading where it pointed raised ValueError before, deep inside the transport (requests prepares the next
    # request of a redirect even when told not to follow it: a plain session still does).
    mocked.get(API + "x", status=302, headers={"Location": location})
    with pytest.raises(ConfigError, match="answered 302 Found to a place that is not a URL"):
        make_transport(clock).send("GET", API + "x")
    if location.startswith("https://["):
        with pytest.raises(ValueError, match="Invalid IPv6 URL"), requests.Session() as plain:
            plain.get(API + "x", allow_redirects=False)


def test_304_not_modified_is_an_answer_not_a_redirect(mocked: Any, clock: FakeClock) -> None:
    mocked.get(API + "x", status=304)
    assert make_transport(clock).request("GET", API + "x").status_code == 304


def test_connection_reset_on_post_is_not_resent(mocked: Any, clock: FakeClock) -> None:
    reset = RequestsConnectionError(ProtocolError("Connection aborted.", ConnectionResetError(104, "reset")))
    mocked.post(API + "accounts", body=reset)
    with pytest.raises(TransientError, match="may have been processed") as caught:
        make_transport(clock).send("POST", API + "accounts", json={"name": "x"})
    assert caught.value.ambiguous is True
    assert len(mocked.calls) == 1


@pytest.mark.parametrize("status", [502, 503, 504])
def test_a_post_answered_by_a_gateway_error_is_not_resent_and_its_error_says_so(
    mocked: Any, clock: FakeClock, status: int
) -> None:
    """The gateway may have passed the create on: a second POST could store a second record (issue 12)."""
    mocked.post(API + "accounts", status=status, json={"error": {"code": "0x80040216", "message": "busy"}})
    with pytest.raises(TransientError) as caught:
        make_transport(clock).request("POST", API + "accounts", json={"name": "x"})
    assert caught.value.user_message == (
        f"(0x80040216)busy[{status}]; the request may have been processed, so it was not sent again"
    )
    assert caught.value.ambiguous is True
    assert len(mocked.calls) == 1


def test_a_post_is_resent_after_a_429_and_after_a_503_with_retry_after(mocked: Any, clock: FakeClock) -> None:
    mocked.post(API + "accounts", status=429, json=THROTTLED, headers={"Retry-After": "2"})
    mocked.post(API + "accounts", status=503, headers={"Retry-After": "3"})
    mocked.post(API + "accounts", status=204)
    assert make_transport(clock).send("POST", API + "accounts", json={"name": "x"}).status_code == 204
    assert clock.sleeps == [2.0, 3.0]


def test_an_idempotent_request_exhausting_its_attempts_on_a_gateway_error_is_not_ambiguous(
    mocked: Any, clock: FakeClock
) -> None:
    mocked.get(API + "x", status=504)
    mocked.get(API + "x", status=504)
    with pytest.raises(TransientError) as caught:
        make_transport(clock, max_attempts=2).request("GET", API + "x")
    assert caught.value.ambiguous is False
    assert caught.value.user_message == "Gateway Timeout[504]"


def test_an_error_answering_a_repeat_after_a_lost_answer_says_so(mocked: Any, clock: FakeClock) -> None:
    reset = RequestsConnectionError(ProtocolError("Connection aborted.", ConnectionResetError(104, "reset")))
    mocked.patch(API + "accounts(1)", body=reset)
    mocked.patch(API + "accounts(1)", status=412, json={"error": {"code": "0x80060882", "message": "version"}})
    transport = make_transport(clock)
    response = transport.send("PATCH", API + "accounts(1)", json={}, headers={"If-Match": 'W/"1"'}, idempotent=True)
    assert delivery_of(response).resent is True
    error = transport.error_for(response)
    assert error.user_message == f"(0x80060882)version[412]; {RESENT_NOTE}"


def test_a_body_cut_off_mid_read_is_a_transient_error(mocked: Any, clock: FakeClock) -> None:
    cut = requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead")
    mocked.get(API + "x", body=cut)
    mocked.get(API + "x", status=200, json={"value": []})
    assert make_transport(clock).send("GET", API + "x").json() == {"value": []}


def test_token_posts_do_not_follow_redirects(mocked: Any, clock: FakeClock) -> None:
    token_url = "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/token"
    mocked.post(token_url, status=307, headers={"Location": "https://evil.example/t"})
    with pytest.raises(ConfigError) as caught:
        make_transport(clock).send("POST", token_url, data={"client_secret": "s"}, authenticate=False)
    assert caught.value.fields == ["oauth2.access_token_url"]
    assert "redirecting to https://evil.example" in caught.value.user_message
    assert len(mocked.calls) == 1


def test_connection_reset_on_idempotent_request_is_retried(mocked: Any, clock: FakeClock) -> None:
    reset = RequestsConnectionError(ProtocolError("Connection aborted.", ConnectionResetError(104, "reset")))
    mocked.post(API + "accounts", body=reset)
    mocked.post(API + "accounts", status=204)
    response = make_transport(clock).send("POST", API + "accounts", json={"accountid": "k"}, idempotent=True)
    assert response.status_code == 204


def test_a_refused_connection_is_retried_even_for_post(mocked: Any, clock: FakeClock) -> None:
    refused = RequestsConnectionError(NewConnectionError(None, "Connection refused"))  # type: ignore[arg-type]
    mocked.post(API + "accounts", body=refused)
    mocked.post(API + "accounts", status=204)
    assert make_transport(clock).send("POST", API + "accounts", json={}).status_code == 204


def test_a_429_holds_back_every_thread(clock: FakeClock) -> None:
    pause = SharedPause(clock, clock.sleep)
    transport = make_transport(clock, gate=pause)
    pause.hold_until(clock() + 5)
    with responses.RequestsMock() as mocked:
        mocked.get(API + "x", status=200, json={})
        transport.send("GET", API + "x")
    assert clock.sleeps == [5.0]


def test_the_gate_terminates_with_a_clock_that_does_not_move(mocked: Any) -> None:
    frozen = FakeClock()
    frozen.sleep = lambda seconds: frozen.sleeps.append(seconds)  # type: ignore[method-assign]
    pause = SharedPause(frozen, frozen.sleep)
    transport = make_transport(frozen, gate=pause)
    pause.hold_until(frozen() + 2)
    mocked.get(API + "x", status=200, json={})
    transport.send("GET", API + "x")
    assert frozen.sleeps == [2.0]


def test_session_ignores_environment_proxies_and_ca_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://env-proxy.invalid:9")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/env-bundle.pem")
    settings = parse_settings(CLIENT_SECRET_SETTINGS, RuntimeContext(ca_bundle="/runtime/ca.pem"))
    transport = Transport(settings)
    assert transport.session.trust_env is False
    assert transport.session.verify == "/runtime/ca.pem"
    merged = transport.session.merge_environment_settings(API, {}, None, None, None)
    assert merged["proxies"] == {}
    assert merged["verify"] == "/runtime/ca.pem"


def test_runtime_proxy_is_passed_per_request(mocked: Any, clock: FakeClock) -> None:
    settings_raw = {
        **CLIENT_SECRET_SETTINGS,
        "connection": {**CLIENT_SECRET_SETTINGS["connection"], "honor_runtime_proxy": True},
    }
    context = RuntimeContext(proxy=ProxySettings(host="proxy.local", port=3128, user="u", password=Secret("p")))
    transport = Transport(parse_settings(settings_raw, context), clock=clock, sleep=clock.sleep)
    seen: dict[str, Any] = {}
    original = transport.session.request

    def spy(method: str, url: str, **kwargs: Any) -> requests.Response:
        seen.update(kwargs)
        return original(method, url, **kwargs)

    transport.session.request = spy  # type: ignore[method-assign,assignment]
    mocked.get(API + "x", status=200, json={})
    transport.send("GET", API + "x")
    assert seen["proxies"] == {"http": "http://u:p@proxy.local:3128", "https": "http://u:p@proxy.local:3128"}
    assert seen["timeout"] == (120.0, 120.0)


def proxied_transport(clock: FakeClock, **policy: Any) -> Transport:
    raw = {
        **CLIENT_SECRET_SETTINGS,
        "connection": {**CLIENT_SECRET_SETTINGS["connection"], "honor_runtime_proxy": True},
    }
    context = RuntimeContext(proxy=ProxySettings(host="proxy.local", port=3128, user="u", password=Secret("p")))
    return Transport(
        parse_settings(raw, context),
        policy=RetryPolicy(**policy),
        clock=clock,
        sleep=clock.sleep,
        describe_error=describe_error,
    )


def tunnel_failure(status_line: str) -> requests.exceptions.ProxyError:
    """What requests raises when the proxy answers CONNECT with an error (urllib3 2's chain)."""
    cause = urllib3.exceptions.ProxyError(
        "Unable to connect to proxy", OSError(f"Tunnel connection failed: {status_line}")
    )
    return requests.exceptions.ProxyError(urllib3.exceptions.MaxRetryError(None, API, reason=cause))  # type: ignore[arg-type]


def test_a_tunnel_refused_for_credentials_is_a_config_error_naming_the_proxy_password(
    mocked: Any, clock: FakeClock
) -> None:
    mocked.get(API + "x", body=tunnel_failure("407 Proxy Authentication Required"))
    with pytest.raises(ConfigError) as caught:
        proxied_transport(clock).send("GET", API + "x")
    assert caught.value.fields == ["runtime.proxy.password"]
    assert "refused the user 'u' and its password (407 Proxy Authentication Required)" in caught.value.user_message
    assert clock.sleeps == []


def test_a_tunnel_the_proxy_could_not_open_is_retried_then_names_the_host(mocked: Any, clock: FakeClock) -> None:
    """The proxy could not reach the host (a 5xx to CONNECT): nothing was sent, the host may be down for a while."""
    for _ in range(2):
        mocked.get(API + "x", body=tunnel_failure("502 Bad Gateway"))
    with pytest.raises(TransientError) as caught:
        proxied_transport(clock, max_attempts=2).send("GET", API + "x")
    assert caught.value.field == "connection.base_url"
    assert caught.value.user_message == (
        "The connection to https://contoso.crm.dynamics.com failed: The runtime proxy proxy.local:3128 refused to "
        "open a tunnel to contoso.crm.dynamics.com:443 (502 Bad Gateway)."
    )
    assert len(clock.sleeps) == 1


def test_a_tunnel_the_proxy_forbids_names_the_proxy_host(mocked: Any, clock: FakeClock) -> None:
    mocked.post(API + "accounts", body=tunnel_failure("403 Forbidden"))
    with pytest.raises(ConfigError) as caught:
        proxied_transport(clock).send("POST", API + "accounts", json={})
    assert caught.value.fields == ["runtime.proxy.host"]


def test_407_is_a_config_error(mocked: Any, clock: FakeClock) -> None:
    mocked.get(API + "x", status=407)
    with pytest.raises(ConfigError, match="407"):
        make_transport(clock).request("GET", API + "x")


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://Contoso.crm.dynamics.com:443/api", "https://contoso.crm.dynamics.com"),
        ("http://127.0.0.1:8080/x", "http://127.0.0.1:8080"),
        ("http://[::1]:80/x", "http://[::1]"),
    ],
)
def test_origin_of(url: str, origin: str) -> None:
    assert origin_of(url) == origin


def test_dataverse_error_without_a_json_body(mocked: Any, clock: FakeClock) -> None:
    mocked.get(API + "x", status=400, body="<html>")
    with pytest.raises(RemoteError) as caught:
        make_transport(clock).request("GET", API + "x")
    assert caught.value.user_message == "Bad Request[400]"
    assert caught.value.code is None
    response = requests.Response()
    response.status_code = 502
    response.reason = "Bad Gateway"
    response._content = b"<html>"
    assert describe_error(response) == (None, "Bad Gateway")


def test_a_huge_error_message_is_capped_and_only_logged_in_full_at_debug_redacted(
    mocked: Any, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A 2 MB error body became a 2,050,046-character message (issue 12)."""
    token = "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ4In0.c2lnbmF0dXJl"
    message = "x" * 1990 + "TAIL-START " + token + " " + "y" * 2_000_000
    mocked.get(API + "x", status=400, json={"error": {"code": "0x80040203", "message": message}})
    caplog.set_level("INFO")
    with pytest.raises(RemoteError) as caught:
        make_transport(clock).request("GET", API + "x")
    text = caught.value.user_message
    left_out = len(message) - 2000
    assert text == f"(0x80040203){'x' * 1990}TAIL-START… {left_out:,} more characters left out[400]"
    assert "TAIL-START" not in caplog.text
    caplog.set_level("DEBUG")
    make_transport(clock).error_for(_answer(400, {"error": {"code": "0x80040203", "message": message}}))
    assert f"had {len(message)} characters; in full (redacted): {'x' * 1990}TAIL-START *** yyy" in caplog.text
    assert token not in caplog.text


def _answer(status: int, body: Any) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode()
    return response


def test_the_error_describer_is_injected(mocked: Any) -> None:
    mocked.get(API + "x", status=404, json={"error": {"code": "0x80040217", "message": "gone"}})
    seen: list[int] = []

    def describe(response: requests.Response) -> ErrorDescription:
        seen.append(response.status_code)
        return ErrorDescription("E42", "described elsewhere")

    settings = parse_settings(CLIENT_SECRET_SETTINGS, RuntimeContext())
    with pytest.raises(RemoteError) as caught:
        Transport(settings, describe_error=describe).request("GET", API + "x")
    assert caught.value.user_message == "(E42)described elsewhere[404]"
    assert caught.value.code == "E42"
    assert seen == [404]


def test_without_a_describer_error_answers_give_the_reason_phrase(mocked: Any) -> None:
    """The transport knows no service's error shape: the Web API's transport is given Dataverse's describer."""
    mocked.get(API + "x", status=404, json={"error": {"code": "0x80040217", "message": "gone"}})
    settings = parse_settings(CLIENT_SECRET_SETTINGS, RuntimeContext())
    with pytest.raises(RemoteError) as caught:
        Transport(settings).request("GET", API + "x")
    assert caught.value.user_message == "Not Found[404]"


def test_a_run_shares_the_connections_pool_and_closing_it_leaves_the_pool_open(clock: FakeClock) -> None:
    connection = make_transport(clock, FakeBearer())
    run = connection.sharing_pool(gate=SharedPause(clock, clock.sleep), concurrency=connection.pool_size)
    assert run.session is connection.session
    assert run.bearer is connection.bearer
    assert run.policy is connection.policy
    adapter = connection.session.get_adapter(API)
    pool = adapter.poolmanager.connection_from_url(API)  # type: ignore[attr-defined]
    run.close()
    assert adapter.poolmanager.connection_from_url(API) is pool  # type: ignore[attr-defined]
    connection.close()
    assert adapter.poolmanager.connection_from_url(API) is not pool  # type: ignore[attr-defined]


def test_a_run_more_concurrent_than_the_pool_gets_a_pool_of_its_own(clock: FakeClock) -> None:
    connection = make_transport(clock, FakeBearer())
    run = connection.sharing_pool(gate=SharedPause(clock, clock.sleep), concurrency=connection.pool_size + 1)
    assert run.session is not connection.session
    assert run.pool_size == connection.pool_size + 1
    run.close()
    connection.close()


def test_cookies_are_neither_kept_nor_sent(mocked: Any, clock: FakeClock) -> None:
    # Dataverse sets a server-affinity cookie on its answers; sent back, it pins every request to one web server.
    affinity = "ARRAffinity=0123abcd; Path=/; HttpOnly; Secure"
    mocked.add("GET", f"{API}WhoAmI", json={}, headers={"Set-Cookie": affinity})
    mocked.add("GET", f"{API}WhoAmI", json={})
    transport = make_transport(clock, FakeBearer())
    transport.send("GET", f"{API}WhoAmI")
    transport.send("GET", f"{API}WhoAmI")
    assert len(transport.session.cookies) == 0
    assert "Cookie" not in mocked.calls[1].request.headers
