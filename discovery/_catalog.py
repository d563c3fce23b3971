"""What a browser knows, and connecting to what it knows; no zeroconf, no runtime.

:class:`Catalog` folds resolved adverts into the entries that pass a
browser's filters and signature rules.  :func:`connect_entry` turns one entry
into a verified proxy, trying its addresses in turn; endpoints that failed
recently are remembered process-wide for :data:`DEAD_ENDPOINT_MEMORY`
seconds and tried after every fresh one.  Both the threaded and the asyncio
runtimes use these, unchanged.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Union

import uactor

from . import _core
from ._advert import (
    SIGNATURE_MAX_AGE,
    Address,
    Entry,
    check_advert,
    class_path,
    format_address,
    import_class,
    log_bad_advert,
    parse_advert,
)
from ._errors import BadAdvertError, DiscoveryError

log = logging.getLogger("discovery")

# --------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------

#: Bound on one liveness check: connect, authenticate, call (s).
VERIFY_TIMEOUT = 2.0

#: How long an endpoint that failed to answer is tried after fresh ones (s).
DEAD_ENDPOINT_MEMORY = 60.0

#: Rejected adverts kept for error messages; a flood of forged names must not
#: grow a browser without bound.
MAX_REJECTED = 256

Callback = Callable[[Entry], Any]

#: ``(instance, address, reason)`` of one endpoint tried or skipped.
Attempt = tuple[str, str, str]


# --------------------------------------------------------------------------
# Dead endpoints, process-wide
# --------------------------------------------------------------------------

_dead_lock = threading.Lock()
EndpointKey = tuple[str, str, int, Union[int, None]]
_dead: dict[EndpointKey, float] = {}


def endpoint_key(entry: Entry, address: str) -> EndpointKey:
    """Identity of one endpoint of one advert."""
    # The pid is part of the key: an actor restarted on the same port is new.
    return (entry.instance.lower(), address, entry.port, entry.pid)


def is_dead(key: EndpointKey) -> bool:
    with _dead_lock:
        since = _dead.get(key)
        if since is not None and time.monotonic() - since > DEAD_ENDPOINT_MEMORY:
            del _dead[key]
            since = None
    return since is not None


def all_dead(entry: Entry) -> bool:
    """True when every endpoint of ``entry`` failed recently."""
    return all(is_dead(endpoint_key(entry, address)) for address in entry.addresses)


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
# The catalog of entries
# --------------------------------------------------------------------------

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
        self.authkey = None if authkey is None else _core.check_authkey(authkey)
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

    def apply_info(self, name: str, info: Any) -> tuple[str, Entry] | None:
        """Fold a resolved advert in; returns ``(event, entry)`` if it changed.

        ``info`` is a resolved :class:`zeroconf.ServiceInfo`, or None when
        its records did not arrive in time.
        """
        if info is None:
            log_bad_advert(name, "its records did not arrive in time")
            return None
        from zeroconf import IPVersion

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
        updated = dataclasses.replace(current, status=status,
                                      checked_at=time.monotonic())
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

    def connect_class(self, entry: Entry) -> type:
        """:meth:`resolve_class`, raising DiscoveryError when there is none."""
        found = self.resolve_class(entry)
        if found is None:
            raise DiscoveryError(f"class {entry.actor_class} advertised by "
                                 f"{entry.label!r} cannot be imported here")
        return found


def _keep_liveness(entry: Entry, old: Entry) -> Entry:
    return dataclasses.replace(entry, status=old.status, checked_at=old.checked_at)


def fire(callback: Callback | None, entry: Entry) -> Any:
    """Run a user callback; log (never raise) what it raised; return its result."""
    if callback is None:
        return None
    try:
        return callback(entry)
    except Exception:
        log.exception("discovery callback %r failed for %r", callback, entry.instance)
        return None


# --------------------------------------------------------------------------
# Connecting
# --------------------------------------------------------------------------

def connect_entry(actor_class: type, entry: Entry, authkey: bytes, *,
                  timeout: float, attempts: list[Attempt] | None = None) -> Any:
    """A verified proxy to ``entry``, trying each address in turn, within ``timeout`` s.

    Addresses that failed recently go last.  Raises :class:`DiscoveryError`
    naming every address tried; each try is also appended to ``attempts``.
    """
    proxy, _ = connect_endpoint(actor_class, entry, authkey, timeout=timeout,
                                attempts=attempts)
    return proxy


def connect_endpoint(actor_class: type, entry: Entry, authkey: bytes, *,
                     timeout: float,
                     attempts: list[Attempt] | None = None) -> tuple[Any, Address]:
    """:func:`connect_entry`, also returning the address that answered."""
    deadline = time.monotonic() + timeout
    tried: list[Attempt] = []
    fresh: list[tuple[Address, list[Address], EndpointKey]] = []
    dead: list[tuple[Address, list[Address], EndpointKey]] = []
    for address, capture in entry.endpoints():
        key = endpoint_key(entry, address[0])
        (dead if is_dead(key) else fresh).append((address, capture, key))
    try:
        return _connect_first(actor_class, entry, authkey, fresh + dead, deadline,
                              tried)
    finally:
        if attempts is not None:
            attempts.extend(tried)


def _connect_first(actor_class: type, entry: Entry, authkey: bytes,
                   endpoints: list[tuple[Address, list[Address], EndpointKey]],
                   deadline: float, tried: list[Attempt]) -> tuple[Any, Address]:
    for index, (address, capture, key) in enumerate(endpoints):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            tried.append((entry.instance, format_address(address), "no time left"))
            continue
        last = index == len(endpoints) - 1
        try:
            # One address that swallows packets must not starve the others.
            proxy = _core.connect_verified(
                actor_class, address, authkey, serializer=entry.serializer,
                capture=capture,
                timeout=remaining if last else min(remaining, VERIFY_TIMEOUT))
        except (uactor.UActorException, OSError, EOFError) as exc:
            _mark(key, dead=True)
            tried.append((entry.instance, format_address(address),
                          f"{type(exc).__name__}: {exc}"))
            log.debug("%r at %s did not answer: %r", entry.instance,
                      format_address(address), exc)
            continue
        _mark(key, dead=False)
        return proxy, address
    raise DiscoveryError(
        f"{entry.label!r} ({entry.actor_class}) did not answer; tried "
        + "; ".join(f"{where}: {why}" for _, where, why in tried))


def probe(actor_class: type, entry: Entry, authkey: bytes) -> bool:
    """Whether ``entry`` answers (connect, authenticate, call) within VERIFY_TIMEOUT."""
    try:
        proxy = connect_entry(actor_class, entry, authkey, timeout=VERIFY_TIMEOUT)
    except DiscoveryError as exc:
        log.debug("%s", exc)
        return False
    del proxy  # releases the reference at once
    return True
