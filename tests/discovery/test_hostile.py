"""Hostile and forged adverts: skipped, never breaking the browser.

Raw packets go to the mDNS group through 127.0.0.1 only; forged services
are registered on a zeroconf instance bound to 127.0.0.1.
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time

import pytest
from zeroconf import (
    DNSAddress,
    DNSOutgoing,
    DNSPointer,
    DNSService,
    DNSText,
    ServiceInfo,
    Zeroconf,
)

import discovery
from discovery import _advert
from discovery._advert import build_txt, sign
from discovery._zeroconf import close_zeroconf
from tests.conftest import wait_until
from tests.discovery.actors import AUTHKEY, LOOPBACK, Echo

SOON = 10.0
TYPE = discovery.SERVICE_TYPE
_PTR, _SRV, _TXT, _A = 12, 33, 16, 1
_IN, _IN_UNIQUE = 1, 0x8001
_RESPONSE = 0x8400  # QR + AA


def txt_bytes(fields: dict[str, str] | list[bytes]) -> bytes:
    strings = fields if isinstance(fields, list) else [
        f"{key}={value}".encode() for key, value in fields.items()]
    return b"".join(bytes([len(s)]) + s for s in strings)


def advert_packet(instance: str, *, txt: bytes | None, port: int = 9,
                  addresses: tuple[str, ...] = ("127.0.0.1",),
                  srv: bool = True, server: str | None = None,
                  address_class: int = _IN_UNIQUE) -> bytes:
    """One mDNS response announcing ``instance`` with the records given.

    ``address_class`` ``_IN`` adds the address records to what caches hold
    for ``server``; the default (cache-flush bit set) replaces them.
    """
    server = server or f"h{abs(hash(instance)) % 10**8}.local."
    out = DNSOutgoing(_RESPONSE)
    out.add_answer_at_time(DNSPointer(TYPE, _PTR, _IN, 4500, instance), 0)
    if srv:
        out.add_answer_at_time(
            DNSService(instance, _SRV, _IN_UNIQUE, 120, 0, 0, port, server), 0)
    if txt is not None:
        out.add_answer_at_time(DNSText(instance, _TXT, _IN_UNIQUE, 4500, txt), 0)
    for address in addresses:
        out.add_answer_at_time(
            DNSAddress(server, _A, address_class, 120, socket.inet_aton(address)), 0)
    return out.packets()[0]


def good_txt(name: str, **overrides: str) -> dict[str, str]:
    fields = build_txt(actor_class="tests.discovery.actors:Echo", name=name,
                       role="actor", bind=("127.0.0.1", 9), pid=1, hostname="evil",
                       version="0", serializer="pickle", addresses=["127.0.0.1"])
    fields.update(overrides)
    return fields


def test_hostile_packets_never_break_the_browser(loopback_sender, unique_name):
    name = unique_name
    packets = {
        "random": os.urandom(512),
        "header only": b"\x00" * 12,
        "empty": b"",
        "loop": b"\x00\x00\x84\x00\x00\x00\x00\x01\x00\x00\x00\x00\xc0\x0c",
        "truncated": advert_packet(f"{name}-t.{TYPE}",
                                   txt=txt_bytes(good_txt(name)))[:40],
        "ptr only": advert_packet(f"{name}-ptr.{TYPE}", txt=None, srv=False),
        "no txt": advert_packet(f"{name}-notxt.{TYPE}", txt=None),
        "garbled txt": advert_packet(f"{name}-garbled.{TYPE}",
                                     txt=b"\x05\xff\xfe\xfd\xfc\xfb"),
        "bad txt length": advert_packet(f"{name}-len.{TYPE}", txt=b"\x40abc"),
        "no class": advert_packet(f"{name}-nocls.{TYPE}",
                                  txt=txt_bytes({"txtvers": "1", "name": name})),
        "control chars": advert_packet(f"{name}-ctl.{TYPE}",
                                       txt=txt_bytes(good_txt(name, hostname="a\x07"))),
        "bad address": advert_packet(f"{name}-addr.{TYPE}",
                                     txt=txt_bytes(good_txt(name)),
                                     addresses=("0.0.0.0", "224.0.0.1")),
        "oversized": advert_packet(f"{name}-big.{TYPE}", txt=txt_bytes(
            [f"k{i}=".encode() + b"v" * 240 for i in range(6)])),
        "port zero": advert_packet(f"{name}-port.{TYPE}", txt=txt_bytes(good_txt(name)),
                                   port=0),
        "odd name": advert_packet(f"{name}\x00\x01 {'x' * 40}.{TYPE}",
                                  txt=txt_bytes(good_txt(name))),
        "unimportable": advert_packet(f"{name}-nomod.{TYPE}", txt=txt_bytes(
            good_txt(name, **{"class": "no_such_module_xyz:Thing"}))),
    }
    with Echo() as actor, discovery.browse(interfaces=LOOPBACK) as browser:
        for packet in packets.values():
            loopback_sender.send(packet)
        unimportable = f"{name}-nomod.{TYPE}"
        assert browser.wait_for(lambda entry: entry.instance == unimportable,
                                timeout=SOON)
        # A class nobody can import is listed (a browser needs no class) but
        # resolution skips it...
        with pytest.raises(discovery.DiscoveryTimeoutError,
                           match="no_such_module_xyz:Thing cannot be imported"):
            discovery.discover(None, AUTHKEY, name=name, interfaces=LOOPBACK,
                               require_signature=False, timeout=0.5)
        with discovery.publish(actor, name=name, interfaces=LOOPBACK):
            # ... and reaches the genuine actor.
            proxy = discovery.discover(None, AUTHKEY, name=name, interfaces=LOOPBACK,
                                       require_signature=False, timeout=SOON)
            assert proxy.getpid() == actor.getpid()
            del proxy
            mine = sorted(entry.label for entry in browser if name in entry.instance)
            assert mine == [f"{name} @ {socket.gethostname()}/127-0-0-1:"
                            f"{actor.connection_address[1]}", f"{name}-nomod"]
        assert browser._worker.is_alive()


def test_bad_adverts_warn_once_then_log_at_debug(monkeypatch, caplog):
    monkeypatch.setattr(_advert, "_warned", False)
    with caplog.at_level(logging.DEBUG, logger="discovery"):
        _advert.log_bad_advert("a", "first")
        _advert.log_bad_advert("b", "second")
    levels = [(record.levelno, record.getMessage().split(":")[0])
              for record in caplog.records]
    assert levels == [(logging.WARNING, "skipping advert 'a'"),
                      (logging.DEBUG, "skipping advert 'b'")]


@pytest.fixture
def forger():
    """A zeroconf instance on 127.0.0.1 registering crafted services."""
    zc = Zeroconf(interfaces=LOOPBACK)
    infos: list[ServiceInfo] = []

    def register(instance: str, properties: dict[str, str] | bytes, port: int,
                 server: str) -> None:
        info = ServiceInfo(TYPE, instance, port=port, properties=properties,
                           server=server, parsed_addresses=["127.0.0.1"])
        # The async call returns once announced, without waiting for the
        # repeated announcements as register_service() does.
        asyncio.run_coroutine_threadsafe(
            zc.async_register_service(info, cooperating_responders=True),
            zc.loop).result(SOON)
        infos.append(info)

    yield register
    for info in infos:
        zc.unregister_service(info)
    close_zeroconf(zc)


def test_forged_and_replayed_adverts_are_dropped(forger, unique_name):
    name, port, server = unique_name, 9, f"{unique_name}.local."

    def instance(tag: str) -> str:
        return f"{name}-{tag}.{TYPE}"

    def signed(tag: str, *, key: bytes = AUTHKEY, ts: float | None = None,
               for_instance: str | None = None, **overrides: str) -> dict[str, str]:
        fields = good_txt(name, **overrides)
        fields["ts"] = str(int(time.time() if ts is None else ts))
        fields["hmac"] = sign(key, for_instance or instance(tag), server, port, fields)
        return fields

    forger(instance("genuine"), signed("genuine"), port, server)
    forger(instance("unsigned"), good_txt(name), port, server)
    forger(instance("wrongkey"), signed("wrongkey", key=b"guess"), port, server)
    forger(instance("replayed"), signed("replayed", ts=time.time() - 3600),
           port, server)
    forger(instance("renamed"), signed("renamed", for_instance=instance("genuine")),
           port, server)
    altered = signed("altered")
    altered["bind"] = "127.0.0.1:22"
    forger(instance("altered"), altered, port, server)
    forger(instance("garbage"), b"\xff\xfe\x00garbage\x03a=b", port, server)

    with discovery.browse(name=name, interfaces=LOOPBACK) as everyone, \
            discovery.browse(name=name, interfaces=LOOPBACK, authkey=AUTHKEY,
                             verify=False) as strict:
        assert wait_until(lambda: len(everyone) == 6, SOON), everyone.entries
        assert wait_until(lambda: len(strict.rejected) == 5, SOON), strict.rejected
        assert [entry.label for entry in strict] == [f"{name}-genuine"]
        assert strict.entries[0].signed
        reasons = {label[len(name) + 1:-len(TYPE) - 1]: why
                   for label, why in strict.rejected.items()}
        assert "not signed" in reasons["unsigned"]
        assert "does not match" in reasons["wrongkey"]
        assert "old" in reasons["replayed"]
        assert "does not match" in reasons["renamed"]
        assert "does not match" in reasons["altered"]
        # Without the key, what is known is shown: signed or not, never verified.
        signatures = {entry.label[len(name) + 1:]: entry.signature for entry in everyone}
        assert signatures == {"genuine": "unverified", "unsigned": "none",
                              "wrongkey": "unverified", "replayed": "unverified",
                              "renamed": "unverified", "altered": "unverified"}

    with pytest.raises(discovery.DiscoveryTimeoutError) as caught:
        discovery.discover(Echo, AUTHKEY, name=name, interfaces=LOOPBACK, timeout=1.0)
    message = str(caught.value)
    assert "refused adverts" in message and "not signed" in message
    assert f"{name}-genuine' at 127.0.0.1:{port}" in message  # tried, nothing there


# --------------------------------------------------------------------------
# A recorded signed advert, replayed under another address or port
# --------------------------------------------------------------------------

class Listener:
    """The attacker's TCP port: records whether anyone dialed it."""

    def __init__(self, host: str, port: int = 0) -> None:
        self.sock = socket.socket()
        self.sock.bind((host, port))
        self.sock.listen(8)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]

    def dialed(self) -> bool:
        """True if a connection arrived (the kernel queues it without accept)."""
        try:
            conn, _ = self.sock.accept()
        except BlockingIOError:
            return False
        conn.close()
        return True

    def close(self) -> None:
        self.sock.close()


class Replayer:
    """Re-announces one packet every REPLAY_INTERVAL s, as an attacker would."""

    def __init__(self, sender, packet: bytes) -> None:
        self._sender, self._packet = sender, packet
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="replayer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            self._sender.send(self._packet)
            if self._stop.wait(REPLAY_INTERVAL):
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


#: How often the replayer repeats its packet (s).
REPLAY_INTERVAL = 0.2


def discovers(actor: Echo, name: str) -> bool:
    """Whether discover() with the key reaches ``actor`` under ``name``."""
    proxy = discovery.discover(Echo, AUTHKEY, name=name, interfaces=LOOPBACK, timeout=SOON)
    reached = proxy.getpid() == actor.getpid()
    del proxy  # releases the connection at once
    return reached


def record(instance: str) -> ServiceInfo:
    """The advert of ``instance`` as anyone on the link can record it."""
    zc = Zeroconf(interfaces=LOOPBACK)
    try:
        info = zc.get_service_info(TYPE, instance, timeout=int(SOON * 1000))
    finally:
        close_zeroconf(zc)
    assert info is not None and info.properties.get(b"hmac")
    return info


def replay_packet(info: ServiceInfo, *, address: str, port: int | None = None,
                  adds: bool = False) -> bytes:
    """``info``'s records byte for byte, but for the address (and port)."""
    strings = [key + (b"=" + value if value is not None else b"")
               for key, value in info.properties.items()]
    return advert_packet(info.name, txt=txt_bytes(strings),
                         port=info.port if port is None else port,
                         addresses=(address,), server=info.server,
                         address_class=_IN if adds else _IN_UNIQUE)


@pytest.mark.timeout(90)
def test_a_recorded_advert_replayed_under_another_address_or_port_is_refused(
        loopback_sender, unique_name):
    with Echo() as actor:
        port = actor.connection_address[1]
        publication = discovery.publish(actor, name=unique_name, interfaces=LOOPBACK,
                                        authkey=AUTHKEY)
        recorded = record(publication.instance)
        attacker = Listener("127.0.0.2", port)  # same port, the attacker's address
        elsewhere = Listener("127.0.0.1")  # another port
        try:
            # While the actor is published, the attacker adds its own address
            # record to the genuine host name: it is ignored, never dialed.
            replayer = Replayer(loopback_sender,
                                replay_packet(recorded, address="127.0.0.2", adds=True))
            try:
                with discovery.browse(Echo, name=unique_name,
                                      interfaces=LOOPBACK) as keyless, \
                        discovery.browse(Echo, name=unique_name, interfaces=LOOPBACK,
                                         authkey=AUTHKEY, verify=False) as browser:
                    # The injected record did arrive (the control: a browser
                    # without the key cannot tell it from the genuine one)...
                    assert wait_until(lambda: [sorted(entry.addresses) for entry in keyless]
                                      == [["127.0.0.1", "127.0.0.2"]], SOON), keyless.entries
                    assert discovers(actor, unique_name)
                    # ... and the key holder uses only the signed address.
                    assert [entry.addresses for entry in browser] == [("127.0.0.1",)]
            finally:
                replayer.stop()
            publication.close()

            # Once it is withdrawn, the recording replayed under the attacker's
            # address, or pointing at another port, is refused with the reason.
            for packet, reason in (
                    (replay_packet(recorded, address="127.0.0.2"),
                     "address records 127.0.0.2 are not among the signed addresses "
                     "127.0.0.1"),
                    (replay_packet(recorded, address="127.0.0.1", port=elsewhere.port),
                     f"the SRV record says port {elsewhere.port}, the advert port "
                     f"{port}")):
                replayer = Replayer(loopback_sender, packet)
                try:
                    with discovery.browse(Echo, name=unique_name,
                                          interfaces=LOOPBACK) as keyless:
                        assert wait_until(lambda: any(
                            "127.0.0.2" in entry.addresses or entry.port != port
                            for entry in keyless), SOON), keyless.entries  # it arrived
                    with pytest.raises(discovery.DiscoveryTimeoutError) as caught:
                        discovery.discover(Echo, AUTHKEY, name=unique_name,
                                           interfaces=LOOPBACK, timeout=2.0)
                finally:
                    replayer.stop()
                assert reason in str(caught.value)
                assert caught.value.attempts == []
            assert not attacker.dialed() and not elsewhere.dialed()

            # The genuine actor published again is found as before.
            with discovery.publish(actor, name=unique_name, interfaces=LOOPBACK,
                                   authkey=AUTHKEY):
                assert discovers(actor, unique_name)
        finally:
            publication.close()
            attacker.close()
            elsewhere.close()
