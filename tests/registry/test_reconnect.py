"""Reconnecting proxies: re-resolution by name, backoff, bounds, thread safety.

The first half drives :class:`registry.Reconnecting` with fake proxies, a fake
resolver and a fake clock, so attempt counts and waits are asserted exactly;
the second half restarts real actors behind ``connect_actor(reconnect=...)``.
"""
from __future__ import annotations

import contextlib
import os
import pickle
import signal
import socket
import threading
import time
import weakref

import psutil
import pytest

import registry
import uactor
from registry import _reconnect
from tests.conftest import wait_until
from tests.registry.actors import KEY, start_registry
from tests.registry.reconnect_actors import Service

#: Seconds any wait in these tests may last before the test fails.
BOUND = 20.0

#: A policy quick enough for tests and patient enough for a loaded machine.
QUICK = registry.ReconnectPolicy(attempts=40, initial_delay=0.02, max_delay=0.5,
                                 deadline=BOUND)


# --------------------------------------------------------------------------
# Fakes
# --------------------------------------------------------------------------

class FakeClock:
    """Stands for time in registry._reconnect: sleeping advances it at once."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(_reconnect, "_monotonic", fake.monotonic)
    monkeypatch.setattr(_reconnect, "_sleep", fake.sleep)
    return fake


class FakeProxy:
    """A proxy whose calls return its label, or raise ``error``."""

    def __init__(self, label: str, error: BaseException | None = None) -> None:
        self.label = label
        self.error = error
        self.calls = 0

    def ping(self) -> str:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return self.label

    @property
    def status(self) -> str:
        return f"{self.label} ok"


class FakeResolver:
    """Returns or raises its outcomes in turn (the last one repeats)."""

    def __init__(self, *outcomes: object) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    def __call__(self) -> object:
        self.calls += 1
        outcome = self.outcomes[min(self.calls, len(self.outcomes)) - 1]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


def refused() -> uactor.ActorConnectionError:
    """A connection error as a proxy raises it before sending anything."""
    return uactor.ActorConnectionError("cannot connect to actor at 127.0.0.1:9: refused")


def exact(**changes) -> registry.ReconnectPolicy:
    """A policy without jitter, so waits can be asserted exactly."""
    settings = {"attempts": 5, "deadline": 100.0, "initial_delay": 0.1,
                "multiplier": 2.0, "max_delay": 1.0, "jitter": 0.0}
    settings.update(changes)
    return registry.ReconnectPolicy(**settings)


# --------------------------------------------------------------------------
# Policy
# --------------------------------------------------------------------------

def test_policy_delays_grow_exponentially_up_to_max_delay():
    policy = exact(initial_delay=0.1, multiplier=3.0, max_delay=1.0)
    assert [policy.delay(n) for n in range(1, 7)] == \
        pytest.approx([0.0, 0.1, 0.3, 0.9, 1.0, 1.0])
    assert policy.delay(10_000) == 1.0  # no overflow
    assert exact(initial_delay=0.0).delay(5) == 0.0


def test_policy_defaults_are_bounded():
    policy = registry.ReconnectPolicy()
    assert policy.attempts >= 1 and 0 < policy.deadline < 60
    assert sum(policy.delay(n) for n in range(1, policy.attempts + 1)) < policy.deadline


@pytest.mark.parametrize(("changes", "error"), [
    ({"attempts": 0}, registry.InvalidValueError),
    ({"attempts": 2.5}, registry.InvalidArgumentError),
    ({"attempts": True}, registry.InvalidArgumentError),
    ({"deadline": 0}, registry.InvalidValueError),
    ({"deadline": float("inf")}, registry.InvalidValueError),
    ({"deadline": "10"}, registry.InvalidArgumentError),
    ({"initial_delay": -1}, registry.InvalidValueError),
    ({"multiplier": 0.5}, registry.InvalidValueError),
    ({"jitter": 1.5}, registry.InvalidValueError),
])
def test_policy_rejects_bad_values(changes, error):
    with pytest.raises(error, match=next(iter(changes))):
        registry.ReconnectPolicy(**changes)


# --------------------------------------------------------------------------
# What is retried, what is raised
# --------------------------------------------------------------------------

def test_a_call_that_failed_before_sending_is_retried_on_a_fresh_proxy(clock):
    lost, fresh = FakeProxy("lost", refused()), FakeProxy("fresh")
    resolver = FakeResolver(fresh)
    wrapper = registry.Reconnecting(resolver, name="svc", policy=exact(), proxy=lost)
    assert wrapper.ping() == "fresh"
    assert (lost.calls, fresh.calls, resolver.calls) == (1, 1, 1)
    assert clock.sleeps == []  # the first attempt is immediate
    assert wrapper.ping() == "fresh"
    assert resolver.calls == 1


@pytest.mark.parametrize("error", [
    uactor.ActorDeadError("connection lost during 'ping'"),
    uactor.CallTimeoutError("'ping' did not answer within its deadline"),
])
def test_a_call_that_failed_in_flight_is_raised_and_the_next_call_reconnects(clock, error):
    lost, fresh = FakeProxy("lost", error), FakeProxy("fresh")
    resolver = FakeResolver(fresh)
    wrapper = registry.Reconnecting(resolver, name="svc", policy=exact(), proxy=lost)
    with pytest.raises(type(error)):
        wrapper.ping()
    assert (lost.calls, resolver.calls) == (1, 0)  # not retried
    assert wrapper.ping() == "fresh"
    assert (lost.calls, fresh.calls, resolver.calls) == (1, 1, 1)


def test_an_authkey_rejected_at_the_old_address_is_retried_elsewhere(clock):
    # Another actor, with another key, took the lost actor's port.
    lost = FakeProxy("lost", uactor.AuthkeyError("authkey for 127.0.0.1:9 was rejected"))
    resolver = FakeResolver(FakeProxy("fresh"))
    wrapper = registry.Reconnecting(resolver, name="svc", policy=exact(), proxy=lost)
    assert wrapper.ping() == "fresh"
    assert resolver.calls == 1


def test_other_errors_pass_through_and_keep_the_proxy(clock):
    proxy = FakeProxy("p", ValueError("bad value"))
    resolver = FakeResolver(FakeProxy("other"))
    wrapper = registry.Reconnecting(resolver, name="svc", policy=exact(), proxy=proxy)
    for _ in range(2):
        with pytest.raises(ValueError, match="bad value"):
            wrapper.ping()
    assert resolver.calls == 0
    assert wrapper.proxy is proxy


def test_gives_up_after_the_attempts_with_growing_waits(clock):
    resolver = FakeResolver(ConnectionRefusedError("nothing listens"))
    policy = exact(attempts=4, initial_delay=0.1, multiplier=2.0, max_delay=0.25)
    wrapper = registry.Reconnecting(resolver, name="svc", policy=policy,
                                    proxy=FakeProxy("lost", refused()))
    with pytest.raises(registry.ReconnectError) as caught:
        wrapper.ping()
    assert resolver.calls == 4
    assert clock.sleeps == pytest.approx([0.1, 0.2, 0.25])
    error = caught.value
    assert isinstance(error, ConnectionError) and isinstance(error, uactor.ActorConnectionError)
    assert (error.name, error.attempts) == ("svc", 4)
    assert [number for number, _ in error.errors] == [0, 1, 2, 3, 4]
    assert isinstance(error.__cause__, ConnectionRefusedError)
    message = str(error)
    assert "'svc'" in message and "all 4 attempts failed" in message
    assert "lost proxy: ActorConnectionError" in message
    assert "attempts 1-4: ConnectionRefusedError: nothing listens" in message
    assert "ReconnectPolicy(" in message  # says how to allow more


def test_gives_up_when_the_next_attempt_could_not_start_before_the_deadline(clock):
    resolver = FakeResolver(ConnectionRefusedError("nothing listens"))
    policy = exact(attempts=100, deadline=1.0, initial_delay=0.1, max_delay=10.0)
    wrapper = registry.Reconnecting(resolver, name="svc", policy=policy)
    with pytest.raises(registry.ReconnectError, match="deadline") as caught:
        wrapper.ping()
    # Attempts at 0, 0.1, 0.3 and 0.7 s; the next would start at 1.5 s.
    assert clock.sleeps == pytest.approx([0.1, 0.2, 0.4])
    assert resolver.calls == caught.value.attempts == 4


def test_waits_are_shortened_by_jitter(clock, monkeypatch):
    monkeypatch.setattr(_reconnect, "_random", lambda: 1.0)  # the largest cut
    resolver = FakeResolver(ConnectionRefusedError("no"), ConnectionRefusedError("no"),
                            FakeProxy("fresh"))
    wrapper = registry.Reconnecting(resolver, name="svc", policy=exact(jitter=0.5))
    assert wrapper.ping() == "fresh"
    assert clock.sleeps == pytest.approx([0.05, 0.1])


def test_a_failed_reconnection_does_not_stop_later_calls_from_reconnecting(clock):
    resolver = FakeResolver(ConnectionRefusedError("no"), ConnectionRefusedError("no"),
                            FakeProxy("back"))
    wrapper = registry.Reconnecting(resolver, name="svc", policy=exact(attempts=2),
                                    proxy=FakeProxy("lost", refused()))
    with pytest.raises(registry.ReconnectError):
        wrapper.ping()
    assert repr(wrapper) == "<Reconnecting 'svc' not connected>"
    assert wrapper.ping() == "back"  # a new call has a new budget
    assert resolver.calls == 3


def test_each_retry_of_a_call_spends_the_same_budget(clock):
    # Every proxy the resolver gives is unreachable by the time it is used.
    resolver = FakeResolver(FakeProxy("gone", refused()))
    wrapper = registry.Reconnecting(resolver, name="svc", policy=exact(attempts=3),
                                    proxy=FakeProxy("lost", refused()))
    with pytest.raises(registry.ReconnectError, match="all 3 attempts") as caught:
        wrapper.ping()
    assert resolver.calls == 3
    assert [number for number, _ in caught.value.errors] == [0, 1, 2, 3]


@pytest.mark.parametrize("error", [
    uactor.AuthkeyError("authkey for 127.0.0.1:9 was rejected"),
    uactor.ProxyError("the actor at 127.0.0.1:9 is a other:Thing"),
    registry.InvalidArgumentError("bad"),
])
def test_resolver_errors_that_are_not_transient_are_raised_at_once(clock, error):
    resolver = FakeResolver(error)
    wrapper = registry.Reconnecting(resolver, name="svc", policy=exact())
    with pytest.raises(type(error)):
        wrapper.ping()
    assert resolver.calls == 1 and clock.sleeps == []


def test_retry_on_chooses_the_transient_resolver_errors(clock):
    resolver = FakeResolver(LookupError("not yet"), FakeProxy("fresh"))
    strict = registry.Reconnecting(resolver, name="svc", policy=exact(), retry_on=())
    with pytest.raises(LookupError):
        strict.ping()
    lenient = registry.Reconnecting(FakeResolver(LookupError("not yet"), FakeProxy("fresh")),
                                    name="svc", policy=exact(), retry_on=(LookupError,))
    assert lenient.ping() == "fresh"


def test_bad_arguments_are_rejected():
    with pytest.raises(registry.InvalidArgumentError, match="resolver"):
        registry.Reconnecting("not callable", name="svc")  # type: ignore[arg-type]
    with pytest.raises(registry.InvalidArgumentError, match="ReconnectPolicy"):
        registry.Reconnecting(FakeResolver(), name="svc", policy={"attempts": 3})  # type: ignore[arg-type]
    wrapper = registry.Reconnecting(FakeResolver(None), name="svc", policy=exact())
    with pytest.raises(registry.InvalidArgumentError, match="returned None"):
        wrapper.ping()


# --------------------------------------------------------------------------
# The wrapper as an object
# --------------------------------------------------------------------------

def test_attributes_and_the_current_proxy_are_reachable():
    proxy = FakeProxy("p")
    wrapper = registry.Reconnecting(FakeResolver(), name="svc", proxy=proxy)
    assert wrapper.status == "p ok"  # properties are read through the proxy
    assert wrapper.proxy is proxy
    assert wrapper.policy == registry.ReconnectPolicy()
    assert "ping" in dir(wrapper) and "close" in dir(wrapper)
    assert "ping" in repr(wrapper.ping)
    with pytest.raises(AttributeError):
        wrapper._private  # noqa: B018 - private names are never passed on
    with pytest.raises(AttributeError):
        wrapper.no_such_thing  # noqa: B018


def test_close_releases_the_proxy_and_refuses_further_calls():
    proxy = FakeProxy("p")
    released = weakref.ref(proxy)
    resolver = FakeResolver(FakeProxy("other"))
    with registry.Reconnecting(resolver, name="svc", proxy=proxy) as wrapper:
        assert wrapper.ping() == "p"
        del proxy
    assert wrapper.closed and released() is None
    assert "closed" in repr(wrapper)
    with pytest.raises(uactor.ProxyError, match="closed"):
        wrapper.ping()
    wrapper.close()  # idempotent
    assert resolver.calls == 0


def test_a_wrapper_cannot_be_pickled_but_its_proxy_can_be_sent():
    wrapper = registry.Reconnecting(FakeResolver(), name="svc", proxy=FakeProxy("p"))
    with pytest.raises(TypeError, match="wrapper.proxy"):
        pickle.dumps(wrapper)


def test_reconnect_error_survives_pickling():
    error = registry.ReconnectError("could not reconnect to 'svc'", name="svc", attempts=3,
                                    errors=((1, ConnectionRefusedError("no")),))
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.name, copy.attempts) == (str(error), "svc", 3)


def test_threads_that_lose_the_proxy_together_share_one_reconnection():
    entered, gate = threading.Event(), threading.Event()
    calls: list[str] = []

    def resolve() -> FakeProxy:
        calls.append(threading.current_thread().name)
        entered.set()
        gate.wait(BOUND)  # hold the reconnection until every caller is in
        return FakeProxy("fresh")

    wrapper = registry.Reconnecting(resolve, name="svc", policy=exact(),
                                    proxy=FakeProxy("lost", refused()))
    results: list[str] = []
    started = threading.Semaphore(0)

    def caller() -> None:
        started.release()
        results.append(wrapper.ping())

    threads = [threading.Thread(target=caller, name=f"caller-{i}") for i in range(8)]
    for thread in threads:
        thread.start()
    for _ in threads:
        assert started.acquire(timeout=BOUND)
    assert entered.wait(BOUND)
    gate.set()
    for thread in threads:
        thread.join(BOUND)
    assert not any(thread.is_alive() for thread in threads)
    assert results == ["fresh"] * 8
    assert len(calls) == 1


# --------------------------------------------------------------------------
# Real actors behind connect_actor(reconnect=...)
# --------------------------------------------------------------------------

@pytest.fixture
def reg():
    with start_registry() as proxy:
        yield proxy


@contextlib.contextmanager
def serving(reg, *, address=None, name="Service"):
    """A running Service registered under ``name``; yields its owner proxy."""
    options = None if address is None else {"address": address, "authkey": KEY}
    with uactor.start(Service, options=options) as owner, \
            registry.register_actor(reg, owner, name=name, ttl=5):
        yield owner


def kill(owner) -> None:
    """SIGKILL an actor's process and wait until its sockets are closed.

    The main thread of a killed process turns zombie before its other threads
    are gone and their sockets closed: wait for all of them, and for the
    port to refuse connections.
    """
    pid = owner.getpid()
    host, port = owner.connection_address
    os.kill(pid, signal.SIGKILL)

    def dead() -> bool:
        try:
            process = psutil.Process(pid)
            if process.status() != psutil.STATUS_ZOMBIE or process.num_threads() > 1:
                return False
        except psutil.NoSuchProcess:
            pass
        try:
            socket.create_connection((host, port), timeout=1).close()
        except ConnectionRefusedError:
            return True
        return False

    assert wait_until(dead, timeout=BOUND)


def test_next_call_reaches_the_actor_restarted_elsewhere(reg):
    with contextlib.ExitStack() as stack:
        first = stack.enter_context(serving(reg))
        wrapper = stack.enter_context(
            registry.connect_actor(reg, Service, KEY, reconnect=QUICK))
        assert isinstance(wrapper, registry.Reconnecting)
        assert wrapper.getpid() == first.getpid()
        assert uactor.typeid(wrapper.proxy) == "actor"
        old_address = wrapper.connection_address
        kill(first)
        second = stack.enter_context(serving(reg))
        assert second.connection_address != old_address
        assert wrapper.getpid() == second.getpid()  # no error: retried transparently
        assert wrapper.connection_address == second.connection_address
        assert wrapper.echo([1, 2]) == [1, 2]


def test_next_call_reaches_an_actor_restarted_at_the_same_address(reg):
    with contextlib.ExitStack() as stack:
        with serving(reg) as first:
            address = first.connection_address
            wrapper = stack.enter_context(
                registry.connect_actor(reg, Service, KEY, reconnect=QUICK))
            assert wrapper.getpid() == first.getpid()
            kill(first)
        # Unregistered and reaped: the port is free for the new actor.
        second = stack.enter_context(serving(reg, address=address))
        assert wrapper.getpid() == second.getpid()


def test_mid_call_death_is_raised_and_the_following_call_reconnects(reg):
    with contextlib.ExitStack() as stack:
        first = stack.enter_context(serving(reg))
        wrapper = stack.enter_context(
            registry.connect_actor(reg, Service, KEY, reconnect=QUICK))
        assert wrapper.getpid() == first.getpid()
        with pytest.raises(uactor.ActorDeadError):
            wrapper.die()
        second = stack.enter_context(serving(reg))
        assert wrapper.getpid() == second.getpid()


def test_a_timed_out_call_is_not_retried(reg):
    with serving(reg) as owner, \
            registry.connect_actor(reg, Service, KEY, reconnect=QUICK) as wrapper:
        with pytest.raises(uactor.CallTimeoutError), uactor.deadline(0.2):
            wrapper.nap(3)
        assert wrapper.naps() == 1  # reconnected (to the same actor): ran once
        assert owner.naps() == 1


def test_errors_raised_by_the_actor_are_not_reconnection_triggers(reg):
    with serving(reg), \
            registry.connect_actor(reg, Service, KEY, reconnect=QUICK) as wrapper:
        proxy = wrapper.proxy
        with pytest.raises(uactor.ActorConnectionError, match="actor's own code"):
            wrapper.refuse()
        assert wrapper.proxy is proxy


def test_no_actor_to_reconnect_to_gives_a_clear_error_within_the_policy(reg):
    policy = registry.ReconnectPolicy(attempts=3, initial_delay=0.01, deadline=BOUND)
    with serving(reg) as owner, \
            registry.connect_actor(reg, Service, KEY, reconnect=policy) as wrapper:
        assert wrapper.getpid() == owner.getpid()
        kill(owner)
        with pytest.raises(registry.ReconnectError) as caught:
            wrapper.getpid()
    error = caught.value
    assert error.name == "Service" and error.attempts == 3
    message = str(error)
    assert "could not reconnect to 'Service'" in message
    assert "NoActorAvailableError" in message and "3 attempts" in message
    assert isinstance(error.__cause__, registry.NoActorAvailableError)


def test_the_first_connection_fails_as_without_reconnect(reg):
    with pytest.raises(registry.UnknownNameError):
        registry.connect_actor(reg, Service, KEY, reconnect=True)
    with serving(reg) as owner:
        owner.shutdown()
        with pytest.raises(registry.NoActorAvailableError):
            registry.connect_actor(reg, Service, KEY, reconnect=True)
    with pytest.raises(registry.InvalidArgumentError, match="reconnect"):
        registry.connect_actor(reg, Service, KEY, reconnect="yes")  # type: ignore[call-overload]


def test_the_registry_is_reconnected_to_after_it_restarted():
    with contextlib.ExitStack() as stack:
        first_registry = stack.enter_context(start_registry())
        address = first_registry.connection_address
        first = stack.enter_context(serving(first_registry))
        wrapper = stack.enter_context(
            registry.connect_actor(address, Service, KEY, reconnect=QUICK))
        assert wrapper.getpid() == first.getpid()
        kill(first)
        first_registry.shutdown()
        second_registry = stack.enter_context(uactor.start(
            registry.Registry, options={"address": address, "authkey": KEY}))
        second = stack.enter_context(serving(second_registry))
        assert wrapper.getpid() == second.getpid()


def test_threads_calling_through_a_restart_all_reach_the_new_actor(reg):
    threads_count = 4
    with contextlib.ExitStack() as stack:
        first = stack.enter_context(serving(reg))
        wrapper = stack.enter_context(
            registry.connect_actor(reg, Service, KEY, reconnect=QUICK))
        old_pid = wrapper.getpid()
        new_pid = threading.Event()
        target: list[int] = []
        saw_old = threading.Semaphore(0)
        outcomes: dict[str, object] = {}

        def caller() -> None:
            name = threading.current_thread().name
            in_flight = 0
            announced = False
            stop_at = time.monotonic() + BOUND
            while time.monotonic() < stop_at:
                try:
                    pid = wrapper.getpid()
                except uactor.ActorDeadError:
                    in_flight += 1  # was on the wire when the actor died
                    continue
                except Exception as exc:
                    outcomes[name] = exc
                    return
                if pid == old_pid and not announced:
                    announced = True
                    saw_old.release()
                if new_pid.is_set() and target and pid == target[0]:
                    outcomes[name] = ("new", in_flight)
                    return
            outcomes[name] = "timed out"

        threads = [threading.Thread(target=caller, name=f"caller-{i}")
                   for i in range(threads_count)]
        for thread in threads:
            thread.start()
        try:
            for _ in threads:
                assert saw_old.acquire(timeout=BOUND)
            kill(first)
            second = stack.enter_context(serving(reg))
            target.append(second.getpid())
            new_pid.set()
        finally:
            new_pid.set()
            for thread in threads:
                thread.join(BOUND + 5)
        assert not any(thread.is_alive() for thread in threads)
        assert sorted(outcomes) == [f"caller-{i}" for i in range(threads_count)]
        for name, outcome in outcomes.items():
            assert isinstance(outcome, tuple) and outcome[0] == "new", (name, outcome)
            assert outcome[1] <= 1  # at most the call in flight at the kill


# --------------------------------------------------------------------------
# The same mechanism behind discovery.discover(reconnect=...)
# --------------------------------------------------------------------------

def test_discover_reconnects_to_the_actor_published_again_elsewhere(unique_name):
    discovery = pytest.importorskip("discovery")
    loopback = ["127.0.0.1"]
    with contextlib.ExitStack() as stack:
        first = stack.enter_context(uactor.start(Service))
        stack.enter_context(discovery.publish(first, name=unique_name, interfaces=loopback,
                                              authkey=KEY))
        wrapper = stack.enter_context(discovery.discover(
            Service, KEY, name=unique_name, interfaces=loopback, timeout=BOUND,
            reconnect=QUICK))
        assert isinstance(wrapper, registry.Reconnecting)
        assert wrapper.getpid() == first.getpid()
        kill(first)
        second = stack.enter_context(uactor.start(Service))
        stack.enter_context(discovery.publish(second, name=unique_name, interfaces=loopback,
                                              authkey=KEY))
        assert wrapper.getpid() == second.getpid()
    with pytest.raises(TypeError, match="reconnect"):
        discovery.discover(Service, KEY, name=unique_name, interfaces=loopback,
                           timeout=0.1, reconnect="yes")
