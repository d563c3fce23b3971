"""Actors for the asyncio tests (importable, so every start method works)."""
from __future__ import annotations

import asyncio
import os
import threading
import time

import uactor


class Counter:
    """A plain object handed out as a result proxy."""

    def __init__(self) -> None:
        self.value = 0

    def add(self, amount: int) -> int:
        self.value += amount
        return self.value


def _explode():
    raise ValueError("cannot be rebuilt here")


class Bomb:
    """Pickles fine in the actor; unpickling it raises in the caller."""

    def __reduce__(self):
        return (_explode, ())


class Worker(uactor.Actor):
    _exposed_ = ("add", "echo", "nap", "snooze", "fail", "afail", "getpid", "counter",
                 "make_counter", "calls", "call_back", "loop_thread", "owner",
                 "aowner", "label", "bomb")
    _method_to_typeid_ = {"make_counter": "auto"}

    def __init__(self) -> None:
        self.label = "worker"
        self._calls: list = []

    def add(self, a: int, b: int) -> int:
        return a + b

    def echo(self, value):
        return value

    def getpid(self) -> int:
        return os.getpid()

    def bomb(self) -> Bomb:
        return Bomb()

    def nap(self, seconds: float, tag=None) -> float:
        time.sleep(seconds)
        self._calls.append(tag)
        return seconds

    async def snooze(self, seconds: float, tag=None):
        await asyncio.sleep(seconds)
        self._calls.append(tag)
        return tag

    def fail(self, message: str) -> None:
        raise ValueError(message)

    async def afail(self, message: str) -> None:
        await asyncio.sleep(0)
        raise KeyError(message)

    def counter(self) -> Counter:
        return uactor.proxy(Counter())

    def make_counter(self) -> Counter:
        return Counter()

    def calls(self) -> list:
        return list(self._calls)

    def call_back(self, other, value):
        return other.echo(value)

    async def loop_thread(self) -> str:
        return threading.current_thread().name

    def owner(self) -> bool:
        return uactor.caller_is_owner()

    async def aowner(self) -> bool:
        await asyncio.sleep(0)
        return uactor.caller_is_owner()


class NetWorker(Worker):
    _options_ = {"address": ("127.0.0.1", 0), "authkey": b"async secret"}
