"""Raw mDNS datagrams for hostile-input tests, sent through loopback only."""
from __future__ import annotations

import socket

#: The mDNS group and port; datagrams leave through 127.0.0.1 with TTL 1.
MDNS_GROUP = ("224.0.0.251", 5353)


class LoopbackSender:
    """Sends raw datagrams to the mDNS group on the loopback interface only."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                             socket.inet_aton("127.0.0.1"))
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)

    def send(self, packet: bytes) -> None:
        self.sock.sendto(packet, MDNS_GROUP)

    def close(self) -> None:
        self.sock.close()
