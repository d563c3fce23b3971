"""Chapter 1.2: the module's documented API surface."""
from __future__ import annotations

import multiprocessing.managers

import pytest

import uactor
from tests.core.actors import Echo


def test_all_is_sorted_and_equals_the_public_names():
    imported = {"annotations"} | {
        name for name, value in vars(uactor).items()
        if type(value).__name__ == "module"
        or getattr(value, "__module__", None) in ("typing", "collections.abc")}
    public = {name for name in vars(uactor) if not name.startswith("_")} - imported
    assert uactor.__all__ == sorted(set(uactor.__all__))
    assert set(uactor.__all__) == public


def test_documented_constants_and_exception_tree():
    assert uactor.DEFAULT_SERIALIZER == "pickle"
    assert issubclass(uactor.ProxyError, uactor.UActorException)
    assert issubclass(uactor.AuthkeyError, uactor.ProxyError)
    assert uactor.AuthKeyError is uactor.AuthkeyError
    assert issubclass(uactor.ActorDeadError, uactor.ActorConnectionError)
    assert issubclass(uactor.ActorConnectionError, ConnectionError)
    assert issubclass(uactor.CallTimeoutError, TimeoutError)
    assert issubclass(uactor.BaseProxy, multiprocessing.managers.BaseProxy)
    assert issubclass(uactor.ActorProxy, uactor.BaseProxy)
    assert issubclass(uactor.ActorManager, multiprocessing.managers.BaseManager)


def test_typeids_list_every_syncmanager_proxy_plus_auto_and_actor():
    syncmanager = tuple(multiprocessing.managers.SyncManager._registry)
    assert uactor.ActorManager.typeids() == (*syncmanager, "auto")
    assert uactor.Actor.manager_class.typeids() == (*syncmanager, "auto", "actor")
    assert Echo.manager_class.typeids()[-1] == "actor"
    assert {"AsyncResult", "Iterator", "Pool", "Queue"} <= set(uactor.ActorManager.typeids())


def test_actor_configuration_attributes_have_documented_defaults():
    assert uactor.Actor._exposed_ == ("__enter__", "__exit__", "shutdown")
    assert uactor.Actor._method_to_typeid_ == {"__enter__": "actor"}
    assert uactor.Actor._options_ == {}
    assert set(uactor.Actor._proxies_) == set(multiprocessing.managers.SyncManager._registry)
    assert issubclass(uactor.Actor.manager_class, uactor.ActorManager)
    assert issubclass(uactor.Actor.proxy_class, uactor.ActorProxy)
    assert issubclass(Echo.proxy_class, uactor.ActorProxy)
    assert Echo.proxy_class.__qualname__ == "Echo.proxy_class"


def test_proxy_outside_an_actor_raises_proxy_error():
    with pytest.raises(uactor.ProxyError, match="inside an actor process"):
        uactor.proxy([1, 2])
    with pytest.raises(uactor.ProxyError):
        uactor.current_address()


def test_typeid_of_actor_proxy_and_bad_input():
    with Echo() as actor:
        assert uactor.typeid(actor) == "actor"
        assert actor.process is None if hasattr(actor, "process") else True
    with pytest.raises(TypeError):
        uactor.typeid(object())


def test_manager_process_property_is_the_owned_process():
    actor = Echo()
    try:
        process = actor._manager.process
        assert process is not None and process.pid == actor.getpid()
    finally:
        actor.shutdown()
    assert process.exitcode == 0


@pytest.mark.parametrize("options, error", [
    ({"address": ("127.0.0.1", "80")}, TypeError),
    ({"address": ("127.0.0.1", 70000)}, ValueError),
    ({"authkey": "text"}, TypeError),
    ({"serializer": "json"}, ValueError),
    ({"timeout": -1}, ValueError),
    ({"adress": ("127.0.0.1", 0)}, TypeError),
])
def test_bad_options_fail_before_any_process_starts(options, error):
    with pytest.raises(error):
        uactor.start(Echo, options=options)


def test_start_rejects_non_actor_classes():
    with pytest.raises(TypeError, match="not a uactor.Actor subclass"):
        uactor.start(dict)


def test_exposed_must_be_a_tuple_not_a_string():
    with pytest.raises(TypeError, match="tuple of names"):
        type("Broken", (uactor.Actor,), {"_exposed_": "greet"})


def test_proxies_must_be_uactor_proxy_classes():
    with pytest.raises(TypeError, match="BaseProxy subclass"):
        type("Broken", (uactor.Actor,), {"_proxies_": {"x": dict}})
