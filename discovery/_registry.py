"""Registering a published actor with the registry nodes found over mDNS.

:class:`RegistryLink` runs one background thread that looks for registry
nodes (:func:`discovery.find_registries`), retrying with backoff until one
answers, and then hands the actor and the addresses of *every* node found to
:func:`registry.register_actor`, whose own heartbeat thread keeps the
registration alive.  Closing the link stops the search and unregisters the
actor.

Why one registration through the list, and not one per node: the nodes of a
fleet share their store, so an actor registered through one node is listed
(and picked) by all of them, and the lease lives in the store, renewable
through any node.  Registering through every node would open one lease per
node for the same address, and the last registration would own the entry.
Given the list, the heartbeats use the first node and, when it fails
(refused, broken, silent, its store out of reach), go on through the next
one at once, within the same heartbeat: no lease expires because one node
died.  Nodes that do not share a store (each its own ``memory://``) still
work: the next node is told of the lease and the actor afresh.
"""
from __future__ import annotations

import logging
import threading
from typing import Any

import registry
import uactor

from ._browse import find_registries_cancellable
from ._errors import DiscoveryError
from ._interfaces import InterfacesType

log = logging.getLogger("discovery")

#: How long each search for registry nodes lasts at most (s); it ends sooner,
#: :data:`discovery._search.SETTLE` after the last new node answered.
FIND_TIMEOUT = 5.0

#: Wait between searches: doubled after each failure, from/to (s).
RETRY_MIN, RETRY_MAX = 0.5, 30.0

#: How long :meth:`RegistryLink.close` waits for the search thread (s).
CLOSE_TIMEOUT = 10.0


class RegistryLink:
    """Keeps ``actor`` registered with the discovered registry nodes until closed."""

    def __init__(self, actor: Any, authkey: bytes, *,
                 interfaces: InterfacesType = None, name: str | None = None,
                 registry_name: str | None = None) -> None:
        self._actor = actor
        self._registry_name = registry_name
        self._authkey = bytes(authkey)
        self._interfaces = interfaces
        self._name = name
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._registration: Any = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, daemon=True,
                                         name="discovery-registry-link")
        self._thread.start()

    @property
    def registration(self) -> Any:
        """The :class:`registry.Registration` once registered, else None."""
        return self._registration

    def _run(self) -> None:
        delay = RETRY_MIN
        while not self._stop.is_set():
            try:
                nodes = find_registries_cancellable(
                    self._authkey, timeout=FIND_TIMEOUT, interfaces=self._interfaces,
                    name=self._registry_name, cancel=self._stop)
                registration = registry.register_actor(
                    nodes, self._actor, authkey=self._authkey, name=self._name)
            except (DiscoveryError, uactor.UActorException, OSError, EOFError) as exc:
                log.debug("no registry to register with yet (%s); retrying in "
                          "%g s", exc, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, RETRY_MAX)
                continue
            with self._lock:
                if not self._closed:
                    self._registration = registration
                    log.debug("registered with registry nodes %s: %r", nodes,
                              registration)
                    return
            registration.close()
            return

    def close(self) -> None:
        """Stop searching and unregister; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            registration, self._registration = self._registration, None
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(CLOSE_TIMEOUT)
        if registration is not None:
            registration.close()
        self._actor = None
