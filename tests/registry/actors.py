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


class FakeUnspecifiedProxy:
    """Stands for a proxy of an actor bound to ``0.0.0.0``.

    Tests may not bind ``0.0.0.0`` (machine rule), so a real actor listens on
    127.0.0.1 and this object claims the unspecified bind address of the same
    port, which is all the helpers look at.
    """

    def __init__(self, port: int) -> None:
        self.connection_address = ("0.0.0.0", port)
        self._authkey = KEY  # what a real proxy carries, for liveness probes


def register_and_exit(registry_address, worker_address, ttl):
    """Process entry point: register an actor and return without closing."""
    proxy = FakeUnspecifiedProxy(worker_address[1])
    registry.register_actor(registry_address, proxy, authkey=KEY, name="Exiting", ttl=ttl)
