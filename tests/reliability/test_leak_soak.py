"""Leak soak: churn actors, forwarded proxies and discovery publications.

Issue 7 item 6: start and stop 500 actors, forward and drop 1,000 proxies,
open and close 200 publications; file descriptors, threads, shared-memory
segments (``/dev/shm``) and child processes must return to their starting
counts, here and, for forwarded proxies, in the actors involved.

Sizes: the issue's full sizes take 15-20 s together on the 2-core test
machine when it is otherwise idle (500 actors 7-11 s, 1,000 forwarded proxies
3-4 s, 200 publications ~5 s), and 23-37 s inside the parallel suite, over
its ~30 s budget.  So they run only with ``UACTOR_FULL_LOAD=1`` (marked
``slow``); the normal suite runs two fifths of them (200 actors, 400 proxies,
80 publications).

Method: one warm-up round of each activity comes before the baseline, so
what a process creates once and keeps by design (zeroconf's and
multiprocessing's lazily built helpers) is not counted.  Before comparing,
reference cycles are collected: what only the cyclic garbage collector
releases is held by its own test (``test_connections_of_finished_threads...``);
every other resource must come back.
"""
from __future__ import annotations

import gc
import os
import pickle
import threading
from collections.abc import Callable, Iterator

import psutil
import pytest

import discovery
from tests.conftest import live_children, wait_until
from tests.reliability._helpers import FULL_LOAD, pid_gone
from tests.reliability.actors import KEY, Echo, Holder, User, Worker

LOOPBACK = ["127.0.0.1"]

#: The issue's sizes, and the normal suite's (two fifths of them).
FULL = {"actors": 500, "proxies": 1_000, "publications": 200}
REDUCED = {"actors": 200, "proxies": 400, "publications": 80}

#: Each soak test runs at the reduced size, and at the full size only with
#: UACTOR_FULL_LOAD=1.
SIZES = [
    pytest.param(REDUCED, id="reduced"),
    pytest.param(FULL, id="full", marks=[
        pytest.mark.slow,
        pytest.mark.skipif(not FULL_LOAD, reason="full size: set UACTOR_FULL_LOAD=1")]),
]

#: Publications held open at once (each batch shares one zeroconf instance,
#: which closes when the batch does).
BATCH = 20

#: Bound (s) on resources coming back after the churn.
SETTLE = 15.0

#: Payload sent through every 50th actor: large enough for the out-of-band
#: buffer path (uactor's threshold is 64 KiB).
LARGE = 1 << 20


def _shm() -> set[str]:
    try:
        return set(os.listdir("/dev/shm"))
    except FileNotFoundError:  # pragma: no cover - no /dev/shm here
        return set()


class Snapshot:
    """Counts of this process's resources at one moment."""

    def __init__(self) -> None:
        gc.collect()
        me = psutil.Process()
        self.fds = me.num_fds()
        self.threads = threading.active_count()
        self.os_threads = me.num_threads()
        self.children = set(live_children())
        self.shm = _shm()

    def leftovers(self, baseline: Snapshot) -> dict:
        """What this snapshot holds beyond ``baseline`` (empty when clean)."""
        found = {}
        for name in ("fds", "threads", "os_threads"):
            extra = getattr(self, name) - getattr(baseline, name)
            if extra > 0:
                found[name] = extra
        if self.children - baseline.children:
            found["children"] = sorted(self.children - baseline.children)
        if self.shm - baseline.shm:
            found["shm"] = sorted(self.shm - baseline.shm)
        return found


def _settled(baseline: Snapshot, between: Callable[[], None] | None = None) -> dict:
    """Wait until this process is back to ``baseline``; return any leftovers.

    Other tests may run in parallel (xdist) and briefly hold /dev/shm
    segments: only what stays until the deadline counts.  ``between`` runs
    before each new look.
    """
    leftovers: dict = {}

    def clean() -> bool:
        nonlocal leftovers
        if leftovers and between is not None:
            between()
        leftovers = Snapshot().leftovers(baseline)
        return not leftovers

    wait_until(clean, SETTLE, interval=0.1)
    return leftovers


def _actor_round(index: int) -> None:
    """Start one actor, use it, stop it; the way varies with ``index``."""
    if index % 5 == 1:
        # Dropped rather than shut down: the actor ends with its last proxy.
        actor = Echo()
        assert actor.echo(index) == index
        del actor
        return
    with Echo() as actor:
        if index % 10 == 0:
            client = Echo.connect(actor.connection_address, KEY, timeout=SETTLE)
            assert client.echo(index) == index
            del client
        if index % 50 == 0:
            payload = pickle.PickleBuffer(bytearray(LARGE))
            assert len(actor.echo(payload)) == LARGE
        assert actor.echo(index) == index


@pytest.mark.parametrize("size", SIZES)
def test_starting_and_stopping_actors_leaks_nothing(size):
    _actor_round(0)  # warm-up
    baseline = Snapshot()
    for index in range(size["actors"]):
        _actor_round(index)
    # Dropped actors are reaped in the background (held by a test below);
    # an extra actor round only gives the last ones time to exit.
    assert _settled(baseline, between=lambda: _actor_round(0)) == {}


def _forward_round(index: int, holder, user, worker) -> None:
    """Forward one proxy to another actor, use it there, drop it."""
    kind = index % 4
    if kind == 0:  # a result proxy to a list
        proxy = holder.as_list(index)
        assert user.read_list(proxy) == index
    elif kind == 1:  # an auto proxy to a plain object
        proxy = holder.as_auto(index)
        assert user.read_auto(proxy) == index
    elif kind == 2:  # kept by the receiver, then dropped there
        proxy = holder.as_list(index)
        assert user.keep(proxy) == 1
        user.drop()
    else:  # an actor proxy, forwarded for the receiver to call
        assert user.relay(worker, index) == index
        return
    del proxy


@pytest.fixture
def forwarding_actors() -> Iterator[tuple]:
    with Holder() as holder, User() as user, Worker() as worker:
        user.learn(holder.connection_address)
        user.learn(worker.connection_address)
        yield holder, user, worker


@pytest.mark.parametrize("size", SIZES)
def test_forwarding_and_dropping_proxies_leaks_nothing(forwarding_actors, size):
    holder, user, worker = forwarding_actors
    _forward_round(0, holder, user, worker)  # warm-up, every kind once
    for index in range(1, 4):
        _forward_round(index, holder, user, worker)
    baseline = Snapshot()
    held = holder.held()
    remote = {"holder": holder.stats(), "user": user.stats()}

    for index in range(size["proxies"]):
        _forward_round(index, holder, user, worker)

    assert _settled(baseline) == {}
    # The actors let go of every forwarded object and connection too.
    assert wait_until(lambda: holder.held() == held, SETTLE), holder.held()

    def remote_back() -> bool:
        now = {"holder": holder.stats(), "user": user.stats()}
        return all(now[name][key] <= remote[name][key]
                   for name in now for key in ("fds", "threads"))

    assert wait_until(remote_back, SETTLE), (remote, holder.stats(), user.stats())


def _publication_batch(actor, prefix: str, start: int, count: int) -> None:
    publications = [discovery.publish(actor, name=f"{prefix}-{start + offset}",
                                      interfaces=LOOPBACK)
                    for offset in range(count)]
    for publication in publications:
        assert not publication.closed
        publication.close()
        assert publication.closed


@pytest.mark.parametrize("size", SIZES)
def test_opening_and_closing_publications_leaks_nothing(unique_name, size):
    total = size["publications"]
    with Echo() as actor:
        _publication_batch(actor, f"{unique_name}-warm", 0, 1)
        baseline = Snapshot()
        for start in range(0, total, BATCH):
            _publication_batch(actor, unique_name, start, min(BATCH, total - start))
        assert _settled(baseline) == {}


def test_connections_of_finished_threads_are_closed_without_the_cyclic_gc():
    with Echo() as actor:
        assert actor.echo(0) == 0
        remote = actor.stats()
        local = psutil.Process().num_fds()
        threads = [threading.Thread(target=actor.echo, args=(index,))
                   for index in range(20)]
        gc.disable()  # what a long-lived process sees between full collections
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(SETTLE)
            del threads
            closed = wait_until(
                lambda: actor.stats()["threads"] <= remote["threads"]
                and psutil.Process().num_fds() <= local, SETTLE)
            counts = (actor.stats(), psutil.Process().num_fds())
        finally:
            gc.enable()
        assert closed, f"{counts} after 20 finished threads; before: {remote}, {local}"


def test_dropped_actors_are_reaped_without_starting_another():
    _actor_round(0)  # warm-up
    baseline = Snapshot()
    actors = [Echo() for _ in range(10)]
    pids = [actor.getpid() for actor in actors]
    del actors  # no shutdown: each actor ends with its last proxy
    assert wait_until(lambda: all(pid_gone(pid) for pid in pids), SETTLE)

    def reaped() -> bool:
        gc.collect()
        zombies = [child.pid for child in psutil.Process().children()
                   if child.pid in pids]
        return not zombies and psutil.Process().num_fds() <= baseline.fds

    assert wait_until(reaped, 2.0), (
        [child.pid for child in psutil.Process().children() if child.pid in pids],
        psutil.Process().num_fds(), baseline.fds)
