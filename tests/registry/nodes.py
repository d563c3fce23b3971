"""Registry nodes (``python -m registry``) as subprocesses, for the tests.

:func:`running_node` starts one on free ports, waits for its ready line (and,
with ``--http``, the status page's URL on the next line) and stops it
afterwards, escalating terminate -> wait -> kill.
"""
from __future__ import annotations

import contextlib
import os
import selectors
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from tests.registry.actors import KEY

ROOT = Path(__file__).resolve().parents[2]

#: Seconds the node may take to print its ready line or to exit.
STARTUP_TIMEOUT = 30.0
EXIT_TIMEOUT = 15.0

READY_PREFIX = "registry listening on "
URL_PREFIX = "status page on "


class Node(NamedTuple):
    proc: subprocess.Popen
    address: tuple[str, int]
    #: ``http://127.0.0.1:PORT/`` with ``--http``, else ``None``.
    url: str | None


def node_env(authkey: bytes | None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "UACTOR_AUTHKEY"}
    paths = [str(ROOT), env.get("PYTHONPATH")]
    env["PYTHONPATH"] = os.pathsep.join(path for path in paths if path)
    if authkey is not None:
        env["UACTOR_AUTHKEY"] = authkey.decode()
    return env


def node_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "registry", *args]


def read_lines(proc: subprocess.Popen, count: int, timeout: float) -> list[str]:
    """The first ``count`` stdout lines of ``proc`` (and nothing more), waiting
    at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    data = b""
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while data.count(b"\n") < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                raise AssertionError(f"no {count} lines within {timeout} s (got {data!r})")
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                raise AssertionError(f"node exited before printing {count} lines "
                                     f"({data!r})")
            data += chunk
    *lines, rest = data.split(b"\n", count)
    assert rest == b"", f"unexpected extra output {rest!r}"
    return [line.decode() for line in lines]


def stop(proc: subprocess.Popen) -> None:
    """terminate -> wait -> kill, whatever state the node is in."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(EXIT_TIMEOUT)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    """Wait for the node to exit; return its status, remaining stdout, stderr."""
    stdout, stderr = proc.communicate(timeout=EXIT_TIMEOUT)
    return proc.returncode, stdout.decode(), stderr.decode()


def run_cli(*args: str, authkey: bytes | None = KEY) -> subprocess.CompletedProcess:
    """Run ``python -m registry ARGS`` to completion (text output)."""
    return subprocess.run(node_command(*args), env=node_env(authkey), cwd=ROOT,
                          capture_output=True, text=True, timeout=STARTUP_TIMEOUT)


def one_error_line(stderr: str) -> str:
    """The single ``uactor-registry: error: ...`` line of ``stderr``."""
    lines = [line for line in stderr.splitlines() if "error:" in line]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("uactor-registry: error: ")
    return lines[0]


def _parse_address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


@contextlib.contextmanager
def running_node(*args: str, authkey: bytes | None = KEY) -> Iterator[Node]:
    """Start a node on a free port (``--http 0`` among ``args`` for the
    HTTP endpoints); yield it as a :class:`Node`."""
    http = "--http" in args
    proc = subprocess.Popen(
        node_command("--port", "0", "--no-advertise", *args), env=node_env(authkey),
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        lines = read_lines(proc, 2 if http else 1, STARTUP_TIMEOUT)
        assert lines[0].startswith(READY_PREFIX), lines
        url = None
        if http:
            assert lines[1].startswith(URL_PREFIX), lines
            url = lines[1][len(URL_PREFIX):]
        yield Node(proc, _parse_address(lines[0][len(READY_PREFIX):]), url)
    finally:
        stop(proc)
