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
import logging
import multiprocessing.util
import os
import socket
import threading
import time
from typing import Any, Callable, Literal, TypeVar, Union, overload

import uactor

from ._actor import Registry
from ._closing import Closable
from ._errors import (
    InvalidAddressError,
    InvalidArgumentError,
    NoActorAvailableError,
    check_key,
    quote,
)
from ._keys import find_authkey
from ._reconnect import Reconnecting, ReconnectPolicy
from ._table import Address, Entry, Table, check_address, check_name, check_ttl

__all__ = [
    "Registration",
    "connect_actor",
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

RegistryLike = Union[Any, Address]
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
    gives the loopback address.
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
        return str(sock.getsockname()[0])


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

def _connect_registry(address: Address, authkey: bytes, timeout: float | None) -> Any:
    return Registry.connect(address, authkey, timeout=timeout)


def _resolve_registry(registry: RegistryLike, authkey: bytes | None,
                      timeout: float | None) -> tuple[Any, Address | None]:
    """Return ``(proxy, reconnect address)`` for a registry proxy or address.

    An address is connected to with ``authkey``, or without one with the key
    :func:`registry.find_authkey` finds.
    """
    if isinstance(registry, (tuple, list)):
        address = check_address(tuple(registry), "registry address")
        return _connect_registry(address, find_authkey(authkey), timeout), address
    if not hasattr(registry, "pick_entry"):
        raise InvalidArgumentError(
            f"registry must be a Registry proxy or a (host, port) address, got "
            f"{type(registry).__name__} {quote(registry)}"
        )
    bound = getattr(registry, "connection_address", None)
    if isinstance(bound, (tuple, list)) and len(bound) == 2:
        host, port = bound
        if _is_unspecified(host):
            host = "::1" if ":" in host else "127.0.0.1"
        return registry, (host, port)
    return registry, None


# --------------------------------------------------------------------------
# Registration handle
# --------------------------------------------------------------------------

class Registration(Closable):
    """A live registration of one actor, renewed by a background thread.

    Returned by :func:`register_actor`.  The heartbeat thread renews the
    lease every third of its TTL, re-registering if the registry forgot the
    entry (e.g. it restarted), and reconnects after connection failures.  It
    stops and unregisters the actor when :meth:`close` is called, when the
    handle is used as a context manager and the block ends, when the actor's
    port stops accepting connections, or at interpreter exit.

    The handle may be closed from any thread; :meth:`close` is idempotent.
    """

    def __init__(self, *, entry: Entry, worker: _Heartbeat) -> None:
        self._entry = entry
        self._worker = worker

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
        return self._worker.ttl

    @property
    def closed(self) -> bool:
        """Whether heartbeats have stopped (closed, or the actor went away)."""
        return not self._worker.running

    def close(self, timeout: float = _CLOSE_TIMEOUT) -> None:
        """Stop the heartbeats and unregister the actor now (idempotent).

        Waits at most ``timeout`` seconds for the heartbeat thread.
        """
        self._worker.stop(timeout)

    def _describe(self) -> str:
        host, port = self.address
        return f"{self.name!r} at {host}:{port} ttl={self.ttl:g}s"

    def _open_state(self) -> str:
        return "active"


class _Heartbeat:
    """The heartbeat thread's state, kept apart from :class:`Registration` so
    the finalizer and the thread never hold the handle itself."""

    def __init__(self, *, registry: Any, registry_address: Address | None,
                 authkey: bytes | None, kwargs: dict[str, Any],
                 alive: Callable[[], bool], interval: float,
                 timeout: float | None) -> None:
        self._registry = registry
        self._registry_address = registry_address
        self._authkey = authkey
        self.ttl: float = kwargs["ttl"]
        self._kwargs = kwargs
        self._alive = alive
        self._interval = interval
        self._timeout = timeout
        self._call_timeout = timeout or DEFAULT_CONNECT_TIMEOUT
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._stopped = False
        self._finalizer: Any = None
        self._thread = threading.Thread(
            target=self._run, name=f"registry-heartbeat-{kwargs['address'][1]}",
            daemon=True,
        )

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self._stop.is_set()

    def start(self) -> None:
        # Unregister at exit, also in multiprocessing children (which skip
        # atexit), before uactor's own exit finalizers (priorities 10 and 0)
        # so that a registry this process owns still answers.
        self._finalizer = multiprocessing.util.Finalize(
            None, self.stop, args=(_CLOSE_TIMEOUT,), exitpriority=_EXIT_PRIORITY)
        self._thread.start()

    def stop(self, timeout: float = _CLOSE_TIMEOUT) -> None:
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning(
                    "heartbeat thread for %s did not stop within %g s; the entry "
                    "will expire on its own", self._kwargs["address"], timeout,
                )

    def _run(self) -> None:
        address = self._kwargs["address"]
        failures = 0
        delay = self._interval
        try:
            while not self._stop.wait(delay):
                if not self._alive():
                    logger.info("actor at %s is gone; unregistering it", address)
                    break
                try:
                    with uactor.deadline(self._call_timeout):
                        self._registry.register_entry(**self._kwargs)
                except (OSError, EOFError, uactor.UActorException) as exc:
                    failures += 1
                    log = logger.warning if failures == 1 else logger.debug
                    log("heartbeat for %s failed (%s: %s); retrying",
                        address, type(exc).__name__, exc)
                    self._reconnect(failures)
                    delay = min(self._interval, 0.2 * 2 ** failures)
                else:
                    if failures:
                        logger.info("heartbeat for %s recovered after %d failures",
                                    address, failures)
                    failures = 0
                    delay = self._interval
        finally:
            self._unregister()
            self._registry = None
            if self._finalizer is not None:
                self._finalizer.cancel()

    def _reconnect(self, failures: int) -> None:
        if self._registry_address is None or self._authkey is None:
            return
        try:
            self._registry = _connect_registry(
                self._registry_address, self._authkey, self._timeout)
        except (OSError, EOFError, uactor.UActorException) as exc:
            logger.debug("reconnecting to registry %s failed: %s",
                         self._registry_address, exc)

    def _unregister(self) -> None:
        address = self._kwargs["address"]
        try:
            with uactor.deadline(self._call_timeout):
                self._registry.unregister(address)
        except (OSError, EOFError, uactor.UActorException) as exc:
            logger.debug("could not unregister %s (%s); it will expire", address, exc)


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

    :param registry: a :class:`Registry` proxy, or its ``(host, port)``
        address.
    :param actor: a proxy of a networked actor (one listening on TCP).
    :param authkey: the registry's authkey, used to connect to an address
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
    arguments, unreachable registry, wrong authkey) raise here.  An actor
    may register itself from its ``_actor_started_`` hook by passing
    ``uactor.proxy(self, 'actor')``.
    """
    authkey = check_key(authkey)
    bind_address = _proxy_address(actor)
    service = check_name(_actor_class_name(actor) if name is None else name)
    if advertise_host is not None:
        advertise_host = check_address((advertise_host, bind_address[1]),
                                       "advertise_host")[0]
    lease = check_ttl(ttl)
    proxy, registry_address = _resolve_registry(registry, authkey, timeout)
    with _bounded(timeout):
        if lease is None:
            lease = float(proxy.default_ttl())
    registry_host = registry_address[0] if registry_address else "127.0.0.1"
    # Checked and normalized here too, so only plain data goes to the registry.
    kwargs = Table.validated(
        _advertised_address(bind_address, registry_host, advertise_host),
        name=service, bind_address=bind_address,
        pid=_actor_pid(actor) if pid is None else pid,
        hostname=socket.gethostname() or None, ttl=lease)
    address = kwargs["address"]
    with _bounded(timeout):
        entry = proxy.register_entry(**kwargs)
    worker = _Heartbeat(
        registry=proxy, registry_address=registry_address,
        authkey=authkey if authkey is not None else uactor.authkey(proxy),
        kwargs=kwargs,
        alive=_liveness_check(actor, _local_probe_address(bind_address)),
        interval=lease / HEARTBEATS_PER_TTL, timeout=timeout,
    )
    worker.start()
    logger.debug("registered %s as %r with a %g s lease", address, service, lease)
    return Registration(entry=entry, worker=worker)


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

    :param registry: a :class:`Registry` proxy or its ``(host, port)``
        address (connected to with ``registry_authkey``, default ``authkey``).
    :param authkey: the actors' authkey; by default the key
        :func:`registry.find_authkey` finds.
    :param timeout: as for :meth:`uactor.Actor.connect`: seconds for
        connecting and the default deadline of every call through the
        returned proxy (``None``: no call deadline); it also bounds the whole
        search.
    :param reconnect: ``True`` or a :class:`ReconnectPolicy` to get a
        :class:`Reconnecting` proxy that picks and connects again, by name,
        when its actor is lost (the registry too is connected to again when
        it restarted and its address is known).  The first connection is made
        before this returns, with the errors below.
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
    proxy, registry_address = _resolve_registry(registry, registry_key, timeout)
    if policy is None:
        return _pick_and_connect(proxy, actor_class, authkey, service, timeout, deadline)
    if not isinstance(registry, (tuple, list)) and registry_authkey is None:
        registry_key = uactor.authkey(proxy)  # the key the given proxy holds
    reconnect_to = None
    if registry_address is not None:
        reconnect_to = (registry_address, registry_key)
    resolver = _RegistryResolver(proxy, reconnect_to, actor_class, authkey, service, timeout)
    first = _pick_and_connect(proxy, actor_class, authkey, service, timeout, deadline)
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


def _pick_and_connect(proxy: Any, actor_class: type[P], authkey: bytes, service: str,
                      timeout: float | None, deadline: float | None) -> P:
    """Pick entries of ``service`` from the registry ``proxy`` until one answers."""
    tried: dict[Address, str] = {}
    while True:
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            break
        with _bounded(remaining):
            entry = proxy.pick_entry(service)
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

    Keeps its registry proxy between resolutions; when the registry itself
    cannot be reached (it restarted), the next resolution connects to it
    again, if its address and key are known.  Called by one thread at a time.
    """

    def __init__(self, registry: Any, reconnect_to: tuple[Address, bytes] | None,
                 actor_class: type, authkey: bytes, service: str,
                 timeout: float | None) -> None:
        self._registry = registry
        #: ``(address, authkey)`` of the registry, when it can be reconnected to.
        self._reconnect_to = reconnect_to
        self._actor_class = actor_class
        self._authkey = authkey
        self._service = service
        self._timeout = timeout

    def __call__(self) -> Any:
        registry = self._registry
        if registry is None and self._reconnect_to is not None:
            registry = self._registry = _connect_registry(*self._reconnect_to, self._timeout)
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        try:
            return _pick_and_connect(registry, self._actor_class, self._authkey,
                                     self._service, self._timeout, deadline)
        except NoActorAvailableError:
            raise
        except (ConnectionError, TimeoutError):
            # The registry failed (actor failures are NoActorAvailableError):
            # connect to it again next time, if we know how.
            if self._reconnect_to is not None:
                self._registry = None
            raise
