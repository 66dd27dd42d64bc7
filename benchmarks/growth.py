"""B8, growth: the cost of a Query of 10,000, 100,000 and 1,000,000 records, and of bulk creates of 10,000 and
100,000, in seconds and peak memory, so that a reader sees time growing with the records and memory staying flat.

One sandbox (in this process, a SQLite file in a temporary directory) is seeded up to each size in turn; each
measurement runs in a fresh process connected through the reference host, which warms up (token, table metadata)
before its peak RSS is read as the baseline, then reads every column of every ``account`` in 5,000-record pages
(or creates the records in bulk) and reports its records, seconds and peak RSS (``VmHWM``). Reads are measured with
the connector's defaults (parallel ranges, ``read_ahead``) and one page at a time (``parallel`` and ``read_ahead``
off); creates with the bulk defaults. Loopback, no added latency: this is about growth, not about speed against a
tenant (B7).

Run: ``python -m benchmarks.growth [--reads 10000,100000,1000000] [--creates 10000,100000]``
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks.charts import bar_chart
from benchmarks.children import run_json_child
from benchmarks.probes import peak_mb
from benchmarks.report import write_section

CONNECTOR_ID = "dynamics365-ce"
CHART = Path(__file__).resolve().parent.parent / "docs" / "benchmarks" / "growth.png"
READ_SIDES = {"defaults": {}, "one page at a time": {"parallel": {"mode": "off"}, "read_ahead": False}}


def measure(job: dict[str, Any]) -> dict[str, Any]:
    """Read or create in this process (the child side).

    :param job: ``settings``, ``kind`` (``read`` or ``create``), ``options`` (Query options beyond the entity set),
        ``records`` (for creates), ``marker`` (for creates).
    :returns: records, failures, seconds, peak RSS before and after (MB).
    """
    from connector.context import RuntimeContext
    from connector.host.facade import ConnectorHost

    host = ConnectorHost()
    connection = host.connect(CONNECTOR_ID, job["settings"], RuntimeContext())
    list(host.execute_operation(CONNECTOR_ID, connection, "query", {"entity_set": "accounts", "top": 1}, [{}]))
    before = peak_mb()
    count = failed = 0
    started = time.perf_counter()
    if job["kind"] == "read":
        options = {"entity_set": "accounts", "page_size": 5000, **job["options"]}
        results = host.execute_operation(CONNECTOR_ID, connection, "query", options, [{}])
    else:
        documents = ({"name": f"{job['marker']} {index}", "revenue": index} for index in range(job["records"]))
        results = host.execute_operation(CONNECTOR_ID, connection, "create", {"entity_set": "accounts"}, documents)
    for result in results:
        count += 1
        failed += 0 if result.ok else 1
    seconds = time.perf_counter() - started
    host.close()
    return {"records": count, "failed": failed, "seconds": seconds, "before_mb": before, "peak_mb": peak_mb()}


def run_child(job: dict[str, Any]) -> dict[str, Any]:
    """Measure in a fresh interpreter; the settings (with the client secret) go through stdin."""
    return run_json_child([sys.executable, "-m", "benchmarks.growth", "--child"], job, timeout=7200)


def main() -> None:
    """Run the benchmark from the command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reads", default="10000,100000,1000000", help="table sizes to read, ascending")
    parser.add_argument("--creates", default="10000,100000", help="bulk creates to measure")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true", help="print only; do not update docs/benchmarks.md")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(json.loads(sys.stdin.read()))))
        return

    from benchmarks.sandboxes import connector_settings
    from dataverse_sandbox.config import SandboxConfig
    from dataverse_sandbox.server import Sandbox

    reads = sorted(int(size) for size in args.reads.split(",") if size)
    creates = [int(size) for size in args.creates.split(",") if size]
    measured: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder, Sandbox(SandboxConfig(db_path=f"{folder}/growth.db")) as sandbox:
        settings = connector_settings(sandbox)
        seeded = 0
        for size in reads:
            sandbox.seed(n_accounts=size - seeded)
            seeded = size
            for side, options in READ_SIDES.items():
                outcome = run_child({"settings": settings, "kind": "read", "options": options})
                if outcome["records"] != size or outcome["failed"]:
                    raise SystemExit(
                        f"{side} read {outcome['records']} records ({outcome['failed']} failed), not {size}"
                    )
                measured.append({"what": f"Query, {side}", "size": size, **outcome})
                print(measured[-1], file=sys.stderr, flush=True)
        for size in creates:
            outcome = run_child({"settings": settings, "kind": "create", "records": size, "marker": uuid.uuid4().hex})
            measured.append({"what": "bulk create, defaults", "size": size, **outcome})
            print(measured[-1], file=sys.stderr, flush=True)
    body = report(measured, write=not args.no_write)
    print(body)
    if not args.no_write:
        write_section(
            "growth",
            "B8 growth: time and memory against the number of records",
            f"python -m benchmarks.growth --reads {args.reads} --creates {args.creates}",
            body,
        )


def report(measured: list[dict[str, Any]], *, write: bool) -> str:
    """:returns: the Markdown section: one row per measurement, then what grows and what does not."""
    lines = [
        (
            "| operation | records | seconds | records/s | peak RSS before (MB) | peak RSS after (MB) | growth (MB) | "
            "failed |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in measured:
        growth = row["peak_mb"] - row["before_mb"]
        lines.append(
            f"| {row['what']} | {row['size']:,} | {row['seconds']:.1f} | {row['size'] / row['seconds']:,.0f} | "
            f"{row['before_mb']:.0f} | {row['peak_mb']:.0f} | {growth:.0f} | {row['failed']} |"
        )
    lines += [
        "",
        (
            "Each row a fresh process connected through the reference host; the baseline peak RSS is read after the "
            "connection's token and table metadata, so *growth* is what the operation added. Reads: every column of "
            "`account`, 5,000-record pages, http on loopback, the sandbox (SQLite file) in the parent process, "
            "seeded up to each size in turn; creates: `{name, revenue}` records, bulk defaults, into the same "
            "sandbox. One run of each: these figures show how cost grows, not a rate to compare (B1, B3, B7 do that "
            "side by side)."
        ),
        "",
        (
            "Memory does not depend on the number of records: a read holds at most the concurrency limit plus one "
            "page with the defaults (`docs/operations.md`, *Parallel reads*), one page at a time otherwise; a bulk "
            "run holds at most the limit plus two chunks, and no more records than 54 chunks of 1,000 (D67: requests "
            "grown past 1,000 go out fewer at a time). Reads reach their bound by 100,000 records; 10,000 creates "
            "make only a few requests, while 100,000 let the concurrency and the requests grow, so that row's growth "
            "is near the bound's. 1,000,000 "
            "creates are not measured here: against the sandbox's Dataverse limits, 52 slow concurrent requests on "
            "2 cores spend the 1,200 s of execution time allowed per 5 minutes, and the run waits out `Retry-After` "
            "for minutes (as it should)."
        ),
    ]
    if write:
        bars = [(f"{row['what']}, {row['size']:,}", row["peak_mb"] - row["before_mb"]) for row in measured]
        if bar_chart(CHART, "B8: memory added by the operation (MB, peak RSS)", bars, "MB"):
            lines += ["", f"![B8 growth](benchmarks/{CHART.name})"]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
