"""The CLI's usage errors name the option and what was wrong, never a value typed on the command line.

argparse quotes what was typed (``unrecognized arguments: --token-store redis://:password@...``); each case puts a
unique canary where argparse would have echoed it and checks that it reaches neither standard output nor standard
error, that the exit status is still 2 and that the message still says which argument and what was wrong.
"""

from __future__ import annotations

import secrets

import pytest

from connector.host.cli import UsageParser, main


@pytest.fixture
def canary() -> str:
    """A secret-looking value no message could contain by chance."""
    return "canary-" + secrets.token_hex(8)


# (argv with {secret} where the canary goes, words the one-line message must hold)
CASES: list[tuple[list[str], list[str]]] = [
    (["about", "--token-store", "redis://:{secret}@cache:6379/0"], ["unrecognized arguments: --token-store"]),
    (
        ["about", "--client-secret={secret}"],
        ["unrecognized arguments: 1 word (not shown: no command has such an option"],
    ),
    (["test", "c.json", "--client-secret", "{secret}"], ["unrecognized arguments: 2 words (not shown"]),
    (["about", "--token-store={secret}"], ["unrecognized arguments: --token-store (values not shown)"]),
    (["about", "--{secret}"], ["unrecognized arguments: 1 word (not shown"]),
    (["about", "{secret}"], ["unrecognized arguments: 1 word (not shown"]),
    (["about", "-p{secret}"], ["unrecognized arguments: 1 word (not shown"]),
    (["about", "--format", "{secret}"], ["argument --format: invalid choice", "'markdown'"]),
    (["browse", "c.json", "--format={secret}"], ["argument --format: invalid choice", "'json'"]),
    (["{secret}"], ["argument COMMAND: invalid choice", "'authorize'"]),
    (["authorize", "c.json", "--port", "{secret}"], ["argument --port: invalid int value (value not shown)"]),
    (["authorize", "c.json", "--timeout={secret}"], ["argument --timeout: invalid float value"]),
    (["authorize", "c.json", "--t={secret}"], ["ambiguous option: --t could match --token-store, --timeout"]),
    (["authorize", "c.json", "--no-browser={secret}"], ["argument --no-browser: takes no value"]),
    (["--debug={secret}", "list"], ["argument --debug: takes no value"]),
    (["run", "c.json", "get", "--progress={secret}"], ["argument --progress/--no-progress: takes no value"]),
    (["test", "{secret}", "--token-store"], ["argument --token-store: expected one argument"]),
    (["run", "{secret}"], ["the following arguments are required: operation"]),
]


@pytest.mark.parametrize(("argv", "expected"), CASES, ids=[" ".join(argv) for argv, _ in CASES])
def test_a_usage_error_names_the_argument_and_never_the_value(
    argv: list[str], expected: list[str], canary: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([arg.format(secret=canary) for arg in argv])
    out, err = capsys.readouterr()
    assert canary not in out + err
    assert code == 2
    assert err.startswith("usage: connector")
    message = err.splitlines()[-1]
    assert message.startswith("connector")
    assert ": error: " in message
    for words in expected:
        assert words in message


def test_mutually_exclusive_and_required_groups_name_only_the_options(
    canary: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The CLI has no group yet; the parser it is built from must hold for one too.
    parser = UsageParser(prog="connector")
    commands = parser.add_subparsers(dest="command", required=True)
    either = commands.add_parser("either").add_mutually_exclusive_group()
    either.add_argument("--alpha")
    either.add_argument("--beta")
    one = commands.add_parser("one").add_mutually_exclusive_group(required=True)
    one.add_argument("--gamma", action="store_true")
    one.add_argument("--delta", action="store_true")
    expected = {
        ("either", "--alpha", canary, "--beta", canary): "argument --beta: not allowed with argument --alpha",
        ("one", canary): "one of the arguments --gamma --delta is required",
    }
    for argv, words in expected.items():
        with pytest.raises(SystemExit) as exit_:
            parser.parse_args(argv)
        out, err = capsys.readouterr()
        assert exit_.value.code == 2
        assert canary not in out + err
        assert words in err


def test_sub_command_parsers_are_of_the_same_class() -> None:
    parser = UsageParser(prog="connector")
    child = parser.add_subparsers().add_parser("child")
    assert isinstance(child, UsageParser)
