"""uactor's own transport: keys, handshake, frames, limits, decoding, owner rights.

Attacks by a relay on the path live in tests/reliability/test_relay_attacks.py;
stalled and oversized peers in tests/reliability/test_hostile_peers.py.
"""
from __future__ import annotations

import contextlib
import gc
import os
import pickle
import socket
import threading
import weakref

import pytest

import uactor
from tests import wire
from tests.conftest import wait_until
from tests.core.transport_actors import (
    KEY,
    Caller,
    LimitedStore,
    LocalStore,
    Marker,
    Point,
    Store,
    StrictStore,
    runs,
)

pytestmark = pytest.mark.timeout(60)


@contextlib.contextmanager
def serving(answer: bytes | None, *, trickle: bool = False):
    """A TCP server on loopback that answers every connection with ``answer``
    (all at once, or one byte a second) and then waits; yields its address."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    accepted: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)
            if answer is not None and not trickle:
                conn.sendall(answer)
            elif answer is not None:
                for index in range(len(answer)):
                    if stop.wait(1.0):
                        return
                    try:
                        conn.sendall(answer[index:index + 1])
                    except OSError:
                        break

    thread = threading.Thread(target=serve, name="test-peer", daemon=True)
    thread.start()
    try:
        yield listener.getsockname()
    finally:
        stop.set()
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        thread.join(10)
        for conn in accepted:
            conn.close()
        assert not thread.is_alive()


# --------------------------------------------------------------------------
# Authkeys
# --------------------------------------------------------------------------


def test_an_empty_authkey_is_refused_for_tcp_actors():
    with pytest.raises(ValueError, match=r"empty authkey cannot protect the actor at "
                                         r"127\.0\.0\.1:0.*secrets\.token_bytes\(32\)"):
        uactor.start(Store, options={"authkey": b""})
    with Store() as actor:
        with pytest.raises(ValueError, match="empty authkey"):
            Store.connect(actor.connection_address, b"")
        with pytest.raises(ValueError, match="empty authkey"):
            uactor.ActorManager(actor.connection_address, b"").connect()
        assert actor.echo("still serving") == "still serving"


def test_a_unix_socket_actor_may_use_an_empty_authkey():
    with LocalStore() as actor:
        assert isinstance(actor.connection_address, str)
        assert actor.echo(1) == 1


def test_a_wrong_key_is_refused_both_ways_and_the_actor_keeps_serving():
    with Store() as actor:
        address = actor.connection_address
        with pytest.raises(uactor.AuthkeyError, match=r"authkey for 127\.0\.0\.1:\d+ was "
                                                      "rejected; connect with the key"):
            Store.connect(address, b"not the key")
        with pytest.raises(PermissionError):  # a raw client gets the refusal too
            wire.connect(address, b"not the key")
        assert Store.connect(address, KEY).echo("ok") == "ok"


def test_an_impostor_that_does_not_hold_the_key_is_refused_by_the_client():
    """A server that greets like an actor and accepts every proof, but cannot
    prove the key back: the handshake is mutual."""
    hello = wire.HELLO.pack(wire.MAGIC, wire.VERSION, wire.FLAG_FRAME_MAC, 0, os.urandom(32))
    with serving(hello + b"\x01" + os.urandom(32)) as address, \
            pytest.raises(uactor.AuthkeyError, match="could not prove it holds the authkey"):
        Store.connect(address, KEY, timeout=10)


def test_a_peer_speaking_another_protocol_is_named_in_one_clear_line():
    answer = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
    with serving(answer) as address, pytest.raises(uactor.ActorConnectionError) as raised:
        Store.connect(address, KEY, timeout=10)
    message = str(raised.value)
    assert message.startswith(f"127.0.0.1:{address[1]} answered b'HTTP/1.1 400 Bad Request")
    assert "(not a uactor actor)" in message and "\n" not in message
    assert "AssertionError" not in message


# --------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------


def test_tcp_frames_are_tagged_and_unix_socket_frames_are_not():
    with Store() as tcp, LocalStore() as local:
        with wire.connect(tcp.connection_address, KEY) as session:
            assert session.flags & wire.FLAG_FRAME_MAC
            untagged = wire.HEADER.pack(5, 0) + b"12345" + bytes(wire.TAG_BYTES)
            session.sock.sendall(untagged)
            with pytest.raises((EOFError, OSError)):  # dropped, not answered
                session.recv()
        with wire.connect(local.connection_address, b"") as session:
            assert not session.flags & wire.FLAG_FRAME_MAC
            assert session.request("dummy") == ("#RETURN", None)  # untagged, served


def test_large_frames_and_out_of_band_buffers_round_trip_tagged():
    numpy = pytest.importorskip("numpy")
    with Store() as actor:
        client = Store.connect(actor.connection_address, KEY)
        arrays = [numpy.arange(n, dtype="float64") for n in (10, 300_000, 1_500_000)]
        back = client.echo({"arrays": arrays, "bytes": b"z" * 3_000_000, "small": 1})
        assert all(numpy.array_equal(a, b) for a, b in zip(arrays, back["arrays"]))
        assert back["bytes"] == b"z" * 3_000_000 and back["small"] == 1
        assert client.echo("in step") == "in step"


# --------------------------------------------------------------------------
# Message size limit
# --------------------------------------------------------------------------


def test_an_oversized_request_is_refused_before_sending_and_loses_nothing():
    with LimitedStore() as actor:
        client = Store.connect(actor.connection_address, KEY)
        assert client.echo("warm") == "warm"
        connection = client._tls.connection
        with pytest.raises(uactor.MessageTooLargeError,
                           match=r"a \d+-byte message exceeds the 1048576-byte limit"):
            client.append(b"x" * (2 << 20))
        assert client._tls.connection is connection  # the same connection, in step
        assert client.echo("after") == "after"
        assert client.count() == 0  # nothing arrived
        with pytest.raises(uactor.MessageTooLargeError):
            actor.append(b"x" * (2 << 20))  # the owner too


def test_max_message_is_validated():
    with pytest.raises(ValueError, match="max_message must be positive, not 0; use None"):
        uactor.start(Store, options={"max_message": 0})
    with pytest.raises(TypeError, match="max_message must be a number of bytes"):
        uactor.start(Store, options={"max_message": "1MB"})


# --------------------------------------------------------------------------
# Allow-list decoding
# --------------------------------------------------------------------------


def test_allowed_classes_and_plain_data_pass_and_a_command_payload_does_not(tmp_path):
    path = str(tmp_path / "marker")
    pickle.loads(pickle.dumps(Marker(path)))  # control: the payload does run
    assert runs(path) == 1
    os.unlink(path)
    with StrictStore() as actor:
        client = Store.connect(actor.connection_address, KEY)
        plain = {"s": "x", "i": 1, "f": 1.5, "b": True, "n": None, "by": b"\x00",
                 "ba": bytearray(b"ab"), "t": (1, 2), "l": [3], "set": {4},
                 "fs": frozenset({5})}
        assert client.echo(plain) == plain
        assert client.echo([Point(1, 2)]) == [Point(1, 2)]
        with pytest.raises(uactor.DisallowedClassError,
                           match=r"posix\.system is not allowed by this actor"):
            client.echo(Marker(path))
        with pytest.raises(uactor.DisallowedClassError, match="complex is not allowed"):
            client.echo(1j)
        assert client.echo("still serving") == "still serving"
        assert runs(path) == 0


def test_an_allow_list_actor_refuses_proxies_with_a_clear_reason():
    with StrictStore() as actor, Store() as other:
        with pytest.raises(uactor.DisallowedClassError,
                           match="a proxy cannot be sent to this actor"):
            actor.echo(other)
        assert actor.echo(1) == 1


def test_leaving_a_with_block_on_an_allow_list_actor_sends_no_exception_class():
    with pytest.raises(KeyError), StrictStore() as actor:  # noqa: PT012
        assert actor.echo(1) == 1
        raise KeyError("inside")


def test_allowed_classes_is_validated():
    with pytest.raises(TypeError, match=r"allowed_classes must be an iterable of "
                                        r"classes.*for one class write \[Point\]"):
        uactor.start(Store, options={"allowed_classes": Point})
    with pytest.raises(TypeError, match="allowed_classes holds 'os', which is not a class"):
        uactor.start(Store, options={"allowed_classes": ["os"]})


# --------------------------------------------------------------------------
# Owner rights
# --------------------------------------------------------------------------


def test_only_the_owner_may_stop_the_actor_at_server_level():
    actor = Store()
    try:
        process = actor._manager.process
        with wire.connect(actor.connection_address, KEY) as session:
            kind, result = session.request("shutdown")
        assert kind == "#RAISE"
        assert "only the process that started this actor may stop it" in str(result[0])
        with wire.connect(actor.connection_address, KEY) as session:
            kind, result = session.request("release_owner")
        assert kind == "#RAISE"
        assert actor.echo("alive") == "alive" and process.is_alive()
    finally:
        actor.shutdown()
    assert wait_until(lambda: process.exitcode is not None, 15)
    assert process.exitcode == 0


def test_caller_is_owner_tells_the_owner_from_other_processes():
    with Store() as actor, Caller() as caller:
        assert actor.owner() is True
        client = Store.connect(actor.connection_address, KEY)
        assert client.owner() is True  # the same (owner) process
        assert caller.owner_of(actor.connection_address, KEY) is False
    with pytest.raises(uactor.ProxyError, match="inside an actor process"):
        uactor.caller_is_owner()


# --------------------------------------------------------------------------
# What this process remembers per actor address
# --------------------------------------------------------------------------


def _records() -> tuple[int, int]:
    gc.collect()
    return len(uactor._records.by_address), len(uactor._records.routes)


def test_records_of_released_actors_are_forgotten():
    before = _records()
    for _ in range(5):
        with Store() as actor:
            client = Store.connect(actor.connection_address, KEY,
                                   capture=[("127.0.0.2", actor.connection_address[1])])
            inner = client.get_inner()
            inner.append(1)
            assert actor.count() == 1
            during = _records()
            assert during[0] > before[0] and during[1] > before[1]  # known while used
            del client, inner
        del actor
    assert wait_until(lambda: _records() == before, 10), (_records(), before)


def test_a_connection_dropped_in_a_reference_cycle_closes_without_a_warning():
    """A connection kept in a cycle (a traceback's frame, say) is collected by
    the cyclic collector: its socket must be closed, not reported unclosed
    (pytest turns that ResourceWarning into a failure of this test)."""
    with Store() as actor:
        conn = uactor._connect(actor.connection_address, KEY)
        sock = weakref.ref(conn._sock)
        cycle: list = [conn]
        cycle.append(cycle)
        del conn, cycle
        gc.collect()
        assert sock() is None  # closed by the connection's finalizer, and freed
