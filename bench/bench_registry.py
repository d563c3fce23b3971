"""Registry benchmarks (issue 3): picks and registrations per second.

Groups (``python -m bench --only GROUP``):

``registry-table``
    cost of one operation on the registry's data structure in-process, with
    no IPC (us): ``pick``, renewing a known address and registering a new one,
    with 10 and with 10,000 entries.  This is where O(1) shows: the 10,000
    rows carry a target of at most 2x the 10-entry cost.
``registry-pick``
    ``Registry.pick()`` through proxies over TCP loopback (ops/s), from one
    client and from 4 client processes at once, with 10 and 10,000 entries.
``registry-register``
    ``Registry.register_entry()`` of a new address with a lease (ops/s), the
    call the helpers' heartbeats make, same clients and sizes.
``registry-http``
    how long ``/healthz`` and ``/readyz`` of a node (``python -m registry
    --http 0``) take to answer (ms), idle and while client processes keep it
    busy with picks and registrations.  Requests are spaced beyond the
    snapshot's freshness period, so each one makes the actor answer (as
    orchestrators' probes, seconds apart, do).  Target (issue 13): 50 ms.

The registry actors (one per size) run in their own processes and are sampled
in turn, order rotated every round, so drift on the machine hits both sizes
alike.  Client processes are forked and released together by an event; the
clock runs from that release until the last one reports.  Registrations use
fresh addresses, removed again between samples, so sizes stay as stated.
Every loop is bounded by the budget below.
"""
from __future__ import annotations

import dataclasses
import http.client
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from bench._harness import (
    gc_paused,
    group_selected,
    make_row,
    progress,
    target,
    time_batch,
)

GROUPS = ("registry-table", "registry-pick", "registry-register", "registry-http")

#: Entry counts compared in every group.
SIZES = (10, 10_000)

#: Client processes in the multi-client rows.
CLIENTS = 4

#: Authkey of the benchmark registry (loopback only).
KEY = b"bench-registry"

#: Lease given to benchmark registrations (s): long enough never to expire.
TTL = 3600.0

#: Seconds a client process may take to report before the run fails.
CLIENT_TIMEOUT = 120.0


@dataclasses.dataclass(frozen=True)
class Budget:
    """Sample counts; every loop in this module is bounded by these."""

    table_samples: int
    table_batch: int
    proxy_samples: int
    proxy_calls: int  # per client per sample
    http_samples: int  # requests per row


QUICK = Budget(table_samples=15, table_batch=2000, proxy_samples=3, proxy_calls=300,
               http_samples=15)
FULL = Budget(table_samples=60, table_batch=20000, proxy_samples=9, proxy_calls=2000,
              http_samples=60)


def _addresses(count: int, first_octet: int = 10) -> list[tuple[str, int]]:
    """``count`` distinct syntactically valid addresses (nothing listens there)."""
    return [(f"{first_octet}.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}",
             1000 + i % 50000) for i in range(count)]


# --------------------------------------------------------------------------
# In-process data structure
# --------------------------------------------------------------------------

def _timed_new_registrations(table: Any, fresh: list[tuple[str, int]]) -> float:
    """Seconds per registration of ``fresh`` addresses, removed again after
    (untimed), so the table keeps its size from one sample to the next."""
    with gc_paused():
        start = time.perf_counter()
        for address in fresh:
            table.put(address, "bench", name="bench")
        elapsed = time.perf_counter() - start
    for address in fresh:
        table.remove(address)
    return elapsed / len(fresh)


def _table_samplers(size: int, batch: int) -> dict[str, Callable[[], float]]:
    """One sampler per operation on a Table of ``size`` entries, by row name."""
    from registry._table import Table

    table = Table()
    table.grant("bench", TTL)
    for address in _addresses(size):
        table.put(address, "bench", name="bench")
    known = _addresses(size)[size // 2]
    fresh = _addresses(batch, 11)
    return {
        "pick": lambda: time_batch(lambda: table.pick("bench"), batch),
        "renew (known address)": lambda: time_batch(
            lambda: table.put(known, "bench", name="bench"), batch),
        "register (new address)": lambda: _timed_new_registrations(table, fresh),
    }


def bench_table(budget: Budget) -> list[dict]:
    group = "registry-table"
    samplers = {size: _table_samplers(size, budget.table_batch) for size in SIZES}
    samples: dict[tuple[int, str], list[float]] = {
        (size, op): [] for size in SIZES for op in samplers[size]}
    for round_index in range(budget.table_samples):
        # Sizes sampled in turn, order rotated, so drift hits both alike.
        for size in SIZES[round_index % 2:] + SIZES[:round_index % 2]:
            for op, sampler in samplers[size].items():
                samples[size, op].append(sampler())
    rows: list[dict] = []
    for (size, op), values in samples.items():
        extra: dict[str, Any] = {}
        if size == SIZES[-1]:
            # 1000x the entries: O(n) would cost ~1000x; cache misses alone
            # may cost a little, hence 2x.
            extra["targets"] = [target(f"{op}, {SIZES[0]} entries", "<=", 2.0,
                                       "O(1): <= 2x the 10-entry cost")]
        rows.append(make_row(group, f"{op}, {size} entries", values, "us",
                             "in-process Table, no IPC", scale=1e6, **extra))
    return rows


# --------------------------------------------------------------------------
# Through proxies
# --------------------------------------------------------------------------

def _client(address: tuple[str, int], op: str, index: int, calls: int,
            ready: Any, go: Any, results: Any) -> None:
    """Client process: connect, wait for ``go``, make ``calls`` calls, report."""
    import registry

    proxy = registry.Registry.connect(address, KEY, timeout=60)
    proxy.pick("bench")  # open this process's connection outside the clock
    lease = proxy.open_lease(TTL)
    fresh = _addresses(calls, 20 + index)
    ready.put(index)
    go.wait(CLIENT_TIMEOUT)
    if op == "pick":
        pick = proxy.pick
        for _ in range(calls):
            pick("bench")
    else:
        register = proxy.register_entry
        for address_ in fresh:
            register(address_, lease=lease, name="bench")
    results.put((index, time.perf_counter()))
    proxy.close_lease(lease)  # untimed: the registry keeps its size


def _multi_client_rate(ctx: Any, address: tuple[str, int], op: str,
                       calls: int) -> float:
    """ops/s of CLIENTS processes at once (each removes what it registered)."""
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_client,
                         args=(address, op, i, calls, ready, go, results))
             for i in range(CLIENTS)]
    for proc in procs:
        proc.start()
    try:
        for _ in procs:
            ready.get(timeout=CLIENT_TIMEOUT)
        start = time.perf_counter()
        go.set()
        ends = [results.get(timeout=CLIENT_TIMEOUT)[1] for _ in procs]
    finally:
        for proc in procs:
            proc.join(CLIENT_TIMEOUT)
            if proc.is_alive():
                proc.kill()
                proc.join(10)
        for queue_ in (ready, results):
            queue_.close()
            queue_.join_thread()
    elapsed = max(ends) - start
    return CLIENTS * calls / elapsed


def _registrar(reg: Any, addresses: list[tuple[str, int]], lease: str
               ) -> Callable[[], Any]:
    """A call registering the next of ``addresses`` on each invocation."""
    fresh = iter(addresses)
    register = reg.register_entry
    return lambda: register(next(fresh), lease=lease, name="bench")


def _proxy_sample(ctx: Any, reg: Any, op: str, calls: int, tag: int
                  ) -> tuple[float, float]:
    """One single-client and one multi-client rate (ops/s) of ``op`` on ``reg``.

    Registrations use fresh addresses, unregistered again afterwards
    (untimed), so the registry keeps its size.
    """
    if op == "pick":
        single = 1.0 / time_batch(lambda: reg.pick("bench"), calls)
    else:
        fresh = _addresses(calls, 30 + tag % 200)
        lease = reg.open_lease(TTL)
        single = 1.0 / time_batch(_registrar(reg, fresh, lease), calls)
        reg.close_lease(lease)
    multi = _multi_client_rate(ctx, reg.connection_address, op, calls)
    return single, multi


def bench_proxy(budget: Budget, only_groups: Sequence[str]) -> list[dict]:
    import registry
    import uactor

    ctx = multiprocessing.get_context("fork")
    options = {"address": ("127.0.0.1", 0), "authkey": KEY}
    ops = [(op, group) for op, group in (("pick", "registry-pick"),
                                         ("register", "registry-register"))
           if group in only_groups]
    rates: dict[tuple[str, int, int], list[float]] = {
        (op, size, clients): [] for op, _ in ops for size in SIZES
        for clients in (1, CLIENTS)}
    registries = {}
    try:
        for size in SIZES:
            reg = registries[size] = uactor.start(registry.Registry, options=options)
            base = _addresses(size)
            for start in range(0, size, 1000):  # bounded message sizes
                reg.register(*base[start:start + 1000], name="bench", ttl=TTL)
        for round_index in range(budget.proxy_samples):
            progress(f"registry-pick/register: round {round_index + 1} of "
                     f"{budget.proxy_samples}")
            # Both sizes in every round, order rotated: drift hits both alike.
            for size in SIZES[round_index % 2:] + SIZES[:round_index % 2]:
                for op, _ in ops:
                    single, multi = _proxy_sample(ctx, registries[size], op,
                                                  budget.proxy_calls, round_index)
                    rates[op, size, 1].append(single)
                    rates[op, size, CLIENTS].append(multi)
        for size, reg in registries.items():
            if reg.stats()["entries"] != size:
                raise RuntimeError("the benchmark left entries behind")
    finally:
        for reg in registries.values():
            reg.shutdown()
    rows: list[dict] = []
    for op, group in ops:
        what = "picks" if op == "pick" else "new registrations (ttl)"
        for size in SIZES:
            for clients in (1, CLIENTS):
                who = "1 client" if clients == 1 else f"{clients} clients"
                how = "one thread" if clients == 1 else f"{clients} processes"
                extra: dict[str, Any] = {}
                if size == SIZES[-1]:
                    extra["targets"] = [target(
                        f"{who}, {SIZES[0]} entries", ">=", 0.75,
                        "flat: >= 0.75x the 10-entry rate")]
                rows.append(make_row(group, f"{who}, {size} entries",
                                     rates[op, size, clients], "ops/s",
                                     f"{what} over TCP loopback; {how}", **extra))
    return rows


# --------------------------------------------------------------------------
# HTTP health and readiness under load
# --------------------------------------------------------------------------

#: The target row of the registry-http group: issue 13's bound (ms).
HTTP_REFERENCE = "target (issue 13)"
HTTP_TARGET_MS = 50.0

#: Client processes keeping the node busy in the "under load" rows.
LOAD_CLIENTS = 2

#: Seconds a node subprocess may take to print its two ready lines.
NODE_STARTUP = 60.0

#: Longest a load client runs whatever happens (s): every loop is bounded.
LOAD_LIMIT = 900.0


def _start_node() -> tuple[subprocess.Popen, tuple[str, int], tuple[str, int]]:
    """A node with --http on free ports: ``(process, node address, http address)``."""
    env = dict(os.environ, UACTOR_AUTHKEY=KEY.decode())
    proc = subprocess.Popen(
        [sys.executable, "-m", "registry", "--port", "0", "--http", "0",
         "--no-advertise", "--log-level", "WARNING"],
        env=env, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    watchdog = threading.Timer(NODE_STARTUP, proc.kill)  # bounds the reads below
    watchdog.start()
    try:
        ready, url = proc.stdout.readline(), proc.stdout.readline()
    finally:
        watchdog.cancel()
    if not url.startswith("status page on http://"):
        _stop_node(proc)
        raise RuntimeError(f"the node did not start: {ready!r} {url!r}")
    # "registry listening on HOST:PORT (authkey ...)": the address follows "on".
    words = ready.split()
    host, _, port = words[words.index("on") + 1].rpartition(":")
    http_host, _, http_port = url.split("//")[1].rstrip("/\n").rpartition(":")
    return proc, (host, int(port)), (http_host, int(http_port))


def _stop_node(proc: subprocess.Popen) -> None:
    """SIGTERM (a clean stop), then SIGKILL if it does not come."""
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(30)
    proc.stdout.close()


def _load_client(address: tuple[str, int], index: int, stop: Any, done: Any) -> None:
    """Process entry point: picks and registrations (3:1) until ``stop``."""
    import registry

    proxy = registry.Registry.connect(address, KEY, timeout=60)
    own = _addresses(50, 40 + index)
    lease = proxy.open_lease(TTL)
    calls = 0
    limit = time.monotonic() + LOAD_LIMIT
    while not stop.is_set() and time.monotonic() < limit:
        if calls % 4 == 3:
            proxy.register(own[calls % len(own)], name="bench", lease=lease)
        else:
            proxy.pick("bench")
        calls += 1
    done.put(calls)


def _answer_times(address: tuple[str, int], path: str, count: int) -> list[float]:
    """Seconds each of ``count`` GETs of ``path`` took, each on a new
    connection, spaced so every one needs a fresh answer from the actor."""
    from registry._http import MAX_SNAPSHOT_AGE

    times = []
    for _ in range(count):
        time.sleep(MAX_SNAPSHOT_AGE + 0.05)
        started = time.perf_counter()
        conn = http.client.HTTPConnection(*address, timeout=10)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
        finally:
            conn.close()
        times.append(time.perf_counter() - started)
        if response.status != 200:
            raise RuntimeError(f"{path} answered {response.status}")
    return times


def bench_http(budget: Budget) -> list[dict]:
    group = "registry-http"
    ctx = multiprocessing.get_context("fork")
    proc, node, http_address = _start_node()
    samples: dict[str, list[float]] = {}
    rate = 0.0
    try:
        import registry

        registry.Registry.connect(node, KEY, timeout=60).register(
            *_addresses(100), name="bench", ttl=TTL)
        progress("registry-http: idle")
        samples["healthz, idle"] = _answer_times(http_address, "/healthz",
                                                 budget.http_samples)
        stop, done = ctx.Event(), ctx.Queue()
        clients = [ctx.Process(target=_load_client, args=(node, i, stop, done))
                   for i in range(LOAD_CLIENTS)]
        for client in clients:
            client.start()
        try:
            progress("registry-http: under load")
            started = time.perf_counter()
            for path in ("/healthz", "/readyz"):
                samples[f"{path[1:]}, under load"] = _answer_times(
                    http_address, path, budget.http_samples)
            stop.set()
            calls = sum(done.get(timeout=CLIENT_TIMEOUT) for _ in clients)
            rate = calls / (time.perf_counter() - started)
        finally:
            stop.set()
            for client in clients:
                client.join(CLIENT_TIMEOUT)
                if client.is_alive():
                    client.kill()
                    client.join(10)
            done.close()
            done.join_thread()
    finally:
        _stop_node(proc)
    goal = [target(HTTP_REFERENCE, "<=", 1.0, f"<= {HTTP_TARGET_MS:g} ms")]
    rows = [{"group": group, "name": HTTP_REFERENCE, "value": HTTP_TARGET_MS,
             "unit": "ms", "samples": 0, "reference": True,
             "note": "issue 13 bound (median), not a measurement"}]
    for name, values in samples.items():
        load = ("no load" if "idle" in name else
                f"{LOAD_CLIENTS} processes making {rate:,.0f} picks and "
                f"registrations/s meanwhile")
        rows.append(make_row(group, name, values, "ms",
                             f"GET, new connection each, fresh actor answer; {load}; "
                             f"max {max(values) * 1e3:.1f} ms", scale=1e3,
                             targets=goal if "load" in name else []))
    return rows


def run(quick: bool, only: Sequence[str] | None = None) -> list[dict]:
    """Rows for every registry group (``only``: group filter from the harness)."""
    budget = QUICK if quick else FULL
    selected = [group for group in GROUPS if group_selected(group, only)]
    rows: list[dict] = []
    if "registry-table" in selected:
        progress("registry-table")
        rows += bench_table(budget)
    if {"registry-pick", "registry-register"} & set(selected):
        rows += bench_proxy(budget, selected)
    if "registry-http" in selected:
        rows += bench_http(budget)
    return rows
