"""Actors for the reconnection tests (importable, for every start method)."""
from __future__ import annotations

import os
import threading
import time

import uactor
from tests.registry.actors import NETWORK


class Service(uactor.Actor):
    """A networked actor that can report, nap, fail and die on request."""

    _options_ = NETWORK

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._naps = 0

    def getpid(self) -> int:
        return os.getpid()

    def echo(self, value):
        return value

    def nap(self, seconds: float) -> float:
        """Counts the call, then sleeps (bounded: the tests time out sooner)."""
        with self._lock:
            self._naps += 1
        time.sleep(min(seconds, 10.0))
        return seconds

    def naps(self) -> int:
        with self._lock:
            return self._naps

    def die(self) -> None:
        """End the process in the middle of this call (no reply is sent)."""
        os._exit(3)

    def refuse(self) -> None:
        """Raise a connection error of the actor's own."""
        raise uactor.ActorConnectionError("raised by the actor's own code")
