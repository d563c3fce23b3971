"""Discovery benchmarks (issue 4 item 8): how fast adverts turn into calls.

Groups (``python -m bench --only GROUP``), each the median of separate
processes, zeroconf bound to 127.0.0.1 only:

``discovery-publish``
    (a) from starting an actor in a new publisher process (actor start +
    publish) to the first successful call from a client that is already
    browsing (ms).
``discovery-client``
    (b) from spawning a new client process to its first call on an actor
    advertised for a while (ms); also the part inside the client from
    calling ``discover()`` to the reply.
``discovery-withdraw``
    (c) from a clean withdrawal in the publisher process
    (``Publication.close()``) to the browser seeing the removal (ms).

``discovery-fleet-failover``
    (issue 11 point 3) three registry nodes over one redis-server, each
    advertised over mDNS; an actor published with ``register=True``
    (TTL 3 s: a heartbeat a second); the node its heartbeats use is killed
    (``SIGKILL``) at a random point of the heartbeat period.  Rows (ms):
    ``find_registries, three nodes`` (a fresh call with ``min_count=3``);
    ``owner: kill to heartbeat through another node`` (from the kill to the
    first renewal a surviving node serves: the wait for the next heartbeat,
    up to one period, plus the move); ``owner: heartbeat due to renewed
    through another node`` (the move itself, from when that heartbeat was
    due); ``client: connect_actor through the found nodes`` (right after
    the kill, the dead node first in the list).  Target: 1 s.  A missing
    redis-server gives a skipped row.

Every issue 4 group has a ``discovery`` row, a ``zeroconf defaults`` row (the
approach of the spec's autodiscovery example: ``register_service`` with its
probing, a default ``ServiceBrowser``, ``get_service_info``, then
``connect``) and a reference row holding the issue's target, against which
the ``discovery`` row is checked.  Cross-process times use
``time.monotonic()``, one clock for every process of this host.

This module also holds the helper processes' code (``ROLES`` below), run as
``python -c "from bench.bench_discovery import main; main()" ROLE NAME``.
"""
from __future__ import annotations

import dataclasses
import json
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import uactor

# bench._harness is imported inside run(): helper processes import this module
# and should pay only for what a real client would.

GROUPS = ("discovery-publish", "discovery-client", "discovery-withdraw",
          "discovery-fleet-failover")

#: Interfaces every zeroconf instance here uses (never a real interface).
LOOPBACK = ["127.0.0.1"]

#: Authkey of the benchmark actors (loopback only).
KEY = b"bench-discovery"

#: Issue 4 item 8 targets (ms), medians.
TARGETS = {"discovery-publish": 100.0, "discovery-client": 300.0,
           "discovery-withdraw": 50.0}

#: Bound on anything one sample waits for (s).
SAMPLE_TIMEOUT = 30.0

#: Pause between samples (s): lets each sample's processes and packets
#: settle, and keeps zeroconf's 1 s multicast rate limit from one sample
#: spilling into the next.
PAUSE = 1.2

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = "target (issue 4)"
DISCOVERY = "discovery"
DEFAULTS = "zeroconf defaults"


@dataclasses.dataclass(frozen=True)
class Budget:
    samples: int


FULL = Budget(samples=10)
QUICK = Budget(samples=3)


class BenchEcho(uactor.Actor):
    """The actor every sample calls."""

    _options_ = {"address": ("127.0.0.1", 0), "authkey": KEY}

    def echo(self, value: Any) -> Any:
        return value


# --------------------------------------------------------------------------
# Helper processes: python -m bench.bench_discovery ROLE NAME
# --------------------------------------------------------------------------

def _emit(**values: Any) -> None:
    print(json.dumps(values), flush=True)


def _zeroconf_info(name: str, port: int) -> Any:
    import socket

    from zeroconf import ServiceInfo

    return ServiceInfo("_uactor._tcp.local.", f"{name}._uactor._tcp.local.",
                       addresses=[socket.inet_aton("127.0.0.1")], port=port,
                       server=f"{name}.local.")


def role_publish_discovery(name: str) -> None:
    """Start + publish; on a stdin line, withdraw; report both times."""
    import discovery

    started = time.monotonic()
    actor = BenchEcho()
    publication = discovery.publish(actor, name=name, interfaces=LOOPBACK,
                                    authkey=KEY)
    _emit(started=started)
    sys.stdin.readline()
    stopped = time.monotonic()
    publication.close()
    _emit(stopped=stopped)
    actor.shutdown()


def role_publish_zeroconf(name: str) -> None:
    """The same with zeroconf's defaults (probing, then announcing)."""
    from zeroconf import Zeroconf

    started = time.monotonic()
    actor = BenchEcho()
    zc = Zeroconf(interfaces=LOOPBACK)
    info = _zeroconf_info(name, actor.connection_address[1])
    zc.register_service(info)
    _emit(started=started)
    sys.stdin.readline()
    stopped = time.monotonic()
    zc.unregister_service(info)
    _emit(stopped=stopped)
    zc.close()
    actor.shutdown()


def role_client_discovery(name: str) -> None:
    """A new client: discover, call once, report when."""
    entered = time.monotonic()
    import discovery

    imported = time.monotonic()
    proxy = discovery.discover(BenchEcho, KEY, name=name, interfaces=LOOPBACK,
                               timeout=SAMPLE_TIMEOUT)
    proxy.echo(1)
    _emit(entered=entered, imported=imported, called=time.monotonic())


def role_client_zeroconf(name: str) -> None:
    """A new client the spec's way: default browser, get_service_info, connect."""
    entered = time.monotonic()
    import socket

    from zeroconf import ServiceBrowser, ServiceStateChange, Zeroconf

    imported = time.monotonic()
    wanted = f"{name}._uactor._tcp.local."
    found: list[tuple[str, int]] = []
    ready = threading.Event()

    def handler(zeroconf: Any, service_type: str, name: str,
                state_change: Any) -> None:
        if name != wanted or state_change is not ServiceStateChange.Added:
            return
        deadline = time.monotonic() + SAMPLE_TIMEOUT
        while time.monotonic() < deadline:
            info = zeroconf.get_service_info(service_type, name, timeout=3000)
            if info is not None and info.addresses:
                found.append((socket.inet_ntoa(info.addresses[0]), info.port))
                ready.set()
                return

    zc = Zeroconf(interfaces=LOOPBACK)
    browser = ServiceBrowser(zc, "_uactor._tcp.local.", handlers=[handler])
    try:
        if not ready.wait(SAMPLE_TIMEOUT):
            raise TimeoutError(f"{wanted} not found")
        proxy = BenchEcho.connect(found[0], KEY, timeout=SAMPLE_TIMEOUT)
        proxy.echo(1)
        _emit(entered=entered, imported=imported, called=time.monotonic())
    finally:
        browser.cancel()
        zc.close()


ROLES: dict[str, Callable[[str], None]] = {
    "publish-discovery": role_publish_discovery,
    "publish-zeroconf": role_publish_zeroconf,
    "client-discovery": role_client_discovery,
    "client-zeroconf": role_client_zeroconf,
}


def main() -> None:
    """Entry point of the helper processes: ``ROLE NAME`` in ``sys.argv``."""
    ROLES[sys.argv[1]](sys.argv[2])


#: The floor of (b): a process that reports as soon as it runs, importing
#: nothing of ours.
FLOOR_CODE = "import json, time; print(json.dumps({'entered': time.monotonic()}))"


class Helper:
    """A helper process speaking JSON lines; stopped for sure on exit."""

    def __init__(self, role: str, name: str) -> None:
        code = (FLOOR_CODE if role == "floor"
                else "from bench.bench_discovery import main; main()")
        self.spawned = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, role, name],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, cwd=ROOT,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(
                filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))})

    def read(self) -> dict[str, float]:
        result: dict[str, Any] = {}

        def reader() -> None:
            line = self.proc.stdout.readline() if self.proc.stdout else ""
            result.update(json.loads(line) if line else {})

        thread = threading.Thread(target=reader, daemon=True)
        thread.start()
        thread.join(SAMPLE_TIMEOUT)
        if not result:
            stderr = "" if self.proc.poll() is None else self.proc.stderr.read()
            raise RuntimeError(f"helper {self.proc.args[3:]} gave no reply: {stderr}")
        return result

    def send(self, line: str = "\n") -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line)
        self.proc.stdin.flush()

    def close(self) -> None:
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        finally:
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream:
                    stream.close()


# --------------------------------------------------------------------------
# Browsers in the benchmark process (the clients of (a) and (c))
# --------------------------------------------------------------------------

class Watch:
    """Times when adverts named ``name`` were first called and removed."""

    def __init__(self) -> None:
        self.called: dict[str, float] = {}
        self.removed: dict[str, float] = {}
        self.changed = threading.Condition()

    def mark(self, table: dict[str, float], name: str) -> None:
        with self.changed:
            table.setdefault(name, time.monotonic())
            self.changed.notify_all()

    def wait(self, table: dict[str, float], name: str) -> float:
        with self.changed:
            if not self.changed.wait_for(lambda: name in table, SAMPLE_TIMEOUT):
                raise TimeoutError(f"{name} never reached the browser")
            return table[name]


class DiscoveryWatch(Watch):
    def __enter__(self) -> DiscoveryWatch:
        import discovery

        def on_add(entry: Any) -> None:
            if not entry.name.startswith("bench-pub-"):
                return  # another process's advert
            proxy = self.browser.connect(entry, timeout=SAMPLE_TIMEOUT)
            proxy.echo(1)
            self.mark(self.called, entry.name)

        self.browser = discovery.browse(
            BenchEcho, interfaces=LOOPBACK, authkey=KEY, verify=False,
            on_add=on_add, on_remove=lambda entry: self.mark(self.removed, entry.name))
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.browser.close()


class ZeroconfWatch(Watch):
    def __enter__(self) -> ZeroconfWatch:
        import socket

        from zeroconf import ServiceBrowser, ServiceStateChange, Zeroconf

        def handler(zeroconf: Any, service_type: str, name: str,
                    state_change: Any) -> None:
            label = name.split(".", 1)[0]
            if not label.startswith("bench-pub-"):
                return  # another process's advert
            if state_change is ServiceStateChange.Removed:
                self.mark(self.removed, label)
            elif state_change is ServiceStateChange.Added:
                info = zeroconf.get_service_info(service_type, name, timeout=3000)
                if info is None or not info.addresses:
                    return
                try:
                    proxy = BenchEcho.connect(
                        (socket.inet_ntoa(info.addresses[0]), info.port), KEY,
                        timeout=SAMPLE_TIMEOUT)
                    proxy.echo(1)
                except (OSError, uactor.UActorException):
                    return  # a stale advert; an exception would end the thread
                self.mark(self.called, label)

        self.zc = Zeroconf(interfaces=LOOPBACK)
        self.browser = ServiceBrowser(self.zc, "_uactor._tcp.local.",
                                      handlers=[handler])
        return self

    def __exit__(self, *exc_info: object) -> None:
        from discovery._zeroconf import close_zeroconf

        self.browser.cancel()
        close_zeroconf(self.zc)  # and its loop, which zeroconf <= 0.148 leaves open


# --------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------

def _unique(tag: str) -> str:
    return f"bench-{tag}-{uuid.uuid4().hex[:8]}"


def measure_publish_and_withdraw(budget: Budget, variant: str
                                 ) -> tuple[list[float], list[float]]:
    """(a) and (c): seconds from start to call, from withdrawal to removal."""
    watch_class = DiscoveryWatch if variant == DISCOVERY else ZeroconfWatch
    role = "publish-discovery" if variant == DISCOVERY else "publish-zeroconf"
    to_call, to_removal = [], []
    with watch_class() as watch:
        for _ in range(budget.samples):
            name = _unique("pub")
            helper = Helper(role, name)
            try:
                started = helper.read()["started"]
                to_call.append(watch.wait(watch.called, name) - started)
                time.sleep(PAUSE)
                helper.send()
                stopped = helper.read()["stopped"]
                to_removal.append(watch.wait(watch.removed, name) - stopped)
            finally:
                helper.close()
    return to_call, to_removal


def measure_new_client(budget: Budget, variant: str
                       ) -> tuple[list[float], list[float]]:
    """(b): seconds from spawning a client to its call, and from discover()."""
    name = _unique("client")
    role = "client-discovery" if variant == DISCOVERY else "client-zeroconf"
    total, inside = [], []
    with BenchEcho() as actor:
        if variant == DISCOVERY:
            import discovery

            publication: Any = discovery.publish(actor, name=name, interfaces=LOOPBACK,
                                                 authkey=KEY)
            close = publication.close
        else:
            from zeroconf import Zeroconf

            zc = Zeroconf(interfaces=LOOPBACK)
            info = _zeroconf_info(name, actor.connection_address[1])
            zc.register_service(info)

            def close() -> None:
                from discovery._zeroconf import close_zeroconf

                zc.unregister_service(info)
                close_zeroconf(zc)  # and its loop, which zeroconf <= 0.148 leaves open
        try:
            for _ in range(budget.samples):
                time.sleep(PAUSE)
                helper = Helper(role, name)
                try:
                    reply = helper.read()
                finally:
                    helper.close()
                total.append(reply["called"] - helper.spawned)
                inside.append(reply["called"] - reply["imported"])
        finally:
            close()
    return total, inside


def measure_floor(budget: Budget) -> list[float]:
    """Seconds from spawning a Python process to its first line of our code."""
    floor = []
    for _ in range(budget.samples):
        helper = Helper("floor", "-")
        try:
            reply = helper.read()
        finally:
            helper.close()
        floor.append(reply["entered"] - helper.spawned)
    return floor


def _reference(group: str) -> dict:
    return {"group": group, "name": REFERENCE, "value": TARGETS[group], "unit": "ms",
            "samples": 0, "note": "issue 4 item 8 target (median), not a measurement",
            "reference": True}


def _rows(group: str, discovery_samples: Sequence[float],
          default_samples: Sequence[float] | str, note: str) -> list[dict]:
    """Reference, discovery and defaults rows (``default_samples``: or why not)."""
    from bench._harness import make_row, skipped_row, target

    goal = [target(REFERENCE, "<=", 1.0, f"<= {TARGETS[group]:g} ms")]
    how = ("register_service (probing), default ServiceBrowser, "
           "get_service_info, connect")
    return [
        _reference(group),
        make_row(group, DISCOVERY, discovery_samples, "ms", note, scale=1e3,
                 targets=goal),
        skipped_row(group, DEFAULTS, "ms", f"failed: {default_samples}")
        if isinstance(default_samples, str)
        else make_row(group, DEFAULTS, default_samples, "ms", how, scale=1e3),
    ]


def _defaults(measure: Callable[[], Any]) -> Any:
    """Run a zeroconf-defaults measurement; its failure is reported, not fatal."""
    try:
        return measure()
    except (RuntimeError, TimeoutError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"


# --------------------------------------------------------------------------
# discovery-fleet-failover
# --------------------------------------------------------------------------

FLEET_GROUP = "discovery-fleet-failover"

#: Lease of the published actor's registration (s): a heartbeat a second.
FLEET_TTL = 3.0

#: The issue's bound on carrying on through another node (s).
FLEET_TARGET = 1.0


def _poll(predicate: Callable[[], bool], timeout: float = SAMPLE_TIMEOUT) -> float:
    """Poll until ``predicate()``; the time it became true (monotonic)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"not within {timeout:g} s")
        time.sleep(0.005)
    return time.monotonic()


def measure_fleet_sample(prefix: str) -> dict[str, float]:
    """One fleet: find it, register through it, kill the node in use."""
    import contextlib
    import signal

    import discovery
    import registry
    from tests import servers

    key = f"bench-fleet-{uuid.uuid4().hex[:8]}".encode()
    options = {"address": ("127.0.0.1", 0), "authkey": key}
    with servers.redis() as store, contextlib.ExitStack() as stack:
        nodes = [stack.enter_context(uactor.start(
            registry.Registry, store=store.url, store_prefix=prefix,
            default_ttl=FLEET_TTL, options=options)) for _ in range(3)]
        for node in nodes:
            stack.enter_context(discovery.publish(node, role="registry",
                                                  interfaces=LOOPBACK, authkey=key))
        started = time.monotonic()
        found = discovery.find_registries(key, interfaces=LOOPBACK, min_count=3,
                                          timeout=SAMPLE_TIMEOUT)
        finding = time.monotonic() - started
        actor = stack.enter_context(uactor.start(BenchEcho, options=options))
        stack.enter_context(discovery.publish(actor, interfaces=LOOPBACK, authkey=key,
                                              register=True))
        _poll(lambda: any(node.stats()["registered"] for node in nodes))
        used = next(index for index, node in enumerate(nodes)
                    if node.stats()["registered"])
        survivors = [node for index, node in enumerate(nodes) if index != used]
        # Kill at a random point of the heartbeat period, timed from a renewal
        # seen as it happened (polled every 5 ms).
        _poll(lambda: nodes[used].stats()["renewed"] > 0)
        renewal = time.monotonic()
        interval = FLEET_TTL / 3
        time.sleep(random.uniform(0.05, 0.95) * interval)
        renewed = sum(node.stats()["renewed"] for node in survivors)
        dead = tuple(nodes[used].connection_address)
        order = [dead, *(address for address in found if address != dead)]
        os.kill(uactor.process(nodes[used]).pid, signal.SIGKILL)
        killed = time.monotonic()
        with registry.connect_actor(order, BenchEcho, key, timeout=5) as client:
            client.echo(1)
        connected = time.monotonic()
        moved = _poll(lambda: sum(node.stats()["renewed"] for node in survivors)
                      > renewed)
        return {"find_registries, three nodes": finding,
                "owner: kill to heartbeat through another node": moved - killed,
                "owner: heartbeat due to renewed through another node":
                    moved - (renewal + interval),
                "client: connect_actor through the found nodes": connected - killed}


def fleet_rows(budget: Budget) -> list[dict]:
    """The rows of ``discovery-fleet-failover``."""
    from bench._harness import make_row, progress, skipped_row, target

    results: dict[str, list[float]] = {}
    try:
        for sample in range(budget.samples):
            progress(f"{FLEET_GROUP} ({sample + 1}/{budget.samples})")
            prefix = f"bench-fleet-{uuid.uuid4().hex[:8]}/"
            for name, seconds in measure_fleet_sample(prefix).items():
                results.setdefault(name, []).append(seconds)
            time.sleep(PAUSE)  # lets the withdrawn adverts' goodbyes settle
    except Exception as exc:  # a missing redis-server skips the group
        if type(exc).__name__ not in ("Skipped", "ServerFailed"):
            raise
        return [skipped_row(FLEET_GROUP, "fleet: skipped", "s", str(exc))]
    reference = {"group": FLEET_GROUP, "name": "target (issue 11)",
                 "value": FLEET_TARGET * 1e3, "unit": "ms", "samples": 0,
                 "note": "carry on through another node within 1 s, not a measurement",
                 "reference": True}
    goal = [target("target (issue 11)", "<=", 1.0, "<= 1 s")]
    rows = [reference]
    for name, values in results.items():
        finding = name.startswith("find_registries")
        note = f"{len(values)} runs"
        if name.startswith("owner: kill"):
            note += (f"; killed at a random point of the heartbeat period (one "
                     f"every {FLEET_TTL / 3:g} s): includes the wait for the next "
                     f"heartbeat")
        elif name.startswith("owner"):
            note += ("; the move itself: from when the next heartbeat was due "
                     "(a renewal seen + one period) to its renewal on a survivor")
        rows.append(make_row(FLEET_GROUP, name, values, "ms", note, scale=1e3,
                             **({} if finding else {"targets": goal})))
    return rows


def run(quick: bool, only: Sequence[str] | None = None) -> list[dict]:
    """Rows for every discovery group (``only``: group filter from the harness)."""
    from bench._harness import group_selected, make_row, progress

    budget = QUICK if quick else FULL
    selected = [group for group in GROUPS if group_selected(group, only)]
    rows: list[dict] = []
    if {"discovery-publish", "discovery-withdraw"} & set(selected):
        progress("discovery-publish / discovery-withdraw")
        ours = measure_publish_and_withdraw(budget, DISCOVERY)
        theirs = ("skipped in --quick: zeroconf's default probing takes ~1.2 s a sample"
                  if quick else
                  _defaults(lambda: measure_publish_and_withdraw(budget, DEFAULTS)))
        to_call, to_removal = (theirs, theirs) if isinstance(theirs, str) else theirs
        if "discovery-publish" in selected:
            rows += _rows("discovery-publish", ours[0], to_call,
                          "new publisher process: actor start + publish(); the "
                          "browsing client connects and calls")
        if "discovery-withdraw" in selected:
            rows += _rows("discovery-withdraw", ours[1], to_removal,
                          "Publication.close() in the publisher to on_remove")
    if "discovery-client" in selected:
        group = "discovery-client"
        progress(group)
        floor = measure_floor(budget)
        ours_total, ours_inside = measure_new_client(budget, DISCOVERY)
        theirs = _defaults(lambda: measure_new_client(budget, DEFAULTS))
        failed = isinstance(theirs, str)
        rows += _rows(group, ours_total, theirs if failed else theirs[0],
                      "from spawning the client process (interpreter start and "
                      "imports included) to its first reply")
        rows.append(make_row(group, "python start", floor, "ms",
                             "spawn to the first line of a script importing "
                             "nothing of ours", scale=1e3, floor=True))
        rows.append(make_row(group, "discovery, discover() to reply", ours_inside,
                             "ms", "inside the client, after imports", scale=1e3))
        if not failed:
            rows.append(make_row(group, "zeroconf defaults, browse to reply",
                                 theirs[1], "ms", "inside the client, after imports",
                                 scale=1e3))
    if FLEET_GROUP in selected:
        rows += fleet_rows(budget)
    return rows



