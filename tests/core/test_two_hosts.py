"""Capture translation across two network namespaces acting as two hosts.

Runs only as root inside a private network namespace (as ``.ci/run`` does): it
creates a second namespace joined to this one by a veth pair, with addresses
that exist nowhere else, starts actors bound to 0.0.0.0 there, and calls them
from here.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import textwrap

import pytest

import uactor
from tests.core.actors import WildcardActor
from tests.netns import REMOTE_PRELUDE, join

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ISOLATED = [name for _, name in socket.if_nameindex()] == ["lo"]

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(
        not (ISOLATED and os.geteuid() == 0 and shutil.which("unshare") and shutil.which("ip")),
        reason="needs root inside a private network namespace, unshare and ip"),
]

REMOTE_HOST = REMOTE_PRELUDE + textwrap.dedent("""
    from tests.core.actors import WildcardActor
    with WildcardActor() as actor:
        partner = actor.make_partner()
        print(actor.connection_address[1], partner[1], flush=True)
        actor.wait(60)
""")


def test_capture_routes_wildcard_tokens_to_the_remote_host():
    tag = os.getpid() % 100000
    local_if, peer_if = f"ua{tag}a", f"ua{tag}b"
    subnet = f"198.18.{os.getpid() % 250 + 1}"
    local, remote = f"{subnet}.1", f"{subnet}.2"
    host = subprocess.Popen(
        ["unshare", "--net", sys.executable, "-c",
         REMOTE_HOST.format(root=ROOT, peer=peer_if, remote=remote)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert host.stdout.readline() == "in namespace\n"
        join(host.pid, local_if, peer_if, local)
        port, partner_port = map(int, host.stdout.readline().split())

        client = WildcardActor.connect((remote, port), b"SECRET", timeout=10)
        inner = client.get_inner()
        assert inner._token.address == (remote, port)
        assert list(inner) == [1, 2, 3]

        with pytest.raises(uactor.ActorConnectionError) as raised:
            client.get_partner()  # its token says 0.0.0.0: nothing listens here
        assert not isinstance(raised.value, uactor.ActorDeadError)
        assert client.getpid() > 0  # the connection to the actor is intact

        # The route lives as long as this proxy (or any proxy reached through it).
        route = WildcardActor.connect((remote, partner_port), b"SECRET",
                                      capture=[("0.0.0.0", partner_port)], timeout=10)
        partner = client.get_partner()
        assert partner._token.address == (remote, partner_port)
        assert partner.getpid() != client.getpid()
        assert route.getpid() == partner.getpid()

        client.shutdown()  # remote shutdown: the remote owner leaves its loop
        assert host.wait(30) == 0
    finally:
        if host.poll() is None:
            host.kill()
            host.wait()
        host.stdout.close()
        subprocess.run(["ip", "link", "del", local_if], capture_output=True)
