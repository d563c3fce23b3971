"""Chapter 1.5: actor lifetime, context managers, shutdown, garbage collection."""
from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import textwrap

import psutil
import pytest

from tests.conftest import wait_until
from tests.core.actors import Echo, NetworkActor, Recorder


def events(path):
    with open(path) as stream:
        return stream.read().split()


def read_events(path):
    with open(path) as stream:
        return [line for line in stream.read().splitlines() if line]


def test_context_manager_calls_enter_exit_then_shutdown(tmp_path):
    log = tmp_path / "events"
    with Recorder(str(log)) as actor:
        pid = actor.getpid()
    assert read_events(log) == ["Initialized", "Context enter", "Context exit None",
                                "Shutdown", "Stopping"]
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_explicit_shutdown_runs_actor_shutdown_once_and_is_idempotent(tmp_path):
    log = tmp_path / "events"
    actor = Recorder(str(log))
    process = actor._manager.process
    actor.shutdown()
    actor.shutdown()
    actor.__exit__(None, None, None)
    assert process.exitcode == 0
    assert read_events(log) == ["Initialized", "Shutdown", "Stopping"]


def test_exception_inside_with_reaches_exit_and_propagates_unchanged(tmp_path):
    log = tmp_path / "events"
    error = KeyError("inside")
    with pytest.raises(KeyError) as raised, Recorder(str(log)):
        raise error
    assert raised.value is error
    assert "Context exit KeyError" in read_events(log)


def test_exit_returning_true_suppresses_the_exception(tmp_path):
    log = tmp_path / "events"
    with Recorder(str(log), suppress=True):
        raise KeyError("suppressed")
    assert read_events(log)[-3:] == ["Context exit KeyError", "Shutdown", "Stopping"]


def test_unpicklable_exception_still_reaches_exit_and_propagates(tmp_path):
    log = tmp_path / "events"

    class Local(Exception):
        pass

    with pytest.raises(Local), Recorder(str(log)):
        raise Local("local classes cannot be pickled")
    assert "Context exit UActorException" in read_events(log)


def test_process_ends_when_the_last_proxy_is_garbage_collected(tmp_path):
    actor = Echo()
    process = actor._manager.process
    derived = actor.__enter__()
    del actor
    gc.collect()
    assert derived.echo(1) == 1  # a derived proxy keeps the actor alive
    del derived
    gc.collect()
    assert wait_until(lambda: not process.is_alive(), 10)


def test_connected_proxy_shutdown_runs_actor_shutdown_but_keeps_the_process():
    owner = NetworkActor()
    try:
        client = NetworkActor.connect(owner.connection_address, b"SECRET")
        client.shutdown()
        client.shutdown()  # idempotent: Actor.shutdown ran once for this proxy
        assert owner.wait(0) is True
        assert owner.getpid() == client.getpid()
        with NetworkActor.connect(owner.connection_address, b"SECRET") as again:
            assert again.getpid() == owner.getpid()
        assert owner._manager.process.is_alive()
    finally:
        owner.shutdown()
    assert owner._manager.process.exitcode == 0


OWNER_SCRIPT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {root!r})
    from tests.core.actors import Echo
    actor = Echo()
    print(actor.getpid(), flush=True)
    time.sleep(60)
""")


def test_actor_ends_when_its_owner_process_is_killed():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    owner = subprocess.Popen([sys.executable, "-c", OWNER_SCRIPT.format(root=root)],
                             stdout=subprocess.PIPE, text=True)
    try:
        actor_pid = int(owner.stdout.readline())
        assert psutil.pid_exists(actor_pid)
        owner.send_signal(signal.SIGKILL)
        owner.wait(10)
        assert wait_until(lambda: not psutil.pid_exists(actor_pid), 10)
    finally:
        owner.kill()
        owner.wait()
        owner.stdout.close()


EXIT_SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from tests.core.actors import Echo, NetworkActor
    kept = Echo()
    leaked = [kept.echo(1), Echo()]
    owner = NetworkActor()
    remote = NetworkActor.connect(owner.connection_address, b"SECRET")
    owner.shutdown()   # the connected proxy outlives its actor
    print("done", flush=True)
""")


def test_nothing_is_printed_at_exit_or_by_proxies_outliving_their_actor():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    result = subprocess.run([sys.executable, "-c", EXIT_SCRIPT.format(root=root)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert result.stdout == "done\n"
    assert result.stderr == ""
