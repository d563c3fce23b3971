"""Find uactor actors on the local network with mDNS/DNS-SD (zeroconf).

Publish a networked actor, browse the adverts, and resolve one into a
connected, verified proxy (or, for registry nodes, find them all with
:func:`find_registries`)::

    with discovery.publish(actor, authkey=b'secret'):        # server side
        ...
    proxy = discovery.discover(Worker, b'secret', timeout=5)  # client side

or let actors advertise themselves with the :class:`Advertised` mixin.
Adverts use the service type ``_uactor._tcp.local.``; every entry point takes
``interfaces=`` (interface names, addresses of this host or IPv6 interface
indexes; default: all interfaces, IPv4 and IPv6).  The asyncio flavour lives
in :mod:`discovery.aio`, with the same arguments.
"""
from __future__ import annotations

import logging as _logging

from ._advert import SERVICE_TYPE, Entry
from ._browse import Browser, browse, discover, find_registries, find_registry
from ._errors import (
    DiscoveryError,
    DiscoveryTimeoutError,
    PublicationError,
    UnknownInterfaceError,
)
from ._publish import Advertised, Publication, publish, publish_address

__all__ = [
    "SERVICE_TYPE",
    "Advertised",
    "Browser",
    "DiscoveryError",
    "DiscoveryTimeoutError",
    "Entry",
    "Publication",
    "PublicationError",
    "UnknownInterfaceError",
    "browse",
    "discover",
    "find_registries",
    "find_registry",
    "publish",
    "publish_address",
]

_logging.getLogger(__name__).addHandler(_logging.NullHandler())
