"""B3, bulk writes: 10,000 creates through the connector in bulk, against one request per record through the
connector, and against Microsoft's ``powerplatform-dataverse-client`` creating the same records, on one sandbox.

The sandbox runs in a child process (so client and server do not share one interpreter lock) and serves TLS,
because Microsoft's client refuses any base URL that is not ``https``. Microsoft's client is installed only into a
virtual environment of the benchmark's own (:mod:`benchmarks.venvs`), never into the project's; it authenticates
through a small ``TokenCredential`` that asks the sandbox's token service for a client-credentials token (no
Microsoft host is contacted: the base URL is the sandbox's, and the credential never calls Entra), and trusts the
sandbox's CA through ``REQUESTS_CA_BUNDLE``. Every run's records are counted in the sandbox's storage afterwards.

Run: ``python -m benchmarks.bulk_write [--records 10000] [--no-peer] [--no-write]``
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import os
import queue
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import requests

from benchmarks.charts import bar_chart
from benchmarks.children import run_json_child
from benchmarks.report import write_section
from benchmarks.sandboxes import client_credentials_token
from benchmarks.venvs import VenvError, ensure_venv
from connector.context import RuntimeContext
from connector.dataverse.operations.keys import SequentialKeys
from connector.host.facade import ConnectorHost
from connector.results import ResultStatus
from dataverse_sandbox.config import SandboxConfig
from dataverse_sandbox.limits import LimitSettings
from dataverse_sandbox.server import Sandbox

CONNECTOR_ID = "dynamics365-ce"
PEER = "powerplatform-dataverse-client==1.1.0"
CHART = Path(__file__).resolve().parent.parent / "docs" / "benchmarks" / "bulk_write.png"

# Runs in Microsoft's client's own environment; the sandbox's coordinates and secret arrive on standard input.
_PEER_SCRIPT = """
import json, sys, time
import requests
from azure.core.credentials import AccessToken
from PowerPlatform.Dataverse.client import DataverseClient

spec = json.load(sys.stdin)

class SandboxCredential:
    # A TokenCredential: client credentials against the sandbox's token service (scopes are ignored).
    def get_token(self, *scopes, **kwargs):
        answer = requests.post(spec["token_url"], data={
            "grant_type": "client_credentials", "client_id": spec["client_id"],
            "client_secret": spec["client_secret"], "resource": spec["resource"]}, timeout=30)
        answer.raise_for_status()
        body = answer.json()
        return AccessToken(body["access_token"], int(time.time()) + int(body.get("expires_in", 3599)))

records = [{"name": f"{spec['marker']} {i}", "revenue": i} for i in range(spec["records"])]
for record, key in zip(records, spec["keys"]):
    record["accountid"] = key
with DataverseClient(spec["base_url"], SandboxCredential()) as client:
    # Warm up, as the connector does before its clock: the token, the table's metadata, a pooled connection.
    client.records.create("account", [{"name": f"warm-up {spec['marker']}"}])
    started = time.perf_counter()
    ids = []
    for start in range(0, len(records), spec["chunk"]):
        ids.extend(client.records.create("account", records[start:start + spec["chunk"]]))
    elapsed = time.perf_counter() - started
print(json.dumps({"seconds": elapsed, "ids": len(ids)}))
"""


def _serve(config: SandboxConfig, channel: Connection) -> None:
    """The child process: run a sandbox, send its coordinates, then answer questions until told to stop."""
    with Sandbox(config) as sandbox:
        assert sandbox.clients is not None
        client = sandbox.clients.secret_client
        channel.send(
            {
                "origin": sandbox.origin,
                "token_url": sandbox.token_url,
                "client_id": client.client_id,
                "client_secret": client.read_secret(),
                "ca_bundle": str(sandbox.ca_cert_path) if sandbox.ca_cert_path else "",
            }
        )
        service = sandbox.service
        while True:
            command, argument = channel.recv()
            if command == "stop":
                return
            if command == "count":
                rows = service.storage.fetch_all(service.catalog["account"], "name LIKE ?", [f"{argument} %"])
                channel.send({"rows": len(rows), "distinct": len({row["name"] for row in rows})})
            elif command == "stats":
                since = float(argument)
                records = [r for r in sandbox.stats.requests(since=since) if r.principal is not None]
                channel.send(
                    {
                        "requests": [(r.time, r.finished, r.status, r.throttled) for r in records],
                        "violations": len(sandbox.stats.retry_after_violations(tolerance=0.05)),
                        "now": sandbox.clock.now(),
                    }
                )


class SandboxProcess:
    """A sandbox in a child process, with what a benchmark needs of it.

    :param tls: serve https with a generated CA.
    :param limits: service-protection limits (default: Dataverse's).
    """

    def __init__(self, *, tls: bool = False, limits: LimitSettings | None = None) -> None:
        self._config = SandboxConfig(tls=tls, limits=limits or LimitSettings())
        context = multiprocessing.get_context("spawn")
        self._channel, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(self._config, child), daemon=True)
        self._coordinates: dict[str, str] = {}

    def __enter__(self) -> SandboxProcess:
        self._process.start()
        if not self._channel.poll(120):
            raise RuntimeError("the sandbox process did not start")
        self._coordinates = self._channel.recv()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        try:
            self._channel.send(("stop", None))
        finally:
            self._process.join(30)
            if self._process.is_alive():
                self._process.terminate()

    @property
    def origin(self) -> str:
        """``https://127.0.0.1:<port>``."""
        return self._coordinates["origin"]

    @property
    def token_url(self) -> str:
        """The v1 token endpoint."""
        return self._coordinates["token_url"]

    @property
    def client_id(self) -> str:
        """The full-access application's id."""
        return self._coordinates["client_id"]

    @property
    def client_secret(self) -> str:
        """Its secret (passed to children on standard input only)."""
        return self._coordinates["client_secret"]

    @property
    def ca_bundle(self) -> str:
        """The CA file to trust ("" for http)."""
        return self._coordinates["ca_bundle"]

    @property
    def settings(self) -> dict[str, Any]:
        """The connector's settings for a client-credentials connection to it."""
        origin = urlsplit(self.origin)
        return {
            "connection": {"protocol": origin.scheme, "base_url": origin.netloc, "version": "v9.2"},
            "oauth2": {
                "grant_type": "client_credentials",
                "client_assertion_type": "client_secret",
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "access_token_url": self.token_url,
                "access_token_parameters": [{"name": "resource", "value": self.origin}],
            },
        }

    def count_marked(self, marker: str) -> int:
        """:returns: accounts stored whose name starts with ``marker`` (distinct names; duplicates raise)."""
        self._channel.send(("count", marker))
        answer: dict[str, int] = self._channel.recv()
        if answer["rows"] != answer["distinct"]:
            raise RuntimeError(f"{answer['rows'] - answer['distinct']} duplicated records for {marker}")
        return answer["rows"]

    def stats(self, since: float) -> dict[str, Any]:
        """:returns: the principal's requests since a time (arrival, finish, status, throttle code), the number
        of requests that came back before a Retry-After elapsed, and the sandbox's time now.
        """
        self._channel.send(("stats", since))
        answer: dict[str, Any] = self._channel.recv()
        return answer


def run_connector(
    sandbox: SandboxProcess, records: int, bulk: dict[str, Any], *, client_keys: str = "always"
) -> dict[str, Any]:
    """Create ``records`` accounts through the connector with the given ``bulk`` option and time it."""
    marker = uuid.uuid4().hex
    host = ConnectorHost()
    try:
        context = RuntimeContext(ca_bundle=sandbox.ca_bundle or None)
        connection = host.connect(CONNECTOR_ID, sandbox.settings, context)
        # Warm up: the token and the table's metadata, outside the timing, as for the peer.
        list(
            host.execute_operation(
                CONNECTOR_ID,
                connection,
                "get",
                {"entity_set": "accounts"},
                [{"@odata.editLink": "accounts(00000000-0000-0000-0000-000000000000)"}],
            )
        )
        # Built before the clock starts, as Microsoft's client's records are.
        documents = [{"name": f"{marker} {index}", "revenue": index} for index in range(records)]
        options = {"entity_set": "accounts", "bulk": bulk, "client_keys": client_keys}
        started = time.perf_counter()
        statuses = [
            result.status for result in host.execute_operation(CONNECTOR_ID, connection, "create", options, documents)
        ]
        elapsed = time.perf_counter() - started
    finally:
        host.close()
    succeeded = statuses.count(ResultStatus.SUCCESS)
    stored = sandbox.count_marked(marker)
    return {"seconds": elapsed, "succeeded": succeeded, "failed": len(statuses) - succeeded, "stored": stored}


RAMP_SIZES = (125, 250, 500, 1000, 2000, 4000)
"""The request sizes the connector's bulk defaults sent in B3's runs of 10,000 creates: doubling from 125 to 4000
(then what was left); larger runs are taken to go on at 4000, which this list does not check."""


def ramp(records: int) -> list[int]:
    """:returns: the record counts of requests sized as the connector's bulk defaults sent them: 125, doubling to
    4000, then 4000 at a time; the last holds what is left.
    """
    sizes: list[int] = []
    for size in itertools.chain(RAMP_SIZES, itertools.repeat(RAMP_SIZES[-1])):
        left = records - sum(sizes)
        if left <= 0:
            return sizes
        sizes.append(min(size, left))
    raise AssertionError("unreachable")


def run_bare(sandbox: SandboxProcess, records: int, chunk: int | None) -> dict[str, Any]:
    """Create ``records`` accounts with a bare ``requests`` client: ``CreateMultiple`` requests, each record with its
    own key as the connector gives it; what the service's side costs for the connector's requests, without the
    connector. Like Microsoft's client, the records are built before the clock starts and serialized after.

    :param chunk: requests of this many records, one after another; ``None``: requests sized as the connector's
        bulk defaults sent them (:func:`ramp`), serialized before the clock too (a client that costs nothing), two
        out at once (the connector starts at two and may raise its limit; on this sandbox its timeline showed two or
        three). Either way the client's connections are opened before the clock, as every contender warms up.
    """
    marker = uuid.uuid4().hex
    verify: str | bool = sandbox.ca_bundle or True
    token = client_credentials_token(
        sandbox.token_url, sandbox.client_id, sandbox.client_secret, sandbox.origin, verify=verify
    )
    url = f"{sandbox.origin}/api/data/v9.2/accounts/Microsoft.Dynamics.CRM.CreateMultiple"
    keys = SequentialKeys()
    targets = [
        {
            "@odata.type": "Microsoft.Dynamics.CRM.account",
            "name": f"{marker} {index}",
            "revenue": index,
            "accountid": keys(),
        }
        for index in range(records)
    ]
    sessions: queue.SimpleQueue[requests.Session] = queue.SimpleQueue()
    for _ in range(2):
        session = requests.Session()
        session.trust_env = False
        session.headers.update({"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        session.get(f"{sandbox.origin}/api/data/v9.2/WhoAmI", verify=verify).raise_for_status()  # its connection
        sessions.put(session)

    def post(body: bytes | str) -> None:
        session = sessions.get()
        try:
            session.post(url, data=body, verify=verify).raise_for_status()
        finally:
            sessions.put(session)

    try:
        if chunk is not None:
            started = time.perf_counter()
            for start in range(0, records, chunk):
                post(json.dumps({"Targets": targets[start : start + chunk]}))
        else:
            bodies, first = [], 0
            for size in ramp(records):
                bodies.append(json.dumps({"Targets": targets[first : first + size]}).encode())
                first += size
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=2) as pool:
                for answered in [pool.submit(post, body) for body in bodies]:
                    answered.result()
        elapsed = time.perf_counter() - started
    finally:
        while not sessions.empty():
            sessions.get().close()
    return {"seconds": elapsed, "stored": sandbox.count_marked(marker)}


def run_peer(sandbox: SandboxProcess, records: int, chunk: int, *, keys: bool = False) -> dict[str, Any]:
    """Create ``records`` accounts through Microsoft's client in its own environment and time it.

    :param keys: give each record its own primary key, as the connector's bulk defaults do.
    """
    python = ensure_venv("powerplatform-dataverse-client", [PEER])
    marker = uuid.uuid4().hex
    new_key = SequentialKeys()
    spec = {
        "base_url": sandbox.origin,
        "token_url": sandbox.token_url,
        "client_id": sandbox.client_id,
        "client_secret": sandbox.client_secret,
        "resource": sandbox.origin,
        "records": records,
        "chunk": chunk,
        "marker": marker,
        "keys": [new_key() for _ in range(records)] if keys else [],
    }
    environment = {**os.environ, "REQUESTS_CA_BUNDLE": sandbox.ca_bundle}
    outcome = run_json_child([str(python), "-c", _PEER_SCRIPT], spec, env=environment)
    outcome["stored"] = sandbox.count_marked(marker)
    return outcome


def main() -> None:
    """Run the benchmark from the command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=10_000, help="accounts each run creates")
    parser.add_argument("--repeat", type=int, default=9, help="runs of each contender; the median is reported")
    parser.add_argument("--no-peer", action="store_true", help="skip Microsoft's client")
    parser.add_argument("--no-write", action="store_true", help="print only; do not update docs/benchmarks.md")
    args = parser.parse_args()
    records: int = args.records
    contenders: list[tuple[str, str, Any]] = [
        (
            "connector, bulk defaults (CreateMultiple, past 1000 per request on quick answers, adaptive concurrency)",
            "ours",
            {"mode": "auto"},
        ),
        (
            "connector, bulk, at most 1000 per request (the default before D67)",
            "ours",
            {"mode": "auto", "batch_size": 1000},
        ),
        ("connector, bulk, 100 per request (the default before D61)", "ours", {"mode": "auto", "batch_size": 100}),
        ("connector, bulk defaults, without client keys (client_keys never)", "ours-keyless", {"mode": "auto"}),
        ("bare requests loop, CreateMultiple of 1000 with client keys, one after another", "bare", 1000),
        (
            "bare requests, the connector's request sizes with client keys, bodies built before the clock, two out",
            "bare",
            None,
        ),
        ("connector, $batch, 100 per request", "ours", {"mode": "batch", "batch_size": 100}),
    ]
    if not args.no_peer:
        contenders.append(("Microsoft powerplatform-dataverse-client 1.1.0, CreateMultiple of 1000", "peer", 1000))
        contenders.append(
            (f"Microsoft powerplatform-dataverse-client 1.1.0, one CreateMultiple of {records:,}", "peer", records)
        )
        contenders.append(
            (
                f"Microsoft powerplatform-dataverse-client 1.1.0, one CreateMultiple of {records:,} with client keys",
                "peer-keyed",
                records,
            )
        )
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label, _, _ in contenders}
    with SandboxProcess(tls=True) as sandbox:
        # Interleaved rounds, so that a busy moment of this shared machine does not fall on one contender only.
        for round_number in range(args.repeat):
            for label, kind, option in contenders:
                if round_number and ("one request per record" in label or "$batch" in label):
                    # Once is enough to know their cost; more rounds of 100 $batch requests of 100 parts would spend
                    # the principal's execution-time budget and throttle the contenders after them.
                    continue
                try:
                    if kind == "ours":
                        run = run_connector(sandbox, records, option)
                    elif kind == "ours-keyless":
                        run = run_connector(sandbox, records, option, client_keys="never")
                    elif kind == "bare":
                        run = run_bare(sandbox, records, option)
                    else:
                        run = run_peer(sandbox, records, option, keys=kind == "peer-keyed")
                except (VenvError, RuntimeError) as error:
                    print(f"{label}: skipped ({error})", file=sys.stderr)
                    continue
                runs[label].append(run)
                print(label, json.dumps(run), flush=True)
    # One request per record against bulk, with Dataverse's limits (6000 requests per 300 s: one request per
    # record cannot go faster than that) and without any (the raw cost of a request on this machine).
    for limited in (True, False):
        where = "Dataverse's limits" if limited else "no limits"
        pair = [
            (f"connector, bulk defaults, {where}", {"mode": "auto"}),
            (f"connector, one request per record, {where}", {"mode": "off"}),
        ]
        with SandboxProcess(limits=LimitSettings(enabled=limited)) as sandbox:
            for round_number in range(args.repeat):
                for label, option in pair:
                    if round_number and "one request per record" in label:
                        continue
                    run = run_connector(sandbox, records, option)
                    runs.setdefault(label, []).append(run)
                    print(label, json.dumps(run), flush=True)
    rows = {
        label: {
            **done[-1],
            "seconds": statistics.median(run["seconds"] for run in done),
            "spread": (min(run["seconds"] for run in done), max(run["seconds"] for run in done)),
            "runs": len(done),
        }
        for label, done in runs.items()
        if done
    }
    report(records, rows, write=not args.no_write)


def report(records: int, rows: dict[str, dict[str, Any]], *, write: bool) -> None:
    """Print the table and, unless told not to, write it and the chart into the docs."""
    bulk = next(iter(rows.values()))["seconds"]
    sandboxes = ("no limits", "Dataverse's limits")

    def grouped_on(where: str | None) -> float | None:
        return rows.get(f"connector, bulk defaults, {where}", {}).get("seconds") if where else None

    def faster_by(label: str, seconds: float) -> str:
        # A plain-http sandbox's row against that sandbox's bulk defaults; every other row against the first (TLS).
        where = next((name for name in sandboxes if label.endswith(f", {name}")), None)
        baseline = grouped_on(where) if where else bulk
        return f"{seconds / baseline:.1f}x" if baseline else "not measured"

    def ratio_of(where: str) -> str:
        single = rows.get(f"connector, one request per record, {where}", {}).get("seconds")
        grouped = grouped_on(where)
        return f"**{single / grouped:.1f}x**" if single and grouped else "not measured"

    header = "| contender | seconds (median) | spread (s) | records/s | bulk defaults (same sandbox) faster by |"
    lines = [f"{header} records stored | failed |", "|---|---:|---:|---:|---:|---:|---:|"]
    for label, row in rows.items():
        rate = records / row["seconds"]
        stored = row["stored"]
        failed = row.get("failed", records - row.get("ids", records))
        low, high = row.get("spread", (row["seconds"], row["seconds"]))
        spread = f"{low:.2f} to {high:.2f}" if row.get("runs", 1) > 1 else "one run"
        faster = faster_by(label, row["seconds"])
        lines.append(f"| {label} | {row['seconds']:.2f} | {spread} | {rate:,.0f} | {faster} | {stored:,} | {failed} |")
    table = "\n".join(lines)
    print(table)
    if not write:
        return
    peers = [row for label, row in rows.items() if label.startswith("Microsoft") and "client keys" not in label]
    keyed = next((row for label, row in rows.items() if label.startswith("Microsoft") and "client keys" in label), None)
    peer_note = ""
    if peers:
        fastest = min(peers, key=lambda row: row["seconds"])
        factor = bulk / fastest["seconds"]
        ours = next(iter(rows.values())).get("spread", (bulk, bulk))
        theirs = fastest.get("spread", (fastest["seconds"], fastest["seconds"]))
        overlap = ours[0] <= theirs[1] and theirs[0] <= ours[1]
        peer_note = (
            f" Against Microsoft's client (the faster of its two ways, both warmed up before their clocks as the"
            f" connector is), the connector's bulk defaults take **{factor:.2f}x** its time (target: at most 1x,"
            f" **{'met' if factor <= 1 else 'missed'}**"
            + (
                f", at the medians: the spreads overlap, {ours[0]:.2f} to {ours[1]:.2f} s against {theirs[0]:.2f} to "
                f"{theirs[1]:.2f} s)."
                if overlap
                else ")."
            )
        )
        if keyed:
            peer_note += (
                f" Like for like, against Microsoft's client sending the same records with the same kind of client"
                f" keys in one request: **{bulk / keyed['seconds']:.2f}x**; its own time with keys is"
                f" {keyed['seconds'] / fastest['seconds']:.2f}x its time without."
            )
        bare = rows.get("bare requests loop, CreateMultiple of 1000 with client keys, one after another")
        keyless = rows.get("connector, bulk defaults, without client keys (client_keys never)")
        peer_note += (
            " Microsoft's client sends what it is handed as one request, whose records get the service's own ids, and"
            " reads back ids only; the connector prepares every record (its own key, so a request whose answer is"
            " lost can be re-sent or read back; its own result with id and URL; its own error on failure) and groups"
            " records into requests that start at 125 and double, past 1000 only once an answer says the service"
            " takes them quickly (D67), written concurrently. Both sides are bound by the sandbox's CPU: one Python"
            " process does the service's work for every record, so several requests cannot finish sooner than one"
            " holding them all, and what the service does for the connector's requests and not for the one request"
            " (a key per record, a transaction per request) is the difference."
        )
        if bare and keyless:
            bare_factor = bare["seconds"] / fastest["seconds"]
            keyless_factor = keyless["seconds"] / fastest["seconds"]
            peer_note += (
                f" Two more rows of this run: a bare `requests` loop sending 1000-record requests with the same keys,"
                f" prepared before its clock starts, takes **{bare_factor:.2f}x** Microsoft's client's time; the"
                f" connector without client keys (`client_keys: never`, which gives up re-sending safely)"
                f" **{keyless_factor:.2f}x**."
            )
        free = next((row for label, row in rows.items() if label.startswith("bare requests, the connector's")), None)
        if free:
            peer_note += (
                f" The floor of the connector's requests on this sandbox: a client that costs nothing (every body"
                f" serialized before its clock) sending the same keyed records in the requests the connector sends"
                f" ({', '.join(map(str, ramp(records)))} records), two out at once, takes"
                f" **{free['seconds'] / fastest['seconds']:.2f}x** Microsoft's client's time, and the connector"
                f" (preparing each record as it goes, and its result) **{bulk / free['seconds']:.2f}x** that floor's"
                f" (D72)."
            )
    charted = bar_chart(
        CHART,
        f"B3: {records:,} creates, records per second (higher is better)",
        [
            (label.split(",")[0] + "," + label.split(",", 1)[1][:40], records / row["seconds"])
            for label, row in rows.items()
        ],
        "records per second",
    )
    chart = "\n\n![B3 throughput](benchmarks/bulk_write.png)" if charted else ""
    body = f"""{table}

Bulk (defaults) against one request per record through the same connector (target ≥ 10x): {ratio_of("no limits")}
with the sandbox's service-protection limits off (the raw cost of a request on this machine), and
{ratio_of("Dataverse's limits")} with Dataverse's default limits on (6000 requests per 300 s per user: 10,000 requests
cannot finish in less than about 300 s, whatever the client; the connector waited out every `429` as told). Both
on plain-http sandboxes in their own processes.{peer_note}
Each contender's median of its runs (one run for one request per record and for `$batch`); every run's records were
counted in the sandbox's storage afterwards, and the connector's runs also return one result per record (succeeded or
failed, with its error). The comparison with Microsoft's client ran on a TLS sandbox (Microsoft's client accepts
only `https`), the same for both, with Dataverse's default limits. This machine has 2 cores, shared by client and
server. The sandbox keeps connections alive (docs/decisions.md D9): a client reuses the connections it holds. Each
connector run starts with one (it connects through a new host, and warms up), and opens one more TLS connection for
each further request it has out at once (about four per run), inside its clock; Microsoft's client reuses the one
its warm-up opened.
Microsoft's client sends what it is given as one `CreateMultiple` (it does not split), authenticated
by a `TokenCredential` that asks the sandbox's token service (its only host check, `https`, is met by the TLS
sandbox; it trusts the sandbox's CA through `REQUESTS_CA_BUNDLE`); it was installed into a benchmark environment
of its own, never into the project's.{chart}"""
    write_section("bulk_write", f"B3 bulk writes: {records:,} creates", "python -m benchmarks.bulk_write", body)


if __name__ == "__main__":
    main()
