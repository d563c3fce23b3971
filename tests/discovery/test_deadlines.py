"""One deadline for all of discover(): browse, resolve, connect and handshake.

A peer that answers the TCP connection and then trickles one byte a second
must not hold ``discover(timeout=4)`` past 4.5 s (issue 10, item 5): the
server is a real socket, advertised with a valid signature over loopback
mDNS, so discover() does connect to it.
"""
from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time

import pytest

import discovery
import discovery.aio
from tests import wire
from tests.discovery.actors import AUTHKEY, LOOPBACK, Echo

#: discover()'s timeout here, and how far past it it may return (s).
TIMEOUT, SLACK = 4.0, 0.5

#: What the trickler sends: a genuine-looking actor's hello (48 bytes, so
#: 48 s at its pace), which the client must read whole before answering.
HELLO = wire.HELLO.pack(wire.MAGIC, wire.VERSION, wire.FLAG_FRAME_MAC, 0, bytes(32))


class Trickler:
    """Accepts every connection and sends each one byte of a hello a second."""

    #: Seconds between two bytes.
    PACE = 1.0

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.clients: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, name="trickler", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        sent, next_byte = 0, time.monotonic()
        while not self.stop.is_set():
            with contextlib.suppress(socket.timeout):
                self.clients.append(self.sock.accept()[0])
            if self.clients and time.monotonic() >= next_byte:
                for conn in self.clients:
                    with contextlib.suppress(OSError):  # the client gave up
                        conn.sendall(HELLO[sent % len(HELLO):][:1])
                sent, next_byte = sent + 1, next_byte + self.PACE

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        for conn in self.clients:
            conn.close()
        self.sock.close()


def blocking(**arguments: object) -> object:
    return discovery.discover(Echo, AUTHKEY, **arguments)


def awaiting(**arguments: object) -> object:
    return asyncio.run(discovery.aio.discover(Echo, AUTHKEY, **arguments))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("discover", [blocking, awaiting])
def test_a_trickling_peer_cannot_hold_discover_past_its_timeout(discover, unique_name):
    trickler = Trickler()
    try:
        with discovery.publish_address(Echo, ("127.0.0.1", trickler.port),
                                       name=unique_name, interfaces=LOOPBACK,
                                       authkey=AUTHKEY):
            started = time.monotonic()
            with pytest.raises(discovery.DiscoveryTimeoutError) as caught:
                discover(name=unique_name, interfaces=LOOPBACK, timeout=TIMEOUT)
            took = time.monotonic() - started
    finally:
        trickler.close()
    assert trickler.clients  # it was dialed: the deadline cut the handshake
    assert took <= TIMEOUT + SLACK, f"discover(timeout={TIMEOUT}) took {took:.1f} s"
    [(instance, address, reason)] = caught.value.attempts
    assert address == f"127.0.0.1:{trickler.port}"
    assert "handshake" in reason, reason
