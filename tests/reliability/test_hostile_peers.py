"""Peers that stall, trickle, oversize or carry code: every wait is bounded,
every input is bounded, and key holders run nothing in an allow-list actor.

Raw frames are built with tests/wire.py after a real handshake.
"""
from __future__ import annotations

import os
import pickle
import signal
import socket
import time

import pytest

import uactor
from tests import wire
from tests.core.test_transport import serving
from tests.core.transport_actors import (
    KEY,
    LimitedStore,
    LocalStore,
    Marker,
    Store,
    StrictStore,
    runs,
)
from tests.reliability._helpers import all_threads_stopped, call_in_thread

pytestmark = pytest.mark.timeout(90)

#: Seconds allowed past a deadline (scheduling on a loaded 2-core machine).
SLACK = 0.5

#: The hello an actor would send, trickled one byte a second by the peer.
HELLO = wire.HELLO.pack(wire.MAGIC, wire.VERSION, wire.FLAG_FRAME_MAC, 0, os.urandom(32))


@pytest.fixture
def marker(tmp_path):
    path = str(tmp_path / "marker")
    pickle.loads(pickle.dumps(Marker(path)))  # control: the payload runs when decoded
    assert runs(path) == 1
    os.unlink(path)
    return path


# --------------------------------------------------------------------------
# Stalled and trickling peers
# --------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["Actor.connect", "ActorManager.connect"])
def test_a_trickling_peer_cannot_hold_a_connect_past_its_timeout(how):
    with serving(HELLO, trickle=True) as address:
        started = time.monotonic()
        with pytest.raises(uactor.ActorConnectionError,
                           match=r"did not complete the uactor handshake within 4 s"):
            if how == "Actor.connect":
                Store.connect(address, KEY, timeout=4)
            else:
                uactor.ActorManager(address, KEY, timeout=4).connect()
        elapsed = time.monotonic() - started
    assert 3.5 < elapsed < 4 + SLACK, elapsed


def test_a_deadline_bounds_sending_a_large_argument_to_a_frozen_actor():
    numpy = pytest.importorskip("numpy")
    big = numpy.zeros(256 << 20, dtype=numpy.uint8)  # 256 MiB, out of band
    with Store() as actor:
        client = Store.connect(actor.connection_address, KEY)
        assert client.echo("warm") == "warm"
        pid = actor.getpid()
        os.kill(pid, signal.SIGSTOP)
        try:
            assert _wait_stopped(pid)
            started = time.monotonic()
            with pytest.raises(uactor.CallTimeoutError,
                               match=r"sending 'echo' to actor Store at .* did not finish "
                                     "within its deadline; the connection was discarded"), \
                    uactor.deadline(1):
                client.echo(big)
            elapsed = time.monotonic() - started
            assert getattr(client._tls, "connection", None) is None  # discarded
        finally:
            os.kill(pid, signal.SIGCONT)
        assert elapsed < 1 + SLACK, elapsed
        assert client.echo("usable") == "usable"  # a new connection
        assert actor.echo("owner too") == "owner too"


def _wait_stopped(pid: int) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if all_threads_stopped(pid):
            return True
        time.sleep(0.01)
    return False


def test_a_deadline_bounds_sending_to_a_frozen_local_actor():
    numpy = pytest.importorskip("numpy")
    big = numpy.zeros(64 << 20, dtype=numpy.uint8)
    with LocalStore() as actor:
        pid = actor.getpid()
        os.kill(pid, signal.SIGSTOP)
        try:
            assert _wait_stopped(pid)
            started = time.monotonic()
            with pytest.raises(uactor.CallTimeoutError), uactor.deadline(1):
                actor.echo(big)
            elapsed = time.monotonic() - started
        finally:
            os.kill(pid, signal.SIGCONT)
        assert elapsed < 1 + SLACK, elapsed
        assert actor.echo(1) == 1


# --------------------------------------------------------------------------
# Oversized messages
# --------------------------------------------------------------------------


def _send_oversized(session: wire.Session, size: int) -> float:
    """Announce a ``size``-byte body and stream zeros until the actor stops
    reading; return the seconds until it closed the connection."""
    started = time.monotonic()
    chunk = bytes(1 << 20)
    try:
        session.sock.sendall(wire.HEADER.pack(size, 0))
        for _ in range(size >> 20):
            session.sock.sendall(chunk)
    except OSError:  # reset: the actor closed it unread
        pass
    try:
        reply = session.recv()
    except (EOFError, OSError):
        reply = None
    if reply is not None:  # it could answer before closing: the limit, in words
        kind, (error, _) = reply
        assert kind == "#RAISE" and isinstance(error, uactor.MessageTooLargeError), reply
        assert "exceeds this actor's 1048576-byte limit" in str(error)
        with pytest.raises((EOFError, OSError)):
            session.recv()
    return time.monotonic() - started


@pytest.mark.parametrize("first_request", [True, False], ids=["server-level", "serving"])
def test_an_oversized_raw_frame_is_refused_unread_and_others_are_served(first_request):
    with LimitedStore() as actor:
        other = Store.connect(actor.connection_address, KEY)
        assert other.echo("before") == "before"
        rss_before = actor.rss()
        connect = wire.connect if first_request else wire.accepted
        with connect(actor.connection_address, KEY) as session:
            seconds = _send_oversized(session, 100 << 20)
        assert seconds < 10, seconds
        assert actor.rss() - rss_before < 20 << 20  # far from the 100 MB announced
        assert other.echo("after") == "after"
        assert Store.connect(actor.connection_address, KEY).echo("new") == "new"


# --------------------------------------------------------------------------
# Allow-list decoding against key holders
# --------------------------------------------------------------------------


def test_a_key_holder_runs_nothing_in_an_allow_list_actor(marker):
    with StrictStore() as actor:
        address = actor.connection_address
        ident = Store.connect(address, KEY)._id
        # Raw server-level messages: the payload as the request, and as an argument.
        for message in [(None, Marker(marker), (), {}), (None, "dummy", (Marker(marker),), {})]:
            with wire.connect(address, KEY) as session:
                session.send(message)
                kind, (error, _) = session.recv()
                assert kind == "#RAISE" and isinstance(error, uactor.DisallowedClassError)
                assert "posix.system is not allowed" in str(error)
        # A method argument on a serving connection: refused, the connection served on.
        with wire.accepted(address, KEY) as session:
            session.send((ident, "append", (Marker(marker),), {}))
            kind, (error, _) = session.recv()
            assert kind == "#RAISE" and isinstance(error, uactor.DisallowedClassError)
            session.send((ident, "append", ("plain",), {}))
            assert session.recv() == ("#RETURN", 1)
        # Through a proxy: the same refusal, as an exception.
        with pytest.raises(uactor.DisallowedClassError):
            Store.connect(address, KEY).append(Marker(marker))
        assert runs(marker) == 0
        assert actor.count() == 1


def test_a_trickling_client_cannot_hold_an_actor_thread_past_its_handshake_bound(monkeypatch):
    monkeypatch.setattr(uactor, "_HANDSHAKE_TIMEOUT", 2.0)  # the actor forks after this
    with Store() as actor:
        with socket.create_connection(actor.connection_address, timeout=10) as sock:
            assert sock.recv(wire.HELLO.size)  # greeted
            thread, outcome = call_in_thread(_trickle, sock)
            assert outcome.done.wait(10)
            thread.join(10)
        assert outcome.error is None, outcome.error
        assert 1.5 < outcome.value < 2 + 1.5, outcome.value
        assert actor.echo("serving") == "serving"


def _trickle(sock: socket.socket) -> float:
    """Send one byte every 0.2 s until the actor closes; the seconds it took."""
    started = time.monotonic()
    for _ in range(wire.CLIENT_HANDSHAKE - 1):
        try:
            sock.sendall(b"x")
        except OSError:
            break
        sock.settimeout(0.2)
        try:
            if sock.recv(1) == b"":
                break
        except socket.timeout:
            continue
        except OSError:
            break
    return time.monotonic() - started
