"""The ``interfaces=`` argument: names, addresses and indexes of this host's interfaces.

Every entry point of discovery takes ``interfaces``: ``None`` for all
interfaces, or a list mixing interface names (``'eth0'``, ``'lo'``), IPv4
and IPv6 addresses of this host (``'192.0.2.7'``, ``'fd00::1'``) and IPv6
interface indexes, python-zeroconf's own form.  :func:`resolve` checks that
list once and turns it into what zeroconf takes: addresses stay addresses,
and a name becomes its IPv4 addresses plus, when it has IPv6, its index
(zeroconf joins IPv6 multicast by index).  A bad entry raises
:class:`~discovery.UnknownInterfaceError` naming it and what exists.
"""
from __future__ import annotations

import errno
import ipaddress
import logging
import socket
from collections.abc import Sequence
from typing import Any, Union

from ._advert import UNSPECIFIED_HOSTS, usable_address
from ._errors import UnknownInterfaceError

log = logging.getLogger("discovery")

#: What callers pass as ``interfaces``.
InterfacesType = Union[Sequence[Union[str, int]], None]

#: What :func:`resolve` returns: a tuple zeroconf takes, or None (all).
Resolved = Union[tuple[Union[str, int], ...], None]


def resolve(interfaces: InterfacesType) -> Resolved:
    """``interfaces`` checked, with names turned into addresses and indexes.

    Addresses are checked by binding a socket to them (cheap; no interface
    listing), names and indexes against the host's interface list.
    """
    if interfaces is None:
        return None
    if isinstance(interfaces, (str, bytes, int)):
        raise TypeError("interfaces must be a list of interface names, addresses "
                        f"or IPv6 indexes (e.g. ['lo'] or ['127.0.0.1']), not "
                        f"{interfaces!r}")
    resolved: list[str | int] = []
    for choice in interfaces:
        for item in _resolve_one(choice):
            if item not in resolved:
                resolved.append(item)
    if not resolved:
        raise UnknownInterfaceError("interfaces is an empty list; pass None for all "
                                    "interfaces, or names or addresses such as ['lo']")
    return tuple(resolved)


def _resolve_one(choice: object) -> list[str | int]:
    if isinstance(choice, bool) or not isinstance(choice, (str, int)):
        raise TypeError(f"interface {choice!r} must be a name, an IP address or an "
                        "IPv6 interface index")
    if isinstance(choice, int):
        adapter = _adapter(lambda found: found.index == choice)
        if adapter is None or not _ipv6_of(adapter):
            raise UnknownInterfaceError(
                f"interface index {choice} is not an IPv6 interface of this host; "
                f"{_known()}")
        return [choice]
    ip = _parse_ip(choice)
    if ip is not None:
        _check_local(ip, choice)
        return [str(ip)]
    adapter = _adapter(lambda found: choice in (found.nice_name, found.name))
    if adapter is None:
        raise UnknownInterfaceError(
            f"interface {choice!r} is neither an interface of this host nor an IP "
            f"address; {_known()}")
    found: list[str | int] = [ip.ip for ip in adapter.ips if isinstance(ip.ip, str)]
    if _multicasts_ipv6(adapter):
        found.append(adapter.index)
    if not found:
        raise UnknownInterfaceError(f"interface {choice!r} has no IP address; "
                                    f"{_known()}")
    return found


def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


def _check_local(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, text: str) -> None:
    """Raise UnknownInterfaceError unless ``ip`` is an address of this host."""
    if ip.version == 6 and ip.is_link_local:
        return  # needs a scope to bind; zeroconf finds its interface itself
    family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.bind((str(ip), 0))
    except OSError as exc:
        if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT, errno.EINVAL):
            raise UnknownInterfaceError(
                f"interface address {text!r} is not an address of this host; "
                f"{_known()}") from exc
        raise


def _adapters() -> list[Any]:
    import ifaddr  # zeroconf loads it anyway; only needed for names and indexes

    return list(ifaddr.get_adapters())


def _adapter(match: Any) -> Any:
    for adapter in _adapters():
        if match(adapter):
            return adapter
    return None


def _ipv6_of(adapter: Any) -> list[str]:
    return [ip.ip[0] for ip in adapter.ips if isinstance(ip.ip, tuple)]


def _multicasts_ipv6(adapter: Any) -> bool:
    """True for an interface with IPv6 that can carry IPv6 multicast.

    Loopback cannot on Linux (no multicast route: zeroconf's sends fail
    with "Network is unreachable"), so it listens on IPv4 only.
    """
    addresses = _ipv6_of(adapter)
    return (adapter.index is not None and bool(addresses)
            and not any(ipaddress.ip_address(address.split("%")[0]).is_loopback
                        for address in addresses))


def _known() -> str:
    """The host's interfaces and addresses, for error messages."""
    described = []
    for adapter in _adapters():
        addresses = [ip.ip if isinstance(ip.ip, str) else ip.ip[0] for ip in adapter.ips]
        described.append(f"{adapter.nice_name} ({', '.join(addresses) or 'no address'})")
    return "this host has " + ("; ".join(described) or "no interfaces")


def host_addresses(interfaces: Resolved, bind_host: str) -> list[str]:
    """Addresses to advertise for an actor bound to ``bind_host``.

    ``interfaces`` is what :func:`resolve` returned.  A specific bind host is
    advertised as it is (in canonical form).  An unspecified one
    (``0.0.0.0``, ``::``) becomes the host's addresses on ``interfaces``: the
    listed addresses and those of listed IPv6 interface indexes, or for
    ``None`` (all interfaces) every non-loopback address, falling back to
    loopback on a host that has nothing else.  An actor bound to ``0.0.0.0``
    is advertised with IPv4 addresses only; one bound to ``::`` with both.
    """
    if bind_host not in UNSPECIFIED_HOSTS:
        canonical = usable_address(bind_host)
        return [canonical if canonical is not None else bind_host]
    want_v6 = bind_host == "::"
    found: list[str] = []
    if interfaces is None:
        for adapter in _adapters():
            found += [ip.ip if isinstance(ip.ip, str) else ip.ip[0] for ip in adapter.ips]
    else:
        indexes = [choice for choice in interfaces if isinstance(choice, int)]
        found += [choice for choice in interfaces if isinstance(choice, str)]
        if indexes:
            for adapter in _adapters():
                if adapter.index in indexes:
                    found += _ipv6_of(adapter)
    addresses = []
    for text in found:
        usable = usable_address(text)
        if usable is None or usable in addresses:
            continue
        if ipaddress.ip_address(usable).version == 6 and not want_v6:
            continue  # an IPv4 socket cannot be reached over IPv6
        addresses.append(usable)
    if interfaces is None:
        outside = [a for a in addresses if not ipaddress.ip_address(a).is_loopback]
        addresses = outside or addresses
    return addresses


def ipv4_sources(interfaces: Resolved) -> list[str]:
    """IPv4 addresses to send one-shot queries from."""
    if interfaces is not None:
        return [choice for choice in interfaces
                if isinstance(choice, str) and ":" not in choice]
    sources = host_addresses(None, "0.0.0.0")
    return [*sources, "127.0.0.1"] if "127.0.0.1" not in sources else sources


def ipv6_indexes(interfaces: Resolved) -> list[int]:
    """IPv6 interface indexes to send one-shot queries on."""
    if interfaces is None:
        return sorted(adapter.index for adapter in _adapters()
                      if _multicasts_ipv6(adapter))
    indexes = {choice for choice in interfaces if isinstance(choice, int)}
    wanted = [choice for choice in interfaces if isinstance(choice, str) and ":" in choice]
    if wanted:
        for adapter in _adapters():
            if adapter.index is not None and set(_ipv6_of(adapter)) & set(wanted):
                indexes.add(adapter.index)
    return sorted(indexes)


def zeroconf_options(interfaces: Resolved) -> dict[str, Any]:
    """Keyword arguments for :class:`zeroconf.Zeroconf` listening on ``interfaces``.

    A list lets zeroconf pick the IP versions its entries need.  All
    interfaces means every IPv4 address and, where the host has IPv6, every
    interface that can carry IPv6 multicast (python-zeroconf's own "all" is
    IPv4 only, and its IPv6 "all" includes loopback, which cannot).
    """
    from zeroconf import InterfaceChoice

    if interfaces is not None:
        return {"interfaces": list(interfaces)}
    every: list[str | int] = []
    for adapter in _adapters():
        every += [ip.ip for ip in adapter.ips if isinstance(ip.ip, str)]
        if socket.has_ipv6 and _multicasts_ipv6(adapter):
            every.append(adapter.index)
    return {"interfaces": every or InterfaceChoice.All}


def describe(interfaces: InterfacesType) -> str:
    """``interfaces`` for messages: ``'all interfaces'`` or ``"interfaces ['lo']"``."""
    return "all interfaces" if interfaces is None else f"interfaces {list(interfaces)}"
