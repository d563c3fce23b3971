"""The registry's bookkeeping: leases, their entries, fair rotation and expiry.

:class:`Table` is the plain data structure behind :class:`registry.Registry`:
the node's *view* of what its store holds.  It knows nothing about processes,
locks, stores or logging, so it can be tested (and benchmarked) in-process
with a fake clock; the actor wraps it with a lock.

Entries belong to *leases*.  A lease has a TTL (or none: it never expires),
an owner (the process that opened it) and any number of entries; renewing the
lease renews all of them, and when it runs out they all go.  Who may change
an entry is the business of the store (:mod:`registry._store`): the table
only records which lease each entry belongs to.

Every operation the registry serves is O(1) whatever the number of entries:

* each service name owns an :class:`~collections.OrderedDict` used as a
  rotating queue: :meth:`Table.pick` takes the head and moves it to the end,
  so over ``k * n`` picks each of ``n`` entries comes back exactly ``k``
  times; a new address joins at the end (it waits its turn, it does not jump
  the queue) and renewing a known address leaves its place untouched;
* a global dictionary maps each address to its record, so unregistering is a
  pair of dictionary deletions;
* expiry (when the table manages it: the in-memory store) uses one FIFO of
  leases per TTL value: leases sharing a TTL expire in the order they were
  last renewed, so a renewal is a ``move_to_end`` and a sweep only looks at
  the heads of those FIFOs.  An expired lease met by :meth:`Table.pick` is
  dropped on the spot, so an expired entry is never handed out even between
  sweeps;
* a service name whose last entry goes is forgotten (memory stays bounded by
  the live entries); the most recently emptied names are remembered, in a
  bounded list, so that ``pick`` keeps answering ``None`` for them for a
  while rather than "unknown name".
"""
from __future__ import annotations

import math
import operator
import string
import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any, Callable, NamedTuple

from ._errors import (
    InvalidAddressError,
    InvalidArgumentError,
    InvalidValueError,
    NotOwnerError,
    UnknownLeaseError,
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
    "check_lease_token",
    "check_name",
    "check_ttl",
    "format_address",
    "not_owner",
    "unknown_lease",
]

# --------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------

#: Service name used by ``register(*addresses)`` and ``pick()`` when no name is
#: given (the spec's single-group registry).  Never forgotten.
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

#: How many emptied service names are remembered (``pick`` answers ``None``
#: for them instead of raising :class:`UnknownNameError`).  Bounds memory
#: however many unique names come and go.
RETIRED_NAMES = 1024

#: Lease tokens are URL-safe text of this many characters at least (a token
#: from :func:`secrets.token_urlsafe` of 24 bytes has 32: 192 bits).
MIN_TOKEN_LENGTH = 22  # 128 bits in base64
MAX_TOKEN_LENGTH = 128
_TOKEN_CHARACTERS = frozenset(string.ascii_letters + string.digits + "-_")

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


def check_lease_token(value: object) -> str:
    """Return ``value`` if it looks like a lease token, or raise a clear error.

    The messages never quote the value: it may be someone's secret.
    """
    if not isinstance(value, str):
        raise InvalidArgumentError(
            f"lease must be the token (a str) that open_lease() or register() "
            f"returned, got a {type(value).__name__}"
        )
    if not (MIN_TOKEN_LENGTH <= len(value) <= MAX_TOKEN_LENGTH
            and _TOKEN_CHARACTERS.issuperset(value)):
        raise InvalidValueError(
            "lease is not a token that open_lease() or register() returned "
            f"(tokens are {MIN_TOKEN_LENGTH}-{MAX_TOKEN_LENGTH} URL-safe "
            "characters); pass the token unchanged"
        )
    return str(value)


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


def not_owner(address: Address) -> NotOwnerError:
    """The refusal every store gives for an entry of another lease."""
    return NotOwnerError(
        f"{format_address(address)} is registered under another lease: only the "
        f"process that registered it can renew, move or unregister it (it goes "
        f"when that lease ends)")


def unknown_lease() -> UnknownLeaseError:
    """The error for a lease token nobody (any more) knows."""
    return UnknownLeaseError(
        "lease not known to this registry (it expired, was closed, or the registry "
        "lost it); open a new lease and register again")


def format_address(address: Address) -> str:
    """``'host:port'``, with brackets around an IPv6 host (``'[::1]:5000'``)."""
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# --------------------------------------------------------------------------
# Entries and leases
# --------------------------------------------------------------------------

class Entry(NamedTuple):
    """A snapshot of one registration, as returned to clients.

    ``address`` is where clients connect; ``bind_address`` is what the actor
    bound (e.g. ``('0.0.0.0', 41234)``), to pass as ``capture`` when
    connecting so that proxies it returns route through the same connection.
    ``ttl`` is the lease in seconds (``None``: never expires) and
    ``expires_in`` the seconds it had left, as far as the node that answered
    knows, when the snapshot was taken.
    """

    address: Address
    bind_address: Address
    name: str
    pid: int | None
    hostname: str | None
    ttl: float | None
    expires_in: float | None


class _Lease:
    """One lease as this table knows it."""

    __slots__ = ("created", "id", "owner_host", "owner_pid", "records", "renewed",
                 "ttl")

    def __init__(self, lease_id: str, ttl: float | None, owner_pid: int | None,
                 owner_host: str | None, created: float, renewed: float) -> None:
        self.id = lease_id
        self.ttl = ttl
        self.owner_pid = owner_pid
        self.owner_host = owner_host
        #: Wall-clock time (epoch s) the lease was opened.
        self.created = created
        #: Monotonic time of the last renewal this table saw.
        self.renewed = renewed
        self.records: dict[Address, _Record] = {}

    def left(self, now: float) -> float | None:
        return None if self.ttl is None else max(0.0, self.renewed + self.ttl - now)


class _Record:
    """The registry-side state of one entry."""

    __slots__ = ("address", "bind_address", "hostname", "lease", "name", "picks",
                 "pid")

    def __init__(self, address: Address, name: str, lease: _Lease) -> None:
        self.address = address
        self.name = name
        self.lease = lease
        self.bind_address = address
        self.pid: int | None = None
        self.hostname: str | None = None
        self.picks = 0

    def snapshot(self, now: float) -> Entry:
        lease = self.lease
        return Entry(self.address, self.bind_address, self.name, self.pid,
                     self.hostname, lease.ttl, lease.left(now))


# --------------------------------------------------------------------------
# Table
# --------------------------------------------------------------------------

class Table:
    """Leases and their entries grouped by name, with fair rotation.

    Not thread-safe: :class:`registry.Registry` serializes access with a lock.
    ``clock`` returns seconds (default :func:`time.monotonic`); lease times
    are local to this table, so clients' clocks never matter.

    With ``expires=True`` (the in-memory store) the table ends leases not
    renewed within their TTL itself.  With ``expires=False`` (a view of etcd
    or Redis) the store ends them and the table is told.  Entries dropped
    because their lease expired are appended to :attr:`expired` so the caller
    can report them (and should clear the list).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, *,
                 expires: bool = True) -> None:
        self._clock = clock
        self._expires = expires
        self._leases: dict[str, _Lease] = {}
        self._records: dict[Address, _Record] = {}
        self._groups: dict[str, OrderedDict[Address, _Record]] = {
            DEFAULT_NAME: OrderedDict()}
        self._retired: OrderedDict[str, None] = OrderedDict()
        self._expiry: dict[float, OrderedDict[str, None]] = {}
        self.expired: list[Entry] = []

    def __len__(self) -> int:
        """Number of entries held, including expired ones not yet dropped."""
        return len(self._records)

    @property
    def lease_count(self) -> int:
        """Number of leases held, including expired ones not yet dropped."""
        return len(self._leases)

    # -- leases --------------------------------------------------------------

    def grant(self, lease_id: str, ttl: float | None, *, owner_pid: int | None = None,
              owner_host: str | None = None, created: float | None = None) -> None:
        """Record lease ``lease_id`` (idempotent: a known lease keeps its entries)."""
        now = self._clock()
        lease = self._leases.get(lease_id)
        if lease is not None:
            lease.owner_pid, lease.owner_host = owner_pid, owner_host
            if created is not None:
                lease.created = created
            return
        lease = _Lease(lease_id, ttl, owner_pid, owner_host,
                       time.time() if created is None else created, now)
        self._leases[lease_id] = lease
        self._schedule(lease)

    def renew(self, lease_id: str) -> int:
        """Renew a lease now; return how many entries it holds.

        Raises :class:`UnknownLeaseError` when it is unknown or has expired.
        """
        lease = self._live_lease(lease_id)
        lease.renewed = self._clock()
        if self._expires and lease.ttl is not None:
            self._expiry[lease.ttl].move_to_end(lease_id)
        return len(lease.records)

    def renewed(self, lease_id: str, ago: float) -> None:
        """Note that lease ``lease_id`` was renewed ``ago`` seconds ago
        elsewhere (through another node of the fleet); unknown leases are
        ignored.  Only what :meth:`describe` and entries' ``expires_in`` show
        changes: tables that expire leases themselves are renewed with
        :meth:`renew`."""
        lease = self._leases.get(lease_id)
        if lease is not None and not self._expires:
            lease.renewed = max(lease.renewed, self._clock() - max(0.0, ago))

    def lease_ttl(self, lease_id: str) -> float | None:
        """The TTL of a live lease; :class:`UnknownLeaseError` if there is none."""
        return self._live_lease(lease_id).ttl

    def has_lease(self, lease_id: str) -> bool:
        """Whether ``lease_id`` is a live lease."""
        try:
            self._live_lease(lease_id)
        except UnknownLeaseError:
            return False
        return True

    def lease_size(self, lease_id: str) -> int:
        """Entries held by a lease (0 for an unknown one)."""
        lease = self._leases.get(lease_id)
        return 0 if lease is None else len(lease.records)

    def end_lease(self, lease_id: str) -> list[Entry]:
        """Forget a lease and its entries; return the entries (not "expired")."""
        lease = self._leases.get(lease_id)
        if lease is None:
            return []
        now = self._clock()
        entries = [record.snapshot(now) for record in lease.records.values()]
        self._end(lease)
        return entries

    # -- entries ---------------------------------------------------------------

    def entry(self, address: Address) -> Entry | None:
        """The live entry of ``address``, or ``None``."""
        record = self._live_record(address)
        return None if record is None else record.snapshot(self._clock())

    def lease_entries(self, lease_id: str) -> list[Entry]:
        """The live entries of a lease (none for an unknown or expired one)."""
        try:
            lease = self._live_lease(lease_id)
        except UnknownLeaseError:
            return []
        now = self._clock()
        return [record.snapshot(now) for record in lease.records.values()]

    def owner(self, address: Address) -> str | None:
        """The lease holding the live entry of ``address``, or ``None``."""
        record = self._live_record(address)
        return None if record is None else record.lease.id

    def put(
        self,
        address: Address,
        lease_id: str,
        *,
        name: str = DEFAULT_NAME,
        bind_address: Address | None = None,
        pid: int | None = None,
        hostname: str | None = None,
    ) -> tuple[Entry, bool]:
        """Record ``address`` under a live lease; return its entry and whether it is new.

        Arguments must already be validated (see :meth:`validated`); whether
        the caller may change the entry is the store's business.  Renewing
        keeps the entry's place in its rotation; a changed ``name`` moves it
        to the end of the new group's rotation.
        """
        lease = self._live_lease(lease_id)
        record = self._live_record(address)
        created = record is None
        if record is None:
            record = _Record(address, name, lease)
            self._records[address] = record
            self._group(name)[address] = record
            lease.records[address] = record
        else:
            if record.name != name:
                self._ungroup(record)
                record.name = name
                self._group(name)[address] = record
            if record.lease is not lease:
                del record.lease.records[address]
                record.lease = lease
                lease.records[address] = record
        record.bind_address = bind_address or address
        record.pid = pid
        record.hostname = hostname
        return record.snapshot(self._clock()), created

    def remove(self, address: Address) -> Entry | None:
        """Forget ``address``; return its last entry, or ``None`` if unknown."""
        record = self._live_record(address)
        if record is None:
            return None
        self._forget(record)
        return record.snapshot(self._clock())

    def sweep(self) -> int:
        """End every expired lease; return how many entries were dropped.

        Costs O(expired + distinct TTL values), not O(entries).
        """
        if not self._expires:
            return 0
        now = self._clock()
        dropped = 0
        for ttl in list(self._expiry):
            fifo = self._expiry.get(ttl)
            while fifo:
                lease = self._leases[next(iter(fifo))]
                if not self._is_expired(lease, now):
                    break
                dropped += len(lease.records)
                self._expire(lease)
        return dropped

    def clear(self) -> None:
        """Forget everything (a view about to be reloaded from its store)."""
        self._leases.clear()
        self._records.clear()
        self._groups = {DEFAULT_NAME: OrderedDict()}
        self._expiry.clear()

    # -- queries ---------------------------------------------------------------

    def pick(self, name: str = DEFAULT_NAME) -> Entry | None:
        """Return the next live entry of ``name`` in rotation, or ``None``.

        Raises :class:`UnknownNameError` for a name not known to the table.
        """
        group = self._known_group(name)
        if group is None:
            return None
        now = self._clock()
        while group:
            address, record = next(iter(group.items()))
            if self._is_expired(record.lease, now):
                self._expire(record.lease)
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
            group = self._known_group(name)
            groups = () if group is None else (group,)
        return [record.snapshot(now) for group in groups for record in group.values()]

    def names(self) -> list[str]:
        """Sorted names that currently have at least one live entry."""
        self.sweep()
        return sorted(name for name, group in self._groups.items() if group)

    def known_count(self) -> int:
        """Number of names held (those with entries, and the default)."""
        return len(self._groups)

    def describe(self) -> list[dict[str, Any]]:
        """Every service with its live entries, as plain data, sorted by name.

        Each service is ``{"name": str, "actors": [...]}``, its entries in
        rotation order (the next pick first), each ``{"address": "host:port",
        "owner_host", "owner_pid"`` (the process holding the lease),
        ``"lease_age"`` (s since the lease was last renewed), ``"lease_left"``
        (s, ``None``: never expires), ``"picks"`` (times this node handed it
        out), ``"metadata": {"bind_address", "pid", "hostname", "ttl"}}``.
        Names whose last entry went recently (the bounded list that
        :meth:`pick` still answers ``None`` for) are listed with no actors;
        the empty ``'default'`` group is left out.  Costs O(entries).
        """
        self.sweep()
        now = self._clock()
        listing = {name: [_describe_record(record, now) for record in group.values()]
                   for name, group in self._groups.items()
                   if group or name != DEFAULT_NAME}
        listing.update((name, []) for name in self._retired)
        return [{"name": name, "actors": actors}
                for name, actors in sorted(listing.items())]

    def live_count(self) -> tuple[int, int]:
        """``(services, entries)`` as :meth:`describe` would count them, in
        O(names) rather than O(entries)."""
        self.sweep()
        services = sum(1 for name, group in self._groups.items()
                       if group or name != DEFAULT_NAME)
        return services + len(self._retired), len(self._records)

    # -- validation ----------------------------------------------------------

    @staticmethod
    def validated(
        address: Any,
        *,
        name: Any = DEFAULT_NAME,
        bind_address: Any = None,
        pid: Any = None,
        hostname: Any = None,
    ) -> dict[str, Any]:
        """Check and normalize :meth:`put` arguments; raise a clear error if bad."""
        return {
            "address": check_address(address),
            "name": check_name(name),
            "bind_address": (None if bind_address is None
                             else check_address(bind_address, "bind_address")),
            "pid": _check_pid(pid),
            "hostname": _check_hostname(hostname),
        }

    @staticmethod
    def validated_owner(pid: Any = None, hostname: Any = None) -> dict[str, Any]:
        """Check a lease owner's ``pid`` and ``hostname``."""
        return {"owner_pid": _check_pid(pid), "owner_host": _check_hostname(hostname)}

    # -- internals ------------------------------------------------------------

    def _live_lease(self, lease_id: str) -> _Lease:
        lease = self._leases.get(lease_id)
        if lease is not None and self._is_expired(lease, self._clock()):
            self._expire(lease)
            lease = None
        if lease is None:
            raise unknown_lease()
        return lease

    def _live_record(self, address: Address) -> _Record | None:
        """The record of ``address`` unless absent or expired (then dropped)."""
        record = self._records.get(address)
        if record is not None and self._is_expired(record.lease, self._clock()):
            self._expire(record.lease)
            return None
        return record

    def _group(self, name: str) -> OrderedDict[Address, _Record]:
        group = self._groups.get(name)
        if group is None:
            group = self._groups[name] = OrderedDict()
            self._retired.pop(name, None)
        return group

    def _ungroup(self, record: _Record) -> None:
        group = self._groups[record.name]
        del group[record.address]
        if not group and record.name != DEFAULT_NAME:
            del self._groups[record.name]
            self._retired[record.name] = None
            if len(self._retired) > RETIRED_NAMES:
                self._retired.popitem(last=False)

    def _known_group(self, name: str) -> OrderedDict[Address, _Record] | None:
        try:
            group = self._groups.get(name)
        except TypeError:  # unhashable: check_name says what was wrong
            group = None
        if group is not None:
            return group
        check_name(name)
        if name in self._retired:
            return None
        known = sorted(self._groups)
        shown = ", ".join(repr(n) for n in known[:_NAMES_IN_ERRORS])
        if len(known) > _NAMES_IN_ERRORS:
            shown += f", ... ({len(known)} in all)"
        raise UnknownNameError(
            f"no service named {name!r} is registered with this registry "
            f"(known names: {shown}); check the spelling, or register an "
            f"actor under that name first"
        )

    def _is_expired(self, lease: _Lease, now: float) -> bool:
        return (self._expires and lease.ttl is not None
                and lease.renewed + lease.ttl <= now)

    def _schedule(self, lease: _Lease) -> None:
        if self._expires and lease.ttl is not None:
            fifo = self._expiry.get(lease.ttl)
            if fifo is None:
                fifo = self._expiry[lease.ttl] = OrderedDict()
            fifo[lease.id] = None

    def _unschedule(self, lease: _Lease) -> None:
        if lease.ttl is None or lease.ttl not in self._expiry:
            return
        fifo = self._expiry[lease.ttl]
        fifo.pop(lease.id, None)
        if not fifo:
            del self._expiry[lease.ttl]

    def _forget(self, record: _Record) -> None:
        del self._records[record.address]
        self._ungroup(record)
        del record.lease.records[record.address]

    def _end(self, lease: _Lease) -> None:
        for record in list(lease.records.values()):
            self._forget(record)
        del self._leases[lease.id]
        self._unschedule(lease)

    def _expire(self, lease: _Lease) -> None:
        now = self._clock()
        self.expired.extend(record.snapshot(now) for record in lease.records.values())
        self._end(lease)


def _describe_record(record: _Record, now: float) -> dict[str, Any]:
    lease = record.lease
    return {
        "address": format_address(record.address),
        "owner_host": lease.owner_host,
        "owner_pid": lease.owner_pid,
        "lease_age": max(0.0, now - lease.renewed),
        "lease_left": lease.left(now),
        "picks": record.picks,
        "metadata": {
            "bind_address": format_address(record.bind_address),
            "pid": record.pid,
            "hostname": record.hostname,
            "ttl": lease.ttl,
        },
    }
