"""Browsing: a live view of advertised actors, and resolving them into proxies.

A :class:`Browser` watches ``_uactor._tcp.local.`` and keeps the adverts
that pass its filters as :class:`~discovery.Entry` objects.  Zeroconf calls
us on its event loop; there we only start record lookups (coroutines that
never block) and hand the results to the browser's own worker thread, which
checks them, updates the view, verifies liveness and runs the user's
callbacks.  A slow callback therefore delays other callbacks, never zeroconf.

:func:`discover` browses until an advert of the wanted class answers:
connect, authenticate, make a cheap call, and hand back that proxy.  Dead
endpoints are remembered for :data:`DEAD_ENDPOINT_MEMORY` seconds and tried
after every fresh one.
"""
from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Union

from zeroconf import (
    DNSQuestionType,
    IPVersion,
    ServiceStateChange,
    Zeroconf,
)
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo

import uactor

from . import _core
from ._advert import (
    ALIVE,
    DEAD,
    SERVICE_TYPE,
    SIGNATURE_MAX_AGE,
    Address,
    BadAdvertError,
    Entry,
    InterfacesType,
    check_advert,
    class_path,
    format_address,
    import_class,
    log_bad_advert,
    parse_advert,
)
from ._oneshot import OneShotQuery
from ._zeroconf import ZeroconfHandle, acquire

log = logging.getLogger("discovery")

# --------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------

#: How long a lookup of one advert's records may take (s); hostile adverts
#: that never complete are dropped after it.
RESOLVE_TIMEOUT = 3.0

#: Bound on one liveness check: connect, authenticate, call (s).
VERIFY_TIMEOUT = 2.0

#: How often the worker looks for signed adverts that aged out (s).
EXPIRY_INTERVAL = 5.0

#: How long an endpoint that failed to answer is tried after fresh ones (s).
DEAD_ENDPOINT_MEMORY = 60.0

#: Seconds a removal is remembered, to drop the result of a lookup started
#: before it (lookups end within RESOLVE_TIMEOUT).
REMOVAL_MEMORY = 4 * RESOLVE_TIMEOUT

#: Rejected adverts kept for error messages; a flood of forged names must not
#: grow a browser without bound.
MAX_REJECTED = 256

#: Default time :func:`discover` waits for an answering actor (s).
DISCOVER_TIMEOUT = 5.0

#: How often a cancellable search checks whether it was cancelled (s).
CANCEL_POLL = 0.1

Callback = Callable[[Entry], Any]


class DiscoveryError(uactor.UActorException):
    """Base of the errors raised by :mod:`discovery`."""


class DiscoveryTimeoutError(DiscoveryError, TimeoutError):
    """No advertised actor answered in time.

    :attr:`attempts` lists ``(instance, address, reason)`` for every endpoint
    tried or skipped, also spelled out in the message.
    """

    def __init__(self, message: str, attempts: list[tuple[str, str, str]]) -> None:
        super().__init__(message)
        self.attempts = attempts


# --------------------------------------------------------------------------
# Dead endpoints, process-wide
# --------------------------------------------------------------------------

_dead_lock = threading.Lock()
EndpointKey = tuple[str, str, int, Union[int, None]]
_dead: dict[EndpointKey, float] = {}


def _endpoint_key(entry: Entry, address: str) -> EndpointKey:
    """Identity of one endpoint of one advert."""
    # The pid is part of the key: an actor restarted on the same port is new.
    return (entry.instance.lower(), address, entry.port, entry.pid)


def _is_dead(key: EndpointKey) -> bool:
    with _dead_lock:
        since = _dead.get(key)
        if since is not None and time.monotonic() - since > DEAD_ENDPOINT_MEMORY:
            del _dead[key]
            since = None
    return since is not None


def _mark(key: EndpointKey, dead: bool) -> None:
    now = time.monotonic()
    with _dead_lock:
        if dead:
            _dead[key] = now
            for old in [k for k, since in _dead.items()
                        if now - since > DEAD_ENDPOINT_MEMORY]:
                del _dead[old]  # forget what is no longer remembered
        else:
            _dead.pop(key, None)


# --------------------------------------------------------------------------
# Filters and the catalog of entries
# --------------------------------------------------------------------------

def browse_settings(actor_class: type | str | None, name: str | None, role: str | None,
                    authkey: bytes | None, require_signature: bool | None,
                    verify: bool | None, on_add: Callback | None,
                    on_update: Callback | None, on_remove: Callback | None,
                    ) -> tuple[Catalog, bool, dict[str, Callback | None]]:
    """What every browser (threaded or asyncio) derives from its arguments."""
    catalog = Catalog(actor_class, name, role, authkey, require_signature)
    verify = authkey is not None if verify is None else verify
    if verify and authkey is None:
        raise ValueError("verify=True needs the authkey to connect with")
    return catalog, verify, {"add": on_add, "update": on_update, "remove": on_remove}


def _forget_old_removals(removed_at: dict[str, tuple[int, float]], before: float) -> None:
    """Lookups outlive a removal by seconds at most: older removals can go."""
    for key in [key for key, (_, at) in removed_at.items() if at < before]:
        del removed_at[key]


class Catalog:
    """The entries passing a browser's filters (callers serialize access)."""

    def __init__(self, actor_class: type | str | None, name: str | None,
                 role: str | None, authkey: bytes | None,
                 require_signature: bool | None) -> None:
        if actor_class is None or isinstance(actor_class, str):
            self.class_path = actor_class
        else:
            self.class_path = class_path(actor_class)
        self.actor_class = actor_class if isinstance(actor_class, type) else None
        #: Class to connect with when none was given (the actor server checks
        #: that the actor is one, or a subclass), instead of importing TXT's.
        self.connect_as: type | None = None
        self.name = name
        self.role = role
        self.authkey = None if authkey is None else bytes(authkey)
        self.require_signature = (authkey is not None if require_signature is None
                                  else require_signature)
        if self.require_signature and authkey is None:
            raise ValueError("require_signature=True needs the authkey")
        self.entries: dict[str, Entry] = {}
        #: Adverts that passed the filters but not the signature check, with
        #: the reason (for error messages).
        self.rejected: dict[str, tuple[str, str]] = {}

    def matches(self, entry: Entry) -> bool:
        return ((self.class_path is None or entry.actor_class == self.class_path)
                and (self.name is None or entry.name == self.name)
                and (self.role is None or entry.role == self.role))

    def apply_info(self, name: str, info: AsyncServiceInfo | None
                   ) -> tuple[str, Entry] | None:
        """Fold a resolved advert in; returns ``(event, entry)`` if it changed."""
        if info is None:
            log_bad_advert(name, "its records did not arrive in time")
            return None
        try:
            entry, txt = parse_advert(
                info.name, info.server, info.port,
                info.parsed_addresses(IPVersion.All), info.properties)
        except Exception as exc:  # BadAdvertError, or zeroconf choking on it
            log_bad_advert(name, exc)
            return self.remove(name)  # an advert that went bad is gone
        if not self.matches(entry):
            return self.remove(name)
        try:
            entry = check_advert(entry, txt, self.authkey, self.require_signature)
        except BadAdvertError as exc:
            log_bad_advert(name, exc)
            event = self.remove(name)
            self.rejected[name.lower()] = (name, str(exc))
            while len(self.rejected) > MAX_REJECTED:  # hostile floods stay bounded
                del self.rejected[next(iter(self.rejected))]
            return event
        self.rejected.pop(name.lower(), None)
        key = name.lower()
        old = self.entries.get(key)
        if old is not None and old.same_advert(entry):
            self.entries[key] = _keep_liveness(entry, old)
            return None
        self.entries[key] = entry
        return ("add" if old is None else "update", entry)

    def remove(self, name: str) -> tuple[str, Entry] | None:
        self.rejected.pop(name.lower(), None)  # a withdrawn advert is forgotten
        entry = self.entries.pop(name.lower(), None)
        return None if entry is None else ("remove", entry)

    def expire(self, now: float) -> list[tuple[str, Entry]]:
        """Drop signed entries whose signature aged out (publisher gone)."""
        events = []
        oldest = now - SIGNATURE_MAX_AGE
        for key, entry in list(self.entries.items()):
            if entry.signed_at is not None and entry.signed_at < oldest:
                del self.entries[key]
                events.append(("remove", entry))
        return events

    def set_status(self, entry: Entry, status: str) -> Entry | None:
        """Record a liveness result; returns the new entry if it is current."""
        key = entry.instance.lower()
        current = self.entries.get(key)
        if current is None or not current.same_advert(entry):
            return None
        updated = _replace(current, status=status, checked_at=time.monotonic())
        self.entries[key] = updated
        return updated if current.status != status else None

    def resolve_class(self, entry: Entry) -> type | None:
        """The class to connect with: the caller's, else imported from TXT."""
        if self.actor_class is not None:
            return self.actor_class
        if self.connect_as is not None:
            return self.connect_as
        try:
            return import_class(entry.actor_class)
        except Exception as exc:  # any import-time error of foreign code
            log.debug("cannot import %s advertised by %r: %s", entry.actor_class,
                      entry.instance, exc)
            return None


async def resolve(zc: Zeroconf, name: str) -> AsyncServiceInfo | None:
    """Look up an advert's SRV, TXT and address records (on zeroconf's loop).

    Answers already cached (announcements carry every record) return at
    once; otherwise QM questions are asked for up to :data:`RESOLVE_TIMEOUT`.
    """
    info = AsyncServiceInfo(SERVICE_TYPE, name)
    found = await info.async_request(zc, int(RESOLVE_TIMEOUT * 1000),  # ms
                                     question_type=DNSQuestionType.QM)
    return info if found else None


def _replace(entry: Entry, **changes: Any) -> Entry:
    return dataclasses.replace(entry, **changes)


def _keep_liveness(entry: Entry, old: Entry) -> Entry:
    return _replace(entry, status=old.status, checked_at=old.checked_at)


def _fire(callback: Callback | None, entry: Entry) -> None:
    if callback is None:
        return
    try:
        callback(entry)
    except Exception:
        log.exception("discovery callback %r failed for %r", callback, entry.instance)


# --------------------------------------------------------------------------
# Connecting
# --------------------------------------------------------------------------

def connect_entry(actor_class: type, entry: Entry, authkey: bytes, *,
                  timeout: float,
                  attempts: list[tuple[str, str, str]] | None = None) -> Any:
    """A verified proxy to ``entry``, trying each address in turn.

    Addresses that failed recently go last.  Raises :class:`DiscoveryError`
    naming every address tried; each try is also appended to ``attempts``.
    """
    deadline = time.monotonic() + timeout
    tried: list[tuple[str, str, str]] = []
    fresh: list[tuple[Address, list[Address], EndpointKey]] = []
    dead: list[tuple[Address, list[Address], EndpointKey]] = []
    for address, capture in entry.endpoints():
        key = _endpoint_key(entry, address[0])
        (dead if _is_dead(key) else fresh).append((address, capture, key))
    try:
        return _connect_first(actor_class, entry, authkey, fresh + dead, deadline,
                              tried)
    finally:
        if attempts is not None:
            attempts.extend(tried)


def _connect_first(actor_class: type, entry: Entry, authkey: bytes,
                   endpoints: list[tuple[Address, list[Address], EndpointKey]],
                   deadline: float, tried: list[tuple[str, str, str]]) -> Any:
    for address, capture, key in endpoints:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            tried.append((entry.instance, format_address(address), "no time left"))
            continue
        try:
            proxy = _core.connect_verified(
                actor_class, address, authkey, serializer=entry.serializer,
                capture=capture, timeout=min(remaining, VERIFY_TIMEOUT))
        except (uactor.UActorException, OSError, EOFError) as exc:
            _mark(key, dead=True)
            tried.append((entry.instance, format_address(address),
                          f"{type(exc).__name__}: {exc}"))
            log.debug("%r at %s did not answer: %r", entry.instance,
                      format_address(address), exc)
            continue
        _mark(key, dead=False)
        return proxy
    raise DiscoveryError(
        f"{entry.label!r} ({entry.actor_class}) did not answer; tried "
        + "; ".join(f"{where}: {why}" for _, where, why in tried))


# --------------------------------------------------------------------------
# Browser
# --------------------------------------------------------------------------

_STOP = object()


class Browser:
    """A live view of advertised actors; see :func:`browse`.

    Iterating yields a snapshot of the current :class:`Entry` objects.
    Callbacks run on the browser's worker thread, one at a time.  The browser
    itself may be used from any thread.
    """

    def __init__(self, actor_class: type | str | None = None, *,
                 name: str | None = None, role: str | None = None,
                 interfaces: InterfacesType = None, authkey: bytes | None = None,
                 on_add: Callback | None = None, on_update: Callback | None = None,
                 on_remove: Callback | None = None, verify: bool | None = None,
                 require_signature: bool | None = None,
                 zeroconf: Zeroconf | None = None) -> None:
        self._catalog, self._verify, self._callbacks = browse_settings(
            actor_class, name, role, authkey, require_signature, verify,
            on_add, on_update, on_remove)
        self._authkey = self._catalog.authkey
        self._interfaces = interfaces
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._version = 0
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        #: Latest event number per instance name still advertised; every event
        #: takes the next number from one counter, so a removal can be told
        #: from a lookup started before it without remembering every name.
        self._generation: dict[str, int] = {}
        self._sequence = itertools.count(1)
        self._closed = False
        self._handle: ZeroconfHandle = acquire(interfaces, zeroconf)
        self._zc_browser: AsyncServiceBrowser | None = None
        self._one_shot: OneShotQuery | None = None
        self._lookups: set[asyncio.Future[None]] = set()  # loop only
        self._worker = threading.Thread(target=self._work, daemon=True,
                                        name="discovery-browser")
        self._worker.start()
        try:
            self._handle.call(self._start_in_loop)
        except BaseException:
            self.close()
            raise

    # -- zeroconf's loop: never block here -----------------------------------

    def _start_in_loop(self) -> None:
        self._zc_browser = AsyncServiceBrowser(
            self._handle.zeroconf, SERVICE_TYPE, handlers=[self._on_change],
            # QM: on one host, unicast (QU) answers may land on another
            # process's socket bound to 5353 and never reach us.
            question_type=DNSQuestionType.QM)
        self._one_shot = OneShotQuery(self._handle.zeroconf, self._handle.loop)
        self._one_shot.start(self._interfaces)

    def _on_change(self, zeroconf: Zeroconf, service_type: str, name: str,
                   state_change: ServiceStateChange) -> None:
        key = name.lower()
        generation = next(self._sequence)
        if state_change is ServiceStateChange.Removed:
            self._generation.pop(key, None)
            self._queue.put(("removed", name, generation))
        else:
            self._generation[key] = generation
            task = asyncio.ensure_future(self._resolve(name, generation))
            self._lookups.add(task)
            task.add_done_callback(self._lookups.discard)

    async def _resolve(self, name: str, generation: int) -> None:
        try:
            info = await resolve(self._handle.zeroconf, name)
        except Exception as exc:  # hostile names break ServiceInfo in many ways
            log_bad_advert(name, exc)
            return
        self._queue.put(("resolved", name, generation, info))

    def _stop_in_loop(self) -> None:
        for task in list(self._lookups):
            task.cancel()  # a hostile advert's lookup could run for seconds
        if self._one_shot is not None:
            self._one_shot.close()
        if self._zc_browser is not None and not self._zc_browser.done:
            self._zc_browser._async_cancel()  # the sync face of async_cancel()

    # -- worker thread -------------------------------------------------------

    def _work(self) -> None:
        removed_at: dict[str, tuple[int, float]] = {}
        while True:
            try:
                item = self._queue.get(timeout=EXPIRY_INTERVAL)
            except queue.Empty:
                item = None
            if item is _STOP:
                return
            try:
                self._process(item, removed_at)
            except Exception:  # keep browsing whatever one advert did
                log.exception("discovery browser failed to handle %r", item)

    def _process(self, item: Any, removed_at: dict[str, int]) -> None:
        events: list[tuple[str, Entry]] = []
        with self._lock:
            now = time.monotonic()
            if item is not None and item[0] == "removed":
                removed_at[item[1].lower()] = (item[2], now)
                event = self._catalog.remove(item[1])
                events += [event] if event else []
            elif item is not None:
                _, name, generation, info = item
                if generation > removed_at.get(name.lower(), (0, 0.0))[0]:
                    event = self._catalog.apply_info(name, info)
                    events += [event] if event else []
            events += self._catalog.expire(time.time())
            _forget_old_removals(removed_at, now - REMOVAL_MEMORY)
            if events:
                self._version += 1
                self._changed.notify_all()
        for kind, entry in events:
            _fire(self._callbacks[kind], entry)
            if kind != "remove" and self._verify:
                self._check(entry)

    def _check(self, entry: Entry) -> Entry:
        """Connect to ``entry`` and record whether it answered."""
        status = DEAD
        actor_class = self._catalog.resolve_class(entry)
        if actor_class is not None and self._authkey is not None:
            try:
                proxy = connect_entry(actor_class, entry, self._authkey,
                                      timeout=VERIFY_TIMEOUT)
            except DiscoveryError as exc:
                log.debug("%s", exc)
            else:
                status = ALIVE
                del proxy  # releases the reference at once
        else:
            return entry
        with self._lock:
            updated = self._catalog.set_status(entry, status)
            if updated is not None:
                self._version += 1
                self._changed.notify_all()
        if updated is not None:
            _fire(self._callbacks["update"], updated)
            return updated
        return entry

    # -- public API ----------------------------------------------------------

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

        ``{instance: reason}``: forged, replayed, unsigned or signed with
        another key.  Malformed adverts are only logged.
        """
        with self._lock:
            return dict(self._catalog.rejected.values())

    def get(self, instance: str) -> Entry | None:
        """The entry with this full instance name, if any."""
        with self._lock:
            return self._catalog.entries.get(instance.lower())

    def wait_for(self, predicate: Callable[[Entry], bool] | None = None, *,
                 timeout: float) -> Entry | None:
        """The first entry satisfying ``predicate``, waiting up to ``timeout`` s."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for entry in self._catalog.entries.values():
                    if predicate is None or predicate(entry):
                        return entry
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed:
                    return None
                self._changed.wait(remaining)

    def wait_until_gone(self, instance: str, *, timeout: float) -> bool:
        """Wait until ``instance`` is no longer listed; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while instance.lower() in self._catalog.entries:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed:
                    return False
                self._changed.wait(remaining)
            return True

    def verify(self, entry: Entry) -> Entry:
        """Check now whether ``entry`` answers; returns the updated entry."""
        if self._authkey is None:
            raise ValueError("this browser has no authkey to connect with")
        return self._check(entry)

    def connect(self, entry: Entry, *, timeout: float = DISCOVER_TIMEOUT) -> Any:
        """A verified, connected proxy to ``entry`` (DiscoveryError if dead)."""
        if self._authkey is None:
            raise ValueError("this browser has no authkey to connect with")
        actor_class = self._catalog.resolve_class(entry)
        if actor_class is None:
            raise DiscoveryError(f"class {entry.actor_class} advertised by "
                                 f"{entry.label!r} cannot be imported here")
        return connect_entry(actor_class, entry, self._authkey, timeout=timeout)

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
            self._handle.call(self._stop_in_loop)
        except (RuntimeError, TimeoutError) as exc:
            log.debug("could not cancel the zeroconf browser: %s", exc)
        self._queue.put(_STOP)
        if self._worker is not threading.current_thread():
            self._worker.join()
        self._handle.release()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self)} entries"
        return f"<Browser {self._catalog.class_path or '*'} ({state})>"


def browse(actor_class: type | str | None = None, *, name: str | None = None,
           role: str | None = None, interfaces: InterfacesType = None,
           authkey: bytes | None = None, on_add: Callback | None = None,
           on_update: Callback | None = None, on_remove: Callback | None = None,
           verify: bool | None = None, require_signature: bool | None = None,
           zeroconf: Zeroconf | None = None) -> Browser:
    """Watch advertised actors; returns a live :class:`Browser`.

    :param actor_class: only this class (a class, or ``'module:qualname'``).
    :param name: only adverts published under this service name.
    :param role: only this role (``'actor'``, ``'registry'``).
    :param interfaces: where to listen (IP addresses, IPv6 interface
        indexes); default all interfaces, as zeroconf.
    :param authkey: with it, adverts must carry a valid, fresh signature
        (unless ``require_signature=False``), and entries are checked for
        liveness (unless ``verify=False``): their :attr:`Entry.status` turns
        ``'alive'`` or ``'dead'``.
    :param on_add, on_update, on_remove: called with an :class:`Entry` on
        the browser's worker thread.
    """
    return Browser(actor_class, name=name, role=role, interfaces=interfaces,
                   authkey=authkey, on_add=on_add, on_update=on_update,
                   on_remove=on_remove, verify=verify,
                   require_signature=require_signature, zeroconf=zeroconf)


# --------------------------------------------------------------------------
# discover
# --------------------------------------------------------------------------

def discover(actor_class: type | None, authkey: bytes, *,
             timeout: float = DISCOVER_TIMEOUT, interfaces: InterfacesType = None,
             name: str | None = None, role: str | None = None,
             require_signature: bool | None = None,
             zeroconf: Zeroconf | None = None,
             reconnect: Any = False,
             _connect_as: type | None = None,
             _cancel: threading.Event | None = None) -> Any:
    """A connected proxy to the first advertised actor that answers.

    Browses for adverts of ``actor_class`` (any class importable here when
    None) and tries each advertised address in turn: connect with
    ``authkey``, authenticate, make a cheap call.  Endpoints that failed
    recently are tried after fresh ones.  With an authkey, adverts must be
    signed with it unless ``require_signature=False``.

    With ``reconnect=True`` (or a :class:`registry.ReconnectPolicy`), returns
    a :class:`registry.Reconnecting` proxy that discovers its actor again,
    with these same arguments, when it was lost (the actor restarted
    elsewhere); ``timeout`` then bounds each of those discoveries.  The
    first discovery happens before this returns, with the errors below.

    :raises DiscoveryTimeoutError: (also a :class:`TimeoutError`) when none
        answered within ``timeout`` seconds; its message lists what was tried
        and which adverts were refused.
    """
    check_timeout(timeout)
    if reconnect is not False and reconnect is not None:
        def rediscover() -> Any:
            return discover(actor_class, authkey, timeout=timeout, interfaces=interfaces,
                            name=name, role=role, require_signature=require_signature,
                            zeroconf=zeroconf, _connect_as=_connect_as)

        return _reconnecting(rediscover, reconnect, name or (
            class_path(actor_class) if actor_class is not None else "actor"))
    deadline = time.monotonic() + timeout
    attempts: list[tuple[str, str, str]] = []
    tried: set[str] = set()
    with Browser(actor_class, name=name, role=role, interfaces=interfaces,
                 authkey=authkey, verify=False, require_signature=require_signature,
                 zeroconf=zeroconf) as browser:
        catalog = browser._catalog
        catalog.connect_as = _connect_as
        seen_version = -1
        while True:
            with browser._changed:
                if browser._version == seen_version:
                    wait = max(0.0, deadline - time.monotonic())
                    if _cancel is not None:
                        wait = min(wait, CANCEL_POLL)
                    browser._changed.wait(wait)
                seen_version = browser._version
                fresh = [entry for entry in catalog.entries.values()
                         if entry.instance.lower() not in tried]
                rejected = dict(catalog.rejected)
            # Adverts whose every endpoint failed recently go last.
            fresh.sort(key=lambda entry: all(
                _is_dead(_endpoint_key(entry, address)) for address in entry.addresses))
            for entry in fresh:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                tried.add(entry.instance.lower())
                found = catalog.resolve_class(entry)
                if found is None:
                    attempts.append((entry.instance, "-", f"class {entry.actor_class} "
                                     "cannot be imported here"))
                    continue
                try:
                    return connect_entry(found, entry, bytes(authkey),
                                         timeout=remaining, attempts=attempts)
                except DiscoveryError:
                    continue
            if time.monotonic() >= deadline:
                break
            if _cancel is not None and _cancel.is_set():
                raise DiscoveryError("discovery was cancelled")
    raise DiscoveryTimeoutError(
        _timeout_message(actor_class, name, role, interfaces, timeout, attempts,
                         rejected), attempts)


def _reconnecting(resolver: Callable[[], Any], reconnect: Any, label: str) -> Any:
    """A :class:`registry.Reconnecting` around ``resolver``, resolved once now."""
    import registry  # the reconnection mechanism lives there

    if reconnect is True:
        policy = registry.ReconnectPolicy()
    elif isinstance(reconnect, registry.ReconnectPolicy):
        policy = reconnect
    else:
        raise TypeError(f"reconnect must be True, False or a registry.ReconnectPolicy, "
                        f"not {reconnect!r}")
    return registry.Reconnecting(resolver, name=label, policy=policy, proxy=resolver())


def _timeout_message(actor_class: type | None, name: str | None, role: str | None,
                     interfaces: InterfacesType, timeout: float,
                     attempts: list[tuple[str, str, str]],
                     rejected: dict[str, tuple[str, str]]) -> str:
    wanted = class_path(actor_class) if actor_class is not None else "actor"
    filters = "".join(f" {label}={value!r}" for label, value in
                      (("name", name), ("role", role)) if value is not None)
    where = "all interfaces" if interfaces is None else f"interfaces {list(interfaces)}"
    parts = [f"no {wanted}{filters} answered within {timeout:g} s on {where}"]
    if attempts:
        parts.append("tried " + "; ".join(
            f"{_label(instance)!r} at {address}: {why}"
            for instance, address, why in attempts))
    if rejected:
        parts.append("refused adverts " + "; ".join(
            f"{_label(instance)!r}: {why}" for instance, why in rejected.values()))
        if any("not signed" in why for _, why in rejected.values()):
            parts.append("publish with authkey=... or pass require_signature=False")
    if not attempts and not rejected:
        parts.append("no matching advert was seen (is the actor published, and "
                     "on these interfaces?)")
    return "; ".join(parts)


def _label(instance: str) -> str:
    suffix = "." + SERVICE_TYPE
    if instance.lower().endswith(suffix.lower()):
        return instance[: -len(suffix)]
    return instance


def check_timeout(timeout: object) -> None:
    """Raise ValueError unless ``timeout`` is a positive number of seconds."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) \
            or timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, "
                         f"not {timeout!r}")


def find_registry(authkey: bytes, *, timeout: float = DISCOVER_TIMEOUT,
                  interfaces: InterfacesType = None, name: str | None = None,
                  require_signature: bool | None = None,
                  zeroconf: Zeroconf | None = None,
                  _cancel: threading.Event | None = None) -> Any:
    """A connected :class:`registry.Registry` proxy to an advertised registry node.

    Looks for adverts with role ``'registry'`` (as ``uactor-registry``
    publishes its node), of any class: the actor server confirms it is a
    :class:`registry.Registry` (or subclass) when connecting.  Raises
    :class:`DiscoveryTimeoutError` like :func:`discover`.
    """
    import registry

    return discover(None, authkey, timeout=timeout, interfaces=interfaces,
                    name=name, role="registry", require_signature=require_signature,
                    zeroconf=zeroconf, _connect_as=registry.Registry,
                    _cancel=_cancel)
