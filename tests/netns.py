"""A second network namespace for multi-host tests, joined to this one by veth.

The test starts a subprocess under ``unshare --net`` whose script begins with
:data:`REMOTE_PRELUDE` (it announces its namespace, waits for its veth end,
brings it up with its address), then moves the peer end there with
:func:`join`.  Only as root inside a private namespace, as ``.ci/run`` runs.
"""
from __future__ import annotations

import subprocess
import textwrap

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
