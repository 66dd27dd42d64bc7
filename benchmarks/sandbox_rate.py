"""How fast the sandbox itself serves, measured with a bare ``requests.Session``: the ceiling for every connector
benchmark on this machine (a connector cannot read or write faster than this client/server pair).

Run: ``python -m benchmarks.sandbox_rate [--records 20000] [--gets 2000] [--creates 2000]``
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections.abc import Callable

import requests

from benchmarks.report import write_section
from benchmarks.sandboxes import access_token
from dataverse_sandbox.config import SandboxConfig
from dataverse_sandbox.server import Sandbox

HEADERS = {"Accept": "application/json", "OData-MaxVersion": "4.0", "OData-Version": "4.0"}


def timed(label: str, count: int, action: Callable[[], int]) -> tuple[str, int, float]:
    """Run ``action`` (which returns how many items it handled) and time it."""
    started = time.perf_counter()
    handled = action()
    elapsed = time.perf_counter() - started
    assert handled == count, f"{label}: handled {handled}, expected {count}"
    return label, count, elapsed


def startup_seconds() -> float:
    """:returns: seconds from constructing a sandbox with a fresh state directory to a successful WhoAmI."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as state:
        started = time.perf_counter()
        with Sandbox(SandboxConfig(state_dir=Path(state))) as sandbox:
            headers = {**HEADERS, "Authorization": f"Bearer {access_token(sandbox)}"}
            requests.get(f"{sandbox.api_root}WhoAmI()", headers=headers, timeout=30).raise_for_status()
            return time.perf_counter() - started


def main() -> None:
    """Run the benchmark from the command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=20_000, help="accounts to seed and read back")
    parser.add_argument("--gets", type=int, default=2_000, help="single-record GETs")
    parser.add_argument("--creates", type=int, default=2_000, help="single-record creates")
    parser.add_argument("--no-write", action="store_true", help="print only; do not update docs/benchmarks.md")
    args = parser.parse_args()
    n_gets: int = args.gets
    n_creates: int = args.creates

    startup = statistics.median(startup_seconds() for _ in range(3))
    with Sandbox(SandboxConfig()) as sandbox:
        seeded_at = time.perf_counter()
        account_ids, _ = sandbox.seed(n_accounts=args.records)
        seed_seconds = time.perf_counter() - seeded_at
        big = Sandbox(SandboxConfig()).start()
        try:
            big_started = time.perf_counter()
            big.seed(n_accounts=100_000)
            seed_100k = time.perf_counter() - big_started
        finally:
            big.stop()
        session = requests.Session()
        session.trust_env = False
        session.headers.update(HEADERS)
        session.headers["Authorization"] = f"Bearer {access_token(sandbox)}"
        root = sandbox.api_root

        def gets() -> int:
            for index in range(n_gets):
                record_id = account_ids[index % len(account_ids)]
                session.get(f"{root}accounts({record_id})?$select=name", timeout=30).raise_for_status()
            return n_gets

        def pages() -> int:
            url: str | None = f"{root}accounts?$select=name,accountnumber,revenue"
            seen = 0
            while url:
                response = session.get(url, headers={"Prefer": "odata.maxpagesize=5000"}, timeout=60)
                response.raise_for_status()
                body = response.json()
                seen += len(body["value"])
                url = body.get("@odata.nextLink")
            return seen

        def creates() -> int:
            for _ in range(n_creates):
                response = session.post(f"{root}accounts", json={"name": f"bench-{uuid.uuid4().hex}"}, timeout=30)
                response.raise_for_status()
            return n_creates

        def annotated_page() -> int:
            response = session.get(
                f"{root}accounts?$select=name,revenue,accountcategorycode,_primarycontactid_value",
                headers={"Prefer": 'odata.include-annotations="*"'},
                timeout=60,
            )
            response.raise_for_status()
            return len(response.json()["value"])

        results = [
            timed("One 5000-record page with every annotation", 5000, annotated_page),
            timed("GET one record by id", args.gets, gets),
            timed("Query, 5000-record pages", args.records, pages),
            timed("Create one record per request", args.creates, creates),
        ]
    rows = [f"| {label} | {count:,} | {elapsed:.2f} | {count / elapsed:,.0f} |" for label, count, elapsed in results]
    body = "\n".join(
        [
            (
                f"Start with a fresh state directory (keys, certificates) to a successful bearer-authenticated "
                f"WhoAmI: {startup:.2f} s (median of 3). Seeding {args.records:,} accounts took {seed_seconds:.2f} s, "
                f"100,000 took {seed_100k:.2f} s. One client thread, keep-alive, no TLS."
            ),
            "",
            "| workload | items | seconds | items/s |",
            "|---|---|---|---|",
            *rows,
            "",
            "These are the ceilings of this client/server pair; the connector's own benchmarks are compared with",
            "the same kind of bare client in the same run.",
        ]
    )
    print(body)
    if not args.no_write:
        write_section(
            "sandbox-rate",
            "Sandbox serving rate (bare requests.Session)",
            f"python -m benchmarks.sandbox_rate --records {args.records} --gets {args.gets} --creates {args.creates}",
            body,
        )


if __name__ == "__main__":
    main()
