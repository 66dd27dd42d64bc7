"""B4, throttled: a bulk create several times larger than one window's request budget, against a sandbox limited to
a small budget per window and a small number of concurrent requests. It must finish with no record failed or
duplicated, in at most 1.15 times the least time the limits allow.

The least time: the limits admit at most ``N`` requests in any ``W``-second sliding window, so the ``k``-th
request counted by them (from 0) cannot arrive before ``floor(k / N) * W`` seconds after the first; ``R`` requests
need at least ``floor((R - 1) / N) * W`` seconds plus the last one's own service time (the median service time of
the run's bulk requests). ``R`` is what the sandbox counted (429 answers are not counted by the limits). The job's
time is measured by the client, from the start of the operation to its last result (the token request included).
The connector runs with its defaults but for the chunk size (it is not told the sandbox's limits). The sandbox runs
in its own process.

Run: ``python -m benchmarks.throttled [--max-requests 10] [--window 10] [--max-concurrent 4] [--windows 5]
[--batch-size 50] [--no-write]``
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks.bulk_write import CONNECTOR_ID, SandboxProcess
from benchmarks.charts import bar_chart
from benchmarks.report import write_section
from connector.context import RuntimeContext
from connector.host.facade import ConnectorHost
from connector.results import ResultStatus
from dataverse_sandbox.limits import LimitSettings

CHART = Path(__file__).resolve().parent.parent / "docs" / "benchmarks" / "throttled.png"
TARGET = 1.15


def run_job(sandbox: SandboxProcess, records: int, batch_size: int) -> dict[str, Any]:
    """Create ``records`` accounts in bulk and measure what the client and the server saw."""
    marker = uuid.uuid4().hex
    host = ConnectorHost()
    since = sandbox.stats(0)["now"]
    try:
        started = time.perf_counter()
        connection = host.connect(CONNECTOR_ID, sandbox.settings, RuntimeContext())
        documents = ({"name": f"{marker} {index}"} for index in range(records))
        options = {"entity_set": "accounts", "bulk": {"batch_size": batch_size}}
        statuses = [
            result.status for result in host.execute_operation(CONNECTOR_ID, connection, "create", options, documents)
        ]
        elapsed = time.perf_counter() - started
    finally:
        host.close()
    seen = sandbox.stats(since)
    admitted = [request for request in seen["requests"] if request[2] != 429]
    throttled = [request for request in seen["requests"] if request[2] == 429]
    bulk = [finished - arrived for arrived, finished, status, _ in admitted if status == 200]
    return {
        "seconds": elapsed,
        "succeeded": statuses.count(ResultStatus.SUCCESS),
        "failed": len(statuses) - statuses.count(ResultStatus.SUCCESS),
        "stored": sandbox.count_marked(marker),
        "requests": len(admitted),
        "throttled": len(throttled),
        "throttled_concurrency": sum(1 for request in throttled if request[3] == "0x80072326"),
        "service_seconds": statistics.median(bulk) if bulk else 0.0,
        "violations": seen["violations"],
    }


def main() -> None:
    """Run the benchmark from the command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-requests", type=int, default=10, help="requests per window (N)")
    parser.add_argument("--window", type=float, default=10, help="window seconds (W)")
    parser.add_argument("--max-concurrent", type=int, default=4, help="concurrent requests allowed")
    parser.add_argument("--windows", type=int, default=5, help="the job's size in windows' budgets")
    parser.add_argument("--batch-size", type=int, default=50, help="records per bulk request")
    parser.add_argument("--no-write", action="store_true", help="print only; do not update docs/benchmarks.md")
    args = parser.parse_args()
    budget, window = args.max_requests, args.window
    records = (budget * args.windows - 1) * args.batch_size  # with the metadata request: windows x budget requests
    limits = LimitSettings(max_requests=budget, window_seconds=window, max_concurrent=args.max_concurrent)
    with SandboxProcess(limits=limits) as sandbox:
        outcome = run_job(sandbox, records, args.batch_size)
    least = math.floor((outcome["requests"] - 1) / budget) * window + outcome["service_seconds"]
    ratio = outcome["seconds"] / least
    print(outcome, f"least {least:.2f} s, ratio {ratio:.3f}")
    header = (
        "| records | requests counted | budget | concurrency limit | 429s (concurrency) | failed | stored | "
        "duplicated | seconds | least the limits allow | ratio |"
    )
    row = (
        f"| {records:,} | {outcome['requests']} | {budget} per {window:g} s | {args.max_concurrent} | "
        f"{outcome['throttled']} ({outcome['throttled_concurrency']}) | {outcome['failed']} | "
        f"{outcome['stored']:,} | 0 | {outcome['seconds']:.1f} | {least:.1f} | **{ratio:.3f}** |"
    )
    lines = [header, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|", row]
    table = "\n".join(lines)
    print(table)
    if args.no_write:
        return
    if outcome["throttled_concurrency"]:
        concurrency = "it learned the concurrency limit from the first `0x80072326` refusal and kept under it."
    else:
        concurrency = (
            "it kept to the sandbox's `x-ms-dop-hint`, which announces its concurrency limit as Dataverse announces the"
            " parallelism it recommends (D66), so no request was refused for concurrency."
        )
    verdict = "met" if ratio <= TARGET and outcome["failed"] == 0 and outcome["stored"] == records else "MISSED"
    charted = bar_chart(
        CHART,
        "B4: throttled bulk create, seconds (lower is better)",
        [("least the limits allow", least), ("connector (defaults)", outcome["seconds"])],
        "seconds",
    )
    chart = "\n\n![B4 throttled](benchmarks/throttled.png)" if charted else ""
    body = f"""{table}

Target: no record failed or duplicated, in at most {TARGET}x the least time the limits allow: **{verdict}**. The
sandbox allowed {budget} requests per {window:g}-second sliding window and {args.max_concurrent} concurrent requests
per principal; the job needed {outcome["requests"]} counted requests, {args.windows} windows' budgets. The least
time is `floor((R - 1) / N) * W` plus the median service time of one bulk request
({outcome["service_seconds"]:.2f} s); the sandbox's `Retry-After` is whole seconds rounded up, so every window
costs up to a second more than the bound. Requests that came back before a `Retry-After` had elapsed, as the
sandbox counts them: {outcome["violations"]}. The connector ran with its defaults but for the chunk size
({args.batch_size} records per request, so that the job needs many windows; a run's first requests ramp up to
that size, decision D61, so the job takes a few requests more than its full chunks): {concurrency} Every `429` closed
the gate for all its threads until `Retry-After` had passed.{chart}"""
    command = (
        f"python -m benchmarks.throttled --max-requests {budget} --window {window:g} "
        f"--max-concurrent {args.max_concurrent} --windows {args.windows} --batch-size {args.batch_size}"
    )
    write_section("throttled", "B4 throttled bulk writes", command, body)


if __name__ == "__main__":
    main()
