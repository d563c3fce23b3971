"""Fixtures for the discovery tests: publisher subprocesses, raw mDNS senders.

Every zeroconf instance here is bound to 127.0.0.1 (``LOOPBACK``); raw
packets go to the mDNS group through the loopback interface only.
"""
from __future__ import annotations

import json
import selectors
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Callable

import pytest

from tests.mdns import LoopbackSender
from tests.netns import ROOT, python_env, stop_process

__all__ = ["ROOT", "python_env", "read_line", "stop_process"]

#: How long a publisher subprocess may take to report that it is ready (s).
READY_TIMEOUT = 30.0


def read_line(proc: subprocess.Popen, timeout: float) -> str:
    """One line of ``proc``'s stdout, or fail after ``timeout`` seconds with its stderr."""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if selector.select(max(0.0, deadline - time.monotonic())):
                line = proc.stdout.readline()
                if line:
                    return line
                break  # EOF: the process ended
    proc.kill()
    proc.wait()
    stderr = proc.stderr.read() if proc.stderr else ""
    stop_process(proc)
    raise AssertionError(f"{proc.args} gave no line within {timeout} s; stderr: {stderr}")


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
