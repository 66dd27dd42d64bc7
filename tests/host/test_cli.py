"""The reference host's CLI as a person runs it (subprocesses against a running sandbox): browse, run with JSON
Lines in and out, authorize through the loopback listener, exit codes, and no secret in any output or file.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests
from cryptography.fernet import Fernet

from connector.host.commands import _load_options
from connector.host.sandbox_config import write_sandbox_config
from dataverse_sandbox.server import Sandbox
from tests.support.entra import redirect_params, sign_in
from tests.support.redis_server import RedisServer
from tests.support.sandbox import WebApiSession, bearer_token


@pytest.fixture(scope="module")
def seeded(sandbox: Sandbox) -> Sandbox:
    sandbox.seed(n_accounts=10_000)
    return sandbox


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """The environment of a CLI subprocess: its own CONNECTOR_HOME (token store and key) under tmp_path."""
    return {**os.environ, "CONNECTOR_HOME": str(tmp_path / "home")}


def secrets_of(sandbox: Sandbox) -> list[str]:
    clients = sandbox.clients
    assert clients is not None
    files = [clients.secret_client.secret_file, clients.authorization_code_client.secret_file]
    return [Path(f).read_text().strip() for f in files if f is not None]


def cli(
    *args: str, env: dict[str, str], stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "connector.host.cli", *args],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def assert_no_secret(sandbox: Sandbox, *texts: str) -> None:
    for secret in secrets_of(sandbox):
        for text in texts:
            assert secret not in text


def test_browse_lists_and_describes(seeded: Sandbox, tmp_path: Path, home: dict[str, str]) -> None:
    config = write_sandbox_config(seeded, "client_secret", tmp_path / "d365.json")
    listed = cli("browse", str(config), "--filter", "acc*", env=home)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[0].startswith("accounts")
    assert "contacts" not in listed.stdout
    described = cli("browse", str(config), "--describe", "accounts", env=home)
    assert described.returncode == 0, described.stderr
    profiles = json.loads(described.stdout)
    assert "name" in profiles["response"]["properties"]
    assert_no_secret(seeded, listed.stdout, listed.stderr, described.stdout, described.stderr, config.read_text())


def test_run_streams_ten_thousand_records_out_as_json_lines(
    seeded: Sandbox, tmp_path: Path, home: dict[str, str]
) -> None:
    config = write_sandbox_config(seeded, "client_secret", tmp_path / "d365.json")
    output = tmp_path / "accounts.jsonl"
    options = json.dumps({"entity_set": "accounts", "select": ["name", "accountnumber"], "page_size": 2500})
    result = cli("run", str(config), "query", "--options", options, "--output", str(output), env=home, stdin="{}\n")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(lines) >= 10_000
    assert len({line["properties"]["id"] for line in lines}) == len(lines)
    assert {line["status"] for line in lines} == {"success"}
    assert result.stderr.strip().endswith("/s)")
    assert f"{len(lines)} succeeded, 0 failed" in result.stderr
    assert_no_secret(seeded, result.stdout, result.stderr)


def test_run_streams_ten_thousand_documents_in_and_results_out(
    sandbox: Sandbox, tmp_path: Path, home: dict[str, str]
) -> None:
    config = write_sandbox_config(sandbox, "client_secret", tmp_path / "d365.json")
    source = tmp_path / "new.jsonl"
    marker = f"cli-bulk-{time.monotonic_ns()}"
    source.write_text("".join(json.dumps({"name": f"{marker} {i}"}) + "\n" for i in range(10_000)))
    output = tmp_path / "results.jsonl"
    options = json.dumps({"entity_set": "accounts"})
    result = cli(
        "run", str(config), "create", "--options", options, "--input", str(source), "--output", str(output), env=home
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(lines) == 10_000
    assert sorted(line["input_index"] for line in lines) == list(range(10_000))
    assert {line["status"] for line in lines} == {"success"}
    assert "10000 succeeded, 0 failed" in result.stderr
    # The server's view: exactly 10,000 new records (no duplicates from retries), read page by page.
    with WebApiSession(sandbox, bearer_token(sandbox)) as api:
        url: str | None = f"accounts?$select=accountid&$filter=startswith(name,'{marker}')"
        stored = 0
        while url:
            page = api.get(url, headers={"Prefer": "odata.maxpagesize=5000"}).json()
            stored += len(page["value"])
            url = page.get("@odata.nextLink")
    assert stored == 10_000
    assert_no_secret(sandbox, result.stdout, result.stderr)


def test_run_reports_each_bad_document_and_exits_1(seeded: Sandbox, tmp_path: Path, home: dict[str, str]) -> None:
    config = write_sandbox_config(seeded, "client_secret", tmp_path / "d365.json")
    documents = [
        json.dumps({"name": "cli one"}),
        "{not json",
        json.dumps({"name": "cli two", "no_such_column": 1}),
        json.dumps({"name": "cli three"}),
    ]
    options = json.dumps({"entity_set": "accounts"})
    result = cli("run", str(config), "create", "--options", options, env=home, stdin="\n".join(documents) + "\n")
    assert result.returncode == 1, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["status"] for line in lines] == ["success", "failed", "failed", "success"]
    assert "line 2 is not valid JSON" in lines[1]["error"]["message"]
    assert "no_such_column" in lines[2]["error"]["message"]
    assert "2 succeeded, 2 failed" in result.stderr


def test_usage_errors_exit_2(tmp_path: Path, home: dict[str, str]) -> None:
    missing = cli("run", str(tmp_path / "nope.json"), "query", env=home, stdin="")
    assert missing.returncode == 2
    assert "nope.json" in missing.stderr
    assert "Traceback" not in missing.stderr
    bad_options = cli("run", str(tmp_path / "nope.json"), "query", "--options", "[1]", env=home, stdin="")
    assert bad_options.returncode == 2
    assert "--options" in bad_options.stderr
    unknown = cli("frobnicate", env=home)
    assert unknown.returncode == 2


@pytest.mark.parametrize(
    "value",
    [
        '{"headers": {"Authorization": "Bearer canary-9d2e"',  # JSON cut short
        "canary-9d2e-not-a-file.json",
        "x" * 300 + "canary-9d2e",  # a name too long for the file system
        '{"a": ' * 3000 + "canary-9d2e",
    ],
    ids=["broken JSON", "no such file", "name too long", "nested too deep"],
)
def test_bad_options_are_named_without_their_value(tmp_path: Path, home: dict[str, str], value: str) -> None:
    # Options may carry a secret (a header): the file's name, the whole value, was printed.
    result = cli("run", str(tmp_path / "nope.json"), "query", "--options", value, env=home, stdin="")
    assert result.returncode == 2
    assert "error: --options" in result.stderr
    assert "canary-9d2e" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_an_options_file_may_start_with_a_byte_order_mark(tmp_path: Path) -> None:
    saved = tmp_path / "options.json"
    saved.write_text('{"entity_set": "accounts"}', encoding="utf-8-sig")
    assert _load_options(str(saved)) == {"entity_set": "accounts"}


@pytest.mark.parametrize("kind", ["directory", "pipe", "not UTF-8", "too large"])
def test_options_that_name_no_readable_file_are_refused_without_reading_them(tmp_path: Path, kind: str) -> None:
    # A pipe was read until it closed (standard input's documents with it); a huge file until memory ran out.
    target = tmp_path / "options"
    if kind == "directory":
        target.mkdir()
    elif kind == "pipe":
        os.mkfifo(target)
    elif kind == "not UTF-8":
        target.write_bytes(b"\xff{}")
    else:
        with target.open("wb") as handle:
            handle.truncate(17 * 2**20)
    with pytest.raises(ValueError, match=r"^(is neither|names a file)") as caught:
        _load_options(str(target))
    assert str(target) not in str(caught.value)


def test_a_missing_options_file_says_why_without_its_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\(No such file or directory\)$") as caught:
        _load_options(str(tmp_path / "canary-missing.json"))
    assert "canary-missing" not in str(caught.value)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def authorize_process(
    sandbox: Sandbox, tmp_path: Path, home: dict[str, str]
) -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = free_port()
    clients = sandbox.clients
    assert clients is not None
    assert sandbox.token_service is not None
    sandbox.token_service.register_redirect_uri(
        clients.authorization_code_client.client_id, f"http://127.0.0.1:{port}/callback"
    )
    config = write_sandbox_config(sandbox, "authorization_code", tmp_path / "d365.json")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "connector.host.cli",
            "authorize",
            str(config),
            "--port",
            str(port),
            "--no-browser",
            "--timeout",
            "60",
        ],
        env=home,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    yield process, port
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)


def test_authorize_through_the_loopback_listener_and_consent_page(
    sandbox: Sandbox, authorize_process: tuple[subprocess.Popen[str], int], tmp_path: Path, home: dict[str, str]
) -> None:
    process, port = authorize_process
    assert process.stdout is not None
    url = ""
    deadline = time.monotonic() + 30
    while not url.startswith("http") and time.monotonic() < deadline:
        url = process.stdout.readline().strip()
    assert url.startswith(sandbox.origin), url
    clients = sandbox.clients
    assert clients is not None
    user = clients.users[0]
    browser = requests.Session()
    browser.trust_env = False
    consent = sign_in(browser, url, {}, user_name=user.user_name, password=user.password_file.read_text().strip())
    assert consent.status_code == 302
    callback = consent.headers["Location"]
    assert callback.startswith(f"http://127.0.0.1:{port}/callback")
    assert "code" in redirect_params(consent)
    browser.get(callback, timeout=10)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "tokens stored in" in out
    store = Path(home["CONNECTOR_HOME"]) / "tokens.fernet"
    assert store.exists()
    assert b"access_token" not in store.read_bytes()
    assert_no_secret(sandbox, out, err)
    # The stored tokens serve the next commands (new processes): no sign-in needed.
    config = tmp_path / "d365.json"
    listed = cli("browse", str(config), "--filter", "contacts", env=home)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.startswith("contacts")
    tested = cli("test", str(config), env=home)
    assert tested.returncode == 0, tested.stdout
    assert_no_secret(sandbox, tested.stdout, tested.stderr)


def test_sandbox_options_pass_through(home: dict[str, str]) -> None:
    result = cli("sandbox", "--help", env=home)
    assert result.returncode == 0, result.stderr
    assert "--seed-records" in result.stdout
    assert "--tls" in result.stdout


def test_a_redis_token_store_serves_the_cli_and_its_password_never_shows(
    sandbox: Sandbox, redis_server: RedisServer, tmp_path: Path, home: dict[str, str]
) -> None:
    # Workers on several machines share one connection's tokens through Redis; the CLI could only name a file before.
    password = "canary-" + secrets.token_hex(8)
    admin = redis_server.client()
    admin.config_set("requirepass", password)
    authed = redis.Redis(host="127.0.0.1", port=redis_server.port, db=3, password=password)
    try:
        url = f"redis://:{password}@127.0.0.1:{redis_server.port}/3?socket_timeout=5&password={password}"
        shown = f"redis://:***@127.0.0.1:{redis_server.port}/3"
        env = {**home, "CONNECTOR_TOKEN_KEY": Fernet.generate_key().decode()}
        config = write_sandbox_config(sandbox, "client_secret", tmp_path / "d365.json")
        authorized = cli("authorize", str(config), "--token-store", url, env=env)
        assert authorized.returncode == 0, authorized.stderr
        assert f"cached in {shown} (encrypted)" in authorized.stdout
        [stored] = authed.keys("dynamics365-ce-connector:tokens:*")
        value = authed.get(stored)
        assert isinstance(value, bytes)
        assert b"access_token" not in value  # encrypted with the shared key
        # From the environment, the password stays off the command line.
        tested = cli("test", str(config), env={**env, "CONNECTOR_TOKEN_STORE": url})
        assert tested.returncode == 0, tested.stdout + tested.stderr
        without_key = cli("test", str(config), "--token-store", url, env=home)
        assert without_key.returncode == 1  # a configuration error, named
        assert "CONNECTOR_TOKEN_KEY" in without_key.stderr
        assert "Traceback" not in without_key.stderr
        web = cli("ui", str(config), "--token-store", url, "--no-browser", env=env)
        assert web.returncode == 2  # a file named after the URL, password and all, was made before
        assert "token_store: the web host takes a file" in web.stderr
        from_env = cli("ui", str(config), "--no-browser", env={**env, "CONNECTOR_TOKEN_STORE": url})
        assert from_env.returncode == 2
        wrong = url.replace(password, "canary-wrong", 1).replace(f"&password={password}", "")
        refused = [cli(command, str(config), "--token-store", wrong, env=env) for command in ("authorize", "test")]
        for answer in refused:  # the refresh lock hid it behind "could not lock the tokens ... try again"
            assert answer.returncode == 1
            assert "refused the password" in answer.stdout + answer.stderr
            assert "canary-wrong" not in answer.stdout + answer.stderr
        assert not list(tmp_path.glob("redis*"))
        assert not list(Path.cwd().glob("redis:*"))
        for result in (authorized, tested, without_key, web, from_env, *refused):
            assert password not in result.stdout + result.stderr
        assert_no_secret(sandbox, authorized.stdout, tested.stdout, authorized.stderr, tested.stderr)
    finally:
        authed.flushdb()
        authed.config_set("requirepass", "")
        authed.close()
