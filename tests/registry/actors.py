"""Actors and process entry points used by the registry tests.

They live in an importable module (not in test functions) so every start
method can pickle them and proxies can be forwarded.
"""
from __future__ import annotations

import os
import threading

import registry
import uactor

#: Authkey shared by the test actors and registries.
KEY = b"registry-tests-key"

#: Networked options for test actors: loopback only, any free port.
NETWORK = {"address": ("127.0.0.1", 0), "authkey": KEY}


class Worker(uactor.Actor):
    """A networked actor that reports its pid."""

    _options_ = NETWORK

    def getpid(self) -> int:
        return os.getpid()


class OtherWorker(uactor.Actor):
    """A second networked actor class, for name groups."""

    _options_ = NETWORK

    def getpid(self) -> int:
        return os.getpid()


def reap_orphan(pid: int | None) -> None:
    """The killed owner's actor notices and exits; make sure it is gone."""
    import psutil

    if pid is None:
        return
    try:
        orphan = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    try:
        orphan.wait(10)
    except psutil.TimeoutExpired:
        orphan.kill()


def listed(reg, name: str) -> list:
    """``reg.addresses(name)`` as tuples, or ``[]`` while the node knows no
    such name (yet: another node of its fleet may have just registered it)."""
    try:
        return [tuple(address) for address in reg.addresses(name)]
    except registry.UnknownNameError:
        return []


def start_registry(**kwargs):
    """A networked Registry owned by the caller."""
    return uactor.start(registry.Registry, options=NETWORK, **kwargs)


def serve_registered_worker(registry_address, ttl, ready,
                            stop: threading.Event | None = None):
    """Process entry point: start a Worker, register it, report, then idle.

    ``ready`` receives ``(address, worker pid)``.  The process idles at most
    60 s: the tests kill it long before.
    """
    with Worker() as worker, registry.register_actor(
        registry_address, worker, authkey=KEY, ttl=ttl
    ) as handle:
        ready.put((handle.address, worker.getpid()))
        (stop or threading.Event()).wait(60)


class LocalActor(uactor.Actor):
    """An actor on the default local transport (not reachable over TCP)."""

    def getpid(self) -> int:
        return os.getpid()


class _ClaimsUnspecified(Worker.proxy_class):  # type: ignore[name-defined,misc]
    """A real Worker proxy that reports the unspecified bind address ``0.0.0.0``."""

    @property
    def connection_address(self):
        return ("0.0.0.0", super().connection_address[1])


def unspecified_proxy(port: int):
    """Stands for a proxy of an actor bound to ``0.0.0.0``.

    Tests may not bind ``0.0.0.0`` outside a private network namespace, so a
    real actor listens on 127.0.0.1 and this connected proxy to it claims the
    unspecified bind address of the same port, which is all the helpers look at.
    """
    proxy = Worker.connect(("127.0.0.1", port), KEY)
    proxy.__class__ = _ClaimsUnspecified
    return proxy


def register_and_exit(registry_address, worker_address, ttl):
    """Process entry point: register an actor and return without closing."""
    proxy = unspecified_proxy(worker_address[1])
    registry.register_actor(registry_address, proxy, authkey=KEY, name="Exiting",
                            ttl=ttl)


#: Service name and address universe of the concurrency test.
LOAD = "load"


def load_addresses(process_index: int, thread_index: int) -> list[tuple[str, int]]:
    """The addresses one concurrent test client owns."""
    return [(f"10.{process_index}.{thread_index}.{i}", 1000 + i) for i in range(5)]


def load_client_process(address, process_index, threads, duration, results):
    """Process entry point: ``threads`` clients registering, renewing,
    unregistering and picking on one registry for ``duration`` seconds.

    Puts one dict per client on ``results``: its final addresses, how many
    picks it made and any pick that returned an address outside the test's
    universe.
    """
    import random
    import time

    proxy = registry.Registry.connect(address, KEY, timeout=30)
    stop_at = time.monotonic() + duration
    reports: list = []

    def client(thread_index: int) -> None:
        own = load_addresses(process_index, thread_index)
        rng = random.Random(process_index * 100 + thread_index)
        lease = proxy.open_lease(30, pid=os.getpid(), hostname="load-test")
        picks = 0
        strange = []
        while time.monotonic() < stop_at:
            roll = rng.random()
            if roll < 0.4:
                proxy.register_entry(rng.choice(own), lease=lease, name=LOAD,
                                     pid=os.getpid(), hostname="load-test")
            elif roll < 0.45:
                proxy.unregister(rng.choice(own), lease=lease)
            elif roll < 0.5:
                proxy.renew(lease)
            else:
                picked = proxy.pick(LOAD)
                picks += 1
                if picked is not None and not _in_load_universe(picked):
                    strange.append(picked)
        proxy.register(*own, name=LOAD, lease=lease)
        reports.append({"own": own, "picks": picks, "strange": strange})

    workers = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(duration + 60)
    for report in reports:
        results.put(report)


def _in_load_universe(address) -> bool:
    host, port = address
    parts = host.split(".")
    return (len(parts) == 4 and parts[0] == "10" and 1000 <= port < 1005
            and int(parts[3]) == port - 1000) or address == ("10.255.0.1", 1)


class SelfRegistering(uactor.Actor):
    """A networked actor that registers itself once it is reachable."""

    _options_ = NETWORK

    def __init__(self, registry_address) -> None:
        self._registry_address = registry_address
        self._registration = None

    def _actor_started_(self) -> None:
        super()._actor_started_()
        self._registration = registry.register_actor(
            self._registry_address, uactor.proxy(self, "actor"), authkey=KEY,
            name="SelfRegistering", ttl=30)

    def _actor_stopping_(self) -> None:
        self._registration.close()
        super()._actor_stopping_()

    def getpid(self) -> int:
        return os.getpid()


class WildcardWorker(uactor.Actor):
    """A Worker bound to every interface (only inside a private netns)."""

    _options_ = {"address": ("0.0.0.0", 0), "authkey": KEY}

    def getpid(self) -> int:
        return os.getpid()


class ObservedRegistry(registry.Registry):
    """A Registry whose store can be declared unreachable, and whose
    ``snapshot()`` can be made slow, for the HTTP endpoint tests."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._store_lost_at: float | None = None
        self._snapshot_delay = 0.0
        self._sleep = threading.Event()  # never set: a bounded sleep
        self._snapshots = 0
        self._snapshot_broken = False

    def set_store_reachable(self, reachable: bool) -> None:
        import time

        self._store_lost_at = None if reachable else time.monotonic()

    def set_snapshot_delay(self, seconds: float) -> None:
        self._snapshot_delay = seconds

    def set_snapshot_broken(self, broken: bool) -> None:
        """Make ``snapshot()`` return data missing every key (a bug's effect)."""
        self._snapshot_broken = broken

    def snapshots_served(self) -> int:
        return self._snapshots

    def snapshot(self, services: bool = True) -> dict:
        import time

        self._snapshots += 1
        if self._snapshot_delay:
            self._sleep.wait(self._snapshot_delay)
        snapshot = super().snapshot(services)
        if self._snapshot_broken:
            return {}
        if self._store_lost_at is not None:
            snapshot["node"]["store"].update(
                reachable=False, stale_for=time.monotonic() - self._store_lost_at)
        return snapshot
