"""A fleet of registry nodes found over mDNS (issue 11, point 3).

Three ``uactor-registry`` nodes over one real Redis (``--store``; memory://
nodes would not share their entries), each advertised over mDNS on
127.0.0.1 with a key of the test's own (so other tests' nodes are refused,
not listed):

* :func:`discovery.find_registries` (threaded and asyncio) and
  ``uactor-discover --registries`` list all three;
* an actor published with ``register=True`` is pickable through every node;
  the node its heartbeats use is killed (``kill -9``): the next heartbeat
  goes through another node, no lease runs out, and clients given the found
  addresses still pick it;
* bad input: no node, a wrong key, bad arguments.

How long the move to another node takes is measured in ``bench/`` (group
``discovery-fleet-failover``); the bounds here are generous, for loaded
machines.  The servers and nodes are stopped, and proven gone, by
:mod:`tests.servers`, :mod:`tests.registry.nodes` and the autouse fixture.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time

import pytest

import discovery
import discovery.aio
import registry
import uactor
from tests import servers
from tests.conftest import wait_until
from tests.discovery.actors import LOOPBACK, Echo
from tests.discovery.conftest import ROOT, python_env
from tests.registry.nodes import kill, running_node

pytestmark = [pytest.mark.slow]

#: Lease of the registrations (s): a heartbeat every second, so the move to
#: another node comes with the first heartbeat after a kill, within ~1 s.
TTL = 3.0

#: Generous bound on the move (s): before the lease could have run out.
MOVE_BOUND = TTL

#: How long waits for adverts, registrations and pickings may take here (s).
SOON = 15.0


@contextlib.contextmanager
def fleet(key: bytes, prefix: str, size: int = 3):
    """``size`` advertised nodes over one fresh redis-server: ``(nodes, addresses)``."""
    with servers.redis() as store, contextlib.ExitStack() as stack:
        nodes = [stack.enter_context(running_node(
            "--store", store.url, "--store-prefix", prefix, "--ttl", str(TTL),
            "--advertise", "--log-level", "WARNING", authkey=key))
            for _ in range(size)]
        yield nodes, sorted(node.address for node in nodes)


@pytest.fixture
def key(unique_name) -> bytes:
    return f"fleet-{unique_name}".encode()


def run_cli(*args: str, key: bytes) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "discovery", *args],
                          capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env=python_env(UACTOR_AUTHKEY=key.decode()))


def listed(node, name: str) -> list:
    try:
        return [tuple(address) for address in node.addresses(name)]
    except registry.UnknownNameError:
        return []


@pytest.mark.timeout(120)
def test_every_node_of_the_fleet_is_found(key, unique_name):
    with fleet(key, unique_name + "/") as (_, addresses):
        found = discovery.find_registries(key, interfaces=LOOPBACK, timeout=SOON,
                                          min_count=3)
        assert sorted(found) == addresses and len(found) == 3
        # Without min_count: until no new node answered for a moment (one
        # whose answer came later still may be missed), or for the whole
        # timeout with settle=None.
        some = discovery.find_registries(key, interfaces=LOOPBACK, timeout=SOON)
        assert some and set(some) <= set(addresses) and len(set(some)) == len(some)
        assert sorted(discovery.find_registries(key, interfaces=LOOPBACK, timeout=3,
                                                settle=None)) == addresses
        found = asyncio.run(discovery.aio.find_registries(
            key, interfaces=LOOPBACK, timeout=SOON, min_count=3))
        assert sorted(found) == addresses
        # The addresses are what registry's helpers take.
        with registry.connect_registry(found, key, timeout=5) as node:
            assert node.default_ttl() == TTL
        # The first node found, as before.
        first = discovery.find_registry(key, interfaces=LOOPBACK, timeout=SOON)
        assert tuple(first.connection_address) in addresses
        del first

        result = run_cli("--registries", "--json", "-i", "127.0.0.1", "-t", "3",
                         key=key)
        assert result.returncode == 0, result.stderr
        listing = json.loads(result.stdout)
        assert sorted((item["host"], item["port"]) for item in listing) == addresses
        assert all(item["address"] == f"{item['host']}:{item['port']}"
                   for item in listing)
        text = run_cli("--registries", "-i", "127.0.0.1", "-t", "3", key=key)
        assert text.returncode == 0, text.stderr
        assert sorted(text.stdout.split()) == sorted(f"{host}:{port}"
                                                     for host, port in addresses)


def _used_node(watchers) -> int:
    """Index of the one node that served the registration (its own counter)."""
    served = [index for index, watcher in enumerate(watchers)
              if watcher.stats()["registered"] > 0]
    assert len(served) <= 1, served  # one registration, through one node
    return served[0] if served else -1


@pytest.mark.timeout(180)
def test_a_published_actor_survives_the_node_it_registered_through(key, unique_name):
    with contextlib.ExitStack() as stack:
        nodes, addresses = stack.enter_context(fleet(key, unique_name + "/"))
        actor = stack.enter_context(uactor.start(
            Echo, options={"address": ("127.0.0.1", 0), "authkey": key}))
        watchers = [stack.enter_context(registry.Registry.connect(node.address, key,
                                                                  timeout=5))
                    for node in nodes]
        stack.enter_context(discovery.publish(actor, interfaces=LOOPBACK, authkey=key,
                                              register=True))
        bound = tuple(actor.connection_address)
        # Registered through one node, listed and pickable through every one.
        assert wait_until(lambda: all(listed(watcher, "Echo") == [bound]
                                      for watcher in watchers), timeout=SOON)
        for address in addresses:
            with registry.connect_actor([address], Echo, key, timeout=5) as found:
                assert found.getpid() == actor.getpid()
        assert wait_until(lambda: _used_node(watchers) >= 0, timeout=SOON)
        used = _used_node(watchers)
        survivors = [watcher for index, watcher in enumerate(watchers) if index != used]
        found = discovery.find_registries(key, interfaces=LOOPBACK, timeout=SOON,
                                          min_count=3)
        client = stack.enter_context(registry.connect_actor(found, Echo, key, timeout=5,
                                                            reconnect=True))
        assert client.getpid() == actor.getpid()
        renewed = sum(watcher.stats()["renewed"] for watcher in survivors)

        kill(nodes[used].proc)
        killed = time.monotonic()

        # The next heartbeat goes through another node...
        assert wait_until(lambda: sum(watcher.stats()["renewed"]
                                      for watcher in survivors) > renewed,
                          timeout=SOON, interval=0.01)
        moved = time.monotonic() - killed
        assert moved < MOVE_BOUND, f"heartbeats moved {moved:.2f} s after the kill"
        # ... clients given the found addresses still pick the actor...
        with registry.connect_actor(found, Echo, key, timeout=5) as again:
            assert again.getpid() == actor.getpid()
        assert client.getpid() == actor.getpid()
        # ... and the lease never runs out: listed by both survivors throughout.
        def still_listed() -> bool:
            for watcher in survivors:
                assert listed(watcher, "Echo") == [bound]
            return time.monotonic() - killed >= 2 * TTL
        assert wait_until(still_listed, timeout=4 * TTL, interval=0.1)
        # Found over mDNS again: only the two survivors answer.
        alive = sorted(address for index, address in enumerate(
            node.address for node in nodes) if index != used)
        assert sorted(discovery.find_registries(
            key, interfaces=LOOPBACK, timeout=SOON, min_count=2)) == alive


# --------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------

def test_no_node_is_a_clear_error(key):
    started = time.monotonic()
    with pytest.raises(discovery.DiscoveryTimeoutError) as info:
        discovery.find_registries(key, interfaces=LOOPBACK, timeout=0.5)
    assert time.monotonic() - started < SOON
    message = str(info.value)
    assert message.startswith("no registry node answered within 0.5 s on "
                              "interfaces ['127.0.0.1']")
    assert isinstance(info.value, TimeoutError)
    result = run_cli("--registries", "-i", "127.0.0.1", "-t", "0.5", key=key)
    assert result.returncode == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("uactor-discover: no registry node answered within 0.5 s")


def test_nodes_of_another_key_are_refused_not_listed(key, unique_name):
    with uactor.start(registry.Registry, options={"address": ("127.0.0.1", 0),
                                                  "authkey": key}) as node, \
            discovery.publish(node, role="registry", name=unique_name,
                              interfaces=LOOPBACK, authkey=key):
        address = tuple(node.connection_address)
        assert discovery.find_registries(key, name=unique_name, interfaces=LOOPBACK,
                                         timeout=SOON, min_count=1) == [address]
        with pytest.raises(discovery.DiscoveryTimeoutError) as info:
            discovery.find_registries(b"wrong-" + key, name=unique_name,
                                      interfaces=LOOPBACK, timeout=2)
        assert "refused adverts" in str(info.value)
        assert "signed with another authkey" in str(info.value)
        result = run_cli("--registries", "--json", "--name", unique_name, "-i",
                         "127.0.0.1", "-t", "2", key=b"wrong-" + key)
        assert result.returncode == 1 and result.stdout == ""
        assert result.stderr.startswith(
            f"uactor-discover: no registry node name={unique_name!r} answered within 2 s")
        assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize("arguments, message", [
    ({"min_count": 0}, "min_count must be a positive int or None, not 0"),
    ({"min_count": True}, "min_count must be a positive int or None, not True"),
    ({"settle": 0}, "settle must be a positive number of seconds or None, not 0"),
    ({"timeout": -1}, "timeout must be a positive number of seconds, not -1"),
])
def test_bad_arguments_are_refused_at_once(arguments, message):
    with pytest.raises(ValueError) as info:
        discovery.find_registries(b"key", interfaces=LOOPBACK, **arguments)
    assert str(info.value) == message
    with pytest.raises(ValueError) as info:
        asyncio.run(discovery.aio.find_registries(b"key", interfaces=LOOPBACK,
                                                  **arguments))
    assert str(info.value) == message


def test_a_str_key_is_refused_with_the_core_s_words():
    with pytest.raises(TypeError, match="authkey must be bytes, not str"):
        discovery.find_registries("key", interfaces=LOOPBACK)  # type: ignore[arg-type]


@pytest.mark.parametrize("args, error", [
    (["--registry", "nowhere"], "argument --registry: 'nowhere' is not HOST:PORT"),
    (["--registry", "127.0.0.1:70000"], "'127.0.0.1:70000' is not HOST:PORT"),
    (["--registries", "--registry", "127.0.0.1:5000"], "not allowed with argument"),
    (["--registries", "--watch"], "--watch does not go with --registries"),
    (["--registry", "127.0.0.1:5000", "-i", "lo"],
     "--interface does not go with --registry"),
    (["--pick"], "--pick needs --registry HOST:PORT and --name SERVICE"),
])
def test_cli_bad_arguments(args, error, key):
    result = run_cli(*args, key=key)
    assert result.returncode == 2
    assert error in result.stderr.splitlines()[-1]


def test_cli_lists_and_picks_through_given_nodes(key):
    with uactor.start(registry.Registry, options={"address": ("127.0.0.1", 0),
                                                  "authkey": key}) as node:
        node.register(("127.0.0.1", 4711), name="things")
        host, port = node.connection_address
        dead = servers.free_ports(1)[0]
        given = ["--registry", f"127.0.0.1:{dead}", "--registry", f"{host}:{port}"]
        result = run_cli(*given, "--json", key=key)
        assert result.returncode == 0, result.stderr
        (entry,) = json.loads(result.stdout)
        assert (entry["name"], entry["address"]) == ("things", "127.0.0.1:4711")
        result = run_cli(*given, "--name", "things", "--pick", key=key)
        assert (result.returncode, result.stdout) == (0, "127.0.0.1:4711\n")
        result = run_cli(*given, "--name", "nothing", "--pick", key=key)
        assert result.returncode == 1
        assert result.stderr == (f"uactor-discover: no 'nothing' actor is registered "
                                 f"with 127.0.0.1:{dead}, {host}:{port}\n")
    result = run_cli("--registry", f"{host}:{port}", key=key)
    assert result.returncode == 1
    assert result.stderr.startswith(f"uactor-discover: --registry {host}:{port}: ")
    assert len(result.stderr.splitlines()) == 1
