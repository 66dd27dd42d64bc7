"""``connector demo``: the main job, end to end, on the embedded sandbox, with nothing to configure.

It starts the sandbox over TLS (with a CA it generates), loads the connector through its entry point exactly as a
host does, builds a config from the connector's own schemas and validates it, signs in with client credentials (a
JWT assertion signed with a generated certificate) and with the authorization-code grant (completing the sandbox's
sign-in and consent pages headlessly), runs Test Connection, then moves records: browse, create one and many, get,
query over several pages, update with the ETag, upsert by alternate key, execute an action, delete. Each step prints
one readable line; nothing is left running, and every file lives in a temporary directory removed at the end.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO

from jsonschema import Draft202012Validator

from connector.context import RuntimeContext
from connector.host.config_file import load_config_file
from connector.host.facade import ConnectorHost
from connector.host.loopback import LoopbackListener
from connector.host.redaction import scrub_text
from connector.host.sandbox_config import sandbox_config
from connector.host.token_store import EncryptedTokenStore
from connector.results import (
    AuthorizationCallback,
    AuthorizationStart,
    BrowseRequest,
    Connection,
    OperationResult,
    TokenSet,
)

__all__ = ["run_demo"]

CONNECTOR_ID = "dynamics365-ce"
SEEDED_ACCOUNTS = 2_500
BULK_CREATES = 500


class DemoError(Exception):
    """A step did not do what the demo expects."""


class _Printer:
    def __init__(self, out: TextIO, secrets: Iterable[str]) -> None:
        self.out = out
        self.secrets = set(secrets)
        self.started = time.monotonic()

    def step(self, title: str, detail: str) -> None:
        elapsed = time.monotonic() - self.started
        self.out.write(scrub_text(f"[{elapsed:5.1f}s] {title:<22} {detail}\n", self.secrets))
        self.out.flush()

    def block(self, text: str) -> None:
        self.out.write("".join(f"    {line}\n" for line in scrub_text(text, self.secrets).splitlines()))
        self.out.flush()


def _one(results: Iterator[OperationResult], what: str) -> OperationResult:
    found = list(results)
    if len(found) != 1 or not found[0].ok:
        errors = [r.error.message for r in found if r.error is not None]
        raise DemoError(f"{what} did not succeed: {errors or found}")
    return found[0]


def _validate(host: ConnectorHost, config: Mapping[str, Any]) -> int:
    checked = 0
    for part in ("connection", "oauth2"):
        schema = host.schema(CONNECTOR_ID, part)
        # References ({"$file": ...}) are resolved before validation, as a host resolves its secret store.
        Draft202012Validator(schema).validate(config[part])
        checked += len(schema.get("properties", {}))
    return checked


def _sign_in_with_code(
    host: ConnectorHost, sandbox: Any, settings: Mapping[str, Any], context: RuntimeContext, say: _Printer
) -> TokenSet:
    from dataverse_sandbox.signin import sign_in_headless

    clients = sandbox.clients
    with LoopbackListener() as listener:
        sandbox.register_redirect_uri(clients.authorization_code_client.client_id, listener.redirect_uri)
        connection = host.connect(CONNECTOR_ID, settings, _with_callback(context, listener.redirect_uri))
        start = host.authorize(CONNECTOR_ID, connection, "start")
        assert isinstance(start, AuthorizationStart)
        user = clients.users[0]
        redirect = sign_in_headless(
            start.url,
            user_name=user.user_name,
            password=user.password_file.read_text(encoding="utf-8").strip(),
            verify=str(sandbox.ca_cert_path),
        )
        import requests

        with requests.Session() as browser:
            browser.trust_env = False
            browser.get(redirect, timeout=10)  # the browser lands on the loopback listener
        params = listener.wait(timeout=10)
        tokens = host.authorize(
            CONNECTOR_ID, connection, AuthorizationCallback(params, start.state, start.code_verifier)
        )
    assert isinstance(tokens, TokenSet)
    say.step("Authorization code", f"signed in as {user.user_name} on the consent page; refresh token stored")
    return tokens


def _with_callback(context: RuntimeContext, callback_url: str) -> RuntimeContext:
    import dataclasses

    return dataclasses.replace(context, callback_url=callback_url)


def _round_trip(host: ConnectorHost, connection: Connection, say: _Printer) -> None:
    def run(
        operation: str, options: Mapping[str, Any], documents: Iterable[Mapping[str, Any]]
    ) -> Iterator[OperationResult]:
        return host.execute_operation(CONNECTOR_ID, connection, operation, options, documents)

    listed = host.browse(CONNECTOR_ID, connection, BrowseRequest("list", name_filter="*"))
    described = host.browse(CONNECTOR_ID, connection, BrowseRequest("describe", object_type="accounts"))
    fields = len((described.response_schema or {}).get("properties", {}))
    say.step("Browse", f"{len(listed.object_types)} entity sets; accounts has {fields} fields in its profile")

    marker = uuid.uuid4().hex[:8]
    created = _one(
        run(
            "create",
            {"entity_set": "accounts", "return_representation": True, "select": ["name"]},
            [{"name": f"Demo {marker}", "accountnumber": f"D-{marker}", "revenue": 125000}],
        ),
        "create",
    )
    record_id = created.properties["id"]
    say.step("Create", f"accounts({record_id}) with ETag {created.properties.get('etag')}")

    started = time.monotonic()
    bulk_options = {"entity_set": "accounts", "bulk": {"mode": "multiple", "batch_size": 100}}
    bulk = list(run("create", bulk_options, ({"name": f"Bulk {marker} {i}"} for i in range(BULK_CREATES))))
    ok = sum(1 for r in bulk if r.ok)
    rate = len(bulk) / (time.monotonic() - started)
    say.step(
        "Create (bulk)",
        f"{ok} of {len(bulk)} created, {len(bulk) - ok} failed; CreateMultiple, up to 100 per request ({rate:,.0f}/s)",
    )
    if ok != BULK_CREATES:
        raise DemoError("some creates failed")

    got = _one(
        run(
            "get",
            {"entity_set": "accounts", "select": ["name", "revenue"]},
            [{"@odata.editLink": f"accounts({record_id})"}],
        ),
        "get",
    )
    say.step("Get", f"{(got.payload or {}).get('name')!r}, revenue {(got.payload or {}).get('revenue')}")

    started = time.monotonic()
    rows = list(run("query", {"entity_set": "accounts", "select": ["name"], "page_size": 1000}, [{}]))
    pages_seen = -(-len(rows) // 1000)
    say.step("Query", f"{len(rows):,} records over {pages_seen} pages of 1,000 in {time.monotonic() - started:.2f}s")

    updated = _one(
        run(
            "update",
            {"entity_set": "accounts", "return_representation": True, "select": ["revenue"]},
            [{"@odata.editLink": f"accounts({record_id})", "@odata.etag": got.properties["etag"], "revenue": 250000}],
        ),
        "update",
    )
    stale = list(
        run(
            "update",
            {"entity_set": "accounts"},
            [{"@odata.editLink": f"accounts({record_id})", "@odata.etag": got.properties["etag"], "revenue": 1}],
        )
    )
    reason = stale[0].properties.get("reason") if stale else None
    say.step(
        "Update with ETag",
        f"{got.properties['etag']} -> {updated.properties.get('etag')}; the stale ETag is then refused ({reason})",
    )

    key = f"ALT-{marker}"
    upsert = {
        "entity_set": "accounts",
        "key_fields": ["accountnumber"],
        "return_representation": True,
        "select": ["name"],
    }
    first = _one(run("upsert", upsert, [{"accountnumber": key, "name": f"Upserted {marker}"}]), "upsert")
    second = _one(run("upsert", upsert, [{"accountnumber": key, "name": f"Upserted again {marker}"}]), "upsert")
    outcome = {"true": "created", "false": "updated"}
    say.step(
        "Upsert by alt. key",
        f"accounts(accountnumber='{key}') {outcome.get(first.properties.get('created', ''), '?')}, "
        f"then {outcome.get(second.properties.get('created', ''), '?')}",
    )

    echoed = _one(
        run("execute", {"name": "sample_Echo", "kind": "action", "parameters": {"Text": "hello"}}, [{}]), "execute"
    )
    answer = {name: value for name, value in (echoed.payload or {}).items() if not name.startswith("@")}
    say.step("Execute action", f"sample_Echo answered {json.dumps(answer)}")

    deleted = _one(run("delete", {"entity_set": "accounts"}, [{"@odata.editLink": f"accounts({record_id})"}]), "delete")
    gone = list(run("get", {"entity_set": "accounts"}, [{"@odata.editLink": f"accounts({record_id})"}]))
    say.step(
        "Delete",
        f"{deleted.status.value}; reading it again fails: {gone[0].error.message if gone and gone[0].error else '?'}",
    )


def run_demo(out: TextIO = sys.stdout, *, state_dir: Path | None = None) -> int:
    """Run the demo.

    :param out: where the narration goes.
    :param state_dir: keep the sandbox's generated credentials there (default: a temporary directory, removed).
    :returns: the exit code (0 when every step did what it should).
    """
    from dataverse_sandbox.config import SandboxConfig
    from dataverse_sandbox.server import Sandbox

    with tempfile.TemporaryDirectory(prefix="connector-demo-") as workdir:
        home = Path(workdir)
        with Sandbox(SandboxConfig(tls=True, state_dir=state_dir or home / "sandbox")) as sandbox:
            sandbox.seed(n_accounts=SEEDED_ACCOUNTS, n_contacts=200)
            secrets = _secrets_of(sandbox)
            say = _Printer(out, secrets)
            say.step("Sandbox", f"{sandbox.api_root} (TLS, its own CA), {SEEDED_ACCOUNTS:,} accounts")
            host = ConnectorHost()
            connector = host.connector(CONNECTOR_ID)
            say.step(
                "Entry point", f"{connector.id} {connector.version} from {connector.distribution} ({connector.module})"
            )

            store = EncryptedTokenStore(home / "tokens.fernet")
            jwt_file = home / "jwt.json"
            jwt_file.write_text(json.dumps(sandbox_config(sandbox, "jwt", algorithm="PS256")), encoding="utf-8")
            jwt_config = load_config_file(jwt_file, token_store=store)
            checked = _validate(host, jwt_config.settings)
            say.step("Config", f"valid against the connection and OAuth 2.0 schemas ({checked} fields)")

            connection = host.connect(CONNECTOR_ID, jwt_config.settings, jwt_config.context)
            tokens = host.authorize(CONNECTOR_ID, connection, "token")
            assert isinstance(tokens, TokenSet)
            lifetime = (tokens.expires_at or time.time()) - time.time()
            say.step(
                "Client credentials", f"JWT assertion (PS256, x5t#S256 + x5t) accepted; token valid {lifetime:,.0f}s"
            )

            code_file = home / "code.json"
            code_file.write_text(json.dumps(sandbox_config(sandbox, "authorization_code")), encoding="utf-8")
            code_config = load_config_file(code_file, token_store=store)
            _sign_in_with_code(host, sandbox, code_config.settings, code_config.context, say)

            report = host.test(CONNECTOR_ID, connection)
            from connector.host.report_view import render_text

            say.step("Test Connection", "passed" if report.ok else "FAILED")
            say.block(render_text(report))
            if not report.ok:
                return 1
            _round_trip(host, connection, say)
        say.step("Done", "sandbox stopped; temporary files removed")
    return 0


def _secrets_of(sandbox: Any) -> set[str]:
    clients = sandbox.clients
    files = [clients.secret_client.secret_file, clients.authorization_code_client.secret_file]
    files += [clients.pfx_password_file, *(user.password_file for user in clients.users)]
    return {Path(f).read_text(encoding="utf-8").strip() for f in files if f is not None}
