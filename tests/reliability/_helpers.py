"""Helpers shared by the reliability tests: bounded threads, pid checks."""
from __future__ import annotations

import os
import socket
import threading
from typing import Any, Callable

import psutil

#: True inside a private network namespace holding only a loopback interface
#: (``.ci/run``, :func:`tests.netns.private_net_prefix`): only there may tests bind
#: 0.0.0.0 or send multicast.
ISOLATED = [name for _, name in socket.if_nameindex()] == ["lo"]

#: Whether the full-size load and soak runs were asked for.
FULL_LOAD = os.environ.get("UACTOR_FULL_LOAD") == "1"


class Outcome:
    """The result or exception of a call run on a thread, and when it ended."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None


def call_in_thread(function: Callable[..., Any], *args: Any,
                   name: str = "reliability-call") -> tuple[threading.Thread, Outcome]:
    """Start ``function(*args)`` on a new thread; return it and its outcome."""
    outcome = Outcome()

    def run() -> None:
        try:
            outcome.value = function(*args)
        except BaseException as exc:  # handed to the test, which asserts on it
            outcome.error = exc
        finally:
            outcome.done.set()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread, outcome


def pid_gone(pid: int) -> bool:
    """True once ``pid`` no longer runs (exited, or a zombie awaiting its reaper)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def all_threads_stopped(pid: int) -> bool:
    """True once every thread of ``pid`` is in the stopped (T) state.

    ``kill(SIGSTOP)`` returns before the target's threads have all stopped.
    """
    try:
        states = []
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/stat") as stat:
                states.append(stat.read().rpartition(")")[2].split()[0])
    except FileNotFoundError:
        return False
    return bool(states) and all(state in ("T", "t") for state in states)
