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

The registry actor runs in its own process; client processes are forked and
released together by an event, and the clock runs from that release until the
last one reports.  Every loop is bounded by the budget below.
"""
from __future__ import annotations

import dataclasses
import multiprocessing
import time
from collections.abc import Callable, Sequence
from typing import Any

from bench._harness import group_selected, make_row, progress, target, time_batch

GROUPS = ("registry-table", "registry-pick", "registry-register")

#: Entry counts compared in every group.
SIZES = (10, 10_000)

#: Client processes in the multi-client rows.
CLIENTS = 4

#: Authkey of the benchmark registry (loopback only).
KEY = b"bench-registry"

#: Lease given to benchmark registrations (s): long enough never to expire.
TTL = 600.0

#: Seconds a client process may take to report before the run fails.
CLIENT_TIMEOUT = 120.0


@dataclasses.dataclass(frozen=True)
class Budget:
    """Sample counts; every loop in this module is bounded by these."""

    table_samples: int
    table_batch: int
    proxy_samples: int
    proxy_calls: int  # per client per sample


QUICK = Budget(table_samples=15, table_batch=2000, proxy_samples=3, proxy_calls=300)
FULL = Budget(table_samples=60, table_batch=20000, proxy_samples=9, proxy_calls=2000)


def _addresses(count: int, first_octet: int = 10) -> list[tuple[str, int]]:
    """``count`` distinct syntactically valid addresses (nothing listens there)."""
    return [(f"{first_octet}.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}",
             1000 + i % 50000) for i in range(count)]


# --------------------------------------------------------------------------
# In-process data structure
# --------------------------------------------------------------------------

def _table_contenders(size: int, fresh_count: int) -> dict[str, Callable[[], Any]]:
    """Operations on a Table holding ``size`` entries, by row name."""
    from registry._table import Table

    table = Table()
    for address in _addresses(size):
        table.add(address, name="bench", ttl=TTL)
    known = _addresses(size)[size // 2]
    fresh = iter(_addresses(fresh_count, 11))
    return {
        "pick": lambda: table.pick("bench"),
        "renew (known address)": lambda: table.add(known, name="bench", ttl=TTL),
        "register (new address)": lambda: table.add(next(fresh), name="bench",
                                                    ttl=TTL),
    }


def bench_table(budget: Budget) -> list[dict]:
    group = "registry-table"
    rows: list[dict] = []
    for size in SIZES:
        contenders = _table_contenders(
            size, budget.table_samples * budget.table_batch + 1)
        for op, call in contenders.items():
            samples = [time_batch(call, budget.table_batch)
                       for _ in range(budget.table_samples)]
            extra: dict[str, Any] = {}
            if size == SIZES[-1]:
                # 1000x the entries: O(n) would cost ~1000x; cache misses
                # alone may cost a little, hence 2x.
                extra["targets"] = [target(f"{op}, {SIZES[0]} entries", "<=", 2.0,
                                           "O(1): <= 2x the 10-entry cost")]
            rows.append(make_row(group, f"{op}, {size} entries", samples, "us",
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
            register(address_, name="bench", ttl=TTL)
    results.put((index, time.perf_counter()))


def _multi_client_rate(ctx: Any, address: tuple[str, int], op: str,
                       calls: int) -> tuple[float, list[tuple[str, int]]]:
    """ops/s of CLIENTS processes at once; also the addresses they registered."""
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
    registered = [a for i in range(CLIENTS) for a in _addresses(calls, 20 + i)] \
        if op == "register" else []
    return CLIENTS * calls / elapsed, registered


def _registrar(reg: Any, addresses: list[tuple[str, int]]) -> Callable[[], Any]:
    """A call registering the next of ``addresses`` on each invocation."""
    fresh = iter(addresses)
    register = reg.register_entry
    return lambda: register(next(fresh), name="bench", ttl=TTL)


def bench_proxy(budget: Budget, only_groups: Sequence[str]) -> list[dict]:
    import registry
    import uactor

    ctx = multiprocessing.get_context("fork")
    rows: list[dict] = []
    options = {"address": ("127.0.0.1", 0), "authkey": KEY}
    for size in SIZES:
        with uactor.start(registry.Registry, options=options) as reg:
            base = _addresses(size)
            for start in range(0, size, 1000):  # bounded message sizes
                reg.register(*base[start:start + 1000], name="bench", ttl=TTL)
            address = reg.connection_address
            for op, group in (("pick", "registry-pick"),
                              ("register", "registry-register")):
                if group not in only_groups:
                    continue
                progress(f"{group}: {size} entries")
                single: list[float] = []
                multi: list[float] = []
                for sample in range(budget.proxy_samples):
                    fresh = _addresses(budget.proxy_calls, 30 + sample % 200)
                    if op == "pick":
                        elapsed = time_batch(lambda: reg.pick("bench"),
                                             budget.proxy_calls)
                    else:
                        elapsed = time_batch(_registrar(reg, fresh), budget.proxy_calls)
                        reg.unregister(*fresh)
                    single.append(1.0 / elapsed)
                    rate, registered = _multi_client_rate(ctx, address, op,
                                                          budget.proxy_calls)
                    for start in range(0, len(registered), 1000):
                        reg.unregister(*registered[start:start + 1000])
                    multi.append(rate)
                assert reg.stats()["entries"] == size  # nothing left behind
                what = "picks" if op == "pick" else "new registrations (ttl)"
                for clients, samples in ((1, single), (CLIENTS, multi)):
                    extra: dict[str, Any] = {}
                    if size == SIZES[-1]:
                        extra["targets"] = [target(
                            f"{clients} client{'s' if clients > 1 else ''}, "
                            f"{SIZES[0]} entries", ">=", 0.75,
                            "flat: >= 0.75x the 10-entry rate")]
                    rows.append(make_row(
                        group,
                        f"{clients} client{'s' if clients > 1 else ''}, {size} entries",
                        samples, "ops/s",
                        f"{what} over TCP loopback; "
                        f"{'one thread' if clients == 1 else f'{clients} processes'}",
                        **extra))
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
    return rows
