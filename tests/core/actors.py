"""Actor classes used by the core tests (importable, so every start method works)."""
from __future__ import annotations

import multiprocessing.managers
import multiprocessing.pool
import os
import threading
import time

import uactor


class Echo(uactor.Actor):
    def echo(self, value):
        return value

    def getpid(self):
        return os.getpid()

    def sleep(self, seconds):
        time.sleep(seconds)
        return seconds

    def fail(self, kind, message):
        raise kind(message)

    def unpicklable(self):
        return threading.Lock()


class Feline(uactor.Actor):
    def __init__(self, name):
        self.name = name

    def greet(self):
        return f"[{os.getpid()}] Hi, it's {self.name}."


class Cat(Feline):
    def greet(self):
        return f"{super().greet()} Meow."


class Tiger(Feline):
    def greet(self):
        return f"{super().greet()} Roar."


class Parent(uactor.Actor):
    _exposed_ = ("greet",)

    def greet(self):
        return f"It's {type(self).__name__}."

    def private(self):
        return "This method won't be available in the proxy"


class Child(Parent):
    _exposed_ = ("hello",)

    def hello(self):
        return f"{super().greet()} Hello."


class GrandChild(Child):
    def extra(self):
        return "extra"


class Recorder(uactor.Actor):
    """Appends its lifecycle events to a file, to observe them from outside."""

    def __init__(self, path, suppress=False):
        self.path = path
        self.suppress = suppress
        self._record("Initialized")

    def _record(self, event):
        with open(self.path, "a") as stream:
            stream.write(event + "\n")

    def __enter__(self):
        self._record("Context enter")
        return super().__enter__()

    def __exit__(self, exc_type, exc_value, traceback):
        self._record(f"Context exit {exc_type.__name__ if exc_type else None}")
        super().__exit__(exc_type, exc_value, traceback)
        return self.suppress

    def shutdown(self):
        self._record("Shutdown")

    def _actor_stopping_(self):
        self._record("Stopping")

    def getpid(self):
        return os.getpid()


class Results(uactor.Actor):
    _method_to_typeid_ = {"declarative": "list", "mapping": "dict"}
    _exposed_ = ("declarative", "serialized", "mapping", "data", "event", "pool",
                 "queue", "auto", "as_dict_and_list", "both")

    def __init__(self):
        self._data = [1, 2, 3]
        self._mapping = {"a": 1}
        self._event = threading.Event()
        self._pool = multiprocessing.pool.ThreadPool(2)
        self._queue = __import__("queue").Queue()

    def declarative(self):
        return self._data

    def serialized(self, as_proxy=False):
        return uactor.proxy(self._data, "list") if as_proxy else self._data

    def mapping(self):
        return self._mapping

    def data(self):
        return self._data

    @property
    def event(self):
        return uactor.proxy(self._event, "Event")

    @property
    def pool(self):
        return uactor.proxy(self._pool, "Pool")

    @property
    def queue(self):
        return uactor.proxy(self._queue, "Queue")

    def auto(self):
        return uactor.proxy(self._data)

    def both(self):
        return [uactor.proxy(self._data, "list"), uactor.proxy(self._data, "auto")]

    def as_dict_and_list(self):
        return {"list": uactor.proxy(self._data, "list")}

    def shutdown(self):
        self._pool.terminate()


class ActorA(uactor.Actor):
    def send(self, target):
        return target("ping")


class ActorB(uactor.Actor):
    def receive(self, value):
        return "pong" if value == "ping" else "error"


class MyOtherActor(uactor.Actor):
    _options_ = {"authkey": b"OtherSecret"}

    def getpid(self):
        return os.getpid()


class MyActor(uactor.Actor):
    _exposed_ = ("my_other_actor", "my_other_actor_address")

    def __init__(self):
        self.my_other_actor = MyOtherActor()

    @property
    def my_other_actor_address(self):
        return self.my_other_actor.connection_address


class Worker(uactor.Actor):
    def getpid(self):
        return os.getpid()

    def ppid(self):
        return os.getppid()


class Factory(uactor.Actor):
    """Nested actors: creates actors and returns proxies to them."""

    def __init__(self):
        self.kept = []

    def spawn(self):
        return Worker()

    def keep(self):
        worker = Worker()
        self.kept.append(worker)
        return worker

    def children(self):
        return [worker.getpid() for worker in self.kept]


class NetworkActor(uactor.Actor):
    _options_ = {"address": ("127.0.0.1", 0), "authkey": b"SECRET"}

    def __init__(self):
        self.finished = threading.Event()
        self.inner = [1, 2, 3]

    def getpid(self):
        return os.getpid()

    def shutdown(self):
        self.finished.set()

    def wait(self, timeout=-1):
        return self.finished.wait(timeout)

    def get_inner(self):
        return uactor.proxy(self.inner, "list")

    def sleep(self, seconds):
        time.sleep(seconds)
        return seconds


class WildcardActor(NetworkActor):
    """Bound to every interface: only run inside an isolated network namespace."""

    _options_ = {"address": ("0.0.0.0", 0), "authkey": b"SECRET"}

    def __init__(self):
        super().__init__()
        self.partner = None

    def make_partner(self):
        self.partner = WildcardActor()
        return self.partner.connection_address

    def get_partner(self):
        return self.partner


class Registry(uactor.Actor):
    """The networking chapter's registry example."""

    _options_ = {"address": ("127.0.0.1", 0), "authkey": b"SECRET"}

    def __init__(self):
        self.addresses = frozenset()
        self.iterator = iter(())

    def register(self, *addresses):
        import itertools

        addresses = self.addresses.union(addresses)
        self.iterator, self.addresses = itertools.cycle(addresses), addresses

    def pick(self):
        return next(self.iterator, None)


class SharedActor(uactor.Actor):
    def __init__(self):
        self.shared = multiprocessing.managers.SharedMemoryManager()
        self.shared.start()

    def shutdown(self):
        self.shared.shutdown()

    def get_shared_res(self):
        data = f"Shared memory from {os.getpid()}.".encode()
        shared = self.shared.SharedMemory(len(data))
        shared.buf[:] = data
        return shared


class XmlActor(uactor.Actor):
    _options_ = {"serializer": "xmlrpclib"}
    _method_to_typeid_ = {"items": "list"}

    def add(self, a, b):
        return a + b

    def fail(self):
        raise ValueError("nope")

    def items(self):
        return [1, 2]

    def proxied(self):
        return uactor.proxy([1, 2], "list")


class BadInit(uactor.Actor):
    def __init__(self, value):
        raise ValueError(f"bad value {value!r}")


class UnpicklableError(Exception):
    def __init__(self, message, lock):
        super().__init__(message)
        self.lock = lock


class Raiser(uactor.Actor):
    def raise_unpicklable(self):
        raise UnpicklableError("with a lock", threading.Lock())


class Sized(uactor.Actor):
    def size(self, value):
        return len(memoryview(value).cast("B"))

    def make(self, size):
        import pickle

        return pickle.PickleBuffer(bytearray(b"x" * size))


def pattern(size: int) -> bytes:
    """``size`` bytes whose content both sides of a payload test can rebuild."""
    return bytes(range(256)) * (size // 256) + bytes(range(size % 256))


def describe(value):
    """What a payload is, as plain data: types, sizes, memoryview layout."""
    if isinstance(value, (list, tuple)):
        return [type(value).__name__, [describe(item) for item in value]]
    if isinstance(value, dict):
        return {key: describe(item) for key, item in value.items()}
    if isinstance(value, memoryview):
        return ["memoryview", value.format, list(value.shape), value.readonly, value.nbytes]
    if isinstance(value, (bytes, bytearray)):
        return [type(value).__name__, len(value), bytes(value) == pattern(len(value))]
    return [type(value).__name__]


def make(kind: str, size: int):
    """A payload of ``kind`` holding :func:`pattern` ``(size)``."""
    data = pattern(size)
    return {"bytes": data, "bytearray": bytearray(data),
            "memoryview": memoryview(data),
            "writable memoryview": memoryview(bytearray(data))}[kind]


class Payloads(uactor.Actor):
    """Says what it received, makes payloads, echoes (tests/core/test_payloads.py)."""

    _options_ = {"address": ("127.0.0.1", 0), "authkey": b"SECRET"}

    def describe(self, value):
        return describe(value)

    def make(self, kind: str, size: int):
        return make(kind, size)

    def echo(self, value):
        return value

    def grow(self, value: bytearray) -> bytearray:
        value += b"!"  # a received bytearray is mutable
        return value


class LocalPayloads(Payloads):
    _options_ = {}


class StrictPayloads(Payloads):
    """:class:`Payloads` decoding plain data only (an empty allow-list)."""

    _options_ = {"address": ("127.0.0.1", 0), "authkey": b"SECRET", "allowed_classes": []}
