"""The few things discovery needs to know about uactor's proxies and actors.

Everything here goes through uactor's public accessors (``uactor.actor_class``,
``uactor.authkey``, ``uactor.serializer``, ``uactor.process``...).
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


def check_authkey(authkey: object) -> bytes:
    """``authkey`` as bytes; anything else raises the core's own TypeError text."""
    if not isinstance(authkey, (bytes, bytearray)):
        raise TypeError(f"authkey must be bytes, not {type(authkey).__name__}; "
                        "pass it as b'...'")
    return bytes(authkey)


def own_authkey(proxy: Any) -> bytes | None:
    """The authkey ``proxy`` authenticates with, or None when it has none."""
    key = uactor.authkey(proxy)
    return key or None


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
    try:
        actor_class = uactor.actor_class(proxy)
    except TypeError:
        raise TypeError(f"cannot tell the actor class of {proxy!r}; publish the "
                        "owner proxy or one returned by ActorClass.connect()") from None
    process = uactor.process(proxy)
    return ProxyDetails(
        actor_class=actor_class, address=(str(address[0]), int(address[1])),
        serializer=uactor.serializer(proxy),
        pid=None if process is None else process.pid,
        sentinel=None if process is None else process.sentinel)


def own_proxy(actor: Any) -> uactor.ActorProxy:
    """A proxy to the actor hosted by this process, made inside it."""
    return uactor.proxy(actor, "actor")  # type: ignore[return-value]


def connect_verified(actor_class: type[uactor.Actor], address: Address,
                     authkey: bytes, *, serializer: str,
                     capture: Sequence[Address], timeout: float) -> Any:
    """Connect, authenticate and make a cheap call, all within ``timeout`` s.

    ``Actor.connect`` already performs the call (it asks the actor server
    for the actor's reference and class lineage, so a wrong class raises
    ProxyError).  Its ``timeout`` is also the proxy's default call deadline,
    which a discovered proxy should not keep: it is cleared afterwards.
    """
    # Typed as the actor class (its methods); at run time, its proxy.
    proxy: Any = actor_class.connect(address, authkey, serializer=serializer,
                                     capture=list(capture), timeout=timeout)
    uactor.set_call_timeout(proxy, None)  # the connect timeout set it
    return proxy
