"""The registry node's ready line, for every test that starts ``python -m registry``.

The node prints exactly one line when it is ready::

    registry listening on 127.0.0.1:5000 (authkey in /run/user/0/uactor/authkey)
    registry listening on 127.0.0.1:5000 (authkey from $UACTOR_AUTHKEY)
"""
from __future__ import annotations

import contextlib
import os
import re
import selectors
import subprocess
import time

import psutil

#: Seconds a node may take to exit after each step of :func:`stop_node`.
EXIT_TIMEOUT = 15.0

#: The node's ready line: where it listens, and where its authkey is.
READY = re.compile(r"registry listening on (?P<address>\S+) "
                   r"\(authkey (?:in (?P<path>.+)|from \$UACTOR_AUTHKEY)\)")


def parse_ready_line(line: str) -> tuple[tuple[str, int], str | None]:
    """``((host, port), key file or None)`` from the node's ready line."""
    match = READY.fullmatch(line.rstrip("\n"))
    assert match, f"not a ready line: {line!r}"
    host, _, port = match["address"].rpartition(":")
    return (host.strip("[]"), int(port)), match["path"]


def first_line(proc: subprocess.Popen, timeout: float) -> str | None:
    """The first stdout line of ``proc`` (a bytes pipe), or ``None`` if it
    exited without one; fail after ``timeout`` seconds.  Asserts the line
    is the only output so far."""
    deadline = time.monotonic() + timeout
    data = b""
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while b"\n" not in data:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                raise AssertionError(f"no ready line within {timeout} s (got {data!r})")
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                return None
            data += chunk
    line, _, rest = data.partition(b"\n")
    assert rest == b"", f"unexpected extra output {rest!r}"
    return line.decode()


def kill_node(proc: subprocess.Popen) -> None:
    """SIGKILL the node and its actor process at once, as a crash would."""
    node = psutil.Process(proc.pid)
    family = [*node.children(recursive=True), node]
    for member in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.kill()
    psutil.wait_procs(family, timeout=EXIT_TIMEOUT)
    proc.wait(EXIT_TIMEOUT)


def stop_node(proc: subprocess.Popen) -> None:
    """terminate -> wait -> kill (its actor too), whatever state it is in;
    closes its pipes."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            kill_node(proc)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
