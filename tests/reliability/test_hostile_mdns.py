"""Hostile mDNS traffic against a browser, beyond tests/discovery/test_hostile.py.

That module sends one malformed packet of each kind and forged or replayed
signed adverts.  Added here: a sustained flood mixing those kinds with
malicious name compression (deep pointer chains, mutual loops, forward
pointers), reserved label types, over-long names, lying record counts and
lengths, and hundreds of distinct forged instances; a forged goodbye for a
genuine advert; and what a browser keeps in memory about withdrawn forgeries.

What must hold: the browser carries on, finding genuine adverts (old and new)
and resolving them to working proxies, and it closes in bounded time.

Raw packets go to the mDNS group through the loopback interface, and only
inside a private network namespace holding nothing but loopback
(``.ci/run``, ``tests.netns``): elsewhere these tests are skipped.  Browsers
use their own zeroconf instance bound to 127.0.0.1, apart from the publishers'.
"""
from __future__ import annotations

import random
import socket
import struct
import threading
import time

import pytest
from zeroconf import DNSAddress, DNSOutgoing, DNSPointer, DNSService, DNSText, Zeroconf

import discovery
from discovery._advert import build_txt
from discovery._zeroconf import close_zeroconf
from tests.conftest import wait_until
from tests.mdns import LoopbackSender as Sender
from tests.reliability._helpers import ISOLATED
from tests.reliability.actors import KEY, Echo

pytestmark = pytest.mark.skipif(
    not ISOLATED, reason="sends raw multicast: only inside a private network namespace")

LOOPBACK = ["127.0.0.1"]
TYPE = discovery.SERVICE_TYPE

#: Bound (s) on finding, losing or recovering an advert.
SOON = 15.0

#: How long a forged goodbye may take to hide an advert (s): the record's
#: remaining second to live, plus slack.
GOODBYE_WINDOW = 3.0

_PTR, _SRV, _TXT, _A = 12, 33, 16, 1
_IN, _IN_UNIQUE = 1, 0x8001
_RESPONSE = 0x8400  # QR + AA


@pytest.fixture
def sender():
    sender = Sender()
    yield sender
    sender.close()


@pytest.fixture
def browser_zeroconf():
    """A zeroconf instance of the browser's own, so publishers are apart."""
    zc = Zeroconf(interfaces=LOOPBACK)
    yield zc
    close_zeroconf(zc)


# --------------------------------------------------------------------------
# Packets
# --------------------------------------------------------------------------


def _header(answers: int, *, questions: int = 0, flags: int = _RESPONSE) -> bytes:
    return struct.pack("!HHHHHH", 0, flags, questions, answers, 0, 0)


def _label(text: bytes) -> bytes:
    return bytes([len(text)]) + text


def _record(name: bytes, rtype: int, rdata: bytes, *, rdlength: int | None = None) -> bytes:
    size = len(rdata) if rdlength is None else rdlength
    return name + struct.pack("!HHIH", rtype, _IN, 120, size) + rdata


def _ptr_answer(name: bytes) -> bytes:
    """A PTR from our service type to ``name`` (a wire-format name)."""
    service = b"".join(_label(part.encode()) for part in TYPE.rstrip(".").split(".")) + b"\0"
    return _record(service, _PTR, name)


def deep_pointer_chain(depth: int) -> bytes:
    """A name reached through ``depth`` compression pointers in a row."""
    body = _label(b"a") + b"\0"  # at offset 12
    offsets = [12]
    for _ in range(depth):
        offsets.append(12 + len(body))
        body += struct.pack("!H", 0xC000 | offsets[-2])
    return _header(1) + body + _ptr_answer(struct.pack("!H", 0xC000 | offsets[-1]))


def mutual_pointer_loop() -> bytes:
    """Two compression pointers pointing at each other."""
    body = struct.pack("!H", 0xC000 | 14) + struct.pack("!H", 0xC000 | 12)
    return _header(1) + body + _ptr_answer(struct.pack("!H", 0xC000 | 12))


def forward_pointer() -> bytes:
    """A compression pointer past the end of the packet."""
    return _header(1) + _ptr_answer(struct.pack("!H", 0xC000 | 0x3FFF))


def reserved_label_types() -> bytes:
    """Label length bytes 0x40 and 0x80 (reserved/extended label types)."""
    return _header(2) + _ptr_answer(b"\x41abc\0") + _ptr_answer(b"\x81abc\0")


def overlong_name() -> bytes:
    """A name of five 63-byte labels: 320 bytes, over DNS's 255."""
    name = b"".join(_label(b"x" * 63) for _ in range(5)) + b"\0"
    return _header(1) + _ptr_answer(name)


def lying_counts() -> bytes:
    """Header claims 65535 records of each section, carries one."""
    return (struct.pack("!HHHHHH", 0, _RESPONSE, 65535, 65535, 65535, 65535)
            + _ptr_answer(_label(b"liar") + b"\0"))


def lying_lengths(rng: random.Random) -> bytes:
    """Records whose rdlength points past the packet, or is too short."""
    name = _label(b"len") + b"\0"
    return (_header(3) + _record(name, _SRV, b"\0\0", rdlength=2)
            + _record(name, _A, b"\x7f\0\0\x01", rdlength=16)
            + _record(name, _TXT, rng.randbytes(8), rdlength=4000))


def random_packet(rng: random.Random) -> bytes:
    """Random bytes behind a plausible response header."""
    return _header(rng.randrange(1, 20)) + rng.randbytes(rng.randrange(0, 1400))


def forged_advert(instance: str, name: str, *, ttl: int = 120, port: int = 9) -> bytes:
    """A well-formed but unsigned advert for ``instance`` claiming ``name``."""
    server = f"h{abs(hash(instance)) % 10**8}.local."
    txt = build_txt(actor_class="tests.reliability.actors:Echo", name=name,
                    role="actor", bind=("127.0.0.1", port), pid=1, hostname="forger",
                    version="0", serializer="pickle")
    txt_bytes = b"".join(_label(f"{key}={value}".encode()) for key, value in txt.items())
    out = DNSOutgoing(_RESPONSE)
    out.add_answer_at_time(DNSPointer(TYPE, _PTR, _IN, ttl, instance), 0)
    out.add_answer_at_time(DNSService(instance, _SRV, _IN_UNIQUE, ttl, 0, 0, port, server), 0)
    out.add_answer_at_time(DNSText(instance, _TXT, _IN_UNIQUE, ttl, txt_bytes), 0)
    out.add_answer_at_time(
        DNSAddress(server, _A, _IN_UNIQUE, ttl, socket.inet_aton("127.0.0.1")), 0)
    return out.packets()[0]


def goodbye(instance: str) -> bytes:
    """A goodbye (TTL 0) for ``instance``'s PTR record."""
    out = DNSOutgoing(_RESPONSE)
    out.add_answer_at_time(DNSPointer(TYPE, _PTR, _IN, 0, instance), 0)
    return out.packets()[0]


def hostile_packets(rng: random.Random, name: str, count: int) -> list[bytes]:
    """``count`` hostile packets; the forged adverts among them claim ``name``."""
    makers = [
        lambda: deep_pointer_chain(rng.randrange(10, 200)),
        mutual_pointer_loop, forward_pointer, reserved_label_types, overlong_name,
        lying_counts, lambda: lying_lengths(rng), lambda: random_packet(rng),
        lambda: forged_advert(f"{name}-{rng.randrange(10**9)}.{TYPE}", name),
    ]
    return [rng.choice(makers)() for _ in range(count)]


def _flood(sender: Sender, packets: list[bytes], rate: float) -> None:
    """Send ``packets`` at about ``rate`` per second (bounded, never a burst
    large enough to overrun loopback socket buffers for everyone)."""
    started = time.monotonic()
    for index, packet in enumerate(packets):
        sender.send(packet)
        ahead = index / rate - (time.monotonic() - started)
        if ahead > 0:
            time.sleep(ahead)  # pacing, not waiting for a condition


# --------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------


def test_a_flood_of_hostile_packets_leaves_the_browser_working(
        sender, browser_zeroconf, unique_name):
    rng = random.Random(1234)
    packets = hostile_packets(rng, unique_name, 3000)
    with Echo() as first, Echo() as second, \
            discovery.publish(first, name=unique_name, interfaces=LOOPBACK, authkey=KEY), \
            discovery.browse(name=unique_name, interfaces=LOOPBACK, authkey=KEY,
                             verify=False, zeroconf=browser_zeroconf) as browser:
        assert browser.wait_for(timeout=SOON) is not None
        _flood(sender, packets, rate=2000)
        # The flood did arrive: its forged adverts (unsigned) were refused.
        assert wait_until(lambda: browser.rejected, SOON)
        # A genuine advert published after the flood is found and resolved...
        with discovery.publish(second, name=unique_name, interfaces=LOOPBACK,
                               authkey=KEY):
            port = second.connection_address[1]
            late = browser.wait_for(lambda entry: entry.port == port,
                                    timeout=SOON)
            assert late is not None, browser.entries
            assert browser.connect(late, timeout=SOON).getpid() == second.getpid()
            # ... and only genuine adverts are listed: none of the forged.
            assert sorted(entry.port for entry in browser) == sorted(
                [first.connection_address[1], port])
        assert browser._worker.is_alive()
    assert browser.closed


def test_a_forged_goodbye_only_hides_a_genuine_advert_briefly(
        sender, browser_zeroconf, unique_name):
    removed = threading.Event()
    with Echo() as actor, \
            discovery.publish(actor, name=unique_name, interfaces=LOOPBACK, authkey=KEY), \
            discovery.browse(name=unique_name, interfaces=LOOPBACK, authkey=KEY,
                             verify=False, zeroconf=browser_zeroconf,
                             on_remove=lambda entry: removed.set()) as browser:
        entry = browser.wait_for(timeout=SOON)
        assert entry is not None
        sender.send(goodbye(entry.instance))
        # A goodbye leaves a record one second to live (RFC 6762 §10.1): the
        # browser drops the advert then, unless the publisher refreshed it
        # first.  Either way it must be listed, and work, soon after.
        removed.wait(GOODBYE_WINDOW)
        back = browser.wait_for(timeout=SOON)
        assert back is not None and back.instance == entry.instance
        assert browser.connect(back, timeout=SOON).getpid() == actor.getpid()


def test_withdrawn_forged_adverts_are_forgotten(sender, browser_zeroconf, unique_name):
    forged = [f"{unique_name}-f{index}.{TYPE}" for index in range(200)]
    with discovery.browse(interfaces=LOOPBACK, authkey=KEY, verify=False,
                          zeroconf=browser_zeroconf) as browser:
        _flood(sender, [forged_advert(name, unique_name) for name in forged], rate=1000)
        assert wait_until(lambda: sum(name in browser.rejected for name in forged)
                          == len(forged), SOON), len(browser.rejected)
        _flood(sender, [goodbye(name) for name in forged], rate=1000)
        assert wait_until(lambda: not any(name.lower() in browser._generation
                                          for name in forged)
                          and not any(name in browser.rejected for name in forged),
                          3.0), (len(browser._generation), len(browser.rejected))
