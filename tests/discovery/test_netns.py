"""Discovery across network namespaces: wildcard binds and several hosts.

Two kinds of test, each skipped where it cannot run:

* in a private namespace made by ``../shared/isolated-net`` (loopback only),
  an actor bound to ``0.0.0.0`` is advertised with 127.0.0.1 and resolved
  with capture translation;
* as root with ``ip netns``: three namespaces joined by veth pairs to a
  bridge in a fourth (nothing touches the host's own interfaces) play a
  registry host, an actor host and a client host.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import uuid

import pytest

from tests.discovery.conftest import (
    ROOT,
    isolated_net_works,
    python_env,
    read_line,
    run_isolated,
    stop_process,
)
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


@pytest.mark.skipif(not isolated_net_works(),
                    reason="needs ../shared/isolated-net (root or user namespaces)")
def test_wildcard_binds_are_advertised_with_interface_addresses():
    seen = run_isolated(WILDCARD_SCRIPT, timeout=TIMEOUT)
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

def _ip_netns_works() -> bool:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return False
    name = f"uaprobe{uuid.uuid4().hex[:6]}"
    try:
        if subprocess.run(["ip", "netns", "add", name], capture_output=True,
                          timeout=10).returncode != 0:
            return False
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)
        return True
    except (OSError, subprocess.TimeoutExpired):
        return False


def ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20)
    assert result.returncode == 0, f"ip {' '.join(args)}: {result.stderr}"


class Lab:
    """Namespaces ``<tag>-<host>`` on a bridge inside namespace ``<tag>-hub``."""

    def __init__(self) -> None:
        self.tag = f"ua{uuid.uuid4().hex[:6]}"
        self.subnet = f"198.18.{int(self.tag[2:], 16) % 250 + 1}"
        self.namespaces: list[str] = []
        self.procs: list[subprocess.Popen] = []
        hub = self._namespace("hub")
        ip("-n", hub, "link", "add", "br0", "type", "bridge")
        ip("-n", hub, "link", "set", "br0", "up")

    def _namespace(self, host: str) -> str:
        name = f"{self.tag}-{host}"
        ip("netns", "add", name)
        self.namespaces.append(name)
        ip("-n", name, "link", "set", "lo", "up")
        return name

    def add_host(self, host: str, number: int) -> tuple[str, str]:
        """A namespace with eth0 on the bridge; returns (namespace, address)."""
        name, address = self._namespace(host), f"{self.subnet}.{number}"
        hub = f"{self.tag}-hub"
        # The veth is created inside the hub, its peer inside the host: the
        # host's own network namespace never sees either end.
        ip("-n", hub, "link", "add", f"v{number}", "type", "veth", "peer", "name",
           "eth0", "netns", name)
        ip("-n", hub, "link", "set", f"v{number}", "master", "br0", "up")
        ip("-n", name, "addr", "add", f"{address}/24", "dev", "eth0")
        ip("-n", name, "link", "set", "eth0", "up")
        return name, address

    def start(self, namespace: str, *command: str, **env: str) -> subprocess.Popen:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", namespace, sys.executable, *command],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, cwd=ROOT, env={**python_env(), **env})
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
            stop_process(proc)
        for name in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", name], capture_output=True,
                           timeout=20)


@pytest.fixture
def lab():
    lab = Lab()
    yield lab
    lab.close()


@pytest.mark.netns
@pytest.mark.skipif(not _ip_netns_works(), reason="needs root and ip netns")
def test_registry_actor_and_client_on_three_hosts(lab):
    registry_ns, registry_ip = lab.add_host("reg", 1)
    actor_ns, actor_ip = lab.add_host("act", 2)
    client_ns, client_ip = lab.add_host("cli", 3)
    authkey = {"UACTOR_AUTHKEY": "discovery-tests"}

    node = lab.start(registry_ns, "-m", "registry", "--host", registry_ip,
                     "--port", "0", "--log-level", "WARNING", **authkey)
    (host, _), key_file = parse_ready_line(read_line(node, TIMEOUT))
    assert (host, key_file) == (registry_ip, None)  # the key from $UACTOR_AUTHKEY
    publisher = lab.start(actor_ns, "-m", "tests.discovery.publisher", "Holder",
                          "--host", "0.0.0.0", "--interface", actor_ip, "--register")
    actor = json.loads(read_line(publisher, TIMEOUT))
    client = lab.start(client_ns, "-m", "tests.discovery.remote_client", client_ip)
    seen = json.loads(read_line(client, TIMEOUT))

    port = actor["port"]
    assert seen["registry"][0] == registry_ip
    assert seen["registered"] == [[actor_ip, port]]
    assert seen["pids"] == [actor["pid"], actor["pid"]]
    assert seen["actor"] == [actor_ip, port]
    assert seen["counter_token"] == [actor_ip, port]  # 0.0.0.0 captured
    assert seen["counts"] == [1, 2, 3]
    assert client.wait(TIMEOUT) == 0
