"""Stores beneath the :class:`~registry.Registry`: where leases and entries live.

A store is chosen by URL (``Registry(store=...)``, ``uactor-registry --store``):

``memory://`` (the default)
    This node's own memory: nothing to install, nothing shared.
``etcd://host:port[,host:port...]``
    etcd v3 through its JSON gateway (:mod:`registry._etcd`).
``redis://[:password@]host:port[/db]``, ``redis+sentinel://host:port[,...]/service``
    Redis (or Valkey) through redis-py (:mod:`registry._redis`).

Every node keeps a *view* of its store (:class:`StoreView`: a
:class:`~registry._table.Table` with a lock) that the store keeps current,
by a watch (etcd) or a change stream (Redis).  Picks and listings are served
from the view with no round trip; writes go to the store, which checks
ownership itself (transactions, scripts), and come back through the watch to
every node, this one included: a write returns once this node's view shows
it.  The interface below is all a store implements; the conformance suite
(tests/registry/test_conformance.py) runs the same tests on every store.

The nodes sharing a store form a *fleet*: every node announces itself
through the store once per sweep interval (:meth:`Store.announce`, a
:func:`node record <encode_node>`), so each view knows its *peers*, and the
announcement carries the leases the node renewed since the last one, with
how long ago: renewals themselves are not broadcast (there are hundreds a
second), yet every node's lease ages and times left follow them within one
interval.

Data in a store is plain JSON under a settable key prefix
(:data:`DEFAULT_PREFIX`), so a shared etcd or Redis is not polluted and a wipe
of other keys does not hurt.  A lease is stored under the SHA-256 of its
token: tokens themselves are never stored, logged or shown.
"""
from __future__ import annotations

import abc
import hashlib
import ipaddress
import json
import logging
import threading
import time
import urllib.parse
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, NamedTuple

from ._errors import StoreConfigError
from ._table import Address, Table, check_address, format_address

__all__ = [
    "DEFAULT_PREFIX",
    "DEFAULT_STORE",
    "DEFAULT_STORE_TIMEOUT",
    "EntryData",
    "LeaseData",
    "NodeData",
    "Store",
    "StoreURL",
    "StoreView",
    "decode_entry",
    "decode_lease",
    "decode_node",
    "encode_entry",
    "encode_lease",
    "encode_node",
    "lease_id",
    "make_store",
    "parse_address_key",
    "parse_store_url",
]

logger = logging.getLogger(__name__)

#: Store used when none is given: this node's memory.
DEFAULT_STORE = "memory://"

#: Prefix of every key the registry writes to a shared store.
DEFAULT_PREFIX = "uactor/registry/"

#: Bound (s) on one store operation, connecting included.  A store slower
#: than this counts as unreachable for that operation.
DEFAULT_STORE_TIMEOUT = 2.0

#: Longest accepted key prefix (characters).
MAX_PREFIX_LENGTH = 200

#: A peer not heard from for this many of its announcement intervals is no
#: longer listed (it died without withdrawing, or the store lost its record).
PEER_SILENCE = 3

_SCHEMES = {
    "memory": "registry._memory:MemoryStore",
    "etcd": "registry._etcd:EtcdStore",
    "redis": "registry._redis:RedisStore",
    "redis+sentinel": "registry._redis:RedisStore",
}

#: A lease as stored: ``ttl`` (s or None), owner ``pid`` and ``host``,
#: ``created`` (epoch s).
LeaseData = dict[str, Any]
#: An entry as stored: ``address``, ``name``, ``bind_address``, ``pid``,
#: ``hostname``, ``lease`` (the lease id).
EntryData = dict[str, Any]
#: A node's announcement: ``address`` (``'host:port'``), ``pid``,
#: ``hostname``, ``interval`` (s until its next one) and ``renewals``
#: (lease id -> seconds since this node renewed it).
NodeData = dict[str, Any]


def lease_id(token: str) -> str:
    """The id a lease is stored under: the SHA-256 of its token, in hex."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


# --------------------------------------------------------------------------
# URLs
# --------------------------------------------------------------------------

class StoreURL(NamedTuple):
    """A parsed store URL."""

    scheme: str
    hosts: tuple[Address, ...]
    path: str
    username: str | None
    password: str | None

    def redacted(self) -> str:
        """The URL without credentials, for stats, logs and messages."""
        hosts = ",".join(format_address(host) for host in self.hosts)
        user = f"{self.username}@" if self.username else ""
        path = f"/{self.path}" if self.path else ""
        return f"{self.scheme}://{user}{hosts}{path}"


_DEFAULT_PORTS = {"etcd": 2379, "redis": 6379, "redis+sentinel": 26379}

_URL_FORMS = (
    "memory://, etcd://HOST:PORT[,HOST:PORT...], redis://[:PASSWORD@]HOST:PORT[/DB] "
    "or redis+sentinel://[:PASSWORD@]HOST:PORT[,HOST:PORT...]/SERVICE"
)


def parse_store_url(url: object) -> StoreURL:
    """Parse and check a store URL; raise :class:`StoreConfigError` naming the fix."""
    if not isinstance(url, str):
        raise StoreConfigError(
            f"store must be a URL string, got {type(url).__name__}; use {_URL_FORMS}")
    scheme, separator, rest = url.partition("://")
    scheme = scheme.lower()
    if not separator or scheme not in _SCHEMES:
        raise StoreConfigError(
            f"store URL {_safe(url)} has an unknown scheme; use {_URL_FORMS}")
    if scheme == "memory":
        if rest.strip("/"):
            raise StoreConfigError(
                f"store URL {_safe(url)}: memory:// takes nothing after the scheme")
        return StoreURL("memory", (), "", None, None)
    userinfo, _, location = rest.rpartition("@")
    netloc, _, path = location.partition("/")
    username = password = None
    if userinfo:
        user, has_password, secret = userinfo.partition(":")
        username = urllib.parse.unquote(user) or None
        password = urllib.parse.unquote(secret) if has_password else None
    hosts = tuple(_parse_host(part, scheme, url) for part in netloc.split(","))
    path = path.strip("/")
    if scheme == "redis" and path and not path.isdigit():
        raise StoreConfigError(
            f"store URL {_safe(url)}: the Redis database must be a number "
            f"(redis://HOST:PORT/0)")
    if scheme == "redis" and len(hosts) != 1:
        raise StoreConfigError(
            f"store URL {_safe(url)}: redis:// takes one HOST:PORT; list Sentinels "
            f"with redis+sentinel://HOST:PORT,HOST:PORT/SERVICE")
    if scheme == "redis+sentinel" and not path:
        raise StoreConfigError(
            f"store URL {_safe(url)}: name the Sentinel service after the hosts "
            f"(redis+sentinel://HOST:PORT,HOST:PORT/mymaster)")
    if scheme == "etcd" and path:
        raise StoreConfigError(
            f"store URL {_safe(url)}: etcd:// takes no path; set the key prefix "
            f"with --store-prefix")
    return StoreURL(scheme, hosts, path, username, password)


def _parse_host(part: str, scheme: str, url: str) -> Address:
    text = part.strip()
    if not text:
        raise StoreConfigError(
            f"store URL {_safe(url)} lacks a HOST:PORT; use {_URL_FORMS}")
    if text.startswith("["):
        host, _, after = text[1:].partition("]")
        port_text = after[1:] if after.startswith(":") else after or "?"
    elif text.count(":") > 1:
        raise StoreConfigError(
            f"store URL {_safe(url)}: put an IPv6 address in brackets ([::1]:2379)")
    else:
        host, _, port_text = text.partition(":")
    try:
        port = int(port_text) if port_text else _DEFAULT_PORTS[scheme]
    except ValueError:
        port = -1
    if not host or not 0 < port < 65536:
        raise StoreConfigError(
            f"store URL {_safe(url)}: {text!r} is not a HOST:PORT with a port within "
            f"1-65535")
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError as exc:
            raise StoreConfigError(
                f"store URL {_safe(url)}: {host!r} is not an IPv6 address") from exc
    return check_address((host, port), "store host")


def _safe(url: str) -> str:
    """``url`` quoted for a message, its password (if any) masked."""
    scheme, separator, rest = url.partition("://")
    userinfo, at, location = rest.rpartition("@")
    if at and ":" in userinfo:
        userinfo = userinfo.split(":", 1)[0] + ":***"
    text = f"{scheme}{separator}{userinfo}{at}{location}"
    return repr(text if len(text) <= 200 else text[:200] + "...")


def check_prefix(prefix: object) -> str:
    """Return ``prefix`` if it is a usable key prefix, or raise a clear error."""
    if (not isinstance(prefix, str) or not 0 < len(prefix) <= MAX_PREFIX_LENGTH
            or not prefix.isprintable() or any(char.isspace() for char in prefix)):
        raise StoreConfigError(
            f"store prefix must be 1-{MAX_PREFIX_LENGTH} printable characters without "
            f"spaces, got {prefix!r:.200}; use e.g. {DEFAULT_PREFIX!r}")
    return prefix


def make_store(url: object = DEFAULT_STORE, *, prefix: object = DEFAULT_PREFIX,
               timeout: float = DEFAULT_STORE_TIMEOUT) -> Store:
    """The (not yet opened) store for ``url``; :class:`StoreConfigError` if bad."""
    parsed = parse_store_url(url)
    checked_prefix = check_prefix(prefix)
    module_name, _, class_name = _SCHEMES[parsed.scheme].partition(":")
    import importlib

    store_class: type[Store] = getattr(importlib.import_module(module_name), class_name)
    return store_class(parsed, prefix=checked_prefix, timeout=timeout)


# --------------------------------------------------------------------------
# Stored data
# --------------------------------------------------------------------------

def encode_lease(ttl: float | None, owner_pid: int | None, owner_host: str | None,
                 created: float) -> str:
    """A lease as the JSON text stores hold."""
    return json.dumps({"ttl": ttl, "pid": owner_pid, "host": owner_host,
                       "created": created}, separators=(",", ":"))


def decode_lease(text: str | bytes) -> LeaseData:
    """A stored lease back as checked plain data; ``ValueError`` if malformed."""
    data = json.loads(text)
    ttl, pid, host, created = (data.get("ttl"), data.get("pid"), data.get("host"),
                               data.get("created"))
    if not (ttl is None or isinstance(ttl, (int, float))) \
            or not (pid is None or isinstance(pid, int)) \
            or not (host is None or isinstance(host, str)) \
            or not isinstance(created, (int, float)):
        raise ValueError("malformed lease record")
    return {"ttl": None if ttl is None else float(ttl), "owner_pid": pid,
            "owner_host": host, "created": float(created)}


def encode_entry(lease: str, address: Address, *, name: str,
                 bind_address: Address | None, pid: int | None,
                 hostname: str | None) -> str:
    """An entry as the JSON text stores hold."""
    return json.dumps({
        "lease": lease, "address": list(address), "name": name,
        "bind": None if bind_address is None else list(bind_address),
        "pid": pid, "hostname": hostname,
    }, separators=(",", ":"))


def decode_entry(text: str | bytes) -> EntryData:
    """A stored entry back as checked plain data; ``ValueError`` if malformed."""
    data = json.loads(text)
    try:
        bind = data.get("bind")
        entry = Table.validated(
            tuple(data["address"]), name=data["name"],
            bind_address=None if bind is None else tuple(bind),
            pid=data.get("pid"), hostname=data.get("hostname"))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"malformed entry record: {exc}") from exc
    lease = data.get("lease")
    if not isinstance(lease, str):
        raise ValueError("malformed entry record: no lease")
    entry["lease"] = lease
    return entry


def encode_node(address: str | None, *, pid: int, hostname: str | None,
                interval: float, renewals: dict[str, float]) -> str:
    """A node's announcement as the JSON text stores carry."""
    return json.dumps({
        "address": address, "pid": pid, "hostname": hostname, "interval": interval,
        "renewals": {lease: round(ago, 3) for lease, ago in renewals.items()},
    }, separators=(",", ":"))


def decode_node(text: str | bytes) -> NodeData:
    """An announcement back as checked plain data; ``ValueError`` if malformed."""
    data = json.loads(text)
    address, pid, hostname = data.get("address"), data.get("pid"), data.get("hostname")
    interval, renewals = data.get("interval"), data.get("renewals")
    if not (address is None or isinstance(address, str)) \
            or not isinstance(pid, int) \
            or not (hostname is None or isinstance(hostname, str)) \
            or not isinstance(interval, (int, float)) or not 0 < interval <= 3600 \
            or not isinstance(renewals, dict) \
            or not all(isinstance(ago, (int, float)) for ago in renewals.values()):
        raise ValueError("malformed node record")
    return {"address": address, "pid": pid, "hostname": hostname,
            "interval": float(interval),
            "renewals": {str(lease): float(ago) for lease, ago in renewals.items()}}


def address_key(address: Address) -> str:
    """The key (suffix) an entry is stored under: ``'host:port'``."""
    return format_address(address)


def parse_address_key(key: str) -> Address:
    """:func:`address_key` back to a ``(host, port)`` tuple; ``ValueError`` if bad."""
    host, _, port = key.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return check_address((host, int(port)), "stored address")


# --------------------------------------------------------------------------
# The view
# --------------------------------------------------------------------------

class StoreView:
    """A node's view of its store: a :class:`Table`, its lock, and freshness.

    Stores call :meth:`load`, :meth:`apply` and :meth:`set_current` from their
    watch threads; the registry reads :attr:`table` under :attr:`lock`, and
    waits with :meth:`wait_for` until a write it made shows in the view.
    ``revision`` is whatever ordered position the store gives its changes
    (etcd revision, Redis stream id).  The other nodes' announcements keep
    :meth:`peers` and their renewals current; ``node_id`` is this node's own
    id, whose announcements the view skips.
    """

    def __init__(self, store_url: str, *, expires: bool,
                 node_id: str | None = None) -> None:
        self.url = store_url
        self.node_id = node_id
        self.table = Table(expires=expires)
        self.lock = threading.Lock()
        self._changed = threading.Condition(self.lock)
        self._peers: dict[str, tuple[NodeData, float]] = {}
        self.revision: Any = None
        self._current = True
        self._stale_since: float | None = None
        #: Log lines about malformed records are written once per view.
        self._warned_malformed = False

    # -- freshness -------------------------------------------------------------

    @property
    def current(self) -> bool:
        """Whether the view follows the store right now."""
        return self._current

    def stale_for(self) -> float:
        """Seconds since the view stopped following its store (0: current)."""
        since = self._stale_since
        return 0.0 if since is None else max(0.0, time.monotonic() - since)

    def set_current(self, current: bool, reason: str = "") -> None:
        """Record whether the view follows the store; log each change once."""
        with self.lock:
            if current == self._current:
                return
            self._current = current
            if current:
                stale = self.stale_for()
                self._stale_since = None
            else:
                self._stale_since = time.monotonic()
        if current:
            logger.warning("store %s reachable again after %.1f s; view current",
                           self.url, stale)
        else:
            logger.warning("store %s unreachable (%s): answering picks from this "
                           "node's last view; registrations fail until it is back",
                           self.url, reason)

    # -- updates from the store ---------------------------------------------------

    def load(self, leases: Iterable[tuple[str, LeaseData]],
             entries: Iterable[tuple[Address, EntryData]], revision: Any,
             nodes: Iterable[tuple[str, NodeData]] = ()) -> None:
        """Replace the view's contents with a full read of the store."""
        with self.lock:
            self.table.clear()
            for lease, data in leases:
                self.table.grant(lease, data["ttl"], owner_pid=data["owner_pid"],
                                 owner_host=data["owner_host"], created=data["created"])
            for address, data in entries:
                self._put_entry(address, data)
            for node, data in nodes:  # their renewals are as old as the record
                self._heard(node, {**data, "renewals": {}})
            self.revision = revision
            self._changed.notify_all()

    def apply(self, changes: Sequence[tuple[Any, ...]], revision: Any) -> None:
        """Apply watched changes, in order; ``revision`` is the last one's.

        Each change is ``('lease', id, data or None, reason)``,
        ``('entry', address, data or None, reason)`` or ``('node', id, data
        or None, reason)``; ``None`` data means deleted (a node withdrawn),
        and ``reason`` (``'expired'`` or ``'unregistered'``) says why.
        """
        with self.lock:
            table = self.table
            for kind, key, data, reason in changes:
                if kind == "node":
                    if data is None:
                        self._peers.pop(key, None)
                    else:
                        self._heard(key, data)
                elif kind == "lease":
                    if data is not None:
                        table.grant(key, data["ttl"], owner_pid=data["owner_pid"],
                                    owner_host=data["owner_host"],
                                    created=data["created"])
                    else:
                        gone = table.end_lease(key)
                        if reason == "expired":
                            table.expired.extend(gone)
                elif data is not None:
                    self._put_entry(key, data)
                else:
                    entry = table.remove(key)
                    if entry is not None and reason == "expired":
                        table.expired.append(entry)
            if revision is not None:
                self.revision = revision
            self._changed.notify_all()

    def _put_entry(self, address: Address, data: EntryData) -> None:
        """Record a stored entry (under the lock), its lease made up if unseen."""
        table = self.table
        if not table.has_lease(data["lease"]):
            # The store holds an entry whose lease record we never saw (written
            # by hand, or a partial wipe): show it rather than hide it.
            table.grant(data["lease"], None)
        table.put(address, data["lease"], name=data["name"],
                  bind_address=data["bind_address"], pid=data["pid"],
                  hostname=data["hostname"])

    def _heard(self, node: str, data: NodeData) -> None:
        """Record a node's announcement (under the lock), and its renewals."""
        if node == self.node_id:
            return  # our own: our renewals are in the table already
        now = time.monotonic()
        self._peers[node] = (data, now)
        for lease, ago in data["renewals"].items():
            self.table.renewed(lease, ago)

    def peers(self) -> list[str]:
        """Addresses of the other nodes heard from lately, sorted."""
        now = time.monotonic()
        with self.lock:
            silent = [node for node, (data, heard) in self._peers.items()
                      if now - heard > PEER_SILENCE * data["interval"]]
            for node in silent:
                del self._peers[node]
            return sorted(str(data["address"] or f"pid {data['pid']} on "
                                                 f"{data['hostname']}")
                          for data, _ in self._peers.values())

    def malformed(self, key: str, exc: Exception) -> None:
        """Report a record under our prefix that is not ours to read (once)."""
        log = logger.debug if self._warned_malformed else logger.warning
        self._warned_malformed = True
        log("store %s: ignoring malformed record %r: %s", self.url, key, exc)

    def wait_for(self, revision: Any, timeout: float) -> bool:
        """Wait until the view reflects ``revision``; ``None`` needs no wait."""
        if revision is None:
            return True
        with self.lock:
            return self._changed.wait_for(
                lambda: self.revision is not None and self.revision >= revision,
                timeout)


# --------------------------------------------------------------------------
# The interface
# --------------------------------------------------------------------------

class Store(abc.ABC):
    """Where a registry node keeps leases and entries (one subclass per backend).

    A store is made by :func:`make_store`, opened once with the node's
    :class:`StoreView` (then it loads the view and keeps it current), used
    from any number of threads, and closed once.  Writes check ownership
    themselves, atomically: :class:`~registry.NotOwnerError` when an entry
    belongs to another lease, :class:`~registry.UnknownLeaseError` when the
    lease is gone.  A write returns the revision of the change it made (the
    caller waits until the view shows it), or ``None`` when there is nothing
    to wait for.  An unreachable store raises
    :class:`~registry.StoreUnavailableError` naming it; bad settings or
    credentials raise :class:`~registry.StoreConfigError`.
    """

    #: Whether the view ends expired leases itself (only the memory store,
    #: which *is* the view); other stores end them and say so through the watch.
    expires_in_view: ClassVar[bool] = False

    #: Whether several nodes may share the store (then they announce
    #: themselves, :meth:`announce`); not the memory store.
    shared: ClassVar[bool] = True

    def __init__(self, url: StoreURL, *, prefix: str, timeout: float) -> None:
        self._parsed = url
        self.prefix = prefix
        self.timeout = timeout

    @property
    def url(self) -> str:
        """The store's URL without credentials."""
        return self._parsed.redacted()

    @abc.abstractmethod
    def open(self, view: StoreView) -> None:
        """Connect, load ``view`` with the store's contents, keep it current."""

    @abc.abstractmethod
    def close(self) -> None:
        """Stop following the store and release connections (idempotent)."""

    @abc.abstractmethod
    def grant(self, lease: str, ttl: float | None, owner_pid: int | None,
              owner_host: str | None) -> Any:
        """Open lease ``lease`` (an id from :func:`lease_id`); return a revision."""

    @abc.abstractmethod
    def renew(self, lease: str) -> bool:
        """Renew a lease and so all its entries; ``False`` when it is gone."""

    @abc.abstractmethod
    def revoke(self, lease: str) -> Any:
        """End a lease, unregistering its entries; return a revision."""

    @abc.abstractmethod
    def put(self, lease: str, address: Address, *, name: str,
            bind_address: Address | None, pid: int | None,
            hostname: str | None) -> tuple[Any, bool]:
        """Register or update an entry under ``lease``; ``(revision, created)``."""

    @abc.abstractmethod
    def delete(self, lease: str, address: Address) -> tuple[Any, bool]:
        """Unregister an entry of ``lease``; ``(revision, whether it existed)``."""

    def put_new(self, lease: str, entries: Sequence[dict[str, Any]]) -> Any:
        """Register entries none of which exists yet, all at once, or none.

        ``entries`` are :meth:`~registry._table.Table.validated` dicts.
        Returns the revision, or ``None`` when the store does not batch or
        one of them exists (the caller then registers them one by one).
        """
        return None

    def sweep(self) -> None:  # noqa: B027 - optional hook, nothing to do by default
        """End expired leases, for stores that do not do it themselves."""

    def announce(self, node: str, record: str, interval: float) -> None:  # noqa: B027
        """Tell the other nodes about node ``node`` (an :func:`encode_node`
        record), again within ``interval`` seconds; nothing by default (a
        store of one node)."""

    def withdraw(self, node: str) -> None:  # noqa: B027 - nothing by default
        """Tell the other nodes that node ``node`` is gone."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"
