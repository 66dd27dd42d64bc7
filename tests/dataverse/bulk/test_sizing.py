"""Request sizes of a bulk run: the ramp, growth past 1000 only on the service's answers, shrinking on slow ones."""

from __future__ import annotations

from dataclasses import replace

from connector.dataverse.bulk.options import BulkOptions
from connector.dataverse.bulk.plan import BATCH
from connector.dataverse.bulk.sizing import BATCH_PARTS, ELASTIC, SUGGESTED, RequestSizes, request_budget

ACTION = "CreateMultiple"
DEFAULTS = BulkOptions.from_values("create", None)


def closes(sizes: RequestSizes, route: str = ACTION, count: int = 12, *, elastic: bool = False) -> list[int]:
    """The sizes at which ``count`` requests of a route close, one after another."""
    seen = []
    for _ in range(count):
        seen.append(sizes.size(route, elastic=elastic))
        sizes.closed(route, elastic=elastic)
    return seen


def test_the_defaults_hold_up_to_ten_thousand_records_per_request() -> None:
    assert DEFAULTS.batch_size == 10_000
    assert DEFAULTS.max_request_bytes == 1_048_576


def test_without_an_answer_requests_grow_to_the_suggested_thousand_and_stay() -> None:
    assert closes(RequestSizes(DEFAULTS, budget=30)) == [
        125,
        250,
        500,
        1000,
        1000,
        1000,
        1000,
        1000,
        1000,
        1000,
        1000,
        1000,
    ]


def test_a_quick_answer_lets_requests_grow_past_a_thousand_up_to_the_batch_size() -> None:
    sizes = RequestSizes(DEFAULTS, budget=30)
    assert closes(sizes, count=4) == [125, 250, 500, 1000]
    sizes.answered(ACTION, 125, 0.05)  # 0.4 ms a record: 10,000 would take 4 s, well within 30
    assert closes(sizes, count=5) == [1000, 2000, 4000, 8000, 10_000]


def test_growth_stops_where_the_answers_predict_the_budget_would_be_passed() -> None:
    sizes = RequestSizes(DEFAULTS, budget=30)
    closes(sizes, count=4)
    sizes.answered(ACTION, 1000, 12.0)  # 12 ms a record (plug-ins): 2000 would take 24 s, 4000 48 s
    assert closes(sizes, count=4) == [1000, 2000, 2500, 2500]


def test_a_slow_answer_makes_the_next_requests_smaller_but_not_below_the_fewest() -> None:
    sizes = RequestSizes(DEFAULTS, budget=30)
    closes(sizes, count=6)
    assert sizes.size(ACTION) == 1000
    sizes.answered(ACTION, 1000, 100.0)  # 100 ms a record: a thousand would take 100 s
    assert sizes.size(ACTION) == 300
    assert closes(sizes, count=2) == [300, 300]  # doubling would pass the budget again
    sizes.answered(ACTION, 300, 3000.0)
    assert sizes.size(ACTION) == DEFAULTS.min_batch_size


def test_batch_requests_and_change_sets_hold_at_most_a_thousand_parts_and_elastic_tables_a_hundred() -> None:
    sizes = RequestSizes(DEFAULTS, budget=30)
    sizes.answered(BATCH, 125, 0.001)
    assert max(closes(sizes, BATCH)) == BATCH_PARTS
    elastic = RequestSizes(DEFAULTS, budget=30)
    elastic.answered(ACTION, 13, 0.001, elastic=True)
    assert closes(elastic, elastic=True, count=5) == [13, 26, 52, ELASTIC, ELASTIC]
    whole = RequestSizes(replace(DEFAULTS, all_or_nothing=True), budget=30)
    assert closes(whole, count=2) == [BATCH_PARTS, BATCH_PARTS]


def test_a_lower_batch_size_is_never_passed_whatever_the_answers() -> None:
    sizes = RequestSizes(replace(DEFAULTS, batch_size=300), budget=30)
    sizes.answered(ACTION, 10, 0.0001)
    assert closes(sizes, count=5) == [38, 76, 152, 300, 300]
    assert SUGGESTED == 1000


def test_a_request_left_unanswered_halves_the_next_ones_until_an_answer_says_more() -> None:
    sizes = RequestSizes(DEFAULTS, budget=30)
    closes(sizes, count=4)
    sizes.answered(ACTION, 1000, 0.5)
    assert closes(sizes, count=4) == [1000, 2000, 4000, 8000]
    sizes.unanswered(ACTION, 8000)  # a time-out: as if it took twice the budget
    assert closes(sizes, count=2) == [4000, 4000]
    sizes.answered(ACTION, 4000, 2.0)
    assert closes(sizes, count=2) == [4000, 8000]


def test_nothing_is_learnt_from_an_answer_timed_at_zero() -> None:
    sizes = RequestSizes(DEFAULTS, budget=30)
    sizes.answered(ACTION, 125, 0.0)
    assert closes(sizes, count=6) == [125, 250, 500, 1000, 1000, 1000]


def test_requests_never_hold_more_than_the_records_a_run_may_have_out() -> None:
    # One request at a time: the run may have three chunks of 1000 out, so no request holds more than 3000.
    sizes = RequestSizes(replace(DEFAULTS, max_concurrency=1, initial_concurrency=1), budget=30)
    assert sizes.most_out == 3000
    sizes.answered(ACTION, 125, 0.001)
    assert closes(sizes, count=7) == [125, 250, 500, 1000, 2000, 3000, 3000]


def test_the_fewest_records_per_bulk_request_never_lift_a_request_past_its_limits() -> None:
    sizes = RequestSizes(replace(DEFAULTS, min_batch_size=500), budget=30)
    assert closes(sizes, elastic=True, count=3) == [ELASTIC] * 3
    standard = RequestSizes(replace(DEFAULTS, min_batch_size=500), budget=30)
    standard.answered(ACTION, 1000, 100.0)  # far too slow: as small as allowed, not smaller than the fewest
    assert standard.size(ACTION) == 500


def test_the_budget_is_a_quarter_of_the_read_timeout_and_never_of_more_than_dataverses_two_minutes() -> None:
    assert request_budget(120.0) == 30.0
    assert request_budget(20.0) == 5.0
    assert request_budget(600.0) == 30.0  # Dataverse ends a request after 2 minutes whatever the client waits
    assert request_budget(None) == 30.0  # no read time-out
