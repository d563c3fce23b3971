"""Arguments an actor cannot rebuild: the caller must hear why.

A request arrives whole (its frame is intact) but rebuilding its arguments in
the actor raises: a forwarded proxy to an actor whose authkey the receiver
does not know (the networking chapter's forwarding rule), or an object whose
unpickling fails there.  What must hold: the caller gets that error (an
``AuthkeyError``, the original exception) rather than a claim that the actor
died, and the actor and the caller's connection carry on.
"""
from __future__ import annotations

import pytest

import uactor
from tests.reliability.actors import Explosive, Receiver, Stranger, UnpicklingError

# An exception raised while the actor rebuilds a request's arguments is sent
# back to the caller (the frame was read whole, the connection stays in step).


def test_forwarding_a_proxy_the_receiver_cannot_authenticate_raises_authkey_error():
    # Receiver first: an actor forked after Stranger started would inherit
    # this process's knowledge of Stranger's authkey.
    with Receiver() as receiver, Stranger() as stranger:
        with pytest.raises(uactor.AuthkeyError, match="connect to that actor first"):
            receiver.take(stranger)
        assert receiver.echo("still here") == "still here"


def test_an_argument_that_fails_to_unpickle_in_the_actor_raises_its_error():
    with Receiver() as receiver:
        with pytest.raises(UnpicklingError, match="cannot be rebuilt"):
            receiver.take(Explosive())
        assert receiver.echo("still here") == "still here"


def test_the_actor_survives_arguments_it_cannot_rebuild():
    """The caller gets the error and the actor itself is unharmed."""
    with Receiver() as receiver, Stranger() as stranger:
        pid = receiver._manager.process.pid
        for bad in (stranger, Explosive()):
            with pytest.raises((uactor.AuthkeyError, UnpicklingError)):
                receiver.take(bad)
            assert receiver.echo("again") == "again"
        assert receiver._manager.process.pid == pid
        assert receiver._manager.process.exitcode is None
