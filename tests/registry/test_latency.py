"""The store latency histogram behind ``snapshot()['store_latency']``."""
from __future__ import annotations

import pytest

from registry._latency import STORE_LATENCY_BUCKETS, LatencyHistogram


def test_counts_are_cumulative_per_upper_bound_and_overflow_counts_in_total():
    histogram = LatencyHistogram((0.001, 0.01, 0.1))
    for seconds in (0.0005, 0.001, 0.002, 0.05, 0.5, 7.0):
        histogram.observe(seconds)
    snapshot = histogram.snapshot()
    assert snapshot["buckets"] == [[0.001, 2], [0.01, 3], [0.1, 4]]  # le: <=
    assert snapshot["count"] == 6
    assert snapshot["sum"] == pytest.approx(7.5535)


def test_empty_histogram_and_default_bounds():
    snapshot = LatencyHistogram().snapshot()
    assert [bound for bound, _ in snapshot["buckets"]] == list(STORE_LATENCY_BUCKETS)
    assert {count for _, count in snapshot["buckets"]} == {0}
    assert (snapshot["sum"], snapshot["count"]) == (0.0, 0)


@pytest.mark.parametrize("bounds", [(), (0.1, 0.01), (0.1, 0.1)])
def test_bounds_must_increase(bounds):
    with pytest.raises(ValueError, match="increasing"):
        LatencyHistogram(bounds)
