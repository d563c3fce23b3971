"""Chapter 1.12: networking, connect, capture, remote shutdown, registry."""
from __future__ import annotations

import os
import socket
import threading

import pytest

import uactor
from tests import wire
from tests.conftest import wait_until
from tests.core.actors import Echo, NetworkActor, Registry, WildcardActor

ISOLATED = [name for _, name in socket.if_nameindex()] == ["lo"]
needs_isolated_net = pytest.mark.skipif(
    not ISOLATED, reason="binds 0.0.0.0: runs only inside a private network namespace")


def test_networked_actor_reports_its_address_and_accepts_connections():
    with NetworkActor() as actor:
        host, port = actor.connection_address
        assert host == "127.0.0.1" and port > 0
        with NetworkActor.connect(("localhost", port), b"SECRET") as client:
            assert client.connection_address == ("localhost", port)
            assert client.getpid() == actor.getpid() != os.getpid()


def test_result_proxies_route_through_the_connected_address():
    with NetworkActor() as actor:
        port = actor.connection_address[1]
        client = NetworkActor.connect(("localhost", port), b"SECRET")
        inner = client.get_inner()
        assert inner.connection_address if hasattr(inner, "connection_address") else True
        assert inner._token.address == ("localhost", port)
        assert list(inner) == [1, 2, 3]


def test_wrong_authkey_raises_authkey_error_and_the_actor_carries_on():
    with NetworkActor() as actor:
        with pytest.raises(uactor.AuthkeyError, match="was rejected"):
            NetworkActor.connect(actor.connection_address, b"WRONG")
        assert actor.getpid() > 0


def test_connecting_where_nothing_listens_fails_fast_with_a_clear_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(uactor.ActorConnectionError, match="is the actor running"):
        NetworkActor.connect(("127.0.0.1", port), b"SECRET", timeout=5)


def test_connecting_to_a_silent_server_is_bounded_by_the_timeout():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        with pytest.raises(uactor.ActorConnectionError, match="handshake"):
            NetworkActor.connect(silent.getsockname(), b"SECRET", timeout=0.5)


def test_connect_generic_actor_class():
    with NetworkActor() as actor:
        generic = uactor.Actor.connect(actor.connection_address, b"SECRET")
        generic.shutdown()
        assert actor.wait(1) is True


def test_connect_validates_its_arguments():
    with pytest.raises(TypeError):
        NetworkActor.connect(("127.0.0.1", "port"), b"SECRET")
    with pytest.raises(TypeError):
        NetworkActor.connect(("127.0.0.1", 1), "SECRET")
    with pytest.raises(ValueError):
        NetworkActor.connect(("127.0.0.1", 1), b"SECRET", serializer="json")


def test_remote_shutdown_example():
    actor = NetworkActor()
    address = actor.connection_address
    process = actor._manager.process

    def client():
        NetworkActor.connect(address, b"SECRET").shutdown()

    thread = threading.Thread(target=client)
    with actor:
        thread.start()
        while not actor.wait(timeout=1):
            pass
    thread.join(10)
    assert process.exitcode == 0


def test_registry_example():
    with Registry() as registry:
        actors = [NetworkActor() for _ in range(3)]
        addresses = [actor.connection_address for actor in actors]
        registry.register(*addresses)
        client = Registry.connect(("localhost", registry.connection_address[1]), b"SECRET")
        pids = set()
        for _ in range(3):
            _, port = client.pick()
            with NetworkActor.connect(("localhost", port), b"SECRET") as actor:
                pids.add(actor.getpid())
        assert pids == {actor.getpid() for actor in actors}
        for actor in actors:
            actor.shutdown()


def test_garbage_on_the_port_is_rejected_without_disturbing_other_clients():
    with NetworkActor() as actor:
        client = NetworkActor.connect(actor.connection_address, b"SECRET")
        assert client.getpid() == actor.getpid()
        for garbage in (b"\x00" * 64, b"GET / HTTP/1.0\r\n\r\n", os.urandom(4096),
                        b"\xff\xff\xff\xff" + b"x" * 10):
            with socket.create_connection(actor.connection_address, timeout=5) as raw:
                raw.sendall(garbage)
                raw.shutdown(socket.SHUT_WR)
                try:
                    while raw.recv(4096):
                        pass
                except OSError:
                    pass
        assert client.getpid() == actor.getpid()
        assert NetworkActor.connect(actor.connection_address, b"SECRET").getpid() > 0


def test_garbage_after_authentication_closes_only_that_connection():
    with NetworkActor() as actor:
        client = NetworkActor.connect(actor.connection_address, b"SECRET")
        with wire.connect(actor.connection_address, b"SECRET") as raw:
            raw.sock.sendall(b"not a frame at all")  # untagged: refused, dropped
            with pytest.raises((EOFError, OSError)):
                raw.recv()
        assert client.getpid() == actor.getpid()


def test_deadline_raises_call_timeout_and_discards_the_connection():
    with NetworkActor() as actor:
        with uactor.deadline(0.2), \
                pytest.raises(uactor.CallTimeoutError, match="did not answer"):
            actor.sleep(1.0)
        assert actor.sleep(0) == 0  # the late reply is never read as this answer
        client = NetworkActor.connect(actor.connection_address, b"SECRET", timeout=0.2)
        with pytest.raises(TimeoutError):
            client.sleep(1.0)
        assert client.sleep(0.01) == 0.01


def test_dead_actor_call_raises_in_bounded_time():
    import signal

    actor = Echo()
    os.kill(actor.getpid(), signal.SIGKILL)
    assert wait_until(lambda: actor._manager.process.exitcode is not None, 10)
    with pytest.raises(uactor.ActorDeadError):
        actor.echo(1)
    with pytest.raises(uactor.ActorDeadError, match="exited with code -9"):
        actor.echo(1)
    actor.shutdown()
    actor.shutdown()


@needs_isolated_net
def test_capture_translates_wildcard_addresses_of_forwarded_proxies():
    with WildcardActor() as actor:
        bind_host, port = actor.connection_address
        assert bind_host == "0.0.0.0"
        client = WildcardActor.connect(("127.0.0.1", port), b"SECRET")
        inner = client.get_inner()
        assert inner._token.address == ("127.0.0.1", port)
        assert list(inner) == [1, 2, 3]
        partner_bind = client.make_partner()
        assert partner_bind[0] == "0.0.0.0"
        with pytest.raises(uactor.ActorConnectionError):
            # the partner's token says 0.0.0.0 but is not captured... unless
            # 0.0.0.0 happens to be reachable; capture makes the route explicit.
            WildcardActor.connect(("127.0.0.2", 1), b"SECRET", timeout=1)
        partner_port = partner_bind[1]
        # The route lives as long as this proxy (or any proxy reached through it).
        route = WildcardActor.connect(("127.0.0.1", partner_port), b"SECRET",
                                      capture=[partner_bind])
        partner = client.get_partner()
        assert partner._token.address == ("127.0.0.1", partner_port)
        assert partner.getpid() != actor.getpid()
        assert route.getpid() == partner.getpid()


def test_a_new_actor_at_the_same_address_gets_fresh_connections():
    first = NetworkActor()
    address = first.connection_address
    assert NetworkActor.connect(address, b"SECRET").getpid() == first.getpid()
    first.shutdown()
    second = uactor.start(NetworkActor, options={"address": address})
    try:
        assert NetworkActor.connect(address, b"SECRET").getpid() == second.getpid()
    finally:
        second.shutdown()


SCRIPT_SERVER = '''
import os, sys, time, uactor

class ScriptActor(uactor.Actor):
    _options_ = {"address": ("127.0.0.1", 0), "authkey": b"SECRET"}
    def getpid(self):
        return os.getpid()

if __name__ == "__main__":
    with ScriptActor() as actor:
        print(actor.connection_address[1], actor.getpid(), flush=True)
        sys.stdin.readline()
'''


def test_connect_with_the_class_imported_from_a_script_running_as_main(tmp_path):
    import subprocess
    import sys

    (tmp_path / "script_actor.py").write_text(SCRIPT_SERVER)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": root}
    server = subprocess.Popen([sys.executable, "script_actor.py"], cwd=tmp_path, env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        port, pid = map(int, server.stdout.readline().split())
        sys.path.insert(0, str(tmp_path))
        try:
            from script_actor import ScriptActor

            assert ScriptActor.connect(("127.0.0.1", port), b"SECRET").getpid() == pid
        finally:
            sys.path.remove(str(tmp_path))
            sys.modules.pop("script_actor", None)
        server.stdin.write("\n")
        server.stdin.flush()
        assert server.wait(30) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        server.stdin.close()
        server.stdout.close()
