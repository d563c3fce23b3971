"""The actors uactor's rows measure (importable by every start method).

Importing this module imports ``uactor``; :mod:`bench.bench_core` imports it
lazily so that the floors and peers still run when uactor cannot be imported.
"""
from __future__ import annotations

import asyncio
import os
from typing import Any

import uactor
from bench._floors import AUTHKEY, LOOPBACK


class BenchActor(uactor.Actor):
    """Same trivial methods as :class:`bench._floors.EchoObject`."""

    def ping(self) -> None:
        return None

    def echo(self, value: Any) -> Any:
        return value

    def pid(self) -> int:
        return os.getpid()

    async def asleep(self, seconds: float) -> float:
        """A coroutine method: concurrent calls interleave at the await."""
        await asyncio.sleep(seconds)
        return seconds


class BenchTcpActor(BenchActor):
    """:class:`BenchActor` listening on 127.0.0.1 with the bench authkey."""

    _options_ = {"address": LOOPBACK, "authkey": AUTHKEY}


class BenchTcp6Actor(BenchActor):
    """:class:`BenchActor` listening on IPv6 loopback (``::1``)."""

    _options_ = {"address": ("::1", 0), "authkey": AUTHKEY}


class BenchStrictTcpActor(BenchActor):
    """:class:`BenchTcpActor` decoding with the allow-list (plain data only)."""

    _options_ = {"address": LOOPBACK, "authkey": AUTHKEY, "allowed_classes": ()}
