"""Structured filters as ``$filter`` text: groups, custom filters spliced in place, literals typed by metadata."""

from __future__ import annotations

from typing import Any

import pytest

from connector.dataverse.odata.filters import FilterValueError, parse_filter, render_filter
from connector.dataverse.odata.literals import LiteralType

GUID = "00000000-0000-0000-0000-000000000001"


class FakeTypes:
    """Metadata for a few account properties."""

    types: dict[str, LiteralType] = {
        "accountid": "guid",
        "_primarycontactid_value": "guid",
        "sample_establishedon": "date",
        "lastonholdtime": "datetime",
        "revenue": "number",
        "industrycode": "option_set",
        "name": "string",
    }

    def literal_type(self, property_name: str) -> LiteralType | None:
        return self.types.get(property_name)

    def option_value(self, property_name: str, label: str) -> int | None:
        return {"Accounting": 1, "Consulting": 7}.get(label) if property_name == "industrycode" else None


def render(raw: dict[str, Any], document: dict[str, Any] | None = None, types: Any = None) -> str:
    group = parse_filter(raw, default_operator="and")
    assert group is not None
    return render_filter(group, types, document)


def test_boomis_custom_filter_example_is_spliced_as_is() -> None:
    raw = {
        "operator": "and",
        "conditions": [
            {"field": "price", "operator": "eq", "value": 5},
            {"custom": "NOT(name eq 'Smith')"},
        ],
    }
    assert render(raw) == "price eq 5 and NOT(name eq 'Smith')"


def test_a_custom_filter_with_its_own_or_is_parenthesised_in_a_group() -> None:
    raw = {
        "operator": "and",
        "conditions": [
            {"field": "revenue", "operator": "gt", "value": 5},
            {"custom": "name eq 'a' or name eq 'b''s or'"},
        ],
    }
    assert render(raw) == "revenue gt 5 and (name eq 'a' or name eq 'b''s or')"
    assert render({"conditions": [{"custom": "a eq 1 or b eq 2"}]}) == "a eq 1 or b eq 2"


def test_nested_groups_keep_their_meaning() -> None:
    raw = {
        "operator": "or",
        "conditions": [
            {"field": "statecode", "operator": "eq", "value": 0},
            {
                "operator": "and",
                "conditions": [
                    {"field": "revenue", "operator": "ge", "value": 10},
                    {"field": "revenue", "operator": "le", "value": 20},
                ],
            },
            {"operator": "and", "conditions": [{"field": "name", "operator": "ne", "value": None}]},
        ],
    }
    assert render(raw) == "statecode eq 0 or (revenue ge 10 and revenue le 20) or name ne null"


def test_values_that_look_like_odata_are_matched_literally() -> None:
    raw = {"conditions": [{"field": "name", "operator": "eq", "value": "x' or name ne 'y"}]}
    assert render(raw) == "name eq 'x'' or name ne ''y'"


def test_metadata_types_the_values_without_an_explicit_type() -> None:
    raw = {
        "conditions": [
            {"field": "accountid", "operator": "eq", "value": GUID.upper()},
            {"field": "sample_establishedon", "operator": "ge", "value": "2020-01-01"},
            {"field": "lastonholdtime", "operator": "lt", "value": "2020-01-01"},
            {"field": "revenue", "operator": "gt", "value": "1000"},
            {"field": "name", "operator": "eq", "value": GUID},
            {"field": "primarycontactid/fullname", "operator": "eq", "value": "Yvonne"},
        ]
    }
    assert render(raw, types=FakeTypes()) == (
        f"accountid eq {GUID} and sample_establishedon ge 2020-01-01 and lastonholdtime lt 2020-01-01T00:00:00Z "
        f"and revenue gt 1000 and name eq '{GUID}' and primarycontactid/fullname eq 'Yvonne'"
    )


def test_an_explicit_type_wins_over_metadata() -> None:
    raw = {"conditions": [{"field": "name", "operator": "eq", "value": "2020-01-01", "type": "string"}]}
    assert render(raw, types=FakeTypes()) == "name eq '2020-01-01'"


def test_option_sets_accept_labels() -> None:
    raw = {
        "conditions": [
            {"field": "industrycode", "operator": "eq", "value": "Consulting"},
            {"field": "industrycode", "operator": "ne", "value": 1},
        ]
    }
    assert render(raw, types=FakeTypes()) == "industrycode eq 7 and industrycode ne 1"


def test_an_unknown_label_names_the_option() -> None:
    raw = {"conditions": [{"field": "industrycode", "operator": "eq", "value": "Mining"}]}
    with pytest.raises(FilterValueError) as caught:
        render(raw, types=FakeTypes())
    assert caught.value.field == "options.filter.conditions[0].value"
    assert "'Mining' is not a label" in caught.value.message


def test_values_can_come_from_the_input_document() -> None:
    raw = {"conditions": [{"field": "accountnumber", "operator": "eq", "parameter": "number"}]}
    assert render(raw, {"number": "A'1"}) == "accountnumber eq 'A''1'"
    with pytest.raises(FilterValueError) as caught:
        render(raw, {})
    assert caught.value.field == "number"


def test_a_bad_value_names_its_condition() -> None:
    raw = {"conditions": [{"field": "accountid", "operator": "eq", "value": "nope"}]}
    with pytest.raises(FilterValueError) as caught:
        render(raw, types=FakeTypes())
    assert caught.value.field == "options.filter.conditions[0].value"


def test_an_empty_filter_renders_nothing() -> None:
    assert parse_filter(None, default_operator="and") is None
    assert render({"conditions": [{"custom": "  "}, {"conditions": []}]}) == ""
