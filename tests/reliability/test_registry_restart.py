"""The registry node killed (SIGKILL) and restarted on the same port.

What must hold: while the node is down, publishers keep running and clients
asking for an actor fail fast with a uactor connection error (no hang); once
a node listens on the same port again, the publishers' heartbeats register
their actors with it again on their own, and clients find them again through
``registry.connect_actor``.  Proxies connected before the crash keep working
(the actors never went away), and a stale registry proxy fails with a uactor
error rather than hanging or answering for the old node.
"""
from __future__ import annotations

import gc
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import registry
import uactor
from tests.conftest import wait_until
from tests.registry.nodes import NodeExited, kill, parse_ready_line, read_lines, stop
from tests.reliability.actors import KEY, Worker

ROOT = Path(__file__).resolve().parents[2]

#: Seconds a node may take to print its ready line.
STARTUP_TIMEOUT = 30.0

#: Lease of the test registrations (s): heartbeats every third of it, so the
#: publishers notice the crash and the restart within a second or so.
TTL = 1.5

#: Bound (s) on recovering after the restart: a few heartbeat periods with
#: the helpers' reconnection backoff, plus slack for a loaded machine.
RECOVERY = 20.0

def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["UACTOR_AUTHKEY"] = KEY.decode()
    return env


def _start_node(port: int) -> tuple[subprocess.Popen, tuple[str, int]] | None:
    """Start ``python -m registry`` on ``port``; ``None`` if it could not listen."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "registry", "--port", str(port), "--no-advertise",
         "--log-level", "WARNING"],
        env=_env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        [line] = read_lines(proc, 1, STARTUP_TIMEOUT)
    except NodeExited:  # e.g. the port is still held by the killed node's actor
        stop(proc)
        return None
    except BaseException:
        stop(proc)
        raise
    return proc, parse_ready_line(line)[0]


def _registered(address) -> set:
    """Addresses the node at ``address`` lists for ``Worker`` (empty if down).

    Cyclic garbage (proxies of failed calls) is collected first, between
    calls (releases during a call no longer break it: test_proxy_release
    holds that).
    """
    gc.collect()
    try:
        with uactor.deadline(5):
            node = registry.Registry.connect(address, KEY, timeout=5)
            return set(map(tuple, node.addresses("Worker")))
    except uactor.UActorException:
        return set()


def _connect_worker(address):
    return registry.connect_actor(address, Worker, KEY, timeout=5)


def test_publishers_re_register_and_clients_recover_after_a_node_restart():
    started = _start_node(0)
    assert started is not None
    proc, address = started
    workers = [Worker(), Worker()]
    registrations = []
    try:
        registrations = [registry.register_actor(address, worker, authkey=KEY, ttl=TTL)
                         for worker in workers]
        expected = {tuple(handle.address) for handle in registrations}
        pids = {worker.getpid() for worker in workers}
        assert _registered(address) == expected
        survivor = _connect_worker(address)
        assert survivor.getpid() in pids
        stale = registry.Registry.connect(address, KEY, timeout=5)
        assert stale.names() == ["Worker"]

        kill(proc)
        proc.stdout.close()
        proc.stderr.close()

        # Down: clients fail fast with a uactor error, the actors carry on.
        with pytest.raises(uactor.ActorConnectionError):
            _connect_worker(address)
        with pytest.raises(uactor.ActorConnectionError):
            stale.names()
        assert survivor.getpid() in pids
        assert not any(handle.closed for handle in registrations)

        # Restart on the same port; the killed node's sockets may take a
        # moment to go.
        restarted = None
        deadline = time.monotonic() + RECOVERY
        while restarted is None and time.monotonic() < deadline:
            restarted = _start_node(address[1])
        assert restarted is not None, f"could not listen on {address} again"
        proc, new_address = restarted
        assert new_address == address

        assert wait_until(lambda: _registered(address) == expected, RECOVERY), \
            _registered(address)
        found = set()
        for _ in range(4):
            found.add(_connect_worker(address).getpid())
        assert found == pids  # round robin over both re-registered actors
        assert survivor.getpid() in pids
        # The stale proxy never answers for the new node.
        with pytest.raises(uactor.UActorException):
            stale.names()
        assert not any(handle.closed for handle in registrations)

        for handle in registrations:
            handle.close()
        assert _registered(address) == set()
    finally:
        for handle in registrations:
            handle.close()
        for worker in workers:
            worker.shutdown()
        stop(proc)
