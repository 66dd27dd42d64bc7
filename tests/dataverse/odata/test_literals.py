"""OData literals, key predicates and record ids: every value is written so the service reads exactly that value."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from connector.dataverse.odata.literals import (
    LiteralError,
    entity_path,
    format_key,
    format_literal,
    guid_of,
    infer_literal_type,
    record_id_of,
)

GUID = "00000000-0000-0000-0000-000000000001"


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        ("O'Bryan", "string", "'O''Bryan'"),
        ("''", "string", "''''''"),
        ("x' or 1 eq 1 or name eq '", "string", "'x'' or 1 eq 1 or name eq '''"),
        ("name eq 'a'", None, "'name eq ''a'''"),
        (GUID.upper(), "guid", GUID),
        ("{" + GUID + "}", "guid", GUID),
        ("2024-02-29", "date", "2024-02-29"),
        (dt.date(2024, 2, 29), "date", "2024-02-29"),
        ("2016-09-28T22:57:53Z", "datetime", "2016-09-28T22:57:53Z"),
        ("2016-09-28T22:57", "datetime", "2016-09-28T22:57:00Z"),
        ("2016-09-28T22:57:53.123+02:00", "datetime", "2016-09-28T22:57:53.123+02:00"),
        ("2016-09-28", "datetime", "2016-09-28T00:00:00Z"),
        (dt.datetime(2016, 9, 28, 22, 57, 53, tzinfo=dt.UTC), "datetime", "2016-09-28T22:57:53Z"),
        (5, None, "5"),
        (5000000.0, "number", "5000000.0"),
        (1e-07, "number", "0.0000001"),
        (Decimal("47.639583"), None, "47.639583"),
        ("12.50", "number", "12.50"),
        (Decimal("0E-500"), "number", "0"),  # zero, whatever its exponent (the exponent bound refused it)
        ("-0e+999", "number", "0"),
        (7, "integer", "7"),
        ("7", "option_set", "7"),
        (True, None, "true"),
        ("false", "boolean", "false"),
        (None, "string", "null"),
        (None, None, "null"),
        ({"@odata.id": "accounts(1)"}, None, '{"@odata.id":"accounts(1)"}'),
    ],
)
def test_literals_are_written_by_type(value: Any, kind: Any, expected: str) -> None:
    assert format_literal(value, kind) == expected


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("not-a-guid", "guid"),
        ("2024-02-30", "date"),
        ("2024-02-29T10:00:00Z", "date"),
        (dt.datetime(2024, 1, 1), "date"),
        ("yesterday", "datetime"),
        ("5 or 1 eq 1", "number"),
        (True, "number"),
        (float("nan"), "number"),
        ("1.5", "integer"),
        ("\u0663", "integer"),  # a digit of another script: only ASCII digits are numbers here
        ("\u0661\u0662", "number"),  # Decimal() reads them as 12
        ("2024-01-01T\uff11\uff10:00", "datetime"),  # full-width digits in the time went into the URL as they were
        ("2024-01-01T10:00:00Z\n", "datetime"),  # a line end after the value passed, cut off silently
        ("12\n3", "number"),
        ("1e999999999999", "number"),  # written out in full: a MemoryError before
        ("1e-401", "number"),
        (GUID + "\n", "guid"),
        pytest.param("9" * 4301, "integer", id="more digits than int() reads"),
        ("Accounting", "option_set"),
        ("\u00b2", "option_set"),
        ("yes", "boolean"),
        ("x", "null"),
        ({"a": 1}, "string"),
    ],
)
def test_a_value_that_does_not_fit_its_type_is_refused(value: Any, kind: Any) -> None:
    with pytest.raises(LiteralError):
        format_literal(value, kind)


@pytest.mark.parametrize("value", ["9223372036854775808", "-9223372036854775809", "9" * 30, 2**70, -(2**63) - 1, 1e300])
def test_a_whole_number_beyond_64_bits_is_refused_as_out_of_range(value: Any) -> None:
    with pytest.raises(LiteralError, match="outside the range of a 64-bit whole number"):
        format_literal(value, "integer")


@pytest.mark.parametrize(
    "value", ["-9223372036854775808", -(2**63), "9223372036854775807", 2**63 - 1, "0" * 30 + "7", "-" + "0" * 30 + "7"]
)
def test_the_64_bit_bounds_are_whole_numbers(value: Any) -> None:
    assert format_literal(value, "integer") == str(int(value))


def test_inference_never_turns_a_string_into_a_guid_except_for_lookup_values() -> None:
    assert infer_literal_type(GUID) == "string"
    assert infer_literal_type(GUID + "\n", "_primarycontactid_value") == "string"
    assert infer_literal_type(GUID, "_primarycontactid_value\n") == "string"
    assert infer_literal_type("2024-01-01") == "string"
    assert infer_literal_type(GUID, "_primarycontactid_value") == "guid"
    assert format_literal(GUID, None, "_primarycontactid_value") == GUID


def test_key_predicates_from_the_reference() -> None:
    assert entity_path("accounts", GUID) == f"accounts({GUID})"
    assert format_key([("firstname", "Joe", None), ("emailaddress1", "abc@example.com", None)]) == (
        "(firstname='Joe',emailaddress1='abc@example.com')"
    )
    assert format_key([("_primarycontactid_value", GUID, None)]) == f"(_primarycontactid_value={GUID})"
    assert format_key([("example_key1", 2, None), ("example_key2", 2, None)]) == "(example_key1=2,example_key2=2)"


def test_key_values_cannot_break_out_of_the_path() -> None:
    assert format_key([("accountnumber", "A/1?x#y%z'q", None)]) == "(accountnumber='A%2F1%3Fx%23y%25z''q')"


def test_a_null_key_value_is_refused() -> None:
    with pytest.raises(LiteralError, match="null"):
        format_key([("accountnumber", None, None)])


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"https://contoso.crm.dynamics.com/api/data/v9.2/accounts({GUID.upper()})", GUID),
        (f"accounts({GUID})", GUID),
        ("https://x/api/data/v9.2/example_records(example_key1=2,example_key2=2)", "example_key1=2,example_key2=2"),
        ("accounts(accountnumber='A%2F1')", "accountnumber='A/1'"),
        ("accounts", None),
        (f"https://[oops/api/data/v9.2/accounts({GUID})", None),  # urlsplit's ValueError escaped before
    ],
)
def test_record_ids_are_read_from_entity_urls(url: str, expected: str | None) -> None:
    assert record_id_of(url) == expected


def test_guids_are_normalised_lower_case_without_braces() -> None:
    assert guid_of("{7EB682F1-CA75-E511-80D4-00155D2A68D1}") == "7eb682f1-ca75-e511-80d4-00155d2a68d1"
