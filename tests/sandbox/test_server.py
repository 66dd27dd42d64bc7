"""The running sandbox: start-up, TLS, versions, authentication, access levels, routing outside ``/api/`` and CLI."""

from __future__ import annotations

import base64
import io
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import redirect_stdout
from pathlib import Path

import jwt
import pytest
import requests

from dataverse_sandbox.cli import main
from dataverse_sandbox.config import SandboxConfig
from dataverse_sandbox.faults import FaultSettings
from dataverse_sandbox.limits import LimitSettings
from dataverse_sandbox.server import Sandbox
from tests.support.sandbox import WebApiSession, bearer_token


def test_answers_an_authenticated_who_am_i_as_soon_as_started(tmp_path: Path) -> None:
    # How soon is measured by benchmarks/sandbox_rate.py (docs/benchmarks.md); tests assert no timings.
    with Sandbox(SandboxConfig(state_dir=tmp_path)) as sb:
        token = bearer_token(sb)
        response = requests.get(sb.api_root + "WhoAmI()", headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert response.status_code == 200
    assert not any(p.name.startswith("dataverse-sandbox") for p in tmp_path.iterdir())


def test_urls_describe_a_loopback_server_on_a_free_port(sandbox: Sandbox) -> None:
    assert sandbox.origin.startswith("http://127.0.0.1:")
    assert not sandbox.origin.endswith(":0")
    assert sandbox.api_root == f"{sandbox.origin}/api/data/v9.2/"
    assert sandbox.token_url == f"{sandbox.origin}/{sandbox.tenant_id}/oauth2/token"
    assert sandbox.token_url_v2 == f"{sandbox.origin}/{sandbox.tenant_id}/oauth2/v2.0/token"
    assert sandbox.authorize_url == f"{sandbox.origin}/{sandbox.tenant_id}/oauth2/authorize"
    assert sandbox.ca_cert_path is None


def test_stop_joins_the_server_thread_and_frees_the_port(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox()
    origin = sb.origin
    thread_name = f"dataverse-sandbox-{origin.rsplit(':', 1)[1]}"
    assert thread_name in {t.name for t in threading.enumerate()}
    sb.stop()
    assert thread_name not in {t.name for t in threading.enumerate()}
    with pytest.raises(requests.ConnectionError):
        requests.get(origin + "/api/data/v9.2/", timeout=2)


def test_tls_serves_with_a_generated_ca_that_clients_can_trust(tmp_path: Path) -> None:
    with Sandbox(SandboxConfig(tls=True, state_dir=tmp_path)) as sb:
        assert sb.api_root.startswith("https://127.0.0.1:")
        assert sb.ca_cert_path is not None
        assert sb.ca_cert_path.exists()
        session = WebApiSession(sb, bearer_token(sb))
        assert session.get("WhoAmI").status_code == 200
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(sb.api_root, verify=True, timeout=5)
        first_ca = sb.ca_cert_path.read_bytes()
    with Sandbox(SandboxConfig(tls=True, state_dir=tmp_path)) as again:
        assert again.ca_cert_path is not None
        assert again.ca_cert_path.read_bytes() == first_ca


@pytest.mark.parametrize("version", ["v9.0", "v9.1", "v9.2"])
def test_every_supported_version_echoes_itself_in_urls(api: WebApiSession, version: str) -> None:
    response = api.get(f"{api.sandbox.origin}/api/data/{version}/WhoAmI()")
    assert response.status_code == 200
    assert response.json()["@odata.context"].startswith(f"{api.sandbox.origin}/api/data/{version}/$metadata#")
    created = api.post(f"{api.sandbox.origin}/api/data/{version}/accounts", json={"name": "versioned"})
    assert f"/api/data/{version}/accounts(" in created.headers["OData-EntityId"]


def test_unknown_version_is_a_404_in_dataverse_error_shape(api: WebApiSession) -> None:
    response = api.get(f"{api.sandbox.origin}/api/data/v8.2/WhoAmI")
    assert response.status_code == 404
    assert response.headers["OData-Version"] == "4.0"
    error = response.json()["error"]
    assert error["code"].startswith("0x")
    assert "v8.2" in error["message"]


def test_json_responses_carry_odata_headers(api: WebApiSession) -> None:
    response = api.get("WhoAmI()")
    assert response.headers["OData-Version"] == "4.0"
    assert response.headers["Content-Type"] == "application/json; odata.metadata=minimal"


@pytest.mark.parametrize(
    "authorization", [None, "Bearer", "Bearer not-a-token", "Basic dXNlcjpwYXNz"], ids=["none", "empty", "bad", "basic"]
)
def test_requests_without_a_valid_token_get_the_bearer_challenge(sandbox: Sandbox, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = requests.get(sandbox.api_root + "WhoAmI", headers=headers, timeout=5)
    assert response.status_code == 401
    assert response.content == b""
    assert response.headers["WWW-Authenticate"] == (
        f"Bearer authorization_uri={sandbox.origin}/{sandbox.tenant_id}/oauth2/authorize, resource_id={sandbox.origin}/"
    )


def test_an_expired_token_is_refused(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox()
    session = WebApiSession(sb, bearer_token(sb))
    assert session.get("WhoAmI").status_code == 200
    sb.clock.advance(2 * 3600)
    assert session.get("WhoAmI").status_code == 401


def test_principal_without_membership_is_refused_everything(no_access_api: WebApiSession) -> None:
    response = no_access_api.get("WhoAmI")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "0x80072560"


def test_read_only_principal_reads_but_cannot_write(read_only_api: WebApiSession, api: WebApiSession) -> None:
    account_id = api.create("accounts", {"name": "readable"})
    assert read_only_api.get(f"accounts({account_id})").status_code == 200
    for response in (
        read_only_api.post("accounts", json={"name": "nope"}),
        read_only_api.patch(f"accounts({account_id})", json={"name": "nope"}),
        read_only_api.delete(f"accounts({account_id})"),
    ):
        assert response.status_code == 403
        error = response.json()["error"]
        assert error["code"] == "0x80040220"
        assert "is missing prv" in error["message"]
    assert api.get(f"accounts({account_id})?$select=name").json()["name"] == "readable"


def test_who_am_i_user_id_is_stable_per_principal(api: WebApiSession, read_only_api: WebApiSession) -> None:
    first = api.get("WhoAmI").json()
    second = api.get("WhoAmI()").json()
    other = read_only_api.get("WhoAmI").json()
    assert first["UserId"] == second["UserId"]
    assert other["UserId"] != first["UserId"]
    assert first["OrganizationId"] == other["OrganizationId"]


def test_paths_outside_the_api_go_to_the_token_service_then_admin_then_404(sandbox: Sandbox) -> None:
    discovery = requests.get(f"{sandbox.origin}/{sandbox.tenant_id}/v2.0/.well-known/openid-configuration", timeout=5)
    assert discovery.status_code == 200
    assert "token_endpoint" in discovery.json()
    admin = requests.get(f"{sandbox.origin}/_sandbox/stats", headers=sandbox.admin_headers, timeout=5)
    assert admin.status_code == 200
    assert requests.get(f"{sandbox.origin}/nothing/here", timeout=5).status_code == 404


def test_the_admin_endpoint_refuses_requests_without_its_credential(sandbox: Sandbox) -> None:
    bearer = {"Authorization": f"Bearer {bearer_token(sandbox)}"}  # a Web API token is not the admin credential
    for headers in ({}, bearer, {"Authorization": "Bearer guess"}):
        refused = requests.put(f"{sandbox.admin_url}limits", json={"enabled": False}, headers=headers, timeout=5)
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert sandbox.limits.settings.enabled
    assert requests.get(f"{sandbox.admin_url}stats", headers=sandbox.admin_headers, timeout=5).status_code == 200


def test_the_admin_credential_is_new_on_every_start(tmp_path: Path) -> None:
    config = SandboxConfig(state_dir=tmp_path)
    with Sandbox(config) as first:
        old = first.admin_token
        assert len(old) >= 32
    with Sandbox(config) as second:
        assert second.admin_token != old
        stale = requests.get(f"{second.admin_url}stats", headers={"Authorization": f"Bearer {old}"}, timeout=5)
        assert stale.status_code == 401


def test_statistics_see_requests_per_principal(api: WebApiSession) -> None:
    before = api.sandbox.stats.snapshot()["requests_total"]
    api.get("WhoAmI")
    after = api.sandbox.stats.snapshot()
    assert after["requests_total"] > before


def test_seeding_100000_accounts(make_sandbox: Callable[..., Sandbox]) -> None:
    # Its speed is measured by benchmarks/sandbox_rate.py; tests assert no timings.
    sb = make_sandbox()
    account_ids, _ = sb.seed(100_000)
    assert len(set(account_ids)) == 100_000
    session = WebApiSession(sb, bearer_token(sb))
    assert session.get("accounts/$count").text == "5000"


def test_file_database_survives_a_restart(tmp_path: Path) -> None:
    config = SandboxConfig(db_path=str(tmp_path / "sandbox.db"), state_dir=tmp_path)
    with Sandbox(config) as sb:
        session = WebApiSession(sb, bearer_token(sb))
        account_id = session.create("accounts", {"name": "durable"})
        etag = session.get(f"accounts({account_id})").json()["@odata.etag"]
    with Sandbox(config) as sb:
        session = WebApiSession(sb, bearer_token(sb))
        assert session.get(f"accounts({account_id})?$select=name").json()["name"] == "durable"
        session.patch(f"accounts({account_id})", json={"name": "still durable"})
        assert session.get(f"accounts({account_id})").json()["@odata.etag"] != etag


def test_cli_prints_where_things_are_but_no_secret(tmp_path: Path) -> None:
    output = io.StringIO()
    stop = threading.Event()
    stop.set()
    with redirect_stdout(output):
        code = main(["--state-dir", str(tmp_path), "--seed-records", "10"], stop=stop)
    text = output.getvalue()
    assert code == 0
    assert "/api/data/v9.2/" in text
    assert "secret" in text.lower()
    secret_file = next((tmp_path / "entra").glob("*.secret"))
    assert secret_file.read_text().strip() not in text
    credential = re.search(r"Admin credential \(.*\): (\S+)", text)
    assert credential is not None
    assert len(credential.group(1)) >= 32


def test_request_limit_from_config_answers_429_per_principal(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(limits=LimitSettings(max_requests=2, window_seconds=60))
    full = WebApiSession(sb, bearer_token(sb))
    other = WebApiSession(sb, bearer_token(sb, "read"))
    assert [full.get("WhoAmI").status_code for _ in range(3)] == [200, 200, 429]
    throttled = full.get("WhoAmI")
    assert throttled.json()["error"]["code"] == "0x80072322"
    assert int(throttled.headers["Retry-After"]) >= 1
    assert other.get("WhoAmI").status_code == 200
    assert sb.stats.snapshot()["throttled_total"] >= 2


def test_forced_throttle_and_scheduled_faults_at_run_time(api: WebApiSession) -> None:
    sb = api.sandbox
    sb.limits.force_throttle(1)
    assert api.get("WhoAmI").status_code == 429
    assert api.get("WhoAmI").status_code == 200
    sb.faults.schedule("error", 1, status=503)
    assert api.get("WhoAmI").status_code == 503
    sb.faults.schedule("reset_before", 1)
    with pytest.raises(requests.ConnectionError):
        api.get("WhoAmI")
    assert api.get("WhoAmI").status_code == 200


def test_token_service_outage_leaves_the_web_api_up(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox()
    session = WebApiSession(sb, bearer_token(sb))
    sb.faults.update(FaultSettings(token_outage=True))
    assert requests.post(sb.token_url, data={"grant_type": "client_credentials"}, timeout=5).status_code == 503
    assert session.get("WhoAmI").status_code == 200


def test_a_token_for_another_audience_is_issued_but_the_web_api_answers_401(sandbox: Sandbox) -> None:
    clients = sandbox.clients
    assert clients is not None
    other = sandbox.resources[1]
    assert other == "https://graph.microsoft.com"
    credentials = {
        "grant_type": "client_credentials",
        "client_id": clients.secret_client.client_id,
        "client_secret": clients.secret_client.read_secret(),
    }
    v1 = requests.post(sandbox.token_url, data={**credentials, "resource": other}, timeout=5)
    v2 = requests.post(sandbox.token_url_v2, data={**credentials, "scope": f"{other}/.default"}, timeout=5)
    for issued in (v1, v2):
        assert issued.status_code == 200, issued.text
        token = issued.json()["access_token"]
        assert jwt.decode(token, options={"verify_signature": False})["aud"] == other
        response = requests.get(sandbox.api_root + "WhoAmI", headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].endswith(f"resource_id={sandbox.origin}/")
    unknown = requests.post(sandbox.token_url, data={**credentials, "resource": "https://unknown.example"}, timeout=5)
    assert unknown.status_code == 400


def test_token_service_and_sandbox_statistics_count_the_same_events(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox()
    assert sb.clients is not None
    assert sb.token_service is not None
    client_id = sb.clients.secret_client.client_id
    bearer_token(sb)
    refused = requests.post(
        sb.token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": "wrong",
            "resource": sb.origin,
        },
        timeout=5,
    )
    assert refused.status_code == 401
    code = refused.json()["error_codes"][0]
    own = sb.token_service.stats.snapshot()
    seen = sb.stats.snapshot()
    assert own["issued"] == {client_id: {"client_credentials": 1}}
    assert seen["tokens_by_client"] == {client_id: 1}
    assert own["refused"] == seen["tokens_refused_by_code"] == {str(code): 1}


def test_a_token_with_a_forged_payload_is_refused(api: WebApiSession) -> None:
    token = bearer_token(api.sandbox)
    header, payload, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = base64.urlsafe_b64encode(json.dumps({**claims, "oid": str(uuid.uuid4())}).encode()).rstrip(b"=").decode()
    response = requests.get(
        api.sandbox.api_root + "WhoAmI", headers={"Authorization": f"Bearer {header}.{forged}.{signature}"}, timeout=5
    )
    assert response.status_code == 401
    assert payload != forged


def test_a_token_used_before_its_not_before_time_is_refused(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox()
    session = WebApiSession(sb, bearer_token(sb))
    sb.clock.advance(-600)  # the server's clock now reads ten minutes before the token's nbf
    assert session.get("WhoAmI").status_code == 401
    sb.clock.advance(600)
    assert session.get("WhoAmI").status_code == 200


def test_concurrent_clients_are_served_concurrently(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(faults=FaultSettings(latency_ms=500, path_prefix="/api/"))
    token = bearer_token(sb)
    statuses: list[int] = []

    def call() -> None:
        response = requests.get(sb.api_root + "WhoAmI", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        statuses.append(response.status_code)

    threads = [threading.Thread(target=call) for _ in range(4)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    elapsed = time.perf_counter() - started
    assert statuses == [200] * 4
    assert elapsed < 1.5  # one after another they would take 2 s


def test_the_concurrency_limit_answers_429_over_the_wire(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(limits=LimitSettings(max_concurrent=1))
    token = bearer_token(sb)
    # A large bulk create holds the principal's only concurrency slot for a while (latency injection would not:
    # it runs before the limits admit a request).
    first_done = threading.Event()
    results: list[requests.Response] = []

    def slow() -> None:
        body = {"Targets": [{"@odata.type": "Microsoft.Dynamics.CRM.account", "name": f"c{i}"} for i in range(3000)]}
        results.append(
            requests.post(
                sb.api_root + "accounts/Microsoft.Dynamics.CRM.CreateMultiple",
                json=body,
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
        )
        first_done.set()

    worker = threading.Thread(target=slow)
    worker.start()
    deadline = time.monotonic() + 10
    refused = None
    while time.monotonic() < deadline and not first_done.is_set():
        response = requests.get(sb.api_root + "WhoAmI", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        if response.status_code == 429:
            refused = response
            break
    worker.join(30)
    assert refused is not None, "no request overlapped the slow one"
    assert refused.json()["error"]["code"] == "0x80072326"
    assert refused.headers["Retry-After"] == "1"
    assert results[0].status_code == 200


def test_fault_decisions_repeat_under_the_same_seed(make_sandbox: Callable[..., Sandbox]) -> None:
    runs = []
    for _ in range(2):
        sb = make_sandbox(faults=FaultSettings(error_rate=0.5, path_prefix="/api/"), fault_seed=11)
        session = WebApiSession(sb, bearer_token(sb))
        runs.append([session.get("WhoAmI").status_code for _ in range(20)])
    assert runs[0] == runs[1]
    assert 200 in runs[0]
    assert set(runs[0]) - {200} <= {502, 503, 504}
    assert set(runs[0]) - {200}


def test_latency_is_added_to_web_api_requests(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox()
    session = WebApiSession(sb, bearer_token(sb))
    sb.faults.update(FaultSettings(latency_ms=300))
    started = time.perf_counter()
    assert session.get("WhoAmI").status_code == 200
    assert time.perf_counter() - started >= 0.3


def test_access_can_be_overridden_per_client_at_start(tmp_path: Path) -> None:
    with Sandbox(SandboxConfig(state_dir=tmp_path)) as first:
        assert first.clients is not None
        client_id = first.clients.secret_client.client_id
    # The same state directory keeps the client ids, so the override names a known application.
    with Sandbox(SandboxConfig(state_dir=tmp_path, access={client_id: "read"})) as sb:
        session = WebApiSession(sb, bearer_token(sb))
        assert session.get("WhoAmI").status_code == 200
        refused = session.post("accounts", json={"name": "not allowed"})
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "0x80040220"
