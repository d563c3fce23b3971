"""The registry's bookkeeping: validated entries, fair rotation and lazy expiry.

:class:`Table` is the plain data structure behind :class:`registry.Registry`.
It knows nothing about processes, locks or logging, so it can be tested (and
benchmarked) in-process with a fake clock; the actor wraps it with a lock.

Every operation the registry serves is O(1) whatever the number of entries:

* each service name owns an :class:`~collections.OrderedDict` used as a
  rotating queue: :meth:`Table.pick` takes the head and moves it to the end,
  so over ``k * n`` picks each of ``n`` entries comes back exactly ``k``
  times; a new address joins at the end (it waits its turn, it does not jump
  the queue) and renewing a known address leaves its place untouched;
* a global dictionary maps each address to its record, so unregistering is a
  pair of dictionary deletions;
* expiry uses one FIFO per TTL value: entries sharing a TTL expire in the
  order they were last renewed, so a renewal is a ``move_to_end`` and a sweep
  only looks at the heads of those FIFOs.  An expired head met by
  :meth:`Table.pick` is dropped on the spot, so an expired entry is never
  handed out even between sweeps.
"""
from __future__ import annotations

import math
import operator
import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any, Callable, NamedTuple

from ._errors import (
    InvalidAddressError,
    InvalidArgumentError,
    InvalidValueError,
    UnknownNameError,
    quote,
)

__all__ = [
    "DEFAULT_NAME",
    "MAX_TTL",
    "Address",
    "Entry",
    "Table",
    "check_address",
    "check_name",
    "check_ttl",
    "format_address",
]

# --------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------

#: Service name used by ``register(*addresses)`` and ``pick()`` when no name is
#: given (the spec's single-group registry).
DEFAULT_NAME = "default"

#: Longest accepted TTL (s): one day.  Anything longer is a mistake for a
#: liveness lease; use ``ttl=None`` for an entry that never expires.
MAX_TTL = 86400.0

#: Shortest accepted TTL (s).  Heartbeats run every third of the TTL, so much
#: shorter leases would turn the registry into a busy loop.
MIN_TTL = 0.05

#: Longest accepted host name or service name (characters); DNS names are at
#: most 253 characters, and these values end up in logs.
MAX_NAME_LENGTH = 255

#: How many known names an "unknown name" error lists at most.
_NAMES_IN_ERRORS = 10

Address = tuple[str, int]


# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------

def _check_text(value: object, what: str, example: str,
                error: type[InvalidValueError] = InvalidValueError) -> str:
    """``value`` as a plain ``str`` of printable, non-blank characters."""
    if not isinstance(value, str):
        raise InvalidArgumentError(
            f"{what} must be a str, got {type(value).__name__} {quote(value)}; "
            f"pass something like {example}"
        )
    if not value or len(value) > MAX_NAME_LENGTH:
        raise error(
            f"{what} {quote(value)} must be 1 to {MAX_NAME_LENGTH} characters long; "
            f"pass something like {example}"
        )
    if not value.isprintable() or any(char.isspace() for char in value):
        raise error(
            f"{what} {quote(value)} contains whitespace or control characters; "
            f"pass something like {example}"
        )
    return str(value)  # a plain str, never a subclass, goes over the wire


def check_address(value: object, what: str = "address") -> Address:
    """Return ``value`` as a ``(host, port)`` tuple or raise a clear error.

    Lists are accepted too (serializers such as xmlrpclib turn tuples into
    lists).  The port must be 1-65535: port 0 means "any port" when binding
    and cannot be connected to.  The result holds a plain ``str`` and ``int``.
    """
    if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list)):
        raise InvalidArgumentError(
            f"{what} must be a (host, port) tuple, got {type(value).__name__} "
            f"{quote(value)}; pass e.g. ('127.0.0.1', 5000), such as an actor's "
            f"connection_address"
        )
    if len(value) != 2:
        raise InvalidArgumentError(
            f"{what} must be a (host, port) pair, got {len(value)} items "
            f"{quote(value)}; pass e.g. ('127.0.0.1', 5000)"
        )
    host, port = value
    host = _check_text(host, f"host of {what} {quote(value)}", "'127.0.0.1'",
                       InvalidAddressError)
    if isinstance(port, bool):
        port_number = None
    else:
        try:
            port_number = operator.index(port)
        except TypeError:
            port_number = None
    if port_number is None:
        raise InvalidArgumentError(
            f"port of {what} {quote(value)} must be an int, got "
            f"{type(port).__name__}; pass e.g. ({host!r}, 5000)"
        )
    if not 0 < port_number < 65536:
        raise InvalidAddressError(
            f"port of {what} {quote(value)} must be within 1-65535; a port 0 "
            f"address is not connectable: register the actor's connection_address "
            f"once it has started"
        )
    return host, int(port_number)


def check_name(value: object) -> str:
    """Return ``value`` if it is a usable service name or raise a clear error."""
    return _check_text(value, "service name", "'Worker' (an actor class name)")


def check_ttl(value: object) -> float | None:
    """Return ``value`` as a float TTL in seconds (or ``None``: never expires)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidArgumentError(
            f"ttl must be a number of seconds or None, got {type(value).__name__} "
            f"{quote(value)}; pass e.g. ttl=5.0"
        )
    try:
        ttl = float(value)
    except OverflowError:  # an int too large for a float
        ttl = math.inf
    if not (math.isfinite(ttl) and MIN_TTL <= ttl <= MAX_TTL):
        raise InvalidValueError(
            f"ttl {quote(value)} must be within {MIN_TTL}-{MAX_TTL:g} seconds; "
            f"use ttl=None for an entry that never expires"
        )
    return ttl


def format_address(address: Address) -> str:
    """``'host:port'``, with an IPv6 host in brackets (``'[::1]:5000'``)."""
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _check_pid(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidArgumentError(
            f"pid must be a non-negative int or None, got {quote(value)}; "
            f"pass os.getpid()"
        )
    return int(value)


def _check_hostname(value: object) -> str | None:
    if value is None:
        return None
    return _check_text(value, "hostname", "socket.gethostname()")


# --------------------------------------------------------------------------
# Entries
# --------------------------------------------------------------------------

class Entry(NamedTuple):
    """A snapshot of one registration, as returned to clients.

    ``address`` is where clients connect; ``bind_address`` is what the actor
    bound (e.g. ``('0.0.0.0', 41234)``), to pass as ``capture`` when
    connecting so that proxies it returns route through the same connection.
    ``ttl`` is the lease in seconds (``None``: never expires) and
    ``expires_in`` the seconds left when the snapshot was taken.
    """

    address: Address
    bind_address: Address
    name: str
    pid: int | None
    hostname: str | None
    ttl: float | None
    expires_in: float | None


class _Record:
    """The mutable, registry-side state of one entry."""

    __slots__ = ("address", "bind_address", "expires_at", "hostname", "name",
                 "picks", "pid", "renewed_at", "ttl")

    def __init__(self, address: Address, name: str, now: float) -> None:
        self.address = address
        self.name = name
        self.bind_address = address
        self.pid: int | None = None
        self.hostname: str | None = None
        self.ttl: float | None = None
        self.expires_at: float | None = None
        self.renewed_at = now
        self.picks = 0

    def snapshot(self, now: float) -> Entry:
        return Entry(self.address, self.bind_address, self.name, self.pid,
                     self.hostname, self.ttl, self.expires_in(now))

    def expires_in(self, now: float) -> float | None:
        return None if self.expires_at is None else max(0.0, self.expires_at - now)

    def describe(self, now: float) -> dict[str, Any]:
        """Plain data for status pages: see :meth:`Table.describe`."""
        return {
            "address": format_address(self.address),
            "owner_host": self.hostname,
            "owner_pid": self.pid,
            "lease_age": now - self.renewed_at,
            "lease_left": self.expires_in(now),
            "picks": self.picks,
            "metadata": {"bind_address": format_address(self.bind_address),
                         "ttl": self.ttl},
        }


# --------------------------------------------------------------------------
# Table
# --------------------------------------------------------------------------

class Table:
    """Service entries grouped by name, with fair rotation and TTL expiry.

    Not thread-safe: :class:`registry.Registry` serializes access with a lock.
    ``clock`` returns seconds (default :func:`time.monotonic`); expiry times
    are local to this table, so clients' clocks never matter.

    Expired entries removed by :meth:`pick`, the listings or :meth:`sweep`
    are appended to :attr:`expired` so the caller can report them (and should
    clear the list).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._records: dict[Address, _Record] = {}
        self._groups: dict[str, OrderedDict[Address, _Record]] = {
            DEFAULT_NAME: OrderedDict()}
        self._expiry: dict[float, OrderedDict[Address, None]] = {}
        self.expired: list[Entry] = []

    def __len__(self) -> int:
        """Number of entries held, including expired ones not yet dropped."""
        return len(self._records)

    # -- mutation ----------------------------------------------------------

    def add(
        self,
        address: Address,
        *,
        name: str = DEFAULT_NAME,
        bind_address: Address | None = None,
        pid: int | None = None,
        hostname: str | None = None,
        ttl: float | None = None,
    ) -> tuple[Entry, bool]:
        """Register or renew ``address``; return its entry and whether it is new.

        Arguments must already be validated (see :meth:`validated`).  Renewing
        keeps the entry's place in its rotation; a changed ``name`` moves it
        to the end of the new group's rotation.
        """
        now = self._clock()
        record = self._records.get(address)
        if record is not None and self._is_expired(record, now):
            self._drop(record, now)
            record = None
        created = record is None
        if record is None:
            record = _Record(address, name, now)
            self._records[address] = record
            self._group(name)[address] = record
        elif record.name != name:
            del self._groups[record.name][address]
            record.name = name
            self._group(name)[address] = record
        record.renewed_at = now
        record.bind_address = bind_address or address
        record.pid = pid
        record.hostname = hostname
        if record.ttl is not None and record.ttl != ttl:
            self._unschedule(record)
        record.ttl = ttl
        if ttl is None:
            record.expires_at = None
        else:
            record.expires_at = now + ttl
            fifo = self._expiry.get(ttl)
            if fifo is None:
                fifo = self._expiry[ttl] = OrderedDict()
            fifo[address] = None
            fifo.move_to_end(address)
        return record.snapshot(now), created

    def remove(self, address: Address) -> Entry | None:
        """Forget ``address``; return its last entry, or ``None`` if unknown."""
        record = self._records.get(address)
        if record is None:
            return None
        now = self._clock()
        if self._is_expired(record, now):
            self._drop(record, now)
            return None
        self._forget(record)
        return record.snapshot(now)

    def sweep(self) -> int:
        """Drop every expired entry; return how many were dropped.

        Costs O(expired + distinct TTL values), not O(entries).
        """
        now = self._clock()
        dropped = 0
        for ttl in list(self._expiry):
            fifo = self._expiry[ttl]
            while fifo:
                record = self._records[next(iter(fifo))]
                if not self._is_expired(record, now):
                    break
                self._drop(record, now)
                dropped += 1
        return dropped

    # -- queries -----------------------------------------------------------

    def pick(self, name: str = DEFAULT_NAME) -> Entry | None:
        """Return the next live entry of ``name`` in rotation, or ``None``.

        Raises :class:`UnknownNameError` for a name never registered.
        """
        group = self._known_group(name)
        now = self._clock()
        while group:
            address, record = next(iter(group.items()))
            if self._is_expired(record, now):
                self._drop(record, now)
                continue
            group.move_to_end(address)
            record.picks += 1
            return record.snapshot(now)
        return None

    def entries(self, name: str | None = None) -> list[Entry]:
        """Live entries of ``name`` (all names if ``None``) in rotation order."""
        self.sweep()
        now = self._clock()
        if name is None:
            groups: Iterable[OrderedDict[Address, _Record]] = self._groups.values()
        else:
            groups = (self._known_group(name),)
        return [record.snapshot(now) for group in groups for record in group.values()]

    def names(self) -> list[str]:
        """Sorted names that currently have at least one live entry."""
        self.sweep()
        return sorted(name for name, group in self._groups.items() if group)

    def describe(self) -> list[dict[str, Any]]:
        """Every service with its live entries, as plain data, sorted by name.

        Each service is ``{"name": str, "actors": [...]}``, its entries in
        rotation order (the next pick first), each ``{"address": "host:port",
        "owner_host", "owner_pid", "lease_age" (s since the last registration
        or renewal), "lease_left" (s, ``None``: never expires), "picks" (times
        handed out), "metadata": {"bind_address", "ttl"}}``.  Names that were
        registered once and have no live entry now are listed with no actors,
        except the implicit ``'default'`` group.  Costs O(entries).
        """
        self.sweep()
        now = self._clock()
        return [
            {"name": name, "actors": [record.describe(now) for record in group.values()]}
            for name, group in sorted(self._groups.items())
            if group or name != DEFAULT_NAME
        ]

    def live_count(self) -> tuple[int, int]:
        """``(services, entries)`` as :meth:`describe` would count them."""
        self.sweep()
        services = sum(1 for name, group in self._groups.items()
                       if group or name != DEFAULT_NAME)
        return services, len(self._records)

    def known_count(self) -> int:
        """Number of names ever registered (the default included)."""
        return len(self._groups)

    # -- validation ----------------------------------------------------------

    @staticmethod
    def validated(
        address: Any,
        *,
        name: Any = DEFAULT_NAME,
        bind_address: Any = None,
        pid: Any = None,
        hostname: Any = None,
        ttl: Any = None,
    ) -> dict[str, Any]:
        """Check and normalize :meth:`add` arguments; raise a clear error if bad."""
        return {
            "address": check_address(address),
            "name": check_name(name),
            "bind_address": (None if bind_address is None
                             else check_address(bind_address, "bind_address")),
            "pid": _check_pid(pid),
            "hostname": _check_hostname(hostname),
            "ttl": check_ttl(ttl),
        }

    # -- internals ------------------------------------------------------------

    def _group(self, name: str) -> OrderedDict[Address, _Record]:
        group = self._groups.get(name)
        if group is None:
            group = self._groups[name] = OrderedDict()
        return group

    def _known_group(self, name: str) -> OrderedDict[Address, _Record]:
        try:
            group = self._groups.get(name)
        except TypeError:  # unhashable: check_name says what was wrong
            group = None
        if group is None:
            check_name(name)
            known = sorted(self._groups)
            shown = ", ".join(repr(n) for n in known[:_NAMES_IN_ERRORS])
            if len(known) > _NAMES_IN_ERRORS:
                shown += f", ... ({len(known)} in all)"
            raise UnknownNameError(
                f"no service named {name!r} has registered with this registry "
                f"(known names: {shown}); check the spelling, or register an "
                f"actor under that name first"
            )
        return group

    @staticmethod
    def _is_expired(record: _Record, now: float) -> bool:
        return record.expires_at is not None and record.expires_at <= now

    def _unschedule(self, record: _Record) -> None:
        if record.ttl is None:
            return
        fifo = self._expiry[record.ttl]
        del fifo[record.address]
        if not fifo:
            del self._expiry[record.ttl]

    def _forget(self, record: _Record) -> None:
        del self._records[record.address]
        del self._groups[record.name][record.address]
        self._unschedule(record)

    def _drop(self, record: _Record, now: float) -> None:
        self._forget(record)
        self.expired.append(record.snapshot(now))
