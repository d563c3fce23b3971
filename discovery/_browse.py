"""Browsing: one browser core, and the threaded runtime around it.

:class:`BrowserBase` holds everything a browser does, whatever runs it: the
filters and signature rules (a :class:`~discovery._catalog.Catalog`), the
zeroconf side (a service browser and record lookups, on zeroconf's event
loop, never blocking it), folding resolved adverts into entries and events,
liveness bookkeeping, and the read-only API.  Two thin runtimes fill in how
results travel and how waits wait, as python-zeroconf's
``_ServiceBrowserBase`` has its thread and asyncio wrappers:

* :class:`Browser` (here): zeroconf runs on a shared instance's own thread;
  results are queued to the browser's worker thread, which folds them,
  verifies liveness and runs the user's callbacks, so a slow callback delays
  other callbacks, never zeroconf;
* :class:`discovery.aio.AsyncBrowser`: everything on the caller's event loop.

:func:`discover` drives the search plan of :mod:`discovery._search` by
blocking; :mod:`discovery.aio` drives the same plan by awaiting.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Generic, Literal, TypeVar, overload

from zeroconf import DNSQuestionType, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo

import registry
from registry._closing import Closable, Described

from . import _core
from ._advert import ALIVE, DEAD, SERVICE_TYPE, Entry, log_bad_advert
from ._catalog import Callback, Catalog, connect_entry, fire, probe
from ._interfaces import InterfacesType, resolve
from ._oneshot import OneShotQuery
from ._search import (
    CANCEL_POLL,
    DISCOVER_TIMEOUT,
    FLEET_TIMEOUT,
    SETTLE,
    Connect,
    Plan,
    Query,
    Snapshot,
    check_count,
    check_settle,
    check_timeout,
    plan,
    reconnect_policy,
    reconnecting,
)
from ._zeroconf import ZeroconfHandle, acquire

log = logging.getLogger("discovery")

# --------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------

#: How long a lookup of one advert's records may take (s); hostile adverts
#: that never complete are dropped after it.
RESOLVE_TIMEOUT = 3.0

#: How often a browser looks for signed adverts that aged out (s).
EXPIRY_INTERVAL = 5.0

#: Seconds a removal is remembered, to drop the result of a lookup started
#: before it (lookups end within RESOLVE_TIMEOUT).
REMOVAL_MEMORY = 4 * RESOLVE_TIMEOUT

#: An event for the user: ``('add' | 'update' | 'remove', entry)``.
Event = tuple[str, Entry]


async def resolve_records(zc: Zeroconf, name: str) -> AsyncServiceInfo | None:
    """Look up an advert's SRV, TXT and address records (on zeroconf's loop).

    Answers already cached (announcements carry every record) return at
    once; otherwise QM questions are asked for up to :data:`RESOLVE_TIMEOUT`.
    """
    info = AsyncServiceInfo(SERVICE_TYPE, name)
    found = await info.async_request(zc, int(RESOLVE_TIMEOUT * 1000),  # ms
                                     question_type=DNSQuestionType.QM)
    return info if found else None


# --------------------------------------------------------------------------
# The core
# --------------------------------------------------------------------------

ZC = TypeVar("ZC")
#: The proxy type :func:`discover` returns: the actor class it was given.
P = TypeVar("P")


class BrowserBase(Described, Generic[ZC]):
    """What both browsers do; the runtimes implement :meth:`_setup` and :meth:`_deliver`.

    The arguments (one signature for both runtimes; ``ZC`` is the runtime's
    zeroconf class) are those of :class:`discovery.Browser`.  ``_lock``
    guards the catalog, the version and the removals: a real lock in the
    threaded runtime, a no-op context in the asyncio one (one thread).
    """

    _lock: Any

    def __init__(self, actor_class: type | str | None = None, *,
                 name: str | None = None, role: str | None = None,
                 interfaces: InterfacesType = None, authkey: bytes | None = None,
                 on_add: Callback | None = None, on_update: Callback | None = None,
                 on_remove: Callback | None = None, verify: bool | None = None,
                 require_signature: bool | None = None,
                 zeroconf: ZC | None = None) -> None:
        self._catalog = Catalog(actor_class, name, role, authkey, require_signature)
        self._authkey = self._catalog.authkey
        self._verify = self._authkey is not None if verify is None else verify
        if self._verify and self._authkey is None:
            raise ValueError("verify=True needs the authkey to connect with")
        self._callbacks = {"add": on_add, "update": on_update, "remove": on_remove}
        self._interfaces = interfaces
        self._resolved = resolve(interfaces)
        #: Bumped whenever the entries change; waiters compare it.
        self._version = 0
        #: Latest event number per instance name still advertised (loop only);
        #: every event takes the next number from one counter, so a removal
        #: can be told from a lookup started before it without remembering
        #: every name.
        self._generation: dict[str, int] = {}
        self._sequence = itertools.count(1)
        #: Removed names -> (event number, monotonic time), kept REMOVAL_MEMORY.
        self._removed_at: dict[str, tuple[int, float]] = {}
        self._zc: Zeroconf | None = None
        self._zc_browser: AsyncServiceBrowser | None = None
        self._one_shot: OneShotQuery | None = None
        self._lookups: set[asyncio.Future[None]] = set()  # loop only
        self._setup(zeroconf)

    def _setup(self, zeroconf: ZC | None) -> None:
        """The runtime's own state; start browsing if it starts at once."""
        raise NotImplementedError

    # -- zeroconf's loop: never block here -----------------------------------

    def _start_browsing(self, zc: Zeroconf, loop: asyncio.AbstractEventLoop) -> None:
        self._zc = zc
        self._zc_browser = AsyncServiceBrowser(
            zc, SERVICE_TYPE, handlers=[self._on_change],
            # QM: on one host, unicast (QU) answers may land on another
            # process's socket bound to 5353 and never reach us.
            question_type=DNSQuestionType.QM)
        self._one_shot = OneShotQuery(zc, loop)
        self._one_shot.start(self._resolved)

    def _on_change(self, zeroconf: Zeroconf, service_type: str, name: str,
                   state_change: ServiceStateChange) -> None:
        key = name.lower()
        generation = next(self._sequence)
        if state_change is ServiceStateChange.Removed:
            self._generation.pop(key, None)
            self._deliver(("removed", name, generation, None))
        else:
            self._generation[key] = generation
            task = asyncio.ensure_future(self._lookup(name, generation))
            self._lookups.add(task)
            task.add_done_callback(self._lookups.discard)

    async def _lookup(self, name: str, generation: int) -> None:
        assert self._zc is not None
        try:
            info = await resolve_records(self._zc, name)
        except Exception as exc:  # hostile names break ServiceInfo in many ways
            log_bad_advert(name, exc)
            return
        self._deliver(("resolved", name, generation, info))

    def _stop_browsing(self) -> None:
        for task in list(self._lookups):
            task.cancel()  # a hostile advert's lookup could run for seconds
        if self._one_shot is not None:
            self._one_shot.close()
        if self._zc_browser is not None and not self._zc_browser.done:
            self._zc_browser._async_cancel()  # the sync face of async_cancel()

    def _deliver(self, item: tuple[str, str, int, Any] | None) -> None:
        """Hand a lookup result or removal (None: a timer tick) to the runtime."""
        raise NotImplementedError

    # -- folding results in (the runtime holds _lock) ----------------------------

    def _fold(self, item: tuple[str, str, int, Any] | None) -> list[Event]:
        """Apply one result to the catalog; the events it caused."""
        events: list[Event | None] = []
        now = time.monotonic()
        if item is not None:
            kind, name, generation, info = item
            key = name.lower()
            if kind == "removed":
                self._removed_at[key] = (generation, now)
                events.append(self._catalog.remove(name))
            elif generation > self._removed_at.get(key, (0, 0.0))[0]:
                events.append(self._catalog.apply_info(name, info))
        events.extend(self._catalog.expire(time.time()))
        for key in [key for key, (_, at) in self._removed_at.items()
                    if at < now - REMOVAL_MEMORY]:
            del self._removed_at[key]  # lookups outlive a removal by seconds
        found = [event for event in events if event is not None]
        if found:
            self._version += 1
        return found

    # -- liveness ----------------------------------------------------------------

    def _probe_class(self, entry: Entry) -> type | None:
        """The class to check ``entry`` with, or None when it cannot be."""
        if self._authkey is None:
            return None
        return self._catalog.resolve_class(entry)

    def _record_status(self, entry: Entry, alive: bool) -> Entry | None:
        """Note a liveness result (runtime holds _lock); the entry if it changed."""
        updated = self._catalog.set_status(entry, ALIVE if alive else DEAD)
        if updated is not None:
            self._version += 1
        return updated

    def _connect_class(self, entry: Entry) -> type:
        if self._authkey is None:
            raise ValueError("this browser has no authkey to connect with")
        return self._catalog.connect_class(entry)

    # -- public API, the same in both runtimes -------------------------------------

    @property
    def entries(self) -> list[Entry]:
        """Snapshot of the current entries, oldest first."""
        with self._lock:
            return list(self._catalog.entries.values())

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries)

    def __len__(self) -> int:
        with self._lock:
            return len(self._catalog.entries)

    @property
    def rejected(self) -> dict[str, str]:
        """Adverts that passed the filters but not the signature check.

        ``{instance: reason}``: forged, replayed (also under another address
        or port), unsigned or signed with another key.  Malformed adverts are
        only logged.
        """
        with self._lock:
            return dict(self._catalog.rejected.values())

    def get(self, instance: str) -> Entry | None:
        """The entry with this full instance name, if any."""
        with self._lock:
            return self._catalog.entries.get(instance.lower())

    def _snapshot(self) -> Snapshot:
        with self._lock:
            return (self._version, list(self._catalog.entries.values()),
                    dict(self._catalog.rejected))

    def _newer_than(self, version: int) -> Callable[[], bool]:
        """A test for :meth:`_wait`: have the entries changed since ``version``?"""
        return lambda: self._version != version

    def _first(self, predicate: Callable[[Entry], bool] | None) -> Entry | None:
        """The first entry satisfying ``predicate`` (caller holds _lock)."""
        for entry in self._catalog.entries.values():
            if predicate is None or predicate(entry):
                return entry
        return None

    def _describe(self) -> str:
        return self._catalog.class_path or "*"

    def _open_state(self) -> str:
        return f"{len(self)} entries"


# --------------------------------------------------------------------------
# The threaded runtime
# --------------------------------------------------------------------------

_STOP = object()


class Browser(BrowserBase[Zeroconf], Closable):
    """A live view of advertised actors, browsing from creation until closed.

    ``discovery.browse(...)`` is this class.  Use it as ``with
    discovery.browse(...) as browser:``; iterating yields a snapshot of the
    current :class:`Entry` objects.  Callbacks run on the browser's worker
    thread, one at a time.  The browser itself may be used from any thread.

    :param actor_class: only this class (a class, or ``'module:qualname'``).
    :param name: only adverts published under this service name.
    :param role: only this role (``'actor'``, ``'registry'``).
    :param interfaces: where to listen: interface names (``'eth0'``), IP
        addresses of this host (IPv4 or IPv6) or IPv6 interface indexes;
        default all interfaces, IPv4 and IPv6.
    :param authkey: with it, adverts must carry a valid, fresh signature
        (unless ``require_signature=False``), and entries are checked for
        liveness (unless ``verify=False``): their :attr:`Entry.status` turns
        ``'alive'`` or ``'dead'``.
    :param on_add, on_update, on_remove: called with an :class:`Entry` on
        the browser's worker thread.
    :param zeroconf: a :class:`zeroconf.Zeroconf` to use instead of the
        process's shared one (it is not closed).
    :raises UnknownInterfaceError: for an interface this host does not have.
    """

    def _setup(self, zeroconf: Zeroconf | None) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closed = False
        self._handle: ZeroconfHandle = acquire(self._resolved, zeroconf)
        self._worker = threading.Thread(target=self._work, daemon=True,
                                        name="discovery-browser")
        self._worker.start()
        try:
            self._handle.call(lambda: self._start_browsing(self._handle.zeroconf,
                                                           self._handle.loop))
        except BaseException:
            self.close()
            raise

    def _deliver(self, item: tuple[str, str, int, Any] | None) -> None:
        self._queue.put(item)

    # -- worker thread ---------------------------------------------------------

    def _work(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=EXPIRY_INTERVAL)
            except queue.Empty:
                item = None
            if item is _STOP:
                return
            try:
                self._process(item)
            except Exception:  # keep browsing whatever one advert did
                log.exception("discovery browser failed to handle %r", item)

    def _process(self, item: tuple[str, str, int, Any] | None) -> None:
        with self._lock:
            events = self._fold(item)
            if events:
                self._changed.notify_all()
        for kind, entry in events:
            fire(self._callbacks[kind], entry)
            if kind != "remove" and self._verify:
                self._check(entry)

    def _check(self, entry: Entry) -> Entry:
        """Connect to ``entry`` and record whether it answered."""
        actor_class = self._probe_class(entry)
        if actor_class is None:
            return entry
        alive = probe(actor_class, entry, self._authkey or b"")
        with self._lock:
            updated = self._record_status(entry, alive)
            if updated is not None:
                self._changed.notify_all()
        if updated is None:
            return entry
        fire(self._callbacks["update"], updated)
        return updated

    def _wait(self, ready: Callable[[], Any], timeout: float) -> Any:
        """``ready()`` once truthy, or its last value after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                result = ready()
                remaining = deadline - time.monotonic()
                if result or remaining <= 0 or self._closed:
                    return result
                self._changed.wait(remaining)

    # -- public API --------------------------------------------------------------

    def wait_for(self, predicate: Callable[[Entry], bool] | None = None, *,
                 timeout: float) -> Entry | None:
        """The first entry satisfying ``predicate``, waiting up to ``timeout`` s."""
        return self._wait(lambda: self._first(predicate), timeout)

    def wait_until_gone(self, instance: str, *, timeout: float) -> bool:
        """Wait until ``instance`` is no longer listed; False on timeout."""
        return self._wait(lambda: instance.lower() not in self._catalog.entries,
                          timeout)

    def verify(self, entry: Entry) -> Entry:
        """Check now whether ``entry`` answers; returns the updated entry."""
        if self._authkey is None:
            raise ValueError("this browser has no authkey to connect with")
        return self._check(entry)

    def connect(self, entry: Entry, *, timeout: float = DISCOVER_TIMEOUT) -> Any:
        """A verified, connected proxy to ``entry`` (DiscoveryError if dead)."""
        actor_class = self._connect_class(entry)
        return connect_entry(actor_class, entry, self._authkey or b"",
                             timeout=check_timeout(timeout))

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Stop browsing, join the worker, release zeroconf; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._changed.notify_all()
        try:
            self._handle.call(self._stop_browsing)
        except (RuntimeError, TimeoutError) as exc:
            log.debug("could not cancel the zeroconf browser: %s", exc)
        self._queue.put(_STOP)
        if self._worker is not threading.current_thread():
            self._worker.join()
        self._handle.release()


#: ``discovery.browse(...)``: a :class:`Browser` (use it with ``with``).
browse = Browser


# --------------------------------------------------------------------------
# discover
# --------------------------------------------------------------------------

@overload
def discover(actor_class: type[P], authkey: bytes, *, timeout: float = ...,
             interfaces: InterfacesType = ..., name: str | None = ...,
             role: str | None = ..., require_signature: bool | None = ...,
             zeroconf: Zeroconf | None = ..., reconnect: Literal[False] = ...) -> P: ...


@overload
def discover(actor_class: type | None, authkey: bytes, *, timeout: float = ...,
             interfaces: InterfacesType = ..., name: str | None = ...,
             role: str | None = ..., require_signature: bool | None = ...,
             zeroconf: Zeroconf | None = ...,
             reconnect: Literal[True] | registry.ReconnectPolicy) -> registry.Reconnecting: ...


@overload
def discover(actor_class: type | None, authkey: bytes, *, timeout: float = ...,
             interfaces: InterfacesType = ..., name: str | None = ...,
             role: str | None = ..., require_signature: bool | None = ...,
             zeroconf: Zeroconf | None = ..., reconnect: Any = ...) -> Any: ...


def discover(actor_class: type | None, authkey: bytes, *,
             timeout: float = DISCOVER_TIMEOUT, interfaces: InterfacesType = None,
             name: str | None = None, role: str | None = None,
             require_signature: bool | None = None,
             zeroconf: Zeroconf | None = None, reconnect: Any = False) -> Any:
    """A connected proxy to the first advertised actor that answers.

    Browses for adverts of ``actor_class`` (any class importable here when
    None) and tries each advertised address in turn: connect with
    ``authkey``, authenticate, make a cheap call.  Endpoints that failed
    recently are tried after fresh ones.  With an authkey, adverts must be
    signed with it unless ``require_signature=False``.  Everything (listening,
    resolving adverts, connecting, the handshake) shares the one ``timeout``.

    With ``reconnect=True`` (or a :class:`registry.ReconnectPolicy`), returns
    a :class:`registry.Reconnecting` proxy that discovers its actor again,
    with these same arguments, when it was lost (the actor restarted
    elsewhere); ``timeout`` then bounds each of those discoveries.  The
    first discovery happens before this returns, with the errors below.

    Type checkers see the proxy as ``actor_class`` (its methods, their
    parameters and results), or as a :class:`registry.Reconnecting` with
    ``reconnect``; with no class, as ``Any``.

    :raises DiscoveryTimeoutError: (also a :class:`TimeoutError`) when none
        answered within ``timeout`` seconds; its message lists what was tried
        and which adverts were refused.
    """
    query = Query(actor_class, _core.check_authkey(authkey), check_timeout(timeout),
                  interfaces, name, role, require_signature)
    return _discover(query, zeroconf, reconnect)


def _discover(query: Query, zeroconf: Zeroconf | None, reconnect: Any,
              cancel: threading.Event | None = None) -> Any:
    policy = reconnect_policy(reconnect)
    proxy = _find(query, zeroconf, cancel)
    if policy is None:
        return proxy
    return reconnecting(lambda: _find(query, zeroconf), policy, query.label, proxy)


def _find(query: Query, zeroconf: Zeroconf | None,
          cancel: threading.Event | None = None) -> Any:
    """One search (or gathering, :attr:`Query.many`), performed by blocking."""
    started = time.monotonic()
    with Browser(query.actor_class, name=query.name, role=query.role,
                 interfaces=query.interfaces, authkey=query.authkey, verify=False,
                 require_signature=query.require_signature,
                 zeroconf=zeroconf) as browser:
        browser._catalog.connect_as = query.connect_as
        steps = Plan(plan(query, browser._snapshot, browser._catalog.resolve_class,
                          started, cancel))
        while not steps.done:
            step = steps.step
            if isinstance(step, Connect):
                steps.proceed(*step.perform(query.authkey))
            elif step is not None:
                wait = step.timeout if cancel is None else min(step.timeout, CANCEL_POLL)
                browser._wait(browser._newer_than(step.version), wait)
                steps.proceed()
        return steps.result


def find_registry(authkey: bytes, *, timeout: float = DISCOVER_TIMEOUT,
                  interfaces: InterfacesType = None, name: str | None = None,
                  require_signature: bool | None = None,
                  zeroconf: Zeroconf | None = None, reconnect: Any = False) -> Any:
    """A connected :class:`registry.Registry` proxy to an advertised registry node.

    Looks for adverts with role ``'registry'`` (as ``uactor-registry``
    publishes its node), of any class: the actor server confirms it is a
    :class:`registry.Registry` (or subclass) when connecting.  Raises
    :class:`DiscoveryTimeoutError` like :func:`discover`; ``reconnect`` as
    there.
    """
    return _discover(registry_query(authkey, timeout, interfaces, name,
                                    require_signature), zeroconf, reconnect)


def find_registries(authkey: bytes, *, timeout: float = FLEET_TIMEOUT,
                    interfaces: InterfacesType = None, name: str | None = None,
                    require_signature: bool | None = None,
                    min_count: int | None = None, settle: float | None = SETTLE,
                    zeroconf: Zeroconf | None = None) -> list[tuple[str, int]]:
    """The addresses of every registry node advertised over mDNS with this key.

    Every advert with role ``'registry'`` (signed with ``authkey`` unless
    ``require_signature=False``) is checked as :func:`find_registry` checks
    its first: connected to, authenticated, confirmed to be a
    :class:`registry.Registry`.  Each node that answered gives one
    ``(host, port)``, the address it answered on, in the order they
    answered: pass the list to :func:`registry.connect_actor` or
    :func:`registry.register_actor`, which use the first node and move to
    the next when one fails.

    Returns as soon as ``min_count`` nodes answered; without ``min_count``,
    once no new advert was seen and no new node answered for ``settle``
    seconds, after the first node did (``settle=None``: listen for the
    whole ``timeout``); at the latest after ``timeout`` seconds, with the
    nodes that answered by then.  mDNS has no "that was all": a node whose
    answer comes later than ``settle`` is missed, so pass ``min_count`` when
    you know how many to expect.

    :raises DiscoveryTimeoutError: (also a :class:`TimeoutError`) when no
        node answered within ``timeout``; the message lists what was tried
        and which adverts were refused (signed with another key, ...).
    """
    query = registry_query(authkey, timeout, interfaces, name, require_signature,
                           many=True, min_count=min_count, settle=settle)
    return _find(query, zeroconf)  # type: ignore[no-any-return]


def registry_query(authkey: bytes, timeout: float, interfaces: InterfacesType,
                   name: str | None, require_signature: bool | None, *,
                   many: bool = False, min_count: int | None = None,
                   settle: float | None = None) -> Query:
    """The :class:`Query` of :func:`find_registry` (both runtimes), or of
    :func:`find_registries` with ``many``."""
    return Query(None, _core.check_authkey(authkey), check_timeout(timeout),
                 interfaces, name, "registry", require_signature,
                 connect_as=registry.Registry, many=many,
                 min_count=check_count(min_count), settle=check_settle(settle))


def find_registry_cancellable(authkey: bytes, *, timeout: float,
                              interfaces: InterfacesType, name: str | None,
                              cancel: threading.Event) -> Any:
    """:func:`find_registry` that gives up soon after ``cancel`` is set."""
    query = registry_query(authkey, timeout, interfaces, name, None)
    return _discover(query, None, False, cancel)


def find_registries_cancellable(authkey: bytes, *, timeout: float,
                                interfaces: InterfacesType, name: str | None,
                                cancel: threading.Event) -> list[tuple[str, int]]:
    """:func:`find_registries` that gives up soon after ``cancel`` is set."""
    query = registry_query(authkey, timeout, interfaces, name, None, many=True,
                           settle=SETTLE)
    return _find(query, None, cancel)  # type: ignore[no-any-return]
