"""A second network namespace for multi-host tests, joined to this one by veth.

The test starts a subprocess under ``unshare --net`` whose script begins with
:data:`REMOTE_PRELUDE` (it announces its namespace, waits for its veth end,
brings it up with its address), then moves the peer end there with
:func:`join`; :func:`remote_host` does both and cleans up.  Only as root
inside a private namespace, as ``.ci/run`` runs.
"""
from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Sequence

#: Start of the second namespace's script; format it with :func:`remote_script`.
#: It prints "in namespace" first: the veth may be moved from then on.
REMOTE_PRELUDE = textwrap.dedent("""
    import socket, subprocess, sys, time
    sys.path.insert(0, {root!r})
    print("in namespace", flush=True)
    deadline = time.monotonic() + 20
    while {peer!r} not in [name for _, name in socket.if_nameindex()]:
        if time.monotonic() > deadline:
            sys.exit("veth never arrived")
        time.sleep(0.02)
    for command in (["ip", "link", "set", "lo", "up"],
                    ["ip", *{address_args!r}, "dev", {peer!r}],
                    ["ip", "link", "set", {peer!r}, "up"]):
        subprocess.run(command, check=True)
""")


def remote_script(template: str, *, root: str, peer: str, remote: str) -> str:
    """``template`` (:data:`REMOTE_PRELUDE` followed by the namespace's own
    code, which may use ``{peer}`` and ``{remote}`` too) for interface
    ``peer`` with address ``remote``: IPv4 in a /24, or IPv6 in a /64 (the
    link then carries IPv6 only)."""
    return template.format(root=root, peer=peer, remote=remote,
                           address_args=_address_args(remote))


def _address_args(address: str) -> list[str]:
    """``ip`` arguments adding ``address`` (without its ``dev``)."""
    if ":" in address:  # no duplicate detection: usable at once
        return ["-6", "addr", "add", f"{address}/64", "nodad"]
    return ["addr", "add", f"{address}/24"]


def run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True, timeout=20)


def join(host_pid: int, local_if: str, peer_if: str, local_address: str) -> None:
    """Create the veth pair, move ``peer_if`` into ``host_pid``'s namespace."""
    run("ip", "link", "add", local_if, "type", "veth", "peer", "name", peer_if,
        "netns", str(host_pid))
    run("ip", *_address_args(local_address), "dev", local_if)
    run("ip", "link", "set", local_if, "up")


@contextlib.contextmanager
def remote_host(template: str, *, root: str, local_if: str, peer_if: str, local: str,
                remote: str, args: Sequence[str] = ()) -> Iterator[subprocess.Popen]:
    """A second host: ``template`` (:func:`remote_script`) run with ``args``
    in a namespace of its own, joined to this one by ``local_if`` (address
    ``local``) and ``peer_if`` (``remote``); yields it once joined, with
    pipes to its stdin and stdout (text).  Killed if still running after,
    its pipes closed and the link deleted."""
    host = subprocess.Popen(
        ["unshare", "--net", sys.executable, "-c",
         remote_script(template, root=root, peer=peer_if, remote=remote), *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert host.stdout.readline() == "in namespace\n"
        join(host.pid, local_if, peer_if, local)
        yield host
    finally:
        if host.poll() is None:
            host.kill()
            host.wait()
        for pipe in (host.stdin, host.stdout):
            if not pipe.closed:
                pipe.close()
        subprocess.run(["ip", "link", "del", local_if], capture_output=True)


def has_ipv6_loopback() -> bool:
    """Whether ``::1`` can be bound here."""
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True
