"""``python -m dataverse_sandbox``: start a sandbox, print where it is, and serve until interrupted.

Prints the API root, the tenant, the token endpoints, the admin endpoint and its credential (random, new on every
start, good for this process only), the client ids and the paths of the generated secret, key and certificate
files (never the secret values). The reference host exposes the same entry point as
``connector sandbox``. Not for configuring a running sandbox: use the admin endpoint (``/_sandbox/``).
"""

from __future__ import annotations

import argparse
import logging
import re
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import NoReturn

from dataverse_sandbox.config import SandboxConfig
from dataverse_sandbox.faults import FaultSettings
from dataverse_sandbox.limits import LimitSettings
from dataverse_sandbox.request_body import DEFAULT_MAX_BODY_BYTES
from dataverse_sandbox.server import Sandbox

__all__ = ["build_parser", "main"]


class _QuietParser(argparse.ArgumentParser):
    """An argument parser whose usage errors show no value typed on the command line (it may be a secret typed in the
    wrong place, e.g. ``connector sandbox --token-store redis://:<password>@…``): an option this parser defines keeps
    its name; anything else typed (a value, what follows ``=``, ``-Xy…``, ``--Summer2024``) is replaced wherever
    argparse quotes it.
    """

    _typed: tuple[str, ...] = ()

    def parse_known_args(self, args: Sequence[str] | None = None, namespace: object = None) -> tuple[object, list[str]]:  # type: ignore[override]
        """As argparse's; remembers the arguments, for :meth:`error`."""
        self._typed = tuple(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> NoReturn:
        """Exit with status 2 and the usage, the message without any value typed."""
        values = []
        for word in self._typed:
            name, _, value = word.partition("=")
            if name in self._option_string_actions:
                values.append(value)  # an option's name is shown, what follows its = is not
            else:
                values.append(word)  # a value, or what may be one (-Xy…, a short option glued to its value)
        for value in sorted({value for value in values if len(value) > 1}, key=len, reverse=True):
            for shown in (repr(value), value):
                message = re.sub(rf"(?<![\w.-]){re.escape(shown)}(?![\w.-])", "(value not shown)", message)
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    """:returns: the command-line parser."""
    parser = _QuietParser(
        prog="connector sandbox",
        description="A local Dataverse-compatible Web API with an Entra-compatible token service.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: 0, a free port)")
    parser.add_argument("--tls", action="store_true", help="serve https with a CA generated in the state directory")
    parser.add_argument("--db", default=":memory:", help="SQLite database file (default: in memory)")
    parser.add_argument("--seed-records", type=int, default=0, help="accounts to seed (contacts: half as many)")
    parser.add_argument("--state-dir", type=Path, default=None, help="where keys, secrets and certificates go")
    parser.add_argument("--tenant-id", default=None, help="tenant GUID (default: kept in the state directory)")
    parser.add_argument("--max-requests", type=int, default=6000, help="requests per window and principal")
    parser.add_argument("--window-seconds", type=float, default=300, help="service-protection window")
    parser.add_argument("--max-concurrent", type=int, default=52, help="concurrent requests per principal")
    parser.add_argument("--latency-ms", type=float, default=0, help="latency added to every request")
    parser.add_argument("--error-rate", type=float, default=0, help="share of requests answered 502/503/504")
    parser.add_argument(
        "--max-body-bytes",
        type=int,
        default=DEFAULT_MAX_BODY_BYTES,
        help="largest request body accepted; larger ones get 413 unread (default: 128 MB, Dataverse's limit)",
    )
    parser.add_argument("--fault-seed", type=int, default=0, help="seed of the fault injector")
    parser.add_argument(
        "--no-keep-alive", action="store_true", help="close every connection after one response (HTTP/1.0 style)"
    )
    parser.add_argument(
        "--loopback-any-port",
        action="store_true",
        help="accept http://localhost and http://127.0.0.1 redirect URIs registered without a port with any port "
        "(as Entra does for native apps); default: exact match, register listeners through the admin endpoint",
    )
    parser.add_argument("--verbose", action="store_true", help="log at INFO level")
    return parser


def _config(args: argparse.Namespace) -> SandboxConfig:
    return SandboxConfig(
        host=args.host,
        port=args.port,
        tls=args.tls,
        db_path=args.db,
        state_dir=args.state_dir,
        seed_records=args.seed_records,
        tenant_id=args.tenant_id,
        limits=LimitSettings(
            max_requests=args.max_requests, window_seconds=args.window_seconds, max_concurrent=args.max_concurrent
        ),
        faults=FaultSettings(latency_ms=args.latency_ms, error_rate=args.error_rate),
        fault_seed=args.fault_seed,
        loopback_redirect_any_port=args.loopback_any_port,
        keep_alive=not args.no_keep_alive,
        max_body_bytes=args.max_body_bytes,
    )


def describe(sb: Sandbox) -> str:
    """:returns: the start-up banner: URLs, tenant, the admin credential, clients and credential file paths (no
    client secret values).
    """
    lines = [
        f"Dataverse sandbox API root: {sb.api_root}",
        f"Resource (token audience): {sb.origin}",
        f"Other known resource (its tokens get 401 here): {', '.join(sb.resources[1:]) or '-'}",
        f"Tenant: {sb.tenant_id}",
        f"Token endpoint (v1): {sb.token_url}",
        f"Token endpoint (v2): {sb.token_url_v2}",
        f"Authorize endpoint (v2): {sb.authorize_url_v2}",
        f"Admin endpoint: {sb.admin_url}",
        f"Admin credential (Authorization: Bearer …, new on every start): {sb.admin_token}",
        f"State directory: {sb.state_dir}",
    ]
    if sb.ca_cert_path is not None:
        lines.append(f"CA certificate to trust: {sb.ca_cert_path}")
    if sb.clients is not None:
        lines.append("Applications (secrets are in the files named, never printed):")
        lines.append(sb.clients.describe())
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None, *, stop: threading.Event | None = None) -> int:
    """Run the sandbox until Ctrl-C (or until ``stop`` is set).

    :param argv: the arguments (default: ``sys.argv[1:]``).
    :param stop: an event that ends serving when set (tests); default: wait for SIGINT/SIGTERM.
    :returns: the process exit code.
    """
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    done = stop or threading.Event()
    if stop is None and threading.current_thread() is threading.main_thread():

        def _terminate(_signum: int, _frame: FrameType | None) -> None:
            done.set()

        signal.signal(signal.SIGTERM, _terminate)
    try:
        config = _config(args)
    except ValueError as exc:
        print(f"error: {exc}")
        return 2
    with Sandbox(config) as sb:
        print(describe(sb), flush=True)
        print("Serving; press Ctrl-C to stop.", flush=True)
        try:
            while not done.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    print("Sandbox stopped.", flush=True)
    return 0
