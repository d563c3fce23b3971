"""The relay attack of issue 10, end to end, through discovery.

An attacker on the link records a genuine signed advert, re-announces it
under its own address, and runs a byte-for-byte relay (:mod:`tests.relay`)
there, on the actor's port: it forwards the handshake to the real actor, so
both ends authenticate, and then injects pickles that would run a command
(a marker file grows) in the actor and in the client.  What must hold:

* discover() never dials the attacker (the signature lists the addresses)
  and finds the genuine actor, while a browser without the key shows that
  the replayed address did arrive;
* a client made to dial the relay directly gets its connection dropped by
  the core's frame authentication, whichever way the pickle is injected:
  no code runs in the client or in the actor, which keeps serving, and
  discovery still finds it;
* the control: the very same payload does run when unpickled.

Runs only where the only interface is a private loopback (``.ci/run``): it
binds 127.0.0.2 and sends raw mDNS packets.
"""
from __future__ import annotations

import os
import pickle

import pytest

import discovery
import uactor
from tests import wire
from tests.conftest import wait_until
from tests.core.transport_actors import Marker, runs
from tests.discovery.actors import AUTHKEY, LOOPBACK, Echo
from tests.discovery.test_hostile import Replayer, discovers, record, replay_packet
from tests.relay import TO_ACTOR, TO_CLIENT, Link, Relay
from tests.reliability._helpers import ISOLATED

pytestmark = [
    pytest.mark.skipif(not ISOLATED, reason="binds 127.0.0.2 and sends raw multicast: "
                                            "only inside a private network namespace"),
    pytest.mark.timeout(120),
]

#: Bound on anything that should happen promptly (s).
SOON = 10.0

#: The attacker's address on the link (loopback here).
ATTACKER = "127.0.0.2"


def forged(payload: object) -> bytes:
    """A frame as the attacker can build it: right framing, a guessed tag."""
    body = pickle.dumps(payload, protocol=5)
    return wire.HEADER.pack(len(body), 0) + body + os.urandom(wire.TAG_BYTES)


class Injector:
    """Tamper for the relay: on its first connection a pickle goes to the
    actor ahead of the client's first frame; on its second, the actor's first
    reply is replaced by a pickle for the client."""

    def __init__(self, in_actor: str, in_client: str) -> None:
        self.in_actor, self.in_client = in_actor, in_client
        self.injected: list[str] = []

    def __call__(self, relay: Relay, link: Link, direction: str,
                 frame: bytes) -> list[bytes]:
        first = len(link.frames[direction]) == 1
        which = relay.links.index(link)
        if which == 0 and direction == TO_ACTOR and first:
            self.injected.append(TO_ACTOR)
            return [forged((None, "echo", (Marker(self.in_actor),), {})), frame]
        if which == 1 and direction == TO_CLIENT and first:
            self.injected.append(TO_CLIENT)
            return [forged(("#RETURN", Marker(self.in_client)))]
        return [frame]


def test_a_replayed_advert_and_a_relay_run_no_code_anywhere(loopback_sender, unique_name,
                                                            tmp_path):
    control = str(tmp_path / "control")
    pickle.loads(pickle.dumps(Marker(control)))
    assert runs(control) == 1  # the payload runs when decoded: markers work
    in_actor, in_client = str(tmp_path / "in-actor"), str(tmp_path / "in-client")
    injector = Injector(in_actor, in_client)
    with Echo() as actor, discovery.publish(actor, name=unique_name,
                                            interfaces=LOOPBACK) as publication:
        port = actor.connection_address[1]
        recorded = record(publication.instance)
        relay: Relay
        with Relay(("127.0.0.1", port),
                   lambda *frame: injector(relay, *frame),
                   listen=(ATTACKER, port)) as relay:
            replayer = Replayer(loopback_sender,
                                replay_packet(recorded, address=ATTACKER, adds=True))
            try:
                with discovery.browse(Echo, name=unique_name,
                                      interfaces=LOOPBACK) as keyless:
                    assert wait_until(lambda: any(ATTACKER in entry.addresses
                                                  for entry in keyless), SOON)
                assert discovers(actor, unique_name)
            finally:
                replayer.stop()
            assert relay.links == []  # discover() never dialed the attacker

            # Made to dial the relay, the client authenticates through it (its
            # first request crosses: the handshake passed), and each injected
            # frame ends its connection, undecoded: the actor drops the first,
            # the client refuses the second.
            errors = []
            for _ in range(2):
                with pytest.raises(uactor.ActorDeadError) as caught:
                    Echo.connect((ATTACKER, port), AUTHKEY, timeout=SOON)
                errors.append(caught.value)
            assert injector.injected == [TO_ACTOR, TO_CLIENT]
            assert [len(link.frames[TO_ACTOR]) for link in relay.links] == [1, 1]
            assert isinstance(errors[1], uactor.FrameAuthenticationError), errors
        assert runs(in_actor) == 0 and runs(in_client) == 0
        # The actor kept serving, and discovery still finds it.
        assert actor.echo(7) == 7
        assert discovers(actor, unique_name)
    assert runs(in_actor) == 0 and runs(in_client) == 0
