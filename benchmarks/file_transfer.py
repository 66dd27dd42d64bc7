"""Peak memory of moving a file through a file column: 1 GB up and down against 64 MB, each in its own process.

A sandbox (in this process) serves the account table's ``sample_archive`` file column, whose ``MaxSizeInKB`` is
Dataverse's largest (10 GB). Each measurement runs in a fresh subprocess that connects through the reference host
(entry point, ``connect`` hook, token service, transport), uploads a local file of N MB with Upload File
(``InitializeFileBlocksUpload`` / 4 MB ``UploadBlock`` requests / ``CommitFileBlocksUpload``), downloads it again
with Download File (ranged ``GET …/$value``, one 4 MB block at a time, to a local file), checks that the SHA-256 of
the three copies agree, and reports its peak resident set size (``VmHWM``) before and after each transfer. Memory is
bounded by the block size, so the 1 GB peaks should be within a few MB of the 64 MB ones.

Run: ``python -m benchmarks.file_transfer [--size-mb 1024] [--baseline-mb 64]`` (about 2.2 GB of disk in a
temporary directory, and the sandbox holds the file in memory: about 3 GB of RAM at its peak).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.children import run_json_child
from benchmarks.probes import peak_mb
from benchmarks.report import write_section

CONNECTOR_ID = "dynamics365-ce"
TARGET_MB = 20
MB = 1024 * 1024


def measure(job: dict[str, Any]) -> dict[str, Any]:
    """Upload then download one file in this process and measure it (the child side).

    :param job: the connection settings, the record, the directory and the file's name.
    :returns: peak RSS before and after each transfer (MB), seconds, and whether the copies agree.
    """
    from connector.context import RuntimeContext
    from connector.host.facade import ConnectorHost

    host = ConnectorHost()
    connection = host.connect(CONNECTOR_ID, job["settings"], RuntimeContext())
    base = {"entity_set": "accounts", "column": "sample_archive", "local_directory": job["directory"]}
    record = {"@odata.editLink": job["record"]}

    def run(operation: str, options: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
        [result] = list(host.execute_operation(CONNECTOR_ID, connection, operation, options, [document]))
        if not result.ok:
            raise SystemExit(f"{operation} failed: {result.error}")
        return dict(result.properties)

    # Warm up: token, metadata, imports and the first requests belong to the baseline, not to the file.
    run("upload_file", base, {**record, "file_path": "warm-up.bin"})
    run("download_file", {**base, "output": "file", "overwrite": True}, {**record, "file_path": "warm-up.out"})
    before = peak_mb()
    started = time.perf_counter()
    uploaded = run("upload_file", base, {**record, "file_path": job["file"]})
    upload_seconds = time.perf_counter() - started
    after_upload = peak_mb()
    started = time.perf_counter()
    downloaded = run("download_file", {**base, "output": "file"}, {**record, "file_path": job["file"] + ".out"})
    download_seconds = time.perf_counter() - started
    host.close()
    copy = hashlib.sha256()
    with open(Path(job["directory"]) / (job["file"] + ".out"), "rb") as handle:
        for block in iter(lambda: handle.read(MB), b""):
            copy.update(block)
    return {
        "bytes": int(uploaded["file_size"]),
        "peak_before_mb": before,
        "peak_after_upload_mb": after_upload,
        "peak_mb": peak_mb(),
        "upload_seconds": upload_seconds,
        "download_seconds": download_seconds,
        "transfers": [uploaded["transfer"], downloaded["transfer"]],
        "agree": uploaded["sha256"] == downloaded["sha256"] == copy.hexdigest() == job["sha256"],
    }


def _new_account(settings: dict[str, Any]) -> str:
    """Create the record the files go to, through the connector. :returns: its edit link."""
    from connector.context import RuntimeContext
    from connector.host.facade import ConnectorHost

    host = ConnectorHost()
    connection = host.connect(CONNECTOR_ID, settings, RuntimeContext())
    [created] = list(
        host.execute_operation(CONNECTOR_ID, connection, "create", {"entity_set": "accounts"}, [{"name": "files"}])
    )
    host.close()
    return f"accounts({created.properties['id']})"


def write_file(path: Path, size: int) -> str:
    """Write ``size`` bytes of incompressible content, 4 MB at a time. :returns: its SHA-256."""
    digest = hashlib.sha256()
    seed = os.urandom(4 * MB)
    with path.open("wb") as handle:
        written = 0
        number = 0
        while written < size:
            block = (number.to_bytes(8, "big") + seed[8:])[: size - written]
            handle.write(block)
            digest.update(block)
            written += len(block)
            number += 1
    return digest.hexdigest()


def main() -> None:
    """Run the benchmark from the command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mb", type=int, default=1024, help="the large file, in MB (1024: 1 GB)")
    parser.add_argument("--baseline-mb", type=int, default=64, help="the small file, in MB")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true", help="print only; do not update docs/benchmarks.md")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(json.loads(sys.stdin.read()))))
        return

    from urllib.parse import urlsplit

    from dataverse_sandbox.config import SandboxConfig
    from dataverse_sandbox.server import Sandbox

    with tempfile.TemporaryDirectory(prefix="file-transfer-") as directory, Sandbox(SandboxConfig()) as sandbox:
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
        record = _new_account(settings)
        write_file(Path(directory) / "warm-up.bin", 5 * MB)
        measured = []
        for size_mb in (args.baseline_mb, args.size_mb):
            name = f"{size_mb}mb.bin"
            digest = write_file(Path(directory) / name, size_mb * MB)
            job = {"settings": settings, "record": record, "directory": directory, "file": name, "sha256": digest}
            measured.append(run_json_child([sys.executable, "-m", "benchmarks.file_transfer", "--child"], job))
            for leftover in (name, name + ".out"):
                (Path(directory) / leftover).unlink(missing_ok=True)
    rows = [
        (
            "| file | peak RSS before (MB) | after the upload (MB) | after the download (MB) | growth (MB) | "
            "upload s | MB/s | download s | MB/s | copies agree |"
        ),
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for item in measured:
        size = item["bytes"] / MB
        rows.append(
            f"| {size:,.0f} MB | {item['peak_before_mb']:.1f} | {item['peak_after_upload_mb']:.1f} | "
            f"{item['peak_mb']:.1f} | {item['peak_mb'] - item['peak_before_mb']:.1f} | {item['upload_seconds']:.1f} | "
            f"{size / item['upload_seconds']:,.0f} | {item['download_seconds']:.1f} | "
            f"{size / item['download_seconds']:,.0f} | {'yes' if item['agree'] else '**no**'} |"
        )
    difference = measured[1]["peak_mb"] - measured[0]["peak_mb"]
    verdict = "met" if difference < TARGET_MB and all(item["agree"] for item in measured) else "**missed**"
    body = "\n".join(rows) + (
        f"\n\nPeak RSS moving {args.size_mb:,} MB minus moving {args.baseline_mb:,} MB: **{difference:+.1f} MB** "
        f"(target: under {TARGET_MB} MB, and every copy's SHA-256 equal to the original's: {verdict}). Each file "
        "went up with Upload File in 4 MB blocks and came down with Download File in 4 MB ranges to a local file, "
        "in a fresh process connected through the reference host (peak = the process's `VmHWM`); the sandbox ran "
        "in the parent process and kept the file in memory. One block is in memory at a time, with its base64 form "
        "and the request body, so memory does not grow with the file's size."
    )
    print(body)
    if not args.no_write:
        write_section(
            "file_transfer",
            "B10 file transfer: 1 GB up and down against 64 MB",
            "python -m benchmarks.file_transfer",
            body,
        )


if __name__ == "__main__":
    main()
