"""Peak memory of a Query through the connector: 100,000 records against 10,000, each read in its own process.

One sandbox is seeded with 100,000 accounts; each measurement runs in a fresh subprocess that connects through the
reference host (entry point, ``connect`` hook, token service, transport), streams a Query of N records and reports
its peak resident set size. Because the query holds one page at a time, the peaks should differ by no more than a
few MB whatever N is.

Both are measured one page at a time (``read_ahead`` off) and with ``read_ahead`` (the default: the next page is
read while the current one is handed over, two pages at most). The queries have a maximum (``top``), so they are
read one page after another, never partitioned. Target: growth from 10,000 to 100,000 records under 20 MB.

Run: ``python -m benchmarks.query_memory [--records 100000] [--baseline 10000] [--page-size 5000]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from benchmarks.children import run_json_child
from benchmarks.probes import peak_mb
from benchmarks.report import write_section

CONNECTOR_ID = "dynamics365-ce"
TARGET_MB = 20
ONE_PAGE = "one page at a time (`read_ahead` off)"
READ_AHEAD = "`read_ahead` (the default)"


def measure(settings: dict[str, Any], records: int, page_size: int, read_ahead: bool = False) -> dict[str, Any]:
    """Stream a query in this process and measure it (the child side).

    :param settings: connection settings for the sandbox.
    :param records: how many records to read (``$top``).
    :param page_size: records per page.
    :param read_ahead: the Query's ``read_ahead`` option.
    :returns: records read, peak RSS before and after the query (MB), seconds.
    """
    from connector.context import RuntimeContext
    from connector.host.facade import ConnectorHost

    host = ConnectorHost()
    connection = host.connect(CONNECTOR_ID, settings, RuntimeContext())
    # Warm up: token, metadata and imports belong to the baseline, not to the records.
    list(host.execute_operation(CONNECTOR_ID, connection, "query", {"entity_set": "accounts", "top": 1}, [{}]))
    before = peak_mb()
    started = time.perf_counter()
    options = {"entity_set": "accounts", "top": records, "page_size": page_size, "read_ahead": read_ahead}
    count = 0
    for result in host.execute_operation(CONNECTOR_ID, connection, "query", options, [{}]):
        if not result.ok:
            raise SystemExit(f"the query failed: {result.error}")
        count += 1
    elapsed = time.perf_counter() - started
    host.close()
    return {"records": count, "peak_before_mb": before, "peak_mb": peak_mb(), "seconds": elapsed}


def run_child(settings: dict[str, Any], records: int, page_size: int, read_ahead: bool = False) -> dict[str, Any]:
    """Measure in a fresh interpreter; the settings (with the client secret) go through stdin, never argv."""
    command = [sys.executable, "-m", "benchmarks.query_memory", "--child", str(records), "--page-size", str(page_size)]
    return run_json_child([*command, *(["--read-ahead"] if read_ahead else [])], settings)


def main() -> None:
    """Run the benchmark from the command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000, help="records of the large query")
    parser.add_argument("--baseline", type=int, default=10_000, help="records of the small query")
    parser.add_argument("--page-size", type=int, default=5000, help="records per page")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--read-ahead", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true", help="print only; do not update docs/benchmarks.md")
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(measure(json.loads(sys.stdin.read()), args.child, args.page_size, args.read_ahead)))
        return

    from urllib.parse import urlsplit

    from dataverse_sandbox.config import SandboxConfig
    from dataverse_sandbox.server import Sandbox

    with Sandbox(SandboxConfig()) as sandbox:
        sandbox.seed(n_accounts=max(args.records, args.baseline))
        assert sandbox.clients is not None
        client = sandbox.clients.secret_client
        settings = {
            "connection": {"protocol": "http", "base_url": urlsplit(sandbox.origin).netloc, "version": "v9.2"},
            "oauth2": {
                "grant_type": "client_credentials",
                "client_assertion_type": "client_secret",
                "client_id": client.client_id,
                "client_secret": client.read_secret(),
                "access_token_url": sandbox.token_url,
                "access_token_parameters": [{"name": "resource", "value": sandbox.origin}],
            },
        }
        measured = {
            mode: (
                run_child(settings, args.baseline, args.page_size, ahead),
                run_child(settings, args.records, args.page_size, ahead),
            )
            for mode, ahead in ((ONE_PAGE, False), (READ_AHEAD, True))
        }
    rows = [
        (
            "| Query | records | peak RSS before the query (MB) | peak RSS after (MB) | growth (MB) | seconds | "
            "records/s |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for mode, pair in measured.items():
        for item in pair:
            growth = item["peak_mb"] - item["peak_before_mb"]
            rows.append(
                f"| {mode} | {item['records']:,} | {item['peak_before_mb']:.1f} | {item['peak_mb']:.1f} | "
                f"{growth:.1f} | {item['seconds']:.1f} | {item['records'] / item['seconds']:,.0f} |"
            )
    differences = {mode: large["peak_mb"] - small["peak_mb"] for mode, (small, large) in measured.items()}
    verdicts = {mode: "met" if difference < TARGET_MB else "**missed**" for mode, difference in differences.items()}
    body = "\n".join(rows) + (
        f"\n\nPeak RSS of the {args.records:,}-record query minus the {args.baseline:,}-record one: "
        f"**{differences[ONE_PAGE]:+.1f} MB** one page at a time, **{differences[READ_AHEAD]:+.1f} MB** with "
        f"`read_ahead` (target: under {TARGET_MB} MB: {verdicts[ONE_PAGE]}, {verdicts[READ_AHEAD]}; "
        f"{args.page_size:,} records per page, every column of `accounts`). Each query "
        "ran in a fresh process connected through the reference host (peak = the process's `VmHWM`); the sandbox "
        "ran in the parent process. These queries have a maximum (`top`), so they read one page after another "
        "(a partitioned read's memory, bounded by its concurrency limit, is B8's): one page at a time, or two "
        "with `read_ahead`, so memory does not grow with the number of records; the growth column is what "
        "reading pages adds to a connected, warmed-up process."
    )
    print(body)
    if not args.no_write:
        write_section(
            "query_memory",
            "B2 read memory: a Query of 100,000 records against 10,000",
            "python -m benchmarks.query_memory",
            body,
        )


if __name__ == "__main__":
    main()
