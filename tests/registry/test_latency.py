"""The store latency histogram behind ``snapshot()['store_latency']``."""
from __future__ import annotations

import threading
import time

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


def test_time_observes_a_block_also_when_it_raises():
    histogram = LatencyHistogram((0.001, 10.0))
    with histogram.time():
        time.sleep(0.002)
    with pytest.raises(KeyError), histogram.time():
        raise KeyError("store said no")
    snapshot = histogram.snapshot()
    assert snapshot["count"] == histogram.count == 2
    assert snapshot["buckets"][1] == [10.0, 2] and snapshot["buckets"][0][1] <= 1
    assert 0.002 <= snapshot["sum"] < 10.0


@pytest.mark.timeout(30)
def test_observations_from_many_threads_are_all_counted():
    histogram = LatencyHistogram((0.5,))

    def observe() -> None:
        for _ in range(10_000):
            histogram.observe(0.25)

    threads = [threading.Thread(target=observe) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert histogram.snapshot() == {"buckets": [[0.5, 40_000]], "sum": 10_000.0,
                                    "count": 40_000}
