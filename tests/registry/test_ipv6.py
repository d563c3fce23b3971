"""The registry on IPv6: a node on ``--host ::1`` and ``::``, owners and clients
on IPv6, and a second host on a link that carries IPv6 only.

Entries with IPv6 addresses on every store are in test_conformance.py, their
validation in test_table.py.  ``'::'`` binds every interface, so those tests
run only inside a private network namespace (as .ci/run does).
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap

import pytest

import registry
import uactor
from tests.netns import REMOTE_PRELUDE, has_ipv6_loopback, remote_host
from tests.registry.actors import KEY, Worker
from tests.registry.nodes import ROOT, finish, run_cli, running_node

ISOLATED = [name for _, name in socket.if_nameindex()] == ["lo"]

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback here"),
]

needs_isolated_net = pytest.mark.skipif(
    not ISOLATED, reason="binds '::': runs only inside a private network namespace")


def test_a_node_on_ipv6_loopback_serves_owners_and_clients_on_ipv6():
    with running_node("--host", "::1") as node, \
            uactor.start(Worker, options={"address": ("::1", 0), "authkey": KEY}) as worker:
        assert node.address[0] == "::1"
        with registry.register_actor(node.address, worker, authkey=KEY) as handle:
            assert handle.address == worker.connection_address
            assert handle.address[0] == "::1"
            with registry.connect_actor(node.address, Worker, KEY, timeout=5) as found:
                assert found.getpid() == worker.getpid()
            where = f"[::1]:{node.address[1]}"
            table = run_cli("status", where)
            as_json = run_cli("status", where, "--json")
        node.proc.terminate()
        status, _, stderr = finish(node.proc)
    assert status == 0, stderr
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].startswith(f"registry {where}, pid ")
    assert f"[::1]:{handle.address[1]}" in table.stdout
    snapshot = json.loads(as_json.stdout)
    assert snapshot["node"]["address"] == where
    assert f"serving on {where}" in stderr


@needs_isolated_net
def test_a_node_on_the_ipv6_wildcard_serves_ipv4_and_ipv6_clients():
    with running_node("--host", "::") as node, \
            uactor.start(Worker, options={"address": ("::", 0), "authkey": KEY}) as worker:
        port = node.address[1]
        assert node.address == ("::", port)
        # The owner reaches the node over IPv6: the actor bound to '::' is
        # registered under this host's address towards it, '::1'.
        with registry.register_actor(("::1", port), worker, authkey=KEY) as handle:
            assert handle.address == ("::1", worker.connection_address[1])
            assert handle.bind_address == ("::", worker.connection_address[1])
            for host in ("::1", "127.0.0.1"):  # dual stack: both families reach it
                with registry.connect_actor((host, port), Worker, KEY,
                                            timeout=5) as found:
                    assert found.getpid() == worker.getpid()


def test_local_address_towards_ipv6_hosts():
    assert registry.local_address_towards("::1") == "::1"
    assert registry.local_address_towards("::") == "::1"
    assert registry.local_address_towards("127.0.0.1") == "127.0.0.1"


def test_ipv6_registry_addresses_are_checked_like_others():
    with pytest.raises(registry.InvalidAddressError, match="brackets"):
        registry.connect_actor(("[::1]", 5000), Worker, KEY, timeout=5)
    with pytest.raises(registry.InvalidAddressError, match="not an IPv6 address"):
        registry.connect_actor([("::1", 5000), ("::z", 5001)], Worker, KEY, timeout=5)


# --------------------------------------------------------------------------
# Two hosts on an IPv6-only link
# --------------------------------------------------------------------------

#: The second host: a Worker on every interface, registered with the node
#: here over the IPv6-only link; prints what was registered, waits for stdin.
REMOTE_OWNER = REMOTE_PRELUDE + textwrap.dedent("""
    import registry, uactor
    from tests.registry.actors import KEY, Worker
    node = (sys.argv[1], int(sys.argv[2]))
    with uactor.start(Worker, options={{"address": ("::", 0), "authkey": KEY}}) as worker:
        with registry.register_actor(node, worker, authkey=KEY) as handle:
            host, port = handle.address
            print(host, port, worker.getpid(), flush=True)
            sys.stdin.read()
""")

needs_netns = pytest.mark.skipif(
    not (ISOLATED and os.geteuid() == 0 and shutil.which("unshare")
         and shutil.which("ip")),
    reason="needs root inside a private network namespace, unshare and ip")


@needs_netns
@pytest.mark.netns
def test_an_owner_on_another_host_of_an_ipv6_only_link():
    worker_id = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    slot = int(worker_id[2:]) if worker_id[2:].isdigit() else 0
    local_if, peer_if = f"u6r{slot}a", f"u6r{slot}b"
    local, remote = f"fd00:{slot + 1:x}::1", f"fd00:{slot + 1:x}::2"
    with running_node("--host", "::") as node:
        port = node.address[1]
        with remote_host(REMOTE_OWNER, root=str(ROOT), local_if=local_if,
                         peer_if=peer_if, local=local, remote=remote,
                         args=(local, str(port))) as host:
            registered_host, registered_port, pid = host.stdout.readline().split()
            # The owner chose its own IPv6 address on the route to the node.
            assert registered_host == remote
            reg = registry.Registry.connect(("::1", port), KEY, timeout=10)
            assert reg.addresses("Worker") == [(remote, int(registered_port))]
            with registry.connect_actor(reg, Worker, KEY, timeout=10) as found:
                assert found.getpid() == int(pid)
            host.stdin.close()
            assert host.wait(30) == 0


@needs_netns
@pytest.mark.netns
def test_a_link_local_source_address_keeps_its_scope():
    script = textwrap.dedent(f"""
        import subprocess, sys
        sys.path.insert(0, {str(ROOT)!r})
        import registry
        for command in ("ip link set lo up", "ip link add ua0 type veth peer name ua1",
                        "ip -6 addr add fe80::1/64 dev ua0 nodad",
                        "ip -6 addr add fd00:9::1/64 dev ua0 nodad",
                        "ip link set ua0 up", "ip link set ua1 up"):
            subprocess.run(command.split(), check=True)
        print(registry.local_address_towards("fe80::2%ua0"))
        print(registry.local_address_towards("fd00:9::2"))
    """)
    result = subprocess.run(["unshare", "--net", sys.executable, "-c", script],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["fe80::1%ua0", "fd00:9::1"]
