"""A one-shot (legacy unicast) query that fills a fresh browser's cache at once.

A new browser's first multicast query waits 20-120 ms (RFC 6762 §5.2), and
responders delay shared answers by another 20-120 ms, or by a full second
when the record was multicast in the last second (§6).  A query sent from
an ordinary UDP port instead is a *one-shot* query (§5.1, §6.7): responders
answer it at once, by unicast, to that port.  So a browser sends one such
query per IPv4 interface when it starts and hands the answers to zeroconf's
record manager, exactly as if they had arrived on its own socket; its normal
multicast queries carry on as usual.

Everything here runs on zeroconf's event loop and never blocks.
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import socket

from zeroconf import DNSIncoming, DNSOutgoing, DNSQuestion, Zeroconf

from ._advert import SERVICE_TYPE, InterfacesType, host_addresses

log = logging.getLogger("discovery")

#: mDNS group and port (RFC 6762).
MDNS_GROUP, MDNS_PORT = "224.0.0.251", 5353

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

    def start(self, interfaces: InterfacesType) -> None:
        """Send the query on each IPv4 interface in ``interfaces`` (loop only)."""
        out = DNSOutgoing(0, True, random.randint(1, 0xFFFF))  # noqa: S311
        out.add_question(DNSQuestion(SERVICE_TYPE, _TYPE_PTR, _CLASS_IN))
        packets = out.packets()
        for address in _ipv4_sources(interfaces):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                sock.setblocking(False)
                sock.bind((address, 0))
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                                socket.inet_aton(address))
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
                for packet in packets:
                    sock.sendto(packet, (MDNS_GROUP, MDNS_PORT))
            except OSError as exc:
                log.debug("one-shot query on %s failed: %s", address, exc)
                sock.close()
                continue
            self._sockets.append(sock)
            self._loop.add_reader(sock.fileno(), self._read, sock)
        if self._sockets:
            self._timer = self._loop.call_later(ANSWER_WINDOW, self.close)

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


def _ipv4_sources(interfaces: InterfacesType) -> list[str]:
    """IPv4 addresses to send from: the listed ones, or every interface's."""
    if interfaces is not None:
        found = []
        for choice in interfaces:
            if isinstance(choice, str):
                try:
                    if ipaddress.ip_address(choice).version == 4:
                        found.append(choice)
                except ValueError:
                    continue
        return found
    sources = host_addresses(None, "0.0.0.0")
    return [*sources, "127.0.0.1"] if "127.0.0.1" not in sources else sources
