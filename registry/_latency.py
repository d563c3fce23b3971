"""A small latency histogram for the registry's store operations.

:class:`LatencyHistogram` counts durations into fixed buckets, the way a
Prometheus histogram does, and reports them as plain data (cumulative counts
per upper bound), so the registry actor can put them in its ``snapshot()``
and the node's ``/metrics`` endpoint can publish them without the actor
process importing ``prometheus_client``.  The registry times every call it
makes into its store (:mod:`registry._store`) with :meth:`time`, from any
number of threads.
"""
from __future__ import annotations

import bisect
import contextlib
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

__all__ = ["STORE_LATENCY_BUCKETS", "LatencyHistogram"]

#: Upper bounds (s) of the store latency buckets: from an in-memory table's
#: microseconds to a networked store's tens of milliseconds, and beyond.
STORE_LATENCY_BUCKETS = (
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)


class LatencyHistogram:
    """Counts of observed durations (s) per bucket, their sum and number.

    Thread-safe.
    """

    def __init__(self, bounds: Sequence[float] = STORE_LATENCY_BUCKETS) -> None:
        if list(bounds) != sorted(set(bounds)) or not bounds:
            raise ValueError(f"bucket bounds must be increasing, got {bounds!r}")
        self._bounds = tuple(float(bound) for bound in bounds)
        # One slot per bound, plus one for durations above the last bound.
        self._counts = [0] * (len(self._bounds) + 1)
        self._sum = 0.0
        self._lock = threading.Lock()

    @property
    def count(self) -> int:
        """Durations observed so far."""
        with self._lock:
            return sum(self._counts)

    def observe(self, seconds: float) -> None:
        """Count one duration of ``seconds``."""
        index = bisect.bisect_left(self._bounds, seconds)
        with self._lock:
            self._counts[index] += 1
            self._sum += seconds

    @contextlib.contextmanager
    def time(self) -> Iterator[None]:
        """Observe how long the ``with`` block takes (also when it raises)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.observe(time.perf_counter() - start)

    def snapshot(self) -> dict[str, Any]:
        """``{"buckets": [[le, cumulative count], ...], "sum": s, "count": n}``.

        Only finite bounds are listed (JSON has no infinity): the implied
        ``+Inf`` bucket holds ``count``.
        """
        with self._lock:
            counts, seconds = list(self._counts), self._sum
        buckets = []
        total = 0
        for bound, count in zip(self._bounds, counts):
            total += count
            buckets.append([bound, total])
        return {"buckets": buckets, "sum": seconds, "count": total + counts[-1]}
