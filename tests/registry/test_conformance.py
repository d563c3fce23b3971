"""One conformance suite for every store: a Registry actor over memory, etcd and
Redis (real servers), through real proxies.

Register, renew, unregister, expiry, names, fair rotation, metadata,
ownership refusals and bad input behave the same whatever the store.  Time
bounds are generous where a store's own clock decides (etcd ends leases in
whole seconds, about every half second).
"""
from __future__ import annotations

import collections
import json
import os
import socket

import pytest

import registry
from tests.conftest import wait_until
from tests.registry.actors import KEY

#: Longest a store may take to end an expired lease after its TTL (s).
EXPIRY_SLACK = 3.0


def lasting(entries):
    """Entries without ``expires_in`` (which changes as time passes)."""
    return [entry._replace(expires_in=None) for entry in entries]


def other_client(reg):
    """A second key holder: its own connection to the same registry."""
    return registry.Registry.connect(reg.connection_address, KEY, timeout=10)


# -- the spec's calls --------------------------------------------------------------


def test_spec_register_then_pick_round_robin(reg):
    assert reg.pick() is None
    token = reg.register(("10.1.0.1", 7001), ("10.1.0.2", 7002))
    assert isinstance(token, str) and len(token) >= 22
    assert [reg.pick() for _ in range(3)] == [("10.1.0.1", 7001), ("10.1.0.2", 7002),
                                              ("10.1.0.1", 7001)]
    assert reg.entries()[0].ttl is None  # the spec's entries never expire


def test_fairness_over_many_picks(reg):
    addresses = [("10.1.0.1", port) for port in range(2000, 2010)]
    token = reg.register(*addresses)
    assert reg.register(*addresses[:5], lease=token) == token  # renewals
    k = 20
    counts = collections.Counter(reg.pick() for _ in range(k * len(addresses)))
    assert counts == {address: k for address in addresses}


def test_a_renewed_address_keeps_its_turn(reg):
    token = reg.register(("10.1.0.1", 1), ("10.1.0.2", 2), ("10.1.0.3", 3))
    assert reg.pick() == ("10.1.0.1", 1)
    reg.register(("10.1.0.3", 3), ("10.1.0.2", 2), lease=token)
    assert [reg.pick() for _ in range(3)] == [("10.1.0.2", 2), ("10.1.0.3", 3),
                                              ("10.1.0.1", 1)]


# -- names, listings and metadata --------------------------------------------------


def test_name_groups_listings_and_metadata(reg):
    workers = reg.register(("10.1.0.1", 1), ("10.1.0.2", 2), name="Worker", ttl=30)
    lease = reg.open_lease(30, pid=4321, hostname="owner-host")
    entry = reg.register_entry(("10.1.0.3", 3), lease=lease, name="Storage",
                               bind_address=("0.0.0.0", 3), pid=1234, hostname="node-a")
    assert isinstance(entry, registry.Entry)
    assert (entry.address, entry.bind_address, entry.name) == (("10.1.0.3", 3),
                                                               ("0.0.0.0", 3), "Storage")
    reg.register(("10.1.0.4", 4))
    assert reg.names() == ["Storage", "Worker", "default"]
    assert {reg.pick("Worker") for _ in range(4)} == {("10.1.0.1", 1), ("10.1.0.2", 2)}
    picked = reg.pick_entry("Storage")
    assert (picked.bind_address, picked.pid, picked.hostname, picked.ttl) == (
        ("0.0.0.0", 3), 1234, "node-a", 30.0)
    assert 0 < picked.expires_in <= 30
    assert sorted(reg.addresses()) == [("10.1.0.1", 1), ("10.1.0.2", 2),
                                       ("10.1.0.3", 3), ("10.1.0.4", 4)]
    assert [e.name for e in reg.entries("Storage")] == ["Storage"]
    assert reg.unregister(("10.1.0.1", 1), ("10.9.9.9", 9), lease=workers) == 1
    assert reg.addresses("Worker") == [("10.1.0.2", 2)]
    (storage,) = [s for s in reg.snapshot()["services"] if s["name"] == "Storage"]
    (actor,) = storage["actors"]
    assert (actor["owner_pid"], actor["owner_host"]) == (4321, "owner-host")
    assert actor["metadata"] == {"bind_address": "0.0.0.0:3", "pid": 1234,
                                 "hostname": "node-a", "ttl": 30.0}


def test_the_owner_moves_an_entry_to_another_name(reg):
    lease = reg.open_lease(30)
    reg.register_entry(("10.1.0.1", 1), lease=lease, name="A")
    reg.register_entry(("10.1.0.1", 1), lease=lease, name="B")
    assert reg.names() == ["B"]
    assert reg.addresses("B") == [("10.1.0.1", 1)]
    assert reg.pick("A") is None  # recently emptied: known, but empty


def test_unknown_names_are_clear_errors_and_emptied_names_are_forgotten(reg):
    token = reg.register(("10.1.0.1", 1), name="Worker")
    with pytest.raises(registry.UnknownNameError) as info:
        reg.pick("Wroker")
    assert isinstance(info.value, KeyError)
    assert "'Wroker'" in str(info.value) and "'Worker'" in str(info.value)
    with pytest.raises(registry.UnknownNameError):
        reg.addresses("nope")
    reg.unregister(("10.1.0.1", 1), lease=token)
    assert reg.names() == []
    assert reg.stats()["names"] == 1  # only the default group is still held
    assert reg.pick("Worker") is None


# -- leases: renew, expiry, close --------------------------------------------------


def test_expired_entries_are_never_picked(reg):
    short = reg.open_lease(1.0)
    for port in (1, 2, 3):
        reg.register_entry(("10.1.0.1", port), lease=short, name="W")
    reg.register(("10.1.0.9", 9), name="W")
    assert wait_until(lambda: reg.addresses("W") == [("10.1.0.9", 9)],
                      timeout=1.0 + EXPIRY_SLACK)
    assert {reg.pick("W") for _ in range(5)} == {("10.1.0.9", 9)}
    with pytest.raises(registry.UnknownLeaseError):
        reg.renew(short)
    assert wait_until(lambda: reg.stats()["expired"] == 3, timeout=5)


def test_renewing_a_lease_keeps_all_its_entries_beyond_the_ttl(reg):
    lease = reg.open_lease(1.0)
    for port in range(1, 6):
        reg.register_entry(("10.1.0.1", port), lease=lease, name="W")
    renewals = 0

    def renewed_past_three_ttls():
        nonlocal renewals
        assert reg.renew(lease) == 5
        renewals += 1
        return renewals >= 10

    assert wait_until(renewed_past_three_ttls, timeout=20, interval=0.3)
    assert len(reg.addresses("W")) == 5
    assert reg.stats()["renewed"] >= 10


def test_an_unknown_lease_cannot_be_renewed_or_used(reg):
    stranger = "A" * 32  # well formed, never issued
    with pytest.raises(registry.UnknownLeaseError) as info:
        reg.renew(stranger)
    assert stranger not in str(info.value)
    with pytest.raises(registry.UnknownLeaseError):
        reg.register_entry(("10.1.0.1", 1), lease=stranger)
    assert reg.close_lease(stranger) == 0
    assert reg.names() == []


def test_closing_a_lease_unregisters_all_its_entries(reg):
    lease = reg.open_lease(30)
    for port in range(1, 4):
        reg.register_entry(("10.1.0.1", port), lease=lease, name="W")
    keep = reg.register(("10.1.0.9", 9), name="W")
    assert reg.close_lease(lease) == 3
    assert reg.addresses("W") == [("10.1.0.9", 9)]
    with pytest.raises(registry.UnknownLeaseError):
        reg.renew(lease)
    assert reg.stats()["unregistered"] == 3
    assert reg.renew(keep) == 1


def test_large_registrations_and_closes_span_several_store_batches(reg):
    addresses = [("10.2.0.1", port) for port in range(1, 251)]
    token = reg.register(*addresses, name="Many", ttl=30)
    assert sorted(reg.addresses("Many")) == addresses
    assert reg.stats()["registered"] == 250
    assert reg.close_lease(token) == 250
    assert reg.names() == [] and reg.stats()["entries"] == 0


def test_a_lease_without_ttl_ends_with_its_last_entry(reg):
    token = reg.register(("10.1.0.1", 1), ("10.1.0.2", 2))
    assert reg.unregister(("10.1.0.1", 1), lease=token) == 1
    assert reg.renew(token) == 1
    assert reg.unregister(("10.1.0.2", 2), lease=token) == 1
    with pytest.raises(registry.UnknownLeaseError):
        reg.renew(token)
    assert reg.stats()["leases"] == 0


def test_joining_a_lease_must_not_change_its_ttl(reg):
    token = reg.register(("10.1.0.1", 1), ttl=30)
    with pytest.raises(registry.InvalidArgumentError, match="TTL"):
        reg.register(("10.1.0.2", 2), lease=token, ttl=5)
    assert reg.addresses() == [("10.1.0.1", 1)]
    assert reg.register(("10.1.0.2", 2), lease=token, ttl=30) == token


def test_an_expired_address_can_be_registered_by_someone_else(reg):
    first = reg.open_lease(1.0)
    reg.register_entry(("10.1.0.1", 1), lease=first, name="W")
    second = reg.open_lease(30)
    with other_client(reg) as other:
        def taken_over():
            try:
                other.register_entry(("10.1.0.1", 1), lease=second, name="W")
            except registry.NotOwnerError:
                return False  # the store has not ended the first lease yet
            return True

        assert wait_until(taken_over, timeout=1.0 + EXPIRY_SLACK, interval=0.1)
    assert reg.unregister(("10.1.0.1", 1), lease=second) == 1


# -- ownership -----------------------------------------------------------------------


def test_another_key_holder_cannot_touch_someone_elses_entries(reg):
    owner = reg.open_lease(30, pid=os.getpid(), hostname=socket.gethostname())
    reg.register_entry(("10.1.0.1", 1), lease=owner, name="Worker", pid=11)
    spec_token = reg.register(("10.1.0.2", 2))
    before = lasting(reg.entries())
    with other_client(reg) as other:
        intruder = other.open_lease(30)
        attempts = [
            lambda: other.unregister(("10.1.0.1", 1)),
            lambda: other.unregister(("10.1.0.1", 1), lease=intruder),
            lambda: other.unregister(("10.1.0.2", 2), lease=intruder),
            lambda: other.register_entry(("10.1.0.1", 1), lease=intruder, name="Evil"),
            lambda: other.register_entry(("10.1.0.1", 1), lease=intruder,
                                         name="Worker", pid=666),
            lambda: other.register(("10.1.0.1", 1), name="Evil", ttl=0.1),
            lambda: other.register(("10.1.0.2", 2)),
            lambda: other.register(("10.1.0.2", 2), lease=intruder),
            # Refused as a whole: the intruder's own address is not added either.
            lambda: other.register(("10.1.0.7", 7), ("10.1.0.1", 1), lease=intruder),
        ]
        for attempt in attempts:
            with pytest.raises(registry.NotOwnerError) as info:
                attempt()
            assert isinstance(info.value, PermissionError)
            assert "another lease" in str(info.value)
        assert other.renew(intruder) == 0
    assert lasting(reg.entries()) == before
    assert reg.pick_entry("Worker").pid == 11
    assert reg.renew(owner) == 1 and reg.renew(spec_token) == 1
    (worker,) = [s for s in reg.snapshot()["services"] if s["name"] == "Worker"]
    assert worker["actors"][0]["owner_pid"] == os.getpid()


# -- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize("call, error", [
    (lambda r, t: r.register("127.0.0.1:5000"), registry.InvalidArgumentError),
    (lambda r, t: r.register(("127.0.0.1", "5000")), registry.InvalidArgumentError),
    (lambda r, t: r.register(("127.0.0.1", 0)), registry.InvalidAddressError),
    (lambda r, t: r.register(("10.1.0.9", 9), ("bad", -1)), registry.InvalidAddressError),
    (lambda r, t: r.register(("10.1.0.9", 9), ttl="long"), registry.InvalidArgumentError),
    (lambda r, t: r.register(("10.1.0.9", 9), name=7), registry.InvalidArgumentError),
    (lambda r, t: r.register_entry(("10.1.0.9", 9), lease=t, pid="x"),
     registry.InvalidArgumentError),
    (lambda r, t: r.register_entry(("10.1.0.9", 9), lease="not a token"),
     registry.InvalidValueError),
    (lambda r, t: r.register_entry(("10.1.0.9", 9), lease=None),
     registry.InvalidArgumentError),
    (lambda r, t: r.unregister(("10.1.0.1", 1), 42, lease=t),
     registry.InvalidArgumentError),
    (lambda r, t: r.open_lease(-1), registry.InvalidValueError),
    (lambda r, t: r.renew(b"bytes"), registry.InvalidArgumentError),
])
def test_bad_input_raises_and_leaves_the_registry_intact(reg, call, error):
    token = reg.register(("10.1.0.1", 1), ("10.1.0.2", 2))
    before = reg.entries()
    with pytest.raises(error):
        call(reg, token)
    assert reg.entries() == before
    assert reg.pick() in {("10.1.0.1", 1), ("10.1.0.2", 2)}


# -- monitoring ------------------------------------------------------------------------


def test_stats_and_snapshot_are_plain_data(reg, store_kind):
    token = reg.register(("10.1.0.1", 1), name="W", ttl=30)
    reg.pick("W")
    stats = reg.stats()
    assert stats["store"].startswith(f"{store_kind}://")
    assert stats["store_reachable"] is True and stats["store_stale_for"] == 0.0
    assert (stats["entries"], stats["leases"], stats["registered"], stats["picks"]) == (
        1, 1, 1, 1)
    snapshot = reg.snapshot()
    assert json.loads(json.dumps(snapshot)) == snapshot  # plain data only
    node = snapshot["node"]
    host, port = reg.connection_address
    assert node["address"] == f"{host}:{port}"
    assert isinstance(node["pid"], int) and node["started"] > 0
    assert node["store"]["url"] == stats["store"] and node["store"]["reachable"]
    totals = snapshot["totals"]
    assert (totals["services"], totals["actors"], totals["registered_total"],
            totals["picks_total"]) == (1, 1, 1, 1)
    for name in ("renewed_total", "unregistered_total", "expired_total"):
        assert totals[name] == 0
    (service,) = snapshot["services"]
    (actor,) = service["actors"]
    assert (service["name"], actor["address"], actor["picks"]) == ("W", "10.1.0.1:1", 1)
    assert 0 < actor["lease_left"] <= 30 and actor["lease_age"] >= 0
    latency = snapshot["store_latency"]
    assert latency["count"] >= 2 and latency["buckets"][-1][1] <= latency["count"]
    counts = [count for _, count in latency["buckets"]]
    assert counts == sorted(counts)
    assert token not in json.dumps(snapshot) and token not in json.dumps(stats)
