"""The registry's stores failing under load, with real servers.

* A three-member etcd cluster loses its leader (``kill -9``) during a stream
  of registrations, renewals and picks: no live entry disappears, picks go
  on (from the node's view) and writes resume, and no pick hands out an
  entry unregistered before it.
* Redis with a replica and three sentinels loses its master (``kill -9``):
  once the sentinels promoted the replica, every live actor is pickable
  again within a heartbeat period or so (the owners' heartbeats register
  again whatever the new master lacks).
* The store's keys are wiped outright: the same healing, on etcd and Redis.
* The store is stopped and started again: ``/readyz`` of a node turns 503,
  naming the store, and 200 again by itself.

How long each recovery takes is measured in ``bench/`` (group
``registry-failover``); the bounds here are generous, for loaded machines.
"""
from __future__ import annotations

import base64
import contextlib
import threading
import time
import urllib.error
import urllib.request

import pytest

import registry
from tests import servers
from tests.conftest import wait_until
from tests.registry.actors import KEY, Worker, listed, start_registry
from tests.registry.nodes import running_node

pytestmark = [pytest.mark.slow]

#: Lease of the test owners (s): a heartbeat every second.
TTL = 3.0

#: Longest a recovery may take here (s): the bench measures the real figure.
RECOVERY = 10.0


@pytest.fixture
def prefix(unique_name) -> str:
    return f"{unique_name}/"


# --------------------------------------------------------------------------
# etcd: the leader killed during a stream of operations
# --------------------------------------------------------------------------

class Stream:
    """Registrations, renewals and picks on one registry node, from threads,
    with what each saw and when (``time.monotonic()``)."""

    LEASES, PER_LEASE = 10, 5

    def __init__(self, reg) -> None:
        self.reg = reg
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.live = set()  # addresses renewed throughout: must never go
        self.unregistered = {}  # address -> when its unregister returned
        self.picks = []  # (started, finished, address)
        self.writes = []  # when each churn registration succeeded
        self.lost_leases = []  # renewals told the lease is gone
        self.missing = []  # (when, live addresses not listed)
        self.leases = []
        for index in range(self.LEASES):
            lease = reg.open_lease(TTL)
            addresses = [("10.5.0.1", 1000 + index * self.PER_LEASE + n)
                         for n in range(self.PER_LEASE)]
            reg.register(*addresses, name="W", lease=lease)
            self.leases.append(lease)
            self.live.update(addresses)
        self.threads = [threading.Thread(target=target, daemon=True)
                        for target in (self._renew, self._churn, self._pick,
                                       self._sample)]

    def __enter__(self) -> Stream:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(RECOVERY + 10)
        assert not any(thread.is_alive() for thread in self.threads)

    def _renew(self) -> None:
        while not self.stop.wait(0.2):
            for lease in self.leases:
                try:
                    self.reg.renew(lease)
                except registry.UnknownLeaseError:
                    self.lost_leases.append(time.monotonic())
                except registry.StoreUnavailableError:
                    pass  # the store is electing a leader: the next round

    def _churn(self) -> None:
        lease = self.reg.open_lease(30)
        port = 1
        while not self.stop.is_set():
            address = ("10.6.0.1", port)
            try:
                self.reg.register_entry(address, lease=lease, name="W")
                self.writes.append(time.monotonic())
                self.reg.unregister(address, lease=lease)
                self.unregistered[address] = time.monotonic()
                port += 1
            except registry.StoreUnavailableError:
                self.stop.wait(0.05)

    def _pick(self) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            picked = self.reg.pick("W")
            self.picks.append((started, time.monotonic(), picked))

    def _sample(self) -> None:
        while not self.stop.wait(0.1):
            listed = set(self.reg.addresses("W"))
            if not self.live <= listed:
                self.missing.append((time.monotonic(), self.live - listed))

    def dead_picks(self) -> list:
        """Picks of an entry whose unregistration had returned before the pick."""
        return [(started, picked) for started, _, picked in self.picks
                if picked in self.unregistered and self.unregistered[picked] < started]

    def longest_pick_gap(self, since: float) -> float:
        """Longest time without an answered pick after ``since`` (s)."""
        answered = sorted(finished for _, finished, _ in self.picks if finished >= since)
        gaps = [later - earlier for earlier, later in zip([since, *answered], answered)]
        return max(gaps, default=float("inf"))


@pytest.mark.timeout(180)
def test_etcd_leader_killed_during_registrations_renewals_and_picks(prefix):
    with servers.etcd_cluster(3) as cluster, \
            start_registry(store=cluster.url, store_prefix=prefix,
                           store_timeout=2) as reg:
        with Stream(reg) as stream:
            assert wait_until(lambda: len(stream.writes) > 20, timeout=RECOVERY)
            leader = cluster.leader()
            leader.kill9()
            killed = time.monotonic()
            assert wait_until(lambda: any(when > killed for when in stream.writes),
                              timeout=RECOVERY), "registrations never resumed"
            # Run on past a whole TTL: a lease lost to the failover would show.
            assert wait_until(lambda: time.monotonic() - killed > TTL + 1,
                              timeout=TTL + 5, interval=0.1)
        assert stream.lost_leases == []
        assert stream.missing == []  # no live entry ever left the listing
        assert stream.dead_picks() == []
        assert stream.longest_pick_gap(killed) < 2.0  # picks never stopped
        assert set(reg.addresses("W")) == stream.live
        survivors = [member for member in cluster.members if member.running()]
        assert len(survivors) == 2 and leader not in survivors
        assert reg.stats()["store_reachable"]


# --------------------------------------------------------------------------
# Redis Sentinel: the master killed; keys wiped
# --------------------------------------------------------------------------

@contextlib.contextmanager
def registered_workers(reg, count: int = 3):
    """``count`` Workers registered with ``reg`` by this process (one lease)."""
    with contextlib.ExitStack() as stack:
        workers = [stack.enter_context(Worker()) for _ in range(count)]
        handles = [stack.enter_context(registry.register_actor(reg, worker, ttl=TTL))
                   for worker in workers]
        yield {tuple(handle.address) for handle in handles}


@pytest.mark.timeout(180)
def test_redis_master_killed_every_live_actor_is_pickable_again_after_failover(prefix):
    pytest.importorskip("redis")
    with servers.redis_sentinel() as sentinel, \
            start_registry(store=sentinel.url, store_prefix=prefix,
                           sweep_interval=0.2) as reg, \
            registered_workers(reg) as workers:
        assert set(listed(reg, "Worker")) == workers
        old_master = sentinel.master_port()
        sentinel.master.kill9()
        # Sentinel's own election: a few seconds, more when an attempt fails
        # and is retried (after twice its failover-timeout, tests/servers.py).
        assert wait_until(lambda: sentinel.master_port() != old_master,
                          timeout=60, interval=0.1), "the sentinels never failed over"
        promoted = time.monotonic()
        assert wait_until(lambda: reg.stats()["store_reachable"]
                          and set(listed(reg, "Worker")) == workers, timeout=RECOVERY)
        healed = time.monotonic() - promoted
        assert healed < TTL + 2, healed  # a heartbeat period or so, not a TTL's wait
        with registry.connect_actor(reg, Worker, KEY, timeout=5) as worker:
            assert worker.getpid()


def _wipe(kind: str, url: str, prefix: str) -> None:
    port = registry._store.parse_store_url(url).hosts[0][1]
    if kind == "etcd":
        start = base64.b64encode(prefix.encode()).decode()
        end = base64.b64encode(prefix[:-1].encode() + bytes([ord(prefix[-1]) + 1])).decode()
        servers.etcd_request(port, "/v3/kv/deleterange", {"key": start, "range_end": end})
        return
    import redis as redis_py

    client = redis_py.Redis(host="127.0.0.1", port=port)
    try:
        keys = client.keys(f"{prefix}*")
        assert keys
        client.delete(*keys)
    finally:
        client.close()


@contextlib.contextmanager
def _store(kind: str):
    if kind == "etcd":
        with servers.etcd() as cluster:
            yield cluster.url
    else:
        pytest.importorskip("redis")
        with servers.redis() as server:
            yield server.url


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", ["etcd", "redis"])
def test_the_store_s_keys_wiped_outright_heal_within_a_heartbeat_period(kind, prefix):
    with _store(kind) as url, \
            start_registry(store=url, store_prefix=prefix, sweep_interval=0.2) as reg, \
            registered_workers(reg) as workers:
        assert set(listed(reg, "Worker")) == workers
        registered = reg.stats()["registered"]
        _wipe(kind, url, prefix)
        wiped = time.monotonic()
        # The node notices (etcd's watch; Redis: the registry's epoch key went).
        assert wait_until(lambda: reg.stats()["leases"] != 1
                          or reg.stats()["registered"] > registered, timeout=RECOVERY)
        # The owner's next heartbeat registers all of them again, under a new lease.
        assert wait_until(lambda: reg.stats()["registered"] == registered + len(workers)
                          and set(listed(reg, "Worker")) == workers
                          and reg.stats()["leases"] == 1, timeout=RECOVERY)
        healed = time.monotonic() - wiped
        assert healed < TTL + 2, healed  # a heartbeat period or so


# --------------------------------------------------------------------------
# /readyz follows the store
# --------------------------------------------------------------------------

def _readyz(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url + "readyz", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read().decode()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", ["etcd", "redis"])
def test_readyz_turns_503_while_the_store_is_away_and_200_when_it_returns(kind, prefix):
    with servers.restartable(kind) as (url, server), \
            running_node("--http", "0", "--store", url, "--store-prefix", prefix) as node:
        assert _readyz(node.url) == (200, "ready\n")
        server.stop()
        assert wait_until(lambda: _readyz(node.url)[0] == 503, timeout=RECOVERY)
        status, reason = _readyz(node.url)
        assert f"store {url} unreachable for " in reason and reason.count("\n") == 1
        server.start()
        assert wait_until(lambda: _readyz(node.url) == (200, "ready\n"),
                          timeout=RECOVERY + 10)
