"""Client helpers: register_actor heartbeats and connect_actor failover."""
from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import threading
import time

import pytest

import registry
import uactor
from tests import servers
from tests.conftest import wait_until
from tests.registry.actors import (
    KEY,
    LocalActor,
    OtherWorker,
    SelfRegistering,
    Worker,
    reap_orphan,
    register_and_exit,
    serve_registered_worker,
    start_registry,
    unspecified_proxy,
)


@pytest.fixture
def reg():
    with start_registry() as proxy:
        yield proxy


@pytest.fixture
def worker():
    with Worker() as proxy:
        yield proxy


def free_port() -> int:
    """A port with nothing listening on it (right now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- register_actor -------------------------------------------------------------


def test_register_actor_records_name_bind_address_and_metadata(reg, worker):
    with registry.register_actor(reg, worker, ttl=5) as handle:
        assert handle.name == "Worker"
        assert handle.address == worker.connection_address
        assert handle.ttl == 5.0
        assert not handle.closed
        assert "Worker" in repr(handle) and "active" in repr(handle)
        (entry,) = reg.entries("Worker")
        assert entry.address == worker.connection_address
        assert entry.bind_address == worker.connection_address
        assert entry.pid == worker.getpid()
        assert entry.hostname == socket.gethostname()
        assert entry.ttl == 5.0
    assert handle.closed


def test_close_unregisters_at_once_and_is_idempotent(reg, worker):
    handle = registry.register_actor(reg, worker, ttl=60)
    assert reg.addresses("Worker") == [worker.connection_address]
    handle.close()
    assert reg.addresses("Worker") == []
    handle.close()
    assert "closed" in repr(handle)


def test_default_ttl_comes_from_the_registry(worker):
    with start_registry(default_ttl=2.5) as reg, \
            registry.register_actor(reg, worker) as handle:
        assert handle.ttl == 2.5
        assert reg.entries("Worker")[0].ttl == 2.5


def test_heartbeats_keep_the_entry_alive_beyond_its_ttl(reg, worker):
    with registry.register_actor(reg, worker, ttl=1.0):
        # 4 renewals, one every third of the lease, take at least 1.33 s.
        assert wait_until(lambda: reg.stats()["renewed"] >= 4, timeout=15)
        assert reg.pick("Worker") == worker.connection_address
    assert reg.addresses("Worker") == []


def test_heartbeat_re_registers_after_the_store_was_wiped(worker, unique_name):
    with servers.redis() as store, \
            start_registry(store=store.url, store_prefix=f"{unique_name}/",
                           sweep_interval=0.1) as reg, \
            registry.register_actor(reg, worker, ttl=0.6):
        assert reg.addresses("Worker") == [worker.connection_address]
        entries_key = f"{unique_name}/entries"
        client = store.client()
        try:
            client.flushdb()  # the lease and the entry are gone from the store
            assert not client.exists(entries_key)
            # The next heartbeat finds its lease unknown, opens another and
            # registers again: the store holds the entry again.
            host, port = worker.connection_address
            assert wait_until(lambda: client.hexists(entries_key, f"{host}:{port}"),
                              timeout=0.6 + 5)
        finally:
            client.close()
        # And the node's view, having read the wiped store again, agrees.
        assert wait_until(lambda: reg.stats()["leases"] == 1, timeout=5)
        assert reg.addresses("Worker") == [worker.connection_address]


def test_actors_of_one_process_share_one_lease_and_one_heartbeat(reg):
    workers = [Worker() for _ in range(3)]
    handles = []
    try:
        handles = [registry.register_actor(reg, w, ttl=0.6) for w in workers]
        assert reg.stats()["leases"] == 1
        beats = [t for t in threading.enumerate() if t.name.startswith("registry-heartbeat")]
        assert len(beats) == 1
        start = reg.stats()["renewed"]
        assert wait_until(lambda: reg.stats()["renewed"] >= start + 4, timeout=10)
        # One renewal message per heartbeat renews all three entries.
        assert sorted(reg.addresses("Worker")) == sorted(w.connection_address
                                                         for w in workers)
        (service,) = reg.snapshot()["services"]
        assert {a["owner_pid"] for a in service["actors"]} == {os.getpid()}
        handles[0].close()
        assert handles[0].closed and not handles[1].closed
        assert len(reg.addresses("Worker")) == 2 and reg.stats()["leases"] == 1
        with registry.register_actor(reg, workers[0], ttl=30):  # another TTL
            assert reg.stats()["leases"] == 2
        for handle in handles[1:]:
            handle.close()
        assert reg.stats()["leases"] == 0 and reg.addresses("Worker") == []
        assert wait_until(lambda: not [t for t in threading.enumerate()
                                       if t.name.startswith("registry-heartbeat")],
                          timeout=10)
        # A new registration opens a new lease and heartbeat.
        with registry.register_actor(reg, workers[1], ttl=0.6) as again:
            assert not again.closed and reg.stats()["leases"] == 1
    finally:
        for handle in handles:
            handle.close()
        for w in workers:
            w.shutdown()


def test_actor_shutdown_unregisters_without_waiting_for_the_ttl(reg):
    actor = Worker()
    handle = registry.register_actor(reg, actor, ttl=1.5)
    try:
        actor.shutdown()
        assert wait_until(lambda: handle.closed, timeout=10)
        # Unregistered by the helper, not expired: the lease had no time to
        # run out unnoticed, and the registry counts an unregistration.
        assert reg.addresses("Worker") == []
        assert reg.stats()["unregistered"] == 1
    finally:
        handle.close()
        actor.shutdown()


def test_register_by_registry_address_finds_the_authkey(reg, worker, key_home,
                                                       monkeypatch):
    with pytest.raises(registry.AuthkeyLookupError, match="UACTOR_AUTHKEY"):
        registry.register_actor(reg.connection_address, worker)
    with pytest.raises(uactor.AuthkeyError):
        registry.register_actor(reg.connection_address, worker, authkey=b"wrong")
    with pytest.raises(registry.InvalidArgumentError,
                       match=r"^authkey must be bytes, not str; pass it as b'...'$"):
        registry.register_actor(reg.connection_address, worker, authkey=KEY.decode())
    with registry.register_actor(reg.connection_address, worker, authkey=KEY,
                                 name="ByAddress", ttl=1):
        assert reg.addresses("ByAddress") == [worker.connection_address]
    assert reg.addresses("ByAddress") == []
    monkeypatch.setenv("UACTOR_AUTHKEY", KEY.decode())  # found by the lookup
    with registry.register_actor(reg.connection_address, worker, name="Found", ttl=1):
        assert reg.addresses("Found") == [worker.connection_address]


class _Name(str):
    """A str subclass: pickled by class, so the registry would refuse it."""


class _Pid(int):
    """An int subclass, likewise."""


def test_helpers_send_the_registry_plain_data_only(reg, worker):
    # The registry decodes plain data only (allowed_classes): subclasses of
    # str and int reach it only because the helpers normalize them first.
    with registry.register_actor(reg, worker, name=_Name("Plain"), pid=_Pid(7),
                                 ttl=5) as handle:
        entry = reg.pick_entry("Plain")
        assert (entry.name, entry.pid) == ("Plain", 7) and type(entry.pid) is int
        assert type(handle.name) is str
    with pytest.raises(uactor.DisallowedClassError):  # sent as is: refused
        reg.pick(_Name("Plain"))


def test_register_actor_rejects_bad_input(reg, worker):
    with LocalActor() as local, \
            pytest.raises(registry.InvalidAddressError, match="TCP"):
        registry.register_actor(reg, local)
    with pytest.raises(registry.InvalidArgumentError, match="connection_address"):
        registry.register_actor(reg, object())
    with pytest.raises(registry.InvalidValueError, match="ttl"):
        registry.register_actor(reg, worker, ttl=-1)
    with pytest.raises(registry.InvalidArgumentError, match="registry"):
        registry.register_actor("127.0.0.1:5000", worker, authkey=KEY)
    assert reg.names() == []


def test_unspecified_bind_host_is_translated_and_captured(reg, worker):
    port = worker.connection_address[1]
    claimed = unspecified_proxy(port)
    with registry.register_actor(reg, claimed, name="Worker", ttl=5) as handle:
        assert handle.address == ("127.0.0.1", port)
        assert handle.bind_address == ("0.0.0.0", port)
        entry = reg.pick_entry("Worker")
        assert (entry.address, entry.bind_address) == (("127.0.0.1", port),
                                                       ("0.0.0.0", port))
        with registry.connect_actor(reg, Worker, KEY) as connected:
            assert connected.getpid() == worker.getpid()


def test_advertise_host_overrides_the_translation(reg, worker):
    claimed = unspecified_proxy(worker.connection_address[1])
    with registry.register_actor(reg, claimed, name="W", advertise_host="localhost",
                                 ttl=5) as handle:
        assert handle.address == ("localhost", worker.connection_address[1])


def test_local_address_towards():
    assert registry.local_address_towards("127.0.0.1") == "127.0.0.1"
    assert registry.local_address_towards("0.0.0.0") == "127.0.0.1"
    assert registry.local_address_towards("::") == "::1"


def test_local_address_towards_an_unresolvable_host(monkeypatch):
    def unresolvable(*args, **kwargs):  # no DNS query may leave this machine
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", unresolvable)
    with pytest.raises(registry.InvalidAddressError, match="resolve"):
        registry.local_address_towards("registry.example")


def test_process_exit_unregisters_at_once(reg, worker):
    ctx = multiprocessing.get_context("fork")
    process = ctx.Process(target=register_and_exit,
                          args=(reg.connection_address, worker.connection_address, 60))
    process.start()
    process.join(30)
    assert process.exitcode == 0
    # A 60 s lease: only the exit-time unregistration can explain its absence.
    assert reg.stats()["registered"] == 1
    assert reg.addresses("Exiting") == []


# -- liveness ---------------------------------------------------------------------


def test_sigkilled_actor_is_not_picked_after_ttl_plus_one_second(reg):
    ttl = 1.0
    ctx = multiprocessing.get_context("fork")
    ready = ctx.Queue()
    process = ctx.Process(target=serve_registered_worker,
                          args=(reg.connection_address, ttl, ready))
    process.start()
    worker_pid = None
    try:
        address, worker_pid = ready.get(timeout=30)
        assert reg.pick("Worker") == address
        os.kill(process.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        process.join(10)

        def forgotten():
            return all(reg.pick("Worker") != address for _ in range(3))

        assert wait_until(forgotten, timeout=ttl + 1.0)
        assert time.monotonic() - killed_at <= ttl + 1.5  # bounded, not a speed test
        assert reg.addresses("Worker") == []
    finally:
        if process.is_alive():
            process.kill()
            process.join(10)
        ready.close()
        ready.join_thread()
        reap_orphan(worker_pid)


# -- connect_actor -----------------------------------------------------------------


def test_connect_actor_returns_a_connected_proxy(reg, worker):
    with registry.register_actor(reg, worker, ttl=5):
        with registry.connect_actor(reg, Worker, KEY, timeout=10) as proxy:
            assert proxy.getpid() == worker.getpid()
        with registry.connect_actor(reg.connection_address, Worker, KEY) as proxy:
            assert proxy.getpid() == worker.getpid()


def test_connect_actor_proxies_can_be_awaited(reg, worker):
    import asyncio

    async def main(proxy):
        return await asyncio.gather(*[uactor.call_async(proxy.getpid) for _ in range(20)])

    with registry.register_actor(reg, worker, ttl=5), \
            registry.connect_actor(reg, Worker, KEY, timeout=10) as proxy:
        assert asyncio.run(main(proxy)) == [worker.getpid()] * 20


def test_connect_actor_finds_the_authkey(reg, worker, key_home, monkeypatch):
    with registry.register_actor(reg, worker, ttl=5):
        with pytest.raises(registry.AuthkeyLookupError, match=str(key_home)):
            registry.connect_actor(reg.connection_address, Worker)
        for name in ("authkey", "registry_authkey"):
            with pytest.raises(registry.InvalidArgumentError,
                               match=rf"^{name} must be bytes, not str; pass it as b'\.\.\.'$"):
                registry.connect_actor(reg.connection_address, Worker, **{name: "key"})
        key_home.parent.mkdir(mode=0o700)
        key_home.write_bytes(KEY + b"\n")
        key_home.chmod(0o600)
        with registry.connect_actor(reg.connection_address, Worker, timeout=10) as proxy:
            assert proxy.getpid() == worker.getpid()


def test_connect_actor_skips_dead_entries(reg, worker):
    dead = [("127.0.0.1", free_port()) for _ in range(2)]
    reg.register(dead[0], name="Worker")
    with registry.register_actor(reg, worker, ttl=5):
        reg.register(dead[1], name="Worker")
        for _ in range(3):  # whatever the rotation's position
            with registry.connect_actor(reg, Worker, KEY) as proxy:
                assert proxy.getpid() == worker.getpid()


def test_connect_actor_errors(reg, worker):
    with pytest.raises(registry.UnknownNameError):
        registry.connect_actor(reg, Worker, KEY)
    dead = [("127.0.0.1", free_port()) for _ in range(2)]
    token = reg.register(*dead, name="Worker")
    with pytest.raises(registry.NoActorAvailableError) as info:
        registry.connect_actor(reg, Worker, KEY)
    assert isinstance(info.value, ConnectionError)
    assert all(f"127.0.0.1:{port}" in str(info.value) for _, port in dead)
    reg.unregister(*reg.addresses("Worker"), lease=token)
    with pytest.raises(registry.NoActorAvailableError, match="no 'Worker' actor"):
        registry.connect_actor(reg, Worker, KEY)
    with registry.register_actor(reg, worker, ttl=5), \
            pytest.raises(uactor.AuthkeyError):
        registry.connect_actor(reg, Worker, b"wrong key")
    with pytest.raises(registry.InvalidArgumentError):
        registry.connect_actor(reg, object, KEY)


def test_connect_actor_only_returns_the_requested_class(reg, worker):
    with OtherWorker() as other, \
            registry.register_actor(reg, other, ttl=5), \
            registry.register_actor(reg, worker, ttl=5):
        assert reg.names() == ["OtherWorker", "Worker"]
        for _ in range(3):
            with registry.connect_actor(reg, OtherWorker, KEY) as proxy:
                assert proxy.getpid() == other.getpid()


def test_an_actor_can_register_itself(reg):
    actor = SelfRegistering(reg.connection_address)
    try:
        (entry,) = reg.entries("SelfRegistering")
        assert entry.address == actor.connection_address
        assert entry.pid == actor.getpid()
        with registry.connect_actor(reg, SelfRegistering, KEY) as proxy:
            assert proxy.getpid() == entry.pid
    finally:
        actor.shutdown()
    # Its _actor_stopping_ closed the registration: gone at once (30 s lease).
    assert reg.addresses("SelfRegistering") == []

