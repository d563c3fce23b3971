"""The stores beneath the Registry: URLs, views, and each backend against its real
server: faults (unreachable, slow, wrong credentials, down and back), several
nodes over one store, key prefixes, records that are not ours.
"""
from __future__ import annotations

import collections
import contextlib
import json
import os
import random
import signal
import socket
import time

import pytest

import registry
import uactor
from registry._store import (
    StoreView,
    decode_node,
    encode_entry,
    encode_lease,
    encode_node,
    make_store,
    parse_store_url,
)
from tests import servers
from tests.conftest import wait_until
from tests.registry.actors import listed, start_registry

# -- URLs ------------------------------------------------------------------------------


@pytest.mark.parametrize("url, scheme, hosts, path, user", [
    ("memory://", "memory", (), "", None),
    ("etcd://127.0.0.1:2379", "etcd", (("127.0.0.1", 2379),), "", None),
    ("etcd://a:1,b:2,[::1]:3", "etcd", (("a", 1), ("b", 2), ("::1", 3)), "", None),
    ("etcd://root:pw@a", "etcd", (("a", 2379),), "", "root"),
    ("redis://h:6380/2", "redis", (("h", 6380),), "2", None),
    ("redis://:pw@h", "redis", (("h", 6379),), "", None),
    ("redis+sentinel://s1:26379,s2/mymaster", "redis+sentinel",
     (("s1", 26379), ("s2", 26379)), "mymaster", None),
])
def test_store_urls_parse(url, scheme, hosts, path, user):
    parsed = parse_store_url(url)
    assert (parsed.scheme, parsed.hosts, parsed.path, parsed.username) == (
        scheme, hosts, path, user)


def test_redacted_urls_never_show_passwords():
    assert parse_store_url("redis://:s3cret@h:1/0").redacted() == "redis://h:1/0"
    assert parse_store_url("etcd://root:s3cret@h:1").redacted() == "etcd://root@h:1"


@pytest.mark.parametrize("url, words", [
    ("ftp://h:1", ["unknown scheme", "etcd://HOST:PORT"]),
    ("localhost:2379", ["unknown scheme"]),
    ("memory://x", ["memory://"]),
    ("etcd://", ["HOST:PORT"]),
    ("etcd://h:99999", ["1-65535"]),
    ("etcd://h:port", ["1-65535"]),
    ("etcd://::1:2379", ["brackets"]),
    ("etcd://h:1/path", ["--store-prefix"]),
    ("redis://h:1/db", ["number"]),
    ("redis://a:1,b:2/0", ["redis+sentinel"]),
    ("redis+sentinel://s:1", ["mymaster"]),
    ("redis://:s3cret@h:1/db", ["***"]),
    (42, ["URL string"]),
])
def test_bad_store_urls_are_one_clear_error(url, words):
    with pytest.raises(registry.StoreConfigError) as info:
        parse_store_url(url)
    message = str(info.value)
    assert isinstance(info.value, ValueError) and "\n" not in message
    for word in words:
        assert word in message
    assert "s3cret" not in message


# -- the view and the latency histogram (in-process) ---------------------------------------


def test_view_applies_changes_in_order_and_counts_expiry():
    view = StoreView("test://", expires=False)
    lease = {"ttl": 5.0, "owner_pid": 1, "owner_host": "h", "created": 1.0}
    entry = json.loads(encode_entry("L", ("10.0.0.1", 1), name="W", bind_address=None,
                                    pid=None, hostname=None))
    from registry._store import decode_entry

    data = decode_entry(json.dumps(entry))
    view.apply([("lease", "L", lease, None), ("entry", ("10.0.0.1", 1), data, None)], 7)
    assert view.revision == 7 and view.table.pick("W").address == ("10.0.0.1", 1)
    assert view.wait_for(7, 0) and not view.wait_for(8, 0.01)
    view.apply([("lease", "L", None, "expired")], 8)
    assert [e.address for e in view.table.expired] == [("10.0.0.1", 1)]
    assert view.table.names() == []


def test_view_staleness_is_reported_and_logged_once(caplog):
    view = StoreView("etcd://h:1", expires=False)
    assert view.current and view.stale_for() == 0
    with caplog.at_level("WARNING", logger="registry._store"):
        view.set_current(False, "connection refused")
        view.set_current(False, "connection refused")
        assert not view.current and view.stale_for() >= 0
        view.set_current(True)
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert "etcd://h:1 unreachable" in messages[0] and "last view" in messages[0]
    assert "reachable again" in messages[1]


def test_node_records_round_trip_and_malformed_ones_are_refused():
    record = encode_node("10.0.0.5:5000", pid=42, hostname="h", interval=1.0,
                         renewals={"a" * 64: 0.25})
    assert decode_node(record) == {"address": "10.0.0.5:5000", "pid": 42,
                                   "hostname": "h", "interval": 1.0,
                                   "renewals": {"a" * 64: 0.25}}
    for bad in ('{"pid": "42", "interval": 1, "renewals": {}}',
                '{"pid": 42, "interval": 0, "renewals": {}}',
                '{"pid": 42, "interval": 1, "renewals": {"x": "soon"}}',
                '{"pid": 42, "interval": 1, "renewals": []}', "not json"):
        with pytest.raises(ValueError):
            decode_node(bad)


# -- faults at start ---------------------------------------------------------------------


def free_port() -> int:
    (port,) = servers.free_ports(1)
    return port


@pytest.mark.parametrize("scheme", ["etcd", "redis"])
def test_an_unreachable_store_fails_the_start_with_one_clear_line(scheme):
    if scheme == "redis":
        pytest.importorskip("redis")
    port = free_port()
    started = time.monotonic()
    with pytest.raises(registry.StoreUnavailableError) as info:
        start_registry(store=f"{scheme}://127.0.0.1:{port}", store_timeout=1)
    assert time.monotonic() - started < 10
    message = str(info.value)
    assert f"{scheme} store {scheme}://127.0.0.1:{port}" in message
    assert "unreachable" in message and "\n" not in message
    assert isinstance(info.value, ConnectionError)


@pytest.mark.parametrize("scheme", ["etcd", "redis"])
def test_a_store_that_never_answers_fails_the_start_within_the_timeout(scheme):
    if scheme == "redis":
        pytest.importorskip("redis")
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(registry.StoreUnavailableError) as info:
            start_registry(store=f"{scheme}://127.0.0.1:{port}", store_timeout=0.5)
        elapsed = time.monotonic() - started
    assert elapsed < 8
    assert f"127.0.0.1:{port}" in str(info.value)


def test_wrong_redis_password_is_a_config_error_without_the_password():
    with servers.redis(password="right-password") as server:
        wrong = f"redis://:wrong-password@127.0.0.1:{server.port}/0"
        with pytest.raises(registry.StoreConfigError) as info:
            start_registry(store=wrong)
        message = str(info.value)
        assert "rejected the credentials" in message and "password" in message
        assert "wrong-password" not in message and "right-password" not in message
        with start_registry(store=server.url) as reg:  # the right one works
            reg.register(("10.1.0.1", 1))
            assert reg.pick() == ("10.1.0.1", 1)


def _etcd_enable_auth(port: int, password: str) -> None:
    servers.etcd_request(port, "/v3/auth/user/add", {"name": "root", "password": password})
    servers.etcd_request(port, "/v3/auth/user/grant", {"user": "root", "role": "root"})
    servers.etcd_request(port, "/v3/auth/enable", {})


def test_wrong_etcd_credentials_are_a_config_error():
    with servers.etcd() as cluster:
        (port,) = cluster.ports
        _etcd_enable_auth(port, "right-password")
        for url in (f"etcd://127.0.0.1:{port}",
                    f"etcd://root:wrong-password@127.0.0.1:{port}"):
            with pytest.raises(registry.StoreConfigError) as info:
                start_registry(store=url)
            message = str(info.value)
            assert "rejected" in message and "USER:PASSWORD" in message
            assert "wrong-password" not in message
        with start_registry(store=f"etcd://root:right-password@127.0.0.1:{port}") as reg:
            token = reg.register(("10.1.0.1", 1), ttl=30)
            assert reg.pick() == ("10.1.0.1", 1) and reg.renew(token) == 1
            assert "right-password" not in reg.stats()["store"]


def test_the_memory_store_needs_nothing_and_takes_no_host():
    store = make_store("memory://")
    assert store.url == "memory://" and store.expires_in_view


#: The stores several nodes can share (the memory store is one node's own).
SHARED_STORES = pytest.mark.parametrize("store_kind", ["etcd", "redis"])


# -- several nodes, one store --------------------------------------------------------------


@SHARED_STORES
def test_registered_through_one_node_pickable_through_another(store_kind, store_url,
                                                              store_prefix):
    with start_registry(store=store_url, store_prefix=store_prefix) as a, \
            start_registry(store=store_url, store_prefix=store_prefix) as b:
        lease = a.open_lease(30, pid=77, hostname="owner")
        a.register_entry(("10.1.0.1", 1), lease=lease, name="W")
        assert wait_until(lambda: listed(b, "W") == [("10.1.0.1", 1)], timeout=5)
        # Ownership holds whichever node is asked, and renewals go through any.
        with pytest.raises(registry.NotOwnerError):
            b.unregister(("10.1.0.1", 1), lease=b.open_lease(30))
        assert b.renew(lease) == 1
        assert b.unregister(("10.1.0.1", 1), lease=lease) == 1
        assert wait_until(lambda: a.names() == [], timeout=5)


def _peers(node) -> list[str]:
    return node.snapshot(False)["node"]["peers"]


def _where(node) -> str:
    host, port = node.connection_address
    return f"{host}:{port}"


@SHARED_STORES
def test_the_nodes_of_one_store_list_each_other_as_peers(store_kind, store_url,
                                                         store_prefix):
    fleet = {"store": store_url, "store_prefix": store_prefix, "sweep_interval": 0.1}
    with start_registry(**fleet) as a:
        assert _peers(a) == []
        with start_registry(**fleet) as b, start_registry(**fleet) as c:
            assert wait_until(lambda: _peers(a) == sorted([_where(b), _where(c)]),
                              timeout=5)
            assert wait_until(lambda: _peers(b) == sorted([_where(a), _where(c)]),
                              timeout=5)
            # Another store prefix is another fleet.
            with start_registry(store=store_url, store_prefix=f"{store_prefix}x/",
                                sweep_interval=0.1) as other:
                assert wait_until(lambda: _peers(other) == [], timeout=5)
            # A node killed without a word leaves within a few of its intervals.
            process = uactor.process(c)
            os.kill(process.pid, signal.SIGKILL)
            process.join(10)
            assert wait_until(lambda: _peers(a) == [_where(b)], timeout=5)
        # A node stopping in order withdraws at once.
        assert wait_until(lambda: _peers(a) == [], timeout=5)
        assert a.snapshot(False)["node"]["store"]["reachable"]


@SHARED_STORES
def test_renewals_through_one_node_show_on_every_node(store_kind, store_url,
                                                      store_prefix):
    fleet = {"store": store_url, "store_prefix": store_prefix, "sweep_interval": 0.2}
    with start_registry(**fleet) as a, start_registry(**fleet) as b:
        renewed, forgotten = a.open_lease(5), a.open_lease(5)
        a.register_entry(("10.1.0.1", 1), lease=renewed, name="Renewed")
        a.register_entry(("10.1.0.2", 2), lease=forgotten, name="Forgotten")
        assert wait_until(lambda: b.names() == ["Forgotten", "Renewed"], timeout=5)
        started = time.monotonic()

        def renewed_for_two_seconds() -> bool:
            a.renew(renewed)
            return time.monotonic() - started > 2.0

        assert wait_until(renewed_for_two_seconds, timeout=10, interval=0.25)

        def actor(node, name):
            (service,) = [s for s in node.snapshot()["services"] if s["name"] == name]
            return service["actors"][0]

        # Within one announcement interval (0.2 s) of A's last renewal, B knows it.
        assert wait_until(lambda: actor(b, "Renewed")["lease_age"] < 0.6, timeout=5)
        assert b.pick_entry("Renewed").expires_in > 4.0
        # The lease nobody renewed ages on every node alike.
        assert actor(b, "Forgotten")["lease_age"] > 1.9
        assert actor(a, "Forgotten")["lease_age"] > 1.9
        assert b.stats()["renewed"] == 0  # B counts only its own


@SHARED_STORES
def test_many_renewals_take_several_announcements(store_kind, store_url, store_prefix,
                                                  monkeypatch):
    from registry import _actor

    monkeypatch.setattr(_actor, "_RENEWALS_PER_ANNOUNCEMENT", 2)  # the nodes fork
    fleet = {"store": store_url, "store_prefix": store_prefix, "sweep_interval": 0.2}
    with start_registry(**fleet) as a, start_registry(**fleet) as b:
        leases = [a.open_lease(5) for _ in range(5)]
        for index, lease in enumerate(leases):
            a.register_entry(("10.1.0.1", 1 + index), lease=lease, name="W")
        assert wait_until(lambda: len(listed(b, "W")) == 5, timeout=5)
        started = time.monotonic()
        assert wait_until(lambda: time.monotonic() - started > 1.5, timeout=5,
                          interval=0.1)
        for lease in leases:  # five renewals: three announcements of B's
            a.renew(lease)

        def ages():
            (service,) = [s for s in b.snapshot()["services"] if s["name"] == "W"]
            return [actor["lease_age"] for actor in service["actors"]]

        assert wait_until(lambda: max(ages()) < 1.0, timeout=5), ages()


@SHARED_STORES
def test_picks_spread_over_the_nodes_stay_fair(store_kind, store_url, store_prefix):
    fleet = {"store": store_url, "store_prefix": store_prefix}
    with start_registry(**fleet) as a, start_registry(**fleet) as b, \
            start_registry(**fleet) as c:
        nodes = [a, b, c]
        addresses = [("10.1.0.1", port) for port in range(1, 8)]
        a.register(*addresses, name="W", ttl=30)
        for node in nodes:
            assert wait_until(lambda node=node: len(listed(node, "W")) == 7, timeout=5)
        k, rng = 12, random.Random(7)
        counts = collections.Counter(rng.choice(nodes).pick("W")
                                     for _ in range(k * len(addresses)))
        assert set(counts) == set(addresses)
        assert all(abs(count - k) <= len(nodes) for count in counts.values()), counts


@SHARED_STORES
def test_prefixes_keep_registries_apart_and_other_keys_do_not_matter(store_kind,
                                                                     store_url):
    with start_registry(store=store_url, store_prefix="one/") as one, \
            start_registry(store=store_url, store_prefix="two/") as two:
        token = one.register(("10.1.0.1", 1), name="W")
        two.register(("10.2.0.2", 2), name="W")
        _write_foreign_keys(store_kind, store_url)
        assert one.addresses("W") == [("10.1.0.1", 1)]
        assert two.addresses("W") == [("10.2.0.2", 2)]
        keys = _keys(store_kind, store_url)
        assert "foreign" in keys
        assert all(key.startswith(("one/", "two/")) for key in keys - {"foreign"})
        # Someone wipes every other key, the other registry's included.
        _delete_keys(store_kind, store_url, keys - {k for k in keys if k.startswith("one/")})
        assert wait_until(lambda: two.stats()["entries"] == 0, timeout=10)
        assert one.addresses("W") == [("10.1.0.1", 1)]
        assert one.register(("10.1.0.3", 3), name="W", lease=token) == token
        assert one.renew(token) == 2


def _write_foreign_keys(kind: str, url: str) -> None:
    port = parse_store_url(url).hosts[0][1]
    if kind == "etcd":
        import base64

        servers.etcd_request(port, "/v3/kv/put", {
            "key": base64.b64encode(b"foreign").decode(),
            "value": base64.b64encode(b"x").decode()})
    else:
        client = servers.RedisServer(servers.Server("r", [], ""), None)
        client.server.extra["port"] = port
        with contextlib.closing(client.client()) as redis_client:
            redis_client.set("foreign", "x")


def _delete_keys(kind: str, url: str, keys: set[str]) -> None:
    port = parse_store_url(url).hosts[0][1]
    if kind == "etcd":
        import base64

        for key in keys:
            servers.etcd_request(port, "/v3/kv/deleterange",
                                 {"key": base64.b64encode(key.encode()).decode()})
        return
    import redis as redis_py

    client = redis_py.Redis(host="127.0.0.1", port=port)
    try:
        client.delete(*keys)
    finally:
        client.close()


def _keys(kind: str, url: str) -> set[str]:
    port = parse_store_url(url).hosts[0][1]
    if kind == "etcd":
        import base64

        answer = servers.etcd_request(port, "/v3/kv/range", {
            "key": base64.b64encode(b"\0").decode(),
            "range_end": base64.b64encode(b"\0").decode(), "keys_only": True})
        return {base64.b64decode(kv["key"]).decode() for kv in answer.get("kvs", [])}
    import redis as redis_py

    client = redis_py.Redis(host="127.0.0.1", port=port)
    try:
        return {key.decode() for key in client.keys("*")}
    finally:
        client.close()


@SHARED_STORES
def test_malformed_records_under_the_prefix_are_ignored(store_kind, store_url,
                                                        store_prefix):
    port = parse_store_url(store_url).hosts[0][1]
    good_lease = encode_lease(None, 1, "h", 1.0)
    if store_kind == "etcd":
        import base64

        def put(key: str, value: str) -> None:
            servers.etcd_request(port, "/v3/kv/put", {
                "key": base64.b64encode(key.encode()).decode(),
                "value": base64.b64encode(value.encode()).decode()})

        put(f"{store_prefix}leases/bad", "{not json")
        put(f"{store_prefix}entries/not-an-address", good_lease)
    else:
        import redis as redis_py

        client = redis_py.Redis(host="127.0.0.1", port=port)
        try:
            client.hset(f"{store_prefix}leases", "bad", "{not json")
            client.hset(f"{store_prefix}entries", "not-an-address", good_lease)
        finally:
            client.close()
    with start_registry(store=store_url, store_prefix=store_prefix) as reg:
        reg.register(("10.1.0.1", 1))
        assert reg.entries()[0].address == ("10.1.0.1", 1)
        assert reg.stats()["entries"] == 1


# -- the store down, and back -----------------------------------------------------------


@SHARED_STORES
def test_an_unreachable_store_leaves_picks_served_and_writes_refused_until_it_is_back(
        store_kind, store_prefix):
    with servers.restartable(store_kind) as (url, server), \
            start_registry(store=url, store_prefix=store_prefix, sweep_interval=0.1,
                           store_timeout=0.5) as reg:
        token = reg.register(("10.1.0.1", 1), ("10.1.0.2", 2), name="W")
        server.stop()
        assert wait_until(lambda: not reg.stats()["store_reachable"], timeout=10)
        # Picks are served from the last view, fairly; the stats say it is stale.
        assert sorted(reg.pick("W") for _ in range(4)) == [("10.1.0.1", 1)] * 2 + [
            ("10.1.0.2", 2)] * 2
        assert reg.stats()["store_stale_for"] > 0
        assert reg.snapshot()["node"]["store"]["reachable"] is False
        with pytest.raises(registry.StoreUnavailableError) as info:
            reg.register(("10.1.0.3", 3), lease=token)
        assert url in str(info.value) and isinstance(info.value, ConnectionError)
        # Back on the same port (and data): the node recovers by itself.
        server.start()
        assert wait_until(lambda: reg.stats()["store_reachable"], timeout=20)
        if store_kind == "etcd":  # etcd kept its data; Redis ran without persistence
            assert reg.renew(token) == 2
        reg.register(("10.1.0.3", 3), name="W")
        assert wait_until(lambda: ("10.1.0.3", 3) in reg.addresses("W"), timeout=5)
        assert reg.stats()["store_stale_for"] == 0


# -- clusters ---------------------------------------------------------------------------


@pytest.mark.slow
def test_three_member_etcd_cluster_fails_over_between_members(store_prefix):
    with servers.etcd_cluster(3) as cluster, \
            start_registry(store=cluster.url, store_prefix=store_prefix,
                           store_timeout=2) as reg:
        token = reg.register(("10.1.0.1", 1), name="W", ttl=30)
        first = cluster.members[0]  # the member the node talks to first
        first.kill9()
        # Writes and the watch go on through the other two members.
        reg.register(("10.1.0.2", 2), name="W", lease=token, ttl=30)
        assert wait_until(lambda: len(reg.addresses("W")) == 2, timeout=10)
        assert reg.renew(token) == 2
        assert reg.stats()["store_reachable"]


@pytest.mark.slow
def test_registry_over_redis_sentinel(store_prefix):
    pytest.importorskip("redis")
    with servers.redis_sentinel() as sentinel, \
            start_registry(store=sentinel.url, store_prefix=store_prefix) as reg:
        token = reg.register(("10.1.0.1", 1), ("10.1.0.2", 2), name="W", ttl=30)
        assert {reg.pick("W") for _ in range(2)} == {("10.1.0.1", 1), ("10.1.0.2", 2)}
        assert reg.renew(token) == 2
        assert reg.stats()["store"] == sentinel.url


def test_servers_started_for_a_test_are_gone_after_it():
    with servers.redis() as server:
        pid = server.server.pid
    assert not servers._alive(pid)
