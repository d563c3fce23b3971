"""Chapter 1.6: result proxies, serialized, synchronization and asynchronous."""
from __future__ import annotations

import multiprocessing.managers
import time

import pytest

import uactor
from tests.core.actors import Results


@pytest.fixture
def actor():
    with Results() as actor:
        yield actor


def test_declarative_proxy_refers_to_the_actor_object_not_a_copy(actor):
    proxy = actor.declarative()
    assert isinstance(proxy, multiprocessing.managers.ListProxy)
    assert uactor.typeid(proxy) == "list"
    assert list(proxy) == [1, 2, 3]
    proxy.append(4)
    assert actor.data() == [1, 2, 3, 4]


def test_serialized_proxy_or_value(actor):
    value = actor.serialized()
    assert type(value) is list and value == [1, 2, 3]
    proxy = actor.serialized(as_proxy=True)
    assert isinstance(proxy, multiprocessing.managers.ListProxy)
    assert uactor.typeid(proxy) == "list" and list(proxy) == [1, 2, 3]


def test_dict_proxy_and_its_iterator_proxy(actor):
    mapping = actor.mapping()
    mapping["b"] = 2
    assert sorted(mapping.keys()) == ["a", "b"]
    assert sorted(iter(mapping)) == ["a", "b"]


def test_synchronization_proxy_example(actor):
    assert actor.event.wait(0.05) is False
    actor.event.set()
    assert actor.event.wait(1) is True


def test_pool_and_async_result_proxies(actor):
    started = time.monotonic()
    result = actor.pool.apply_async(time.sleep, (0.3,))
    assert not result.ready()
    assert result.get(timeout=10) is None
    assert time.monotonic() - started >= 0.3
    assert actor.pool.map(abs, [-1, -2]) == [1, 2]
    assert list(actor.pool.imap(abs, [-3, -4])) == [3, 4]


def test_queue_proxy_is_shared(actor):
    queue = actor.queue
    queue.put("x")
    assert actor.queue.get(timeout=5) == "x"
    assert queue.qsize() == 0


def test_auto_proxy_exposes_the_objects_public_methods(actor):
    proxy = actor.auto()
    assert uactor.typeid(proxy) == "auto"
    proxy.append(9)
    assert proxy.count(9) == 1
    assert actor.data()[-1] == 9


def test_two_proxies_of_different_typeids_to_the_same_object(actor):
    as_list, as_auto = actor.both()
    as_list.append(5)
    assert as_auto.index(5) == 3
    assert {uactor.typeid(as_list), uactor.typeid(as_auto)} == {"list", "auto"}


def test_proxies_nested_in_containers_arrive_alive(actor):
    nested = actor.as_dict_and_list()["list"]
    assert list(nested) == [1, 2, 3]


def test_proxy_str_repr_and_value(actor):
    proxy = actor.declarative()
    assert str(proxy) == "[1, 2, 3]"
    assert "list" in repr(proxy)
    assert proxy._getvalue() == [1, 2, 3]
