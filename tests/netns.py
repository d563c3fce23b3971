"""Network namespaces for tests: private ones, a second host, labs of several.

The tests carry their own helpers here (no tool outside the repository):

* :func:`private_net_prefix` / :func:`run_private`: run a command in a fresh
  namespace that holds only loopback (what ``.ci/run`` does for the suite),
  with :func:`private_net_skip_reason` saying why it cannot work here;
* :data:`REMOTE_PRELUDE` / :func:`join`: a second namespace joined to this one
  by veth.  The test starts a subprocess under ``unshare --net`` whose script
  begins with the prelude (it announces its namespace, waits for its veth end,
  brings it up with its address), then moves the peer end there with
  :func:`join`.  Only as root inside a private namespace;
* :class:`Lab`: named namespaces (``ip netns``) joined by veth pairs, directly
  or through a bridge, with :func:`ip_netns_skip_reason`.
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

#: Start of the second namespace's script; ``str.format`` it with ``root``
#: (the repository, for imports), ``peer`` (its interface) and ``remote`` (its
#: address).  It prints "in namespace" first: the veth may be moved from then on.
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
                    ["ip", "addr", "add", "{remote}/24", "dev", {peer!r}],
                    ["ip", "link", "set", {peer!r}, "up"]):
        subprocess.run(command, check=True)
""")


def run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True, timeout=20)


def join(host_pid: int, local_if: str, peer_if: str, local_address: str) -> None:
    """Create the veth pair, move ``peer_if`` into ``host_pid``'s namespace."""
    run("ip", "link", "add", local_if, "type", "veth", "peer", "name", peer_if,
        "netns", str(host_pid))
    run("ip", "addr", "add", f"{local_address}/24", "dev", local_if)
    run("ip", "link", "set", local_if, "up")


# --------------------------------------------------------------------------
# Private network namespaces and labs of named namespaces
# --------------------------------------------------------------------------

#: The repository, for imports in subprocesses.
ROOT = Path(__file__).resolve().parents[1]

#: Shell run first inside a fresh private network namespace: loopback up and
#: multicast-capable, with a route for IPv4 multicast (mDNS).  Then the command.
_PRIVATE_SETUP = ("ip link set lo up && ip link set lo multicast on && "
                  "{ ip route add 224.0.0.0/4 dev lo 2>/dev/null || true; } && "
                  'exec "$@"')


def python_env(**extra: str) -> dict[str, str]:
    """This environment, with the repository importable, plus ``extra``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def private_net_prefix() -> list[str]:
    """A command prefix that runs the rest in a new namespace holding only loopback.

    Nothing sent there can leave the machine.  As root it is ``unshare
    --net``; otherwise an unprivileged user namespace maps us to root in it.
    """
    userns = [] if os.geteuid() == 0 else ["--map-root-user"]
    return ["unshare", *userns, "--net", "sh", "-c", _PRIVATE_SETUP, "private-net"]


@functools.cache
def private_net_skip_reason() -> str | None:
    """Why :func:`private_net_prefix` cannot work here, or None when it does."""
    for tool, package in (("unshare", "util-linux"), ("ip", "iproute2")):
        if shutil.which(tool) is None:
            return f"needs {tool} ({package}) to make a private network namespace"
    try:
        result = subprocess.run([*private_net_prefix(), "true"], capture_output=True,
                                text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot make a private network namespace: {exc}"
    if result.returncode != 0:
        return ("cannot make a private network namespace (needs root or "
                f"unprivileged user namespaces): {result.stderr.strip()}")
    return None


def run_private(script: str, *args: str, timeout: float = 60.0,
                env: dict[str, str] | None = None) -> Any:
    """Run ``python -c script`` in a private network namespace; its last JSON line."""
    result = subprocess.run(
        [*private_net_prefix(), sys.executable, "-c", script, *args],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT,
        env=python_env(**(env or {})))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@functools.cache
def ip_netns_skip_reason() -> str | None:
    """Why :class:`Lab` cannot work here (needs root and ``ip netns``), or None."""
    if os.geteuid() != 0:
        return "needs root to make named network namespaces (ip netns)"
    if shutil.which("ip") is None:
        return "needs ip (iproute2) to make named network namespaces"
    name = f"uaprobe{uuid.uuid4().hex[:6]}"
    try:
        added = subprocess.run(["ip", "netns", "add", name], capture_output=True,
                               text=True, timeout=20)
        if added.returncode != 0:
            return f"ip netns add failed: {added.stderr.strip()}"
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"ip netns does not work here: {exc}"
    return None


def stop_process(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """Ask (close stdin), then terminate, then kill; always reap and close pipes."""
    try:
        if proc.stdin and not proc.stdin.closed:
            proc.stdin.close()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    finally:
        for stream in (proc.stdout, proc.stderr):
            if stream and not stream.closed:
                stream.close()


def ip(*args: str) -> None:
    """Run ``ip ARGS``; fail the test with its error otherwise."""
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20)
    assert result.returncode == 0, f"ip {' '.join(args)}: {result.stderr}"


class Lab:
    """Named namespaces ``<tag>-<host>`` for multi-host tests; all deleted by close().

    Hosts join either a bridge in a hub namespace (:meth:`add_host`, IPv4) or
    each other directly (:meth:`link`, any address family).  The test's own
    namespace never sees their interfaces.
    """

    def __init__(self) -> None:
        self.tag = f"ua{uuid.uuid4().hex[:6]}"
        self.subnet = f"198.18.{int(self.tag[2:], 16) % 250 + 1}"
        self.namespaces: list[str] = []
        self.procs: list[subprocess.Popen] = []
        self._hub: str | None = None

    def namespace(self, host: str) -> str:
        """The namespace of ``host``, made (with loopback up) on first use."""
        name = f"{self.tag}-{host}"
        if name not in self.namespaces:
            ip("netns", "add", name)
            self.namespaces.append(name)
            ip("-n", name, "link", "set", "lo", "up")
        return name

    def add_host(self, host: str, number: int, *, family: int = 4) -> tuple[str, str]:
        """A namespace with eth0 on the hub's bridge; returns (namespace, address).

        ``family`` 4 gives eth0 an IPv4 address; 6 an IPv6 address only
        (``fd00:<lab>::<number>/64``, no IPv4 on the link).
        """
        if self._hub is None:
            self._hub = self.namespace("hub")
            ip("-n", self._hub, "link", "add", "br0", "type", "bridge",
               "mcast_snooping", "0")  # flood multicast: no MLD querier here
            ip("-n", self._hub, "link", "set", "br0", "up")
        name = self.namespace(host)
        # The veth is created inside the hub, its peer inside the host.
        ip("-n", self._hub, "link", "add", f"v{number}", "type", "veth", "peer", "name",
           "eth0", "netns", name)
        ip("-n", self._hub, "link", "set", f"v{number}", "master", "br0", "up")
        if family == 6:
            address = f"{self.ipv6_prefix}::{number:x}"
            ip("-n", name, "-6", "addr", "add", f"{address}/64", "dev", "eth0", "nodad")
        else:
            address = f"{self.subnet}.{number}"
            ip("-n", name, "addr", "add", f"{address}/24", "dev", "eth0")
        ip("-n", name, "link", "set", "eth0", "up")
        return name, address

    @property
    def ipv6_prefix(self) -> str:
        """This lab's IPv6 /64 (unique local addresses), without ``::/64``."""
        return f"fd00:{int(self.tag[2:6], 16):x}"

    def link(self, host_a: str, address_a: str, host_b: str, address_b: str,
             *, prefix: int, device: str = "veth0") -> tuple[str, str]:
        """A veth pair ``device`` between two hosts, each end with one address.

        An IPv6 address is added without duplicate address detection
        (``nodad``), so it is usable at once; no IPv4 address is added unless
        given.  Returns the two namespaces.
        """
        a, b = self.namespace(host_a), self.namespace(host_b)
        ip("-n", a, "link", "add", device, "type", "veth", "peer", "name", device,
           "netns", b)
        for name, address in ((a, address_a), (b, address_b)):
            if ":" in address:
                ip("-n", name, "-6", "addr", "add", f"{address}/{prefix}", "dev", device,
                   "nodad")
            else:
                ip("-n", name, "addr", "add", f"{address}/{prefix}", "dev", device)
            ip("-n", name, "link", "set", device, "up")
        return a, b

    def start(self, namespace: str, *command: str, **env: str) -> subprocess.Popen:
        """``python COMMAND`` in ``namespace``, stdin/stdout/stderr piped."""
        proc = subprocess.Popen(
            ["ip", "netns", "exec", namespace, sys.executable, *command],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, cwd=ROOT, env=python_env(**env))
        self.procs.append(proc)
        return proc

    def run(self, namespace: str, *command: str, timeout: float = 60.0,
            **env: str) -> subprocess.CompletedProcess:
        """``python COMMAND`` in ``namespace`` to completion, output captured."""
        return subprocess.run(["ip", "netns", "exec", namespace, sys.executable, *command],
                              capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                              env=python_env(**env))

    def close(self) -> None:
        """Stop every process, then delete the namespaces."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
            stop_process(proc)
        for name in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=20)


def has_ipv6_loopback() -> bool:
    """Whether ``::1`` can be bound here."""
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True
