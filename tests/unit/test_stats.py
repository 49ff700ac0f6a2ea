"""The views' median and percentiles agree with the standard library, and say what they do at the edges."""

from __future__ import annotations

import random
import statistics

import pytest

from projections.stats import median, percentile


def test_median_and_percentiles_match_the_standard_librarys_inclusive_method() -> None:
    rng = random.Random(20261127)
    for size in (2, 3, 4, 7, 10, 51):
        values = [round(rng.uniform(1, 90), 2) for _ in range(size)]
        assert median(values) == pytest.approx(statistics.median(values))
        deciles = statistics.quantiles(values, n=10, method="inclusive")
        for i, expected in enumerate(deciles, start=1):
            assert percentile(values, i * 10) == pytest.approx(expected), (size, i)


def test_the_edges_nothing_one_value_the_minimum_and_the_maximum() -> None:
    assert median([]) is None and percentile([], 90) is None
    assert median([7]) == 7 and percentile([7], 90) == 7
    assert percentile([3, 1, 2], 0) == 1 and percentile([3, 1, 2], 100) == 3
    assert median([10, 20, 40, 30]) == 25  # the mean of the two middle values
    with pytest.raises(ValueError):
        percentile([1], 101)


def test_the_nearest_rank_method_always_answers_an_observed_value() -> None:
    values = [15, 20, 35, 40, 50]
    assert [percentile(values, q, method="nearest") for q in (5, 30, 40, 50, 100)] == [15, 20, 20, 35, 50]
    with pytest.raises(ValueError):
        percentile(values, 50, method="cubic")
