"""Dropping a proxy must never disturb other proxies' calls.

Proxies of one object share an identity (the owner proxy and every proxy from
``connect()`` to the same actor carry the same ident), and each thread keeps
one connection per actor.  A proxy's release runs from its finalizer: at
``del``, or whenever the cyclic garbage collector frees it, which can be in
the middle of another call of the same thread (a failed call's traceback
keeps its proxy in a reference cycle, so that is common).

What must hold: the other proxies keep working, and a call in flight is never
broken by a release.
"""
from __future__ import annotations

from tests.reliability.actors import KEY, DropOnPickle, Worker


def test_dropping_one_of_several_proxies_between_calls_keeps_the_others_working():
    with Worker() as worker:
        address = worker.connection_address
        proxies = [Worker.connect(address, KEY, timeout=10) for _ in range(3)]
        assert len({proxy._token.id for proxy in [worker, *proxies]}) == 1
        for index in range(len(proxies)):
            dropped = proxies.pop()
            del dropped
            for proxy in [worker, *proxies]:
                assert proxy.echo(index) == index


def test_a_proxy_released_during_another_proxys_call_does_not_break_it():
    with Worker() as worker:
        address = worker.connection_address
        box = [Worker.connect(address, KEY, timeout=10)]
        other = Worker.connect(address, KEY, timeout=10)
        assert other.echo("connected") == "connected"
        # Pickling the argument drops the last reference to box[0], so its
        # finalizer runs while ``other`` is sending on this thread's connection.
        assert other.echo(DropOnPickle(box)) == 0
        assert box == []
        assert other.echo("after") == "after"
