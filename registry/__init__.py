"""A service registry for uactor networked actors.

* :class:`Registry` - an actor holding named groups of actor addresses,
  handing them out round-robin, forgetting those whose lease ran out.
* :func:`register_actor` - register a running networked actor and keep its
  lease alive with heartbeats until it stops.
* :func:`connect_actor` - pick a registered actor and return a connected proxy;
  with ``reconnect=``, a :class:`Reconnecting` proxy that finds its actor
  again by name after it restarted elsewhere (:class:`ReconnectPolicy`).
* ``python -m registry`` / ``uactor-registry`` - run a registry node
  (``--http``: health and readiness checks, Prometheus metrics and a live
  status page); ``uactor-registry status ADDRESS`` prints a node's picture.

See docs/registry.rst for the user guide.
"""
from __future__ import annotations

import logging as _logging

from ._actor import DEFAULT_SWEEP_INTERVAL, DEFAULT_TTL, Registry
from ._client import (
    NoActorAvailableError,
    Registration,
    connect_actor,
    local_address_towards,
    register_actor,
)
from ._reconnect import ReconnectError, Reconnecting, ReconnectPolicy
from ._table import (
    DEFAULT_NAME,
    Entry,
    InvalidAddressError,
    InvalidArgumentError,
    RegistryError,
    UnknownNameError,
)

__all__ = [
    "DEFAULT_NAME",
    "DEFAULT_SWEEP_INTERVAL",
    "DEFAULT_TTL",
    "Entry",
    "InvalidAddressError",
    "InvalidArgumentError",
    "NoActorAvailableError",
    "ReconnectError",
    "ReconnectPolicy",
    "Reconnecting",
    "Registration",
    "Registry",
    "RegistryError",
    "UnknownNameError",
    "connect_actor",
    "local_address_towards",
    "register_actor",
]

_logging.getLogger(__name__).addHandler(_logging.NullHandler())
