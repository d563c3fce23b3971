"""100 client threads across 4 processes calling one actor.

Every thread numbers its calls and checks each reply; the actor
(:class:`Sequencer`) checks that each thread's calls arrive exactly once and in
order.  What must hold: no error, no reply given to the wrong call, no call
lost or duplicated.

Sizes: issue 7 asks for 10,000 calls per thread (1,000,000 calls).  That takes
87-110 s on the 2-core test machine (9,000-11,500 calls/s through one actor), so
the full size runs only with ``UACTOR_FULL_LOAD=1`` (and is marked ``slow``);
the normal suite makes 500 calls per thread (50,000 calls, ~6 s idle, ~9 s in
the parallel suite).

Threads connect one at a time before the load starts (see
``load_client``): 100 simultaneous first connections to one actor trip a core
bug (its listen backlog of 16), fixed; the burst test at the end holds it.
"""
from __future__ import annotations

import multiprocessing
import os
import select
import signal
import socket
import time

import pytest

from tests.conftest import wait_until
from tests.reliability._helpers import FULL_LOAD, all_threads_stopped
from tests.reliability.actors import Sequencer, load_client

PROCESSES = 4
THREADS_PER_PROCESS = 25

#: Calls per thread: the normal suite's and the issue's full size.
CALLS = 500
FULL_CALLS = 10_000

#: Bound (s) on each client process's whole run; a backstop against hangs.
BOUND = 90.0
FULL_BOUND = 500.0


def _run_load(calls: int, bound: float) -> None:
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    with Sequencer() as actor:
        clients = [ctx.Process(target=load_client,
                               args=(actor.connection_address, index,
                                     THREADS_PER_PROCESS, calls, results),
                               name=f"load-client-{index}")
                   for index in range(PROCESSES)]
        try:
            for client in clients:
                client.start()
            reports = [results.get(timeout=bound)
                       for _ in range(PROCESSES * THREADS_PER_PROCESS)]
            for client in clients:
                client.join(bound)
                assert client.exitcode == 0, (client.name, client.exitcode)
        finally:
            for client in clients:
                if client.is_alive():
                    client.kill()
                    client.join(10)
            results.close()
            results.join_thread()
        received = actor.report()

    errors = {key: errs for key, _, errs in reports if errs}
    assert errors == {}
    expected = {(process, thread): calls for process in range(PROCESSES)
                for thread in range(THREADS_PER_PROCESS)}
    assert {key: ok for key, ok, _ in reports} == expected  # every reply right
    assert received["anomalies"] == []  # nothing lost, repeated or reordered
    assert received["counts"] == expected  # every call arrived


def test_100_threads_in_4_processes_lose_and_duplicate_nothing():
    _run_load(CALLS, BOUND)


@pytest.mark.slow
@pytest.mark.timeout(FULL_BOUND + 60)
@pytest.mark.skipif(not FULL_LOAD, reason="full size (1,000,000 calls, ~90-110 s): "
                    "set UACTOR_FULL_LOAD=1")
def test_100_threads_in_4_processes_full_size():
    _run_load(FULL_CALLS, FULL_BOUND)


def test_a_busy_actor_queues_a_burst_of_100_connections():
    """100 clients connecting while the actor is busy all get in line.

    Run for real (100 threads in 4 processes making their first call at
    once), 33-55 of the 100 calls failed here after the 10 s handshake
    bound, some runs none: timing decides.  Freezing the actor for the burst
    makes it deterministic: the kernel queues connections up to the listen
    backlog and drops the others' SYNs until the next retransmission (1 s).
    """
    with Sequencer() as actor:
        pid = actor._manager.process.pid
        os.kill(pid, signal.SIGSTOP)
        sockets: list[socket.socket] = []
        try:
            assert wait_until(lambda: all_threads_stopped(pid), BOUND)
            for _ in range(PROCESSES * THREADS_PER_PROCESS):
                sock = socket.socket()
                sockets.append(sock)
                sock.setblocking(False)
                sock.connect_ex(actor.connection_address)
            # Well under the first SYN retransmission (1 s): what is queued by
            # then is what the backlog holds.
            pending, queued = set(sockets), 0
            deadline = time.monotonic() + 0.5
            while pending and time.monotonic() < deadline:
                _, ready, _ = select.select([], pending, [], deadline - time.monotonic())
                pending.difference_update(ready)
                queued += sum(1 for sock in ready
                              if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0)
        finally:
            os.kill(pid, signal.SIGCONT)
            for sock in sockets:
                sock.close()
        assert queued == len(sockets), f"only {queued} of {len(sockets)} connections queued"
        assert actor.report()["anomalies"] == []
