"""Fixtures for the discovery tests: publisher subprocesses, raw mDNS senders.

Every zeroconf instance here is bound to 127.0.0.1 (``LOOPBACK``); raw
packets go to the mDNS group through the loopback interface only.
"""
from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest

from tests.mdns import LoopbackSender

ROOT = Path(__file__).resolve().parents[2]

#: How long a publisher subprocess may take to report that it is ready (s).
READY_TIMEOUT = 30.0


def read_line(proc: subprocess.Popen, timeout: float) -> str:
    """One line of ``proc``'s stdout, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if selector.select(max(0.0, deadline - time.monotonic())):
                line = proc.stdout.readline()
                if line:
                    return line
                break  # EOF: the process ended
    stop_process(proc)
    raise AssertionError(f"{proc.args} gave no line within {timeout} s; "
                         f"stderr: {proc.stderr.read() if proc.stderr else ''}")


def stop_process(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """Ask (close stdin), then terminate, then kill; always reap."""
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


def python_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


@pytest.fixture
def start_publisher() -> Iterator[Callable[..., tuple[subprocess.Popen, dict]]]:
    """Start ``tests.discovery.publisher`` subprocesses; stopped at teardown."""
    procs: list[subprocess.Popen] = []

    def start(actor_class: str, *args: str) -> tuple[subprocess.Popen, dict]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.discovery.publisher", actor_class, *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=ROOT, env=python_env(), text=True)
        procs.append(proc)
        return proc, json.loads(read_line(proc, READY_TIMEOUT))

    yield start
    for proc in procs:
        stop_process(proc)


@pytest.fixture
def loopback_sender() -> Iterator[LoopbackSender]:
    sender = LoopbackSender()
    yield sender
    sender.close()


def isolated_net_works() -> bool:
    """True when ../shared/isolated-net can run commands here (root/userns)."""
    tool = ROOT.parent / "shared" / "isolated-net"
    if not tool.exists():
        return False
    try:
        return subprocess.run([str(tool), "true"], capture_output=True,
                              timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


ISOLATED_NET = ROOT.parent / "shared" / "isolated-net"


def run_isolated(script: str, *args: str, timeout: float = 60.0) -> Any:
    """Run ``python -c script`` in a private network namespace; its last JSON line."""
    result = subprocess.run(
        [str(ISOLATED_NET), sys.executable, "-c", script, *args],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=python_env())
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])
