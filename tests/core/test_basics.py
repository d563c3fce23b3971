"""Chapters 1.1 and 1.4: quickstart, design and inheritance."""
from __future__ import annotations

import os

import pytest

from tests.core.actors import Cat, Child, Echo, GrandChild, Parent, Tiger


def test_actor_runs_in_its_own_process_and_returns_results():
    with Echo() as actor:
        assert actor.getpid() != os.getpid()
        assert actor.echo({"a": [1, 2]}) == {"a": [1, 2]}


def test_instantiation_returns_the_generated_proxy_class():
    actor = Echo()
    try:
        assert isinstance(actor, Echo.proxy_class)
        assert not isinstance(actor, Echo)
    finally:
        actor.shutdown()


def test_inheritance_example():
    cat, tiger = Cat("Mr. Whiskers"), Tiger("Mr. Fangs")
    with cat, tiger:
        assert cat.greet().endswith("Hi, it's Mr. Whiskers. Meow.")
        assert tiger.greet().endswith("Hi, it's Mr. Fangs. Roar.")
        assert cat.greet() != tiger.greet()


def test_configuration_inheritance_example():
    with Parent() as parent, Child() as child:
        assert parent.greet() == "It's Parent."
        assert child.greet() == "It's Child."
        assert child.hello() == "It's Child. Hello."
        with pytest.raises(AttributeError) as raised:
            parent.private()
        assert str(raised.value) == "'Parent.proxy_class' object has no attribute 'private'"
        with pytest.raises(AttributeError) as raised:
            child.private()
        assert str(raised.value) == "'Child.proxy_class' object has no attribute 'private'"


def test_merged_exposed_tuple_and_undeclared_child():
    assert set(Child._exposed_) == {"__enter__", "__exit__", "shutdown", "greet", "hello"}
    assert "extra" in GrandChild._exposed_ and "private" not in GrandChild._exposed_
    with GrandChild() as actor:
        assert actor.extra() == "extra"
        assert actor.hello() == "It's GrandChild. Hello."


def test_calling_a_method_not_exposed_through_callmethod_is_an_attribute_error():
    with Parent() as parent, pytest.raises(AttributeError, match="private"):
        parent._callmethod("private")
