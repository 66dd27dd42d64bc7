"""The sandbox's admin endpoint (dataverse_sandbox.admin), mounted as the server mounts it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pytest
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.test import Client

from dataverse_sandbox.admin import ADMIN_HEADER, admin_app
from dataverse_sandbox.contracts import Clock
from dataverse_sandbox.faults import FaultInjector, FaultSettings
from dataverse_sandbox.limits import LimitSettings, ServiceProtection
from dataverse_sandbox.stats import RequestRecorder, SandboxStats

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


CREDENTIAL = "admin-credential-for-tests"
AUTHORIZED = {"Authorization": f"Bearer {CREDENTIAL}"}


def principal_of(environ: WSGIEnvironment) -> str | None:
    value: str | None = environ.get("HTTP_X_PRINCIPAL")
    return value


def ok_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "application/json")])
    return [b"{}"]


class AuthorizedClient(Client):
    """A test client whose every request carries the admin credential."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["headers"] = {**AUTHORIZED, **dict(kwargs.get("headers") or {})}
        return super().open(*args, **kwargs)


class Sandbox:
    """The four pieces wired as the server wires them: recorder → faults → limits → app, admin beside."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.stats = SandboxStats(self.clock)
        self.limits = ServiceProtection(ok_app, LimitSettings(), self.clock, principal_of)
        self.faults = FaultInjector(self.limits, FaultSettings(), seed=5, clock=self.clock)
        api = RequestRecorder(self.faults, self.stats, principal_of)
        admin = admin_app(self.stats, self.faults, self.limits, credential=CREDENTIAL)
        self.app = DispatcherMiddleware(api, {"/_sandbox": admin})
        self.client = AuthorizedClient(self.app)

    def api(self, principal: str = "alice") -> int:
        response = self.client.get("/api/data/v9.2/WhoAmI", headers={"X-Principal": principal})
        response.close()
        return response.status_code


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox()


def test_stats_report_and_reset(sandbox: Sandbox) -> None:
    sandbox.api()
    sandbox.stats.record_token("app", "client_credentials")
    body = sandbox.client.get("/_sandbox/stats").get_json()
    assert body["requests_by_principal"] == {"alice": 1}
    assert body["tokens_issued"] == 1
    assert "records" not in body
    records = sandbox.client.get("/_sandbox/stats?records=true").get_json()["records"]
    assert [r["path"] for r in records] == ["/api/data/v9.2/WhoAmI"]
    filtered = sandbox.client.get("/_sandbox/stats/requests?principal=bob").get_json()
    assert filtered == {"requests": []}
    assert sandbox.client.post("/_sandbox/stats/reset").status_code == 204
    assert sandbox.client.get("/_sandbox/stats").get_json()["requests_total"] == 0


def test_fault_settings_replace_merge_and_validate(sandbox: Sandbox) -> None:
    put = sandbox.client.put("/_sandbox/faults", json={"error_rate": 1.0, "error_statuses": [503]})
    assert put.status_code == 200
    assert put.get_json()["error_statuses"] == [503]
    assert sandbox.faults.settings == FaultSettings(error_rate=1.0, error_statuses=(503,))
    assert sandbox.api() == 503
    patch = sandbox.client.patch("/_sandbox/faults", json={"path_prefix": "/other/"})
    assert patch.get_json()["error_rate"] == 1.0
    assert sandbox.api() == 200
    sandbox.client.put("/_sandbox/faults", json={})
    assert sandbox.faults.settings == FaultSettings()
    assert sandbox.client.get("/_sandbox/faults").get_json()["error_statuses"] == [502, 503, 504]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"eror_rate": 1}, "unknown field(s): eror_rate"),
        ({"error_rate": "high"}, "error_rate must be a number"),
        ({"token_outage": 1}, "token_outage must be true or false"),
        ({"error_rate": 2}, "between 0 and 1"),
        ({"methods": "GET"}, "methods must be a list"),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_bad_fault_settings_are_refused_with_400(sandbox: Sandbox, body: Any, message: str) -> None:
    response = sandbox.client.put("/_sandbox/faults", json=body)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_settings"
    assert message in error["message"]
    assert sandbox.faults.settings == FaultSettings()


def test_schedule_faults(sandbox: Sandbox) -> None:
    response = sandbox.client.post("/_sandbox/faults/schedule", json={"kind": "error", "count": 2, "status": 504})
    assert response.get_json() == {"scheduled": ["error", "error"]}
    assert [sandbox.api(), sandbox.api(), sandbox.api()] == [504, 504, 200]
    injected = sandbox.client.get("/_sandbox/faults/injected").get_json()
    assert injected["counts"] == {"error": 2}
    assert [h["status"] for h in injected["history"]] == [504, 504]
    sandbox.client.post("/_sandbox/faults/schedule", json={"kind": "malformed", "count": 3})
    assert sandbox.client.delete("/_sandbox/faults/schedule").get_json() == {"scheduled": []}
    bad = sandbox.client.post("/_sandbox/faults/schedule", json={"kind": "explode", "count": 1})
    assert bad.status_code == 400
    missing = sandbox.client.post("/_sandbox/faults/schedule", json={"kind": "error"})
    assert missing.get_json()["error"]["message"] == "missing field: count"


def test_limits_settings_force_and_reset(sandbox: Sandbox) -> None:
    response = sandbox.client.patch("/_sandbox/limits", json={"max_requests": 1, "retry_after_seconds": 9})
    assert response.get_json()["max_requests"] == 1
    assert sandbox.limits.settings.window_seconds == 300
    assert [sandbox.api(), sandbox.api()] == [200, 429]
    assert sandbox.client.post("/_sandbox/limits/reset").status_code == 204
    assert sandbox.api() == 200
    sandbox.client.put("/_sandbox/limits", json={})
    forced = sandbox.client.post("/_sandbox/limits/force", json={"count": 1, "code": "0x80072326"})
    assert forced.get_json() == {"forced_remaining": 1}
    assert sandbox.api() == 429
    assert sandbox.stats.requests(status=429)[-1].throttled == "0x80072326"
    bad = sandbox.client.post("/_sandbox/limits/force", json={"count": 1, "code": "0x1"})
    assert bad.status_code == 400
    assert sandbox.client.put("/_sandbox/limits", json={"max_concurrent": 0}).status_code == 400


def test_unknown_routes_and_methods(sandbox: Sandbox) -> None:
    assert sandbox.client.get("/_sandbox/nothing").status_code == 404
    response = sandbox.client.delete("/_sandbox/stats")
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET"


def test_admin_requests_are_never_faulted_even_behind_the_injector(sandbox: Sandbox) -> None:
    admin = admin_app(sandbox.stats, sandbox.faults, sandbox.limits, credential=CREDENTIAL)
    behind = FaultInjector(admin, FaultSettings(error_rate=1.0, token_outage=True), seed=1)
    assert Client(behind).get("/_sandbox/stats", headers=AUTHORIZED).status_code == 200


def test_paths_with_the_mount_prefix_are_served_too(sandbox: Sandbox) -> None:
    app = admin_app(sandbox.stats, sandbox.faults, sandbox.limits, credential=CREDENTIAL)
    assert Client(app).get("/_sandbox/limits", headers=AUTHORIZED).get_json()["max_requests"] == 6000
    assert Client(app).get("/limits/", headers=AUTHORIZED).get_json()["max_requests"] == 6000


def test_client_routes_answer_404_without_a_token_service(sandbox: Sandbox) -> None:
    response = sandbox.client.post("/_sandbox/clients/some-app/redirect_uris", json={"uri": "http://127.0.0.1:1/cb"})
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "no_token_service"
    wrong = sandbox.client.delete("/_sandbox/clients/some-app/redirect_uris")
    assert wrong.status_code == 405


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-the-credential"},
        {"Authorization": f"Basic {CREDENTIAL}"},
        {"X-Sandbox-Admin-Token": "not-the-credential"},
        {"Authorization": "Bearer "},
    ],
)
def test_requests_without_the_credential_get_401(sandbox: Sandbox, headers: dict[str, str]) -> None:
    plain = Client(sandbox.app)
    for method, path in (("GET", "/_sandbox/stats"), ("PUT", "/_sandbox/limits"), ("GET", "/_sandbox/nothing")):
        response = plain.open(path, method=method, headers=headers, json={"enabled": False})
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.get_json()["error"]["code"] == "unauthorized"
    assert sandbox.limits.settings.enabled  # the refused PUT changed nothing


def test_the_credential_is_accepted_as_bearer_or_in_its_own_header(sandbox: Sandbox) -> None:
    plain = Client(sandbox.app)
    assert plain.get("/_sandbox/stats", headers={"Authorization": f"bearer {CREDENTIAL}"}).status_code == 200
    assert plain.get("/_sandbox/stats", headers={ADMIN_HEADER: CREDENTIAL}).status_code == 200


def test_an_empty_credential_is_refused_at_build(sandbox: Sandbox) -> None:
    with pytest.raises(ValueError, match="credential"):
        admin_app(sandbox.stats, sandbox.faults, sandbox.limits, credential="")
