"""Many clients in several processes hammering one registry at once."""
from __future__ import annotations

import multiprocessing
import queue

import pytest

from tests.registry.actors import (
    LOAD,
    load_addresses,
    load_client_process,
    start_registry,
)

PROCESSES = 4
THREADS = 5  # 20 concurrent clients in all
DURATION = 2.0  # seconds of load


def test_twenty_concurrent_clients_lose_and_duplicate_nothing():
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    with start_registry() as reg:
        sentinel = ("10.255.0.1", 1)
        reg.register(sentinel, name=LOAD)
        processes = [
            ctx.Process(target=load_client_process,
                        args=(reg.connection_address, index, THREADS, DURATION,
                              results))
            for index in range(PROCESSES)
        ]
        for process in processes:
            process.start()
        reports = []
        try:
            for _ in range(PROCESSES * THREADS):
                reports.append(results.get(timeout=DURATION + 60))
        except queue.Empty:
            pytest.fail(f"{len(reports)} of {PROCESSES * THREADS} clients reported")
        finally:
            for process in processes:
                process.join(30)
                if process.is_alive():
                    process.kill()
                    process.join(10)
            results.close()
            results.join_thread()
        assert [process.exitcode for process in processes] == [0] * PROCESSES

        expected = {sentinel}
        for p in range(PROCESSES):
            for t in range(THREADS):
                expected.update(load_addresses(p, t))
        registered = reg.addresses(LOAD)
        # Nothing lost, nothing duplicated, nothing foreign.
        assert len(registered) == len(set(registered))
        assert set(registered) == expected
        assert all(report["strange"] == [] for report in reports)
        # Every pick was served and counted; counters add up.
        stats = reg.stats()
        assert stats["picks"] == sum(report["picks"] for report in reports)
        assert stats["picks"] > 0
        assert stats["entries"] == len(expected)
        assert stats["registered"] - stats["unregistered"] - stats["expired"] == \
            stats["entries"]
        # Fair rotation survived the churn: one full round returns each once.
        assert sorted(reg.pick(LOAD) for _ in expected) == sorted(expected)
