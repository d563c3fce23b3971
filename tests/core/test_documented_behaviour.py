"""Where the core departed from the documentation (issue 12, section 1).

Each test is written from the uActor 0.1.1 documentation's own example or
statement, which 0.1.1 honours.
"""
from __future__ import annotations

import inspect
import os

import pytest

import uactor
from tests.conftest import wait_until
from tests.core import documented_actors as actors
from tests.core.actors import Child, GrandChild, NetworkActor, Parent


def test_init_runs_on_the_main_thread_so_signal_handlers_can_be_installed():
    with actors.SignalHandling() as actor:
        assert actor.init_thread() == "MainThread"
        actor.raise_signal()
        # Python runs the handler on the main thread once it next holds the
        # interpreter: the thread serving calls may answer first.
        assert wait_until(lambda: actor.signals_seen() == 1, 10)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs to pin to one")
def test_sticky_processes_pin_every_thread_that_serves_calls():
    core = max(os.sched_getaffinity(0))
    for kind in (actors.StickyActor, actors.PsutilStickyActor):
        with kind(core) as actor:
            # calls are served by threads started after __init__ pinned the process
            assert {tuple(actor.affinity()) for _ in range(5)} == {(core,)}
            assert actor.affinity_from_new_thread() == [core]


def test_child_proxy_and_manager_classes_subclass_the_parents():
    assert issubclass(Child.proxy_class, Parent.proxy_class)
    assert issubclass(Child.manager_class, Parent.manager_class)
    assert issubclass(GrandChild.proxy_class, Child.proxy_class)
    assert issubclass(Parent.proxy_class, uactor.Actor.proxy_class)
    assert issubclass(actors.WithCustomProxy.proxy_class, actors.CustomProxy)
    assert issubclass(actors.CustomChild.proxy_class, actors.WithCustomProxy.proxy_class)
    with actors.CustomChild() as child:
        assert child.custom() == "custom, by hand"  # hand-written proxy method kept
        assert child.ping() == "pong"


def test_a_client_may_connect_with_a_class_of_its_own():
    with NetworkActor() as actor:
        client = actors.ClientSideView.connect(actor.connection_address, b"SECRET")
        assert client.getpid() == actor.getpid()
        with pytest.raises(uactor.NotExposedError) as raised:
            client.not_on_the_server()
        message = str(raised.value)
        assert "'not_on_the_server'" in message and "NetworkActor" in message
        assert isinstance(raised.value, AttributeError)


def test_proxy_signature_and_actor_typeid_errors():
    signature = inspect.signature(uactor.proxy)
    assert signature.parameters["typeid"].default == "auto"
    assert signature.parameters["serializer"].default == "pickle"
    with actors.Proxying() as actor:
        with pytest.raises(uactor.ProxyError, match="only the actor itself"):
            actor.int_as_actor()
        with pytest.raises(uactor.ProxyError, match="not registered"):
            actor.unknown_typeid()
        assert actor.myself().ping() == "pong"


def test_only_the_instantiated_proxy_ends_the_actor_when_its_block_ends():
    actor = actors.Proxying()
    process = uactor.process(actor)
    with actor as entered:
        with entered:  # the proxy __enter__ returned
            pass
        assert actor.ping() == "pong"
        with actor.myself():  # a proxy the actor made of itself
            pass
        assert actor.ping() == "pong"
    process.join(10)
    assert process.exitcode == 0  # the instantiated proxy's block ended it


def test_exposed_attributes_can_be_set_through_the_proxy():
    with actors.Attributes() as actor:
        actor.my_attribute = 42
        assert actor.my_attribute == 42
        assert actor.read_attribute() == 42
        actor.checked = 7
        assert actor.checked == 7
        with pytest.raises(ValueError, match="negative"):
            actor.checked = -1
        with pytest.raises(AttributeError, match="no setter"):
            actor.read_only = 1


def test_misconfigured_actor_classes_fail_when_defined():
    with pytest.raises(TypeError, match=r"_proxies_ declares the typeid 'actor'"):
        type("Reserved", (uactor.Actor,), {"_proxies_": {"actor": uactor.ActorProxy}})
    with pytest.raises(TypeError, match=r"_method_to_typeid_\['get'\] names typeid 'nope'"):
        type("Unregistered", (uactor.Actor,), {"_method_to_typeid_": {"get": "nope"},
                                               "get": lambda self: 1})
    with pytest.raises(TypeError, match=r"_proxies_\['x'\] must be a uactor.BaseProxy"):
        type("NotAProxy", (uactor.Actor,), {"_proxies_": {"x": dict}})
