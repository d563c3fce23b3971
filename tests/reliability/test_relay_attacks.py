"""An attacker on the path, without the key, relaying a real handshake.

A byte-for-byte relay (tests/relay.py) sits between a client and an actor:
both sides authenticate each other through it, then it injects a frame,
alters a byte, replays a recorded frame or swaps two frames, towards the
actor and towards the client.  Every time the frame fails its tag check
before anything in it is decoded: the payloads are real pickles that run a
shell command (``os.system``) appending to a marker file when loaded, and
the controls show that the very same payload does run when decoded, so an
empty marker file means "refused", not "the harness broke".  The untouched
relay keeps working, and so does the actor.
"""
from __future__ import annotations

import contextlib
import os
import pickle

import pytest

import uactor
from tests import wire
from tests.core.transport_actors import KEY, Marker, Store, runs
from tests.relay import TO_ACTOR, TO_CLIENT, Link, Relay

pytestmark = pytest.mark.timeout(60)

#: Seconds any call through the relay may take.
BOUND = 10.0


@pytest.fixture
def actor():
    with Store() as store:
        yield store


@pytest.fixture
def marker(tmp_path):
    """A marker file path, with the control: the payload does run when loaded."""
    path = str(tmp_path / "marker")
    pickle.loads(pickle.dumps(Marker(path)))
    assert runs(path) == 1
    os.unlink(path)
    return path


def forged(payload: object) -> bytes:
    """A frame as the attacker can build it: right framing, a guessed tag."""
    body = pickle.dumps(payload, protocol=5)
    return wire.HEADER.pack(len(body), 0) + body + os.urandom(wire.TAG_BYTES)


def altered(frame: bytes) -> bytes:
    """``frame`` with one byte of its body flipped."""
    middle = wire.HEADER.size + (len(frame) - wire.HEADER.size - wire.TAG_BYTES) // 2
    return frame[:middle] + bytes([frame[middle] ^ 0x01]) + frame[middle + 1:]


def once(direction: str, index: int, action):
    """Tamper: ``action(link, frame)`` replaces the ``index``-th frame going
    ``direction`` on the first serving connection (calls), once."""
    done: list = []

    def tamper(link: Link, going: str, frame: bytes) -> list[bytes]:
        if done or going != direction or not link.serving \
                or len(link.frames[going]) - 1 != index:
            return [frame]
        done.append(frame)
        return action(link, frame)

    return tamper


def swap(direction: str, first: int):
    """Tamper: deliver frames ``first`` and ``first + 1`` going ``direction``
    in the wrong order (on serving connections)."""
    held: list = []

    def tamper(link: Link, going: str, frame: bytes) -> list[bytes]:
        position = len(link.frames[going]) - 1
        if going != direction or not link.serving or position not in (first, first + 1):
            return [frame]
        if position == first:
            held.append(frame)
            return []
        return [frame, *held]

    return tamper


def through(relay: Relay) -> Store:
    return Store.connect(relay.address, KEY, timeout=BOUND)


@contextlib.contextmanager
def pipelined(relay: Relay, ident: str, *calls: tuple):
    """uactor's own connection through ``relay``, serving calls, after sending
    ``calls`` (``(method, args)``) back to back without waiting for replies."""
    conn = uactor._connect(relay.address, KEY, timeout=BOUND)
    try:
        uactor._request(conn, "accept_connection", ("pipelined",))
        for method, args in calls:
            conn.send((ident, method, args, {}))
        yield conn
    finally:
        conn.close()


def test_an_untouched_relay_just_forwards(actor):
    with Relay(actor.connection_address) as relay:
        client = through(relay)
        assert client.echo("through") == "through"
        inner = client.get_inner()  # a result proxy, reached through the relay too
        inner.append(7)
        assert list(inner) == [7] and client.count() == 1
        assert any(link.serving for link in relay.links)


# --------------------------------------------------------------------------
# Towards the actor
# --------------------------------------------------------------------------


def test_a_frame_injected_towards_the_actor_is_refused(actor, marker):
    inject = once(TO_ACTOR, 1, lambda link, frame: [forged(Marker(marker)), frame])
    with Relay(actor.connection_address, inject) as relay:
        client = through(relay)
        with pytest.raises(uactor.ActorDeadError, match="was lost"):
            client.append("lost with its connection")
        assert runs(marker) == 0
        assert actor.count() == 0
        assert client.append("again") == 1  # a new connection, through the relay
    assert runs(marker) == 0


def test_a_frame_altered_towards_the_actor_is_refused(actor, marker):
    Store.connect(actor.connection_address, KEY).append(Marker(marker))
    assert runs(marker) == 1  # control: this request runs the command when decoded
    alter = once(TO_ACTOR, 1, lambda link, frame: [altered(frame)])
    with Relay(actor.connection_address, alter) as relay:
        client = through(relay)
        with pytest.raises(uactor.ActorDeadError):
            client.append(Marker(marker))
        assert runs(marker) == 1 and actor.count() == 1


def test_a_frame_replayed_towards_the_actor_is_refused(actor, marker):
    replay = once(TO_ACTOR, 2, lambda link, frame: [link.frames[TO_ACTOR][1]])
    with Relay(actor.connection_address, replay) as relay:
        client = through(relay)
        assert client.append(Marker(marker)) == 1  # recorded by the relay
        assert runs(marker) == 1
        with pytest.raises(uactor.ActorDeadError):
            client.count()  # the relay sends the recorded request instead
        assert runs(marker) == 1 and actor.count() == 1


def test_frames_reordered_towards_the_actor_are_refused(actor, marker):
    ident = Store.connect(actor.connection_address, KEY)._id
    with Relay(actor.connection_address, swap(TO_ACTOR, 1)) as relay, \
            pipelined(relay, ident, ("append", ("first",)),
                      ("append", (Marker(marker),))) as conn, \
            pytest.raises((EOFError, OSError)):
        conn.recv(uactor._monotonic() + BOUND)
    assert runs(marker) == 0 and actor.count() == 0


# --------------------------------------------------------------------------
# Towards the client
# --------------------------------------------------------------------------


def test_a_frame_injected_towards_the_client_is_refused(actor, marker):
    inject = once(TO_CLIENT, 1, lambda link, frame: [forged(Marker(marker)), frame])
    with Relay(actor.connection_address, inject) as relay:
        client = through(relay)
        with pytest.raises(uactor.FrameAuthenticationError,
                           match=r"a frame from 127\.0\.0\.1:\d+ failed authentication"):
            client.echo("hello")
        assert runs(marker) == 0
        assert client.echo("again") == "again"  # a new connection
    assert runs(marker) == 0


def test_a_frame_altered_towards_the_client_is_refused(actor, marker):
    Store.connect(actor.connection_address, KEY).marker(marker)
    assert runs(marker) == 1  # control: this reply runs the command when decoded
    alter = once(TO_CLIENT, 1, lambda link, frame: [altered(frame)])
    with Relay(actor.connection_address, alter) as relay:
        client = through(relay)
        with pytest.raises(uactor.FrameAuthenticationError):
            client.marker(marker)
        assert runs(marker) == 1


def test_a_frame_replayed_towards_the_client_is_refused(actor, marker):
    replay = once(TO_CLIENT, 2, lambda link, frame: [link.frames[TO_CLIENT][1]])
    with Relay(actor.connection_address, replay) as relay:
        client = through(relay)
        client.marker(marker)  # the reply the relay records
        assert runs(marker) == 1
        with pytest.raises(uactor.FrameAuthenticationError):
            client.count()  # answered with the recorded reply
        assert runs(marker) == 1


def test_frames_reordered_towards_the_client_are_refused(actor, marker):
    ident = Store.connect(actor.connection_address, KEY)._id
    with Relay(actor.connection_address, swap(TO_CLIENT, 1)) as relay, \
            pipelined(relay, ident, ("count", ()), ("marker", (marker,))) as conn, \
            pytest.raises(uactor.FrameAuthenticationError):
        conn.recv(uactor._monotonic() + BOUND)
    assert runs(marker) == 0
    assert actor.echo("still serving") == "still serving"
