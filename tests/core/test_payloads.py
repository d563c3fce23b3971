"""Large payloads travel out of band (pickle protocol 5, PEP 574)."""
from __future__ import annotations

import pickle

import pytest

from tests.core.actors import Echo, NetworkActor, Sized


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
