"""A network link taken down and up while calls are in flight.

Runs only as root inside a private network namespace (``isolated-net``,
``.ci/run``): it creates a second namespace joined to this one by a veth pair
with addresses that exist nowhere else, starts a :class:`Ledger` actor bound
to 0.0.0.0 there, and calls it from here while one end of the link is down.

What must hold: during the outage every call fails within its deadline
(``connect(timeout=...)``, ``uactor.deadline``) with a uactor error, never
hanging on TCP's minutes-long retransmissions; once the link is back, calls
succeed again through the same proxy; and no call is duplicated: the actor
received each call id at most once, every call reported as successful among
them.  (A call that timed out may or may not have run: at most once.)
"""
from __future__ import annotations

import collections
import gc
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import uactor
from tests.conftest import wait_until
from tests.netns import REMOTE_PRELUDE, join, run
from tests.reliability._helpers import ISOLATED
from tests.reliability.actors import KEY, WildcardLedger

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(
        not (ISOLATED and os.geteuid() == 0 and shutil.which("unshare")
             and shutil.which("ip")),
        reason="needs root inside a private network namespace, unshare and ip"),
]

#: Default deadline of every call through the test proxy (s).
CALL_TIMEOUT = 1.0

#: Per-call deadline of the second calling thread, inside CALL_TIMEOUT (s).
DEADLINE = 0.5

#: How late past its deadline a failing call may end (s): scheduling slack
#: on a loaded machine, far below TCP's retransmission timeouts (minutes).
SLACK = 3.0

#: Bound (s) on setting up, on seeing calls fail, and on recovering.
BOUND = 20.0

#: The second namespace: brings its end of the veth pair up and down on
#: request (one command per stdin line), serves a Ledger until stdin closes.
REMOTE_HOST = REMOTE_PRELUDE + textwrap.dedent("""
    from tests.reliability.actors import WildcardLedger
    with WildcardLedger() as actor:
        print(actor.connection_address[1], flush=True)
        for line in sys.stdin:
            subprocess.run(["ip", "link", "set", {peer!r}, line.strip()], check=True)
            print("done", flush=True)
""")


class Caller:
    """A thread calling ``ledger.record`` with fresh ids until stopped.

    Logs ``(call id, outcome, seconds taken, deadline)`` where the outcome is
    the reply or the exception raised.
    """

    def __init__(self, name: str, proxy, deadline: float | None) -> None:
        self.name = name
        self.proxy = proxy
        self.deadline = deadline
        self.log: list[tuple] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=name)

    def _run(self) -> None:
        seq = 0
        while not self.stop.is_set():
            ident = (self.name, seq)
            seq += 1
            started = time.monotonic()
            try:
                if self.deadline is None:
                    outcome = self.proxy.record(ident)
                else:
                    with uactor.deadline(self.deadline):
                        outcome = self.proxy.record(ident)
            except Exception as exc:  # logged, asserted on by the test
                outcome = exc
                self.stop.wait(0.05)  # do not spin on fast failures
            self.log.append((ident, outcome, time.monotonic() - started))

    def failures(self) -> list[tuple]:
        return [entry for entry in self.log if isinstance(entry[1], Exception)]

    def successes_since(self, index: int) -> int:
        return sum(1 for entry in self.log[index:] if not isinstance(entry[1], Exception))


@pytest.mark.parametrize("end", ["local", "remote"])
def test_calls_fail_within_their_deadline_during_an_outage_and_recover(end):
    # Names and a subnet unique among the parallel workers of this run (each
    # run has a namespace of its own).
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    slot = int(worker[2:]) * 2 + (end == "remote")
    local_if, peer_if = f"uo{slot}a", f"uo{slot}b"
    subnet = f"198.19.{slot % 250 + 1}"
    local, remote = f"{subnet}.1", f"{subnet}.2"
    host = subprocess.Popen(
        ["unshare", "--net", sys.executable, "-c",
         REMOTE_HOST.format(root=ROOT, peer=peer_if, remote=remote)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    callers: list[Caller] = []

    def set_link(state: str) -> None:
        if end == "local":
            run("ip", "link", "set", local_if, state)
        else:
            host.stdin.write(state + "\n")
            host.stdin.flush()
            assert host.stdout.readline() == "done\n"

    try:
        assert host.stdout.readline() == "in namespace\n"
        join(host.pid, local_if, peer_if, local)
        port = int(host.stdout.readline())
        ledger = WildcardLedger.connect((remote, port), KEY, timeout=CALL_TIMEOUT)
        assert ledger.getpid() > 0
        baseline = ledger.stats()["threads"]

        callers = [Caller("proxy-timeout", ledger, None),
                   Caller("deadline", ledger, DEADLINE)]
        for caller in callers:
            caller.thread.start()
        assert wait_until(lambda: all(caller.successes_since(0) >= 5
                                      for caller in callers), BOUND)

        set_link("down")
        assert wait_until(lambda: all(len(caller.failures()) >= 3 for caller in callers),
                          BOUND), [caller.log[-3:] for caller in callers]
        set_link("up")
        back = [len(caller.log) for caller in callers]
        assert wait_until(lambda: all(caller.successes_since(mark) >= 5
                                      for caller, mark in zip(callers, back)), BOUND), \
            [caller.log[-3:] for caller in callers]
        for caller in callers:
            caller.stop.set()
            caller.thread.join(BOUND)

        for caller in callers:
            limit = CALL_TIMEOUT if caller.deadline is None else caller.deadline
            for ident, outcome, took in caller.failures():
                assert isinstance(outcome, (uactor.CallTimeoutError,
                                            uactor.ActorConnectionError)), (ident, outcome)
                assert took <= limit + SLACK, (ident, outcome, took)
            for ident, outcome, _ in caller.log:
                if not isinstance(outcome, Exception):
                    assert outcome == ident

        received = ledger.ids()
        counts = collections.Counter(map(tuple, received))
        assert [ident for ident, count in counts.items() if count > 1] == []
        attempted = {ident for caller in callers for ident, _, _ in caller.log}
        succeeded = {ident for caller in callers
                     for ident, outcome, _ in caller.log
                     if not isinstance(outcome, Exception)}
        assert succeeded <= set(counts) <= attempted
        # Connections abandoned during the outage end on the actor's side too
        # once the link is back (their FIN gets through).  The callers' last
        # connections close without the cyclic collector (test_leak_soak holds
        # it); collecting first keeps this test about the outage.
        gc.collect()
        assert wait_until(lambda: ledger.stats()["threads"] <= baseline, BOUND), \
            (ledger.stats(), baseline)
    finally:
        for caller in callers:
            caller.stop.set()
            caller.thread.join(BOUND)
        subprocess.run(["ip", "link", "del", local_if], capture_output=True)
        if host.poll() is None:
            host.stdin.close()
            try:
                host.wait(BOUND)
            except subprocess.TimeoutExpired:
                host.kill()
                host.wait()
        host.stdout.close()
        if not host.stdin.closed:
            host.stdin.close()
