"""The floors uactor is measured against, each served by its own process.

* ``multiprocessing.Pipe`` echo between two processes: the floor of any
  process design (one pickle each way over a socketpair, nothing else).
* ``multiprocessing.connection`` Listener/Client echo over TCP loopback with
  an authkey: the same floor for networked actors.
* ``multiprocessing.managers.BaseManager`` with a registered class: the floor
  of uactor's own design (a manager server process, proxies, one connection
  per thread), over its default local socket and over TCP with an authkey.

Server functions live at module level so that every start method can import
them.  Every ``start_*`` returns a client object with ``close()``; the
harness stops the server processes with a bounded terminate/kill escalation.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import os
from multiprocessing.managers import BaseManager
from typing import Any

from bench._harness import stop_process

#: Authkey the TCP floors and actors use (benchmarks only, loopback only).
AUTHKEY = b"uactor-bench"

#: Loopback address with an OS-chosen port, for every TCP server here.
LOOPBACK = ("127.0.0.1", 0)

#: Seconds to wait for a server process to report its address.
READY_TIMEOUT = 30.0


# --------------------------------------------------------------------------
# The object every floor and actor serves
# --------------------------------------------------------------------------

class EchoObject:
    """Trivial methods: the cost measured is the call machinery alone."""

    def ping(self) -> None:
        return None

    def echo(self, value: Any) -> Any:
        return value

    def pid(self) -> int:
        return os.getpid()


class FloorManager(BaseManager):
    """A plain BaseManager with :class:`EchoObject` registered as ``Echo``."""


FloorManager.register("Echo", EchoObject)


# --------------------------------------------------------------------------
# Pipe echo (floor of any process design)
# --------------------------------------------------------------------------

def _pipe_echo_server(conn: multiprocessing.connection.Connection) -> None:
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        conn.send(message)


def _pipe_bytes_echo_server(conn: multiprocessing.connection.Connection) -> None:
    while True:
        try:
            message = conn.recv_bytes()
        except EOFError:
            return
        if not message:
            return
        conn.send_bytes(message)


class PipeEcho:
    """A child process echoing whatever is sent down a duplex Pipe.

    ``raw=True`` echoes with ``send_bytes``/``recv_bytes`` (no pickling), the
    wire floor for ``bytes`` payloads.
    """

    def __init__(self, raw: bool = False) -> None:
        self._conn, child_conn = multiprocessing.Pipe()
        target = _pipe_bytes_echo_server if raw else _pipe_echo_server
        self._process = multiprocessing.Process(target=target, args=(child_conn,),
                                                name="bench-pipe-echo", daemon=True)
        self._process.start()
        child_conn.close()
        self.raw = raw

    def call(self, message: Any = ("ping", ())) -> Any:
        self._conn.send(message)
        return self._conn.recv()

    def call_bytes(self, message: bytes) -> bytes:
        self._conn.send_bytes(message)
        return self._conn.recv_bytes()

    def close(self) -> None:
        if self._process.is_alive():
            try:
                if self.raw:
                    self._conn.send_bytes(b"")
                else:
                    self._conn.send(None)
            except OSError:
                pass
        self._conn.close()
        stop_process(self._process)


# --------------------------------------------------------------------------
# multiprocessing.connection echo over TCP with authkey
# --------------------------------------------------------------------------

def _tcp_echo_server(report: multiprocessing.connection.Connection,
                     authkey: bytes) -> None:
    with multiprocessing.connection.Listener(LOOPBACK, authkey=authkey) as listener:
        report.send(listener.address)
        report.close()
        with listener.accept() as conn:
            _pipe_echo_server(conn)


class TcpEcho:
    """A child process echoing over a TCP loopback connection with authkey."""

    def __init__(self, authkey: bytes = AUTHKEY) -> None:
        report, child_report = multiprocessing.Pipe(duplex=False)
        self._process = multiprocessing.Process(
            target=_tcp_echo_server, args=(child_report, authkey),
            name="bench-tcp-echo", daemon=True)
        self._process.start()
        child_report.close()
        if not report.poll(READY_TIMEOUT):
            stop_process(self._process)
            raise RuntimeError("TCP echo server did not report its address")
        self.address = report.recv()
        report.close()
        self._conn = multiprocessing.connection.Client(self.address, authkey=authkey)

    def call(self, message: Any = ("ping", ())) -> Any:
        self._conn.send(message)
        return self._conn.recv()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._conn.send(None)
        self._conn.close()
        stop_process(self._process)


# --------------------------------------------------------------------------
# BaseManager with a registered class (floor of this design)
# --------------------------------------------------------------------------

class ManagerEcho:
    """A started :class:`FloorManager` and a proxy to one :class:`EchoObject`.

    ``tcp=True`` listens on 127.0.0.1 with :data:`AUTHKEY`; otherwise the
    manager uses its default local transport (a Unix socket on Linux).
    """

    def __init__(self, tcp: bool = False) -> None:
        if tcp:
            self.manager = FloorManager(address=LOOPBACK, authkey=AUTHKEY)
        else:
            self.manager = FloorManager()
        self.manager.start()
        self.proxy = self.manager.Echo()  # type: ignore[attr-defined]
        self.ping = self.proxy.ping
        self.echo = self.proxy.echo

    @property
    def server_pid(self) -> int:
        return self.manager._process.pid  # type: ignore[attr-defined]

    def close(self) -> None:
        self.ping = self.echo = None  # type: ignore[assignment]
        del self.proxy
        self.manager.shutdown()


def manager_cold_start() -> int:
    """Start a manager, make one call, shut it down; returns the server pid."""
    manager = FloorManager()
    manager.start()
    proxy = manager.Echo()  # type: ignore[attr-defined]
    pid = proxy.pid()
    del proxy
    manager.shutdown()
    return pid
