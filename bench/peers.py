"""Peers over 127.0.0.1: Pyro5 (serpent and marshal) and RPyC.

Both are optional (the ``bench`` extra); :func:`available` tells which are
installed.  Each server runs in its own process, bound to 127.0.0.1 with an
OS-chosen port, serves the same trivial ``ping`` as the floors, and stops when
told so on its control pipe (bounded terminate/kill afterwards).  Neither peer
has an authkey handshake: their rows are plain TCP.
"""
from __future__ import annotations

import contextlib
import importlib.util
import multiprocessing
import multiprocessing.connection
import threading
import time
from typing import Any, Callable

from bench._floors import READY_TIMEOUT
from bench._harness import stop_process

LOOPBACK_HOST = "127.0.0.1"


def available(name: str) -> bool:
    """Whether the peer package ``name`` ("Pyro5", "rpyc") can be imported."""
    return importlib.util.find_spec(name) is not None


def _wait_for_close_then(control: multiprocessing.connection.Connection,
                         stop: Callable[[], Any]) -> threading.Thread:
    """In a server process: call ``stop()`` once the parent says so."""

    def watch() -> None:
        with contextlib.suppress(EOFError, OSError):
            control.recv()
        stop()

    thread = threading.Thread(target=watch, name="bench-peer-stop", daemon=True)
    thread.start()
    return thread


# --------------------------------------------------------------------------
# Pyro5
# --------------------------------------------------------------------------

def _pyro_server(report: multiprocessing.connection.Connection,
                 control: multiprocessing.connection.Connection) -> None:
    import Pyro5.api

    @Pyro5.api.expose
    class PyroEcho:
        def ping(self) -> None:
            return None

        def echo(self, value: Any) -> Any:
            return value

    with Pyro5.api.Daemon(host=LOOPBACK_HOST, port=0) as daemon:
        uri = daemon.register(PyroEcho(), "bench.echo")
        report.send(str(uri))
        report.close()
        watcher = _wait_for_close_then(control, daemon.shutdown)
        daemon.requestLoop()
        watcher.join(READY_TIMEOUT)


# --------------------------------------------------------------------------
# RPyC
# --------------------------------------------------------------------------

def _rpyc_server(report: multiprocessing.connection.Connection,
                 control: multiprocessing.connection.Connection) -> None:
    import rpyc
    from rpyc.utils.server import ThreadedServer

    class EchoService(rpyc.Service):
        def exposed_ping(self) -> None:
            return None

        def exposed_echo(self, value: Any) -> Any:
            return value

    # auto_register stays off: no registry broadcasts, loopback only.
    server = ThreadedServer(EchoService, hostname=LOOPBACK_HOST, port=0,
                            auto_register=False)
    # The port is bound in __init__ but listened on only in start(): report
    # it once the server is accepting, or a fast client is refused.
    serving = threading.Thread(target=server.start, name="bench-rpyc-serve")
    serving.start()
    deadline = time.monotonic() + READY_TIMEOUT
    while not server.active and serving.is_alive() and time.monotonic() < deadline:
        time.sleep(0.001)
    report.send(server.port)
    report.close()
    _wait_for_close_then(control, server.close).join()
    serving.join(READY_TIMEOUT)


# --------------------------------------------------------------------------
# Clients
# --------------------------------------------------------------------------

class PeerServer:
    """A peer server process; ``address`` is what it reported once ready."""

    def __init__(self, target: Callable[..., None], name: str) -> None:
        report, child_report = multiprocessing.Pipe(duplex=False)
        child_control, self._control = multiprocessing.Pipe(duplex=False)
        self._process = multiprocessing.Process(
            target=target, args=(child_report, child_control), name=name,
            daemon=True)
        self._process.start()
        child_report.close()
        child_control.close()
        if not report.poll(READY_TIMEOUT):
            self.close()
            raise RuntimeError(f"{name} did not report its address in "
                               f"{READY_TIMEOUT:.0f} s")
        self.address = report.recv()
        report.close()

    def close(self) -> None:
        # An explicit message: with fork, other children may hold copies of
        # the write end, so closing ours alone need not reach the server.
        with contextlib.suppress(OSError):
            self._control.send(None)
        self._control.close()
        stop_process(self._process)


class PyroPeer:
    """A Pyro5 server and one proxy per serializer asked for."""

    def __init__(self) -> None:
        self.server = PeerServer(_pyro_server, "bench-pyro5")
        self._proxies: list[Any] = []

    def proxy(self, serializer: str) -> Any:
        import Pyro5.api

        proxy = Pyro5.api.Proxy(self.server.address)
        proxy._pyroSerializer = serializer
        proxy._pyroBind()
        self._proxies.append(proxy)
        return proxy

    def close(self) -> None:
        for proxy in self._proxies:
            proxy._pyroRelease()
        self._proxies.clear()
        self.server.close()


class RpycPeer:
    """An RPyC ThreadedServer and one client connection."""

    def __init__(self) -> None:
        import rpyc

        self.server = PeerServer(_rpyc_server, "bench-rpyc")
        self.conn = rpyc.connect(LOOPBACK_HOST, self.server.address)
        self.ping = self.conn.root.ping

    def close(self) -> None:
        self.ping = None  # type: ignore[assignment]
        self.conn.close()
        self.server.close()
