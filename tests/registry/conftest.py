"""Registry test fixtures: a store URL per kind of store, each backed by a real
server, and a Registry actor over it.

``store_url`` is parametrized over :data:`STORES`: the memory store, a
single-member etcd and a redis-server started for the test (and stopped,
proven gone, after it); ``store_prefix`` is unique per test, so nothing a
test writes is seen by another.  ``sentinel_url`` adds Redis Sentinel for the
tests that ask for it.
"""
from __future__ import annotations

import pytest

from tests import servers
from tests.registry.actors import start_registry

#: Kinds of store the conformance suite runs against.
STORES = ("memory", "etcd", "redis")


@pytest.fixture(params=STORES)
def store_kind(request) -> str:
    return request.param


@pytest.fixture
def store_url(store_kind):
    if store_kind == "memory":
        yield "memory://"
    elif store_kind == "etcd":
        with servers.etcd() as cluster:
            yield cluster.url
    else:
        with servers.redis() as server:
            yield server.url


@pytest.fixture
def store_prefix(unique_name) -> str:
    return f"{unique_name}/"


@pytest.fixture
def reg(store_url, store_prefix):
    """A Registry actor over the store, sweeping often (short-TTL tests)."""
    with start_registry(store=store_url, store_prefix=store_prefix,
                        sweep_interval=0.1) as proxy:
        yield proxy
