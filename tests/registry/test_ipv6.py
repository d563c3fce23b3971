"""The registry on IPv6: a node on ``--host ::1`` and ``::``, owners and clients
on IPv6, and a second host on a link that carries IPv6 only.

Entries with IPv6 addresses on every store are in test_conformance.py, their
validation in test_table.py.  ``'::'`` binds every interface, so those tests
run only inside a private network namespace (as .ci/run does).
"""
from __future__ import annotations

import json
import socket
import textwrap

import pytest

import registry
import uactor
from tests.netns import (
    Lab,
    has_ipv6_loopback,
    ip_netns_skip_reason,
    private_net_skip_reason,
    run_private,
)
from tests.registry.actors import KEY, Worker
from tests.registry.nodes import (
    STARTUP_TIMEOUT,
    finish,
    parse_ready_line,
    read_lines,
    run_cli,
    running_node,
)

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
#: (argv: its IPv6 address and port) over the IPv6-only link, then picked
#: through it; prints what it saw as JSON.
OWNER_SCRIPT = textwrap.dedent("""
    import json, sys
    import registry, uactor
    from tests.registry.actors import KEY, Worker
    node = (sys.argv[1], int(sys.argv[2]))
    with uactor.start(Worker, options={"address": ("::", 0), "authkey": KEY}) as worker, \\
            registry.register_actor(node, worker, authkey=KEY) as handle, \\
            registry.Registry.connect(node, KEY, timeout=10) as reg, \\
            registry.connect_actor(node, Worker, KEY, timeout=10) as found:
        print(json.dumps({"registered": list(handle.address),
                          "listed": [list(a) for a in reg.addresses("Worker")],
                          "pid": worker.getpid(), "picked": found.getpid()}))
""")

needs_ip_netns = pytest.mark.skipif(ip_netns_skip_reason() is not None,
                                    reason=ip_netns_skip_reason() or "")


@pytest.fixture
def lab():
    lab = Lab()
    yield lab
    lab.close()


@needs_ip_netns
@pytest.mark.netns
def test_an_owner_on_another_host_of_an_ipv6_only_link(lab):
    node_ip, owner_ip = f"{lab.ipv6_prefix}::1", f"{lab.ipv6_prefix}::2"
    node_ns, owner_ns = lab.link("node", node_ip, "owner", owner_ip, prefix=64)
    key = {"UACTOR_AUTHKEY": KEY.decode()}
    node = lab.start(node_ns, "-m", "registry", "--host", "::", "--port", "0",
                     "--no-advertise", "--log-level", "WARNING", **key)
    [ready] = read_lines(node, 1, STARTUP_TIMEOUT)
    (host, port), _ = parse_ready_line(ready)
    assert host == "::"
    owner = lab.run(owner_ns, "-c", OWNER_SCRIPT, node_ip, str(port), **key)
    assert owner.returncode == 0, owner.stderr
    seen = json.loads(owner.stdout.splitlines()[-1])
    # The owner registered its actor under its own IPv6 address on the link.
    assert seen["registered"][0] == owner_ip
    assert seen["listed"] == [seen["registered"]]
    assert seen["picked"] == seen["pid"]


@pytest.mark.netns
@pytest.mark.skipif(private_net_skip_reason() is not None,
                    reason=private_net_skip_reason() or "")
def test_a_link_local_source_address_keeps_its_scope():
    seen = run_private(textwrap.dedent("""
        import json, subprocess
        import registry
        for command in ("ip link add ua0 type veth peer name ua1",
                        "ip -6 addr add fe80::1/64 dev ua0 nodad",
                        "ip -6 addr add fd00:9::1/64 dev ua0 nodad",
                        "ip link set ua0 up", "ip link set ua1 up"):
            subprocess.run(command.split(), check=True)
        print(json.dumps([registry.local_address_towards("fe80::2%ua0"),
                          registry.local_address_towards("fd00:9::2")]))
    """))
    assert seen == ["fe80::1%ua0", "fd00:9::1"]
