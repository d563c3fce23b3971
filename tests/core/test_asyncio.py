"""Awaitable calls (uactor.call_async, uactor.aio), pipelining and async def actor methods."""
from __future__ import annotations

import asyncio
import multiprocessing
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time

import pytest

import uactor
from tests.conftest import wait_until
from tests.core.actors import XmlActor
from tests.core.async_actors import NetWorker, Worker

START_METHODS = ["fork", "spawn", "forkserver"]


def _run(coroutine, timeout=30):
    """Run ``coroutine`` in a fresh event loop, bounded by ``timeout`` seconds."""
    async def bounded():
        async with asyncio.timeout(timeout):
            return await coroutine
    return asyncio.run(bounded())


# --------------------------------------------------------------------------
# Calls
# --------------------------------------------------------------------------


def test_awaited_calls_return_what_sync_calls_return():
    with Worker() as worker:
        async def main():
            assert await uactor.call_async(worker.add, 1, 2) == 3
            assert await uactor.call_async(worker.echo, value={"a": [1, 2]}) == {"a": [1, 2]}
            assert await uactor.aio(worker).add(3, 4) == 7
            assert await uactor.aio(worker).label == "worker"  # an exposed attribute
            return await uactor.call_async(worker.getpid)
        assert _run(main()) == worker.getpid()  # sync calls still work alongside


def test_result_proxies_and_proxies_passed_as_arguments():
    with Worker() as worker, Worker() as other:
        async def main():
            counter = await uactor.call_async(worker.make_counter)  # _method_to_typeid_
            assert isinstance(counter, uactor.BaseProxy)
            assert await uactor.call_async(counter.add, 5) == 5
            assert await uactor.call_async(counter.add, 2) == 7
            made = await uactor.call_async(worker.counter)  # uactor.proxy() in a reply
            assert await uactor.call_async(made.add, 3) == 3
            assert made.add(1) == 4  # the same object through the sync path
            return await uactor.call_async(worker.call_back, other, "hello")  # a callback
        assert _run(main()) == "hello"


class Undeclared(uactor.Actor):
    """A client-side declaration with a method the actor does not have."""

    def nope(self):
        raise NotImplementedError


def test_remote_errors_keep_their_type_and_traceback():
    with NetWorker() as worker:
        async def main():
            with pytest.raises(ValueError, match="bad input") as sync_error:
                await uactor.call_async(worker.fail, "bad input")
            with pytest.raises(KeyError, match="missing") as async_error:
                await uactor.call_async(worker.afail, "missing")
            with pytest.raises(uactor.NotExposedError, match="exposes no 'nope'"):
                await uactor.call_async(Undeclared.connect(
                    worker.connection_address, b"async secret").nope)
            return sync_error.value, async_error.value
        sync_error, async_error = _run(main())
        assert "in fail" in uactor.remote_traceback(sync_error)
        assert "in afail" in uactor.remote_traceback(async_error)
        assert worker.add(1, 1) == 2


def test_xmlrpclib_actors_pipeline_too():
    with XmlActor() as actor:
        async def main():
            sums = await asyncio.gather(*[uactor.call_async(actor.add, i, 1) for i in range(50)])
            with pytest.raises(ValueError, match="nope"):
                await uactor.call_async(actor.fail)
            items = await uactor.call_async(actor.items)  # a result proxy
            with pytest.raises(uactor.NotExposedError, match="exposes no 'nope'"):
                await uactor.call_async(Undeclared.connect(actor.connection_address,
                                                           uactor.authkey(actor),
                                                           "xmlrpclib").nope)
            return sums, list(items)
        assert _run(main()) == ([i + 1 for i in range(50)], [1, 2])


def test_arguments_that_cannot_be_sent_fail_locally_and_keep_the_connection():
    options = {"max_message": 100_000}
    with uactor.start(Worker, options=options) as worker:
        async def main():
            with pytest.raises(TypeError, match="lock"):
                await uactor.call_async(worker.echo, threading.Lock())
            with pytest.raises(uactor.MessageTooLargeError, match="100000-byte limit"):
                await uactor.call_async(worker.echo, b"x" * 200_000)
            return await uactor.call_async(worker.echo, b"y" * 50_000)
        assert _run(main()) == b"y" * 50_000


def test_an_undecodable_reply_fails_its_own_call_only():
    with Worker() as worker:
        async def main():
            first = asyncio.ensure_future(uactor.call_async(worker.add, 1, 1))
            with pytest.raises(ValueError, match="cannot be rebuilt here"):
                await uactor.call_async(worker.bomb)
            return await first, await uactor.call_async(worker.add, 2, 2)
        assert _run(main()) == (2, 4)
        with pytest.raises(ValueError, match="cannot be rebuilt here"):
            worker.bomb()  # as the synchronous call does


def test_only_proxy_methods_can_be_awaited():
    with Worker() as worker:
        async def main():
            with pytest.raises(TypeError, match="takes a method of a uactor proxy.*int 42"):
                await uactor.call_async(42)
            with pytest.raises(TypeError, match="pass the method without calling it"):
                await uactor.call_async(worker.add(1, 2))
            with pytest.raises(TypeError, match="shutdown is not a remote method call"):
                await uactor.call_async(worker.shutdown)
            with pytest.raises(TypeError, match="expected a uactor proxy"):
                uactor.aio(object())
            with pytest.raises(AttributeError, match="no method 'nope' to await"):
                uactor.aio(worker).nope  # noqa: B018 - the error is the point
        _run(main())


def test_a_thousand_concurrent_awaiters_on_one_proxy():
    with Worker() as worker:
        async def main():
            calls = [uactor.call_async(worker.add, i, i) for i in range(1000)]
            return await asyncio.gather(*calls)
        assert _run(main()) == [2 * i for i in range(1000)]


def test_connected_proxies_over_tcp_pipeline_too():
    with NetWorker() as owner:
        client = NetWorker.connect(owner.connection_address, b"async secret")

        async def main():
            results = await asyncio.gather(*[uactor.call_async(client.add, i, 1)
                                             for i in range(300)])
            big = bytes(range(256)) * 4096  # 1 MiB: several writes, large tags
            assert await uactor.call_async(client.echo, big) == big
            return results
        assert _run(main()) == [i + 1 for i in range(300)]


def test_each_event_loop_has_its_own_connection():
    """Loops in two threads (and a later loop in this one) each call on their own."""
    with Worker() as worker:
        results = {}

        def in_thread(index):
            results[index] = _run(uactor.call_async(worker.add, index, 100))

        threads = [threading.Thread(target=in_thread, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert results == {0: 100, 1: 101}
        assert _run(uactor.call_async(worker.add, 1, 1)) == 2


# --------------------------------------------------------------------------
# Cancellation, deadlines, death
# --------------------------------------------------------------------------


def test_cancelling_an_awaited_call_keeps_the_connection_usable():
    with Worker() as worker:
        async def main():
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.1):
                    await uactor.call_async(worker.nap, 0.5, "cancelled")
            # The next call on the same connection gets its own reply, not the late one.
            assert await uactor.call_async(worker.add, 20, 22) == 42
            assert await uactor.call_async(worker.echo, "after") == "after"
        _run(main())
        # The actor received the whole request and ran it.
        assert wait_until(lambda: "cancelled" in worker.calls(), 10)


def test_call_timeout_and_deadline_bound_awaited_calls():
    with Worker() as worker:
        async def main():
            uactor.set_call_timeout(worker, 0.1)
            with pytest.raises(uactor.CallTimeoutError, match="'nap'.*deadline"):
                await uactor.call_async(worker.nap, 0.5)
            uactor.set_call_timeout(worker, None)
            with uactor.deadline(0.1), pytest.raises(uactor.CallTimeoutError):
                await uactor.call_async(worker.snooze, 0.5)
            assert await uactor.call_async(worker.add, 1, 2) == 3  # still usable
        _run(main())


def test_killed_actor_fails_every_pending_awaiter_promptly():
    worker = Worker()
    try:
        async def main():
            assert await uactor.call_async(worker.add, 1, 1) == 2
            calls = [asyncio.ensure_future(uactor.call_async(worker.nap, 0.05))
                     for _ in range(200)]
            await asyncio.sleep(0.1)  # the first naps run; the rest wait in the actor
            os.kill(uactor.process(worker).pid, signal.SIGKILL)
            started = time.monotonic()
            async with asyncio.timeout(10):
                results = await asyncio.gather(*calls, return_exceptions=True)
            waited = time.monotonic() - started
            errors = [r for r in results if isinstance(r, BaseException)]
            assert errors and all(isinstance(e, uactor.ActorDeadError) for e in errors)
            assert all(r == 0.05 for r in results if not isinstance(r, BaseException))
            assert "was lost during 'nap'" in str(errors[0])
            with pytest.raises(uactor.ActorDeadError, match="is gone"):
                await uactor.call_async(worker.add, 1, 1)
            return len(errors), waited
        failed, waited = _run(main())
        assert failed > 100 and waited < 10
    finally:
        worker.shutdown()


# --------------------------------------------------------------------------
# async def methods
# --------------------------------------------------------------------------


@pytest.mark.parametrize("networked", [False, True], ids=["local", "tcp"])
@pytest.mark.parametrize("method", START_METHODS)
def test_coroutine_methods_run_concurrently_under(method, networked):
    options = {"ctx": multiprocessing.get_context(method)}
    with uactor.start(NetWorker if networked else Worker, options=options) as worker:
        async def main():
            started = time.monotonic()
            tags = await asyncio.gather(*[uactor.call_async(worker.snooze, 1, i)
                                          for i in range(100)])
            return tags, time.monotonic() - started
        tags, took = _run(main())
        assert tags == list(range(100))
        assert took < 5  # they interleave at their awaits (serially: 100 s)
        assert sorted(worker.calls()) == list(range(100))


def test_replies_are_not_held_behind_a_long_coroutine():
    """A reply batched with later requests goes out before the actor waits again."""
    with Worker() as worker:
        async def main():
            quick = asyncio.ensure_future(uactor.call_async(worker.add, 1, 2))
            slow = asyncio.ensure_future(uactor.call_async(worker.snooze, 60))
            try:
                return await asyncio.wait_for(quick, 10)
            finally:
                slow.cancel()
        assert _run(main()) == 3


def test_sync_callers_wait_for_coroutine_methods():
    with Worker() as worker:
        assert worker.snooze(0.05, "sync") == "sync"
        assert worker.loop_thread() == "MainThread"  # the actor's main thread runs its loop
        with pytest.raises(KeyError, match="boom"):
            worker.afail("boom")


def test_caller_is_owner_in_coroutine_methods():
    with Worker() as owner:
        assert owner.owner() is True and owner.aowner() is True

        async def main():
            return (await uactor.call_async(owner.owner),
                    await uactor.call_async(owner.aowner))
        assert _run(main()) == (True, True)


_STOP_SCRIPT = """
import asyncio, sys, warnings
warnings.simplefilter("error")
import uactor
from tests.core.async_actors import Worker

async def main(worker):
    pending = [asyncio.ensure_future(uactor.call_async(worker.snooze, 60)) for _ in range(5)]
    assert await uactor.call_async(worker.snooze, 0, "started") == "started"
    worker.shutdown()
    results = await asyncio.gather(*pending, return_exceptions=True)
    assert all(isinstance(r, uactor.ActorDeadError) for r in results), results

if __name__ == "__main__":
    worker = Worker()
    asyncio.run(main(worker))
    process = uactor.process(worker)
    process.join(10)
    print("exit code", process.exitcode)
"""


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_an_actor_stops_its_loop_without_warnings(tmp_path, method):
    """Coroutines still running when the actor stops are cancelled quietly:
    nothing on the actor's stderr (no "Task was destroyed", no thread errors)."""
    script = tmp_path / "stop.py"
    script.write_text(_STOP_SCRIPT.replace(
        "import uactor\n", f"import multiprocessing, uactor\n"
        f"multiprocessing.set_start_method({method!r}, force=True)\n", 1))
    root = pathlib.Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-W", "error", str(script)], cwd=root,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(root)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "exit code 0"
    assert done.stderr == ""


def test_stopping_cancels_running_coroutines_cleanly():
    worker = Worker()
    process = uactor.process(worker)

    async def main():
        pending = asyncio.ensure_future(uactor.call_async(worker.snooze, 60))
        await asyncio.sleep(0.2)
        worker.shutdown()
        with pytest.raises((uactor.ActorDeadError, asyncio.CancelledError)):
            await pending
    _run(main())
    process.join(10)
    assert process.exitcode == 0
