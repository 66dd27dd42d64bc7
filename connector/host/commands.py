"""The reference host's commands that work on a configured connection: ``authorize``, ``browse`` and ``run``.

Each opens the connection through :func:`~connector.host.session.open_session` (config file, encrypted token store,
entry point), calls hooks through the facade, and prints only what a person needs: no secret ever reaches standard
output or standard error (every value that came from a secret reference is scrubbed as a last guard).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import stat
import sys
import webbrowser
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Final

from connector.host.config_file import ConfigFileError
from connector.host.loopback import LoopbackListener
from connector.host.redaction import scrub_text
from connector.host.run import RunSummary, read_documents, run_operation
from connector.host.session import begin_sign_in, open_session
from connector.results import AuthorizationCallback, BrowseRequest, TokenSet

__all__ = ["cmd_authorize", "cmd_browse", "cmd_run"]

STORE_OPTION_HELP: Final = (
    "encrypted token store: a file (default: $CONNECTOR_TOKEN_STORE, else $CONNECTOR_HOME/tokens.fernet), or a Redis "
    "URL (redis://, rediss://, unix://) for workers on several machines, with the redis extra and CONNECTOR_TOKEN_KEY "
    "set to the key they share; set a URL with a password in $CONNECTOR_TOKEN_STORE, off the command line"
)
EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2


def _usage(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_USAGE


def cmd_authorize(args: argparse.Namespace) -> int:
    """Sign in with the connection's grant and keep the tokens in the encrypted token store."""
    with LoopbackListener(port=args.port) as listener:
        try:
            session = open_session(
                args.config, args.connector, token_store_path=args.token_store, callback_url=listener.redirect_uri
            )
        except ConfigFileError as error:
            return _usage(error.user_message)
        host, connector_id, connection = session.host, session.connector_id, session.connection
        start = begin_sign_in(session)
        if start is None:
            where = session.token_store.location
            print(f"Authorized with client credentials; the token is cached in {where} (encrypted).")
            return EXIT_OK
        print(f"Redirect URI (register it with the identity provider): {listener.redirect_uri}")
        opened = not args.no_browser and _open_browser(start.url)
        print("Opened your browser; if nothing appears, open:" if opened else "Open this URL to sign in:")
        print(start.url, flush=True)
        params = listener.wait(timeout=args.timeout)
        callback = AuthorizationCallback(params=params, state=start.state, code_verifier=start.code_verifier)
        tokens = host.authorize(connector_id, connection, callback)
        assert isinstance(tokens, TokenSet)
    scope = f" (scope: {tokens.scope})" if tokens.scope else ""
    print(f"Authorized{scope}; tokens stored in {session.token_store.location} (encrypted).")
    return EXIT_OK


def _open_browser(url: str) -> bool:
    try:
        webbrowser.get()
    except webbrowser.Error:
        return False  # no browser on this machine (a server, a container): the URL is printed instead
    return webbrowser.open(url)


def cmd_browse(args: argparse.Namespace) -> int:
    """List entity sets, or describe one as request and response profiles."""
    try:
        session = open_session(args.config, args.connector, token_store_path=args.token_store)
    except ConfigFileError as error:
        return _usage(error.user_message)
    if args.describe:
        request = BrowseRequest("describe", object_type=args.describe, use_cache=not args.no_cache)
    else:
        request = BrowseRequest("list", name_filter=args.filter, use_cache=not args.no_cache)
    result = session.host.browse(session.connector_id, session.connection, request)
    if args.describe:
        text = json.dumps({"request": result.request_schema, "response": result.response_schema}, indent=2)
    elif args.format == "json":
        text = json.dumps(
            [{"name": t.name, "label": t.label, "logical_name": t.logical_name} for t in result.object_types]
        )
    else:
        width = max((len(t.name) for t in result.object_types), default=0)
        text = "\n".join(f"{t.name:<{width}}  {t.label}" for t in result.object_types)
        text += f"\n{len(result.object_types)} entity sets"
    print(scrub_text(text, session.config.secrets))
    return EXIT_OK


_MOST_OPTIONS_BYTES: Final = 16 * 2**20
"""The largest options file read (an operation's options are a few kilobytes)."""


def _load_options(value: str | None) -> dict[str, Any]:
    """:returns: the operation's options, from a JSON object or a file holding one.

    :raises ValueError: saying what is wrong without quoting the value (options may carry a secret, such as a header).
    """
    if not value:
        return {}
    text = value
    if not value.lstrip().startswith("{"):
        text = _options_file(Path(value))
    try:
        options = json.loads(text)
    except json.JSONDecodeError as error:  # its message gives the position only, never the text
        raise ValueError(f"is not a JSON object: {error}") from None
    except RecursionError:
        raise ValueError("is not a JSON object: nested too deeply") from None
    if not isinstance(options, dict):
        raise ValueError("must be a JSON object")
    return options


def _options_file(path: Path) -> str:
    """:returns: an options file's text: a regular file (not a pipe, which would wait or eat the documents on standard
    input), read once and at most :data:`_MOST_OPTIONS_BYTES` of it, as UTF-8 with or without a byte-order mark.

    :raises ValueError: saying what is wrong, never quoting the name.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except (OSError, ValueError) as error:  # no such file, a name too long, a NUL in it
        reason = error.strerror if isinstance(error, OSError) and error.strerror else "not a file name"
        raise ValueError(f"is neither a JSON object nor a file that can be read ({reason})") from None
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise ValueError("is neither a JSON object nor a file")
    with os.fdopen(descriptor, "rb") as handle:
        try:
            data = handle.read(_MOST_OPTIONS_BYTES + 1)  # /proc files say they are empty and are not
        except OSError as error:
            raise ValueError(f"names a file that cannot be read ({error.strerror or type(error).__name__})") from None
    if len(data) > _MOST_OPTIONS_BYTES:
        raise ValueError(f"names a file of more than {_MOST_OPTIONS_BYTES // 2**20} MB, not an options file")
    try:
        return data.decode("utf-8-sig")  # an editor's byte-order mark is no part of the JSON
    except UnicodeDecodeError:
        raise ValueError("names a file that is not UTF-8 text") from None


@contextlib.contextmanager
def _opened(name: str | None, mode: str, default: IO[str]) -> Iterator[IO[str]]:
    if name in (None, "-"):
        yield default
        return
    with open(str(name), mode, encoding="utf-8") as handle:
        yield handle


def cmd_run(args: argparse.Namespace) -> int:
    """Stream JSON Lines documents through an operation; exit 1 when any document failed or its outcome is unknown."""
    try:
        options = _load_options(args.options)
    except (OSError, ValueError) as error:
        return _usage(f"--options: {error}")
    try:
        session = open_session(args.config, args.connector, token_store_path=args.token_store)
    except ConfigFileError as error:
        return _usage(error.user_message)
    summary = RunSummary()
    progress = args.progress if args.progress is not None else sys.stderr.isatty()

    def results_for(documents: Any) -> Any:
        return session.host.execute_operation(
            session.connector_id, session.connection, args.operation, options, documents
        )

    try:
        with _opened(args.input, "r", sys.stdin) as source, _opened(args.output, "w", sys.stdout) as sink:
            run_operation(results_for, read_documents(source, summary), sink, summary, progress=progress)
    except OSError as error:
        return _usage(f"{error.filename}: {error.strerror}")
    print(scrub_text(summary.line(), session.config.secrets), file=sys.stderr)
    return EXIT_FAILED if summary.failed or summary.unknown else EXIT_OK


def add_commands(commands: Any, default_connector: str) -> None:
    """Add ``authorize``, ``browse`` and ``run`` to the CLI's sub-command parser."""

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("config", help='JSON config: {"connection": ..., "oauth2": ..., "runtime": ...}')
        parser.add_argument("--connector", default=default_connector, help="connector id (default: %(default)s)")
        parser.add_argument("--token-store", help=STORE_OPTION_HELP)

    authorize = commands.add_parser("authorize", help="sign in (browser for authorization code) and store the tokens")
    common(authorize)
    authorize.add_argument("--port", type=int, default=0, help="loopback callback port (default: a free one)")
    authorize.add_argument("--no-browser", action="store_true", help="print the URL instead of opening a browser")
    authorize.add_argument("--timeout", type=float, default=300, help="seconds to wait for the sign-in")
    authorize.set_defaults(handler=cmd_authorize)

    browse = commands.add_parser("browse", help="list entity sets, or describe one as JSON Schema profiles")
    common(browse)
    browse.add_argument("--filter", help="case-sensitive name pattern with ? and * (e.g. 'acc*')")
    browse.add_argument("--describe", metavar="ENTITY_SET", help="describe one entity set")
    browse.add_argument("--format", choices=("text", "json"), default="text")
    browse.add_argument("--no-cache", action="store_true", help="do not use cached metadata")
    browse.set_defaults(handler=cmd_browse)

    run = commands.add_parser("run", help="run an operation over JSON Lines input; JSON Lines results out")
    common(run)
    run.add_argument("operation", help="get, query, create, update, upsert, delete, execute, associate ...")
    run.add_argument("--options", help="the operation's options: a JSON object or a file holding one")
    run.add_argument("--input", default="-", help="JSON Lines input file, or - for standard input")
    run.add_argument("--output", default="-", help="JSON Lines output file, or - for standard output")
    run.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None, help="progress bar on stderr")
    run.set_defaults(handler=cmd_run)
