"""URL literals (key values, function parameters) as the sandbox reads them (dataverse_sandbox.dataverse.paths)."""

from __future__ import annotations

import pytest

from dataverse_sandbox.dataverse.errors import DataverseError
from dataverse_sandbox.dataverse.paths import parse_literal


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("42", 42),
        ("-7", -7),
        ("+3", 3),
        ("1.5", 1.5),
        ("2m", 2.0),
        ("9" * 20, 1e20),
        ("0" * 5000 + "42", 42),  # leading zeros: still an exact Int64 (int() refuses the whole text)
        ("01234567890123456789", 1234567890123456789),
        ("-" + "0" * 30 + "7", -7),
        ("'a''b'", "a'b"),
        ("null", None),
    ],
)
def test_literals_are_read(text: str, value: object) -> None:
    read = parse_literal(text, {})
    assert (read, type(read)) == (value, type(value))


@pytest.mark.parametrize(
    "text",
    [
        "9" * 4301,  # int() refuses it with a ValueError: a 500 before
        "1e999",  # no finite number
        "\u0661\u0662",  # another script's digits: int() read them as 12
        "12\n",  # a line end after the number passed
    ],
)
def test_a_literal_no_client_sends_is_a_400(text: str) -> None:
    with pytest.raises(DataverseError) as caught:
        parse_literal(text, {})
    assert caught.value.status == 400
