"""``Registry.snapshot()``: the plain-data picture behind status pages and metrics."""
from __future__ import annotations

import json
import os
import time

import pytest

from tests.conftest import wait_until
from tests.registry.actors import start_registry

#: The agreed shape: the keys every snapshot carries, at every level.
NODE_KEYS = {"address", "pid", "started", "store", "peers"}
STORE_KEYS = {"url", "reachable", "stale_for"}
TOTAL_KEYS = {"services", "actors", "registered_total", "renewed_total",
              "unregistered_total", "expired_total", "picks_total"}
ACTOR_KEYS = {"address", "owner_host", "owner_pid", "lease_age", "lease_left", "picks",
              "metadata"}


@pytest.fixture
def reg():
    with start_registry() as proxy:
        yield proxy


def test_snapshot_shape_and_values(reg):
    before = time.time()
    lease = reg.open_lease(30, pid=41, hostname="host-a")
    for _ in range(2):  # the second time, a renewal
        reg.register_entry(("10.0.0.1", 1001), lease=lease, name="Worker", pid=42,
                           hostname="host-b")
    storage = reg.register(("10.0.0.2", 1002), ("10.0.0.3", 1003), name="Storage")
    reg.unregister(("10.0.0.3", 1003), lease=storage)
    reg.register(("10.0.0.4", 1004), name="Gone", ttl=0.05)
    assert wait_until(lambda: reg.stats()["expired"] == 1, timeout=10)
    for _ in range(3):
        reg.pick("Worker")
    snapshot = reg.snapshot()

    assert json.loads(json.dumps(snapshot)) == snapshot  # plain data only
    assert set(snapshot) == {"node", "totals", "services", "store_latency"}
    node = snapshot["node"]
    assert set(node) == NODE_KEYS and set(node["store"]) == STORE_KEYS
    assert node["address"] == f"127.0.0.1:{reg.connection_address[1]}"
    assert node["pid"] != os.getpid()
    assert before - 60 < node["started"] <= time.time()
    assert node["store"] == {"url": "memory://", "reachable": True, "stale_for": 0.0}
    assert node["peers"] == []
    assert snapshot["totals"] == {
        "services": 3, "actors": 2, "registered_total": 4, "renewed_total": 1,
        "unregistered_total": 1, "expired_total": 1, "picks_total": 3,
    }
    services = {service["name"]: service["actors"] for service in snapshot["services"]}
    assert list(services) == ["Gone", "Storage", "Worker"]  # sorted, empty kept
    assert services["Gone"] == []
    [worker] = services["Worker"]
    assert set(worker) == ACTOR_KEYS
    assert worker["address"] == "10.0.0.1:1001"
    assert (worker["owner_host"], worker["owner_pid"], worker["picks"]) == ("host-a", 41, 3)
    assert 0 <= worker["lease_age"] < 30 and 0 < worker["lease_left"] <= 30
    assert worker["metadata"] == {"bind_address": "10.0.0.1:1001", "pid": 42,
                                  "hostname": "host-b", "ttl": 30.0}
    [storage] = services["Storage"]
    assert (storage["lease_left"], storage["owner_pid"], storage["picks"]) == (None, None, 0)


def test_store_latency_counts_every_store_operation_and_only_those():
    with start_registry(sweep_interval=3600) as reg:  # no background sweep
        first = reg.snapshot()["store_latency"]
        token = reg.register(("10.0.0.1", 1001))  # a grant and a put
        reg.renew(token)
        reg.pick()
        reg.pick()  # picks are served from the node's view: no store operation
        latency = reg.snapshot()["store_latency"]
    assert latency["count"] == first["count"] + 3
    counts = [count for _, count in latency["buckets"]]
    assert counts == sorted(counts) and counts[-1] <= latency["count"]
    bounds = [bound for bound, _ in latency["buckets"]]
    assert bounds == sorted(bounds)
    assert 0 < latency["sum"] < 1.0


def test_snapshot_without_services_keeps_the_totals(reg):
    reg.register(("10.0.0.1", 1001), ("10.0.0.2", 1002), name="Worker")
    light, full = reg.snapshot(False), reg.snapshot()
    assert light["services"] == []
    assert light["totals"] == full["totals"]
    assert light["totals"]["actors"] == 2 and light["totals"]["services"] == 1
    assert light["node"] == full["node"]
