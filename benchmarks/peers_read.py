"""B6: the same Query through the peers: Microsoft's ``powerplatform-dataverse-client`` and Airbyte's
``airbyte-source-microsoft-dataverse``, against the connector, on one sandbox served over TLS.

Each peer runs in a virtual environment of its own, created by this script under the benchmark cache directory
(:mod:`benchmarks.venvs`; ``--cache-dir`` or ``D365_BENCHMARK_CACHE``): the peers' packages are never the project's
dependencies. Every side reads every column of every ``account`` in 5,000-record pages, in a fresh process, timed
from the first request (token and table lookup included, as each side does them) to the last record, after its
imports. The order of the sides rotates each round; the report gives medians and each side's peak RSS.

How the peers reach the sandbox (nothing else is changed in them):

* Microsoft's client takes any ``https`` organisation URL and any ``azure.core`` credential; it is given
  ``azure.identity.ClientSecretCredential(tenant, client id, secret, authority=<sandbox origin>,
  disable_instance_discovery=True)``, so MSAL reads the sandbox's OpenID discovery document and token endpoint.
* Airbyte's source hard-codes ``https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token``. A
  ``sitecustomize.py`` written into its environment only (:data:`SHIM`) rewrites that prefix to the sandbox's origin
  in ``requests.Session.request``, when ``D365_BENCH_LOGIN`` is set.
* Trust: both get ``REQUESTS_CA_BUNDLE=<sandbox CA>``. Airbyte's CDK sends through ``Session.send``, which ignores
  that variable, so the same shim makes ``certifi.where()`` return the sandbox CA when ``D365_BENCH_TRUST`` is set.

Run: ``python -m benchmarks.peers_read [--records 100000] [--rounds 3] [--cache-dir DIR]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.charts import bar_chart
from benchmarks.children import run_json_child
from benchmarks.probes import DRIVER_PRELUDE, id_digest, peak_mb
from benchmarks.report import write_section
from benchmarks.venvs import CACHE_ENV, VenvError, cache_dir, ensure_venv

CONNECTOR_ID = "dynamics365-ce"
CHART = Path(__file__).resolve().parent.parent / "docs" / "benchmarks" / "peers_read.png"
MICROSOFT = "powerplatform-dataverse-client==1.1.0"
AIRBYTE = "airbyte-source-microsoft-dataverse==1.0.2"

SHIM = '''"""Benchmark shim written by benchmarks/peers_read.py into this environment only; inert unless its
variables are set.

D365_BENCH_LOGIN: rewrite requests to https://login.microsoftonline.com/ to this origin (the sandbox's token service).
D365_BENCH_TRUST: make certifi.where() return this CA file (requests' default trust when verify=True).
"""
import os

_trust = os.environ.get("D365_BENCH_TRUST")
if _trust:
    import certifi
    import certifi.core

    certifi.where = certifi.core.where = lambda: _trust

_login = os.environ.get("D365_BENCH_LOGIN")
if _login:
    import requests.sessions

    _PREFIX = "https://login.microsoftonline.com/"
    _request = requests.sessions.Session.request

    def _redirected(self, method, url, *args, **kwargs):
        if isinstance(url, str) and url.startswith(_PREFIX):
            url = _login.rstrip("/") + "/" + url[len(_PREFIX):]
        return _request(self, method, url, *args, **kwargs)

    requests.sessions.Session.request = _redirected
'''

MICROSOFT_DRIVER = (
    DRIVER_PRELUDE
    + """
import json, sys, time
from azure.identity import ClientSecretCredential
from PowerPlatform.Dataverse.client import DataverseClient

job = json.loads(sys.stdin.read())
credential = ClientSecretCredential(job["tenant"], job["client_id"], job["secret"], authority=job["origin"],
                                    disable_instance_discovery=True)
ids = []
started = time.perf_counter()
with DataverseClient(job["origin"], credential) as client:
    for page in client.records.list_pages("account", page_size=job["page_size"]):
        for record in page:
            ids.append(record.get("accountid"))
seconds = time.perf_counter() - started
print(json.dumps({**id_digest(ids), "seconds": seconds, "peak_mb": peak_mb()}))
"""
)

AIRBYTE_DRIVER = (
    DRIVER_PRELUDE
    + """
import json, logging, sys, time
from airbyte_cdk.models import ConfiguredAirbyteCatalog, Type
from source_microsoft_dataverse.source import SourceMicrosoftDataverse

job = json.loads(sys.stdin.read())
config = {"url": job["origin"], "tenant_id": job["tenant"], "client_id": job["client_id"],
          "client_secret_value": job["secret"], "odata_maxpagesize": job["page_size"]}
stream = {"name": "account", "json_schema": {"type": "object", "properties": {}},
          "supported_sync_modes": ["full_refresh"], "source_defined_primary_key": [["accountid"]]}
catalog = ConfiguredAirbyteCatalog.parse_obj({"streams": [{"stream": stream, "sync_mode": "full_refresh",
                                                           "destination_sync_mode": "overwrite",
                                                           "primary_key": [["accountid"]]}]})
logger = logging.getLogger("airbyte")
logger.setLevel(logging.WARNING)
ids = []
started = time.perf_counter()
for message in SourceMicrosoftDataverse().read(logger, config, catalog, None):
    if message.type == Type.RECORD:
        ids.append(message.record.data.get("accountid"))
seconds = time.perf_counter() - started
print(json.dumps({**id_digest(ids), "seconds": seconds, "peak_mb": peak_mb()}))
"""
)


def measure_ours(job: dict[str, Any]) -> dict[str, Any]:
    """Stream the Query through the reference host (the child side), clock from the first request.

    :param job: ``settings``, ``context`` (runtime context fields), ``page_size``, ``options`` (Query options beyond
        the entity set and the page size).
    :returns: records, the digest of their ids, seconds and peak RSS (the ids held, as the peers' drivers hold them).
    """
    from connector.context import RuntimeContext
    from connector.host.facade import ConnectorHost

    host = ConnectorHost()
    connection = host.connect(CONNECTOR_ID, job["settings"], RuntimeContext(**job["context"]))
    options = {"entity_set": "accounts", "page_size": job["page_size"], **job["options"]}
    ids: list[str] = []
    started = time.perf_counter()
    for result in host.execute_operation(CONNECTOR_ID, connection, "query", options, [{}]):
        if not result.ok:
            raise SystemExit(f"the query failed: {result.error}")
        ids.append(result.properties["id"])
    seconds = time.perf_counter() - started
    host.close()
    return {**id_digest(ids), "seconds": seconds, "peak_mb": peak_mb()}


def prepare_peer(name: str, requirement: str) -> Path:
    """Create the peer's environment (once) and write the shim into it.

    :returns: the environment's interpreter.
    :raises VenvError: when the peer cannot be installed.
    """
    python = ensure_venv(name, [requirement])
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    (Path(purelib) / "sitecustomize.py").write_text(SHIM, encoding="utf-8")
    return python


def run_peer(python: Path, driver: str, job: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """Run a peer's driver in its environment; the job (with the secret) goes through stdin."""
    return run_json_child([str(python), "-c", driver], job, env=env, timeout=3600)


def run_ours(job: dict[str, Any]) -> dict[str, Any]:
    """Measure the connector in a fresh interpreter of the project's own environment."""
    return run_json_child([sys.executable, "-m", "benchmarks.peers_read", "--child"], job, timeout=3600)


def peer_environment(ca_file: str, origin: str) -> dict[str, str]:
    """:returns: the peers' process environment: trust the sandbox CA, send Entra's host to the sandbox, and
    nothing of the project's own import path.
    """
    env = {key: value for key, value in os.environ.items() if key not in {"PYTHONPATH", "PYTHONHOME"}}
    env.update(
        {
            "REQUESTS_CA_BUNDLE": ca_file,
            "D365_BENCH_TRUST": ca_file,
            "D365_BENCH_LOGIN": origin,
            "NO_PROXY": "127.0.0.1,localhost",
        }
    )
    return env


def main() -> None:
    """Run the benchmark from the command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000, help="accounts to seed and read")
    parser.add_argument("--rounds", type=int, default=3, help="measurements of each side")
    parser.add_argument("--page-size", type=int, default=5000, help="records per page")
    parser.add_argument(
        "--cache-dir", help=f"where the peers' environments live (default: ${CACHE_ENV} or {cache_dir()})"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true", help="print only; do not update docs/benchmarks.md")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure_ours(json.loads(sys.stdin.read()))))
        return
    if args.cache_dir:
        os.environ[CACHE_ENV] = args.cache_dir

    from benchmarks.sandboxes import connector_settings, runtime_context_fields
    from dataverse_sandbox.config import SandboxConfig
    from dataverse_sandbox.server import Sandbox

    peers: dict[str, tuple[Path, str]] = {}
    unavailable: dict[str, str] = {}
    for label, (name, requirement, driver) in {
        "Microsoft powerplatform-dataverse-client 1.1.0": ("peer-microsoft", MICROSOFT, MICROSOFT_DRIVER),
        "Airbyte source-microsoft-dataverse 1.0.2": ("peer-airbyte", AIRBYTE, AIRBYTE_DRIVER),
    }.items():
        try:
            peers[label] = (prepare_peer(name, requirement), driver)
        except (VenvError, OSError, subprocess.SubprocessError) as error:
            unavailable[label] = f"could not be installed: {error}"
    ours, ours_one_page = "this connector (defaults)", "this connector (one page at a time)"
    runs: dict[str, list[dict[str, Any]]] = {ours: [], ours_one_page: [], **{label: [] for label in peers}}
    digests: dict[str, set[str]] = {}  # digest of the ids read -> the sides that read them
    with Sandbox(SandboxConfig(tls=True)) as sandbox:
        sandbox.seed(n_accounts=args.records)
        assert sandbox.clients is not None
        assert sandbox.ca_cert_path is not None
        client = sandbox.clients.secret_client
        peer_job = {
            "origin": sandbox.origin,
            "tenant": sandbox.tenant_id,
            "client_id": client.client_id,
            "secret": client.read_secret(),
            "page_size": args.page_size,
        }
        our_job = {
            "settings": connector_settings(sandbox),
            "context": runtime_context_fields(sandbox),
            "page_size": args.page_size,
        }
        env = peer_environment(str(sandbox.ca_cert_path), sandbox.origin)
        sides = list(runs)
        for round_index in range(args.rounds):
            order = sides[round_index % len(sides) :] + sides[: round_index % len(sides)]
            for side in order:
                if side in unavailable:
                    continue
                try:
                    if side in (ours, ours_one_page):
                        one_page = {"parallel": {"mode": "off"}, "read_ahead": False}
                        measured = run_ours({**our_job, "options": one_page if side == ours_one_page else {}})
                    else:
                        measured = run_peer(*peers[side], peer_job, env)
                except RuntimeError as error:
                    unavailable[side] = f"failed against the sandbox: {error}"
                    runs.pop(side, None)
                    continue
                if measured["records"] != args.records or measured["distinct"] != args.records:
                    unavailable[side] = f"returned {measured['records']} records instead of {args.records}"
                    runs.pop(side, None)
                    continue
                digests.setdefault(measured["digest"], set()).add(side)
                if len(digests) > 1:
                    raise SystemExit(f"the sides read different id sets: {sorted(map(sorted, digests.values()))}")
                runs[side].append(measured)
                print(
                    f"round {round_index + 1} {side}: {measured['records'] / measured['seconds']:,.0f} records/s",
                    file=sys.stderr,
                )
    body = report(args, ours, runs, unavailable, write=not args.no_write)
    print(body)
    if not args.no_write:
        write_section(
            "peers_read",
            "B6 peers on reads: Microsoft's client and Airbyte's source against the connector",
            f"python -m benchmarks.peers_read --records {args.records} --rounds {args.rounds}",
            body,
        )


def report(
    args: argparse.Namespace,
    ours: str,
    runs: dict[str, list[dict[str, Any]]],
    unavailable: dict[str, str],
    *,
    write: bool,
) -> str:
    """:returns: the Markdown section; with ``write``, its chart is drawn into the docs too."""
    medians = {
        side: statistics.median(item["records"] / item["seconds"] for item in items)
        for side, items in runs.items()
        if items
    }
    peaks = {side: max(item["peak_mb"] for item in items) for side, items in runs.items() if items}
    lines = [
        "| client | median records/s | rounds (records/s) | peak RSS (MB) | ours (defaults) / theirs |",
        "|---|---:|---|---:|---:|",
    ]
    for side, rate in medians.items():
        each = ", ".join(f"{item['records'] / item['seconds']:,.0f}" for item in runs[side])
        relative = "—" if side.startswith("this connector") else f"{medians[ours] / rate:.2f}"
        lines.append(f"| {side} | {rate:,.0f} | {each} | {peaks[side]:.0f} | {relative} |")
    lines += [
        "",
        (
            f"{args.records:,} accounts, every column, {args.page_size:,}-record pages, https on loopback with the "
            "sandbox's own CA; each side in a fresh process (peers in their own virtual environments under the "
            "benchmark cache), timed from its first request (token and table lookup included) to its last record; "
            f"medians of {args.rounds} rounds in rotating order; every side returned the same id set (one SHA-256 "
            "digest of the sorted ids, each side holding its ids until the end). Peak RSS is the process's `VmHWM`, "
            "imports included."
        ),
        "",
        (
            "What each side hands over per record: Microsoft's client a `Record` object per row (pages of them); "
            "Airbyte's source an `AirbyteMessage` (pydantic) per row, read in-process through its "
            "`AbstractSource.read` (without the JSON serialisation to standard output that its CLI adds); the "
            "connector an `OperationResult` per row through the `execute_operation` hook. None of the peers asks for "
            "the next page before the current one is handed over; the connector's defaults (decision D58) read the "
            "rest of a query larger than a page as primary-key ranges, several at once, and the second row reads "
            "one page at a time (`parallel` and `read_ahead` off). On loopback the sandbox's CPU is the limit for "
            "every side; B7 adds a remote tenant's latency."
        ),
        "",
        (
            "How the peers were pointed at the sandbox (the harness's only changes, see the script's docstring): "
            "Microsoft's client got an `azure.identity.ClientSecretCredential` with `authority=<sandbox origin>` and "
            "`disable_instance_discovery=True`; Airbyte's source, which hard-codes "
            "`https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token`, got a `sitecustomize.py` in its own "
            "environment that rewrites that prefix to the sandbox in `requests.Session.request`; both trust the "
            "sandbox CA through `REQUESTS_CA_BUNDLE`, and Airbyte's CDK, which sends with `Session.send` (ignoring "
            "that variable), through the same shim making `certifi.where()` return the sandbox CA."
        ),
    ]
    for side, reason in unavailable.items():
        lines += ["", f"**{side}** was not measured: {reason}"]
    if (
        write
        and len(medians) > 1
        and bar_chart(
            CHART, "B6: the same Query through each client (median records/s)", list(medians.items()), "records/s"
        )
    ):
        lines += ["", f"![B6 peers on reads](benchmarks/{CHART.name})"]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
