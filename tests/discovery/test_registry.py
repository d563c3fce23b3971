"""Discovery with the registry: finding a registry node, registering with one."""
from __future__ import annotations

import subprocess
import sys

import discovery
import registry
import uactor
from tests.conftest import wait_until
from tests.discovery.actors import (
    AUTHKEY,
    LOOPBACK,
    REGISTRY_NAME,
    Echo,
    RegisteredEcho,
)
from tests.discovery.conftest import ROOT, python_env, read_line, stop_process
from tests.registry.nodes import parse_ready_line

SOON = 10.0


def registered(node, name: str) -> list:
    """Addresses registered under ``name`` (none yet: an empty list)."""
    try:
        return node.addresses(name)
    except registry.UnknownNameError:
        return []


def start_registry():
    return uactor.start(registry.Registry, options={
        "address": ("127.0.0.1", 0), "authkey": AUTHKEY})


def test_find_registry_returns_a_connected_registry(unique_name):
    with start_registry() as node, discovery.publish(
            node, name=unique_name, role="registry", interfaces=LOOPBACK,
            authkey=AUTHKEY):
        found = discovery.find_registry(AUTHKEY, name=unique_name,
                                        interfaces=LOOPBACK, timeout=SOON)
        assert found.connection_address == node.connection_address
        found.register(("127.0.0.1", 4711), name="things")
        assert node.pick("things") == ("127.0.0.1", 4711)
        del found


def test_published_actors_can_register_with_a_discovered_registry(unique_name):
    with start_registry() as node, discovery.publish(
            node, name=unique_name, role="registry", interfaces=LOOPBACK,
            authkey=AUTHKEY), Echo() as actor:
        publication = discovery.publish(actor, name=unique_name + "-echo",
                                        interfaces=LOOPBACK, authkey=AUTHKEY,
                                        register=unique_name)
        try:
            assert wait_until(lambda: registered(node, unique_name + "-echo"), SOON)
            assert registered(node, unique_name + "-echo") == [
                actor.connection_address]
        finally:
            publication.close()
        assert registered(node, unique_name + "-echo") == []


def test_advertised_actors_register_themselves():
    with start_registry() as node, discovery.publish(
            node, name=REGISTRY_NAME, role="registry", interfaces=LOOPBACK,
            authkey=AUTHKEY):
        with RegisteredEcho() as actor:
            assert wait_until(lambda: registered(node, "RegisteredEcho"), SOON)
            assert registered(node, "RegisteredEcho") == [actor.connection_address]
        assert wait_until(lambda: not registered(node, "RegisteredEcho"), SOON)


def test_registry_node_cli_is_found_over_mdns():
    proc = subprocess.Popen(
        [sys.executable, "-m", "registry", "--port", "0", "--log-level", "WARNING"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**python_env(), "UACTOR_AUTHKEY": AUTHKEY.decode()})
    try:
        (_, port), _ = parse_ready_line(read_line(proc, 30))
        with discovery.browse(role="registry", interfaces=LOOPBACK,
                              authkey=AUTHKEY) as browser:
            entry = browser.wait_for(lambda entry: entry.port == port and entry.alive,
                                     timeout=SOON)
            assert entry is not None and entry.signed
            assert entry.actor_class == "registry._node:RegistryNode"
            node = browser.connect(entry)
            node.register(("127.0.0.1", 4711), name="things")
            assert node.pick("things") == ("127.0.0.1", 4711)
            del node
        proc.terminate()  # the node exits cleanly on SIGTERM
        assert proc.wait(SOON) == 0
    finally:
        stop_process(proc)
