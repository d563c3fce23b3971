"""Registry stores at scale (issue 11): one node holding many leased actors.

Groups (``python -m bench --only GROUP``):

``registry-stores-cpu``
    CPU of the registry node's process (cores) while it holds 100,000 live
    actors registered by 1,000 simulated owner processes, each owner renewing
    its one lease every ``ttl / 3`` (TTL 5 s: 600 renewals a second), for the
    memory, etcd and Redis stores.  Target: under half a core.
``registry-stores-ops``
    The store operations per second the node makes meanwhile (the CPU of the
    store's own server process is in the CPU group).
``registry-stores-visibility``
    An actor registered through node A is pickable through node B (same
    store) after how long (ms, p50 and p99 of many samples, measured while
    the load above runs), for etcd and Redis.  Target: p99 under 100 ms.

Owners are simulated by a few client processes, each holding its share of
the leases and renewing each on its own schedule, spread evenly; registering
the actors (through the node) is not timed.  Store servers are started on
free loopback ports with temporary data directories (tests/servers.py) and
stopped after; a store whose server is not installed gives skipped rows.
"""
from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import queue
import statistics
import time
from collections.abc import Iterator, Sequence
from typing import Any

from bench._harness import group_selected, make_row, progress, skipped_row

GROUPS = ("registry-stores-cpu", "registry-stores-ops", "registry-stores-visibility")

STORES = ("memory", "etcd", "redis")

#: Authkey of the benchmark registries (loopback only).
KEY = b"bench-registry-stores"

#: Lease of the simulated owners (s), as the registry's default.
TTL = 5.0

#: Client processes simulating the owners.
SIMULATORS = 4

#: Seconds a simulator may take to register its share before the run fails.
POPULATE_TIMEOUT = 600.0


@dataclasses.dataclass(frozen=True)
class Scale:
    actors: int
    owners: int
    windows: int  # CPU measurement windows
    window: float  # seconds each
    visibility_samples: int


QUICK = Scale(actors=10_000, owners=100, windows=2, window=3.0, visibility_samples=30)
FULL = Scale(actors=100_000, owners=1_000, windows=5, window=10.0, visibility_samples=300)


def _address(owner: int, index: int) -> tuple[str, int]:
    return f"10.{owner >> 8 & 255}.{owner & 255}.{index & 255}", 1000 + (index >> 8)


# --------------------------------------------------------------------------
# Simulated owners
# --------------------------------------------------------------------------

def _simulator(address: tuple[str, int], owners: Sequence[int], per_owner: int,
               ready: Any, stop: Any, results: Any) -> None:
    """Process entry point: register ``per_owner`` actors for each owner, then
    renew each owner's lease every TTL / 3 until ``stop``; report counts."""
    import registry

    proxy = registry.Registry.connect(address, KEY, timeout=60)
    leases: list[str] = []
    renewed_at = time.monotonic()
    for owner in owners:
        lease = proxy.open_lease(TTL, pid=100_000 + owner, hostname=f"owner-{owner}")
        proxy.register(*(_address(owner, index) for index in range(per_owner)),
                       name="bench", lease=lease)
        leases.append(lease)
        if time.monotonic() - renewed_at > TTL / 4:  # keep the earlier ones alive
            for earlier in leases:
                proxy.renew(earlier)
            renewed_at = time.monotonic()
    for lease in leases:  # every lease fresh before the schedule starts
        proxy.renew(lease)
    ready.put(len(leases))
    interval = TTL / 3
    spacing = interval / max(1, len(leases))
    renewed = lost = late = failed = 0
    start = time.monotonic()
    beat = 0
    while not stop.is_set():
        for position, lease in enumerate(leases):
            due = start + beat * interval + position * spacing
            delay = due - time.monotonic()
            if delay > 0:
                if stop.wait(delay):
                    break
            elif delay < -interval:
                late += 1
            try:
                proxy.renew(lease)
                renewed += 1
            except registry.UnknownLeaseError:
                lost += 1
            except registry.StoreUnavailableError:
                failed += 1
        beat += 1
    results.put({"renewed": renewed, "lost": lost, "late": late, "failed": failed})


@contextlib.contextmanager
def _owners(address: tuple[str, int], scale: Scale) -> Iterator[Any]:
    """Simulated owners registering ``scale.actors`` and renewing until exit."""
    ctx = multiprocessing.get_context("fork")
    ready, results, stop = ctx.Queue(), ctx.Queue(), ctx.Event()
    per_owner = scale.actors // scale.owners
    shares = [list(range(i, scale.owners, SIMULATORS)) for i in range(SIMULATORS)]
    procs = [ctx.Process(target=_simulator,
                         args=(address, share, per_owner, ready, stop, results))
             for share in shares]
    for proc in procs:
        proc.start()
    reports: list[dict] = []
    try:
        deadline = time.monotonic() + POPULATE_TIMEOUT
        waiting = len(procs)
        while waiting:
            if time.monotonic() > deadline or not all(p.is_alive() for p in procs):
                raise RuntimeError("a simulated owner failed while registering")
            with contextlib.suppress(queue.Empty):
                ready.get(timeout=1)
                waiting -= 1
        yield reports
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            for _ in procs:
                reports.append(results.get(timeout=30))
        for proc in procs:
            proc.join(30)
            if proc.is_alive():
                proc.kill()
                proc.join(10)
        for channel in (ready, results):
            channel.close()
            channel.join_thread()


# --------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------

@contextlib.contextmanager
def _store(kind: str) -> Iterator[tuple[str, int | None]]:
    """``(store URL, server pid)`` of a fresh store of ``kind``."""
    if kind == "memory":
        yield "memory://", None
        return
    from tests import servers

    if kind == "etcd":
        with servers.etcd() as cluster:
            yield cluster.url, cluster.members[0].pid
    else:
        with servers.redis() as server:
            yield server.url, server.server.pid


def _cpu(pid: int) -> float:
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def _node_pid(node: Any) -> int:
    """The node's process id (from its own snapshot: one call, before measuring)."""
    return int(node.snapshot()["node"]["pid"])


def _measure_load(node: Any, store_pid: int | None, scale: Scale
                  ) -> tuple[list[float], list[float], list[float]]:
    """Per window: node CPU (cores), store ops/s, store server CPU (cores)."""
    node_pid = _node_pid(node)
    cores, ops, store_cores = [], [], []
    for _ in range(scale.windows):
        cpu0, count0 = _cpu(node_pid), node.stats()["store_operations"]
        store0 = _cpu(store_pid) if store_pid else 0.0
        started = time.monotonic()
        time.sleep(scale.window)
        elapsed = time.monotonic() - started
        cores.append((_cpu(node_pid) - cpu0) / elapsed)
        ops.append((node.stats()["store_operations"] - count0) / elapsed)
        if store_pid:
            store_cores.append((_cpu(store_pid) - store0) / elapsed)
    return cores, ops, store_cores


def _visibility(node_a: Any, node_b: Any, samples: int) -> list[float]:
    """Seconds from registering through A until B hands the entry out."""
    import registry

    lease = node_a.open_lease(600)
    delays = []
    for sample in range(samples):
        name = f"visible-{sample}"
        started = time.perf_counter()
        node_a.register_entry(("10.250.0.1", 1 + sample), lease=lease, name=name)
        deadline = started + 10
        while time.perf_counter() < deadline:
            try:
                if node_b.pick(name) is not None:
                    break
            except registry.UnknownNameError:
                pass
        delays.append(time.perf_counter() - started)
    node_a.close_lease(lease)
    return delays


def _bench_store(kind: str, scale: Scale, selected: Sequence[str]) -> list[dict]:
    import registry
    import uactor

    options = {"address": ("127.0.0.1", 0), "authkey": KEY}
    rows: list[dict] = []
    what = f"{scale.actors:,} actors, {scale.owners:,} owners, TTL {TTL:g} s"
    with _store(kind) as (url, store_pid), \
            uactor.start(registry.Registry, options=options, store=url,
                         store_prefix="bench/") as node:
        progress(f"registry-stores: {kind}: registering {what}")
        started = time.monotonic()
        with _owners(node.connection_address, scale) as reports:
            populated = time.monotonic() - started
            held = node.stats()["entries"]
            progress(f"registry-stores: {kind}: {held} held after {populated:.0f} s; "
                     f"measuring")
            cores, ops, store_cores = _measure_load(node, store_pid, scale)
            visibility: list[float] = []
            if kind != "memory" and "registry-stores-visibility" in selected:
                with uactor.start(registry.Registry, options=options, store=url,
                                  store_prefix="bench/") as node_b:
                    visibility = _visibility(node, node_b, scale.visibility_samples)
        lost = sum(report["lost"] for report in reports)
        failed = sum(report["failed"] for report in reports)
        renewed = sum(report["renewed"] for report in reports)
        note = (f"{what}; {held:,} held; {renewed:,} renewals, {failed} failed "
                f"(store too slow), {lost} leases lost")
        rows.append(make_row("registry-stores-cpu", f"{kind}: node CPU", cores,
                             "cores", f"{note}; target < 0.5 core"))
        rows.append(make_row("registry-stores-ops", f"{kind}: store operations", ops,
                             "ops/s", note))
        if store_cores:
            rows.append(make_row("registry-stores-cpu", f"{kind}: store server CPU",
                                 store_cores, "cores", note))
        if visibility:
            p99 = statistics.quantiles(visibility, n=100, method="inclusive")[98]
            rows.append(make_row(
                "registry-stores-visibility", f"{kind}: A -> B, median", visibility,
                "ms", f"{len(visibility)} samples under load", scale=1e3))
            rows.append(make_row(
                "registry-stores-visibility", f"{kind}: A -> B, p99", [p99], "ms",
                f"{len(visibility)} samples under load; target < 100 ms", scale=1e3))
    return rows


def run(quick: bool, only: Sequence[str] | None = None) -> list[dict]:
    """Rows for every selected group, store by store."""
    scale = QUICK if quick else FULL
    selected = [group for group in GROUPS if group_selected(group, only)]
    rows: list[dict] = []
    for kind in STORES:
        try:
            rows += _bench_store(kind, scale, selected)
        except Exception as exc:  # a missing server skips one store, not all
            if type(exc).__name__ not in ("Skipped", "ServerFailed"):
                raise
            for group in selected:
                rows.append(skipped_row(group, f"{kind}: skipped", "", str(exc)))
    return rows
