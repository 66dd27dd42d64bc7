"""Whole numbers read from outside text: ASCII digits only, bounded."""

from __future__ import annotations

import pytest

from connector.numerals import LARGEST, integer, whole_number


@pytest.mark.parametrize(
    ("text", "number"),
    [("0", 0), (" 42 ", 42), ("007", 7), (str(LARGEST), LARGEST), ("0" * 5000 + "30", 30), ("0" * 5000, 0)],
)
def test_ascii_digits_are_read(text: str, number: int) -> None:
    assert whole_number(text) == number


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        " ",
        "-1",
        "+1",
        "1.5",
        "1e3",
        "\u00b2",
        "\u0663",
        "\uff11",
        "9" * 20,
        "9" * 19,
        str(LARGEST + 1),
        "0" * 5000 + str(LARGEST + 1),
    ],
)
def test_anything_else_is_none_never_an_error(text: str | None) -> None:
    assert whole_number(text) is None


@pytest.mark.parametrize(
    ("text", "number"), [("-7", -7), (" 12 ", 12), ("-0", 0), (f"-{LARGEST}", -LARGEST), (f"-{LARGEST + 1}", -(2**63))]
)
def test_integers_may_carry_a_minus(text: str, number: int) -> None:
    assert integer(text) == number


@pytest.mark.parametrize(
    "text",
    [
        None,
        "-",
        "--1",
        "+1",
        "- 1",
        "-\u00b2",
        "\u0663",
        "1-",
        "-" + "9" * 20,
        "-" + "9" * 19,
        f"-{LARGEST + 2}",
        str(LARGEST + 1),
    ],
)
def test_anything_else_is_no_integer(text: str | None) -> None:
    assert integer(text) is None
