"""B7, latency-bound read: the same Query against a sandbox whose every Web API request takes as long as a remote
tenant's, read by a sequential bare ``requests`` loop, Microsoft's client, Airbyte's source, the connector one page
at a time and the connector with its defaults (parallel ranges).

Why a latency: on loopback the sandbox's CPU is the limit and every reader waits on it alike (B1, B6). A real
tenant is far away: each 5,000-record page of every column is a round trip to the region (tens of milliseconds),
several megabytes on the wire (about 4 MB here: a third of a second at 100 Mbit/s) and the service's own query time
(hundreds of milliseconds to a second for 5,000 records of every column). ``--latency-ms`` (default ``500,1000``:
one set of rounds at each) is added by the sandbox before it serves each Web API request (its fault injector's
latency, token requests excluded); the sandbox's own time to build a page on this machine comes on top. 500 ms is
at the low end of what such a page costs a tenant and 1,000 ms a middle figure; the lower the latency, the less
there is to overlap, so the lower figure favours the sequential readers.

Every side runs in a fresh process (the peers in their own virtual environments, :mod:`benchmarks.peers_read`),
reads every column of every ``account`` in 5,000-record pages over https with the sandbox's CA, and reports its
records, the digest of its sorted id set (all sides must agree), seconds from its first request to its last record
(token and table lookup included, as each side does them) and its peak RSS. The sandbox keeps Dataverse's default
service-protection limits; after each side the sandbox's records say how many ``429`` it sent and how many requests
arrived before a ``Retry-After`` had elapsed. Sides rotate in order each round; medians and the spread are
reported. Targets: the connector's defaults at least 3x Microsoft's client's and 3x the bare loop's records/s,
identical id sets.

Run: ``python -m benchmarks.latency_read [--records 100000] [--rounds 3] [--latency-ms 500,1000] [--no-peers]``
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
from benchmarks.peers_read import AIRBYTE, AIRBYTE_DRIVER, MICROSOFT, MICROSOFT_DRIVER, peer_environment, prepare_peer
from benchmarks.probes import id_digest, peak_mb
from benchmarks.report import write_section
from benchmarks.venvs import CACHE_ENV, VenvError

CONNECTOR_ID = "dynamics365-ce"
CHART = Path(__file__).resolve().parent.parent / "docs" / "benchmarks" / "latency_read.png"
TARGET = 3.0
ODATA_HEADERS = {"Accept": "application/json", "OData-MaxVersion": "4.0", "OData-Version": "4.0"}

SideRuns = dict[str, list[dict[str, Any]]]
"""Each side's measurements at one latency."""

BARE = "bare requests loop (sequential)"
MICROSOFT_SIDE = "Microsoft powerplatform-dataverse-client 1.1.0"
AIRBYTE_SIDE = "Airbyte source-microsoft-dataverse 1.0.2"
SEQUENTIAL = "connector, one page at a time (parallel off)"
PARALLEL = "connector, defaults (parallel ranges)"


def measure_bare(job: dict[str, Any]) -> dict[str, Any]:
    """Follow the next links with a bare session, one page after another (the child side).

    :param job: ``api_root``, ``token_url``, ``client_id``, ``secret``, ``origin``, ``ca``, ``page_size``.
    :returns: the digest of the ids read, seconds and peak RSS.
    """
    import requests

    started = time.perf_counter()
    session = requests.Session()
    session.trust_env = False
    session.verify = job["ca"]
    token = session.post(
        job["token_url"],
        data={
            "grant_type": "client_credentials",
            "client_id": job["client_id"],
            "client_secret": job["secret"],
            "resource": job["origin"],
        },
        timeout=60,
    ).json()["access_token"]
    session.headers.update(ODATA_HEADERS)
    session.headers["Authorization"] = f"Bearer {token}"
    session.headers["Prefer"] = f"odata.maxpagesize={job['page_size']}"
    url: str | None = f"{job['api_root']}accounts"
    ids: list[str] = []
    while url:
        response = session.get(url, timeout=600)
        response.raise_for_status()
        body = response.json()
        ids.extend(record["accountid"] for record in body["value"])
        url = body.get("@odata.nextLink")
    seconds = time.perf_counter() - started
    return {**id_digest(ids), "seconds": seconds, "peak_mb": peak_mb()}


def measure_connector(job: dict[str, Any]) -> dict[str, Any]:
    """Stream the Query through the reference host (the child side), clock from the connection's first request.

    :param job: ``settings``, ``context`` (runtime context fields), ``page_size``, ``options``.
    :returns: the digest of the ids read, seconds and peak RSS.
    """
    from connector.context import RuntimeContext
    from connector.host.facade import ConnectorHost

    host = ConnectorHost()
    started = time.perf_counter()
    connection = host.connect(CONNECTOR_ID, job["settings"], RuntimeContext(**job["context"]))
    options = {"entity_set": "accounts", "page_size": job["page_size"], **job["options"]}
    ids: list[str] = []
    for result in host.execute_operation(CONNECTOR_ID, connection, "query", options, [{}]):
        if not result.ok:
            raise SystemExit(f"the query failed: {result.error}")
        ids.append(result.properties["id"])
    seconds = time.perf_counter() - started
    host.close()
    return {**id_digest(ids), "seconds": seconds, "peak_mb": peak_mb()}


def run_own(side: str, job: dict[str, Any]) -> dict[str, Any]:
    """Measure the bare loop or the connector in a fresh interpreter of the project's environment."""
    command = [sys.executable, "-m", "benchmarks.latency_read", "--child", side]
    return run_json_child(command, job, timeout=3600)


def main() -> None:
    """Run the benchmark from the command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000, help="accounts to seed and read")
    parser.add_argument("--rounds", type=int, default=3, help="measurements of each side")
    parser.add_argument("--page-size", type=int, default=5000, help="records per page")
    parser.add_argument(
        "--latency-ms", default="500,1000", help="latencies added to each Web API request, one set of rounds each"
    )
    parser.add_argument("--no-peers", action="store_true", help="skip Microsoft's client and Airbyte's source")
    parser.add_argument("--cache-dir", help=f"where the peers' environments live (default: ${CACHE_ENV})")
    parser.add_argument("--child", choices=("bare", "connector"), help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true", help="print only; do not update docs/benchmarks.md")
    args = parser.parse_args()
    if args.child:
        job = json.loads(sys.stdin.read())
        print(json.dumps(measure_bare(job) if args.child == "bare" else measure_connector(job)))
        return
    if args.cache_dir:
        os.environ[CACHE_ENV] = args.cache_dir

    from benchmarks.sandboxes import connector_settings, runtime_context_fields
    from dataverse_sandbox.config import SandboxConfig
    from dataverse_sandbox.faults import FaultSettings
    from dataverse_sandbox.server import Sandbox

    peers: dict[str, tuple[Path, str]] = {}
    unavailable: dict[str, str] = {}
    if not args.no_peers:
        for label, (name, requirement, driver) in {
            MICROSOFT_SIDE: ("peer-microsoft", MICROSOFT, MICROSOFT_DRIVER),
            AIRBYTE_SIDE: ("peer-airbyte", AIRBYTE, AIRBYTE_DRIVER),
        }.items():
            try:
                peers[label] = (prepare_peer(name, requirement), driver)
            except (VenvError, OSError, subprocess.SubprocessError) as error:
                unavailable[label] = f"could not be installed: {error}"
    sides = [BARE, *peers, SEQUENTIAL, PARALLEL]
    latencies = [float(value) for value in str(args.latency_ms).split(",") if value]
    runs: dict[float, SideRuns] = {latency: {side: [] for side in sides} for latency in latencies}
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
        bare_job = {
            **peer_job,
            "api_root": sandbox.api_root,
            "token_url": sandbox.token_url,
            "ca": str(sandbox.ca_cert_path),
        }
        own_job = {
            "settings": connector_settings(sandbox),
            "context": runtime_context_fields(sandbox),
            "page_size": args.page_size,
        }
        env = peer_environment(str(sandbox.ca_cert_path), sandbox.origin)
        for latency, round_index in [(latency, index) for latency in latencies for index in range(args.rounds)]:
            sandbox.faults.update(FaultSettings(latency_ms=latency, path_prefix="/api/data/"))
            order = sides[round_index % len(sides) :] + sides[: round_index % len(sides)]
            for side in order:
                if side in unavailable:
                    continue
                since = sandbox.clock.now()
                try:
                    if side == BARE:
                        measured = run_own("bare", bare_job)
                    elif side in (SEQUENTIAL, PARALLEL):
                        options = {"parallel": {"mode": "off"}} if side == SEQUENTIAL else {}
                        measured = run_own("connector", {**own_job, "options": options})
                    else:
                        python, driver = peers[side]
                        measured = run_json_child([str(python), "-c", driver], peer_job, env=env, timeout=3600)
                except RuntimeError as error:
                    unavailable[side] = f"failed against the sandbox: {error}"
                    continue
                seen = [r for r in sandbox.stats.requests(since=since) if r.principal is not None]
                measured["requests"] = sum(1 for r in seen if r.path.startswith("/api/data/"))
                measured["throttled"] = sum(1 for r in seen if r.status == 429)
                measured["early"] = sum(1 for v in sandbox.stats.retry_after_violations() if v.early.time >= since)
                runs[latency][side].append(measured)
                print(
                    f"{latency:g} ms, round {round_index + 1} {side}: "
                    f"{measured['records'] / measured['seconds']:,.0f} records/s, "
                    f"{measured['requests']} requests, peak {measured['peak_mb']:.0f} MB",
                    file=sys.stderr,
                    flush=True,
                )
    body = report(args, runs, unavailable)
    print(body)
    if not args.no_write:
        write_section(
            "latency_read",
            "B7 latency-bound read: every reader against a remote tenant's latency",
            f"python -m benchmarks.latency_read --records {args.records} --rounds {args.rounds} "
            f"--latency-ms {args.latency_ms}",
            body,
        )


def report(args: argparse.Namespace, runs: dict[float, SideRuns], unavailable: dict[str, str]) -> str:
    """:returns: the Markdown section: per latency, each side's median, spread, requests, peak RSS; the id sets."""
    lines: list[str] = []
    chart: list[tuple[str, float]] = []
    digests: set[str] = set()
    complete = True
    for latency, by_side in runs.items():
        measured = {side: items for side, items in by_side.items() if items}
        rates = {side: [item["records"] / item["seconds"] for item in items] for side, items in measured.items()}
        medians = {side: statistics.median(values) for side, values in rates.items()}
        digests |= {item["digest"] for items in measured.values() for item in items}
        complete = complete and all(
            item["records"] == item["distinct"] == args.records for items in measured.values() for item in items
        )
        ours = medians.get(PARALLEL)
        lines += [
            f"**{latency:g} ms per request**",
            "",
            (
                "| reader | median records/s | rounds (records/s) | requests per read | peak RSS (MB) | 429s | early | "
                "defaults / this |"
            ),
            "|---|---:|---|---:|---:|---:|---:|---:|",
        ]
        for side, rate in medians.items():
            items = measured[side]
            each = ", ".join(f"{value:,.0f}" for value in rates[side])
            requests = statistics.median(item["requests"] for item in items)
            relative = "—" if side == PARALLEL or ours is None else f"**{ours / rate:.2f}x**"
            lines.append(
                f"| {side} | {rate:,.0f} | {each} | {requests:.0f} | {max(i['peak_mb'] for i in items):.0f} | "
                f"{sum(i['throttled'] for i in items)} | {sum(i['early'] for i in items)} | {relative} |"
            )
            chart.append((f"{side.split(' (')[0]}, {latency:g} ms", rate))
        verdicts = []
        for side in (MICROSOFT_SIDE, BARE):
            if ours is not None and side in medians:
                factor = ours / medians[side]
                met = "met" if factor >= TARGET else "**missed**"
                verdicts.append(f"**{factor:.2f}x** {side} (target ≥ {TARGET:g}x: {met})")
            else:
                verdicts.append(f"{side}: not measured")
        lines += ["", f"At {latency:g} ms the connector's defaults read {'; '.join(verdicts)}.", ""]
    lines += [
        (
            f"Every read returned {'the same' if len(digests) == 1 and complete else '**different**'} id set "
            f"({args.records:,} distinct ids, one SHA-256 digest of the sorted ids for every run of every side at "
            f"every latency). {args.records:,} accounts, every column, {args.page_size:,}-record pages, https on "
            "loopback with the sandbox's CA, the latency added by the sandbox to every Web API request before it is "
            "served (see the script's docstring for why these figures), Dataverse's default service-protection "
            "limits; each side in a fresh process timed from its first request (token and table lookup included) to "
            f"its last record; medians of {args.rounds} rounds per latency in rotating order, every round listed. "
            "Peak RSS is the process's `VmHWM`, imports included. *429s*: throttled answers the sandbox sent during "
            "that side's runs; *early*: requests that arrived while a `Retry-After` it had sent was still running."
        ),
        "",
        (
            "The sequential readers (bare loop, Microsoft's client, Airbyte's source, the connector one page at a "
            "time) each wait for a page's latency and the sandbox's time to build it before asking for the next. The "
            "connector's defaults read the first page as they do, then the rest as primary-key ranges, several at "
            "once, within the adaptive concurrency limit (`docs/operations.md`, *Parallel reads*): the latencies "
            "overlap. What they cannot overlap is the sandbox's own work: one Python process on this 2-core machine "
            "builds every page of every range (about a fifth of a second per 5,000-record page under TLS here: once "
            "the ranges are in flight, their pages come back about that far apart), so no reader gets more than "
            "about five pages a second out of it. The defaults also wait for the first page (sent together with the "
            "table lookup) before any range is read, so the ratio they reach stays below (latency + the sandbox's "
            "time per page) / the sandbox's time per page, and grows with the latency. A tenant serves "
            "concurrent requests on many servers, up to the 52 concurrent requests per user its limits allow."
        ),
    ]
    for side, reason in unavailable.items():
        lines += ["", f"**{side}** was not measured: {reason}"]
    if (
        not args.no_write
        and len(chart) > 1
        and bar_chart(
            CHART, f"B7: {args.records:,} records, latency per request (median records/s)", chart, "records/s"
        )
    ):
        lines += ["", f"![B7 latency-bound read](benchmarks/{CHART.name})"]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
