"""Registering a published actor with a registry found over mDNS.

:class:`RegistryLink` runs one background thread that looks for a registry
node (:func:`discovery.find_registry`), retrying with backoff until one
answers, and then hands the actor to :func:`registry.register_actor`, whose
own heartbeat thread keeps the registration alive.  Closing the link stops
the search and unregisters the actor.
"""
from __future__ import annotations

import logging
import threading
from typing import Any

import registry
import uactor

from ._browse import find_registry_cancellable
from ._errors import DiscoveryError
from ._interfaces import InterfacesType

log = logging.getLogger("discovery")

#: How long each search for a registry lasts (s).
FIND_TIMEOUT = 5.0

#: Wait between searches: doubled after each failure, from/to (s).
RETRY_MIN, RETRY_MAX = 0.5, 30.0

#: How long :meth:`RegistryLink.close` waits for the search thread (s).
CLOSE_TIMEOUT = 10.0


class RegistryLink:
    """Keeps ``actor`` registered with a discovered registry until closed."""

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
                node = find_registry_cancellable(
                    self._authkey, timeout=FIND_TIMEOUT, interfaces=self._interfaces,
                    name=self._registry_name, cancel=self._stop)
                registration = registry.register_actor(
                    node, self._actor, authkey=self._authkey, name=self._name)
            except (DiscoveryError, uactor.UActorException, OSError, EOFError) as exc:
                log.debug("no registry to register with yet (%s); retrying in "
                          "%g s", exc, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, RETRY_MAX)
                continue
            with self._lock:
                if not self._closed:
                    self._registration = registration
                    log.debug("registered with registry: %r", registration)
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
