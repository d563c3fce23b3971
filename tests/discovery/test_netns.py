"""Discovery across network namespaces: wildcard binds, several hosts, IPv6-only links.

Each test is skipped (with the reason) where it cannot run:

* in a fresh private namespace (loopback only, :func:`tests.netns.run_private`),
  an actor bound to ``0.0.0.0`` is advertised with 127.0.0.1 and resolved
  with capture translation;
* as root with ``ip netns`` (:class:`tests.netns.Lab`): three namespaces
  joined by veth pairs to a bridge in a fourth (nothing touches the host's
  own interfaces) play a registry host, an actor host and a client host, on
  an IPv4 link and on an IPv6-only one; and two namespaces joined by a veth
  pair carrying IPv6 only, an actor bound to ``::`` in one, discovered,
  called and listed by ``uactor-discover`` from the other.
"""
from __future__ import annotations

import json
import textwrap

import pytest

from tests.discovery.conftest import read_line
from tests.netns import Lab, ip_netns_skip_reason, private_net_skip_reason, run_private
from tests.registry.nodes import parse_ready_line

TIMEOUT = 60.0

WILDCARD_SCRIPT = textwrap.dedent("""
    import json
    import uactor
    import discovery
    from tests.discovery.actors import AUTHKEY, AdvertisedEcho, Holder

    loopback = ["127.0.0.1"]
    wildcard = {"address": ("0.0.0.0", 0), "authkey": AUTHKEY}
    with uactor.start(Holder, options=wildcard) as holder, \\
            discovery.publish(holder, interfaces=loopback, authkey=AUTHKEY):
        proxy = discovery.discover(Holder, AUTHKEY, interfaces=loopback, timeout=20)
        counter = proxy.counter()
        with uactor.start(AdvertisedEcho, options=wildcard) as echo, \\
                discovery.browse(AdvertisedEcho, interfaces=loopback,
                                 authkey=AUTHKEY) as browser:
            entry = browser.wait_for(lambda entry: entry.alive, timeout=20)
        print(json.dumps({
            "bind": list(holder.connection_address),
            "connected": list(proxy.connection_address),
            "counter_token": list(counter._token.address),
            "counts": [counter.increment() for _ in range(3)],
            "echo": entry and [list(entry.addresses), list(entry.bind)],
            "echo_port": echo.connection_address[1],
        }))
""")


@pytest.mark.skipif(private_net_skip_reason() is not None,
                    reason=private_net_skip_reason() or "")
def test_wildcard_binds_are_advertised_with_interface_addresses():
    seen = run_private(WILDCARD_SCRIPT, timeout=TIMEOUT)
    host, port = seen["bind"]
    assert host == "0.0.0.0"
    assert seen["connected"] == ["127.0.0.1", port]
    # The inner object's token said 0.0.0.0:port; capture rewrote it.
    assert seen["counter_token"] == ["127.0.0.1", port]
    assert seen["counts"] == [1, 2, 3]
    assert seen["echo"] == [["127.0.0.1"], ["0.0.0.0", seen["echo_port"]]]


# --------------------------------------------------------------------------
# Three hosts
# --------------------------------------------------------------------------

@pytest.fixture
def lab():
    lab = Lab()
    yield lab
    lab.close()


needs_ip_netns = pytest.mark.skipif(ip_netns_skip_reason() is not None,
                                    reason=ip_netns_skip_reason() or "")


@pytest.mark.netns
@needs_ip_netns
@pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6-only"])
def test_registry_actor_and_client_on_three_hosts(lab, family):
    """A registry host, an actor host and a client host on one link.

    On the IPv6-only link the node listens on its IPv6 address, the actor on
    ``::`` (advertised by interface name, with its AAAA record), and the
    client finds both over mDNS by interface name.
    """
    registry_ns, registry_ip = lab.add_host("reg", 1, family=family)
    actor_ns, actor_ip = lab.add_host("act", 2, family=family)
    client_ns, client_ip = lab.add_host("cli", 3, family=family)
    authkey = {"UACTOR_AUTHKEY": "discovery-tests"}
    wildcard = "0.0.0.0" if family == 4 else "::"

    node = lab.start(registry_ns, "-m", "registry", "--host", registry_ip,
                     "--port", "0", "--log-level", "WARNING", **authkey)
    (host, _), key_file = parse_ready_line(read_line(node, TIMEOUT))
    assert (host, key_file) == (registry_ip, None)  # the key from $UACTOR_AUTHKEY
    publisher = lab.start(actor_ns, "-m", "tests.discovery.publisher", "Holder",
                          "--host", wildcard, "--register",
                          "--interface", actor_ip if family == 4 else "eth0")
    actor = json.loads(read_line(publisher, TIMEOUT))
    client = lab.start(client_ns, "-m", "tests.discovery.remote_client",
                       client_ip if family == 4 else "eth0")
    seen = json.loads(read_line(client, TIMEOUT))

    port = actor["port"]
    assert seen["registry"][0] == registry_ip
    assert seen["registered"] == [[actor_ip, port]]
    assert seen["pids"] == [actor["pid"], actor["pid"]]
    assert seen["actor"] == [actor_ip, port]
    assert seen["counter_token"] == [actor_ip, port]  # the wildcard captured
    assert seen["counts"] == [1, 2, 3]
    assert client.wait(TIMEOUT) == 0


# --------------------------------------------------------------------------
# An IPv6-only link
# --------------------------------------------------------------------------

#: Finds a Holder over mDNS on veth0, calls it and a proxy it returns, and
#: prints what it saw; then the entry as a browser holding the key sees it.
CLIENT_SCRIPT = textwrap.dedent("""
    import json, sys
    import discovery
    from tests.discovery.actors import AUTHKEY, Holder

    holder = discovery.discover(Holder, AUTHKEY, name=sys.argv[1], interfaces=["veth0"],
                                timeout=20)
    counter = holder.counter()
    with discovery.browse(Holder, name=sys.argv[1], interfaces=["veth0"],
                          authkey=AUTHKEY) as browser:
        entry = browser.wait_for(lambda entry: entry.alive, timeout=20)
    print(json.dumps({
        "pid": holder.getpid(),
        "connected": list(holder.connection_address),
        "counter_token": list(counter._token.address),
        "counts": [counter.increment() for _ in range(3)],
        "entry": entry and entry.as_dict(),
    }), flush=True)
""")


def ipv6_only_link(lab: Lab) -> tuple[str, str, str, str]:
    """Two hosts joined by veth0 with one IPv6 address each and no IPv4 address."""
    actor_ip, client_ip = f"{lab.ipv6_prefix}::1", f"{lab.ipv6_prefix}::2"
    actor_ns, client_ns = lab.link("act", actor_ip, "cli", client_ip, prefix=64)
    for namespace in (actor_ns, client_ns):
        shown = lab.run(namespace, "-c", "import subprocess; print(subprocess.run("
                        "['ip', '-4', '-o', 'addr', 'show', 'dev', 'veth0'], "
                        "capture_output=True, text=True, check=True).stdout)")
        assert shown.returncode == 0 and shown.stdout.strip() == "", shown
    return actor_ns, actor_ip, client_ns, client_ip


@pytest.mark.netns
@needs_ip_netns
def test_an_actor_on_an_ipv6_only_link_is_discovered_and_listed(lab, unique_name):
    actor_ns, actor_ip, client_ns, _ = ipv6_only_link(lab)
    publisher = lab.start(actor_ns, "-m", "tests.discovery.publisher", "Holder",
                          "--name", unique_name, "--host", "::", "--interface", "veth0")
    actor = json.loads(read_line(publisher, TIMEOUT))
    port, endpoint = actor["port"], f"[{actor_ip}]:{actor['port']}"

    client = lab.run(client_ns, "-c", CLIENT_SCRIPT, unique_name, timeout=TIMEOUT)
    assert client.returncode == 0, client.stderr
    seen = json.loads(client.stdout)
    assert seen["pid"] == actor["pid"]
    assert seen["connected"] == [actor_ip, port]
    assert seen["counter_token"] == [actor_ip, port]  # '::' captured
    assert seen["counts"] == [1, 2, 3]
    entry = seen["entry"]
    assert entry is not None and entry["instance"] == actor["instance"]
    assert entry["addresses"] == [actor_ip] and entry["bind"] == ["::", port]
    assert entry["endpoints"] == [endpoint]
    assert (entry["signed"], entry["verified"], entry["alive"]) == (True, True, True)

    listed = lab.run(client_ns, "-m", "discovery", "--json", "-i", "veth0", "-t", "3",
                     "--name", unique_name, "--verify", timeout=TIMEOUT,
                     UACTOR_AUTHKEY="discovery-tests")
    assert listed.returncode == 0, listed.stderr
    [shown] = json.loads(listed.stdout)
    assert shown["endpoints"] == [endpoint] and shown["status"] == "alive"
    assert (shown["signed"], shown["verified"]) == (True, True)

    table = lab.run(client_ns, "-m", "discovery", "-i", "veth0", "-t", "3",
                    "--name", unique_name, timeout=TIMEOUT)
    assert table.returncode == 0, table.stderr
    assert f" {endpoint} " in table.stdout.splitlines()[1]
    assert table.stdout.splitlines()[1].split()[-1] == "unverified"  # no key


@pytest.mark.netns
@needs_ip_netns
def test_registry_nodes_on_an_ipv6_only_link_are_listed_in_brackets(lab):
    node_ns, node_ip, client_ns, _ = ipv6_only_link(lab)
    node = lab.start(node_ns, "-m", "registry", "--host", node_ip, "--port", "0",
                     "--log-level", "WARNING", UACTOR_AUTHKEY="discovery-tests")
    (host, port), _ = parse_ready_line(read_line(node, TIMEOUT))
    assert host == node_ip
    endpoint = f"[{node_ip}]:{port}"

    listed = lab.run(client_ns, "-m", "discovery", "--registries", "--json",
                     "-i", "veth0", "-t", "3", timeout=TIMEOUT,
                     UACTOR_AUTHKEY="discovery-tests")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == [{"address": endpoint, "host": node_ip,
                                          "port": port}]
    text = lab.run(client_ns, "-m", "discovery", "--registries", "-i", "veth0",
                   "-t", "3", timeout=TIMEOUT, UACTOR_AUTHKEY="discovery-tests")
    assert (text.returncode, text.stdout) == (0, endpoint + "\n"), text.stderr
    picked = lab.run(client_ns, "-m", "discovery", "--registry", endpoint,
                     "--json", timeout=TIMEOUT, UACTOR_AUTHKEY="discovery-tests")
    assert (picked.returncode, json.loads(picked.stdout or "null")) == (0, []), \
        picked.stderr
