"""Start methods, serializers and the failure behaviour users rely on."""
from __future__ import annotations

import multiprocessing
import os
import pickle

import pytest

import uactor
from tests.core.actors import BadInit, Echo, NetworkActor, Raiser, SharedActor, XmlActor


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_actors_work_under_every_start_method(method):
    context = multiprocessing.get_context(method)
    with uactor.start(NetworkActor, options={"ctx": context}) as actor:
        assert actor.getpid() != os.getpid()
        assert list(actor.get_inner()) == [1, 2, 3]
        client = NetworkActor.connect(actor.connection_address, b"SECRET")
        assert client.getpid() == actor.getpid()
    assert actor._manager.process.exitcode == 0


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_init_error_keeps_its_type_and_message_under(method):
    context = multiprocessing.get_context(method)
    with pytest.raises(ValueError, match="bad value 3") as raised:
        uactor.start(BadInit, 3, options={"ctx": context})
    assert "Traceback" in str(raised.value.__cause__)


def test_xmlrpclib_serializer_where_values_allow():
    with XmlActor() as actor:
        assert actor.add(2, 3) == 5
        assert actor.add("a", "b") == "ab"
        with pytest.raises(ValueError, match="nope"):
            actor.fail()
        assert list(actor.items()) == [1, 2]
        with pytest.raises(uactor.ProxyError, match="cannot be serialized with xmlrpclib"):
            actor.proxied()
        assert actor.add(1, 1) == 2


class _Undeclared(uactor.Actor):
    def nope(self):
        raise NotImplementedError


def test_xmlrpclib_server_refusals_keep_their_type():
    """A method the actor does not expose is a NotExposedError with xmlrpclib too."""
    with XmlActor() as actor:
        client = _Undeclared.connect(actor.connection_address, uactor.authkey(actor),
                                     "xmlrpclib")
        with pytest.raises(uactor.NotExposedError, match="exposes no 'nope'"):
            client.nope()
        assert actor.add(1, 1) == 2


@pytest.mark.parametrize("kind", [ValueError, KeyError, ZeroDivisionError, LookupError])
def test_method_errors_keep_their_type_and_message(kind):
    with Echo() as actor:
        with pytest.raises(kind) as raised:
            actor.fail(kind, "the message")
        assert "the message" in str(raised.value)
        assert "in fail" in str(raised.value.__cause__)
        assert actor.echo(1) == 1


def test_unpicklable_exception_is_rebuilt_from_its_type_and_message():
    with Raiser() as actor:
        with pytest.raises(Exception, match="with a lock") as raised:
            actor.raise_unpicklable()
        assert type(raised.value).__name__ in ("UnpicklableError", "ProxyError")


def test_unpicklable_result_gives_a_clear_error_and_the_actor_carries_on():
    with Echo() as actor:
        with pytest.raises(uactor.ProxyError, match="cannot be serialized"):
            actor.unpicklable()
        assert actor.echo(2) == 2


def test_unpicklable_arguments_fail_locally_and_keep_the_connection():
    with Echo() as actor:
        with pytest.raises((pickle.PicklingError, AttributeError)):
            actor.echo(lambda: None)
        assert actor.echo(3) == 3


def test_shared_memory_example():
    with SharedActor() as actor:
        shared = actor.get_shared_res()
        pid = actor._manager.process.pid
        assert shared.buf.tobytes().decode() == f"Shared memory from {pid}."
        shared.close()
        shared.unlink()


def test_client_side_actor_pool_example():
    import itertools
    import multiprocessing.pool

    actors = [Echo() for _ in range(3)]
    cycle = itertools.cycle(actors)
    with multiprocessing.pool.ThreadPool(3) as threads:
        results = [threads.apply_async(next(cycle).getpid) for _ in range(6)]
        pids = [result.get(timeout=30) for result in results]
    assert set(pids) == {actor.getpid() for actor in actors}
    for actor in actors:
        actor.shutdown()


def test_proxies_are_shared_between_threads():
    import concurrent.futures

    with Echo() as actor:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            results = list(pool.map(actor.echo, range(200)))
        assert results == list(range(200))
