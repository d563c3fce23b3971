"""Actors and payloads for the transport tests (importable by every start method).

:class:`Marker` is the attack payload of the security tests: unpickling it
runs a shell command (``os.system``) that appends a line to a file, so a
test can tell whether anything decoded it, in the actor or in the client.
"""
from __future__ import annotations

import os
import shlex
import threading
import time

import psutil

import uactor

#: Authkey of the networked transport test actors.
KEY = b"transport-tests-key"

#: Networked options: loopback only, any free port.
TCP = {"address": ("127.0.0.1", 0), "authkey": KEY}


class Marker:
    """A pickle whose loading runs ``echo ran >> path`` through ``os.system``."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple:
        return (os.system, (f"echo ran >> {shlex.quote(self.path)}",))


def runs(path: str) -> int:
    """How many times a :class:`Marker` for ``path`` was decoded."""
    try:
        with open(path) as stream:
            return stream.read().count("ran")
    except FileNotFoundError:
        return 0


class Point:
    """A plain class an allow-list actor accepts."""

    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)

    def __hash__(self) -> int:
        return hash((self.x, self.y))


class Store(uactor.Actor):
    """Echoes, counts, reports on itself."""

    _options_ = TCP

    def __init__(self) -> None:
        self.items: list = []
        self.lock = threading.Lock()

    def echo(self, value):
        return value

    def append(self, value) -> int:
        with self.lock:
            self.items.append(value)
            return len(self.items)

    def count(self) -> int:
        return len(self.items)

    def marker(self, path: str) -> Marker:
        """A reply whose decoding, in the client, runs a command."""
        return Marker(path)

    def get_inner(self):
        return uactor.proxy(self.items, "list")

    def getpid(self) -> int:
        return os.getpid()

    def rss(self) -> int:
        return psutil.Process().memory_info().rss

    def owner(self) -> bool:
        return uactor.caller_is_owner()

    def slow_echo(self, value, seconds: float):
        time.sleep(seconds)
        return value


class LocalStore(Store):
    """:class:`Store` on a unix socket (no address), with an empty authkey."""

    _options_ = {"authkey": b""}


class LimitedStore(Store):
    """:class:`Store` reading messages of at most 1 MiB."""

    _options_ = {**TCP, "max_message": 1 << 20}


class StrictStore(Store):
    """:class:`Store` decoding plain data and :class:`Point` only."""

    _options_ = {**TCP, "allowed_classes": [Point]}


class Caller(uactor.Actor):
    """Calls another actor from its own process (not the owner of it)."""

    def owner_of(self, address, authkey: bytes) -> bool:
        return Store.connect(address, authkey).owner()

    def shutdown_raw(self, address, authkey: bytes):
        """A raw server-level shutdown of the actor at ``address``."""
        from tests import wire

        with wire.connect(address, authkey) as session:
            return session.request("shutdown")


class WildStore(Store):
    """:class:`Store` on every IPv6 (and, dual-stack, IPv4) interface: only in
    a private network namespace."""

    _options_ = {"address": ("::", 0), "authkey": KEY}

    def __init__(self) -> None:
        super().__init__()
        self.partner = None

    def make_partner(self):
        """Start another actor bound to '::'; return its bind address."""
        self.partner = WildStore()
        return self.partner.connection_address

    def get_partner(self):
        return self.partner
