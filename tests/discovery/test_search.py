"""The search plan both flavours of ``discover()`` drive, step by step.

No network: entries are built from TXT records as a browser would, and the
plan's steps are answered by hand, so the order of tries, the deadline and
the error text are checked exactly.
"""
from __future__ import annotations

import threading
import time

import pytest

import discovery
from discovery import _catalog
from discovery._advert import build_txt, parse_advert
from discovery._errors import DiscoveryError
from discovery._search import Connect, Plan, Query, WaitForChange, search
from tests.discovery.actors import AUTHKEY, Echo


def entry(tag: str, port: int) -> discovery.Entry:
    txt = build_txt(actor_class="tests.discovery.actors:Echo", name="w", role="actor",
                    bind=("127.0.0.1", port), pid=port, hostname="h", version="0",
                    serializer="pickle", addresses=["127.0.0.1"])
    found, _ = parse_advert(f"{tag}.{discovery.SERVICE_TYPE}", "h.local.", port,
                            ["127.0.0.1"], {k.encode(): v.encode() for k, v in txt.items()})
    return found


def query(timeout: float = 5.0) -> Query:
    return Query(Echo, AUTHKEY, timeout, ["127.0.0.1"], "w", None, None)


@pytest.fixture
def dead_endpoint():
    """Marks an entry's endpoint as recently dead; forgets it afterwards."""
    marked = []

    def mark(found: discovery.Entry) -> None:
        key = _catalog.endpoint_key(found, found.addresses[0])
        _catalog._mark(key, dead=True)
        marked.append(key)

    yield mark
    for key in marked:
        _catalog._mark(key, dead=False)


def test_recently_dead_adverts_are_tried_last_and_each_once(dead_endpoint):
    dead, live = entry("dead", 4001), entry("live", 4002)
    dead_endpoint(dead)
    view = (1, [dead, live], {})
    plan = Plan(search(query(), lambda: view, lambda found: Echo, time.monotonic()))
    tried = []
    while isinstance(plan.step, Connect):
        tried.append(plan.step.entry.label)
        assert 0 < plan.step.timeout <= 5.0
        plan.proceed(error=DiscoveryError("no answer"))
    assert tried == ["live", "dead"]
    assert isinstance(plan.step, WaitForChange) and plan.step.version == 1
    # A new advert after the wait is tried; its proxy ends the search.
    view = (2, [dead, live, entry("late", 4003)], {})
    plan.proceed()
    assert isinstance(plan.step, Connect) and plan.step.entry.label == "late"
    plan.proceed("proxy")
    assert plan.done and plan.result == "proxy"


def test_one_deadline_for_the_whole_search():
    rejected = {"x": ("x._uactor._tcp.local.", "advert signature does not match")}
    # Started 2.5 s ago (browsing, resolving...): no time is left to try "a".
    with pytest.raises(discovery.DiscoveryTimeoutError) as caught:
        Plan(search(query(timeout=2.0), lambda: (0, [entry("a", 4004)], rejected),
                    lambda found: Echo, time.monotonic() - 2.5))
    message = str(caught.value)
    assert caught.value.attempts == []
    assert message.startswith("no tests.discovery.actors:Echo name='w' answered within "
                              "2 s on interfaces ['127.0.0.1']")
    assert "refused adverts 'x': advert signature does not match" in message


def test_unimportable_classes_are_skipped_with_the_reason():
    with pytest.raises(discovery.DiscoveryTimeoutError, match="cannot be imported"):
        plan = Plan(search(query(timeout=0.2), lambda: (0, [entry("a", 4005)], {}),
                           lambda found: None, time.monotonic()))
        assert not isinstance(plan.step, Connect)
        while not plan.done:
            assert isinstance(plan.step, WaitForChange)
            time.sleep(plan.step.timeout)  # stands for the runtime's wait
            plan.proceed()


def test_a_cancelled_search_stops():
    cancel = threading.Event()
    plan = Plan(search(query(), lambda: (0, [], {}), lambda found: Echo,
                       time.monotonic(), cancel))
    assert isinstance(plan.step, WaitForChange)
    cancel.set()
    with pytest.raises(DiscoveryError, match="cancelled"):
        plan.proceed()
