"""The Registry actor through real proxies: spec compatibility, groups, errors."""
from __future__ import annotations

import collections
import multiprocessing
import os
import signal

import pytest

import registry
import uactor
from tests.conftest import wait_until
from tests.registry.actors import KEY, Worker, start_registry


@pytest.fixture
def reg():
    with start_registry() as proxy:
        yield proxy


def test_spec_example_register_then_pick_round_robin():
    """The networking chapter's registry usage works unchanged."""
    with start_registry() as reg:
        actors = [Worker() for _ in range(3)]
        try:
            addresses = [actor.connection_address for actor in actors]
            reg.register(*addresses)
            pids = collections.Counter()
            for _ in range(3):
                _, port = reg.pick()
                with Worker.connect(("127.0.0.1", port), KEY) as actor:
                    pids[actor.getpid()] += 1
            assert pids == {actor.getpid(): 1 for actor in actors}
        finally:
            for actor in actors:
                actor.shutdown()


def test_pick_returns_none_when_empty(reg):
    assert reg.pick() is None
    assert reg.pick_entry() is None
    assert reg.addresses() == []
    assert reg.names() == []


def test_fairness_over_many_picks_through_the_proxy(reg):
    addresses = [("10.1.0.1", port) for port in range(2000, 2010)]
    assert reg.register(*addresses) == 10
    assert reg.register(*addresses[:5]) == 0  # renewals are not new
    k = 20
    counts = collections.Counter(reg.pick() for _ in range(k * len(addresses)))
    assert counts == {address: k for address in addresses}


def test_name_groups_and_listings(reg):
    reg.register(("10.1.0.1", 1), ("10.1.0.2", 2), name="Worker", ttl=30)
    reg.register_entry(("10.1.0.3", 3), name="Storage", bind_address=("0.0.0.0", 3),
                       pid=1234, hostname="node-a", ttl=30)
    reg.register(("10.1.0.4", 4))
    assert reg.names() == ["Storage", "Worker", "default"]
    assert {reg.pick("Worker") for _ in range(4)} == {("10.1.0.1", 1), ("10.1.0.2", 2)}
    entry = reg.pick_entry("Storage")
    assert isinstance(entry, registry.Entry)
    assert entry.bind_address == ("0.0.0.0", 3)
    assert (entry.pid, entry.hostname, entry.ttl) == (1234, "node-a", 30.0)
    assert reg.pick() == ("10.1.0.4", 4)
    assert sorted(reg.addresses()) == [("10.1.0.1", 1), ("10.1.0.2", 2),
                                       ("10.1.0.3", 3), ("10.1.0.4", 4)]
    assert sorted(reg.addresses("Worker")) == [("10.1.0.1", 1), ("10.1.0.2", 2)]
    assert [e.name for e in reg.entries("Storage")] == ["Storage"]
    assert reg.unregister(("10.1.0.1", 1), ("10.9.9.9", 9)) == 1
    assert reg.addresses("Worker") == [("10.1.0.2", 2)]
    assert reg.default_ttl() == registry.DEFAULT_TTL


def test_unknown_name_error_crosses_the_process_boundary(reg):
    reg.register(("10.1.0.1", 1), name="Worker")
    with pytest.raises(registry.UnknownNameError) as info:
        reg.pick("Wroker")
    assert isinstance(info.value, KeyError)
    assert "'Wroker'" in str(info.value) and "'Worker'" in str(info.value)
    with pytest.raises(registry.UnknownNameError):
        reg.addresses("nope")


@pytest.mark.parametrize("call, error", [
    (lambda r: r.register("127.0.0.1:5000"), registry.InvalidArgumentError),
    (lambda r: r.register(("127.0.0.1", "5000")), registry.InvalidArgumentError),
    (lambda r: r.register(("127.0.0.1", 0)), registry.InvalidAddressError),
    (lambda r: r.register(("10.1.0.9", 9), ("bad", -1)), registry.InvalidAddressError),
    (lambda r: r.register(("10.1.0.9", 9), ttl="long"), registry.InvalidArgumentError),
    (lambda r: r.register(("10.1.0.9", 9), name=7), registry.InvalidArgumentError),
    (lambda r: r.register_entry(("10.1.0.9", 9), pid="x"),
     registry.InvalidArgumentError),
    (lambda r: r.unregister(("10.1.0.1", 1), 42), registry.InvalidArgumentError),
])
def test_bad_input_raises_and_leaves_the_registry_intact(reg, call, error):
    reg.register(("10.1.0.1", 1), ("10.1.0.2", 2))
    before = reg.entries()
    with pytest.raises(error):
        call(reg)
    assert reg.entries() == before
    assert reg.pick() in {("10.1.0.1", 1), ("10.1.0.2", 2)}


#: A bad value far too long to echo back (under the node's message size limit).
HUGE = "h" * 600_000


@pytest.mark.parametrize("call, error", [
    (lambda r: r.register(HUGE), registry.InvalidArgumentError),
    (lambda r: r.register((HUGE, 80)), registry.InvalidAddressError),
    (lambda r: r.register(("10.1.0.9", 9), name=HUGE), registry.InvalidValueError),
    (lambda r: r.register_entry(("10.1.0.9", 9), hostname=HUGE), registry.InvalidValueError),
    (lambda r: r.register_entry(("10.1.0.9", 9), pid=[HUGE]), registry.InvalidArgumentError),
    (lambda r: r.pick(HUGE), registry.InvalidValueError),
    (lambda r: r.pick([HUGE]), registry.InvalidArgumentError),
    (lambda r: r.unregister({HUGE: 1}), registry.InvalidArgumentError),
    (lambda r: r.register(("10.1.0.9", 10 ** 5000)), registry.InvalidAddressError),
])
def test_errors_quote_at_most_a_few_hundred_characters_of_a_bad_value(reg, call, error):
    with pytest.raises(error) as info:
        call(reg)
    message = str(info.value)
    assert "hhhhhhhhhh" in message or "cannot be shown" in message  # names the value
    assert len(message) < 1000, len(message)
    assert reg.pick() is None  # nothing changed, still serving


def test_expired_entries_are_not_picked(reg):
    reg.register(("10.1.0.1", 1), ttl=0.2)
    reg.register(("10.1.0.2", 2))
    assert wait_until(lambda: reg.addresses() == [("10.1.0.2", 2)], timeout=5)
    assert {reg.pick() for _ in range(5)} == {("10.1.0.2", 2)}


def test_background_sweep_drops_expired_entries_without_listing_calls():
    with start_registry(sweep_interval=0.05) as reg:
        reg.register(("10.1.0.1", 1), ("10.1.0.2", 2), ttl=0.1)
        reg.register(("10.1.0.3", 3))
        assert reg.stats()["entries"] == 3
        # stats() does not sweep: only the background sweep can drop them.
        assert wait_until(lambda: reg.stats()["entries"] == 1, timeout=5)
        stats = reg.stats()
        assert (stats["registered"], stats["expired"]) == (3, 2)


def test_wrong_authkey_is_rejected_and_the_registry_keeps_serving(reg):
    reg.register(("10.1.0.1", 1))
    with pytest.raises(uactor.AuthkeyError):
        registry.Registry.connect(reg.connection_address, b"wrong key", timeout=5)
    with registry.Registry.connect(reg.connection_address, KEY, timeout=5) as other:
        assert other.pick() == ("10.1.0.1", 1)


def _hammer(address, ready):
    """Process entry point: register addresses in a tight loop until killed."""
    proxy = registry.Registry.connect(address, KEY, timeout=10)
    ready.set()
    port = 1
    while True:
        proxy.register(("10.2.0.1", port), name="flood", ttl=60)
        port = port % 60000 + 1


def test_client_vanishing_mid_call_leaves_the_registry_consistent(reg):
    reg.register(("10.1.0.1", 1))
    ctx = multiprocessing.get_context("fork")
    ready = ctx.Event()
    process = ctx.Process(target=_hammer, args=(reg.connection_address, ready))
    process.start()
    try:
        assert ready.wait(20)
        assert wait_until(lambda: "flood" in reg.names(), timeout=10)
        os.kill(process.pid, signal.SIGKILL)
        process.join(10)
        assert process.exitcode == -signal.SIGKILL
    finally:
        if process.is_alive():
            process.kill()
            process.join(10)
    flood = reg.addresses("flood")
    assert len(flood) == len(set(flood)) > 0
    assert reg.unregister(*flood) == len(flood)
    assert reg.addresses() == [("10.1.0.1", 1)]
    assert reg.pick() == ("10.1.0.1", 1)


def _try_to_stop(address, results):
    """Process entry point: a key holder (not the owner) asks the registry to stop."""
    with registry.Registry.connect(address, KEY, timeout=10) as remote:
        pass  # leaving a connected proxy's block must not request a shutdown
    try:
        remote.shutdown()
    except registry.NotOwnerError as exc:
        results.put(("refused", str(exc)))
    else:
        results.put(("stopped", ""))


def test_only_the_owner_stops_the_registry():
    ctx = multiprocessing.get_context("fork")  # the child inherits no ownership
    results = ctx.Queue()
    with start_registry() as reg:
        child = ctx.Process(target=_try_to_stop, args=(reg.connection_address, results))
        child.start()
        try:
            outcome, message = results.get(timeout=30)
        finally:
            child.join(30)
            results.close()
            results.join_thread()
        assert child.exitcode == 0
        assert outcome == "refused" and "only the process that started" in message
        assert reg.wait(0.01) is False
        assert reg.pick() is None  # still serving
        process = uactor.process(reg)
        reg.shutdown()  # the owner's: ends the actor process
    assert wait_until(lambda: process.exitcode is not None, timeout=10)


@pytest.mark.parametrize("kwargs, error", [
    ({"default_ttl": -1}, registry.InvalidValueError),
    ({"default_ttl": None}, TypeError),
    ({"sweep_interval": 0}, ValueError),
    ({"sweep_interval": "1"}, ValueError),
])
def test_bad_registry_settings_fail_at_start(kwargs, error):
    with pytest.raises(error):
        start_registry(**kwargs)
