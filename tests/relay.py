"""A byte-for-byte TCP relay that can tamper with uactor frames.

It sits between clients and an actor, forwards the handshake untouched (so
both sides authenticate each other through it, as an on-path attacker
relaying the handshake would) and then cuts each direction into frames
(:mod:`tests.wire` format) and hands every frame to a ``tamper`` function,
which returns the frames to forward instead: ``[frame]`` forwards it, ``[]``
drops it, ``[forged, frame]`` injects one, ``[altered]`` alters it, and so
on.  Without ``tamper`` it only forwards.
"""
from __future__ import annotations

import contextlib
import socket
import struct
import threading
from typing import Callable

from tests import wire

#: Directions, as ``tamper`` receives them.
TO_ACTOR, TO_CLIENT = "to actor", "to client"


def split_frames(buffer: bytearray, tagged: bool = True) -> list[bytes]:
    """Remove and return the complete frames at the start of ``buffer``."""
    frames = []
    while len(buffer) >= wire.HEADER.size:
        body, count = wire.HEADER.unpack_from(buffer)
        header = wire.HEADER.size + 8 * count
        if len(buffer) < header:
            break
        sizes = struct.unpack_from(f"!{count}Q", buffer, wire.HEADER.size)
        total = header + body + sum(sizes) + (wire.TAG_BYTES if tagged else 0)
        if len(buffer) < total:
            break
        frames.append(bytes(buffer[:total]))
        del buffer[:total]
    return frames


class Link:
    """One client connection through the relay, and what it carried."""

    def __init__(self, client: socket.socket, actor: socket.socket) -> None:
        self.client, self.actor = client, actor
        #: Frames seen so far in each direction (before tampering).
        self.frames: dict[str, list[bytes]] = {TO_ACTOR: [], TO_CLIENT: []}

    @property
    def serving(self) -> bool:
        """Whether the client asked the actor to serve its calls here."""
        first = self.frames[TO_ACTOR][:1]
        return bool(first) and b"accept_connection" in first[0]

    def close(self) -> None:
        for sock in (self.client, self.actor):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


Tamper = Callable[[Link, str, bytes], "list[bytes]"]


class Relay:
    """Listens on 127.0.0.1 (or ::1) and relays every connection to ``target``.

    ``listen`` picks the address instead (an attacker's own address and the
    actor's port, say).
    """

    def __init__(self, target: tuple, tamper: Tamper | None = None, *,
                 listen: tuple[str, int] | None = None) -> None:
        self.target = target
        self.tamper = tamper
        family = socket.AF_INET6 if ":" in target[0] else socket.AF_INET
        self._listener = socket.socket(family)
        self._listener.bind(listen or ("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
        self._listener.listen()
        self.address = self._listener.getsockname()[:2]
        self.links: list[Link] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.RLock()
        self._closed = False
        self._start(self._accept)

    def _start(self, target: Callable, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name="test-relay", daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                actor = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            actor.settimeout(None)
            link = Link(client, actor)
            with self._lock:  # close() then sees every pump it must join
                if self._closed:
                    link.close()
                    return
                self.links.append(link)
                self._start(self._pump, link, TO_ACTOR, client, actor, wire.CLIENT_HANDSHAKE)
                self._start(self._pump, link, TO_CLIENT, actor, client, wire.SERVER_HANDSHAKE)

    def _pump(self, link: Link, direction: str, source: socket.socket,
              sink: socket.socket, handshake: int) -> None:
        """Forward ``source`` to ``sink``: the handshake as is, then frame by frame."""
        buffer = bytearray()
        try:
            while True:
                data = source.recv(1 << 16)
                if not data:
                    break
                if handshake:
                    passed, data = data[:handshake], data[handshake:]
                    handshake -= len(passed)
                    sink.sendall(passed)
                buffer += data
                for frame in split_frames(buffer):
                    link.frames[direction].append(frame)
                    out = [frame] if self.tamper is None else \
                        self.tamper(link, direction, frame)
                    for piece in out:
                        sink.sendall(piece)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            links, threads = list(self.links), list(self._threads)
        with contextlib.suppress(OSError):  # wakes the blocked accept()
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for link in links:
            link.close()
        for thread in threads:
            thread.join(10)
        assert not any(thread.is_alive() for thread in threads), "relay threads left"

    def __enter__(self) -> Relay:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
