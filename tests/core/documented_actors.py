"""Actors for tests/core/test_documented_behaviour.py (importable: every start method)."""
from __future__ import annotations

import os
import signal
import threading

import psutil

import uactor


class SignalHandling(uactor.Actor):
    def __init__(self):
        self.seen = 0
        self.thread = threading.current_thread().name
        signal.signal(signal.SIGUSR1, self._handle)  # fails off the main thread

    def _handle(self, signum, frame):
        self.seen += 1

    def init_thread(self):
        return self.thread

    def raise_signal(self):
        os.kill(os.getpid(), signal.SIGUSR1)

    def signals_seen(self):
        return self.seen


class StickyActor(uactor.Actor):
    """The sticky processes chapter, with the standard library."""

    def __init__(self, core):
        os.sched_setaffinity(0, {core})

    def affinity(self):
        return sorted(os.sched_getaffinity(0))

    def affinity_from_new_thread(self):
        found = []
        thread = threading.Thread(target=lambda: found.extend(sorted(os.sched_getaffinity(0))))
        thread.start()
        thread.join()
        return found


class PsutilStickyActor(StickyActor):
    """The sticky processes chapter as written (psutil)."""

    def __init__(self, core):
        psutil.Process().cpu_affinity([core])


class CustomProxy(uactor.ActorProxy):
    def custom(self):
        return "custom, by hand"


class WithCustomProxy(uactor.Actor):
    proxy_class = CustomProxy

    def ping(self):
        return "pong"


class CustomChild(WithCustomProxy):
    def custom(self):
        return "from the actor"  # the declared proxy's own method wins


class ClientSideView(uactor.Actor):
    """What a client declares to talk to a NetworkActor without its code."""

    def getpid(self):
        raise NotImplementedError  # runs on the server

    def not_on_the_server(self):
        raise NotImplementedError


class Proxying(uactor.Actor):
    def ping(self):
        return "pong"

    def myself(self):
        return uactor.proxy(self, "actor")

    def int_as_actor(self):
        return uactor.proxy(1, "actor")

    def unknown_typeid(self):
        return uactor.proxy([], "nope")


class Attributes(uactor.Actor):
    _exposed_ = ("my_attribute", "checked", "read_only", "read_attribute")

    def __init__(self):
        self.my_attribute = None
        self._checked = 0

    @property
    def checked(self):
        return self._checked

    @checked.setter
    def checked(self, value):
        if value < 0:
            raise ValueError(f"checked must not be negative, got {value}")
        self._checked = value

    @property
    def read_only(self):
        return 1

    def read_attribute(self):
        return self.my_attribute
