"""Core benchmarks: uactor against its floors and its peers (issue 6).

Groups (``python -m bench --only GROUP``):

``coldstart``
    start an actor, make the first call, shut it down and wait until its
    process is gone (ms); uactor vs BaseManager.
``memory-rss``, ``memory-uss``
    resident and unique memory of an idle actor process after one call (MB).
``latency-local``
    sequential round trip of a trivial call over the local transport (us):
    Pipe echo, BaseManager, uactor; uactor with a default call timeout set on
    the proxy ("deadline set") and with each call in ``uactor.deadline()``
    ("deadline block"), to show what a deadline costs when one is set.
``latency-tcp``
    the same over TCP loopback with an authkey (uactor's frames are tagged on
    TCP: it pays for frame authentication, the floors do not), uactor over
    IPv6 loopback (``::1``) and with an allow-list decoder
    (``allowed_classes``), plus Pyro5 (serpent and marshal) and RPyC on
    127.0.0.1 (no authkey: they have none).
``throughput-1actor``, ``throughput-4actors``
    calls per second from 4 threads on one actor, and from 4 threads each
    driving its own actor (ops/s).
``latency-async``
    one awaited call (``await uactor.call_async(proxy.ping)``, sequential, in
    a running event loop) against one synchronous call, same actor, same
    rounds (us).
``throughput-pipelined``, ``throughput-pipelined-tcp``
    calls per second from one client process: one synchronous caller (the
    floor), four synchronous threads, and one asyncio task group keeping
    64 calls in flight on the loop's pipelined connection; over the local
    transport and over TCP loopback with an authkey (ops/s).
``async-methods``
    wall time of 100 concurrent awaited calls of a coroutine method that
    awaits ``asyncio.sleep(1)``, against ``asyncio.sleep(1)`` x100 gathered
    in this process (s).
``payload-bytes``, ``payload-numpy``, ``payload-tcp``
    echo of a 10 MB ``bytes`` / numpy ``float64`` array (MB/s = payload bytes
    one way / round-trip seconds / 1e6); local transport, and numpy over TCP.
    The numpy groups also echo 10 MB as ``bytes`` and as ``bytearray``
    through uactor ("uactor bytes", "uactor bytearray"), next to the numpy
    row and the floor of the same run.

Every server runs in its own process on this host; the client loops here are
bounded (fixed sample counts) and contenders are sampled in turn so that drift
on the machine hits them alike.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import gc
import inspect
import time
import traceback
from collections.abc import Iterator
from types import ModuleType
from typing import Any, Callable

from bench import _floors, peers
from bench._harness import (
    apply_placement,
    gc_paused,
    group_selected,
    interleave,
    make_row,
    progress,
    rate_row,
    skipped_row,
    target,
    threaded_rate,
    time_batch,
    wait_pid_gone,
)

GROUPS = ("coldstart", "memory-rss", "memory-uss", "latency-local", "latency-tcp",
          "throughput-1actor", "throughput-4actors", "latency-async",
          "throughput-pipelined", "throughput-pipelined-tcp", "async-methods",
          "payload-bytes", "payload-numpy", "payload-tcp")

#: Payload size for the echo groups (bytes; 10 MB = 10 * 1e6 bytes).
PAYLOAD_BYTES = 10_000_000

#: Bytes in the MB of ``MB/s`` and ``MB``.
MB = 1e6

#: Threads (and actors) in the throughput groups.
THREADS = 4

#: Calls kept in flight by the pipelined row.
IN_FLIGHT = 64

#: Concurrent calls, and the seconds each sleeps, in the async-methods group.
SLEEPERS, SLEEP = 100, 1.0

#: Deadline given to the "deadline set" variant (s): long enough never to fire.
DEADLINE = 30.0

#: Row names targets refer to.
BASEMANAGER = "BaseManager"
UACTOR = "uactor"
DEADLINE_SET = "uactor (deadline set)"
DEADLINE_BLOCK = "uactor (deadline block)"
IPV6 = "uactor IPv6"
ALLOW_LIST = "uactor (allowed_classes)"
UACTOR_BYTES = "uactor bytes"
UACTOR_BYTEARRAY = "uactor bytearray"
PEERS = ("Pyro5 serpent", "Pyro5 marshal", "RPyC")


@dataclasses.dataclass(frozen=True)
class Budget:
    """Sample counts; every loop in this module is bounded by these."""

    latency_samples: int
    latency_batch: int
    throughput_samples: int
    throughput_calls: int  # per thread per sample
    payload_samples: int
    coldstart_samples: int
    memory_samples: int


# Many short latency batches rather than a few long ones: on a shared 2-core
# machine a neighbour's time slice then spoils a few samples, which the median
# ignores, instead of shifting a few long ones.
QUICK = Budget(latency_samples=150, latency_batch=20, throughput_samples=7,
               throughput_calls=300, payload_samples=5, coldstart_samples=12,
               memory_samples=2)
FULL = Budget(latency_samples=600, latency_batch=50, throughput_samples=25,
              throughput_calls=2000, payload_samples=40, coldstart_samples=60,
              memory_samples=5)


# --------------------------------------------------------------------------
# uactor, when it can be imported
# --------------------------------------------------------------------------

def _load_actors() -> tuple[ModuleType | None, str]:
    """``bench._actors`` (which imports uactor), or ``None`` and why not."""
    try:
        from bench import _actors
    except Exception as exc:  # uactor missing or broken: report, run the rest
        return None, f"uactor not importable: {exc!r}"
    return _actors, ""


def _deadline_unsupported(actors: ModuleType) -> str:
    """Why uactor's call deadlines cannot be measured ('' when they can).

    Deadlines (issue 7 item 1) are ``uactor.deadline(seconds)`` for a block
    of calls and a ``timeout`` option / ``connect(timeout=...)`` keyword for a
    proxy's default.
    """
    uactor = actors.uactor
    manager_init = inspect.signature(uactor.ActorManager.__init__).parameters
    connect = inspect.signature(uactor.Actor.connect).parameters
    if (hasattr(uactor, "deadline") and "timeout" in manager_init
            and "timeout" in connect):
        return ""
    return "TODO: uactor.py exposes no call timeout yet (issue 7 item 1)"


def _in_deadline_block(actors: ModuleType, call: Callable[[], Any]
                       ) -> Callable[[], Any]:
    """``call()`` wrapped, per call, in ``with uactor.deadline(DEADLINE)``."""
    deadline = actors.uactor.deadline

    def bounded_call() -> Any:
        with deadline(DEADLINE):
            return call()

    return bounded_call


@contextlib.contextmanager
def _closing(*things: Any) -> Iterator[None]:
    """Close every thing (in reverse), even when an earlier close fails."""
    with contextlib.ExitStack() as stack:
        for thing in things:
            stack.callback(thing.close)
        yield


class _ActorHandle:
    """An owner proxy to a uactor actor, with ``close()`` = ``shutdown()``.

    ``make`` builds the owner proxy (an actor class, or a ``uactor.start``
    partial).
    """

    def __init__(self, make: Callable[[], Any]) -> None:
        self.proxy = make()
        self.ping = self.proxy.ping
        self.echo = self.proxy.echo
        self.pid = self.proxy.pid()

    def close(self) -> None:
        self.ping = self.echo = None
        self.proxy.shutdown()
        wait_pid_gone(self.pid)


# --------------------------------------------------------------------------
# Cold start and memory
# --------------------------------------------------------------------------

def _timed(func: Callable[[], int]) -> float:
    start = time.perf_counter()
    pid = func()
    if not wait_pid_gone(pid):
        raise RuntimeError(f"process {pid} still running 10 s after shutdown")
    return time.perf_counter() - start


def bench_coldstart(budget: Budget, actors: ModuleType | None, why: str) -> list[dict]:
    group = "coldstart"
    contenders: dict[str, Callable[[], int]] = {BASEMANAGER: _floors.manager_cold_start}
    if actors is not None:
        actor_class = actors.BenchActor

        def uactor_cold_start() -> int:
            proxy = actor_class()
            pid = proxy.pid()
            proxy.shutdown()
            return int(pid)

        contenders[UACTOR] = uactor_cold_start
    for func in contenders.values():  # warm imports and caches
        _timed(func)
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for index in range(budget.coldstart_samples):
        names = list(contenders)[index % len(contenders):] + \
            list(contenders)[:index % len(contenders)]
        for name in names:
            gc.collect()
            samples[name].append(_timed(contenders[name]))
    note = "start + first call + shutdown until the pid is gone"
    rows = [make_row(group, BASEMANAGER, samples[BASEMANAGER], "ms", note,
                     scale=1e3, floor=True)]
    uactor_targets = [target(BASEMANAGER, "<=", 1.1, "<= 1.1x BaseManager")]
    if actors is not None:
        rows.append(make_row(group, UACTOR, samples[UACTOR], "ms", note, scale=1e3,
                             targets=uactor_targets))
    else:
        rows.append(skipped_row(group, UACTOR, "ms", why, targets=uactor_targets))
    return rows


def bench_memory(budget: Budget, actors: ModuleType | None, why: str,
                 only: list[str] | None) -> list[dict]:
    import psutil

    def measure(make: Callable[[], Any], pid_of: Callable[[Any], int]
                ) -> tuple[list[float], list[float]]:
        rss, uss = [], []
        for _ in range(budget.memory_samples):
            handle = make()
            with _closing(handle):
                info = psutil.Process(pid_of(handle)).memory_full_info()
                rss.append(info.rss)
                uss.append(info.uss)
        return rss, uss

    results = {BASEMANAGER: measure(_floors.ManagerEcho, lambda h: h.server_pid)}
    if actors is not None:
        results[UACTOR] = measure(lambda: _ActorHandle(actors.BenchActor),
                                  lambda h: h.pid)
    rows = []
    for index, kind in enumerate(("rss", "uss")):
        group = f"memory-{kind}"
        if not group_selected(group, only):
            continue
        note = (f"{kind.upper()} of the idle server process after one call; "
                "forked from the bench process")
        rows.append(make_row(group, BASEMANAGER, results[BASEMANAGER][index], "MB",
                             note, scale=1 / MB, floor=True))
        if actors is not None:
            rows.append(make_row(group, UACTOR, results[UACTOR][index], "MB", note,
                                 scale=1 / MB))
        else:
            rows.append(skipped_row(group, UACTOR, "MB", why))
    return rows


# --------------------------------------------------------------------------
# Latency
# --------------------------------------------------------------------------

def _latency_rows(group: str, budget: Budget, calls: dict[str, Callable[[], Any]],
                  notes: dict[str, str], extra: dict[str, dict],
                  skipped: dict[str, str]) -> list[dict]:
    progress(f"{group}: {', '.join(calls)}")
    samples = interleave(calls, budget.latency_samples, budget.latency_batch,
                         warmup=2)
    rows = []
    for name in list(calls) + [n for n in skipped if n not in calls]:
        if name in calls:
            rows.append(make_row(group, name, samples[name], "us", notes.get(name, ""),
                                 scale=1e6, **extra.get(name, {})))
        else:
            rows.append(skipped_row(group, name, "us", skipped[name],
                                    **extra.get(name, {})))
    return rows


def bench_latency_local(budget: Budget, actors: ModuleType | None, why: str
                        ) -> list[dict]:
    group = "latency-local"
    pipe = _floors.PipeEcho()
    manager = _floors.ManagerEcho()
    handles: list[Any] = [pipe, manager]
    calls: dict[str, Callable[[], Any]] = {"Pipe echo": pipe.call,
                                           BASEMANAGER: manager.ping}
    skipped: dict[str, str] = {}
    try:
        if actors is not None:
            actor = _ActorHandle(actors.BenchActor)
            handles.append(actor)
            calls[UACTOR] = actor.ping
            reason = _deadline_unsupported(actors)
            if not reason:
                timed = _ActorHandle(functools.partial(
                    actors.uactor.start, actors.BenchActor,
                    options={"timeout": DEADLINE}))
                handles.append(timed)
                calls[DEADLINE_SET] = timed.ping
                calls[DEADLINE_BLOCK] = _in_deadline_block(actors, actor.ping)
            else:
                skipped[DEADLINE_SET] = skipped[DEADLINE_BLOCK] = reason
        else:
            skipped[UACTOR] = skipped[DEADLINE_SET] = skipped[DEADLINE_BLOCK] = why
        notes = {"Pipe echo": "floor of any process design: pickle over a socketpair",
                 BASEMANAGER: "registered class, default Unix socket",
                 UACTOR: "owner proxy, local transport, no deadline",
                 DEADLINE_SET: f"owner proxy started with options={{'timeout': "
                               f"{DEADLINE:g}}}",
                 DEADLINE_BLOCK: f"each call inside uactor.deadline({DEADLINE:g})"}
        local_targets = [target(BASEMANAGER, "<=", 1.05, "<= 1.05x BaseManager")]
        local_targets += [target(peer, "<=", 0.5, f">= 2x faster than {peer} (TCP)",
                                 ref_group="latency-tcp") for peer in PEERS]
        extra: dict[str, dict[str, Any]] = {BASEMANAGER: {"floor": True},
                                            UACTOR: {"targets": local_targets}}
        return _latency_rows(group, budget, calls, notes, extra, skipped)
    finally:
        with _closing(*handles):
            pass


def bench_latency_tcp(budget: Budget, actors: ModuleType | None, why: str
                      ) -> list[dict]:
    group = "latency-tcp"
    handles: list[Any] = []
    calls: dict[str, Callable[[], Any]] = {}
    skipped: dict[str, str] = {}
    try:
        echo = _floors.TcpEcho()
        handles.append(echo)
        calls["Connection echo"] = echo.call
        manager = _floors.ManagerEcho(tcp=True)
        handles.append(manager)
        calls[BASEMANAGER] = manager.ping
        if actors is not None:
            tcp_actor = actors.BenchTcpActor()
            owner = _Shutdown(tcp_actor)
            handles.append(owner)
            client = actors.BenchTcpActor.connect(tcp_actor.connection_address,
                                                  _floors.AUTHKEY)
            handles.append(_Release(client))
            calls[UACTOR] = client.ping
            reason = _deadline_unsupported(actors)
            if not reason:
                timed = actors.BenchTcpActor.connect(tcp_actor.connection_address,
                                                     _floors.AUTHKEY,
                                                     timeout=DEADLINE)
                handles.append(_Release(timed))
                calls[DEADLINE_SET] = timed.ping
            else:
                skipped[DEADLINE_SET] = reason
            _variant_rows(actors, handles, calls, skipped)
        else:
            skipped[UACTOR] = skipped[DEADLINE_SET] = skipped[IPV6] = \
                skipped[ALLOW_LIST] = why
        if peers.available("Pyro5"):
            pyro = peers.PyroPeer()
            handles.append(pyro)
            calls["Pyro5 serpent"] = pyro.proxy("serpent").ping
            calls["Pyro5 marshal"] = pyro.proxy("marshal").ping
        else:
            skipped["Pyro5 serpent"] = skipped["Pyro5 marshal"] = \
                "Pyro5 not installed (pip install 'uactor[bench]')"
        if peers.available("rpyc"):
            rpyc_peer = peers.RpycPeer()
            handles.append(rpyc_peer)
            calls["RPyC"] = rpyc_peer.ping
        else:
            skipped["RPyC"] = "rpyc not installed (pip install 'uactor[bench]')"
        notes = {"Connection echo": "multiprocessing.connection Listener/Client, "
                                    "authkey",
                 BASEMANAGER: "registered class, 127.0.0.1, authkey",
                 UACTOR: "Actor.connect() client proxy, authkey, frames tagged, "
                         "no deadline",
                 DEADLINE_SET: f"Actor.connect(..., timeout={DEADLINE:g}) proxy",
                 IPV6: "the uactor row on ::1",
                 ALLOW_LIST: "the uactor row, actor with allowed_classes=()",
                 "Pyro5 serpent": "127.0.0.1, no authentication",
                 "Pyro5 marshal": "127.0.0.1, no authentication",
                 "RPyC": "ThreadedServer on 127.0.0.1, no authentication"}
        uactor_targets = [target(BASEMANAGER, "<=", 1.05, "<= 1.05x BaseManager")]
        uactor_targets += [target(peer, "<=", 0.5, f">= 2x faster than {peer}")
                           for peer in PEERS]
        extra: dict[str, dict[str, Any]] = {
            BASEMANAGER: {"floor": True}, UACTOR: {"targets": uactor_targets},
            IPV6: {"targets": [target(UACTOR, "<=", 1.05, "<= 1.05x uactor (IPv4)")]}}
        return _latency_rows(group, budget, calls, notes, extra, skipped)
    finally:
        with _closing(*handles):
            pass


def _variant_rows(actors: ModuleType, handles: list, calls: dict,
                  skipped: dict) -> None:
    """The IPv6 and allow-list variants of the TCP row, where they can run."""
    if not hasattr(actors, "BenchTcp6Actor"):
        skipped[IPV6] = skipped[ALLOW_LIST] = "this uactor has no IPv6 or allowed_classes"
        return
    variants = {IPV6: actors.BenchTcp6Actor, ALLOW_LIST: actors.BenchStrictTcpActor}
    for name, actor_class in variants.items():
        try:
            owner = actor_class()
        except OSError as exc:  # no IPv6 here, say
            skipped[name] = f"cannot start: {exc}"
            continue
        handles.append(_Shutdown(owner))
        client = actor_class.connect(owner.connection_address, _floors.AUTHKEY)
        handles.append(_Release(client))
        calls[name] = client.ping


class _Shutdown:
    """``close()`` shuts an owner proxy's actor down and waits for its pid."""

    def __init__(self, proxy: Any) -> None:
        self.proxy = proxy
        self.pid = proxy.pid()

    def close(self) -> None:
        self.proxy.shutdown()
        wait_pid_gone(self.pid)


class _Release:
    """``close()`` drops a client proxy (its connections close with it)."""

    def __init__(self, proxy: Any) -> None:
        self.proxy = proxy

    def close(self) -> None:
        self.proxy = None
        gc.collect()


# --------------------------------------------------------------------------
# Throughput
# --------------------------------------------------------------------------

def bench_throughput(budget: Budget, actors: ModuleType | None, why: str,
                     only: list[str] | None) -> list[dict]:
    rows = []
    layouts = ((1, "throughput-1actor"), (THREADS, "throughput-4actors"))
    for actor_count, group in layouts:
        if not group_selected(group, only):
            continue
        progress(f"{group}: {THREADS} threads on {actor_count} actor(s)")
        handles: list[Any] = []
        try:
            managers = [_floors.ManagerEcho() for _ in range(actor_count)]
            handles += managers
            contenders = {BASEMANAGER: [managers[i % actor_count].ping
                                        for i in range(THREADS)]}
            if actors is not None:
                uactors = [_ActorHandle(actors.BenchActor) for _ in range(actor_count)]
                handles += uactors
                contenders[UACTOR] = [uactors[i % actor_count].ping
                                      for i in range(THREADS)]
            rates: dict[str, list[float]] = {name: [] for name in contenders}
            for index in range(budget.throughput_samples + 1):  # first: warm-up
                names = list(contenders)
                names = names[index % len(names):] + names[:index % len(names)]
                for name in names:
                    rate = threaded_rate(contenders[name], budget.throughput_calls)
                    if index:
                        rates[name].append(rate)
        finally:
            with _closing(*handles):
                pass
        label = "one shared" if actor_count == 1 else "one per thread"
        note = (f"{THREADS} threads x {budget.throughput_calls} calls, {label} "
                f"{'proxy' if actor_count == 1 else 'actor'}")
        rows.append(make_row(group, BASEMANAGER, rates[BASEMANAGER], "ops/s", note,
                             floor=True))
        extra: dict[str, Any] = {}
        if actor_count == 1:
            extra["targets"] = [target(BASEMANAGER, ">=", 1.0, ">= BaseManager")]
        if actors is not None:
            rows.append(make_row(group, UACTOR, rates[UACTOR], "ops/s", note, **extra))
        else:
            rows.append(skipped_row(group, UACTOR, "ops/s", why, **extra))
    return rows


# --------------------------------------------------------------------------
# asyncio: awaited calls, pipelining, coroutine methods
# --------------------------------------------------------------------------

SYNC_CALL = "uactor sync call"
AWAITED_CALL = "uactor awaited call"
ONE_CALLER = "1 sync caller"
FOUR_THREADS = f"{THREADS} sync threads"
PIPELINED = f"asyncio, {IN_FLIGHT} in flight"
LOCAL_SLEEP = f"asyncio.sleep({SLEEP:g}) x{SLEEPERS} here"
ACTOR_SLEEP = f"uactor: {SLEEPERS} awaited coroutine calls"


async def _awaited_batch(call_async: Callable, method: Callable, batch: int) -> float:
    """Seconds per awaited call, ``batch`` calls one after the other."""
    apply_placement()
    start = time.perf_counter()
    for _ in range(batch):
        await call_async(method)
    return (time.perf_counter() - start) / batch


async def _pipelined_rate(call_async: Callable, method: Callable, in_flight: int,
                          per_task: int) -> float:
    """Calls per second with ``in_flight`` tasks each awaiting ``per_task`` calls."""
    async def task() -> None:
        for _ in range(per_task):
            await call_async(method)

    await asyncio.gather(*[call_async(method) for _ in range(in_flight)])  # warm
    apply_placement()
    start = time.perf_counter()
    await asyncio.gather(*[task() for _ in range(in_flight)])
    return in_flight * per_task / (time.perf_counter() - start)


def bench_latency_async(budget: Budget, actors: ModuleType | None, why: str
                        ) -> list[dict]:
    group = "latency-async"
    if actors is None:
        return [skipped_row(group, name, "us", why) for name in (SYNC_CALL, AWAITED_CALL)]
    progress(f"{group}: {SYNC_CALL}, {AWAITED_CALL}")
    call_async = actors.uactor.call_async
    actor = _ActorHandle(actors.BenchActor)
    loop = asyncio.new_event_loop()
    samples: dict[str, list[float]] = {SYNC_CALL: [], AWAITED_CALL: []}
    try:
        ping, batch = actor.proxy.ping, budget.latency_batch
        for index in range(budget.latency_samples + 2):  # two warm-up rounds
            order = [SYNC_CALL, AWAITED_CALL][::1 if index % 2 else -1]
            for name in order:
                if name == SYNC_CALL:
                    seconds = time_batch(ping, batch)
                else:
                    with gc_paused():
                        seconds = loop.run_until_complete(
                            _awaited_batch(call_async, ping, batch))
                if index >= 2:
                    samples[name].append(seconds)
    finally:
        loop.close()
        actor.close()
    return [make_row(group, SYNC_CALL, samples[SYNC_CALL], "us",
                     "owner proxy, local transport, thread's connection", scale=1e6,
                     floor=True),
            make_row(group, AWAITED_CALL, samples[AWAITED_CALL], "us",
                     "await uactor.call_async(proxy.ping), one at a time", scale=1e6)]


def bench_pipelined(budget: Budget, actors: ModuleType | None, why: str,
                    only: list[str] | None) -> list[dict]:
    rows: list[dict] = []
    for group, tcp in (("throughput-pipelined", False), ("throughput-pipelined-tcp", True)):
        if not group_selected(group, only):
            continue
        if actors is None:
            rows += [skipped_row(group, name, "ops/s", why)
                     for name in (ONE_CALLER, FOUR_THREADS, PIPELINED)]
            continue
        progress(f"{group}: {ONE_CALLER}, {FOUR_THREADS}, {PIPELINED}")
        rows += _pipelined_rows(group, budget, actors, tcp)
    return rows


def _pipelined_rows(group: str, budget: Budget, actors: ModuleType, tcp: bool
                    ) -> list[dict]:
    handles: list[Any] = []
    loop = asyncio.new_event_loop()
    try:
        if tcp:
            owner = actors.BenchTcpActor()
            handles.append(_Shutdown(owner))
            proxy = actors.BenchTcpActor.connect(owner.connection_address, _floors.AUTHKEY)
            handles.append(_Release(proxy))
        else:
            actor = _ActorHandle(actors.BenchActor)
            handles.append(actor)
            proxy = actor.proxy
        calls = budget.throughput_calls
        per_task = max(100, THREADS * calls // IN_FLIGHT)
        contenders: dict[str, Callable[[], float]] = {
            ONE_CALLER: lambda: threaded_rate([proxy.ping], THREADS * calls),
            FOUR_THREADS: lambda: threaded_rate([proxy.ping] * THREADS, calls),
            PIPELINED: lambda: loop.run_until_complete(_pipelined_rate(
                actors.uactor.call_async, proxy.ping, IN_FLIGHT, per_task)),
        }
        rates: dict[str, list[float]] = {name: [] for name in contenders}
        for index in range(budget.throughput_samples + 1):  # first: warm-up
            names = list(contenders)
            names = names[index % len(names):] + names[:index % len(names)]
            for name in names:
                rate = contenders[name]()
                if index:
                    rates[name].append(rate)
    finally:
        loop.close()
        with _closing(*handles):
            pass
    where = "TCP loopback, authkey, tagged frames" if tcp else "local transport"
    targets = [target(ONE_CALLER, ">=", 3.0, ">= 3x one sync caller"),
               target(FOUR_THREADS, ">=", 1.0, f"> {THREADS} sync threads")]
    return [
        make_row(group, ONE_CALLER, rates[ONE_CALLER], "ops/s",
                 f"one thread, {THREADS * calls} calls, {where}", floor=True),
        make_row(group, FOUR_THREADS, rates[FOUR_THREADS], "ops/s",
                 f"{THREADS} threads x {calls} calls, one shared proxy"),
        make_row(group, PIPELINED, rates[PIPELINED], "ops/s",
                 f"{IN_FLIGHT} tasks x {per_task} awaited calls, one event loop, "
                 "one connection", targets=targets),
    ]


def bench_async_methods(budget: Budget, actors: ModuleType | None, why: str
                        ) -> list[dict]:
    group = "async-methods"
    samples: dict[str, list[float]] = {LOCAL_SLEEP: [], ACTOR_SLEEP: []}

    async def local() -> None:
        await asyncio.gather(*[asyncio.sleep(SLEEP) for _ in range(SLEEPERS)])

    if actors is None:
        rounds = 0
    else:
        call_async = actors.uactor.call_async
        actor = _ActorHandle(actors.BenchActor)
        rounds = max(3, budget.payload_samples // 8)

    async def remote() -> None:
        await asyncio.gather(*[call_async(actor.proxy.asleep, SLEEP)
                               for _ in range(SLEEPERS)])

    progress(f"{group}: {LOCAL_SLEEP}, {ACTOR_SLEEP}")
    loop = asyncio.new_event_loop()
    try:
        if rounds:
            loop.run_until_complete(call_async(actor.proxy.asleep, 0))  # the loop starts
        for _ in range(max(rounds, 3)):
            for name, work in ((LOCAL_SLEEP, local), (ACTOR_SLEEP, remote)):
                if name == ACTOR_SLEEP and not rounds:
                    continue
                start = time.perf_counter()
                loop.run_until_complete(work())
                samples[name].append(time.perf_counter() - start)
    finally:
        loop.close()
        if rounds:
            actor.close()
    rows = [make_row(group, LOCAL_SLEEP, samples[LOCAL_SLEEP], "s",
                     "the ideal: the sleeps overlap in one event loop", floor=True)]
    if rounds:
        rows.append(make_row(
            group, ACTOR_SLEEP, samples[ACTOR_SLEEP], "s",
            f"gather of {SLEEPERS} call_async(actor.asleep, {SLEEP:g}): the actor's "
            "loop runs them concurrently",
            targets=[target(LOCAL_SLEEP, "<=", 1.5, "about one second (<= 1.5x)")]))
    else:
        rows.append(skipped_row(group, ACTOR_SLEEP, "s", why))
    return rows


# --------------------------------------------------------------------------
# Payloads
# --------------------------------------------------------------------------

def _payload_rows(group: str, budget: Budget, payload: Any,
                  calls: dict[str, Callable[[Any], Any]], notes: dict[str, str],
                  extra: dict[str, dict], skipped: dict[str, str],
                  equal: Callable[[Any, Any], bool],
                  others: dict[str, tuple[Any, Callable[[Any, Any], bool]]] | None = None,
                  ) -> list[dict]:
    """Rows of ``calls`` echoing ``payload``; ``others`` gives some of them
    their own payload and equality (the same size, another type)."""
    progress(f"{group}: {', '.join(calls)}")
    cases = {name: (others or {}).get(name, (payload, equal)) for name in calls}
    for name, call in calls.items():  # correctness once, outside the clock
        data, same = cases[name]
        if not same(call(data), data):
            raise RuntimeError(f"{group}: {name} echoed a different payload")
    bound = {name: (lambda call=call, data=cases[name][0]: call(data))
             for name, call in calls.items()}
    seconds = interleave(bound, budget.payload_samples, batch=1, warmup=1)
    rows = []
    for name in list(calls) + [n for n in skipped if n not in calls]:
        if name in calls:
            rows.append(rate_row(group, name, seconds[name], PAYLOAD_BYTES / MB,
                                 "MB/s", notes.get(name, ""), **extra.get(name, {})))
        else:
            rows.append(skipped_row(group, name, "MB/s", skipped[name],
                                    **extra.get(name, {})))
    return rows


def _numpy() -> ModuleType | None:
    try:
        import numpy
    except ImportError:
        return None
    return numpy


def _bytes_payload() -> bytes:
    return bytes(range(256)) * (PAYLOAD_BYTES // 256) + b"\0" * (PAYLOAD_BYTES % 256)


def _same_bytes(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def bench_payloads(budget: Budget, actors: ModuleType | None, why: str,
                   only: list[str] | None) -> list[dict]:
    numpy = _numpy()
    rows: list[dict] = []
    no_numpy = "numpy not installed (pip install 'uactor[bench]')"

    if group_selected("payload-bytes", only):
        payload = _bytes_payload()
        handles: list[Any] = []
        try:
            pipe = _floors.PipeEcho()
            raw = _floors.PipeEcho(raw=True)
            manager = _floors.ManagerEcho()
            handles += [pipe, raw, manager]
            calls = {"Pipe echo": pipe.call, "Pipe send_bytes": raw.call_bytes,
                     BASEMANAGER: manager.echo}
            skipped = {}
            if actors is not None:
                actor = _ActorHandle(actors.BenchActor)
                handles.append(actor)
                calls[UACTOR] = actor.echo
            else:
                skipped[UACTOR] = why
            notes = {"Pipe echo": "pickled send/recv",
                     "Pipe send_bytes": "no pickling: the wire floor",
                     BASEMANAGER: "local transport", UACTOR: "local transport"}
            rows += _payload_rows("payload-bytes", budget, payload, calls, notes,
                                  {"Pipe echo": {"floor": True}}, skipped, _same_bytes)
        finally:
            with _closing(*handles):
                pass
        del payload

    for group, tcp in (("payload-numpy", False), ("payload-tcp", True)):
        if not group_selected(group, only):
            continue
        uactor_extra: dict[str, Any] = {} if tcp else {"targets": [target("Pipe echo", ">=", 3.0,
                                                          ">= 3x Pipe echo")]}
        floor_name = "Connection echo" if tcp else "Pipe echo"
        if numpy is None:
            rows += [skipped_row(group, name, "MB/s", no_numpy)
                     for name in (floor_name, BASEMANAGER)]
            rows.append(skipped_row(group, UACTOR, "MB/s", no_numpy, **uactor_extra))
            rows += [skipped_row(group, name, "MB/s", no_numpy)
                     for name in (UACTOR_BYTES, UACTOR_BYTEARRAY)]
            continue
        array = numpy.arange(PAYLOAD_BYTES // 8, dtype=numpy.float64)
        handles = []
        try:
            floor = _floors.TcpEcho() if tcp else _floors.PipeEcho()
            manager = _floors.ManagerEcho(tcp=tcp)
            handles += [floor, manager]
            calls = {floor_name: floor.call, BASEMANAGER: manager.echo}
            skipped = {}
            if actors is not None:
                if tcp:
                    owner = actors.BenchTcpActor()
                    handles.append(_Shutdown(owner))
                    client = actors.BenchTcpActor.connect(owner.connection_address,
                                                          _floors.AUTHKEY)
                    handles.append(_Release(client))
                    calls[UACTOR] = client.echo
                else:
                    actor = _ActorHandle(actors.BenchActor)
                    handles.append(actor)
                    calls[UACTOR] = actor.echo
                calls[UACTOR_BYTES] = calls[UACTOR_BYTEARRAY] = calls[UACTOR]
            else:
                skipped.update(dict.fromkeys((UACTOR, UACTOR_BYTES, UACTOR_BYTEARRAY), why))
            where = "127.0.0.1 + authkey" if tcp else "local transport"
            tagged = ", frames tagged (HMAC-SHA256)" if tcp else ""
            notes = {floor_name: "pickled send/recv, " + where,
                     BASEMANAGER: where,
                     UACTOR: where + tagged,
                     UACTOR_BYTES: "the same 10 MB as bytes, " + where + tagged,
                     UACTOR_BYTEARRAY: "the same 10 MB as a bytearray, " + where + tagged}
            extra: dict[str, dict[str, Any]] = {floor_name: {"floor": True},
                                                UACTOR: uactor_extra}
            blob = _bytes_payload()
            others = {UACTOR_BYTES: (blob, _same_bytes),
                      UACTOR_BYTEARRAY: (bytearray(blob), _same_bytes)}
            rows += _payload_rows(group, budget, array, calls, notes, extra, skipped,
                                  lambda a, b: bool(numpy.array_equal(a, b)), others)
        finally:
            with _closing(*handles):
                pass
        del array
    return rows


# --------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------

def run(quick: bool, only: list[str] | None = None) -> list[dict]:
    """Every selected core group; a failing group becomes a skipped row."""
    budget = QUICK if quick else FULL
    actors, why = _load_actors()
    if actors is None:
        progress(f"uactor rows skipped: {why}")
    steps: list[tuple[tuple[str, ...], Callable[[], list[dict]]]] = [
        (("coldstart",), lambda: bench_coldstart(budget, actors, why)),
        (("memory-rss", "memory-uss"), lambda: bench_memory(budget, actors, why, only)),
        (("latency-local",), lambda: bench_latency_local(budget, actors, why)),
        (("latency-tcp",), lambda: bench_latency_tcp(budget, actors, why)),
        (("throughput-1actor", "throughput-4actors"),
         lambda: bench_throughput(budget, actors, why, only)),
        (("latency-async",), lambda: bench_latency_async(budget, actors, why)),
        (("throughput-pipelined", "throughput-pipelined-tcp"),
         lambda: bench_pipelined(budget, actors, why, only)),
        (("async-methods",), lambda: bench_async_methods(budget, actors, why)),
        (("payload-bytes", "payload-numpy", "payload-tcp"),
         lambda: bench_payloads(budget, actors, why, only)),
    ]
    rows: list[dict] = []
    for groups, step in steps:
        selected = [g for g in groups if group_selected(g, only)]
        if not selected:
            continue
        started = time.monotonic()
        try:
            rows += step()
        except Exception as exc:  # one group failing must not lose the others
            progress(f"{', '.join(selected)} failed:\n{traceback.format_exc()}")
            rows += [skipped_row(g, "error", "", f"failed: {exc!r}") for g in selected]
        progress(f"{', '.join(selected)} done in {time.monotonic() - started:.1f} s")
    return rows
