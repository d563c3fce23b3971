"""The registry node's actor: a :class:`Registry` that logs to stderr.

Kept apart from the CLI module (``registry.__main__`` runs as ``__main__``,
which spawned processes cannot import by that name) so the actor class is
importable under every start method.  Configuring logging here is the CLI's
business, done in the node's own process only: the library never does it.
"""
from __future__ import annotations

import logging
import sys

from ._actor import DEFAULT_SWEEP_INTERVAL, DEFAULT_TTL, Registry
from ._store import DEFAULT_PREFIX, DEFAULT_STORE, DEFAULT_STORE_TIMEOUT

__all__ = ["LOG_FORMAT", "RegistryNode"]

#: Log line format shared by the CLI process and the node's actor process.
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RegistryNode(Registry):
    """The actor ``uactor-registry`` serves: a :class:`Registry` whose process
    logs registrations and expiries to stderr at ``log_level``."""

    def __init__(
        self,
        *,
        default_ttl: float = DEFAULT_TTL,
        sweep_interval: float = DEFAULT_SWEEP_INTERVAL,
        store: str = DEFAULT_STORE,
        store_prefix: str = DEFAULT_PREFIX,
        store_timeout: float = DEFAULT_STORE_TIMEOUT,
        log_level: int | None = None,
    ) -> None:
        if log_level is not None:
            # A no-op under fork (the CLI's configuration is inherited); under
            # spawn/forkserver this gives the node's process the same output.
            logging.basicConfig(level=log_level, format=LOG_FORMAT, stream=sys.stderr)
            logging.getLogger().setLevel(log_level)
        super().__init__(default_ttl=default_ttl, sweep_interval=sweep_interval,
                         store=store, store_prefix=store_prefix,
                         store_timeout=store_timeout)
