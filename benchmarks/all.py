"""Every benchmark of ``docs/benchmarks.md`` in one run, so that every figure on the page comes from one state of the
code: B1 to B9, each as its own documented command, one after another.

The machine is shared: a benchmark measured while other work loads its cores measures that work too. Before each
command this runner waits until the one-minute load average is under ``--max-load`` (default 3), and it prints the
load average before and after each command, so the report can say under what load each figure was taken. A command
that fails stops the run (the sections written so far stay).

Run: ``python -m benchmarks.all [--only B7,B9] [--max-load 3] [--wait 1800]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

_THROTTLED = ("--max-requests", "10", "--window", "10", "--max-concurrent", "4", "--windows", "5", "--batch-size", "50")

COMMANDS: dict[str, list[str]] = {
    "B1": ["benchmarks.read_throughput", "--records", "100000", "--rounds", "5"],
    "B2": ["benchmarks.query_memory"],
    "B3": ["benchmarks.bulk_write"],
    "B4": ["benchmarks.throttled", *_THROTTLED],
    "B5": ["benchmarks.startup", "--runs", "21"],
    "B6": ["benchmarks.peers_read", "--records", "100000", "--rounds", "3"],
    "B7": ["benchmarks.latency_read", "--records", "100000", "--rounds", "3", "--latency-ms", "500,1000"],
    # 1M creates are left out: against the sandbox's Dataverse limits they spend the 1,200 s of execution time per
    # 5 minutes (52 concurrent requests, each slow on a 2-core machine) and wait out Retry-After for minutes.
    "B8": ["benchmarks.growth", "--reads", "10000,100000,1000000", "--creates", "10000,100000"],
    "B9": ["benchmarks.rerun", "--records", "20000"],
}
"""Each benchmark's command (``python -m`` and its arguments), as its section in ``docs/benchmarks.md`` gives it."""


def wait_for_quiet(max_load: float, wait: float) -> float:
    """Wait until the one-minute load average is under ``max_load``.

    :returns: the load average when it was.
    :raises SystemExit: when it stayed above for ``wait`` seconds.
    """
    deadline = time.monotonic() + wait
    while True:
        load = os.getloadavg()[0]
        if load < max_load:
            return load
        if time.monotonic() > deadline:
            raise SystemExit(f"the load average stayed at {load:.2f}, above {max_load}, for {wait:.0f} s")
        print(f"load average {load:.2f} ≥ {max_load}: waiting", file=sys.stderr, flush=True)
        time.sleep(30)


def main() -> None:
    """Run the benchmarks from the command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", help="comma-separated benchmark ids (default: all)")
    parser.add_argument("--max-load", type=float, default=3.0, help="start a benchmark only below this load")
    parser.add_argument("--wait", type=float, default=1800, help="seconds to wait for the load to drop")
    args = parser.parse_args()
    chosen = args.only.split(",") if args.only else list(COMMANDS)
    for name in chosen:
        before = wait_for_quiet(args.max_load, args.wait)
        command = [sys.executable, "-m", *COMMANDS[name]]
        print(f"{name}: {' '.join(command[1:])} (load average {before:.2f})", file=sys.stderr, flush=True)
        started = time.monotonic()
        completed = subprocess.run(command, check=False)
        after = os.getloadavg()[0]
        print(
            f"{name}: exit {completed.returncode} after {time.monotonic() - started:.0f} s "
            f"(load average {before:.2f} before, {after:.2f} after)",
            file=sys.stderr,
            flush=True,
        )
        if completed.returncode != 0:
            raise SystemExit(completed.returncode)


if __name__ == "__main__":
    main()
