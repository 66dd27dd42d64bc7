"""B5: start-up. A fresh interpreter that imports the plugin and lists the installed connectors, as a host does at
start-up (entry points through the reference host's loader, pluggy's manager, every connector's manifest), against
a fresh interpreter running ``import requests, pluggy``. Target: at most 1.3 times as long.

Each side runs many times, interleaved, as its own process timed from the parent (wall clock from spawn to exit);
the report gives medians, with an empty interpreter (``python -c pass``) as the floor both share, and the slowest
imports of the plugin's side from ``-X importtime``.

Run: ``python -m benchmarks.startup [--runs 21]``
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from benchmarks.report import write_section

TARGET = 1.3
SIDES = {
    "python -c pass": "pass",
    "import requests, pluggy": "import requests, pluggy",
    "plugin: import and list connectors": (
        "from connector.host.loader import get_plugin_manager, installed_connectors\n"
        "ids = [c.id for c in installed_connectors(get_plugin_manager())]\n"
        "assert 'dynamics365-ce' in ids, ids"
    ),
}
BASELINE = "import requests, pluggy"
OURS = "plugin: import and list connectors"


def time_once(code: str) -> float:
    """:returns: seconds from spawning ``python -c code`` to its exit."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120, capture_output=True)
    return time.perf_counter() - started


def slowest_imports(code: str, count: int = 8) -> list[tuple[str, float]]:
    """:returns: the modules whose own import (``-X importtime``'s self time, without what they import) took
    longest, in ms.
    """
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], check=True, timeout=120, capture_output=True, text=True
    )
    found: list[tuple[str, float]] = []
    for line in completed.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if line.startswith("import time:") and len(parts) == 3 and parts[0].strip().isdigit():
            found.append((parts[2].strip(), int(parts[0]) / 1000))
    return sorted(found, key=lambda item: item[1], reverse=True)[:count]


def main() -> None:
    """Run the benchmark from the command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=21, help="runs of each side")
    parser.add_argument("--no-write", action="store_true", help="print only; do not update docs/benchmarks.md")
    args = parser.parse_args()
    for code in SIDES.values():
        time_once(code)  # warm the file system cache and byte-code files; not counted
    times: dict[str, list[float]] = {label: [] for label in SIDES}
    for _ in range(args.runs):
        for label, code in SIDES.items():
            times[label].append(time_once(code))
    medians = {label: statistics.median(values) for label, values in times.items()}
    floor = medians["python -c pass"]
    ratio = medians[OURS] / medians[BASELINE]
    above = (medians[OURS] - floor) / (medians[BASELINE] - floor)
    rows = [
        "| process | median (ms) | fastest (ms) | slowest (ms) |",
        "|---|---:|---:|---:|",
        *(
            f"| `{label}` | {medians[label] * 1000:.0f} | {min(values) * 1000:.0f} | {max(values) * 1000:.0f} |"
            for label, values in times.items()
        ),
    ]
    imports = slowest_imports(SIDES[OURS])
    verdict = "met" if ratio <= TARGET else "**missed**"
    lines = [
        *rows,
        "",
        (
            f"Plugin side / `import requests, pluggy`: **{ratio:.2f}x** (target ≤ {TARGET}x: {verdict}); above the "
            f"empty interpreter's {floor * 1000:.0f} ms floor: {above:.2f}x. {args.runs} runs of each, interleaved, "
            "each a fresh process timed from spawn to exit; medians."
        ),
        "",
        (
            "The plugin side imports no HTTP library at all: `plugin.py` imports nothing heavy at module level, and "
            "`requests`, the transport, OAuth and the Dataverse modules load on the first `connect`. What it pays for "
            "is discovery: `importlib.metadata` reading the installed distributions' entry points, pluggy's manager, "
            "and the manifest and hook contract. Modules of that side whose own import took longest "
            "(`-X importtime`, self time):"
        ),
        "",
        "| module | ms |",
        "|---|---:|",
        *(f"| `{name}` | {ms:.1f} |" for name, ms in imports),
    ]
    if ratio > TARGET:
        lines += [
            "",
            (
                "Missed: the discovery above costs more than the two libraries' imports. What would close it: reading "
                "entry points for the one group only through a cached index, and loading the manifest lazily."
            ),
        ]
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        write_section(
            "startup",
            "B5 start-up: importing the plugin and listing connectors",
            f"python -m benchmarks.startup --runs {args.runs}",
            body,
        )


if __name__ == "__main__":
    main()
