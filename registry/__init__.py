"""A service registry for uactor networked actors.

* :class:`Registry` - an actor holding named groups of actor addresses,
  handing them out round-robin, forgetting those whose lease ran out; its
  state lives in a store chosen by URL (memory, etcd, Redis).
* :func:`register_actor` - register a running networked actor and keep its
  lease alive with heartbeats until it stops.
* :func:`connect_actor` - pick a registered actor and return a connected proxy;
  with ``reconnect=``, a :class:`Reconnecting` proxy that finds its actor
  again by name after it restarted elsewhere (:class:`ReconnectPolicy`).
* :func:`connect_registry` - a :class:`Registry` proxy of the first of
  several nodes that answers (for tools that list or inspect a registry).
* :func:`find_authkey` - the authkey every registry tool uses when given
  none: ``$UACTOR_AUTHKEY``, ``$UACTOR_AUTHKEY_FILE``, or the key file a
  registry node on this host wrote for this user.
* ``python -m registry`` / ``uactor-registry`` - run a registry node
  (``--http``: health and readiness checks, Prometheus metrics and a live
  status page); ``uactor-registry status ADDRESS`` prints a node's picture.

See docs/registry.rst for the user guide.
"""
from __future__ import annotations

import logging as _logging

from ._actor import DEFAULT_MAX_MESSAGE, DEFAULT_SWEEP_INTERVAL, DEFAULT_TTL, Registry
from ._client import (
    Registration,
    connect_actor,
    connect_registry,
    local_address_towards,
    register_actor,
)
from ._errors import (
    AuthkeyLookupError,
    InvalidAddressError,
    InvalidArgumentError,
    InvalidValueError,
    NoActorAvailableError,
    NotOwnerError,
    ReconnectError,
    RegistryError,
    StoreConfigError,
    StoreUnavailableError,
    UnknownLeaseError,
    UnknownNameError,
)
from ._keys import find_authkey
from ._reconnect import Reconnecting, ReconnectPolicy
from ._store import DEFAULT_PREFIX, DEFAULT_STORE
from ._table import DEFAULT_NAME, Entry

__all__ = [
    "AuthkeyLookupError",
    "DEFAULT_MAX_MESSAGE",
    "DEFAULT_NAME",
    "DEFAULT_PREFIX",
    "DEFAULT_STORE",
    "DEFAULT_SWEEP_INTERVAL",
    "DEFAULT_TTL",
    "Entry",
    "InvalidAddressError",
    "InvalidArgumentError",
    "InvalidValueError",
    "NoActorAvailableError",
    "NotOwnerError",
    "ReconnectError",
    "ReconnectPolicy",
    "Reconnecting",
    "Registration",
    "Registry",
    "RegistryError",
    "StoreConfigError",
    "StoreUnavailableError",
    "UnknownLeaseError",
    "UnknownNameError",
    "connect_actor",
    "connect_registry",
    "find_authkey",
    "local_address_towards",
    "register_actor",
]

# Public classes show their public module in tracebacks, docs and pickles
# (``registry.UnknownNameError``, not ``registry._errors.UnknownNameError``).
# The Registry actor keeps its own: uactor and discovery name actors by it.
for _public in (AuthkeyLookupError, Entry, InvalidAddressError, InvalidArgumentError,
                InvalidValueError, NoActorAvailableError, NotOwnerError, ReconnectError,
                ReconnectPolicy, Reconnecting, Registration, RegistryError,
                StoreConfigError, StoreUnavailableError, UnknownLeaseError,
                UnknownNameError):
    _public.__module__ = __name__
del _public

_logging.getLogger(__name__).addHandler(_logging.NullHandler())
