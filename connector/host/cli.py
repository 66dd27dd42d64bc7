"""The ``connector`` command: the reference host's command line.

Every command loads connectors through the entry points, exactly as a host would. Errors are one readable line naming
what to change (a traceback only with ``--debug``); exit codes: 0 success, 1 a failure the user can fix or a
record that failed, 2 a usage error. A usage error names the option and what was wrong, never a value typed on the
command line: that value may be a secret (a Redis URL with its password, a client secret typed in the wrong place).
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any, Final

from connector.errors import ConfigError, ConnectorError
from connector.host.about import render_about
from connector.host.commands import STORE_OPTION_HELP, add_commands
from connector.host.facade import ConnectorHost

__all__ = ["UsageParser", "main"]

DEFAULT_CONNECTOR: Final = "dynamics365-ce"

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2


def _cmd_about(args: argparse.Namespace) -> int:
    host = ConnectorHost()
    connector = host.connector(args.connector)
    schemas = {name: host.schema(args.connector, name) for name in ("connection", "oauth2")}
    print(render_about(connector, schemas, args.format))
    return EXIT_OK


def _cmd_list(args: argparse.Namespace) -> int:
    host = ConnectorHost()
    connectors = host.connectors()
    if args.format == "json":
        payload = [
            {
                "id": c.id,
                "distribution": c.distribution,
                "version": c.version,
                "module": c.module,
                "hooks": list(c.hooks),
                "manifest": c.manifest,
            }
            for c in connectors
        ]
        print(json.dumps(payload, indent=2))
        return EXIT_OK
    if not connectors:
        print("No connectors installed.")
    for c in connectors:
        name = (c.manifest or {}).get("name", "")
        schemas = ", ".join(sorted(((c.manifest or {}).get("schemas") or {}).values()))
        print(f"{c.id}  {c.version or '?'}  ({c.distribution or 'registered in process'})  {name}")
        print(f"    hooks: {', '.join(c.hooks)}")
        print(f"    schemas: {schemas or 'none'}")
    return EXIT_OK


def _cmd_form(args: argparse.Namespace) -> int:
    from pathlib import Path

    from connector.host.config_file import RUNTIME_SCHEMA
    from connector.host.form import FormIO, FormPart, fill_form
    from connector.host.secret_files import secrets_dir_for

    host = ConnectorHost()
    parts = {
        name: FormPart(host.schema(args.connector, name), host.ui_schema(args.connector, name))
        for name in ("connection", "oauth2")
    }
    parts["runtime"] = FormPart(RUNTIME_SCHEMA, {"ui:order": ["proxy", "timeouts", "ca_bundle", "callback_url"]}, True)
    output = Path(args.output) if args.output else None
    secrets_dir = secrets_dir_for(output, args.connector)
    config = fill_form(parts, FormIO(), secrets_dir)
    text = json.dumps(config, indent=2) + "\n"
    if output is None:
        print(text, end="")
    else:
        output.write_text(text, encoding="utf-8")
        print(f"\nWrote {output}; secrets are references, not values.")
    return EXIT_OK


def _cmd_test(args: argparse.Namespace) -> int:

    from connector.host.config_file import ConfigFileError, load_config_file
    from connector.host.redaction import scrub_text
    from connector.host.report_view import render_json, render_text, settings_failure_report
    from connector.host.token_store import open_token_store

    try:
        store = open_token_store(args.token_store)
        config = load_config_file(args.config, token_store=store)
    except ConfigFileError as error:
        print(f"error: {error.user_message}", file=sys.stderr)
        return EXIT_USAGE
    host = ConnectorHost()
    try:
        connection = host.connect(args.connector, config.settings, config.context)
    except ConfigError as error:
        report = settings_failure_report(args.connector, error)
    else:
        report = host.test(args.connector, connection)
    rendered = render_json(report) if args.format == "json" else render_text(report)
    # A report holds no secret by contract; scrubbing again costs nothing and guards against a connector's slip.
    print(scrub_text(rendered, config.secrets))
    return EXIT_OK if report.ok else EXIT_FAILED


def _cmd_ui(args: argparse.Namespace) -> int:
    from pathlib import Path

    from connector.host.token_store import default_store_path, store_named
    from connector.host.web import WebHost, open_in_browser

    named = store_named(args.token_store)
    if isinstance(named, str) and "://" in named:
        # The web host keeps one machine's tokens: a Redis URL would have become a file named after it (password too).
        print(
            "error: token_store: the web host takes a file; use the other commands for a Redis store", file=sys.stderr
        )
        return EXIT_USAGE

    config = Path(args.config) if args.config else default_store_path().parent / f"{args.connector}.json"
    web = WebHost(args.connector, config, token_store_path=Path(named) if named else None, port=args.port)
    print(f"Config file: {config} (secrets are saved beside it and referenced)")
    print(f"OAuth redirect URI (register it for the authorization-code grant): {web.callback_url}")
    print("Open this URL (it carries a one-time token; keep it to yourself):", flush=True)
    print(f"    {web.url}", flush=True)
    if not args.no_browser:
        open_in_browser(web.url)
    print("Press Ctrl-C to stop.", flush=True)
    try:
        web.serve_forever()  # returns on Ctrl-C (werkzeug's server stops on KeyboardInterrupt)
    except KeyboardInterrupt:
        pass
    finally:
        web.host.close()
    print("\nStopped.")
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    from pathlib import Path

    from connector.host.demo import run_demo

    return run_demo(state_dir=Path(args.state_dir) if args.state_dir else None)


_OPTION_NAME: Final = re.compile(r"--?[A-Za-z][A-Za-z0-9_-]*")

# argparse's own messages that carry no typed value: an argument count, or names from the parser's own definitions.
_VALUE_FREE_MESSAGE: Final = re.compile(
    r"expected (one|at most one|at least one|[0-9]+) arguments?"
    r"|not allowed with argument .+"
    r"|the following arguments are required: .+"
    r"|one of the arguments .+ is required"
)


def _option_name(token: str, known: Collection[str]) -> str | None:
    """:returns: the option name a command-line token carries (``--name`` before any ``=``; ``-x`` alone, since a short
    option's value may follow without a space) when it is one of ``known``, or None: a value, or a word shaped as an
    option that no command has (``--Summer2024`` may be a password typed in the wrong place), is never shown.
    """
    name = token.partition("=")[0] if token.startswith("--") else token[:2]
    return name if _OPTION_NAME.fullmatch(name) and name in known else None


def _describe_unrecognized(tokens: Sequence[str], known: Collection[str]) -> str:
    """:returns: the unrecognized tokens as their option names (those in ``known``), saying how many were left out."""
    shown = [_option_name(token, known) for token in tokens]
    names = list(dict.fromkeys(name for name in shown if name))
    hidden = sum(1 for token, name in zip(tokens, shown, strict=True) if name != token)
    if not names:
        words = f"{hidden} word{'s' if hidden > 1 else ''}"
        return f"{words} (not shown: no command has such an option, and a value may be a secret)"
    return " ".join(names) + (" (values not shown)" if hidden else "")


def _options_of(parser: argparse.ArgumentParser) -> set[str]:
    """:returns: every option name ``parser`` and its sub-commands define (the command line's own words)."""
    names = set(parser._option_string_actions)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                names |= _options_of(command)
    return names


class _ValueHiddenError(argparse.ArgumentError):
    """A usage error whose message names the argument and what was wrong, and holds nothing the user typed."""


def _value_hidden(error: argparse.ArgumentError, message: str) -> _ValueHiddenError:
    """:returns: ``error`` for the same argument with ``message`` in place of argparse's."""
    replacement = _ValueHiddenError(None, message)
    replacement.argument_name = error.argument_name
    return replacement


class UsageParser(argparse.ArgumentParser):
    """An argument parser whose usage errors never echo a value typed on the command line.

    argparse quotes what was typed in its messages (unrecognized arguments, an invalid choice or number, a value given
    to a flag, an ambiguous ``--opt=value``); this parser says the same without the value: ``unrecognized arguments:
    --token-store (values not shown)``, ``argument --port: invalid int value (value not shown)``. Exit status 2 and the
    usage line are argparse's. Sub-command parsers are of this class too (``add_subparsers`` makes them with the
    parser's own class). Not for scrubbing output after parsing: the commands keep their own messages free of secrets.
    """

    def parse_args(self, args: Iterable[str] | None = None, namespace: Any = None) -> Any:
        """As argparse's, with unrecognized arguments shown as their option names only (``--name`` before any ``=``).

        :param args: the arguments; defaults to ``sys.argv[1:]``.
        :param namespace: the object to set the parsed values on (default: a new ``argparse.Namespace``).
        :returns: the parsed values.
        """
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:  # sub-command parsers hand their extras up to this call
            self.error(f"unrecognized arguments: {_describe_unrecognized(extras, _options_of(self))}")
        return parsed

    def _parse_known_args(self, *args: Any, **kwargs: Any) -> Any:
        # Every ArgumentError raised while parsing passes here. argparse's own ones may quote a value (a flag given
        # ``=value``, an unknown sub-parser): only those known to be value-free keep their text, so a message a later
        # Python adds is replaced rather than shown.
        try:
            return super()._parse_known_args(*args, **kwargs)
        except _ValueHiddenError:
            raise
        except argparse.ArgumentError as error:
            if _VALUE_FREE_MESSAGE.fullmatch(error.message):
                raise
            if error.message.startswith("ignored explicit argument"):
                raise _value_hidden(error, "takes no value (value not shown)") from None
            raise _value_hidden(error, "invalid value (value not shown)") from None

    def _get_value(self, action: argparse.Action, arg_string: str) -> Any:
        try:
            return super()._get_value(action, arg_string)
        except argparse.ArgumentError:
            kind = getattr(action.type, "__name__", "argument")
            raise _ValueHiddenError(action, f"invalid {kind} value (value not shown)") from None

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        if action.choices is not None and value not in action.choices:
            choices = ", ".join(map(repr, action.choices))
            raise _ValueHiddenError(action, f"invalid choice (value not shown; choose from {choices})")

    def _get_option_tuples(self, option_string: str) -> list[Any]:
        # Called only to resolve an abbreviation; argparse reports several matches quoting the token, value and all.
        matches: list[Any] = super()._get_option_tuples(option_string)
        if len(matches) > 1:
            prefix = option_string.partition("=")[0]
            typed = prefix if _OPTION_NAME.fullmatch(prefix) else "an option"  # the start of options it names
            names = ", ".join(match[1] for match in matches)
            raise _ValueHiddenError(None, f"ambiguous option: {typed} could match {names}")
        return matches


def build_parser() -> argparse.ArgumentParser:
    """:returns: the argument parser for every command."""
    parser = UsageParser(
        prog="connector", description="Reference host for integration-runtime connectors (Dynamics 365 CE)."
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and DEBUG logs (secrets stay redacted)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="the main job end to end on the embedded sandbox (nothing to configure)")
    demo.add_argument("--state-dir", help="keep the sandbox's generated credentials here (default: removed at the end)")
    demo.set_defaults(handler=_cmd_demo)

    about = commands.add_parser("about", help="describe a connector: hooks, operations, settings")
    about.add_argument("--connector", default=DEFAULT_CONNECTOR, help="connector id (default: %(default)s)")
    about.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    about.set_defaults(handler=_cmd_about)

    listing = commands.add_parser("list", help="list installed connectors with versions, hooks and schemas")
    listing.add_argument("--format", choices=("text", "json"), default="text")
    listing.set_defaults(handler=_cmd_list)

    form = commands.add_parser("form", help="fill a connector's connection form; secrets become references")
    form.add_argument("connector", help="connector id, e.g. dynamics365-ce")
    form.add_argument("-o", "--output", help="config file to write (default: standard output)")
    form.set_defaults(handler=_cmd_form)

    ui = commands.add_parser("ui", help="fill, save, sign in, test and browse in a web page on this machine")
    ui.add_argument("config", nargs="?", help="config file to edit (default: $CONNECTOR_HOME/<connector>.json)")
    ui.add_argument("--connector", default=DEFAULT_CONNECTOR, help="connector id (default: %(default)s)")
    ui.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    ui.add_argument("--token-store", help="encrypted token store file (default: $CONNECTOR_HOME/tokens.fernet)")
    ui.add_argument("--no-browser", action="store_true", help="print the URL without opening a browser")
    ui.set_defaults(handler=_cmd_ui)

    testing = commands.add_parser("test", help="run Test Connection for a config file; exit 1 when a check failed")
    testing.add_argument("config", help='JSON config: {"connection": ..., "oauth2": ..., "runtime": ...}')
    testing.add_argument("--connector", default=DEFAULT_CONNECTOR, help="connector id (default: %(default)s)")
    testing.add_argument("--format", choices=("text", "json"), default="text")
    testing.add_argument("--token-store", help=STORE_OPTION_HELP)
    testing.set_defaults(handler=_cmd_test)

    add_commands(commands, DEFAULT_CONNECTOR)

    # Listed for --help; main() hands "connector sandbox ..." to the sandbox's own parser before parsing.
    commands.add_parser("sandbox", help="run the local Dataverse-compatible sandbox (see: connector sandbox --help)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    :param argv: the arguments (without the program name); defaults to ``sys.argv[1:]``.
    :returns: the exit code.
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["sandbox"]:
        # The sandbox has its own options (and --help); hand them over untouched.
        from dataverse_sandbox.cli import main as sandbox_main

        return sandbox_main(arguments[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(arguments)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, format="%(levelname)s %(message)s")
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except ConfigError as error:
        if args.debug:
            raise
        print(f"error: {error.user_message}", file=sys.stderr)
        return EXIT_FAILED
    except ConnectorError as error:
        if args.debug:
            raise
        print(f"error: {error.user_message}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover - exercised through the console script
    sys.exit(main())
