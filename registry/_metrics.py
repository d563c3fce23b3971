"""``/metrics`` of a registry node, through the official ``prometheus-client``.

Imported only when the ``metrics`` extra is installed (``pip install
'uactor[metrics]'``).  Every scrape reads one snapshot of the registry and
turns it into metric families (:class:`SnapshotCollector`), next to
``prometheus_client``'s process metrics of the registry's actor process.
Names follow Prometheus' conventions: a ``uactor_registry_`` prefix, base
units (seconds, bytes), ``_total`` on counters.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Callable

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

__all__ = ["METRICS", "MetricsPage", "SnapshotCollector"]

PREFIX = "uactor_registry_"

#: The counters: snapshot total -> (metric name without _total, help).
_COUNTERS = {
    "registered_total": ("registrations", "Actors registered (new entries)."),
    "renewed_total": ("renewals",
                      "Leases renewed (heartbeats), and known entries registered again."),
    "unregistered_total": ("unregistrations",
                           "Entries removed by unregister() or by closing their lease."),
    "expired_total": ("expiries", "Entries dropped because their lease ran out."),
    "picks_total": ("picks", "pick() and pick_entry() calls served."),
}

#: Every metric of the collector: name -> (type, help); the docs list these.
METRICS: dict[str, tuple[str, str]] = {
    PREFIX + "actors": ("gauge", "Live actors registered under each service name."),
    PREFIX + "services": ("gauge", "Service names listed (with or without live actors)."),
    **{PREFIX + name + "_total": ("counter", text) for name, text in _COUNTERS.values()},
    PREFIX + "store_operation_seconds": (
        "histogram", "Time one operation on the registry's store took."),
    PREFIX + "store_reachable": ("gauge", "1 when the store is reachable, else 0."),
    PREFIX + "store_stale_seconds": (
        "gauge", "Seconds since the store was last reachable (0 while it is)."),
    PREFIX + "peers": ("gauge", "Peer registry nodes this node knows."),
    PREFIX + "client_connections": (
        "gauge", "TCP connections open to the registry actor (this server's included)."),
    PREFIX + "start_time_seconds": ("gauge", "When the registry actor started (epoch s)."),
    PREFIX + "node_info": ("gauge", "Always 1: its labels say the node's address and store."),
}


def _help(name: str) -> str:
    return METRICS[name][1]


class SnapshotCollector(Collector):
    """The registry's metric families from one ``snapshot()``.

    :param snapshot: what ``Registry.snapshot()`` returned.
    :param connections: clients connected to the actor (``None``: unknown,
        then the gauge is left out).
    """

    def __init__(self, snapshot: Mapping[str, Any], connections: int | None) -> None:
        self._snapshot = snapshot
        self._connections = connections

    def collect(self) -> Iterator[Metric]:
        node, totals = self._snapshot["node"], self._snapshot["totals"]
        actors = GaugeMetricFamily(PREFIX + "actors", _help(PREFIX + "actors"),
                                   labels=["service"])
        for service in self._snapshot["services"]:
            actors.add_metric([service["name"]], len(service["actors"]))
        yield actors
        yield GaugeMetricFamily(PREFIX + "services", _help(PREFIX + "services"),
                                value=totals["services"])
        for key, (name, text) in _COUNTERS.items():
            yield CounterMetricFamily(PREFIX + name, text, value=totals[key])
        yield self._latency()
        store = node["store"]
        yield GaugeMetricFamily(PREFIX + "store_reachable",
                                _help(PREFIX + "store_reachable"),
                                value=1 if store["reachable"] else 0)
        yield GaugeMetricFamily(PREFIX + "store_stale_seconds",
                                _help(PREFIX + "store_stale_seconds"),
                                value=store["stale_for"])
        yield GaugeMetricFamily(PREFIX + "peers", _help(PREFIX + "peers"),
                                value=len(node["peers"]))
        if self._connections is not None:
            yield GaugeMetricFamily(PREFIX + "client_connections",
                                    _help(PREFIX + "client_connections"),
                                    value=self._connections)
        yield GaugeMetricFamily(PREFIX + "start_time_seconds",
                                _help(PREFIX + "start_time_seconds"),
                                value=node["started"])
        yield InfoMetricFamily(PREFIX + "node", _help(PREFIX + "node_info"),
                               value={"address": str(node["address"]),
                                      "store": str(store["url"])})

    def _latency(self) -> HistogramMetricFamily:
        latency = self._snapshot["store_latency"]
        buckets = [(_bound(le), count) for le, count in latency["buckets"]]
        buckets.append(("+Inf", latency["count"]))
        return HistogramMetricFamily(
            PREFIX + "store_operation_seconds", _help(PREFIX + "store_operation_seconds"),
            buckets=buckets, sum_value=latency["sum"])


def _bound(seconds: float) -> str:
    """A bucket bound as Prometheus writes it (``0.001``, ``1.0``)."""
    return repr(float(seconds))


class MetricsPage:
    """Renders ``/metrics``: one snapshot per scrape, in the format asked for.

    :param read: returns a fresh snapshot (raises when the actor does not
        answer: the scrape then fails rather than publishing stale numbers).
    :param connections: counts the clients connected to a snapshot's actor.
    """

    def __init__(self, read: Callable[[], Mapping[str, Any]],
                 connections: Callable[[Mapping[str, Any]], int | None]) -> None:
        self._read = read
        self._connections = connections

    def render(self, accept: str | None) -> tuple[bytes, str]:
        """The page's body and content type for an ``Accept`` header."""
        snapshot = self._read()
        pid = snapshot["node"]["pid"]
        registry = CollectorRegistry(auto_describe=False)
        registry.register(SnapshotCollector(snapshot, self._connections(snapshot)))
        # CPU and memory of the actor process (Linux /proc; nothing elsewhere).
        ProcessCollector(pid=lambda: pid, registry=registry)
        encoder, content_type = choose_encoder(accept or "")
        return encoder(registry), content_type
