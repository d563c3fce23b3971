"""Shared fixtures: every test must leave no child process and no thread behind.

The autouse fixture below records the processes and threads alive before a test
and, after it, polls with a deadline until they are back to that baseline.  A
test that leaks fails with the list of what it left behind, and the leftovers
are killed so the next test starts clean.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
import uuid

import psutil
import pytest

# Tests stop examples, nodes and CLIs with SIGINT, as Ctrl-C in a terminal
# would.  A suite started in the background by a non-interactive shell (or
# under nohup) inherits SIGINT ignored, and so would every process it starts:
# Python then installs no KeyboardInterrupt handler and the interrupted
# program runs on.  Give the session, and through it its children, the
# terminal's default.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

#: How long a finished test may take to let its processes and threads go (s).
CLEANUP_DEADLINE = 15.0

#: Helper processes multiprocessing keeps for the whole session by design.
_PERMANENT_HELPERS = ("resource_tracker", "forkserver")


def _is_permanent_helper(proc: psutil.Process) -> bool:
    try:
        cmdline = " ".join(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
    return any(name in cmdline for name in _PERMANENT_HELPERS)


def live_children() -> dict[int, psutil.Process]:
    """Child processes of this one, recursively, minus multiprocessing helpers."""
    multiprocessing.active_children()  # reaps finished multiprocessing children
    found = {}
    for proc in psutil.Process().children(recursive=True):
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
        except psutil.NoSuchProcess:
            continue
        if not _is_permanent_helper(proc):
            found[proc.pid] = proc
    return found


def live_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.is_alive()}


def wait_until(predicate, timeout: float, interval: float = 0.02):
    """Poll ``predicate`` until it returns a truthy value or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result or time.monotonic() >= deadline:
            return result
        time.sleep(interval)


def _kill(procs) -> None:
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(list(procs), timeout=5)


@pytest.fixture(autouse=True)
def no_leftovers(request):
    """Fail the test if it leaves child processes or threads behind."""
    children_before = set(live_children())
    threads_before = live_threads()
    yield
    if request.node.get_closest_marker("allow_leftovers"):
        return
    new_children = {}

    def children_gone():
        nonlocal new_children
        new_children = {
            pid: p for pid, p in live_children().items() if pid not in children_before
        }
        return not new_children

    new_threads: set[threading.Thread] = set()

    def threads_gone():
        nonlocal new_threads
        new_threads = live_threads() - threads_before
        return not new_threads

    wait_until(children_gone, CLEANUP_DEADLINE)
    wait_until(threads_gone, CLEANUP_DEADLINE)
    if new_children:
        described = [f"{p.pid}: {' '.join(p.cmdline()) if p.is_running() else '?'}"
                     for p in new_children.values()]
        _kill(new_children.values())
        pytest.fail(f"test left child processes behind: {described}")
    if new_threads:
        pytest.fail(f"test left threads behind: {sorted(t.name for t in new_threads)}")


@pytest.fixture
def unique_name() -> str:
    """A name unique across parallel test workers (for mDNS instances, files)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"t-{worker}-{uuid.uuid4().hex[:10]}"


#: Environment variables the registry's authkey lookup reads.
_KEY_VARIABLES = ("UACTOR_AUTHKEY", "UACTOR_AUTHKEY_FILE", "XDG_RUNTIME_DIR",
                  "XDG_STATE_HOME")


def _private_key_dirs(base) -> dict[str, str]:
    """Base directories for the default authkey file under ``base``."""
    runtime = base / "xdg-runtime"
    runtime.mkdir(mode=0o700)
    return {"XDG_RUNTIME_DIR": str(runtime), "XDG_STATE_HOME": str(base / "xdg-state")}


@pytest.fixture(scope="session", autouse=True)
def _no_real_key_files(tmp_path_factory):
    """Keep every test away from the user's own default authkey file.

    Registry nodes started without a key write one in $XDG_RUNTIME_DIR (else
    ~/.local/state): point both at this worker's temporary directory, and
    clear any key the environment carries, for the whole session.
    """
    saved = {name: os.environ.get(name) for name in _KEY_VARIABLES}
    for name in ("UACTOR_AUTHKEY", "UACTOR_AUTHKEY_FILE"):
        os.environ.pop(name, None)
    os.environ.update(_private_key_dirs(tmp_path_factory.mktemp("keys")))
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture
def key_home(tmp_path, monkeypatch):
    """Fresh, empty places for the default authkey file, for this test only.

    Returns the path where a keyless registry node writes its key (also what
    :func:`registry.find_authkey` reads last); subprocesses inherit it.
    """
    for name, value in _private_key_dirs(tmp_path).items():
        monkeypatch.setenv(name, value)
    return tmp_path / "xdg-runtime" / "uactor" / "authkey"
