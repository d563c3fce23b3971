"""Large payloads travel out of band (pickle protocol 5, PEP 574)."""
from __future__ import annotations

import array
import ctypes
import io
import multiprocessing
import pickle

import pytest

import uactor
from tests import wire
from tests.core.actors import (
    Echo,
    LocalPayloads,
    NetworkActor,
    Payloads,
    Sized,
    StrictPayloads,
    describe,
    make,
    pattern,
)
from tests.relay import TO_ACTOR, TO_CLIENT, Relay


def test_numpy_arrays_round_trip_out_of_band():
    numpy = pytest.importorskip("numpy")
    array = numpy.arange(2_000_000, dtype="float64")  # 16 MB: several raw buffers' worth
    with Echo() as actor:
        back = actor.echo({"a": array, "b": array[::2].copy(), "small": numpy.ones(3)})
        assert numpy.array_equal(back["a"], array)
        assert numpy.array_equal(back["b"], array[::2])
        assert back["small"].tolist() == [1.0, 1.0, 1.0]
        back["a"][0] = 42.0  # received arrays are writable, not views of a bytes object
        assert actor.echo(1) == 1  # the connection stays in step afterwards


def test_pickle_buffers_round_trip_both_ways_over_tcp():
    with NetworkActor() as owner:
        client = NetworkActor.connect(owner.connection_address, b"SECRET")
        remote = client.get_inner()
        payload = pickle.PickleBuffer(bytearray(range(256)) * 4096)  # 1 MiB
        remote.append(payload)
        assert bytes(remote[-1]) == bytes(range(256)) * 4096
        assert list(remote[:3]) == [1, 2, 3]


def test_out_of_band_results_from_an_actor():
    with Sized() as actor:
        assert actor.size(pickle.PickleBuffer(bytearray(300_000))) == 300_000
        made = actor.make(500_000)
        assert len(made) == 500_000 and made[:2] == bytearray(b"xx")


# --------------------------------------------------------------------------
# bytes, bytearray and memoryview: out of band from 64 KiB, as they were sent
# --------------------------------------------------------------------------

#: Around the 64 KiB threshold, a 1 MiB payload, and one above the 16 MiB
#: from which blocks are read into memory maps.
SIZES = [0, 1, (64 << 10) - 1, 64 << 10, (64 << 10) + 1, 1 << 20, (16 << 20) + 3]
KINDS = ["bytes", "bytearray", "memoryview", "writable memoryview"]


def _same(back, sent) -> bool:
    """Same type, same value, and for memoryviews the same layout."""
    if type(back) is not type(sent) or back != sent:
        return False
    if isinstance(sent, memoryview):
        return (back.format, back.shape, back.readonly) == (sent.format, sent.shape,
                                                            sent.readonly)
    return True


@pytest.fixture(scope="module")
def local_payloads():
    with LocalPayloads() as actor:
        yield actor


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("kind", KINDS)
def test_bytes_like_payloads_keep_type_and_value_both_ways(local_payloads, kind, size):
    sent = make(kind, size)
    assert local_payloads.describe(sent) == describe(sent)  # as the actor received it
    back = local_payloads.make(kind, size)  # as a result
    assert _same(back, sent)
    assert _same(local_payloads.echo(sent), sent)


def test_received_bytearrays_are_mutable_and_bytes_immutable(local_payloads):
    big = bytearray(pattern(1 << 20))
    assert local_payloads.grow(big) == big + b"!"  # mutated in the actor
    back = local_payloads.echo(big)
    back[0] = 255  # and here
    assert back[0] == 255 and big[0] == 0
    with pytest.raises(TypeError):
        local_payloads.echo(pattern(1 << 20))[0] = 1  # type: ignore[index]
    view = local_payloads.make("writable memoryview", 1 << 20)
    view[0] = 7
    assert view[0] == 7
    assert local_payloads.make("memoryview", 1 << 20).readonly


def test_nested_payloads_keep_their_types_and_shared_references(local_payloads):
    big, small = pattern(300_000), pattern(10)
    shared = bytearray(big)
    sent = {"list": [big, shared, shared, small], "tuple": (bytearray(small), memoryview(big)),
            "deep": {"x": [[big]]}, "text": "x" * 1000, "n": 1}
    back = local_payloads.echo(sent)
    assert back == sent
    assert [type(item) for item in back["list"]] == [bytes, bytearray, bytearray, bytes]
    assert back["list"][1] is back["list"][2]  # one object, as sent
    assert back["list"][0] is back["deep"]["x"][0][0]
    assert type(back["tuple"][0]) is bytearray and type(back["tuple"][1]) is memoryview
    assert type(back["deep"]["x"][0][0]) is bytes
    assert local_payloads.describe(sent) == describe(sent)


def test_memoryview_layouts_travel(local_payloads):
    matrix = memoryview(array.array("d", range(30_000))).cast("B").cast("d", (100, 300))
    back = local_payloads.echo(matrix)
    assert _same(back, matrix) and back[99, 299] == 29_999.0
    rows = matrix[::2]  # not contiguous: sent as a C-ordered copy
    assert not rows.c_contiguous
    back = local_payloads.echo(rows)
    assert back.shape == (50, 300) and back.tolist() == rows.tolist()
    scalar = memoryview(b"\x01\x00\x00\x00").cast("i", [])
    assert local_payloads.echo(scalar).tolist() == scalar.tolist()
    odd = memoryview((ctypes.c_int * 4)())  # a format memoryview.cast does not take
    with pytest.raises(TypeError, match=r"a memoryview of format '<i' .* cannot be sent.*"
                                        r"view\.cast\('B'\)"):
        local_payloads.echo(odd)
    assert local_payloads.echo(1) == 1  # nothing was sent, still in step


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_bytes_like_payloads_under_every_start_method(method):
    options = {"ctx": multiprocessing.get_context(method)}
    with uactor.start(LocalPayloads, options=options) as actor:
        for kind in KINDS:
            sent = make(kind, 200_000)
            assert _same(actor.echo([sent]), [sent])
            assert _same(actor.make(kind, 200_000), sent)


def test_bytes_like_payloads_with_an_allow_list():
    """Rebuilding them needs no class on the allow-list (it is empty here)."""
    with StrictPayloads() as actor:
        client = Payloads.connect(actor.connection_address, b"SECRET")
        for size in (10, 1 << 20):
            for kind in KINDS:
                sent = make(kind, size)
                assert client.describe({"a": [sent, sent]}) == describe({"a": [sent, sent]})
                assert _same(client.echo(sent), sent)
        with pytest.raises(uactor.DisallowedClassError, match="complex is not allowed"):
            client.echo([pattern(1 << 20), 1j])


class _Pid:
    """Pickled as the persistent id ``pid``."""

    def __init__(self, pid) -> None:
        self.pid = pid


class _PidPickler(pickle.Pickler):
    def persistent_id(self, obj):
        return obj.pid if isinstance(obj, _Pid) else None


@pytest.mark.parametrize("pid", [("os", "system"), 3, "text"])
def test_an_allow_list_actor_refuses_persistent_ids_it_does_not_send(pid):
    with StrictPayloads() as actor:
        with wire.connect(actor.connection_address, b"SECRET") as session:
            stream = io.BytesIO()
            _PidPickler(stream, 5).dump((None, "dummy", (_Pid(pid),), {}))
            session.sock.sendall(session.frame(stream.getvalue()))
            kind, (error, _) = session.recv()
        assert kind == "#RAISE" and isinstance(error, uactor.DisallowedClassError), error
        assert "is not one uactor sends" in str(error)
        assert actor.echo(pattern(1 << 20)) == pattern(1 << 20)  # still serving


def _buffers(frames: list[bytes], size: int) -> list[list[int]]:
    """Out-of-band buffer sizes of the frames carrying ``size`` bytes or more."""
    return [wire.layout(frame)[1] for frame in frames if len(frame) >= size]


def test_large_bytes_like_payloads_travel_out_of_band_both_ways():
    """Seen on the wire (TCP, frames tagged): a relay parses every frame."""
    size = 300_000
    with Payloads() as actor, Relay(actor.connection_address) as relay:
        client = Payloads.connect(relay.address, b"SECRET")
        for kind in KINDS:
            assert _same(client.echo(make(kind, size)), make(kind, size))
        assert client.echo([pattern(size), bytearray(pattern(size))])[0] == pattern(size)
        (link,) = [link for link in relay.links if link.serving]
        expected = [[size]] * len(KINDS) + [[size, size]]
        assert _buffers(link.frames[TO_ACTOR], size) == expected  # arguments
        assert _buffers(link.frames[TO_CLIENT], size) == expected  # results
        for frame in link.frames[TO_ACTOR] + link.frames[TO_CLIENT]:
            assert wire.layout(frame)[0] < 1000  # bodies: the pickles around them


def test_small_or_outweighed_payloads_stay_in_band():
    """Under 64 KiB, or under an eighth of the message (pickling it again,
    with a Python call per object, would cost more than the copy saves)."""
    below = pattern((64 << 10) - 1)
    outweighed = [pattern(100_000), list(range(100_000))]
    with Payloads() as actor, Relay(actor.connection_address) as relay:
        client = Payloads.connect(relay.address, b"SECRET")
        assert client.echo(below) == below
        assert client.echo(outweighed) == outweighed
        (link,) = [link for link in relay.links if link.serving]
        for frame in link.frames[TO_ACTOR] + link.frames[TO_CLIENT]:
            assert wire.layout(frame)[1] == []
