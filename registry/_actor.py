"""The :class:`Registry` actor: a service directory for networked actors.

A drop-in, production-grade version of the networking chapter's example
registry (``register(*addresses)``, round-robin ``pick()``, ``None`` when
empty), adding service names, leases renewed by heartbeats, metadata and
input validation.  The bookkeeping lives in :class:`registry._table.Table`;
this module adds what an actor needs: a lock (the manager serves each client
connection on its own thread), logging, a periodic expiry sweep, and its
defences against its own clients: requests decoded as plain data only, a
bound on their size, and a shutdown only the owner may ask for.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from types import TracebackType
from typing import Any

import uactor

from ._errors import NotOwnerError, quote
from ._latency import LatencyHistogram
from ._table import (
    DEFAULT_NAME,
    Address,
    Entry,
    Table,
    check_address,
    check_ttl,
    format_address,
)

__all__ = ["DEFAULT_MAX_MESSAGE", "DEFAULT_SWEEP_INTERVAL", "DEFAULT_TTL", "Registry"]

logger = logging.getLogger(__name__)

#: Lease given to actors registered through :func:`registry.register_actor`
#: when neither the caller nor the registry chooses one (s).  Heartbeats run
#: every third of it, so a killed actor is forgotten within 5 s while a
#: healthy one sends about one small message a second.
DEFAULT_TTL = 5.0

#: How often the registry drops expired entries in the background (s).  Expiry
#: is also checked lazily on every pick and listing, so this only bounds how
#: long memory and log lines lag behind; it is not a correctness knob.
DEFAULT_SWEEP_INTERVAL = 1.0

#: Largest request a registry accepts (bytes).  Its requests are a few
#: hundred bytes (an address, a name, some metadata); a bigger one is refused
#: by uactor after reading only its header, so a client cannot make the
#: registry hold a 100 MB message in memory.
DEFAULT_MAX_MESSAGE = 1 << 20


#: A ``register()`` call adding more addresses than this logs one summary
#: line instead of one line per address.
_LOG_EACH_UP_TO = 10


class Registry(uactor.Actor):
    """Actor holding a directory of networked actor addresses.

    Entries are grouped by service name.  :meth:`register` (the spec's API)
    puts addresses in the ``'default'`` group with no expiry; the helpers
    (:func:`registry.register_actor`) register one actor under its class name
    with a lease (``ttl``) that they renew with heartbeats, so a killed actor
    disappears once its lease runs out.  :meth:`pick` hands entries out
    round-robin: over ``k * n`` picks each of ``n`` entries comes back exactly
    ``k`` times, and registering, renewing, unregistering and picking cost
    O(1) whatever the number of entries.

    It decodes requests as plain data only (``str``, ``int``, ``float``,
    ``bool``, ``None``, ``bytes`` and containers of those, plus
    :class:`registry.Entry`; uactor's ``allowed_classes`` option), so a
    client holding the key cannot run code in it with a pickle payload, and
    refuses requests over :data:`DEFAULT_MAX_MESSAGE` bytes (``max_message``
    option; override both in ``options`` if you must).  Only its owner may
    :meth:`shutdown` it.

    Start it like any actor, listening on TCP with an authkey, e.g.::

        registry = uactor.start(Registry, options={
            'address': ('127.0.0.1', 5000), 'authkey': key})

    or run a registry node with ``python -m registry`` (``uactor-registry``).

    :param default_ttl: lease (s) that :meth:`default_ttl` suggests to helpers
        registering without an explicit ``ttl``.
    :param sweep_interval: seconds between background expiry sweeps.

    All methods are safe to call concurrently from any number of clients.
    Bad arguments raise :class:`registry.InvalidArgumentError` (a
    ``TypeError``), :class:`registry.InvalidAddressError` (a ``ValueError``)
    or :class:`registry.UnknownNameError` (a ``KeyError``), and leave the
    registry unchanged.
    """

    _options_ = {
        "allowed_classes": (Entry,),
        "max_message": DEFAULT_MAX_MESSAGE,
    }

    _exposed_ = (
        "addresses",
        "default_ttl",
        "entries",
        "names",
        "pick",
        "pick_entry",
        "register",
        "register_entry",
        "snapshot",
        "stats",
        "unregister",
        "wait",
    )

    def __init__(
        self,
        *,
        default_ttl: float = DEFAULT_TTL,
        sweep_interval: float = DEFAULT_SWEEP_INTERVAL,
    ) -> None:
        ttl = check_ttl(default_ttl)
        if ttl is None:
            raise TypeError("default_ttl must be a number of seconds, not None")
        if (isinstance(sweep_interval, bool)
                or not isinstance(sweep_interval, (int, float))
                or not 0 < sweep_interval <= 3600):
            raise ValueError(
                f"sweep_interval must be within (0, 3600] seconds, "
                f"got {quote(sweep_interval)}"
            )
        self._default_ttl = ttl
        self._sweep_interval = float(sweep_interval)
        self._table = Table()
        self._counters = dict.fromkeys(
            ("registered", "renewed", "unregistered", "expired", "picks"), 0)
        self._lock = _TimedLock(LatencyHistogram())
        self._started = time.time()
        self._finished = threading.Event()
        self._sweeper_stop = threading.Event()
        self._sweeper: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------

    def _actor_started_(self) -> None:
        """Start the background expiry sweep (runs in the actor process)."""
        super()._actor_started_()  # type: ignore[misc]  # missing from the stubs
        self._sweeper = threading.Thread(
            target=self._sweep_loop, name="registry-sweep", daemon=True
        )
        self._sweeper.start()

    def _actor_stopping_(self) -> None:
        """Stop the background sweep before the actor process exits."""
        self._sweeper_stop.set()
        if self._sweeper is not None:
            self._sweeper.join(timeout=5.0)
        super()._actor_stopping_()  # type: ignore[misc]  # missing from the stubs

    def shutdown(self) -> None:
        """Stop the registry; only its owner, the process that started it, may.

        The owner's shutdown sets the event :meth:`wait` reports and ends the
        actor process.  Any other client gets :class:`registry.NotOwnerError`
        and the registry keeps serving: a key holder cannot stop a registry
        others rely on.
        """
        if not _called_by_owner():
            logger.warning("refused a shutdown request from a client that is not "
                           "the registry's owner")
            raise NotOwnerError(
                "only the process that started this registry may stop it; stop a "
                "registry node with SIGINT or SIGTERM where it runs")
        logger.info("shutdown requested")
        self._finished.set()
        super().shutdown()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the owner's :meth:`shutdown` or ``timeout`` (s) passes.

        Returns whether shutdown was requested.  Poll with a timeout of a few
        seconds rather than block indefinitely.
        """
        return self._finished.wait(timeout)

    # -- registration ----------------------------------------------------------

    def register(self, *addresses: Address, name: str = DEFAULT_NAME,
                 ttl: float | None = None) -> int:
        """Register ``addresses`` (``(host, port)`` tuples) under ``name``.

        The spec's call: with no ``ttl`` the entries never expire (renew by
        registering again, remove with :meth:`unregister`).  Registering a
        known address renews it without changing its turn.  All addresses
        are validated before any is stored.  Returns how many were new.
        """
        checked = [Table.validated(address, name=name, ttl=ttl)
                   for address in addresses]
        with self._lock:
            entries = [self._table.add(**kwargs) for kwargs in checked]
            created = sum(new for _, new in entries)
            self._counters["registered"] += created
            self._counters["renewed"] += len(entries) - created
            expired = self._drain_expired()
        if created > _LOG_EACH_UP_TO:
            logger.info("registered %d addresses as %r (ttl %s)", created, name,
                        _describe_ttl(checked[0]["ttl"]))
        else:
            for entry, new in entries:
                self._log_added(entry, new)
        self._log_expired(expired)
        return created

    def register_entry(
        self,
        address: Address,
        *,
        name: str = DEFAULT_NAME,
        bind_address: Address | None = None,
        pid: int | None = None,
        hostname: str | None = None,
        ttl: float | None = None,
    ) -> Entry:
        """Register or renew one actor with its metadata; return its entry.

        ``bind_address`` is the address the actor bound (for clients'
        ``capture``; defaults to ``address``), ``pid`` and ``hostname``
        identify its process for people reading listings and logs, and
        ``ttl`` is its lease in seconds (``None``: never expires).  This is
        what the heartbeats of :func:`registry.register_actor` call.
        """
        checked = Table.validated(address, name=name, bind_address=bind_address,
                                  pid=pid, hostname=hostname, ttl=ttl)
        with self._lock:
            entry, new = self._table.add(**checked)
            self._counters["registered" if new else "renewed"] += 1
            expired = self._drain_expired()
        self._log_added(entry, new)
        self._log_expired(expired)
        return entry

    def unregister(self, *addresses: Address) -> int:
        """Remove ``addresses`` at once; unknown ones are ignored.

        Returns how many were removed.  All addresses are validated first.
        """
        checked = [check_address(address) for address in addresses]
        with self._lock:
            removed = [entry for entry in map(self._table.remove, checked) if entry]
            self._counters["unregistered"] += len(removed)
            expired = self._drain_expired()
        for entry in removed:
            logger.info("unregistered %s (%s)", format_address(entry.address), entry.name)
        self._log_expired(expired)
        return len(removed)

    # -- queries ---------------------------------------------------------------

    def pick(self, name: str = DEFAULT_NAME) -> Address | None:
        """Return the next live ``(host, port)`` of ``name`` round-robin.

        ``None`` when the group is empty; :class:`registry.UnknownNameError`
        when no actor ever registered under ``name``.
        """
        entry = self.pick_entry(name)
        return None if entry is None else entry.address

    def pick_entry(self, name: str = DEFAULT_NAME) -> Entry | None:
        """Like :meth:`pick` but return the whole :class:`registry.Entry`."""
        with self._lock:
            entry = self._table.pick(name)
            self._counters["picks"] += 1
            expired = self._drain_expired()
        self._log_expired(expired)
        return entry

    def names(self) -> list[str]:
        """Sorted service names that currently have live entries."""
        with self._lock:
            names = self._table.names()
            expired = self._drain_expired()
        self._log_expired(expired)
        return names

    def addresses(self, name: str | None = None) -> list[Address]:
        """Live addresses of ``name`` (of every name if ``None``), in turn order."""
        return [entry.address for entry in self.entries(name)]

    def entries(self, name: str | None = None) -> list[Entry]:
        """Live entries of ``name`` (of every name if ``None``), in turn order."""
        with self._lock:
            entries = self._table.entries(name)
            expired = self._drain_expired()
        self._log_expired(expired)
        return entries

    def stats(self) -> dict[str, int]:
        """Counters for monitoring; unlike the listings, does not sweep.

        ``entries`` (held now, including expired ones not yet dropped),
        ``names`` (known service names) and the running totals
        ``registered``, ``renewed``, ``unregistered``, ``expired``, ``picks``.
        """
        with self._lock:
            return {"entries": len(self._table), "names": self._table.known_count(),
                    **self._counters}

    def snapshot(self, services: bool = True) -> dict[str, Any]:
        """The whole picture for status pages and metrics, as plain data.

        ``{"node": {"address", "pid", "started" (epoch s), "store": {"url",
        "reachable", "stale_for" (s)}, "peers": [...]}, "totals": {"services",
        "actors", "registered_total", "renewed_total", "unregistered_total",
        "expired_total", "picks_total"}, "services": [...], "store_latency":
        {"buckets": [[le (s), cumulative count], ...], "sum" (s), "count"}}``;
        ``services`` is :meth:`registry._table.Table.describe`'s listing.
        ``services=False`` leaves that listing empty (the totals stay
        complete): O(names) rather than O(entries), for health checks.
        Drops expired entries first, like the listings.
        """
        with self._lock:
            if services:
                listing = self._table.describe()
                counts = len(listing), sum(len(s["actors"]) for s in listing)
            else:
                listing = []
                counts = self._table.live_count()
            counters = dict(self._counters)
            latency = self._lock.latency.snapshot()
            expired = self._drain_expired()
        self._log_expired(expired)
        return {
            "node": {
                "address": _own_address(),
                "pid": os.getpid(),
                "started": self._started,
                "store": {"url": "memory://", "reachable": True, "stale_for": 0.0},
                "peers": [],
            },
            "totals": {
                "services": counts[0],
                "actors": counts[1],
                **{f"{name}_total": value for name, value in counters.items()},
            },
            "services": listing,
            "store_latency": latency,
        }

    def default_ttl(self) -> float:
        """The lease (s) helpers use when registering without a ``ttl``."""
        return self._default_ttl

    # -- internals -------------------------------------------------------------

    def _sweep_loop(self) -> None:
        while not self._sweeper_stop.wait(self._sweep_interval):
            with self._lock:
                self._table.sweep()
                expired = self._drain_expired()
            self._log_expired(expired)

    def _drain_expired(self) -> list[Entry]:
        """Take the entries the table dropped as expired (call under the lock)."""
        expired = self._table.expired
        if expired:
            self._table.expired = []
            self._counters["expired"] += len(expired)
        return expired

    @staticmethod
    def _log_added(entry: Entry, new: bool) -> None:
        if new:
            logger.info(
                "registered %s as %r (bind %s, pid %s on %s, ttl %s)",
                format_address(entry.address), entry.name, format_address(entry.bind_address),
                entry.pid, entry.hostname, _describe_ttl(entry.ttl),
            )
        else:
            logger.debug("renewed %s (%s)", format_address(entry.address), entry.name)

    @staticmethod
    def _log_expired(expired: list[Entry]) -> None:
        for entry in expired:
            logger.info(
                "expired %s (%s, pid %s on %s): not renewed within %s",
                format_address(entry.address), entry.name, entry.pid, entry.hostname,
                _describe_ttl(entry.ttl),
            )


def _called_by_owner() -> bool:
    """Whether the call being served comes from the registry's owner process.

    Code of the actor process itself (not serving a call) counts as the owner.
    """
    try:
        return uactor.caller_is_owner()
    except uactor.ProxyError:  # not serving a call: the actor process's own code
        return True


class _TimedLock:
    """The registry's lock, timing how long each holder keeps it.

    With the in-memory table every store operation runs under this lock, so
    the time it is held is the store's latency (``snapshot()['store_latency']``).
    """

    __slots__ = ("_lock", "_entered", "latency")

    def __init__(self, latency: LatencyHistogram) -> None:
        self._lock = threading.Lock()
        self._entered = 0.0
        self.latency = latency

    def __enter__(self) -> None:
        self._lock.acquire()
        self._entered = time.perf_counter()

    def __exit__(self, exc_type: type[BaseException] | None,
                 exc: BaseException | None, tb: TracebackType | None) -> None:
        try:
            self.latency.observe(time.perf_counter() - self._entered)
        finally:
            self._lock.release()


def _own_address() -> str | None:
    """This actor's listening address as ``'host:port'`` (``None`` off TCP)."""
    try:
        address = uactor.current_address()
    except uactor.ProxyError:  # not running as an actor (e.g. a unit test)
        return None
    if isinstance(address, (tuple, list)):
        return format_address((address[0], address[1]))
    return str(address)


def _describe_ttl(ttl: float | None) -> str:
    return "no expiry" if ttl is None else f"{ttl:g} s"
