"""Actor classes and process entry points used by the reliability tests.

They live in an importable module (not in test functions) so every start
method can pickle them and proxies to them can be forwarded.
"""
from __future__ import annotations

import os
import threading
import time

import psutil

import uactor

#: Authkey of every networked test actor here.
KEY = b"reliability-tests-key"

#: Networked options: loopback only, any free port.
NETWORK = {"address": ("127.0.0.1", 0), "authkey": KEY}

#: Longest a test actor method blocks (s): a backstop so that no actor
#: thread outlives a test that failed before releasing it.
BLOCK_LIMIT = 60.0


def process_stats() -> dict[str, int]:
    """File descriptors and threads of the calling process."""
    me = psutil.Process()
    return {"fds": me.num_fds(), "threads": threading.active_count(),
            "os_threads": me.num_threads()}


class Victim(uactor.Actor):
    """An actor that is killed (or stopped) while calls are in flight."""

    _options_ = NETWORK

    def __init__(self) -> None:
        self._entered = 0
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._children: list = []

    def block(self) -> str:
        """Return only when released (or after :data:`BLOCK_LIMIT`)."""
        with self._lock:
            self._entered += 1
        self._release.wait(BLOCK_LIMIT)
        return "released"

    def entered(self) -> int:
        """How many :meth:`block` calls are (or were) in progress."""
        with self._lock:
            return self._entered

    def release(self) -> None:
        self._release.set()

    def echo(self, value):
        return value

    def getpid(self) -> int:
        return os.getpid()

    def sleep(self, seconds: float) -> float:
        time.sleep(seconds)
        return seconds

    def spawn_child(self) -> int:
        """Start a nested actor owned by this one; return its pid."""
        child = Worker()
        self._children.append(child)
        return child.getpid()

    def start_helper(self, seconds: float) -> int:
        """Fork a plain helper process that idles ``seconds``; return its pid.

        What an actor does when its methods use ``multiprocessing`` (a pool, a
        background job) under the fork start method.
        """
        import multiprocessing

        helper = multiprocessing.get_context("fork").Process(
            target=idle, args=(seconds,), daemon=True)
        helper.start()
        self._children.append(helper)
        return helper.pid


class Worker(uactor.Actor):
    """A networked actor that reports its pid and echoes."""

    _options_ = NETWORK

    def getpid(self) -> int:
        return os.getpid()

    def echo(self, value):
        return value


class Ledger(uactor.Actor):
    """Records every call id it receives, to detect lost or repeated calls."""

    _options_ = NETWORK

    def __init__(self) -> None:
        self._ids: list = []
        self._lock = threading.Lock()

    def record(self, ident):
        with self._lock:
            self._ids.append(ident)
        return ident

    def ids(self) -> list:
        with self._lock:
            return list(self._ids)

    def getpid(self) -> int:
        return os.getpid()

    def stats(self) -> dict[str, int]:
        return process_stats()


class WildcardLedger(Ledger):
    """A :class:`Ledger` on every interface: only inside a private namespace."""

    _options_ = {"address": ("0.0.0.0", 0), "authkey": KEY}


class Sequencer(uactor.Actor):
    """Checks that each client's calls arrive exactly once and in order.

    Every client thread numbers its calls 0, 1, 2...; the actor keeps the next
    number it expects from each client and records any gap (a lost call) or
    repeat (a duplicated one), in O(clients) memory whatever the load.
    """

    _options_ = NETWORK

    def __init__(self) -> None:
        self._next: dict = {}
        self._anomalies: list = []
        self._lock = threading.Lock()

    def call(self, client, seq: int):
        with self._lock:
            expected = self._next.get(client, 0)
            if seq != expected and len(self._anomalies) < 100:
                self._anomalies.append((client, expected, seq))
            self._next[client] = max(expected, seq + 1)
        return client, seq

    def report(self) -> dict:
        """``{"counts": {client: calls received}, "anomalies": [...]}``."""
        with self._lock:
            return {"counts": dict(self._next), "anomalies": list(self._anomalies)}


class Echo(uactor.Actor):
    """A networked echo actor that can report its own resource usage."""

    _options_ = NETWORK

    def echo(self, value):
        return value

    def getpid(self) -> int:
        return os.getpid()

    def stats(self) -> dict[str, int]:
        return process_stats()


class Box:
    """A plain object handed out by :class:`Holder` as a proxy."""

    def __init__(self, value) -> None:
        self.value = value

    def get(self):
        return self.value


class Holder(uactor.Actor):
    """Hands out proxies to objects it holds (result proxies)."""

    _options_ = NETWORK
    _exposed_ = ("as_list", "as_auto", "held", "stats", "getpid")

    def as_list(self, value):
        return uactor.proxy([value], "list")

    def as_auto(self, value):
        return uactor.proxy(Box(value), "auto")

    def held(self) -> int:
        """Objects this actor's server holds references to (itself included)."""
        server = uactor._current_server
        with server.mutex:
            return len(server.id_to_obj)

    def stats(self) -> dict[str, int]:
        return process_stats()

    def getpid(self) -> int:
        return os.getpid()


class User(uactor.Actor):
    """Receives forwarded proxies, uses them, keeps and drops them."""

    _options_ = NETWORK

    def __init__(self) -> None:
        self._kept: list = []
        self._known: list = []

    def learn(self, address) -> None:
        """Connect to the actor at ``address`` (authkey :data:`KEY`), so that
        proxies to it forwarded here can authenticate (see the networking
        chapter: connect first, then receive forwarded proxies)."""
        self._known.append(uactor.Actor.connect(address, KEY))

    def read_list(self, proxy):
        return proxy[0]

    def read_auto(self, proxy):
        return proxy.get()

    def keep(self, proxy) -> int:
        self._kept.append(proxy)
        return len(self._kept)

    def drop(self) -> None:
        self._kept.clear()

    def relay(self, peer, value):
        """Call another actor through a forwarded actor proxy."""
        return peer.echo(value)

    def stats(self) -> dict[str, int]:
        return process_stats()


class UnpicklingError(Exception):
    """Raised by :func:`explode` while an argument is being rebuilt."""


def explode(message: str):
    """Rebuilding an :class:`Explosive` raises :class:`UnpicklingError`."""
    raise UnpicklingError(message)


class Explosive:
    """Pickles fine; rebuilding it (in the actor) raises UnpicklingError."""

    def __reduce__(self):
        return explode, ("this argument cannot be rebuilt",)


class DropOnPickle:
    """Empties ``box`` when pickled: drops a proxy in the middle of a call."""

    def __init__(self, box: list) -> None:
        self.box = box

    def __reduce__(self):
        self.box.clear()
        return int, (0,)


class Receiver(uactor.Actor):
    """Receives arguments (proxies, objects) it may fail to rebuild."""

    _options_ = NETWORK

    def take(self, value) -> str:
        return type(value).__name__

    def echo(self, value):
        return value


class Stranger(uactor.Actor):
    """A networked actor with an authkey nobody else here knows."""

    _options_ = {"address": ("127.0.0.1", 0), "authkey": b"stranger-key"}

    def echo(self, value):
        return value


# --------------------------------------------------------------------------
# Process entry points
# --------------------------------------------------------------------------


def idle(seconds: float) -> None:
    """Helper process body: do nothing for ``seconds``."""
    time.sleep(seconds)


def load_client(address, process_index: int, threads: int, calls: int, results) -> None:
    """``threads`` threads each make ``calls`` numbered calls to a Sequencer.

    Threads connect one at a time (their first call), then start together.
    Puts one report per thread on ``results``: ``(client, ok, errors)`` where
    ``ok`` counts replies that matched their request exactly and ``errors``
    lists up to 10 unexpected replies or exceptions.
    """
    proxy = Sequencer.connect(address, KEY, timeout=60)
    connect_lock = threading.Lock()
    start = threading.Barrier(threads)
    reports: list = []

    def client(thread_index: int) -> None:
        key = (process_index, thread_index)
        ok, errors, first = 0, [], True
        try:
            for seq in range(calls):
                if first:
                    with connect_lock:
                        reply = proxy.call(key, seq)
                    start.wait(60)
                    first = False
                else:
                    reply = proxy.call(key, seq)
                if reply == (key, seq):
                    ok += 1
                elif len(errors) < 10:
                    errors.append(f"call {seq}: got {reply!r}")
        except Exception as exc:  # reported to the test, which fails on it
            errors.append(f"{type(exc).__name__}: {exc}")
            start.abort()
        reports.append((key, ok, errors))

    workers = [threading.Thread(target=client, args=(index,)) for index in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    for report in reports:
        results.put(report)
