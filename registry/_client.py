"""Client helpers: keep an actor registered, and connect to a registered one.

:func:`register_actor` registers a running networked actor with a registry
and keeps its lease alive with heartbeats from a background thread until the
actor stops, the returned :class:`Registration` is closed, or the process
exits (then it unregisters at once).  :func:`connect_actor` picks an entry and
returns a connected proxy, skipping dead entries; with ``reconnect=`` it
returns a :class:`~registry.Reconnecting` proxy whose resolver picks and
connects again, by name, when its actor is lost.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import multiprocessing.util
import os
import socket
import threading
import time
from collections.abc import Sequence
from typing import Any, Callable, Literal, TypeVar, Union, overload

import uactor

from ._closing import Closable
from ._errors import (
    InvalidAddressError,
    InvalidArgumentError,
    NoActorAvailableError,
    UnknownLeaseError,
    check_key,
    quote,
)
from ._keys import find_authkey
from ._nodes import RegistryNodes, check_addresses
from ._reconnect import Reconnecting, ReconnectPolicy
from ._table import (
    Address,
    Entry,
    Table,
    check_address,
    check_name,
    check_ttl,
    format_address,
)

__all__ = [
    "Registration",
    "connect_actor",
    "connect_registry",
    "local_address_towards",
    "register_actor",
]

logger = logging.getLogger(__name__)

#: Bound (s) on connecting to a registry or an actor when the caller gives
#: none: long enough for a loaded LAN, short enough that a dead host does not
#: stall a heartbeat thread or a client for long.
DEFAULT_CONNECT_TIMEOUT = 5.0

#: Heartbeats renew a lease every ``ttl / HEARTBEATS_PER_TTL`` seconds, so two
#: heartbeats can be lost before the entry expires.
HEARTBEATS_PER_TTL = 3

#: How long a liveness probe of a connected actor may take before the actor
#: is assumed alive anyway (s).  A refused connection means it is gone.
_PROBE_TIMEOUT = 1.0

#: How long :meth:`Registration.close` waits for the heartbeat thread (s).
_CLOSE_TIMEOUT = 10.0

#: multiprocessing.util.Finalize priority of the exit-time unregistration:
#: above uactor's proxies (10) and owner managers (0), so it runs first.
_EXIT_PRIORITY = 20

_UNSPECIFIED_HOSTS = frozenset({"", "0.0.0.0", "::", "0:0:0:0:0:0:0:0"})

RegistryLike = Union[Any, Address, Sequence[Address]]
P = TypeVar("P")


# --------------------------------------------------------------------------
# Addresses
# --------------------------------------------------------------------------

def _is_unspecified(host: str) -> bool:
    return host in _UNSPECIFIED_HOSTS


def local_address_towards(host: str, port: int = 9) -> str:
    """Return this host's address on the route towards ``host``.

    Uses a connected UDP socket's local address: ``connect()`` on a datagram
    socket only asks the kernel for a route and sends nothing.  An
    unspecified ``host`` (the registry runs here, bound to all interfaces)
    gives the loopback address.  An IPv6 link-local address comes with its
    scope, this host's interface (``'fe80::2%eth0'``): only hosts naming
    that link the same can use it, so give ``advertise_host`` where they do
    not.
    """
    if _is_unspecified(host):
        return "::1" if ":" in host else "127.0.0.1"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except socket.gaierror as exc:
        raise InvalidAddressError(
            f"cannot resolve registry host {quote(host)} ({exc}); pass an IP address "
            f"or a resolvable name, or give advertise_host explicitly"
        ) from exc
    family, _, _, _, sockaddr = infos[0]
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.connect(sockaddr)
        local = sock.getsockname()
    address = str(local[0])
    if family == socket.AF_INET6 and local[3] and "%" not in address:
        address = f"{address}%{socket.if_indextoname(local[3])}"
    return address


def _advertised_address(bind_address: Address, registry_host: str,
                        advertise_host: str | None) -> Address:
    """The address other hosts should use to reach an actor bound there."""
    host, port = bind_address
    if not _is_unspecified(host):
        return host, port
    if advertise_host is not None:
        return advertise_host, port
    return local_address_towards(registry_host), port


def _local_probe_address(bind_address: Address) -> Address:
    host, port = bind_address
    if _is_unspecified(host):
        host = "::1" if ":" in host else "127.0.0.1"
    return host, port


def _liveness_check(actor: Any, address: Address) -> Callable[[], bool]:
    """A callable telling whether ``actor`` still runs, without holding it.

    For an actor this process started, its process is asked (free).  For a
    connected one, an authenticated handshake with its server at
    ``address``: refused or rejected means gone; no answer in time is
    inconclusive and counts as alive, so a slow actor is not unregistered by
    mistake.  The callable keeps no reference to the proxy, so registering an
    actor does not keep it alive.
    """
    if _hosted_here(actor):
        return lambda: True  # the heartbeat thread ends with this process
    process = uactor.process(actor)
    if process is not None:
        return lambda: process.exitcode is None
    key = uactor.authkey(actor)

    def answers() -> bool:
        try:
            uactor.ActorManager(address, key, timeout=_PROBE_TIMEOUT).connect()
        except uactor.AuthkeyError:
            return False  # another process listens there now
        except uactor.ActorConnectionError as exc:
            return isinstance(exc.__cause__, (socket.timeout, TimeoutError))
        return True

    return answers


def _proxy_address(proxy: Any) -> Address:
    try:
        address = proxy.connection_address
    except AttributeError as exc:
        raise InvalidArgumentError(
            f"expected an actor proxy with a connection_address, got "
            f"{type(proxy).__name__} {quote(proxy)}"
        ) from exc
    if not isinstance(address, (tuple, list)):
        raise InvalidAddressError(
            f"actor {quote(proxy)} listens on {quote(address)}, not on TCP; give its class "
            f"_options_ = {{'address': ('0.0.0.0', 0), 'authkey': ...}} (or start it "
            f"with uactor.start(..., options=...)) so other hosts can reach it"
        )
    return check_address(tuple(address), "actor connection_address")


def _actor_class_name(proxy: Any) -> str:
    """The qualified name of the actor class behind ``proxy``.

    uactor names an actor's proxy class ``<actor qualname>.proxy_class``.
    """
    qualname: str = type(proxy).__qualname__
    suffix = ".proxy_class"
    if qualname.endswith(suffix) and len(qualname) > len(suffix):
        return qualname[: -len(suffix)]
    return qualname


# --------------------------------------------------------------------------
# Registry connections
# --------------------------------------------------------------------------

def _resolve_registry(registry: RegistryLike, authkey: bytes | None,
                      timeout: float | None) -> RegistryNodes:
    """The registry nodes behind a proxy, an address or a list of addresses.

    Addresses are connected to (the first one that answers at once, so a
    wrong key or no node raises here) with ``authkey``, or without one with
    the key :func:`registry.find_authkey` finds; a proxy's node is connected
    to again, when needed, with the key the proxy holds.
    """
    if isinstance(registry, (tuple, list)):
        addresses = check_addresses(registry)
        nodes = RegistryNodes(addresses, find_authkey(authkey), timeout=timeout)
        with _bounded(timeout):
            nodes.call("default_ttl")  # connected, or the last node's error
        return nodes
    if not hasattr(registry, "pick_entry"):
        raise InvalidArgumentError(
            f"registry must be a Registry proxy, a (host, port) address or a list "
            f"of them, got {type(registry).__name__} {quote(registry)}"
        )
    proxy: Any = registry
    bound = getattr(proxy, "connection_address", None)
    addresses = []
    if isinstance(bound, (tuple, list)) and len(bound) == 2:
        host, port = bound
        if _is_unspecified(host):
            host = "::1" if ":" in host else "127.0.0.1"
        addresses.append((host, port))
    return RegistryNodes(addresses, uactor.authkey(proxy), timeout=timeout, proxy=proxy)


def connect_registry(registry: Address | Sequence[Address],
                     authkey: bytes | None = None, *,
                     timeout: float | None = DEFAULT_CONNECT_TIMEOUT) -> Any:
    """A :class:`Registry` proxy of the first of these nodes that answers.

    :param registry: a node's ``(host, port)`` address, or a list of the
        addresses of several nodes (of one fleet: :ref:`registry-stores`),
        tried in this order.
    :param authkey: their key; by default the key :func:`registry.find_authkey`
        finds.
    :param timeout: bound (s) on connecting to each node, and the default
        deadline of calls through the proxy.

    For tools that list or inspect a registry (``uactor-discover
    --registry``).  The proxy stays with that node: :func:`register_actor`
    and :func:`connect_actor`, given the same list, move to the next node
    whenever the one in use fails.

    :raises uactor.ActorConnectionError: no node answered; names each node
        and what it met.
    :raises uactor.AuthkeyError: a node rejected the key.
    :raises InvalidArgumentError: ``registry`` is neither an address nor a
        list of addresses.
    """
    if not isinstance(registry, (tuple, list)):
        raise InvalidArgumentError(
            f"registry must be a (host, port) address or a list of them, got "
            f"{type(registry).__name__} {quote(registry)}; pass e.g. "
            f"[('10.0.0.5', 5000), ('10.0.0.6', 5000)]")
    nodes = _resolve_registry(registry, check_key(authkey), timeout)
    return nodes.proxy


# --------------------------------------------------------------------------
# Owner leases and registration handles
# --------------------------------------------------------------------------

class _Member:
    """One actor registered under an owner lease."""

    __slots__ = ("alive", "kwargs")

    def __init__(self, kwargs: dict[str, Any], alive: Callable[[], bool]) -> None:
        self.kwargs = kwargs
        self.alive = alive


class _OwnerLease:
    """This process's lease with one registry: one token, one heartbeat thread,
    any number of actors.

    :func:`register_actor` shares it between all the actors this process
    registers with the same registry nodes and TTL, so one renewal message
    every ``ttl / 3`` keeps them all registered.  The heartbeat thread starts
    with the first actor and stops with the last; a node that fails is left
    for the next one (:class:`RegistryNodes`), and a lease the registry no
    longer knows (it restarted, its store was wiped, the next node has a
    store of its own) is opened again and every actor registered again.
    Thread-safe; the lock also orders registrations with the heartbeat's
    re-registrations.
    """

    def __init__(self, key: tuple[Any, ...], *, nodes: RegistryNodes, ttl: float,
                 timeout: float | None) -> None:
        self._key = key
        self._nodes = nodes
        self.ttl = ttl
        self._timeout = timeout
        self._call_timeout = timeout or DEFAULT_CONNECT_TIMEOUT
        self._pid = os.getpid()
        self._token: str | None = None
        self._closed = False
        self._members: dict[Address, _Member] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._finalizer: Any = None

    # -- membership -------------------------------------------------------------

    def add(self, kwargs: dict[str, Any], alive: Callable[[], bool]) -> Entry | None:
        """Register one actor under this lease (opening it first if needed).

        Returns ``None`` when the lease was closed meanwhile (its last actor
        left): the caller then gets a fresh one.
        """
        with self._lock:
            if self._closed:
                return None
            with _bounded(self._timeout):
                if self._token is None:
                    self._token = self._open()
                try:
                    entry = self._nodes.call("register_entry", lease=self._token,
                                             **kwargs)
                except UnknownLeaseError:  # expired while idle: open another
                    self._token = self._open()
                    entry = self._nodes.call("register_entry", lease=self._token,
                                             **kwargs)
            self._members[kwargs["address"]] = _Member(kwargs, alive)
            self._start()
        return entry  # type: ignore[no-any-return]

    def holds(self, address: Address) -> bool:
        return address in self._members

    def remove(self, address: Address, timeout: float = _CLOSE_TIMEOUT) -> None:
        """Unregister one actor now; the last one out closes the lease."""
        if os.getpid() != self._pid:
            return  # an inherited handle in a forked child: not ours to close
        with self._lock:
            if self._members.pop(address, None) is None:
                return
            last = not self._members
            self._closed = last
            try:
                with uactor.deadline(self._call_timeout):
                    if last:
                        self._close_token()
                    elif self._token is not None:
                        self._nodes.call("unregister", address, lease=self._token)
            except (OSError, EOFError, uactor.UActorException) as exc:
                logger.debug("could not unregister %s (%s); it will expire",
                             address, exc)
            if last:
                _forget_lease(self._key, self)
        if last:
            self._halt(timeout)

    def close(self, timeout: float = _CLOSE_TIMEOUT) -> None:
        """Unregister every actor of this lease at once (at exit)."""
        if os.getpid() != self._pid:
            return
        with self._lock:
            self._members.clear()
            self._closed = True
            try:
                with uactor.deadline(self._call_timeout):
                    self._close_token()
            except (OSError, EOFError, uactor.UActorException) as exc:
                logger.debug("could not close the registry lease (%s); it will "
                             "expire", exc)
            _forget_lease(self._key, self)
        self._halt(timeout)

    # -- heartbeat ---------------------------------------------------------------

    def _start(self) -> None:
        if self._thread is not None:
            return
        # Unregister at exit, also in multiprocessing children (which skip
        # atexit), before uactor's own exit finalizers (priorities 10 and 0)
        # so that a registry this process owns still answers.
        self._finalizer = multiprocessing.util.Finalize(
            None, self.close, args=(_CLOSE_TIMEOUT,), exitpriority=_EXIT_PRIORITY)
        self._thread = threading.Thread(
            target=self._run, name=f"registry-heartbeat-{self.ttl:g}s", daemon=True)
        self._thread.start()

    def _halt(self, timeout: float) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                logger.warning("registry heartbeat thread did not stop within %g s; "
                               "the entries will expire on their own", timeout)
        if self._finalizer is not None:
            self._finalizer.cancel()

    def _run(self) -> None:
        interval = self.ttl / HEARTBEATS_PER_TTL
        failures = 0
        delay = interval
        while not self._stop.wait(delay):
            self._drop_dead_members()
            with self._lock:
                if not self._members or self._stop.is_set():
                    break
                try:
                    with uactor.deadline(self._call_timeout):
                        self._renew()
                except (OSError, EOFError, uactor.UActorException) as exc:
                    failures += 1
                    log = logger.warning if failures == 1 else logger.debug
                    log("heartbeat for %d registered actors failed (%s: %s); retrying",
                        len(self._members), type(exc).__name__, exc)
                    delay = min(interval, 0.2 * 2 ** failures)
                    continue
            if failures:
                logger.info("heartbeat recovered after %d failures", failures)
            failures = 0
            delay = interval

    def _renew(self) -> None:
        """Renew the lease; register everything again if the registry lost some."""
        if self._token is not None:
            try:
                held = self._nodes.call("renew", self._token)
            except UnknownLeaseError:
                logger.info("the registry lost this process's lease; registering "
                            "its %d actors again", len(self._members))
                self._token = None
            else:
                if held >= len(self._members):
                    return
        if self._token is None:
            self._token = self._open()
        for member in list(self._members.values()):
            self._nodes.call("register_entry", lease=self._token, **member.kwargs)

    def _drop_dead_members(self) -> None:
        for address, member in list(self._members.items()):
            if not member.alive():
                logger.info("actor at %s is gone; unregistering it", address)
                self.remove(address)

    # -- registry calls ------------------------------------------------------------

    def _open(self) -> str:
        token: str = self._nodes.call(
            "open_lease", self.ttl, pid=os.getpid(),
            hostname=socket.gethostname() or None)
        return token

    def _close_token(self) -> None:
        token, self._token = self._token, None
        if token is not None:
            self._nodes.call("close_lease", token)


#: This process's owner leases, by registry, key and TTL.
_owner_leases: dict[tuple[Any, ...], _OwnerLease] = {}
_owner_leases_lock = threading.Lock()


def _owner_lease(key: tuple[Any, ...], **kwargs: Any) -> _OwnerLease:
    """The shared lease for ``key``, made on first use."""
    with _owner_leases_lock:
        lease = _owner_leases.get(key)
        if lease is None:
            lease = _owner_leases[key] = _OwnerLease(key, **kwargs)
        return lease


def _forget_lease(key: tuple[Any, ...], lease: _OwnerLease) -> None:
    with _owner_leases_lock:
        if _owner_leases.get(key) is lease:
            del _owner_leases[key]


def _forget_leases_in_child() -> None:
    """A forked child owns no lease: its parent's heartbeats stay the parent's."""
    global _owner_leases_lock
    _owner_leases.clear()
    _owner_leases_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_leases_in_child)


class Registration(Closable):
    """A live registration of one actor, renewed by a background thread.

    Returned by :func:`register_actor`.  All the actors one process registers
    with the same registry (and TTL) share one lease and one heartbeat
    thread, which renews the lease every third of its TTL, registers them
    again if the registry lost them (e.g. it restarted), and reconnects after
    connection failures.  This actor is unregistered when :meth:`close` is
    called, when the handle is used as a context manager and the block ends,
    when the actor's port stops accepting connections, or at interpreter exit.

    The handle may be closed from any thread; :meth:`close` is idempotent.
    """

    def __init__(self, *, entry: Entry, lease: _OwnerLease) -> None:
        self._entry = entry
        self._lease = lease

    @property
    def address(self) -> Address:
        """The address registered for clients to connect to."""
        return self._entry.address

    @property
    def bind_address(self) -> Address:
        """The address the actor bound (the ``capture`` address for clients)."""
        return self._entry.bind_address

    @property
    def name(self) -> str:
        """The service name the actor is registered under."""
        return self._entry.name

    @property
    def ttl(self) -> float:
        """The lease in seconds renewed by the heartbeats."""
        return self._lease.ttl

    @property
    def closed(self) -> bool:
        """Whether this actor is no longer kept registered (closed, or gone)."""
        return not self._lease.holds(self._entry.address)

    def close(self, timeout: float = _CLOSE_TIMEOUT) -> None:
        """Unregister the actor now (idempotent).

        The last registration of the process's lease closes the lease and
        waits at most ``timeout`` seconds for its heartbeat thread.
        """
        self._lease.remove(self._entry.address, timeout)

    def _describe(self) -> str:
        return f"{self.name!r} at {format_address(self.address)} ttl={self.ttl:g}s"

    def _open_state(self) -> str:
        return "active"


def register_actor(
    registry: RegistryLike,
    actor: Any,
    *,
    authkey: bytes | None = None,
    name: str | None = None,
    ttl: float | None = None,
    advertise_host: str | None = None,
    pid: int | None = None,
    timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
) -> Registration:
    """Register a running networked ``actor`` and keep it registered.

    :param registry: a :class:`Registry` proxy, its ``(host, port)``
        address, or a list of the addresses of several nodes (of one fleet:
        :ref:`registry-stores`), in the order to use them.
    :param actor: a proxy of a networked actor (one listening on TCP).
    :param authkey: the registry's authkey, used to connect to addresses
        and to reconnect after connection failures; by default the key
        :func:`registry.find_authkey` finds.
    :param name: service name; defaults to the actor class's ``__qualname__``.
    :param ttl: lease in seconds; defaults to the registry's
        :meth:`Registry.default_ttl`.  Renewed every ``ttl / 3``.
    :param advertise_host: host clients should connect to when the actor is
        bound to an unspecified address (``0.0.0.0``, ``::``); by default the
        address this host uses to reach the registry.
    :param pid: actor process id recorded as metadata (default: asked from
        the actor proxy when it knows, else ``None``).
    :param timeout: bound (s) on connecting to the registry.
    :returns: a :class:`Registration`; close it (or use it as a context
        manager) to unregister at once.

    The first registration happens before this returns, so errors (bad
    arguments, unreachable registry, wrong authkey) raise here.  Every actor
    a process registers with the same registry nodes and TTL joins one
    lease, renewed by one heartbeat for all of them; when the node in use
    fails, the heartbeats go on through the next one.  An actor may register
    itself from its ``_actor_started_`` hook by passing
    ``uactor.proxy(self, 'actor')``.
    """
    authkey = check_key(authkey)
    bind_address = _proxy_address(actor)
    service = check_name(_actor_class_name(actor) if name is None else name)
    if advertise_host is not None:
        advertise_host = check_address((advertise_host, bind_address[1]),
                                       "advertise_host")[0]
    lease_ttl = check_ttl(ttl)
    nodes = _resolve_registry(registry, authkey, timeout)
    with _bounded(timeout):
        if lease_ttl is None:
            lease_ttl = float(nodes.call("default_ttl"))
    registry_address = nodes.address
    registry_host = registry_address[0] if registry_address else "127.0.0.1"
    # Checked and normalized here too, so only plain data goes to the registry.
    kwargs = Table.validated(
        _advertised_address(bind_address, registry_host, advertise_host),
        name=service, bind_address=bind_address,
        pid=_actor_pid(actor) if pid is None else pid,
        hostname=socket.gethostname() or None)
    address = kwargs["address"]
    key = (nodes.addresses or id(registry), hashlib.sha256(nodes.authkey).hexdigest(),
           lease_ttl)
    alive = _liveness_check(actor, _local_probe_address(bind_address))
    while True:
        lease = _owner_lease(key, nodes=nodes, ttl=lease_ttl, timeout=timeout)
        entry = lease.add(kwargs, alive)
        if entry is not None:
            break
    logger.debug("registered %s as %r with a %g s lease", address, service, lease_ttl)
    return Registration(entry=entry, lease=lease)


def _bounded(timeout: float | None) -> contextlib.AbstractContextManager[None]:
    """A uactor call deadline of ``timeout`` seconds, or none."""
    return contextlib.nullcontext() if timeout is None else uactor.deadline(timeout)


def _hosted_here(actor: Any) -> bool:
    """Whether ``actor`` is the actor of this very process (self-registration)."""
    try:
        here = uactor.current_address()
    except uactor.ProxyError:
        return False
    return getattr(actor, "connection_address", None) == here


def _actor_pid(actor: Any) -> int | None:
    """The actor's process id when this process hosts or started it, else None."""
    if _hosted_here(actor):
        return os.getpid()
    process = uactor.process(actor)
    return None if process is None else process.pid


# --------------------------------------------------------------------------
# Connecting
# --------------------------------------------------------------------------

@overload
def connect_actor(
    registry: RegistryLike, actor_class: type[P], authkey: bytes | None = ..., *,
    name: str | None = ..., timeout: float | None = ...,
    registry_authkey: bytes | None = ..., reconnect: Literal[False] = ...,
) -> P: ...


@overload
def connect_actor(
    registry: RegistryLike, actor_class: type[P], authkey: bytes | None = ..., *,
    name: str | None = ..., timeout: float | None = ...,
    registry_authkey: bytes | None = ...,
    reconnect: Literal[True] | ReconnectPolicy,
) -> Reconnecting: ...


def connect_actor(
    registry: RegistryLike,
    actor_class: type[P],
    authkey: bytes | None = None,
    *,
    name: str | None = None,
    timeout: float | None = None,
    registry_authkey: bytes | None = None,
    reconnect: bool | ReconnectPolicy = False,
) -> P | Reconnecting:
    """Pick a registered actor and return a connected proxy to it.

    Picks entries of ``name`` (default: ``actor_class.__qualname__``) in turn
    and returns ``actor_class.connect(entry.address, authkey,
    capture=[entry.bind_address])`` for the first that answers, so proxies the
    actor returns route back through the same connection.  Dead entries are
    skipped (they expire from the registry on their own).

    :param registry: a :class:`Registry` proxy, its ``(host, port)``
        address, or a list of the addresses of several nodes, tried in turn
        when one fails (connected to with ``registry_authkey``, default
        ``authkey``).
    :param authkey: the actors' authkey; by default the key
        :func:`registry.find_authkey` finds.
    :param timeout: as for :meth:`uactor.Actor.connect`: seconds for
        connecting and the default deadline of every call through the
        returned proxy (``None``: no call deadline); it also bounds the whole
        search.
    :param reconnect: ``True`` or a :class:`ReconnectPolicy` to get a
        :class:`Reconnecting` proxy that picks and connects again, by name,
        when its actor is lost (through the next registry node when one
        fails; a registry node that restarted is connected to again).  The
        first connection is made before this returns, with the errors below.
    :raises UnknownNameError: nothing ever registered under ``name``.
    :raises NoActorAvailableError: no entry, or none could be connected to
        (the message lists each address tried and why it failed).
    :raises uactor.AuthkeyError: an actor rejected ``authkey``.
    """
    if not isinstance(actor_class, type) or not issubclass(actor_class, uactor.Actor):
        raise InvalidArgumentError(
            f"actor_class must be a uactor.Actor subclass, got {quote(actor_class)}"
        )
    service = check_name(actor_class.__qualname__ if name is None else name)
    policy = _reconnect_policy(reconnect)
    deadline = None if timeout is None else time.monotonic() + timeout
    registry_authkey = check_key(registry_authkey, "registry_authkey")
    authkey = find_authkey(authkey)
    registry_key = authkey if registry_authkey is None else find_authkey(registry_authkey)
    nodes = _resolve_registry(registry, registry_key, timeout)
    first = _pick_and_connect(nodes, actor_class, authkey, service, timeout, deadline)
    if policy is None:
        return first
    resolver = _RegistryResolver(nodes, actor_class, authkey, service, timeout)
    return Reconnecting(resolver, name=service, policy=policy, proxy=first)


def _reconnect_policy(reconnect: object) -> ReconnectPolicy | None:
    if isinstance(reconnect, ReconnectPolicy):
        return reconnect
    if reconnect is True:
        return ReconnectPolicy()
    if reconnect is False or reconnect is None:
        return None
    raise InvalidArgumentError(
        f"reconnect must be True, False or a registry.ReconnectPolicy, got "
        f"{type(reconnect).__name__} {quote(reconnect)}")


def _pick_and_connect(nodes: RegistryNodes, actor_class: type[P], authkey: bytes,
                      service: str, timeout: float | None, deadline: float | None) -> P:
    """Pick entries of ``service`` from the registry ``nodes`` until one answers."""
    tried: dict[Address, str] = {}
    while True:
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            break
        with _bounded(remaining):
            entry = nodes.call("pick_entry", service)
        if entry is None or tuple(entry.address) in tried:
            break
        address = check_address(tuple(entry.address), "registered address")
        bind_address = tuple(entry.bind_address)
        capture = [] if bind_address == address else [bind_address]
        try:
            return actor_class.connect(  # type: ignore[attr-defined,no-any-return]
                address, authkey, capture=capture, timeout=timeout)
        except uactor.AuthkeyError:
            raise
        except (OSError, EOFError, uactor.UActorException) as exc:
            logger.debug("registered %r actor at %s did not answer: %s",
                         service, address, exc)
            tried[address] = f"{type(exc).__name__}: {exc}"
    if not tried:
        raise NoActorAvailableError(
            f"no {service!r} actor is registered right now; start one and "
            f"register it (registry.register_actor), or wait and retry"
        )
    details = "; ".join(f"{host}:{port} ({why})" for (host, port), why in tried.items())
    raise NoActorAvailableError(
        f"no registered {service!r} actor could be connected to; tried {details}. "
        f"Dead entries expire with their lease; check the actors and the authkey"
    )


class _RegistryResolver:
    """A :class:`Reconnecting` resolver: pick and connect through a registry.

    Its :class:`RegistryNodes` keep a registry proxy between resolutions and
    replace it when its node fails or restarted (the next node, or the same
    one connected again), so a resolution never meets a stale registry
    proxy, in whichever thread it runs.  Called by one thread at a time.
    """

    def __init__(self, nodes: RegistryNodes, actor_class: type, authkey: bytes,
                 service: str, timeout: float | None) -> None:
        self._nodes = nodes
        self._actor_class = actor_class
        self._authkey = authkey
        self._service = service
        self._timeout = timeout

    def __call__(self) -> Any:
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        return _pick_and_connect(self._nodes, self._actor_class, self._authkey,
                                 self._service, self._timeout, deadline)
