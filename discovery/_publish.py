"""Publishing: advertise a networked actor until it stops or is withdrawn.

Two ways: :func:`publish` for a proxy you hold (a :class:`Publication`,
closed explicitly or as a context manager), and :class:`Advertised`, a mixin
whose actors publish themselves from inside their own process when they start
listening on a TCP address and withdraw at shutdown.

Instance names are unique by construction (they carry the host name, the
bind address when specific, and the port, and one port serves one actor), so
adverts are registered with ``cooperating_responders=True``: no 1.65 s of
probing, the first announcement leaves at once.  A name already announced by
another responder, or by this process, gets a ``" (2)"`` suffix instead.
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import weakref
from collections.abc import Mapping
from typing import Any, ClassVar

from zeroconf import IPVersion, ServiceInfo, Zeroconf

import uactor
from registry._closing import Closable

from . import _core
from ._advert import (
    SERVICE_TYPE,
    SIGNATURE_REFRESH,
    Address,
    build_txt,
    class_path,
    format_address,
    instance_label,
    local_hostname,
    server_name,
    sign,
)
from ._errors import DiscoveryError, PublicationError
from ._interfaces import InterfacesType, host_addresses, resolve
from ._registry import RegistryLink
from ._zeroconf import ZeroconfHandle, acquire

log = logging.getLogger("discovery")

# --------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------

#: Suffixes tried (``" (2)"`` ...) before giving up on a conflicting name.
MAX_NAME_SUFFIX = 20

#: Goodbye packets sent per withdrawal, and the interval between them (s),
#: as python-zeroconf's own unregistering does (RFC 6762 §10.1).
GOODBYE_REPEATS = 3
GOODBYE_INTERVAL = 0.125

#: DNS record type and class numbers (RFC 1035) used to look names up.
_TYPE_SRV = 33
_CLASS_IN = 1

#: Instance names (lower case) this process currently publishes, all
#: zeroconf instances together: a second publication never takes one.
_published_names: set[str] = set()
_published_lock = threading.Lock()


def _forget_after_fork() -> None:
    global _published_lock
    _published_lock = threading.Lock()
    _published_names.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


# --------------------------------------------------------------------------
# Publication
# --------------------------------------------------------------------------

class _PublicationState:
    """What closing a publication needs; held by the finalizer, never ``self``."""

    def __init__(self, handle: ZeroconfHandle, info: ServiceInfo,
                 txt: dict[str, str], authkey: bytes | None) -> None:
        self.handle = handle
        self.info = info
        self.txt = txt
        self.authkey = authkey
        self.timer: asyncio.TimerHandle | None = None
        self.sentinel: int | None = None
        self.withdrawn = False
        #: A :class:`~discovery._registry.RegistryLink` when asked to register.
        self.link: Any = None

    # -- on zeroconf's loop -------------------------------------------------

    def signed_info(self) -> ServiceInfo:
        """A fresh ServiceInfo for the same records, signed now if keyed."""
        txt = dict(self.txt)
        if self.authkey is not None:
            txt["ts"] = str(int(time.time()))
            txt["hmac"] = sign(self.authkey, self.info.name, self.info.server or "",
                               self.info.port or 0, txt)
        return ServiceInfo(SERVICE_TYPE, self.info.name, port=self.info.port,
                           properties=txt, server=self.info.server,
                           addresses=self.info.addresses_by_version(
                               IPVersion.All))

    def schedule_refresh(self) -> None:
        if self.authkey is not None and not self.withdrawn:
            self.timer = self.handle.loop.call_later(SIGNATURE_REFRESH, self.refresh)

    def refresh(self) -> None:
        """Re-sign the advert so browsers keep accepting it (loop only)."""
        if self.withdrawn:
            return
        self.info = self.signed_info()
        asyncio.ensure_future(self.handle.zeroconf.async_update_service(self.info))
        self.schedule_refresh()

    def withdraw_in_loop(self) -> None:
        """Send goodbyes and stop refreshing; idempotent (loop only)."""
        if self.withdrawn:
            return
        self.withdrawn = True
        if self.timer is not None:
            self.timer.cancel()
        if self.sentinel is not None:
            self.handle.loop.remove_reader(self.sentinel)
            os.close(self.sentinel)
            self.sentinel = None
        with _published_lock:
            _published_names.discard(self.info.key)
        zc = self.handle.zeroconf
        if zc.done:
            return
        zc.registry.async_remove(self.info)
        # Goodbyes (TTL 0): the first leaves now; the repeats are plain timer
        # callbacks, not tasks, so closing the instance right away drops them
        # instead of waiting for them (zeroconf's own unregister would hold
        # close() for 250 ms).  Address records go too unless another
        # publication of this instance shares the host name.
        keep_addresses = bool(zc.registry.async_get_infos_server(
            self.info.server_key or ""))
        goodbye = zc.generate_service_broadcast(self.info, 0, not keep_addresses)

        def send() -> None:
            if not zc.done:
                zc.async_send(goodbye)

        send()
        for repeat in range(1, GOODBYE_REPEATS):
            self.handle.loop.call_later(repeat * GOODBYE_INTERVAL, send)
        log.debug("withdrew %r", self.info.name)


def _close_publication(state: _PublicationState) -> None:
    """Finalizer: unregister, withdraw, then drop the zeroconf reference."""
    if state.link is not None:
        state.link.close()
    try:
        if not state.handle.zeroconf.done:
            state.handle.call(state.withdraw_in_loop)
    except (RuntimeError, TimeoutError) as exc:  # loop already gone
        log.debug("could not send goodbyes for %r: %s", state.info.name, exc)
    finally:
        state.handle.release()


class Publication(Closable):
    """A live advert of one actor; :meth:`close` withdraws it.

    Returned by :func:`publish`.  Closing is idempotent and also happens when
    the publication is garbage-collected.  Safe to close from any thread.
    """

    def __init__(self, state: _PublicationState, actor_class: str, bind: Address,
                 addresses: list[str]) -> None:
        self._state = state
        #: Actor class as ``module:qualname``.
        self.actor_class = actor_class
        #: The actor's bind address.
        self.bind = bind
        #: Addresses advertised for it.
        self.addresses = tuple(addresses)
        self._finalizer = weakref.finalize(self, _close_publication, state)

    @property
    def instance(self) -> str:
        """Full DNS-SD instance name (``'Worker @ host:4711._uactor._tcp.local.'``)."""
        return self._state.info.name

    @property
    def port(self) -> int:
        return self.bind[1]

    @property
    def closed(self) -> bool:
        """True once withdrawn (closed, or its actor process ended)."""
        return not self._finalizer.alive or self._state.withdrawn

    def close(self) -> None:
        """Withdraw the advert (goodbye packets) and release zeroconf."""
        self._finalizer()

    def _describe(self) -> str:
        return f"{self.instance!r} {self.actor_class} at {format_address(self.bind)}"


# --------------------------------------------------------------------------
# Registering
# --------------------------------------------------------------------------

def _conflicts(zc: Zeroconf, name: str, server: str, port: int) -> bool:
    """True when another responder or publication already uses ``name`` (loop)."""
    with _published_lock:
        if name.lower() in _published_names:
            return True
    for record in zc.cache.async_all_by_details(name, _TYPE_SRV, _CLASS_IN):
        if record.is_expired(time.time() * 1000):
            continue
        if (getattr(record, "server", "").lower(), getattr(record, "port", 0)) \
                != (server.lower(), port):
            return True
    return False


async def _register(state: _PublicationState, name: str, hostname: str,
                    bind: Address) -> None:
    """Pick a free instance name and register it (on zeroconf's loop)."""
    zc = state.handle.zeroconf
    server = state.info.server or ""
    port = state.info.port or 0
    for suffix in range(1, MAX_NAME_SUFFIX + 1):
        label = instance_label(name, hostname, bind, suffix)
        full = f"{label}.{SERVICE_TYPE}"
        if not _conflicts(zc, full, server, port):
            break
        log.debug("instance name %r is taken; trying another", full)
    else:
        raise PublicationError(f"no free instance name for {name!r} after "
                               f"{MAX_NAME_SUFFIX} tries; pass another name=")
    with _published_lock:
        _published_names.add(full.lower())
    state.info = ServiceInfo(SERVICE_TYPE, full, port=port, server=server,
                             addresses=state.info.addresses_by_version(
                                 IPVersion.All))
    state.info = state.signed_info()
    try:
        # cooperating_responders: the name is unique by construction, so skip
        # probing; the first announcement goes out immediately.
        await zc.async_register_service(state.info, cooperating_responders=True)
    except BaseException:
        with _published_lock:
            _published_names.discard(full.lower())
        raise
    state.schedule_refresh()


def publish_address(actor_class: type | str, bind: Address, *,
                    name: str | None = None, role: str = "actor",
                    interfaces: InterfacesType = None,
                    properties: Mapping[str, object] | None = None,
                    authkey: bytes | None = None,
                    serializer: str = "pickle", pid: int | None = None,
                    zeroconf: Zeroconf | None = None) -> Publication:
    """Advertise an actor of ``actor_class`` listening on ``bind``.

    The building block of :func:`publish` and :class:`Advertised`, for
    actors you know by address rather than by proxy; ``pid`` is the actor
    process's id when known.  The advert is signed only when ``authkey`` is
    given.  Other arguments as for :func:`publish`.
    """
    path = actor_class if isinstance(actor_class, str) else class_path(actor_class)
    key = None if authkey is None else _core.check_authkey(authkey)
    host, port = str(bind[0]), int(bind[1])
    if not 0 < port < 65536:
        raise PublicationError(f"cannot advertise port {port}: the actor must "
                               "listen on a TCP port")
    if not isinstance(role, str) or not role or len(role) > 32:
        raise ValueError(f"role must be a short non-empty string, not {role!r}")
    resolved = resolve(interfaces)
    addresses = host_addresses(resolved, host)
    if not addresses:
        raise PublicationError(
            f"no address to advertise for an actor bound to {host!r} on "
            f"interfaces {interfaces!r}; pass interfaces that have an address")
    hostname = local_hostname()
    label = name if name is not None else path.partition(":")[2]
    if not isinstance(label, str) or not label.strip():
        raise ValueError(f"name must be a non-empty string, not {name!r}")
    txt = build_txt(actor_class=path, name=label, role=role, bind=(host, port),
                    pid=pid, hostname=hostname, version=_core.version(),
                    serializer=serializer, addresses=addresses,
                    properties=properties, authkey=key)
    server = server_name(hostname, addresses)
    placeholder = ServiceInfo(SERVICE_TYPE, f"pending.{SERVICE_TYPE}", port=port,
                              server=server, parsed_addresses=addresses)
    handle = acquire(resolved, zeroconf)
    state = _PublicationState(handle, placeholder, txt, key)
    try:
        handle.run(_register(state, label, hostname, (host, port)))
    except BaseException:
        handle.release()
        raise
    publication = Publication(state, path, (host, port), addresses)
    log.debug("published %r at %s", publication.instance, addresses)
    return publication


def publish(proxy: Any, *, name: str | None = None, role: str = "actor",
            interfaces: InterfacesType = None,
            properties: Mapping[str, object] | None = None,
            authkey: bytes | None = None, sign: bool = True,
            register: bool | str = False,
            zeroconf: Zeroconf | None = None) -> Publication:
    """Advertise the networked actor behind ``proxy`` over mDNS/DNS-SD.

    :param proxy: a proxy to an actor listening on TCP (its ``_options_`` or
        :func:`uactor.start` options set an ``address``).
    :param name: service name (default: the actor class's qualified name),
        the first part of the instance name and what browsers filter on.
    :param role: ``'actor'``, or ``'registry'`` for a registry node.
    :param interfaces: where to advertise: interface names (``'eth0'``), IP
        addresses of this host (IPv4 or IPv6) or IPv6 interface indexes;
        default all interfaces.  An actor bound to ``0.0.0.0`` is advertised
        with the IPv4 addresses of these interfaces, one bound to ``::`` with
        their IPv4 and IPv6 addresses.
    :param properties: extra TXT properties (short strings).
    :param authkey: the key adverts are signed with (an HMAC over the
        advert, its port and addresses; never the key itself), so browsers
        holding it drop forged and replayed adverts.  Default: the actor's
        own authkey (the one ``proxy`` connects with).
    :param sign: False publishes an unsigned advert.
    :param register: also register the actor with a registry node found
        over mDNS (:func:`discovery.find_registry`, same key and
        ``interfaces``; a string picks the node published under that name),
        searching in the background until one answers and keeping the
        registration alive until the publication is closed.
    :param zeroconf: a :class:`zeroconf.Zeroconf` to use instead of the
        process's shared one (it is not closed).
    :returns: a :class:`Publication`; close it (or use ``with``) to withdraw.
        When ``proxy`` owns its actor, the advert is also withdrawn as soon
        as the actor process ends.
    """
    details = _core.proxy_details(proxy)
    key = _core.own_authkey(proxy) if authkey is None else _core.check_authkey(authkey)
    return _publish_actor(proxy, details, key, sign=sign, register=register, name=name,
                          role=role, interfaces=interfaces, properties=properties,
                          zeroconf=zeroconf)


def _publish_actor(proxy: Any, details: _core.ProxyDetails, key: bytes | None, *,
                   sign: bool, register: bool | str, name: str | None, role: str,
                   interfaces: InterfacesType,
                   properties: Mapping[str, object] | None,
                   zeroconf: Zeroconf | None) -> Publication:
    """:func:`publish` once the actor is known (also :class:`Advertised`'s way)."""
    if register and key is None:
        raise ValueError("register=True needs an authkey (registries only accept "
                         "registrations from key holders): give the actor one, "
                         "or pass authkey=")
    publication = publish_address(
        details.actor_class, details.address, name=name, role=role,
        interfaces=interfaces, properties=properties,
        authkey=key if sign else None, serializer=details.serializer,
        pid=details.pid, zeroconf=zeroconf)
    state = publication._state
    if details.sentinel is not None:
        try:
            # A duplicate: multiprocessing closes its own descriptor once the
            # process is joined, and that number could then be reused.
            sentinel = os.dup(details.sentinel)
        except OSError:  # already closed: the actor process is gone
            publication.close()
            raise PublicationError("the actor process ended while it was being "
                                   "published") from None
        state.handle.call(lambda: _watch_sentinel(state, sentinel))
    if register and key is not None:
        state.link = RegistryLink(
            proxy, key, interfaces=interfaces, name=name,
            registry_name=register if isinstance(register, str) else None)
    return publication


def _watch_sentinel(state: _PublicationState, sentinel: int) -> None:
    """Withdraw when the actor process's sentinel (owned here) becomes readable."""
    if state.withdrawn:
        os.close(sentinel)
        return
    state.sentinel = sentinel
    state.handle.loop.add_reader(sentinel, state.withdraw_in_loop)


# --------------------------------------------------------------------------
# Automatic mode
# --------------------------------------------------------------------------

class Advertised:
    """Mixin: the actor advertises itself whenever it runs networked.

    Put it before :class:`uactor.Actor` in the bases and configure it with
    ``_advertise_`` (all keys optional)::

        class Worker(discovery.Advertised, uactor.Actor):
            _options_ = {'address': ('0.0.0.0', 0), 'authkey': b'secret'}
            _advertise_ = {'name': 'workers', 'interfaces': ['192.0.2.7']}

    Keys: ``name``, ``role``, ``interfaces``, ``properties`` (as for
    :func:`publish`); ``sign`` (default True: sign with the actor's authkey);
    ``register`` (default False: True or a registry name to also register
    with a registry node found by :func:`discovery.find_registry`, keeping
    the registration alive).

    The advert is made from inside the actor process once it listens (its
    ``_actor_started_`` hook) and withdrawn when the process is about to exit
    (``_actor_stopping_``).  An actor without a TCP address is not advertised.
    A failure to advertise is logged; it does not stop the actor.
    """

    _advertise_: ClassVar[Mapping[str, Any]] = {}

    def _actor_started_(self) -> None:
        super()._actor_started_()  # type: ignore[misc]
        settings = dict(type(self)._advertise_)
        unknown = set(settings) - {"name", "role", "interfaces", "properties",
                                   "sign", "register"}
        if unknown:
            log.error("%s._advertise_ has unknown keys %s; not advertising",
                      type(self).__qualname__, sorted(unknown))
            return
        address = uactor.current_address()
        if not (isinstance(address, tuple) and len(address) >= 2):
            log.debug("%s listens on %r, not TCP: not advertised",
                      type(self).__qualname__, address)
            return
        me = _core.own_proxy(self)
        details = _core.ProxyDetails(
            actor_class=type(self), address=(str(address[0]), int(address[1])),
            serializer=uactor.serializer(me), pid=os.getpid(), sentinel=None)
        register = settings.get("register", False)
        try:
            publication = _publish_actor(
                me, details, _core.own_authkey(me), sign=settings.get("sign", True),
                register=register, name=settings.get("name"),
                role=settings.get("role", "actor"),
                interfaces=settings.get("interfaces"),
                properties=settings.get("properties"), zeroconf=None)
        except (ValueError, TypeError, DiscoveryError) as exc:  # configuration
            log.error("could not advertise %s at %s: %s", type(self).__qualname__,
                      format_address(details.address), exc)
            return
        except Exception:
            log.exception("could not advertise %s at %s", type(self).__qualname__,
                          format_address(details.address))
            return
        self.__dict__["_discovery_publication"] = publication

    def _actor_stopping_(self) -> None:
        try:
            publication = self.__dict__.pop("_discovery_publication", None)
            if publication is not None:
                publication.close()
        finally:
            super()._actor_stopping_()  # type: ignore[misc]
