"""B11: records per second of a read through the Spark data source in range partitions, against the connector's
sequential Query of the same columns, on one sandbox.

The sandbox runs in this process and is seeded once; every measurement runs in a fresh child. The sequential side
goes through the reference host (entry point, ``execute_operation``) and touches each result, with the connector's
defaults and with ``read_ahead``. The Spark side starts a ``local[<cores>]`` session, reads the whole table once
with the most partitions (so that Spark's Python workers have started; that first read is reported apart), then
times ``count()`` of the whole table for each partition count, in an order rotated each round. Both sides read the
same columns: every typed column of the inferred schema. Spark's side also builds an Arrow batch of the typed
schema from every page and hands it to the JVM, which the sequential side does not: the ratio is what a Spark user
gets, not the connector's cost alone.

Each of ``--latency-ms`` runs on a sandbox of its own whose pages of the table wait that long before they are served
(a sleep: no CPU), standing for a service whose pages take time to arrive.

Run: ``python -m benchmarks.spark_read [--records 100000] [--rounds 5] [--partitions 1,2,4,8] [--latency-ms 0,500]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

from benchmarks.children import run_json_child
from benchmarks.report import write_section

CONNECTOR_ID = "dynamics365-ce"


def measure_sequential(job: dict[str, Any]) -> dict[str, Any]:
    """Stream the Query through the reference host (the child side).

    :param job: ``settings``, ``context`` (runtime context fields), ``columns``, ``read_ahead``.
    :returns: records and seconds.
    """
    from connector.context import RuntimeContext
    from connector.host.facade import ConnectorHost

    host = ConnectorHost()
    connection = host.connect(CONNECTOR_ID, job["settings"], RuntimeContext(**job["context"]))
    options = {"entity_set": "accounts", "select": job["columns"], "read_ahead": job["read_ahead"]}
    list(host.execute_operation(CONNECTOR_ID, connection, "query", {**options, "top": 1}, [{}]))
    count = 0
    started = time.perf_counter()
    for result in host.execute_operation(CONNECTOR_ID, connection, "query", options, [{}]):
        if not result.ok:
            raise SystemExit(f"the query failed: {result.error}")
        count += 1
    seconds = time.perf_counter() - started
    host.close()
    return {"records": count, "seconds": seconds}


def measure_spark(job: dict[str, Any]) -> dict[str, Any]:
    """Count the table through the data source for each partition count (the child side).

    :param job: ``settings``, ``partitions`` (the counts, in the order to run them), ``cores``.
    :returns: ``runs``: records and seconds per partition count; ``session``: seconds to start the session;
        ``first_read``: seconds of the warm-up read (Python workers starting).
    """
    from pyspark.sql import SparkSession

    import connector.spark

    started = time.perf_counter()
    spark = (
        SparkSession.builder.master(f"local[{job['cores']}]")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    connector.spark.register(spark)

    def frame(partitions: int, **options: str) -> Any:
        reader = spark.read.format("dynamics365").option("settings", json.dumps(job["settings"]))
        return reader.option("entity_set", "accounts").option("num_partitions", str(partitions)).options(**options)

    session = time.perf_counter() - started
    # Warm-up: a whole read with the most partitions, so every Python worker has started and imported what it needs.
    warm_up = frame(max(job["partitions"])).load()
    began = time.perf_counter()
    warm_up.count()
    first_read = time.perf_counter() - began
    runs = {}
    for partitions in job["partitions"]:
        loaded = frame(partitions).load()
        began = time.perf_counter()
        count = loaded.count()
        runs[str(partitions)] = {"records": count, "seconds": time.perf_counter() - began}
    spark.stop()
    return {"runs": runs, "session": session, "first_read": first_read}


def main() -> None:
    """Run the benchmark from the command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000, help="accounts to seed and read")
    parser.add_argument("--rounds", type=int, default=5, help="measurements of each side")
    parser.add_argument("--partitions", default="1,2,4,8", help="partition counts of the Spark side")
    parser.add_argument("--cores", type=int, default=2, help="Spark's local[N]")
    parser.add_argument("--latency-ms", default="0,500", help="latencies added to each account query, one run each")
    parser.add_argument("--child", choices=("sequential", "spark"), help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true", help="print only; do not update docs/benchmarks.md")
    args = parser.parse_args()
    if args.child:
        job = json.loads(sys.stdin.read())
        print(json.dumps(measure_sequential(job) if args.child == "sequential" else measure_spark(job)))
        return
    counts = [int(item) for item in args.partitions.split(",")]
    sections = []
    for latency in (float(item) for item in args.latency_ms.split(",")):
        rates, startups, columns = measure_with_latency(args, counts, latency)
        sections.append(report(args, latency, rates, startups, columns))
    body = "\n\n".join([*sections, NOTES])
    print(body)
    if not args.no_write:
        # One section per Spark parallelism: local[2] (the machine's cores) is B11's own, others are variants of it.
        suffix = "" if args.cores == 2 else f"_local{args.cores}"
        title = "" if args.cores == 2 else f", Spark local[{args.cores}]"
        write_section(
            f"spark_read{suffix}",
            f"B11 Spark reads: range partitions against the sequential connector{title}",
            f"python -m benchmarks.spark_read --records {args.records} --rounds {args.rounds} "
            f"--partitions {args.partitions} --cores {args.cores} --latency-ms {args.latency_ms}",
            body,
        )


def measure_with_latency(
    args: argparse.Namespace, counts: list[int], latency_ms: float
) -> tuple[dict[str, list[float]], list[dict[str, float]], int]:
    """Seed a sandbox whose account queries wait ``latency_ms`` before they are served, and measure every side.

    :returns: records per second of each side's rounds, the Spark children's start-up times, the column count.
    """
    from benchmarks.sandboxes import connector_settings, runtime_context_fields
    from connector.context import RuntimeContext
    from connector.host.facade import ConnectorHost
    from connector.results import BrowseRequest
    from connector.spark.schema import spark_schema
    from dataverse_sandbox.config import SandboxConfig
    from dataverse_sandbox.faults import FaultSettings
    from dataverse_sandbox.server import Sandbox

    sides = ["sequential", "sequential, read_ahead", *(f"spark, {count} partitions" for count in counts)]
    rates: dict[str, list[float]] = {side: [] for side in sides}
    startups: list[dict[str, float]] = []
    loads: list[float] = []
    # Only the pages of the table: token and metadata requests are not slowed down.
    faults = FaultSettings(latency_ms=latency_ms, path_prefix="/api/data/v9.2/accounts", methods=("GET",))
    with Sandbox(SandboxConfig(faults=faults)) as sandbox:
        sandbox.seed(n_accounts=args.records)
        settings = connector_settings(sandbox)
        host = ConnectorHost()
        connection = host.connect(CONNECTOR_ID, settings, RuntimeContext(**runtime_context_fields(sandbox)))
        profile = host.browse(CONNECTOR_ID, connection, BrowseRequest("describe", object_type="accounts"))
        columns = spark_schema(profile.response_schema or {}).fieldNames()
        host.close()
        sequential_job = {"settings": settings, "context": runtime_context_fields(sandbox), "columns": columns}
        for round_index in range(args.rounds):
            shift = round_index % len(counts)
            spark_job = {"settings": settings, "partitions": counts[shift:] + counts[:shift], "cores": args.cores}
            order = ["sequential", "spark"] if round_index % 2 == 0 else ["spark", "sequential"]
            for side in order:
                if side == "spark":
                    measured = run_json_child(
                        [sys.executable, "-m", "benchmarks.spark_read", "--child", "spark"], spark_job
                    )
                    startups.append({"session": measured["session"], "first_read": measured["first_read"]})
                    for count, run in measured["runs"].items():
                        _check(run, args.records, f"spark, {count} partitions")
                        rates[f"spark, {count} partitions"].append(run["records"] / run["seconds"])
                    continue
                for read_ahead in (False, True):
                    name = "sequential, read_ahead" if read_ahead else "sequential"
                    run = run_json_child(
                        [sys.executable, "-m", "benchmarks.spark_read", "--child", "sequential"],
                        {**sequential_job, "read_ahead": read_ahead},
                    )
                    _check(run, args.records, name)
                    rates[name].append(run["records"] / run["seconds"])
            loads.append(os.getloadavg()[0])
            print(
                f"latency {latency_ms:g} ms, round {round_index + 1}: "
                + ", ".join(f"{side} {rates[side][-1]:,.0f}/s" for side in sides),
                file=sys.stderr,
            )
    startups.append({"load_min": min(loads), "load_max": max(loads)})
    return rates, startups, len(columns)


def _check(run: dict[str, Any], expected: int, side: str) -> None:
    if run["records"] != expected:
        raise SystemExit(f"{side} read {run['records']} records, expected {expected}")


NOTES = (
    "The sandbox serves from one Python process on the same two cores as Spark's JVM and Python workers, so with no "
    "added latency every reader competes for the CPU the server needs and more partitions cannot go faster than the "
    "server builds pages. Spark runs at most `local[N]` tasks at once: partitions beyond N wait for a free slot. The "
    "added latency stands for a service whose page takes time to arrive (it is a sleep, so it costs no CPU): that "
    "time overlaps across partitions and not within one sequential reader. It is an assumption for the comparison, "
    "not a measurement of Dataverse. The spread (the fastest round over the slowest) comes mostly from other work "
    "on this shared machine; the medians are what the ratios use."
)


def report(
    args: argparse.Namespace,
    latency_ms: float,
    rates: dict[str, list[float]],
    startups: list[dict[str, float]],
    columns: int,
) -> str:
    """:returns: one latency's Markdown: medians, the rounds and their spread, ratios against both sequential sides."""
    medians = {side: statistics.median(values) for side, values in rates.items()}
    base, ahead = medians["sequential"], medians["sequential, read_ahead"]
    lines = [
        f"**{latency_ms:g} ms added to each page of the table:**",
        "",
        (
            "| reader | median records/s | rounds (records/s) | spread (max/min) | / sequential "
            "| / sequential, read_ahead |"
        ),
        "|---|---:|---|---:|---:|---:|",
    ]
    for side, values in rates.items():
        rounds = ", ".join(f"{value:,.0f}" for value in values)
        spread = max(values) / min(values)
        lines.append(
            f"| {side} | {medians[side]:,.0f} | {rounds} | {spread:.2f} | {medians[side] / base:.2f} | "
            f"{medians[side] / ahead:.2f} |"
        )
    children = [item for item in startups if "session" in item]
    session = statistics.median(item["session"] for item in children)
    first = statistics.median(item["first_read"] for item in children)
    load = next(item for item in startups if "load_min" in item)
    lines += [
        "",
        (
            f"{args.records:,} accounts, {columns} columns (every typed column of the inferred schema, on both sides), "
            "5,000 records per page, plain http on loopback; the sandbox in the parent process, each side in a fresh "
            f"child. Spark `local[{args.cores}]`: a session started in {session:.1f} s and its first whole read (the "
            f"warm-up, Python workers starting) took {first:.1f} s (medians); the rates are those of later reads, "
            "`count()` of the whole table, the order of the partition counts rotated each round. Spark's side hands "
            "every page to the JVM as an Arrow batch of the typed schema, which the sequential side does not build. "
            f"Medians of the rounds. The machine's load average (one minute) after each round: {load['load_min']:.1f} "
            f"to {load['load_max']:.1f}."
        ),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
