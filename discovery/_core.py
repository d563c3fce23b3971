"""The few things discovery needs to know about uactor's proxies and actors.

Kept in one place because some of them reach past uactor's public API (noted
at each); if the core grows public accessors, only this module changes.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import uactor

from ._advert import Address


@dataclasses.dataclass(frozen=True)
class ProxyDetails:
    """What an advert needs to know about the actor behind a proxy."""

    actor_class: type
    address: Address
    serializer: str
    pid: int | None
    #: File descriptor readable once the actor process ended (owner proxies).
    sentinel: int | None


def version() -> str:
    """uactor's version, as advertised."""
    found = getattr(uactor, "__version__", None)
    if isinstance(found, str):
        return found
    import importlib.metadata

    try:
        return importlib.metadata.version("uactor")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def proxy_details(proxy: Any) -> ProxyDetails:
    """Class, bind address, serializer and (for owners) process of an actor proxy."""
    if not isinstance(proxy, uactor.ActorProxy):
        raise TypeError(f"publish() needs an actor proxy, not {type(proxy).__name__}")
    address = proxy.connection_address
    if not (isinstance(address, tuple) and len(address) == 2):
        raise uactor.ProxyError(
            f"the actor listens on {address!r}, not on TCP: give its class "
            "_options_ = {'address': ('127.0.0.1', 0), 'authkey': b'...'} (or "
            "an address in uactor.start(options=...)) to publish it")
    manager = getattr(proxy, "_manager", None)
    # Not public: the manager class registers the actor class as its 'actor'
    # typeid, and an owner proxy's manager holds the actor process.
    registry = getattr(manager, "_registry", {})
    actor_class = registry.get("actor", (None,))[0]
    if not isinstance(actor_class, type):
        raise TypeError(f"cannot tell the actor class of {proxy!r}; publish the "
                        "owner proxy or one returned by ActorClass.connect()")
    process = manager.process if manager is not None else None
    return ProxyDetails(
        actor_class=actor_class, address=(str(address[0]), int(address[1])),
        serializer=getattr(proxy, "_serializer", uactor.DEFAULT_SERIALIZER),
        pid=None if process is None else process.pid,
        sentinel=None if process is None else process.sentinel)


def current_authkey() -> bytes | None:
    """The authkey of the actor hosted by this process (inside an actor)."""
    server = getattr(uactor, "_current_server", None)  # not public
    authkey = getattr(server, "authkey", None)
    return None if authkey is None else bytes(authkey)


def current_serializer() -> str:
    """The serializer of the actor hosted by this process (inside an actor)."""
    server = getattr(uactor, "_current_server", None)  # not public
    return getattr(server, "serializer_name", uactor.DEFAULT_SERIALIZER)


def connect_verified(actor_class: type[uactor.Actor], address: Address,
                     authkey: bytes, *, serializer: str,
                     capture: Sequence[Address], timeout: float) -> Any:
    """Connect, authenticate and make a cheap call, all within ``timeout`` s.

    ``Actor.connect`` already performs the call (it asks the actor server
    for the actor's reference and class lineage, so a wrong class raises
    ProxyError).  Its ``timeout`` is also the proxy's default call deadline,
    which a discovered proxy should not keep: it is cleared afterwards.
    """
    proxy = actor_class.connect(address, authkey, serializer=serializer,
                                capture=list(capture), timeout=timeout)
    # Not public: drop the call deadline the connect timeout set.
    for holder in (proxy, getattr(proxy, "_manager", None)):
        if holder is not None and getattr(holder, "_timeout", None) is not None:
            holder._timeout = None
    return proxy
