"""Clients and owners given several registry nodes carry on when one dies.

Nodes of one fleet (``uactor-registry --store``, real etcd and Redis) and
independent nodes (each its own memory store): ``register_actor`` and
``connect_actor`` take a list of node addresses, their heartbeats and picks
move to the next node when the one in use is killed, and no lease runs out
meanwhile.  How long the move takes is measured in ``bench/`` (group
``registry-failover``).
"""
from __future__ import annotations

import contextlib
import os
import signal
import time

import pytest

import registry
import uactor
from tests.conftest import wait_until
from tests.registry.actors import KEY, Worker, listed, start_registry
from tests.registry.nodes import kill, running_node

#: Lease of the test registrations (s): a heartbeat every second, so the
#: move to another node must take well under two seconds for no lease to end.
TTL = 3.0


def _listed_everywhere(watchers, address, since: float, duration: float):
    """A :func:`wait_until` predicate: ``address`` listed by every watcher at
    every poll (else it fails at once) until ``duration`` has passed."""
    def check() -> bool:
        for watcher in watchers:
            listed = watcher.addresses("Worker")
            assert listed == [address], f"{watcher.connection_address}: {listed}"
        return time.monotonic() - since >= duration
    return check


@pytest.mark.timeout(120)
@pytest.mark.parametrize("store_kind", ["etcd", "redis"])
def test_a_node_killed_among_three_leaves_owners_and_clients_on_the_other_two(
        store_kind, store_url, store_prefix):
    with contextlib.ExitStack() as stack:
        nodes = [stack.enter_context(running_node(
            "--store", store_url, "--store-prefix", store_prefix, "--ttl", str(TTL)))
            for _ in range(3)]
        addresses = [node.address for node in nodes]
        worker = stack.enter_context(Worker())
        handle = stack.enter_context(registry.register_actor(addresses, worker,
                                                             authkey=KEY))
        assert handle.ttl == TTL  # the nodes' --ttl
        client = stack.enter_context(registry.connect_actor(
            addresses, Worker, KEY, timeout=5, reconnect=True))
        assert client.getpid() == worker.getpid()
        watchers = [stack.enter_context(registry.Registry.connect(node.address, KEY,
                                                                  timeout=5))
                    for node in nodes[1:]]
        assert wait_until(lambda: all(listed(watcher, "Worker") == [handle.address]
                                      for watcher in watchers), timeout=5)
        renewed_before = sum(watcher.stats()["renewed"] for watcher in watchers)

        kill(nodes[0].proc)  # the node both were using
        killed = time.monotonic()

        # Clients: a new one given the list, and the one made before, carry on.
        assert registry.connect_actor(addresses, Worker, KEY, timeout=5).getpid() \
            == worker.getpid()
        assert client.getpid() == worker.getpid()
        # Owners: the heartbeats go on through another node; the lease never
        # runs out, and the actor stays listed on both survivors throughout.
        assert wait_until(_listed_everywhere(watchers, handle.address, killed, 2 * TTL),
                          timeout=4 * TTL, interval=0.1)
        assert sum(watcher.stats()["renewed"] for watcher in watchers) > renewed_before
        assert not handle.closed


@pytest.mark.timeout(60)
def test_owners_register_again_on_the_next_of_independent_nodes():
    with start_registry() as first, start_registry() as second:
        addresses = [first.connection_address, second.connection_address]
        with Worker() as worker, \
                registry.register_actor(addresses, worker, authkey=KEY,
                                        ttl=1.5) as handle:
            assert first.addresses("Worker") == [handle.address]
            assert second.names() == []
            process = uactor.process(first)
            os.kill(process.pid, signal.SIGKILL)
            process.join(10)
            # The next node has a store of its own: the heartbeat opens a lease
            # there and registers the actor again.
            assert wait_until(lambda: second.names() == ["Worker"], timeout=10)
            assert second.addresses("Worker") == [handle.address]
            with registry.connect_actor(addresses, Worker, KEY, timeout=5) as found:
                assert found.getpid() == worker.getpid()
        assert second.names() == []  # closed through the node that has it


def test_every_node_down_is_the_last_node_s_error():
    with start_registry() as first, start_registry() as second:
        addresses = [first.connection_address, second.connection_address]
        for node in (first, second):
            process = uactor.process(node)
            os.kill(process.pid, signal.SIGKILL)
            process.join(10)
        started = time.monotonic()
        with pytest.raises(uactor.ActorConnectionError) as info:
            registry.connect_actor(addresses, Worker, KEY, timeout=5)
        message = str(info.value)
        assert message.startswith("no registry node answered")
        for host, port in addresses:
            assert f"{host}:{port} (ActorConnectionError: " in message
        assert time.monotonic() - started < 5  # refused at once, not timed out


@pytest.mark.parametrize("bad, error", [
    ([], registry.InvalidArgumentError),
    ("127.0.0.1:5000", registry.InvalidArgumentError),
    ([("127.0.0.1", 5000), "127.0.0.1:5001"], registry.InvalidArgumentError),
    ([("127.0.0.1", 5000), ("127.0.0.1", 0)], registry.InvalidAddressError),
    ([("127.0.0.1", 5000), ("127.0.0.1",)], registry.InvalidArgumentError),
])
def test_bad_lists_of_node_addresses_are_refused_before_connecting(bad, error):
    with pytest.raises(error) as info:
        registry.connect_actor(bad, Worker, KEY, timeout=5)
    assert "registry" in str(info.value) and "address" in str(info.value)
    with Worker() as worker, pytest.raises(error):
        registry.register_actor(bad, worker, authkey=KEY)


def test_connect_registry_gives_the_first_node_that_answers():
    with start_registry() as first, start_registry() as second:
        addresses = [first.connection_address, second.connection_address]
        process = uactor.process(first)
        os.kill(process.pid, signal.SIGKILL)
        process.join(10)
        with registry.connect_registry(addresses, KEY, timeout=5) as node:
            assert tuple(node.connection_address) == tuple(second.connection_address)
            assert node.names() == []
        with registry.connect_registry(second.connection_address, KEY) as node:
            assert node.default_ttl() == second.default_ttl()
        with pytest.raises(uactor.ActorConnectionError) as info:
            registry.connect_registry(addresses[:1], KEY, timeout=5)
        assert "Connection refused" in str(info.value) or "refused" in str(info.value)
        with pytest.raises(uactor.AuthkeyError):
            registry.connect_registry(addresses[1:], b"wrong", timeout=5)


@pytest.mark.parametrize("bad", ["127.0.0.1:5000", None, [], [("127.0.0.1", 0)]])
def test_connect_registry_refuses_what_is_not_addresses(bad):
    with pytest.raises((registry.InvalidArgumentError, registry.InvalidAddressError)) as info:
        registry.connect_registry(bad, KEY)
    assert "address" in str(info.value)
