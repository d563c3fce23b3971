"""The :class:`Registry` actor: a service directory for networked actors.

A drop-in, production-grade version of the networking chapter's example
registry (``register(*addresses)``, round-robin ``pick()``, ``None`` when
empty), adding service names, leases that own entries and are renewed by
heartbeats, metadata, input validation and stores beneath it (this node's
memory, etcd or Redis: :mod:`registry._store`).  This module adds what an
actor needs: logging, a periodic expiry sweep, counters, the operators'
snapshot, and its defences against its own clients: requests decoded as
plain data only, a bound on their size, and a shutdown only the owner may
ask for.
"""
from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from typing import Any

import uactor

from ._errors import InvalidArgumentError, NotOwnerError, UnknownLeaseError, quote
from ._latency import LatencyHistogram
from ._store import (
    DEFAULT_PREFIX,
    DEFAULT_STORE,
    DEFAULT_STORE_TIMEOUT,
    StoreView,
    encode_node,
    lease_id,
    make_store,
)
from ._table import (
    DEFAULT_NAME,
    Address,
    Entry,
    Table,
    check_address,
    check_lease_token,
    check_ttl,
    format_address,
    not_owner,
    unknown_lease,
)

__all__ = ["DEFAULT_MAX_MESSAGE", "DEFAULT_SWEEP_INTERVAL", "DEFAULT_TTL", "Registry"]

logger = logging.getLogger(__name__)

#: Lease given to actors registered through :func:`registry.register_actor`
#: when neither the caller nor the registry chooses one (s).  Heartbeats run
#: every third of it, so a killed actor is forgotten within 5 s while a
#: healthy owner process sends about one small message a second.
DEFAULT_TTL = 5.0

#: How often the registry drops expired entries in the background (s).  Expiry
#: is also checked lazily on every pick and listing, so this only bounds how
#: long memory and log lines lag behind; it is not a correctness knob.
DEFAULT_SWEEP_INTERVAL = 1.0

#: Largest request a registry accepts (bytes).  Its requests are a few
#: hundred bytes (an address, a name, a lease token, some metadata); a bigger
#: one is refused by uactor after reading only its header, so a client cannot
#: make the registry hold a 100 MB message in memory.
DEFAULT_MAX_MESSAGE = 1 << 20

#: A ``register()`` call adding more addresses than this logs one summary
#: line instead of one line per address.
_LOG_EACH_UP_TO = 10

#: Random bytes in a lease token (192 bits; the token is their URL-safe text).
_TOKEN_BYTES = 24

#: Addresses one store operation registers at most (stores that batch).
_BATCH = 100

_COUNTERS = ("registered", "renewed", "unregistered", "expired", "picks")


class Registry(uactor.Actor):
    """Actor holding a directory of networked actor addresses.

    Entries are grouped by service name and belong to *leases*.  A lease is
    opened with :meth:`open_lease` (or implicitly by :meth:`register`) and
    identified by an unguessable token that only its opener knows: renewing,
    unregistering or moving an entry needs the token of the lease it belongs
    to, so one client cannot remove or hijack another's entries
    (:class:`registry.NotOwnerError`).  Renewing a lease (:meth:`renew`)
    renews all its entries; when it runs out they all go.

    :meth:`register` (the spec's API) puts addresses in the ``'default'``
    group under a new lease with no expiry and returns its token; the helpers
    (:func:`registry.register_actor`) share one lease per process and
    registry, renewed by one heartbeat.  :meth:`pick` hands entries out
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
    :param store: where leases and entries live: ``'memory://'`` (default),
        ``'etcd://host:port[,host:port...]'``, ``'redis://host:port/db'`` or
        ``'redis+sentinel://host:port[,host:port...]/service'``.  An
        unreachable store or bad URL fails the start with one clear error.
    :param store_prefix: prefix of every key written to a shared store.
    :param store_timeout: bound (s) on each store operation.

    All methods are safe to call concurrently from any number of clients.
    Bad arguments raise :class:`registry.InvalidArgumentError` (a
    ``TypeError``), :class:`registry.InvalidAddressError` (a ``ValueError``)
    or :class:`registry.UnknownNameError` (a ``KeyError``), and leave the
    registry unchanged.  Writes while the store is unreachable raise
    :class:`registry.StoreUnavailableError` (a ``ConnectionError``); picks
    are then served from this node's last view.
    """

    _options_ = {
        "allowed_classes": (Entry,),
        "max_message": DEFAULT_MAX_MESSAGE,
    }

    _exposed_ = (
        "addresses",
        "close_lease",
        "default_ttl",
        "entries",
        "names",
        "open_lease",
        "pick",
        "pick_entry",
        "register",
        "register_entry",
        "renew",
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
        store: str = DEFAULT_STORE,
        store_prefix: str = DEFAULT_PREFIX,
        store_timeout: float = DEFAULT_STORE_TIMEOUT,
    ) -> None:
        ttl = check_ttl(default_ttl)
        if ttl is None:
            raise TypeError("default_ttl must be a number of seconds, not None")
        self._sweep_interval = _check_interval(sweep_interval, "sweep_interval", 3600)
        timeout = _check_interval(store_timeout, "store_timeout", 60)
        self._default_ttl = ttl
        self._store = make_store(store, prefix=store_prefix, timeout=timeout)
        #: This node's id among the nodes of its store (a new one each start).
        self._node_id = secrets.token_hex(8)
        self._view = StoreView(self._store.url, expires=self._store.expires_in_view,
                               node_id=self._node_id)
        self._latency = LatencyHistogram()
        self._counters = dict.fromkeys(_COUNTERS, 0)
        #: Leases renewed through this node since its last announcement
        #: (lease id -> monotonic time), for the other nodes of the fleet.
        self._renewals: dict[str, float] = {}
        self._counters_lock = threading.Lock()
        self._started = time.time()
        self._finished = threading.Event()
        self._sweeper_stop = threading.Event()
        self._sweeper: threading.Thread | None = None
        with self._latency.time():
            self._store.open(self._view)
        logger.info("store %s opened", self._store.url)

    # -- lifecycle -------------------------------------------------------------

    def _actor_started_(self) -> None:
        """Start the background expiry sweep (runs in the actor process)."""
        super()._actor_started_()  # type: ignore[misc]  # missing from the stubs
        self._sweeper = threading.Thread(
            target=self._sweep_loop, name="registry-sweep", daemon=True
        )
        self._sweeper.start()

    def _actor_stopping_(self) -> None:
        """Stop the background sweep, leave the fleet and close the store
        before the process exits."""
        self._sweeper_stop.set()
        if self._sweeper is not None:
            self._sweeper.join(timeout=5.0)
        try:
            self._store.withdraw(self._node_id)
        except (OSError, uactor.UActorException) as exc:
            logger.debug("could not tell the other nodes this one stops: %s", exc)
        self._store.close()
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

    # -- leases ----------------------------------------------------------------

    def open_lease(self, ttl: float | None = None, *, pid: int | None = None,
                   hostname: str | None = None) -> str:
        """Open a lease of ``ttl`` seconds (default :meth:`default_ttl`).

        ``pid`` and ``hostname`` name the owner process, for operators.
        Returns the lease's token: keep it, it is the only proof of
        ownership of the entries registered under it, and it is not stored
        anywhere (the registry keeps its SHA-256).  Renew the lease with
        :meth:`renew` within every ``ttl``.
        """
        checked = self._default_ttl if ttl is None else check_ttl(ttl)
        owner = Table.validated_owner(pid, hostname)
        return self._open(checked, owner["owner_pid"], owner["owner_host"])

    def renew(self, lease: str) -> int:
        """Renew a lease, and so all its entries; return how many it holds.

        Raises :class:`registry.UnknownLeaseError` when the lease expired or
        is unknown (the registry restarted, or its store was wiped): open a
        new one and register again.  A count lower than the caller expects
        means entries were lost the same way: register them again.
        """
        ident = lease_id(check_lease_token(lease))
        with self._latency.time():
            alive = self._store.renew(ident)
        if not alive:
            raise unknown_lease()
        with self._view.lock:
            try:
                count = self._view.table.renew(ident)
            except UnknownLeaseError:
                count = 0  # granted through another node, not seen here yet
        with self._counters_lock:
            self._counters["renewed"] += 1
            if self._store.shared:
                self._renewals[ident] = time.monotonic()
        logger.debug("renewed a lease of %d entries", count)
        return count

    def close_lease(self, lease: str) -> int:
        """End a lease now, unregistering all its entries; return how many.

        Closing an unknown (expired) lease returns 0.
        """
        ident = lease_id(check_lease_token(lease))
        with self._view.lock:
            removed = self._view.table.lease_entries(ident)
        with self._latency.time():
            revision = self._store.revoke(ident)
        self._view.wait_for(revision, self._store.timeout)
        self._count("unregistered", len(removed))
        for entry in removed:
            logger.info("unregistered %s (%s): lease closed",
                        format_address(entry.address), entry.name)
        return len(removed)

    # -- registration ----------------------------------------------------------

    def register(self, *addresses: Address, name: str = DEFAULT_NAME,
                 ttl: float | None = None, lease: str | None = None) -> str:
        """Register ``addresses`` (``(host, port)`` tuples) under ``name``.

        The spec's call.  Without ``lease`` the addresses go under a new lease
        of ``ttl`` seconds (``None``: never expires) whose token is returned;
        the spec's examples ignore it, and such entries then stay until their
        lease ends.  With ``lease=token`` they join that lease (renewing it),
        and ``ttl`` must be left out or equal the lease's.  An address
        registered under another lease raises :class:`registry.NotOwnerError`
        and nothing is registered; one already under this lease is renewed
        and keeps its turn.  All addresses are validated first.

        A lease without TTL ends with its last entry.
        """
        checked = [Table.validated(address, name=name) for address in addresses]
        checked_ttl = check_ttl(ttl)
        token: str | None = None
        if lease is None:
            self._refuse_foreign(checked, None)
            token = self._open(checked_ttl, None, None)
            ident = lease_id(token)
        else:
            ident = lease_id(check_lease_token(lease))
            self._check_lease_ttl(ident, checked_ttl, ttl is not None)
            self._refuse_foreign(checked, ident)
            self.renew(lease)
        results: list[tuple[Entry, bool]] = []
        try:
            for start in range(0, len(checked), _BATCH):
                results += self._put_batch(ident, checked[start:start + _BATCH])
        except BaseException:
            if token is not None:  # leave nothing behind from a refused call
                self._revoke_quietly(ident)
            raise
        created = sum(new for _, new in results)
        if created > _LOG_EACH_UP_TO:
            logger.info("registered %d addresses as %r (ttl %s)", created, name,
                        _describe_ttl(checked_ttl))
        else:
            for entry, new in results:
                self._log_added(entry, new)
        return lease if token is None else token  # type: ignore[return-value]

    def register_entry(
        self,
        address: Address,
        *,
        lease: str,
        name: str = DEFAULT_NAME,
        bind_address: Address | None = None,
        pid: int | None = None,
        hostname: str | None = None,
    ) -> Entry:
        """Register or update one actor under ``lease``; return its entry.

        ``bind_address`` is the address the actor bound (for clients'
        ``capture``; defaults to ``address``), ``pid`` and ``hostname``
        identify its process for people reading listings and logs.  The
        entry lives as long as the lease.  Re-registering an address of the
        same lease updates it (a new ``name`` moves it to that group); one
        of another lease raises :class:`registry.NotOwnerError`.
        """
        checked = Table.validated(address, name=name, bind_address=bind_address,
                                  pid=pid, hostname=hostname)
        ident = lease_id(check_lease_token(lease))
        entry, new = self._put(ident, checked)
        self._log_added(entry, new)
        return entry

    def unregister(self, *addresses: Address, lease: str | None = None) -> int:
        """Remove ``addresses`` of ``lease`` at once; unknown ones are ignored.

        Returns how many were removed.  All addresses are validated, and
        their owners checked, first: an address of another lease (or any
        registered address when no ``lease`` is given) raises
        :class:`registry.NotOwnerError` and nothing is removed.
        """
        checked = [{"address": check_address(address)} for address in addresses]
        ident = None if lease is None else lease_id(check_lease_token(lease))
        self._refuse_foreign(checked, ident)
        if ident is None:
            return 0  # none of them is registered
        removed = 0
        for item in checked:
            address = item["address"]
            with self._view.lock:
                entry = self._view.table.entry(address)
            with self._latency.time():
                revision, existed = self._store.delete(ident, address)
            self._view.wait_for(revision, self._store.timeout)
            if existed:
                removed += 1
                logger.info("unregistered %s (%s)", format_address(address),
                            "?" if entry is None else entry.name)
        self._end_if_empty_and_eternal(ident)
        self._count("unregistered", removed)
        return removed

    # -- queries ---------------------------------------------------------------

    def pick(self, name: str = DEFAULT_NAME) -> Address | None:
        """Return the next live ``(host, port)`` of ``name`` round-robin.

        ``None`` when the group is empty; :class:`registry.UnknownNameError`
        when no actor is registered under ``name`` (nor was recently).
        """
        entry = self.pick_entry(name)
        return None if entry is None else entry.address

    def pick_entry(self, name: str = DEFAULT_NAME) -> Entry | None:
        """Like :meth:`pick` but return the whole :class:`registry.Entry`."""
        with self._view.lock:
            entry = self._view.table.pick(name)
        self._count("picks")
        return entry

    def names(self) -> list[str]:
        """Sorted service names that currently have live entries."""
        with self._view.lock:
            return self._view.table.names()

    def addresses(self, name: str | None = None) -> list[Address]:
        """Live addresses of ``name`` (of every name if ``None``), in turn order."""
        return [entry.address for entry in self.entries(name)]

    def entries(self, name: str | None = None) -> list[Entry]:
        """Live entries of ``name`` (of every name if ``None``), in turn order."""
        with self._view.lock:
            return self._view.table.entries(name)

    def stats(self) -> dict[str, Any]:
        """Counters for monitoring; unlike the listings, does not sweep.

        ``entries`` (held now, including expired ones not yet dropped),
        ``names`` (service names held), ``leases``, the running totals of
        this node ``registered``, ``renewed``, ``unregistered``, ``expired``,
        ``picks``, and the store: ``store`` (its URL without credentials),
        ``store_reachable``, ``store_stale_for`` (s since this node's view
        stopped following the store; 0 when current) and ``store_operations``
        (how many this node made).
        """
        with self._view.lock:
            table = self._view.table
            held = {"entries": len(table), "names": table.known_count(),
                    "leases": table.lease_count}
        with self._counters_lock:
            counters = dict(self._counters)
        return {**held, **counters, "store": self._store.url,
                "store_reachable": self._view.current,
                "store_stale_for": self._view.stale_for(),
                "store_operations": self._latency.count}

    def snapshot(self, services: bool = True) -> dict[str, Any]:
        """The whole picture for status pages and metrics, as plain data.

        ``{"node": {"address", "pid", "started" (epoch s), "store": {"url"
        (without credentials), "reachable", "stale_for" (s since this node's
        view stopped following the store; 0 when current)}, "peers": [...]},
        "totals": {"services", "actors", "registered_total", "renewed_total",
        "unregistered_total", "expired_total", "picks_total"}, "services":
        [...], "store_latency": {"buckets": [[le (s), cumulative count], ...],
        "sum" (s), "count"}}``; ``services`` is
        :meth:`registry._table.Table.describe`'s listing and
        ``store_latency`` counts every operation this node made on its store.
        ``services=False`` leaves that listing empty (the totals stay
        complete): O(names) rather than O(entries), for health checks.
        """
        with self._view.lock:
            if services:
                listing = self._view.table.describe()
                counts = (len(listing),
                          sum(len(service["actors"]) for service in listing))
            else:
                listing = []
                counts = self._view.table.live_count()
        with self._counters_lock:
            counters = {f"{name}_total": value for name, value in self._counters.items()}
        return {
            "node": {
                "address": _own_address(),
                "pid": os.getpid(),
                "started": self._started,
                "store": {"url": self._store.url, "reachable": self._view.current,
                          "stale_for": self._view.stale_for()},
                "peers": self._view.peers(),
            },
            "totals": {"services": counts[0], "actors": counts[1], **counters},
            "services": listing,
            "store_latency": self._latency.snapshot(),
        }

    def default_ttl(self) -> float:
        """The lease (s) helpers use when registering without a ``ttl``."""
        return self._default_ttl

    # -- internals -------------------------------------------------------------

    def _open(self, ttl: float | None, owner_pid: int | None,
              owner_host: str | None) -> str:
        token = secrets.token_urlsafe(_TOKEN_BYTES)
        ident = lease_id(token)
        with self._latency.time():
            revision = self._store.grant(ident, ttl, owner_pid, owner_host)
        self._view.wait_for(revision, self._store.timeout)
        logger.debug("opened a lease (ttl %s) for pid %s on %s",
                     _describe_ttl(ttl), owner_pid, owner_host)
        return token

    def _put_batch(self, ident: str, batch: list[dict[str, Any]]
                   ) -> list[tuple[Entry, bool]]:
        """Register ``batch`` in one store operation when the store can, else
        one by one."""
        if len(batch) > 1:
            with self._latency.time():
                revision = self._store.put_new(ident, batch)
            if revision is not None:
                self._view.wait_for(revision, self._store.timeout)
                self._count("registered", len(batch))
                with self._view.lock:
                    entries = [self._view.table.entry(kwargs["address"])
                               for kwargs in batch]
                return [(entry or _described(kwargs), True)
                        for entry, kwargs in zip(entries, batch)]
        return [self._put(ident, kwargs) for kwargs in batch]

    def _put(self, ident: str, kwargs: dict[str, Any]) -> tuple[Entry, bool]:
        address = kwargs["address"]
        with self._latency.time():
            revision, created = self._store.put(
                ident, address, name=kwargs["name"], bind_address=kwargs["bind_address"],
                pid=kwargs["pid"], hostname=kwargs["hostname"])
        self._view.wait_for(revision, self._store.timeout)
        self._count("registered" if created else "renewed")
        with self._view.lock:
            entry = self._view.table.entry(address)
        return entry or _described(kwargs), created

    def _refuse_foreign(self, checked: list[dict[str, Any]], ident: str | None) -> None:
        """Raise NotOwnerError before changing anything if an address is another's."""
        with self._view.lock:
            for kwargs in checked:
                owner = self._view.table.owner(kwargs["address"])
                if owner is not None and owner != ident:
                    raise not_owner(kwargs["address"])

    def _check_lease_ttl(self, ident: str, ttl: float | None, given: bool) -> None:
        with self._view.lock:
            try:
                current = self._view.table.lease_ttl(ident)
            except UnknownLeaseError:
                return  # renew() says so, with the store's word
        if given and ttl != current:
            raise InvalidArgumentError(
                f"ttl={ttl:g} differs from the lease's own "
                f"({_describe_ttl(current)}); a lease has one TTL: leave ttl out, "
                f"or open another lease")

    def _end_if_empty_and_eternal(self, ident: str) -> None:
        """A lease without TTL ends with its last entry (nothing could renew it)."""
        with self._view.lock:
            table = self._view.table
            ending = (table.has_lease(ident) and table.lease_ttl(ident) is None
                      and not table.lease_size(ident))
        if ending:
            self._revoke_quietly(ident)

    def _revoke_quietly(self, ident: str) -> None:
        try:
            with self._latency.time():
                revision = self._store.revoke(ident)
            self._view.wait_for(revision, self._store.timeout)
        except (OSError, uactor.UActorException) as exc:
            logger.debug("could not end an unused lease (%s); it is harmless", exc)

    def _count(self, counter: str, amount: int = 1) -> None:
        with self._counters_lock:
            self._counters[counter] += amount

    def _sweep_loop(self) -> None:
        """Announce this node, then every ``sweep_interval``: sweep, announce."""
        self._announce()
        while not self._sweeper_stop.wait(self._sweep_interval):
            self._sweep()
            self._announce()

    def _sweep(self) -> None:
        try:
            with self._latency.time():
                self._store.sweep()
        except (OSError, uactor.UActorException) as exc:
            logger.debug("store sweep failed: %s", exc)
        with self._view.lock:
            self._view.table.sweep()
            expired = self._view.table.expired
            self._view.table.expired = []
        if expired:
            self._count("expired", len(expired))
        self._log_expired(expired)

    def _announce(self) -> None:
        """Tell the fleet this node is here, with the leases renewed through it."""
        if not self._store.shared:
            return
        with self._counters_lock:
            renewals, self._renewals = self._renewals, {}
        now = time.monotonic()
        record = encode_node(
            _reachable_address(), pid=os.getpid(),
            hostname=socket.gethostname() or None, interval=self._sweep_interval,
            renewals={lease: now - when for lease, when in renewals.items()})
        try:
            with self._latency.time():
                self._store.announce(self._node_id, record, self._sweep_interval)
        except (OSError, uactor.UActorException) as exc:
            logger.debug("could not announce this node to its fleet: %s", exc)
            with self._counters_lock:  # tell them next time
                self._renewals = {**renewals, **self._renewals}

    @staticmethod
    def _log_added(entry: Entry, new: bool) -> None:
        if new:
            logger.info(
                "registered %s as %r (bind %s, pid %s on %s, ttl %s)",
                format_address(entry.address), entry.name,
                format_address(entry.bind_address), entry.pid, entry.hostname,
                _describe_ttl(entry.ttl),
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


def _described(kwargs: dict[str, Any]) -> Entry:
    """An entry as registered, when the view no longer (or not yet) shows it."""
    address = kwargs["address"]
    return Entry(address, kwargs["bind_address"] or address, kwargs["name"],
                 kwargs["pid"], kwargs["hostname"], None, None)


def _check_interval(value: object, what: str, most: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not 0 < value <= most:
        raise ValueError(f"{what} must be within (0, {most:g}] seconds, "
                         f"got {quote(value)}")
    return float(value)


def _called_by_owner() -> bool:
    """Whether the call being served comes from the registry's owner process.

    Code of the actor process itself (not serving a call) counts as the owner.
    """
    try:
        return uactor.caller_is_owner()
    except uactor.ProxyError:  # not serving a call: the actor process's own code
        return True


def _own_address() -> str | None:
    """This actor's listening address as ``'host:port'`` (``None`` off TCP)."""
    try:
        address = uactor.current_address()
    except uactor.ProxyError:  # not running as an actor (e.g. a unit test)
        return None
    if isinstance(address, (tuple, list)):
        return format_address((address[0], address[1]))
    return str(address)


def _reachable_address() -> str | None:
    """:func:`_own_address`, with this host's name for an unspecified host
    (``0.0.0.0``, ``::``): how the other nodes and clients may reach it."""
    try:
        address = uactor.current_address()
    except uactor.ProxyError:
        return None
    if not isinstance(address, (tuple, list)):
        return str(address)
    host, port = address[0], address[1]
    if host in ("", "0.0.0.0", "::"):
        host = socket.gethostname() or host
    return format_address((host, port))


def _describe_ttl(ttl: float | None) -> str:
    return "no expiry" if ttl is None else f"{ttl:g} s"
