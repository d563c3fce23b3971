"""The registry's data structure, in-process: leases, rotation, groups, expiry,
forgetting names, validation."""
from __future__ import annotations

import collections

import pytest

import registry
from registry._table import MAX_TTL, RETIRED_NAMES, Table, check_ttl


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


def lease_of(address) -> str:
    """The lease id the helper below gives ``address`` when none is named."""
    return f"lease-{address[0]}-{address[1]}"


def add(table: Table, address, *, ttl=None, lease=None, **kwargs):
    """Register ``address`` under ``lease`` (default: a lease of its own of
    ``ttl`` seconds, opened on first use); return ``(entry, created)``."""
    lease = lease or lease_of(address)
    if not table.has_lease(lease):
        table.grant(lease, ttl)
    return table.put(address, lease, **kwargs)


def picks(table: Table, count: int, name: str = registry.DEFAULT_NAME) -> list:
    return [table.pick(name).address for _ in range(count)]


# -- fairness -------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 7, 100])
def test_each_address_comes_back_exactly_k_times_in_k_n_picks(table, n):
    for address in addresses(n):
        add(table, address)
    k = 13
    counts = collections.Counter(picks(table, k * n))
    assert counts == {address: k for address in addresses(n)}


def test_rotation_is_round_robin_in_registration_order(table):
    for address in addresses(3):
        add(table, address)
    assert picks(table, 6) == addresses(3) * 2


def test_re_registering_neither_resets_nor_skews_rotation(table):
    for address in addresses(4):
        add(table, address)
    first = picks(table, 2)
    assert first == addresses(4)[:2]
    # Renew every address, in an unrelated order, between picks.
    for address in reversed(addresses(4)):
        created = add(table, address)[1]
        assert not created
    assert picks(table, 6) == addresses(4)[2:] + addresses(4)
    # And over whole rounds with renewals in between, still exactly k each.
    counts: collections.Counter = collections.Counter()
    for _ in range(10):
        counts.update(picks(table, 4))
        for address in addresses(4):
            add(table, address)
    assert counts == {address: 10 for address in addresses(4)}


def test_new_address_waits_its_turn(table):
    for address in addresses(3):
        add(table, address)
    assert picks(table, 1) == [addresses(3)[0]]
    add(table, ("10.0.0.9", 9))
    # It joins the end of the queue: after everyone already waiting.
    assert picks(table, 4) == [addresses(3)[1], addresses(3)[2], addresses(3)[0],
                               ("10.0.0.9", 9)]


def test_unregister_keeps_rotation_of_the_others(table):
    for address in addresses(4):
        add(table, address)
    picks(table, 1)
    assert table.remove(addresses(4)[2]) is not None
    assert table.remove(addresses(4)[2]) is None  # idempotent
    assert picks(table, 6) == [addresses(4)[1], addresses(4)[3], addresses(4)[0]] * 2


def test_pick_on_empty_returns_none(table):
    assert table.pick() is None
    add(table, ("10.0.0.1", 1))
    table.remove(("10.0.0.1", 1))
    assert table.pick() is None


# -- name groups ----------------------------------------------------------------


def test_names_group_entries(table):
    add(table, ("10.0.0.1", 1), name="Worker")
    add(table, ("10.0.0.2", 2), name="Worker")
    add(table, ("10.0.0.3", 3), name="Storage")
    add(table, ("10.0.0.4", 4))
    assert table.names() == ["Storage", "Worker", "default"]
    assert {table.pick("Worker").address for _ in range(4)} == {("10.0.0.1", 1),
                                                               ("10.0.0.2", 2)}
    assert table.pick("Storage").address == ("10.0.0.3", 3)
    assert table.pick().address == ("10.0.0.4", 4)
    assert [e.address for e in table.entries("Worker")] == [("10.0.0.1", 1),
                                                            ("10.0.0.2", 2)]
    assert len(table.entries()) == 4


def test_registering_under_another_name_moves_the_entry(table):
    add(table, ("10.0.0.1", 1), name="A")
    add(table, ("10.0.0.1", 1), name="B")
    assert table.entries("A") == []
    assert [e.address for e in table.entries("B")] == [("10.0.0.1", 1)]
    assert len(table) == 1


def test_unknown_name_is_a_clear_key_error(table):
    add(table, ("10.0.0.1", 1), name="Worker")
    with pytest.raises(registry.UnknownNameError) as info:
        table.pick("Wroker")
    assert isinstance(info.value, KeyError)
    message = str(info.value)
    assert "'Wroker'" in message and "'Worker'" in message and "register" in message
    with pytest.raises(KeyError):
        table.entries("Wroker")


def test_a_name_that_emptied_is_forgotten_but_remembered_as_recent(table):
    add(table, ("10.0.0.1", 1), name="Worker")
    table.remove(("10.0.0.1", 1))
    assert table.pick("Worker") is None  # recently emptied: not a typo
    assert table.names() == []
    assert table.known_count() == 1  # only the default group is held


def test_forgotten_names_are_bounded(table, clock):
    for i in range(RETIRED_NAMES + 50):
        add(table, ("10.0.0.1", 1000 + i), name=f"name-{i}", ttl=1.0)
    assert table.known_count() == RETIRED_NAMES + 51
    clock.now += 1.0
    assert table.sweep() == RETIRED_NAMES + 50
    assert table.known_count() == 1
    # The oldest emptied names are forgotten outright, the newest remembered.
    with pytest.raises(registry.UnknownNameError):
        table.pick("name-0")
    assert table.pick(f"name-{RETIRED_NAMES + 49}") is None
    add(table, ("10.0.0.2", 1), name="name-0", ttl=1.0)
    assert table.pick("name-0").address == ("10.0.0.2", 1)


# -- metadata -------------------------------------------------------------------


def test_entry_carries_bind_address_and_metadata(table, clock):
    table.grant("L", 5.0, owner_pid=7, owner_host="owner-host", created=100.0)
    entry, created = add(table, ("192.168.1.5", 4000), name="Worker", lease="L",
                               bind_address=("0.0.0.0", 4000), pid=42,
                               hostname="node1")
    assert created
    assert entry == registry.Entry(("192.168.1.5", 4000), ("0.0.0.0", 4000), "Worker",
                                   42, "node1", 5.0, 5.0)
    clock.now += 2
    assert table.pick("Worker").expires_in == pytest.approx(3.0)
    (service,) = table.describe()
    assert service["name"] == "Worker"
    (actor,) = service["actors"]
    assert actor["address"] == "192.168.1.5:4000"
    assert (actor["owner_pid"], actor["owner_host"], actor["picks"]) == (7, "owner-host", 1)
    assert actor["lease_left"] == pytest.approx(3.0)
    assert actor["lease_age"] == pytest.approx(2.0)
    assert actor["metadata"] == {"bind_address": "0.0.0.0:4000", "pid": 42,
                                 "hostname": "node1", "ttl": 5.0}


# -- expiry ---------------------------------------------------------------------


def test_expired_entries_are_never_picked(table, clock):
    add(table, ("10.0.0.1", 1), ttl=1.0)
    add(table, ("10.0.0.2", 2), ttl=3.0)
    add(table, ("10.0.0.3", 3))  # never expires
    clock.now += 1.0  # exactly at expiry: expired
    assert set(picks(table, 10)) == {("10.0.0.2", 2), ("10.0.0.3", 3)}
    clock.now += 2.0
    assert set(picks(table, 10)) == {("10.0.0.3", 3)}
    assert [e.address for e in table.expired] == [("10.0.0.1", 1), ("10.0.0.2", 2)]


def test_renewal_extends_the_lease(table, clock):
    add(table, ("10.0.0.1", 1), ttl=1.0)
    for _ in range(5):
        clock.now += 0.5
        assert table.renew(lease_of(("10.0.0.1", 1))) == 1
    clock.now += 0.9
    assert table.pick().address == ("10.0.0.1", 1)
    clock.now += 0.1
    assert table.pick() is None


def test_moving_an_entry_to_another_lease_takes_that_lease_s_ttl(table, clock):
    add(table, ("10.0.0.1", 1), ttl=1.0)
    add(table, ("10.0.0.1", 1), lease="long", ttl=10.0)
    assert table.owner(("10.0.0.1", 1)) == "long"
    assert table.lease_size(lease_of(("10.0.0.1", 1))) == 0
    clock.now += 5
    assert table.sweep() == 0
    add(table, ("10.0.0.1", 1), lease="eternal", ttl=None)
    clock.now += 100
    assert table.sweep() == 0
    assert table.pick().address == ("10.0.0.1", 1)


def test_one_renewal_renews_every_entry_of_a_lease(table, clock):
    table.grant("owner", 1.0)
    for address in addresses(100):
        table.put(address, "owner", name="W")
    table.grant("other", 1.0)
    table.put(("10.9.9.9", 9), "other", name="W")
    clock.now += 0.9
    assert table.renew("owner") == 100
    clock.now += 0.5
    assert table.sweep() == 1  # only the other lease's entry
    assert len(table.entries("W")) == 100
    with pytest.raises(registry.UnknownLeaseError):
        table.renew("other")
    clock.now += 0.5
    assert table.sweep() == 100
    assert table.names() == [] and table.lease_count == 0


def test_ending_a_lease_removes_its_entries_without_counting_expiry(table):
    table.grant("owner", 30.0)
    for address in addresses(3):
        table.put(address, "owner")
    add(table, ("10.9.9.9", 9))
    assert [e.address for e in table.lease_entries("owner")] == addresses(3)
    assert len(table.end_lease("owner")) == 3
    assert [e.address for e in table.entries()] == [("10.9.9.9", 9)]
    assert table.expired == []
    assert table.end_lease("owner") == []
    with pytest.raises(registry.UnknownLeaseError):
        table.put(("10.0.0.1", 1), "owner")


def test_a_view_table_never_expires_leases_itself(clock):
    view = Table(clock, expires=False)
    view.grant("L", 1.0)
    view.put(("10.0.0.1", 1), "L")
    clock.now += 100
    assert view.sweep() == 0
    assert view.pick().address == ("10.0.0.1", 1)
    assert view.pick().expires_in == 0.0  # what this node last knew


def test_renewals_made_elsewhere_move_a_view_s_lease_times_forward_only(clock):
    view = Table(clock, expires=False)
    view.grant("L", 5.0)
    view.put(("10.0.0.1", 1), "L")
    clock.now += 4.0
    view.renewed("L", 1.0)  # another node renewed it a second ago
    [actor] = view.describe()[0]["actors"]
    assert (actor["lease_age"], actor["lease_left"]) == (1.0, 4.0)
    view.renewed("L", 3.0)  # older news changes nothing
    assert view.pick().expires_in == 4.0
    view.renewed("unknown", 0.0)  # a lease this view never saw: ignored
    assert view.lease_count == 1


def test_a_table_that_expires_leases_is_renewed_only_by_renew(table, clock):
    add(table, ("10.0.0.1", 1), ttl=5.0)
    clock.now += 4.0
    table.renewed(lease_of(("10.0.0.1", 1)), 0.0)
    clock.now += 1.0
    assert table.pick() is None  # expired: hearsay does not keep it


def test_sweep_drops_only_expired_entries(table, clock):
    for i, address in enumerate(addresses(10)):
        add(table, address, ttl=1.0 + (i % 2))
    clock.now += 1.5
    assert table.sweep() == 5
    assert len(table) == 5
    assert table.names() == ["default"]
    clock.now += 1.0
    assert table.sweep() == 5
    assert len(table) == 0 and table.names() == []


def test_listings_hide_expired_entries(table, clock):
    add(table, ("10.0.0.1", 1), name="W", ttl=1.0)
    add(table, ("10.0.0.2", 2), name="W")
    clock.now += 2
    assert [e.address for e in table.entries("W")] == [("10.0.0.2", 2)]
    assert [e.address for e in table.entries()] == [("10.0.0.2", 2)]


def test_re_registering_an_expired_address_starts_a_new_entry(table, clock):
    add(table, ("10.0.0.1", 1), ttl=1.0)
    add(table, ("10.0.0.2", 2))
    clock.now += 2
    entry, created = add(table, ("10.0.0.1", 1), lease="new", ttl=1.0)
    assert created
    assert picks(table, 2) == [("10.0.0.2", 2), ("10.0.0.1", 1)]


def test_large_table_keeps_structures_consistent(table, clock):
    many = addresses(5000)
    for i, address in enumerate(many):
        add(table, address, name=f"s{i % 7}", ttl=1.0 if i % 3 else None)
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
    add(table, ("10.0.0.1", 1))
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
    ({"pid": "1"}, registry.InvalidArgumentError, "pid"),
    ({"pid": -1}, registry.InvalidArgumentError, "pid"),
    ({"hostname": 3}, registry.InvalidArgumentError, "hostname"),
    ({"bind_address": "0.0.0.0"}, registry.InvalidArgumentError, "bind_address"),
])
def test_bad_arguments_raise_clear_errors(kwargs, error, word):
    with pytest.raises(error) as info:
        Table.validated(("10.0.0.1", 80), **kwargs)
    assert word in str(info.value)
    # A bad name is not an address problem.
    assert not isinstance(info.value, registry.InvalidAddressError)


@pytest.mark.parametrize("ttl, error, word", [
    ("5", registry.InvalidArgumentError, "ttl"),
    (True, registry.InvalidArgumentError, "ttl"),
    (0, registry.InvalidValueError, "ttl"),
    (-1.0, registry.InvalidValueError, "ttl"),
    (float("nan"), registry.InvalidValueError, "ttl"),
    (float("inf"), registry.InvalidValueError, "ttl=None"),
    (MAX_TTL * 2, registry.InvalidValueError, "ttl"),
    (10 ** 400, registry.InvalidValueError, "ttl"),
])
def test_bad_ttls_raise_clear_errors(ttl, error, word):
    with pytest.raises(error) as info:
        check_ttl(ttl)
    assert word in str(info.value)
    assert not isinstance(info.value, registry.InvalidAddressError)


def test_huge_bad_values_are_quoted_short():
    with pytest.raises(registry.InvalidArgumentError) as info:
        Table.validated(("10.0.0.1", "9" * 100_000))
    assert len(str(info.value)) < 600


@pytest.mark.parametrize("token", [None, 5, "short", "x" * 200, "not a token at all!!"])
def test_bad_lease_tokens_are_refused_without_quoting_them(token):
    from registry._table import check_lease_token

    with pytest.raises(registry.RegistryError) as info:
        check_lease_token(token)
    if isinstance(token, str):
        assert token not in str(info.value)


# -- describe (status pages) ------------------------------------------------------


def test_describe_lists_services_with_leases_owners_and_picks(table, clock):
    table.grant("owned", 6.0, owner_pid=41, owner_host="host-a")
    add(table, ("10.0.0.1", 1001), lease="owned", name="Worker", pid=7, hostname="h7",
        bind_address=("0.0.0.0", 1001))
    add(table, ("::1", 1002), name="Worker")
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
        "metadata": {"bind_address": "[::1]:1002", "pid": None, "hostname": None,
                     "ttl": None},
    }  # rotation order: the next pick first
    assert second == {
        "address": "10.0.0.1:1001", "owner_host": "host-a", "owner_pid": 41,
        "lease_age": 2.0, "lease_left": 4.0, "picks": 2,
        "metadata": {"bind_address": "0.0.0.0:1001", "pid": 7, "hostname": "h7",
                     "ttl": 6.0},
    }


def test_describe_renewal_resets_lease_age_and_keeps_picks(table, clock):
    add(table, ("10.0.0.1", 1001), name="Worker", ttl=6.0)
    table.pick("Worker")
    clock.now += 3.0
    table.renew(lease_of(("10.0.0.1", 1001)))
    clock.now += 1.0
    [actor] = table.describe()[0]["actors"]
    assert (actor["lease_age"], actor["lease_left"], actor["picks"]) == (1.0, 5.0, 1)


def test_describe_drops_expired_entries_and_keeps_their_service(table, clock):
    add(table, ("10.0.0.1", 1001), name="Worker", ttl=1.0)
    add(table, ("10.0.0.2", 1002), name="Storage")
    clock.now += 1.0
    assert table.describe() == [
        {"name": "Storage", "actors": [table.describe()[0]["actors"][0]]},
        {"name": "Worker", "actors": []},
    ]
    assert [entry.address for entry in table.expired] == [("10.0.0.1", 1001)]
    assert table.live_count() == (2, 1)


def test_describe_lists_emptied_names_only_while_they_are_remembered(table):
    for index in range(RETIRED_NAMES + 5):
        address = ("10.0.0.1", 1 + index)
        add(table, address, name=f"S{index}")
        table.remove(address)
    listed = [service["name"] for service in table.describe()]
    assert len(listed) == RETIRED_NAMES and "S0" not in listed
    assert f"S{RETIRED_NAMES + 4}" in listed
    assert table.live_count() == (RETIRED_NAMES, 0)


def test_describe_leaves_out_the_empty_default_group(table):
    assert table.describe() == []
    assert table.live_count() == (0, 0)
    add(table, ("10.0.0.1", 1001))
    assert [service["name"] for service in table.describe()] == ["default"]
    assert table.live_count() == (1, 1)
