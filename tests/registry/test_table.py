"""The registry's data structure, in-process: rotation, groups, expiry, validation."""
from __future__ import annotations

import collections

import pytest

import registry
from registry._table import MAX_TTL, Table


class FakeClock:
    """A clock the test advances by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def addresses(count: int, host: str = "10.0.0.1") -> list[tuple[str, int]]:
    return [(host, 1000 + i) for i in range(count)]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def table(clock: FakeClock) -> Table:
    return Table(clock)


def picks(table: Table, count: int, name: str = registry.DEFAULT_NAME) -> list:
    return [table.pick(name).address for _ in range(count)]


# -- fairness -------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 7, 100])
def test_each_address_comes_back_exactly_k_times_in_k_n_picks(table, n):
    for address in addresses(n):
        table.add(address)
    k = 13
    counts = collections.Counter(picks(table, k * n))
    assert counts == {address: k for address in addresses(n)}


def test_rotation_is_round_robin_in_registration_order(table):
    for address in addresses(3):
        table.add(address)
    assert picks(table, 6) == addresses(3) * 2


def test_re_registering_neither_resets_nor_skews_rotation(table):
    for address in addresses(4):
        table.add(address)
    first = picks(table, 2)
    assert first == addresses(4)[:2]
    # Renew every address, in an unrelated order, between picks.
    for address in reversed(addresses(4)):
        created = table.add(address)[1]
        assert not created
    assert picks(table, 6) == addresses(4)[2:] + addresses(4)
    # And over whole rounds with renewals in between, still exactly k each.
    counts: collections.Counter = collections.Counter()
    for _ in range(10):
        counts.update(picks(table, 4))
        for address in addresses(4):
            table.add(address)
    assert counts == {address: 10 for address in addresses(4)}


def test_new_address_waits_its_turn(table):
    for address in addresses(3):
        table.add(address)
    assert picks(table, 1) == [addresses(3)[0]]
    table.add(("10.0.0.9", 9))
    # It joins the end of the queue: after everyone already waiting.
    assert picks(table, 4) == [addresses(3)[1], addresses(3)[2], addresses(3)[0],
                               ("10.0.0.9", 9)]


def test_unregister_keeps_rotation_of_the_others(table):
    for address in addresses(4):
        table.add(address)
    picks(table, 1)
    assert table.remove(addresses(4)[2]) is not None
    assert table.remove(addresses(4)[2]) is None  # idempotent
    assert picks(table, 6) == [addresses(4)[1], addresses(4)[3], addresses(4)[0]] * 2


def test_pick_on_empty_returns_none(table):
    assert table.pick() is None
    table.add(("10.0.0.1", 1))
    table.remove(("10.0.0.1", 1))
    assert table.pick() is None


# -- name groups ----------------------------------------------------------------


def test_names_group_entries(table):
    table.add(("10.0.0.1", 1), name="Worker")
    table.add(("10.0.0.2", 2), name="Worker")
    table.add(("10.0.0.3", 3), name="Storage")
    table.add(("10.0.0.4", 4))
    assert table.names() == ["Storage", "Worker", "default"]
    assert {table.pick("Worker").address for _ in range(4)} == {("10.0.0.1", 1),
                                                               ("10.0.0.2", 2)}
    assert table.pick("Storage").address == ("10.0.0.3", 3)
    assert table.pick().address == ("10.0.0.4", 4)
    assert [e.address for e in table.entries("Worker")] == [("10.0.0.1", 1),
                                                            ("10.0.0.2", 2)]
    assert len(table.entries()) == 4


def test_registering_under_another_name_moves_the_entry(table):
    table.add(("10.0.0.1", 1), name="A")
    table.add(("10.0.0.1", 1), name="B")
    assert table.entries("A") == []
    assert [e.address for e in table.entries("B")] == [("10.0.0.1", 1)]
    assert len(table) == 1


def test_unknown_name_is_a_clear_key_error(table):
    table.add(("10.0.0.1", 1), name="Worker")
    with pytest.raises(registry.UnknownNameError) as info:
        table.pick("Wroker")
    assert isinstance(info.value, KeyError)
    message = str(info.value)
    assert "'Wroker'" in message and "'Worker'" in message and "register" in message
    with pytest.raises(KeyError):
        table.entries("Wroker")


def test_a_name_that_emptied_stays_known(table):
    table.add(("10.0.0.1", 1), name="Worker")
    table.remove(("10.0.0.1", 1))
    assert table.pick("Worker") is None
    assert table.names() == []


# -- metadata -------------------------------------------------------------------


def test_entry_carries_bind_address_and_metadata(table, clock):
    entry, created = table.add(("192.168.1.5", 4000), name="Worker",
                               bind_address=("0.0.0.0", 4000), pid=42,
                               hostname="node1", ttl=5.0)
    assert created
    assert entry == registry.Entry(("192.168.1.5", 4000), ("0.0.0.0", 4000), "Worker",
                                   42, "node1", 5.0, 5.0)
    clock.now += 2
    assert table.pick("Worker").expires_in == pytest.approx(3.0)


# -- expiry ---------------------------------------------------------------------


def test_expired_entries_are_never_picked(table, clock):
    table.add(("10.0.0.1", 1), ttl=1.0)
    table.add(("10.0.0.2", 2), ttl=3.0)
    table.add(("10.0.0.3", 3))  # never expires
    clock.now += 1.0  # exactly at expiry: expired
    assert set(picks(table, 10)) == {("10.0.0.2", 2), ("10.0.0.3", 3)}
    clock.now += 2.0
    assert set(picks(table, 10)) == {("10.0.0.3", 3)}
    assert [e.address for e in table.expired] == [("10.0.0.1", 1), ("10.0.0.2", 2)]


def test_renewal_extends_the_lease(table, clock):
    table.add(("10.0.0.1", 1), ttl=1.0)
    for _ in range(5):
        clock.now += 0.5
        table.add(("10.0.0.1", 1), ttl=1.0)
    clock.now += 0.9
    assert table.pick().address == ("10.0.0.1", 1)
    clock.now += 0.1
    assert table.pick() is None


def test_ttl_change_and_ttl_removal(table, clock):
    table.add(("10.0.0.1", 1), ttl=1.0)
    table.add(("10.0.0.1", 1), ttl=10.0)
    clock.now += 5
    assert table.sweep() == 0
    table.add(("10.0.0.1", 1), ttl=None)
    clock.now += 100
    assert table.sweep() == 0
    assert table.pick().address == ("10.0.0.1", 1)


def test_sweep_drops_only_expired_entries(table, clock):
    for i, address in enumerate(addresses(10)):
        table.add(address, ttl=1.0 + (i % 2))
    clock.now += 1.5
    assert table.sweep() == 5
    assert len(table) == 5
    assert table.names() == ["default"]
    clock.now += 1.0
    assert table.sweep() == 5
    assert len(table) == 0 and table.names() == []


def test_listings_hide_expired_entries(table, clock):
    table.add(("10.0.0.1", 1), name="W", ttl=1.0)
    table.add(("10.0.0.2", 2), name="W")
    clock.now += 2
    assert [e.address for e in table.entries("W")] == [("10.0.0.2", 2)]
    assert [e.address for e in table.entries()] == [("10.0.0.2", 2)]


def test_re_registering_an_expired_address_starts_a_new_entry(table, clock):
    table.add(("10.0.0.1", 1), ttl=1.0)
    table.add(("10.0.0.2", 2))
    clock.now += 2
    entry, created = table.add(("10.0.0.1", 1), ttl=1.0)
    assert created
    assert picks(table, 2) == [("10.0.0.2", 2), ("10.0.0.1", 1)]


def test_large_table_keeps_structures_consistent(table, clock):
    many = addresses(5000)
    for i, address in enumerate(many):
        table.add(address, name=f"s{i % 7}", ttl=1.0 if i % 3 else None)
    for address in many[::5]:
        table.remove(address)
    clock.now += 2
    table.sweep()
    survivors = {a for i, a in enumerate(many) if i % 3 == 0 and i % 5 != 0}
    assert {e.address for e in table.entries()} == survivors
    assert len(table) == len(survivors)


# -- validation -----------------------------------------------------------------


@pytest.mark.parametrize("bad, error, words", [
    ("localhost:5000", registry.InvalidArgumentError,
     ["(host, port)", "'localhost:5000'"]),
    (5000, registry.InvalidArgumentError, ["(host, port)", "5000"]),
    (None, registry.InvalidArgumentError, ["(host, port)"]),
    (("localhost",), registry.InvalidArgumentError, ["pair", "1 items"]),
    (("localhost", 1, 2), registry.InvalidArgumentError, ["pair"]),
    (("localhost", "5000"), registry.InvalidArgumentError, ["port", "int"]),
    (("localhost", 5000.0), registry.InvalidArgumentError, ["port", "int"]),
    (("localhost", True), registry.InvalidArgumentError, ["port", "int"]),
    ((b"localhost", 5000), registry.InvalidArgumentError, ["host", "str"]),
    (("localhost", 0), registry.InvalidAddressError, ["1-65535", "connection_address"]),
    (("localhost", 70000), registry.InvalidAddressError, ["1-65535"]),
    (("", 5000), registry.InvalidAddressError, ["host", "1 to"]),
    (("local host", 5000), registry.InvalidAddressError, ["whitespace"]),
    (("evil\nhost", 5000), registry.InvalidAddressError, ["control"]),
    (("h" * 300, 5000), registry.InvalidAddressError, ["255"]),
])
def test_bad_addresses_raise_clear_errors(table, bad, error, words):
    table.add(("10.0.0.1", 1))
    with pytest.raises(error) as info:
        Table.validated(bad)
    assert isinstance(info.value, registry.RegistryError)
    for word in words:
        assert word in str(info.value)
    assert [e.address for e in table.entries()] == [("10.0.0.1", 1)]


def test_bad_address_errors_are_builtin_errors_too():
    with pytest.raises(TypeError):
        Table.validated("x")
    with pytest.raises(ValueError):
        Table.validated(("x", 0))


def test_lists_are_accepted_as_addresses():
    assert Table.validated(["10.0.0.1", 80])["address"] == ("10.0.0.1", 80)


@pytest.mark.parametrize("kwargs, error, word", [
    ({"name": 5}, registry.InvalidArgumentError, "service name"),
    ({"name": ""}, registry.InvalidValueError, "service name"),
    ({"name": "a\x00b"}, registry.InvalidValueError, "control"),
    ({"ttl": "5"}, registry.InvalidArgumentError, "ttl"),
    ({"ttl": True}, registry.InvalidArgumentError, "ttl"),
    ({"ttl": 0}, registry.InvalidValueError, "ttl"),
    ({"ttl": -1.0}, registry.InvalidValueError, "ttl"),
    ({"ttl": float("nan")}, registry.InvalidValueError, "ttl"),
    ({"ttl": float("inf")}, registry.InvalidValueError, "ttl=None"),
    ({"ttl": MAX_TTL * 2}, registry.InvalidValueError, "ttl"),
    ({"pid": "1"}, registry.InvalidArgumentError, "pid"),
    ({"pid": -1}, registry.InvalidArgumentError, "pid"),
    ({"hostname": 3}, registry.InvalidArgumentError, "hostname"),
    ({"bind_address": "0.0.0.0"}, registry.InvalidArgumentError, "bind_address"),
])
def test_bad_arguments_raise_clear_errors(kwargs, error, word):
    with pytest.raises(error) as info:
        Table.validated(("10.0.0.1", 80), **kwargs)
    assert word in str(info.value)
    # A bad name or ttl is not an address problem.
    assert not isinstance(info.value, registry.InvalidAddressError)


# -- describe (status pages) ------------------------------------------------------


def test_describe_lists_services_with_leases_owners_and_picks(table, clock):
    table.add(("10.0.0.1", 1001), name="Worker", pid=41, hostname="host-a", ttl=6.0,
              bind_address=("0.0.0.0", 1001))
    table.add(("::1", 1002), name="Worker")
    clock.now += 2.0
    table.pick("Worker")
    table.pick("Worker")
    table.pick("Worker")
    [worker] = table.describe()
    assert worker["name"] == "Worker"
    first, second = worker["actors"]
    assert first == {
        "address": "[::1]:1002", "owner_host": None, "owner_pid": None,
        "lease_age": 2.0, "lease_left": None, "picks": 1,
        "metadata": {"bind_address": "[::1]:1002", "ttl": None},
    }  # rotation order: the next pick first
    assert second == {
        "address": "10.0.0.1:1001", "owner_host": "host-a", "owner_pid": 41,
        "lease_age": 2.0, "lease_left": 4.0, "picks": 2,
        "metadata": {"bind_address": "0.0.0.0:1001", "ttl": 6.0},
    }


def test_describe_renewal_resets_lease_age_and_keeps_picks(table, clock):
    table.add(("10.0.0.1", 1001), name="Worker", ttl=6.0)
    table.pick("Worker")
    clock.now += 3.0
    table.add(("10.0.0.1", 1001), name="Worker", ttl=6.0)
    clock.now += 1.0
    [actor] = table.describe()[0]["actors"]
    assert (actor["lease_age"], actor["lease_left"], actor["picks"]) == (1.0, 5.0, 1)


def test_describe_drops_expired_entries_and_keeps_their_service(table, clock):
    table.add(("10.0.0.1", 1001), name="Worker", ttl=1.0)
    table.add(("10.0.0.2", 1002), name="Storage")
    clock.now += 1.0
    assert table.describe() == [
        {"name": "Storage", "actors": [table.describe()[0]["actors"][0]]},
        {"name": "Worker", "actors": []},
    ]
    assert [entry.address for entry in table.expired] == [("10.0.0.1", 1001)]
    assert table.live_count() == (2, 1)


def test_describe_leaves_out_the_empty_default_group(table):
    assert table.describe() == []
    assert table.live_count() == (0, 0)
    table.add(("10.0.0.1", 1001))
    assert [service["name"] for service in table.describe()] == ["default"]
    assert table.live_count() == (1, 1)
