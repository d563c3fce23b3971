"""Actor classes used by the discovery tests (importable, for spawn and forwarding)."""
from __future__ import annotations

import os
import uuid

import discovery
import uactor

AUTHKEY = b"discovery-tests"
LOOPBACK = ["127.0.0.1"]


class Echo(uactor.Actor):
    _options_ = {"address": ("127.0.0.1", 0), "authkey": AUTHKEY}

    def echo(self, value):
        return value

    def getpid(self):
        return os.getpid()


class Other(uactor.Actor):
    _options_ = {"address": ("127.0.0.1", 0), "authkey": AUTHKEY}

    def kind(self):
        return "other"


class Counter:
    """A plain object handed out as a proxy by :class:`Holder`."""

    def __init__(self):
        self.value = 0

    def increment(self):
        self.value += 1
        return self.value


class Holder(uactor.Actor):
    """Returns a proxy to an inner object (its token carries the bind address)."""

    _options_ = {"address": ("127.0.0.1", 0), "authkey": AUTHKEY}
    _exposed_ = ("counter", "getpid")

    def __init__(self):
        self._counter = Counter()

    def counter(self):
        return uactor.proxy(self._counter, "auto")

    def getpid(self):
        return os.getpid()


class AdvertisedEcho(discovery.Advertised, uactor.Actor):
    _options_ = {"address": ("127.0.0.1", 0), "authkey": AUTHKEY}
    _advertise_ = {"interfaces": LOOPBACK}

    def echo(self, value):
        return value

    def getpid(self):
        return os.getpid()


#: Registry name RegisteredEcho looks for: unique per test session, inherited
#: by actor processes through the environment (fork or spawn alike).
REGISTRY_NAME = os.environ.setdefault("DISCOVERY_TEST_REGISTRY",
                                      f"registry-{uuid.uuid4().hex[:10]}")


class RegisteredEcho(discovery.Advertised, uactor.Actor):
    """Advertises itself and registers with the registry named REGISTRY_NAME."""

    _options_ = {"address": ("127.0.0.1", 0), "authkey": AUTHKEY}
    _advertise_ = {"interfaces": LOOPBACK, "register": REGISTRY_NAME}

    def echo(self, value):
        return value
