"""A one-shot (legacy unicast) query that fills a fresh browser's cache at once.

A new browser's first multicast query waits 20-120 ms (RFC 6762 §5.2), and
responders delay shared answers by another 20-120 ms, or by a full second
when the record was multicast in the last second (§6).  A query sent from
an ordinary UDP port instead is a *one-shot* query (§5.1, §6.7): responders
answer it at once, by unicast, to that port.  So a browser sends one such
query per interface (IPv4 address or IPv6 interface index) when it starts and
hands the answers to zeroconf's record manager, exactly as if they had
arrived on its own socket; its normal multicast queries carry on as usual.

Everything here runs on zeroconf's event loop and never blocks.
"""
from __future__ import annotations

import asyncio
import logging
import random
import socket
import struct

from zeroconf import DNSIncoming, DNSOutgoing, DNSQuestion, Zeroconf

from ._advert import SERVICE_TYPE
from ._interfaces import Resolved, ipv4_sources, ipv6_indexes

log = logging.getLogger("discovery")

#: mDNS groups and port (RFC 6762).
MDNS_GROUP, MDNS_GROUP6, MDNS_PORT = "224.0.0.251", "ff02::fb", 5353

#: How long the one-shot sockets listen for answers (s).
ANSWER_WINDOW = 2.0

#: Largest datagram read (bytes): mDNS packets stay under 9000 (RFC 6762 §17).
MAX_PACKET = 9000

_TYPE_PTR, _CLASS_IN = 12, 1


class OneShotQuery:
    """Sockets that sent a one-shot PTR query and feed its answers to ``zc``."""

    def __init__(self, zc: Zeroconf, loop: asyncio.AbstractEventLoop) -> None:
        self._zc = zc
        self._loop = loop
        self._sockets: list[socket.socket] = []
        self._timer: asyncio.TimerHandle | None = None

    def start(self, interfaces: Resolved) -> None:
        """Send the query on each interface of ``interfaces`` (loop only)."""
        out = DNSOutgoing(0, True, random.randint(1, 0xFFFF))  # noqa: S311
        out.add_question(DNSQuestion(SERVICE_TYPE, _TYPE_PTR, _CLASS_IN))
        packets = out.packets()
        for address in ipv4_sources(interfaces):
            self._send(socket.AF_INET, address, packets, (MDNS_GROUP, MDNS_PORT))
        for index in ipv6_indexes(interfaces):
            self._send(socket.AF_INET6, index, packets, (MDNS_GROUP6, MDNS_PORT, 0, index))
        if self._sockets:
            self._timer = self._loop.call_later(ANSWER_WINDOW, self.close)

    def _send(self, family: int, source: str | int, packets: list[bytes],
              group: tuple) -> None:
        """Send ``packets`` to ``group`` from a new socket on ``source``."""
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            if family == socket.AF_INET:
                sock.bind((str(source), 0))
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                                socket.inet_aton(str(source)))
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
            else:
                sock.bind(("::", 0))
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF,
                                struct.pack("@I", int(source)))
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
            for packet in packets:
                sock.sendto(packet, group)
        except OSError as exc:
            log.debug("one-shot query on %s failed: %s", source, exc)
            sock.close()
            return
        self._sockets.append(sock)
        self._loop.add_reader(sock.fileno(), self._read, sock)

    def _read(self, sock: socket.socket) -> None:
        while True:
            try:
                data, source = sock.recvfrom(MAX_PACKET)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.debug("one-shot socket error: %s", exc)
                return
            if source[1] != MDNS_PORT or self._zc.done:
                continue  # responders answer from 5353; anything else is noise
            message = DNSIncoming(data, (source[0], source[1]))
            if message.valid and message.is_response():
                self._zc.record_manager.async_updates_from_response(message)

    def close(self) -> None:
        """Stop listening and close the sockets; idempotent (loop only)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for sock in self._sockets:
            self._loop.remove_reader(sock.fileno())
            sock.close()
        self._sockets.clear()
