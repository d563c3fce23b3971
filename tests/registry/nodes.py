"""Registry nodes (``python -m registry``) as subprocesses, for the tests.

:func:`running_node` starts one on free ports, waits for its ready line (and,
with ``--http``, the status page's URL on the next line) and stops it
afterwards, escalating terminate -> wait -> kill (its actor process too).
The ready line names where the node's authkey is::

    registry listening on 127.0.0.1:5000 (authkey in /run/user/0/uactor/authkey)
    registry listening on 127.0.0.1:5000 (authkey from $UACTOR_AUTHKEY)

:func:`started_node` also yields that key file.
"""
from __future__ import annotations

import contextlib
import os
import re
import selectors
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import psutil

from tests.registry.actors import KEY

ROOT = Path(__file__).resolve().parents[2]

#: Seconds the node may take to print its ready line or to exit.
STARTUP_TIMEOUT = 30.0
EXIT_TIMEOUT = 15.0

#: The node's ready line: where it listens, and where its authkey is.
READY = re.compile(r"registry listening on (?P<address>\S+) "
                   r"\(authkey (?:in (?P<path>.+)|from \$UACTOR_AUTHKEY)\)")
URL_PREFIX = "status page on "


class Node(NamedTuple):
    proc: subprocess.Popen
    address: tuple[str, int]
    #: ``http://127.0.0.1:PORT/`` with ``--http``, else ``None``.
    url: str | None


class NodeExited(AssertionError):
    """The node exited before printing what was expected."""


def node_env(authkey: bytes | None) -> dict[str, str]:
    """This environment with the checkout importable and ``authkey`` (if any)
    as ``$UACTOR_AUTHKEY``; no other key source but the default key file."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("UACTOR_AUTHKEY", "UACTOR_AUTHKEY_FILE")}
    paths = [str(ROOT), env.get("PYTHONPATH")]
    env["PYTHONPATH"] = os.pathsep.join(path for path in paths if path)
    if authkey is not None:
        env["UACTOR_AUTHKEY"] = authkey.decode()
    return env


def node_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "registry", *args]


def parse_ready_line(line: str) -> tuple[tuple[str, int], str | None]:
    """``((host, port), key file or None)`` from the node's ready line."""
    match = READY.fullmatch(line.rstrip("\n"))
    assert match, f"not a ready line: {line!r}"
    host, _, port = match["address"].rpartition(":")
    return (host.strip("[]"), int(port)), match["path"]


def read_lines(proc: subprocess.Popen, count: int, timeout: float) -> list[str]:
    """The first ``count`` stdout lines of ``proc`` (and nothing more), waiting
    at most ``timeout`` seconds; :class:`NodeExited` if it exits first."""
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
                raise NodeExited(f"node exited before printing {count} lines ({data!r})")
            data += chunk
    *lines, rest = data.split(b"\n", count)
    assert rest == b"", f"unexpected extra output {rest!r}"
    return [line.decode() for line in lines]


def kill(proc: subprocess.Popen) -> None:
    """SIGKILL the node and its actor process at once, as a crash would."""
    node = psutil.Process(proc.pid)
    family = [*node.children(recursive=True), node]
    for member in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.kill()
    psutil.wait_procs(family, timeout=EXIT_TIMEOUT)
    proc.wait(EXIT_TIMEOUT)


def stop(proc: subprocess.Popen) -> None:
    """terminate -> wait -> kill (its actor too), whatever state the node is in;
    closes its pipes."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            kill(proc)
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


@contextlib.contextmanager
def started_node(*args: str, env: dict[str, str],
                 **popen: object) -> Iterator[tuple[Node, str | None]]:
    """Start a node on a free port (``--http 0`` among ``args`` for the HTTP
    endpoints); yield it as a :class:`Node`, with the key file its ready line
    names (``None``: the key came from ``$UACTOR_AUTHKEY``)."""
    http = "--http" in args
    proc = subprocess.Popen(
        node_command("--port", "0", "--no-advertise", *args), env=env,
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen,  # type: ignore[call-overload]
    )
    try:
        lines = read_lines(proc, 2 if http else 1, STARTUP_TIMEOUT)
        address, key_file = parse_ready_line(lines[0])
        url = None
        if http:
            assert lines[1].startswith(URL_PREFIX), lines
            url = lines[1][len(URL_PREFIX):]
        yield Node(proc, address, url), key_file
    finally:
        stop(proc)


@contextlib.contextmanager
def running_node(*args: str, authkey: bytes | None = KEY, **popen: object) -> Iterator[Node]:
    """:func:`started_node` with ``authkey`` in ``$UACTOR_AUTHKEY``."""
    with started_node(*args, env=node_env(authkey), **popen) as (node, _):
        yield node
