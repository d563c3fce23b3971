"""An actor killed (SIGKILL) or frozen (SIGSTOP) while calls are in flight.

What must hold: every caller blocked in the dead actor gets
``uactor.ActorDeadError`` within a bound (no hang), later calls fail fast the
same way, and nothing else notices: other actors keep answering every call
of every thread, exactly once and with the right value.  An actor's own
nested actors do not outlive it.
"""
from __future__ import annotations

import os
import signal
import threading

import pytest

import uactor
from tests.conftest import wait_until
from tests.reliability._helpers import all_threads_stopped, call_in_thread, pid_gone
from tests.reliability.actors import BLOCK_LIMIT, KEY, Victim, Worker

#: Bound (s) on noticing a death or a deadline: generous, as the machine may
#: be loaded by parallel tests; a hang is what we are guarding against.
BOUND = 15.0

#: Bound (s) on a caller noticing that its actor was killed: EOF arrives at
#: once, so this is only slack for a loaded machine.
DEATH_NOTICE = 5.0

#: Threads blocked in the victim when it dies, and threads calling others.
BLOCKED_CALLERS = 3
BYSTANDER_THREADS = 4


def _hammer(actor, thread_index: int, stop: threading.Event, log: list) -> None:
    """Call ``actor.echo`` with distinct values until ``stop``; log each outcome."""
    seq = 0
    while not stop.is_set():
        value = (thread_index, seq)
        try:
            log.append((value, actor.echo(value)))
        except Exception as exc:  # logged, then asserted on by the test
            log.append((value, exc))
        seq += 1


def test_sigkill_mid_call_raises_actor_dead_error_and_spares_the_others():
    victim = Victim()
    bystander = Worker()
    try:
        client = Victim.connect(victim.connection_address, KEY, timeout=BOUND)
        blocked = [call_in_thread(victim.block, name=f"blocked-{i}")
                   for i in range(BLOCKED_CALLERS)]
        blocked.append(call_in_thread(client.block, name="blocked-connected"))
        stop = threading.Event()
        logs: list[list] = [[] for _ in range(BYSTANDER_THREADS)]
        hammers = [threading.Thread(target=_hammer, args=(bystander, i, stop, logs[i]))
                   for i in range(BYSTANDER_THREADS)]
        for thread in hammers:
            thread.start()
        try:
            assert wait_until(lambda: victim.entered() == len(blocked), BOUND)
            assert wait_until(lambda: all(len(log) > 5 for log in logs), BOUND)
            os.kill(victim.getpid(), signal.SIGKILL)

            for thread, outcome in blocked:
                assert outcome.done.wait(DEATH_NOTICE), f"{thread.name} still blocked"
                thread.join(BOUND)
                assert isinstance(outcome.error, uactor.ActorDeadError), outcome.error
            # Later calls fail fast too: the owner finds its connection broken,
            # then nothing listening (ActorDeadError once it has reaped the
            # exit status); a connected proxy finds nothing listening.
            with pytest.raises(uactor.ActorDeadError):
                victim.echo(1)
            with pytest.raises(uactor.ActorConnectionError):
                victim.echo(1)
            with pytest.raises(uactor.ActorConnectionError):
                client.echo(1)
            calls_during_death = [len(log) for log in logs]
            assert wait_until(
                lambda: all(len(log) > seen + 5
                            for log, seen in zip(logs, calls_during_death)), BOUND)
        finally:
            stop.set()
            for thread in hammers:
                thread.join(BOUND)
        for index, log in enumerate(logs):
            sent = [value for value, _ in log]
            assert sent == [(index, seq) for seq in range(len(log))]
            assert all(value == reply for value, reply in log), \
                [item for item in log if item[0] != item[1]][:5]
        assert bystander.echo("after") == "after"
    finally:
        victim.shutdown()
        victim.shutdown()  # idempotent, even for a dead actor
        bystander.shutdown()


def test_nested_actors_do_not_outlive_a_killed_actor():
    victim = Victim()
    try:
        child_pid = victim.spawn_child()
        victim_pid = victim.getpid()
        assert child_pid not in (victim_pid, os.getpid())
        os.kill(victim_pid, signal.SIGKILL)
        # The child is no longer ours once orphaned: check it by pid.
        assert wait_until(lambda: pid_gone(child_pid), BOUND), \
            f"nested actor {child_pid} outlived its killed owner"
    finally:
        victim.shutdown()


def test_sigkill_mid_call_is_noticed_while_a_process_forked_by_the_actor_lives():
    victim = Victim()
    helper_pid = None
    connected, forked = threading.Event(), threading.Event()

    def caller():
        victim.echo("connect")  # this thread's connection, made before the fork
        connected.set()
        forked.wait(BOUND)
        return victim.block()

    thread, outcome = call_in_thread(caller)
    try:
        # The helper inherits the actor's end of the caller's connection (and
        # its listening socket).
        assert connected.wait(BOUND)
        helper_pid = victim.start_helper(BLOCK_LIMIT)
        forked.set()
        assert wait_until(lambda: victim.entered() == 1, BOUND)
        os.kill(victim.getpid(), signal.SIGKILL)
        assert outcome.done.wait(DEATH_NOTICE), \
            "the caller saw no EOF: the forked helper holds the actor's socket"
        assert isinstance(outcome.error, uactor.ActorDeadError), outcome.error
    finally:
        if helper_pid is not None and not pid_gone(helper_pid):
            os.kill(helper_pid, signal.SIGKILL)
        victim.shutdown()
        thread.join(BOUND)


def test_a_frozen_actor_hits_the_deadline_and_answers_correctly_once_thawed():
    victim = Victim()
    bystander = Worker()
    pid = victim.getpid()
    try:
        assert victim.echo("warm") == "warm"
        client = Victim.connect(victim.connection_address, KEY, timeout=BOUND)
        os.kill(pid, signal.SIGSTOP)
        try:
            assert wait_until(lambda: all_threads_stopped(pid), BOUND)
            with uactor.deadline(0.5), pytest.raises(uactor.CallTimeoutError):
                victim.echo("lost")
            with pytest.raises(uactor.ActorConnectionError, match="handshake"):
                Victim.connect(victim.connection_address, KEY, timeout=0.5)
            _, outcome = call_in_thread(lambda: victim.echo("queued"))
            assert bystander.echo("unaffected") == "unaffected"
        finally:
            os.kill(pid, signal.SIGCONT)
        # The call made while frozen completes once thawed; the reply to the
        # timed-out one was discarded with its connection, never read as this.
        assert outcome.done.wait(BOUND)
        assert outcome.value == "queued", outcome.error
        assert victim.echo("next") == "next"
        assert client.echo("connected") == "connected"
    finally:
        victim.shutdown()
        bystander.shutdown()


def test_a_deadline_also_bounds_connecting_to_a_frozen_actor(monkeypatch):
    # Shorter handshake bound for a quick test; the deadline is shorter still.
    monkeypatch.setattr(uactor, "_HANDSHAKE_TIMEOUT", 3.0)
    victim = Victim()
    pid = victim.getpid()
    try:
        os.kill(pid, signal.SIGSTOP)
        try:
            assert wait_until(lambda: all_threads_stopped(pid), BOUND)

            def fresh_thread_call():  # a new thread has no connection yet
                with uactor.deadline(0.5):
                    return victim.echo("never")

            thread, outcome = call_in_thread(fresh_thread_call)
            finished = outcome.done.wait(2.5)
        finally:
            os.kill(pid, signal.SIGCONT)
        thread.join(BOUND)
        assert finished, "the call outlived its 0.5 s deadline by seconds"
        assert isinstance(outcome.error, uactor.CallTimeoutError), outcome.error
    finally:
        victim.shutdown()
