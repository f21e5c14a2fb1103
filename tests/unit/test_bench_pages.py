"""The pure parts of ``make bench-pages`` (bench/pages.py): the statistics its table prints and
the order its cases run in. No timing is asserted here; the figures are in bench/README.md."""

from __future__ import annotations

import pytest

from bench.pages import CASES, Timing, rotated, timing

MS = 1_000_000  # nanoseconds


def test_the_median_and_the_95th_percentile_by_nearest_rank_in_milliseconds() -> None:
    samples = [n * MS for n in range(100, 0, -1)]  # 1..100 ms, in no particular order
    # The median of an even count is between the middle two; the 95th percentile is the
    # 95th smallest of 100, a sample that was measured.
    assert timing(samples) == Timing(median_ms=50.5, p95_ms=95.0)


def test_the_95th_percentile_of_a_few_samples_is_the_one_that_covers_95_percent() -> None:
    # 19 of 20 samples are 95%: the 19th; 0.95 x 21 is 19.95, so of 21 it is the 20th.
    assert timing([n * MS for n in range(1, 21)]).p95_ms == 19.0
    assert timing([n * MS for n in range(1, 22)]).p95_ms == 20.0
    assert timing([3 * MS]) == Timing(3.0, 3.0)


def test_no_samples_is_an_error_not_a_zero() -> None:
    with pytest.raises(ValueError, match="no samples"):
        timing([])


def test_each_repetition_starts_one_case_later_so_none_always_runs_first() -> None:
    orders = [rotated(CASES, repetition) for repetition in range(len(CASES) + 1)]
    assert [order[0] for order in orders[: len(CASES)]] == list(CASES)
    assert orders[len(CASES)] == list(CASES)  # and round again
    assert all(sorted(order) == sorted(CASES) for order in orders)
