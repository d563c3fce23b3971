"""Publishing, browsing and resolving over mDNS on the loopback interface.

Every test publishes under a name unique to it (parallel workers share the
loopback mDNS group) and filters on that name.
"""
from __future__ import annotations

import gc
import os
import signal
import socket
import threading

import pytest

import discovery
import uactor
from discovery import _core
from tests.conftest import wait_until
from tests.discovery.actors import (
    AUTHKEY,
    LOOPBACK,
    AdvertisedEcho,
    Echo,
    Holder,
    Other,
)

#: Bound on waiting for something the network should deliver in milliseconds.
SOON = 10.0


def refuses(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except ConnectionRefusedError:
        return True


def test_publish_browse_and_call_across_processes(start_publisher, unique_name):
    proc, info = start_publisher("Echo", "--name", unique_name)
    with discovery.browse(Echo, name=unique_name, interfaces=LOOPBACK,
                          authkey=AUTHKEY) as browser:
        entry = browser.wait_for(lambda entry: entry.alive, timeout=SOON)
        assert entry is not None, browser.entries
        assert entry.instance == info["instance"] and entry.signed
        assert entry.port == info["port"] and entry.addresses == ("127.0.0.1",)
        assert entry.actor_class == "tests.discovery.actors:Echo"
        assert entry.hostname == socket.gethostname()

        proxy = discovery.discover(Echo, AUTHKEY, name=unique_name,
                                   interfaces=LOOPBACK, timeout=SOON)
        assert proxy.getpid() == info["pid"] != os.getpid()
        assert proxy.echo({"a": [1, 2]}) == {"a": [1, 2]}
        del proxy

        proc.stdin.close()  # the publisher closes its publication and exits
        assert browser.wait_until_gone(entry.instance, timeout=2.0)
        assert proc.wait(SOON) == 0


def test_callbacks_report_add_update_and_remove(unique_name):
    events: list[tuple[str, str]] = []
    removed = threading.Event()

    def record(kind):
        def callback(entry):
            events.append((kind, entry.status))
            if kind == "remove":
                removed.set()
        return callback

    with Echo() as actor, discovery.browse(
            Echo, name=unique_name, interfaces=LOOPBACK, authkey=AUTHKEY,
            on_add=record("add"), on_update=record("update"),
            on_remove=record("remove")) as browser:
        with discovery.publish(actor, name=unique_name, interfaces=LOOPBACK,
                               authkey=AUTHKEY) as publication:
            assert browser.wait_for(lambda entry: entry.alive, timeout=SOON)
            assert publication.instance in [entry.instance for entry in browser]
            assert len(browser) == 1 and browser.get(publication.instance).alive
        assert removed.wait(2.0)
    assert events == [("add", "advertised"), ("update", "alive"), ("remove", "alive")]


def test_advertised_actors_publish_themselves_and_withdraw_at_shutdown():
    with discovery.browse(AdvertisedEcho, interfaces=LOOPBACK,
                          authkey=AUTHKEY) as browser:
        with AdvertisedEcho() as actor:
            pid = actor.getpid()
            entry = browser.wait_for(lambda entry: entry.pid == pid and entry.alive,
                                     timeout=SOON)
            assert entry is not None and entry.signed  # signed with its own key
            assert entry.port == actor.connection_address[1]
        assert browser.wait_until_gone(entry.instance, timeout=2.0)


def test_owner_publications_end_with_their_actor(unique_name):
    with discovery.browse(Echo, name=unique_name, interfaces=LOOPBACK) as browser:
        actor = Echo()
        publication = discovery.publish(actor, name=unique_name, interfaces=LOOPBACK)
        try:
            assert browser.wait_for(timeout=SOON)
            actor.shutdown()  # not publication.close(): the process is watched
            assert browser.wait_until_gone(publication.instance, timeout=2.0)
            assert publication.closed
        finally:
            publication.close()
            publication.close()  # idempotent
            actor.shutdown()


def test_filtering_among_several_classes(unique_name):
    with Echo() as echo, Other() as other, Holder() as holder:
        publications = [
            discovery.publish(echo, name=unique_name, interfaces=LOOPBACK),
            discovery.publish(other, name=unique_name, interfaces=LOOPBACK),
            discovery.publish(holder, name=unique_name + "-h", role="worker",
                              interfaces=LOOPBACK, properties={"zone": "b"}),
        ]
        try:
            def seen(expect, **filters):
                with discovery.browse(interfaces=LOOPBACK, **filters) as browser:
                    wait_until(lambda: len(browser) >= expect, 2.0 if expect else 0.5)
                    return sorted(entry.actor_class.rpartition(":")[2]
                                  for entry in browser
                                  if entry.name.startswith(unique_name))

            assert seen(actor_class=Echo, name=unique_name, expect=1) == ["Echo"]
            assert seen(actor_class="tests.discovery.actors:Other", name=unique_name,
                        expect=1) == ["Other"]
            assert seen(name=unique_name, expect=2) == ["Echo", "Other"]
            assert seen(name=unique_name + "-h", expect=1) == ["Holder"]
            assert seen(role="worker", name=unique_name + "-h", expect=1) == ["Holder"]
            assert seen(role="worker", name=unique_name, expect=0) == []
            with discovery.browse(Holder, interfaces=LOOPBACK,
                                  name=unique_name + "-h") as browser:
                entry = browser.wait_for(timeout=SOON)
                assert entry is not None and entry.properties == {"zone": "b"}
            assert discovery.discover(Other, AUTHKEY, name=unique_name,
                                      interfaces=LOOPBACK, require_signature=False,
                                      timeout=SOON).kind() == "other"
        finally:
            for publication in publications:
                publication.close()


def test_capture_routes_returned_proxies_through_the_advertised_address(
        monkeypatch, unique_name):
    """The advert says the actor is bound to 0.0.0.0 (a stub token address).

    The client must connect to the advertised 127.0.0.1 with
    ``capture=[('0.0.0.0', port)]``; a proxy the actor returns then works.
    """
    calls = []
    real_connect = _core.connect_verified

    def spy(actor_class, address, authkey, **kwargs):
        calls.append((address, kwargs["capture"]))
        return real_connect(actor_class, address, authkey, **kwargs)

    monkeypatch.setattr(_core, "connect_verified", spy)
    with Holder() as holder:
        port = holder.connection_address[1]
        with discovery.publish_address(Holder, ("0.0.0.0", port), name=unique_name,
                                       interfaces=LOOPBACK, authkey=AUTHKEY):
            proxy = discovery.discover(Holder, AUTHKEY, name=unique_name,
                                       interfaces=LOOPBACK, timeout=SOON)
            counter = proxy.counter()
            assert [counter.increment() for _ in range(3)] == [1, 2, 3]
            del counter, proxy
    assert calls == [(("127.0.0.1", port), [("0.0.0.0", port)])]


def test_sigkilled_publisher_is_skipped_for_a_live_one(start_publisher, unique_name):
    # A browser stays open throughout: its cache keeps the dead advert (no
    # goodbye ever comes) and discover() shares that cache.
    with discovery.browse(Echo, name=unique_name, interfaces=LOOPBACK,
                          authkey=AUTHKEY) as browser:
        dead_proc, dead = start_publisher("Echo", "--name", unique_name)
        assert browser.wait_for(lambda entry: entry.alive, timeout=SOON)
        dead_proc.send_signal(signal.SIGKILL)
        dead_proc.wait(SOON)
        assert wait_until(lambda: refuses(dead["port"]), SOON)  # its actor followed

        stale = browser.get(dead["instance"])
        assert stale is not None  # still advertised: mDNS is a hint only
        assert browser.verify(stale).status == "dead"
        with pytest.raises(discovery.DiscoveryTimeoutError) as caught:
            discovery.discover(Echo, AUTHKEY, name=unique_name, interfaces=LOOPBACK,
                               timeout=1.0)
        assert isinstance(caught.value, TimeoutError)
        assert f"127.0.0.1:{dead['port']}" in str(caught.value)
        assert [address for _, address, _ in caught.value.attempts] == [
            f"127.0.0.1:{dead['port']}"]

        _live_proc, live = start_publisher("Echo", "--name", unique_name)
        proxy = discovery.discover(Echo, AUTHKEY, name=unique_name,
                                   interfaces=LOOPBACK, timeout=SOON)
        assert proxy.getpid() == live["pid"]
        assert browser.get(dead["instance"]) is not None
        del proxy


def test_publishing_the_same_actor_twice_gets_two_names(unique_name):
    with Echo() as actor, discovery.browse(Echo, name=unique_name,
                                           interfaces=LOOPBACK) as browser:
        with discovery.publish(actor, name=unique_name,
                               interfaces=LOOPBACK) as first, \
                discovery.publish(actor, name=unique_name,
                                  interfaces=LOOPBACK) as second:
            assert first.instance != second.instance
            assert second.instance == first.instance.replace(
                "._uactor", " (2)._uactor")
            assert wait_until(lambda: len(browser) == 2, SOON)
            assert repr(first).startswith("<Publication ") and "open" in repr(first)
        assert "closed" in repr(first)


def test_dropped_publications_are_withdrawn(unique_name):
    with Echo() as actor, discovery.browse(Echo, name=unique_name,
                                           interfaces=LOOPBACK) as browser:
        publication = discovery.publish(actor, name=unique_name, interfaces=LOOPBACK)
        entry = browser.wait_for(timeout=SOON)
        assert entry is not None
        del publication
        gc.collect()
        assert browser.wait_until_gone(entry.instance, timeout=2.0)


def test_publish_refuses_what_it_cannot_advertise(unique_name):
    class NotAProxy:
        pass

    with pytest.raises(TypeError, match="actor proxy"):
        discovery.publish(NotAProxy())
    local = uactor.start(Echo, options={"address": None, "authkey": None})
    with local, pytest.raises(uactor.ProxyError, match="not on TCP"):
        discovery.publish(local)
    with Echo() as actor:
        with pytest.raises(ValueError, match="reserved"):
            discovery.publish(actor, interfaces=LOOPBACK, properties={"pid": 1})
        with pytest.raises(discovery.PublicationError, match="no address"):
            discovery.publish_address(Echo, ("0.0.0.0", 4711), interfaces=["::1"])
    with pytest.raises(ValueError, match="positive"):
        discovery.discover(Echo, AUTHKEY, interfaces=LOOPBACK, timeout=0)
    with pytest.raises(ValueError, match="authkey"):
        discovery.browse(Echo, interfaces=LOOPBACK, verify=True)


def core_authkey_message() -> str:
    """What the core itself says about a str authkey."""
    with pytest.raises(TypeError) as caught:
        Echo.connect(("127.0.0.1", 9), "key")
    return str(caught.value)


def test_str_authkeys_get_the_cores_message():
    message = core_authkey_message()
    assert message == "authkey must be bytes, not str; pass it as b'...'"
    with Echo() as actor:
        for call in (lambda: discovery.publish(actor, authkey="key", interfaces=LOOPBACK),
                     lambda: discovery.publish_address(Echo, ("127.0.0.1", 9),
                                                       authkey="key",
                                                       interfaces=LOOPBACK),
                     lambda: discovery.discover(Echo, "key", interfaces=LOOPBACK),
                     lambda: discovery.find_registry("key", interfaces=LOOPBACK),
                     lambda: discovery.browse(Echo, authkey="key", interfaces=LOOPBACK)):
            with pytest.raises(TypeError) as caught:
                call()
            assert str(caught.value) == message


def test_publish_signs_with_the_actors_own_key_by_default(unique_name):
    with Echo() as actor:
        with discovery.publish(actor, name=unique_name, interfaces=LOOPBACK):
            # A client holding the key (signature required) accepts it.
            proxy = discovery.discover(Echo, AUTHKEY, name=unique_name,
                                       interfaces=LOOPBACK, timeout=SOON)
            assert proxy.getpid() == actor.getpid()
            del proxy
        with discovery.publish(actor, name=unique_name, interfaces=LOOPBACK,
                               sign=False), \
                pytest.raises(discovery.DiscoveryTimeoutError, match="not signed"):
            discovery.discover(Echo, AUTHKEY, name=unique_name, interfaces=LOOPBACK,
                               timeout=1.0)


def test_connected_proxies_can_be_published_without_a_pid(unique_name):
    with Echo() as actor:
        connected = Echo.connect(actor.connection_address, AUTHKEY)
        with discovery.browse(Echo, name=unique_name, interfaces=LOOPBACK,
                              authkey=AUTHKEY) as browser, \
                discovery.publish(connected, name=unique_name, interfaces=LOOPBACK,
                                  authkey=AUTHKEY):
            entry = browser.wait_for(lambda entry: entry.alive, timeout=SOON)
            assert entry is not None and entry.pid is None
            assert entry.port == actor.connection_address[1]
        del connected
