"""Registry failover (issue 11.4): how long each recovery takes, with real servers.

Group ``registry-failover`` (``python -m bench --only registry-failover``),
seconds unless said otherwise, each scenario run ``samples`` times:

``etcd leader killed: registrations resume``
    a registry node over a three-member etcd cluster registers and
    unregisters entries in a loop while another thread picks; the cluster's
    leader is killed (``kill -9``); time from the kill to the first
    registration that succeeds after it.  Target: 2 s.
``etcd leader killed: longest pause in picks`` (ms)
    picks are served from the node's view: the longest time without an
    answered pick from the kill until registrations resumed.
``redis master killed: sentinels promote``
    Redis master, replica and three sentinels (``down-after-milliseconds``
    1000); time from ``kill -9`` of the master until the sentinels name the
    replica: Sentinel's own, for reference.
``redis master killed: actors pickable again``
    three actors registered by ``register_actor`` (TTL 3 s, a heartbeat a
    second); time from the promotion until the node lists them all and its
    store is reachable.  Target: one heartbeat period (1 s).
``node killed among three: owner renews, client connects``
    three nodes over one etcd; an owner's lease is renewed through
    :class:`registry._nodes.RegistryNodes` (what the heartbeats do) and a
    client connects with ``connect_actor``, both given the three addresses;
    the node both use is killed (``SIGKILL``); time from the kill until the
    renewal, and until ``connect_actor``, succeed through another node.
    Target: 1 s.
``keys wiped: actors registered again`` (etcd, Redis)
    the registry's keys deleted outright; time until the owner's heartbeat
    has registered the three actors again and the node lists them.  Target:
    one heartbeat period (1 s).

Servers run on free loopback ports (tests/servers.py); a missing server
binary gives skipped rows.
"""
from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from bench._floors import AUTHKEY as KEY
from bench._harness import group_selected, make_row, progress, skipped_row

GROUPS = ("registry-failover",)
GROUP = "registry-failover"

OPTIONS = {"address": ("127.0.0.1", 0), "authkey": KEY}

#: Lease of the owners' registrations (s): a heartbeat every second.
TTL = 3.0

#: Longest any recovery may take before the sample fails (s).
RECOVERY = 30.0


def _wait(predicate: Callable[[], bool], timeout: float = RECOVERY,
          interval: float = 0.005) -> float:
    """Poll until ``predicate()``; the time it became true (monotonic)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"no recovery within {timeout:g} s")
        time.sleep(interval)
    return time.monotonic()


def _registry(**kwargs: Any) -> Any:
    import registry
    import uactor

    return uactor.start(registry.Registry, options=OPTIONS, **kwargs)


def _worker_class() -> Any:
    from bench._actors import BenchTcpActor

    return BenchTcpActor


@contextlib.contextmanager
def _registered(registry_like: Any, count: int = 3) -> Iterator[set]:
    import registry

    with contextlib.ExitStack() as stack:
        workers = [stack.enter_context(_worker_class()()) for _ in range(count)]
        handles = [stack.enter_context(registry.register_actor(
            registry_like, worker, authkey=KEY, name="Worker", ttl=TTL))
            for worker in workers]
        yield {tuple(handle.address) for handle in handles}


def _listed(reg: Any) -> set:
    import registry

    try:
        return set(map(tuple, reg.addresses("Worker")))
    except registry.UnknownNameError:
        return set()


# --------------------------------------------------------------------------
# Scenarios: each returns {row name: seconds}
# --------------------------------------------------------------------------

def _etcd_leader(prefix: str) -> dict[str, float]:
    import registry
    from tests import servers

    with servers.etcd_cluster(3) as cluster, \
            _registry(store=cluster.url, store_prefix=prefix) as reg:
        stop = threading.Event()
        writes: list[float] = []
        picks: list[float] = []
        reg.register(("10.7.0.1", 1), name="W", ttl=30)

        def churn() -> None:
            lease, port = reg.open_lease(30), 1
            while not stop.is_set():
                try:
                    reg.register_entry(("10.7.1.1", port), lease=lease, name="W")
                    writes.append(time.monotonic())
                    reg.unregister(("10.7.1.1", port), lease=lease)
                    port += 1
                except registry.StoreUnavailableError:
                    pass

        def pick() -> None:
            while not stop.is_set():
                reg.pick("W")
                picks.append(time.monotonic())

        threads = [threading.Thread(target=churn), threading.Thread(target=pick)]
        for thread in threads:
            thread.start()
        try:
            _wait(lambda: len(writes) > 20)
            cluster.leader().kill9()
            killed = time.monotonic()
            resumed = _wait(lambda: bool(writes) and writes[-1] > killed)
        finally:
            stop.set()
            for thread in threads:
                thread.join(RECOVERY)
        answered = [when for when in picks if killed <= when <= resumed]
        pauses = [later - earlier
                  for earlier, later in zip([killed, *answered], [*answered, resumed])]
        return {"etcd leader killed: registrations resume": resumed - killed,
                "etcd leader killed: longest pause in picks": max(pauses)}


def _redis_master(prefix: str) -> dict[str, float]:
    from tests import servers

    with servers.redis_sentinel() as sentinel, \
            _registry(store=sentinel.url, store_prefix=prefix,
                      sweep_interval=0.2) as reg, \
            _registered(reg) as workers:
        _wait(lambda: _listed(reg) == workers)
        old_master = sentinel.master_port()
        sentinel.master.kill9()
        killed = time.monotonic()
        promoted = _wait(lambda: sentinel.master_port() != old_master, interval=0.05)
        healed = _wait(lambda: reg.stats()["store_reachable"]
                       and _listed(reg) == workers)
        return {"redis master killed: sentinels promote": promoted - killed,
                "redis master killed: actors pickable again": healed - promoted}


def _node_among_three(prefix: str) -> dict[str, float]:
    import registry
    from registry._nodes import RegistryNodes
    from tests import servers

    with servers.etcd() as cluster, contextlib.ExitStack() as stack:
        nodes = [stack.enter_context(_registry(store=cluster.url, store_prefix=prefix))
                 for _ in range(3)]
        addresses = [node.connection_address for node in nodes]
        stack.enter_context(_registered(addresses, count=1))
        owner = RegistryNodes(addresses, KEY, timeout=5)
        token = owner.call("open_lease", TTL)
        owner.call("renew", token)
        with registry.connect_actor(addresses, _worker_class(), KEY, name="Worker",
                                    timeout=5):
            pass
        process = nodes[0].snapshot(False)["node"]["pid"]
        os.kill(process, signal.SIGKILL)
        killed = time.monotonic()
        owner.call("renew", token)
        renewed = time.monotonic()
        with registry.connect_actor(addresses, _worker_class(), KEY, name="Worker",
                                    timeout=5):
            connected = time.monotonic()
        return {"node killed among three: owner renews": renewed - killed,
                "node killed among three: client connects": connected - renewed}


def _wiped(kind: str, prefix: str) -> dict[str, float]:
    from tests import servers

    store = servers.etcd() if kind == "etcd" else servers.redis()
    with store as server, \
            _registry(store=server.url, store_prefix=prefix, sweep_interval=0.2) as reg, \
            _registered(reg) as workers:
        _wait(lambda: _listed(reg) == workers)
        registered = reg.stats()["registered"]
        _wipe(kind, server, prefix)
        wiped = time.monotonic()
        # Healed once the heartbeat registered all of them again (the view
        # may go on showing them meanwhile: picks never stopped).
        healed = _wait(lambda: reg.stats()["registered"] >= registered + len(workers)
                       and _listed(reg) == workers)
        return {f"keys wiped ({kind}): actors registered again": healed - wiped}


def _wipe(kind: str, server: Any, prefix: str) -> None:
    import base64

    from tests import servers

    if kind == "etcd":
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        servers.etcd_request(server.ports[0], "/v3/kv/deleterange", {
            "key": base64.b64encode(prefix.encode()).decode(),
            "range_end": base64.b64encode(end.encode()).decode()})
        return
    client = server.client()
    try:
        client.delete(*client.keys(f"{prefix}*"))
    finally:
        client.close()


SCENARIOS: dict[str, Callable[[str], dict[str, float]]] = {
    "etcd leader": _etcd_leader,
    "redis master": _redis_master,
    "node among three": _node_among_three,
    "etcd keys wiped": lambda prefix: _wiped("etcd", prefix),
    "redis keys wiped": lambda prefix: _wiped("redis", prefix),
}

TARGETS = {
    "etcd leader killed: registrations resume": "target < 2 s",
    "redis master killed: actors pickable again": "target: one heartbeat period, 1 s",
    "node killed among three: owner renews": "target < 1 s",
    "node killed among three: client connects": "target < 1 s",
    "keys wiped (etcd): actors registered again": "target: one heartbeat period, 1 s",
    "keys wiped (redis): actors registered again": "target: one heartbeat period, 1 s",
}


def run(quick: bool, only: Sequence[str] | None = None) -> list[dict]:
    if not group_selected(GROUP, only):
        return []
    samples = 1 if quick else 5
    rows: list[dict] = []
    for scenario, measure in SCENARIOS.items():
        results: dict[str, list[float]] = {}
        try:
            for sample in range(samples):
                progress(f"registry-failover: {scenario} ({sample + 1}/{samples})")
                for name, seconds in measure(f"bench-failover-{sample}/").items():
                    results.setdefault(name, []).append(seconds)
        except Exception as exc:  # a missing server skips one scenario, not all
            if type(exc).__name__ not in ("Skipped", "ServerFailed"):
                raise
            rows.append(skipped_row(GROUP, f"{scenario}: skipped", "s", str(exc)))
            continue
        for name, values in results.items():
            pause = "pause" in name
            rows.append(make_row(
                GROUP, name, values, "ms" if pause else "s",
                f"{len(values)} runs; {TARGETS.get(name, 'for reference')}",
                scale=1e3 if pause else 1.0))
    return rows
