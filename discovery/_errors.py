"""The errors :mod:`discovery` raises, all under :class:`DiscoveryError`.

Public classes say ``discovery`` as their module, so tracebacks name them as
users import them (``discovery.DiscoveryTimeoutError``), not by this file.
"""
from __future__ import annotations

import uactor

__all__ = [
    "BadAdvertError",
    "DiscoveryError",
    "DiscoveryTimeoutError",
    "PublicationError",
    "UnknownInterfaceError",
]


class DiscoveryError(uactor.UActorException):
    """Base of the errors raised by :mod:`discovery`."""


class DiscoveryTimeoutError(DiscoveryError, TimeoutError):
    """No advertised actor answered in time.

    :attr:`attempts` lists ``(instance, address, reason)`` for every endpoint
    tried or skipped, also spelled out in the message.
    """

    def __init__(self, message: str, attempts: list[tuple[str, str, str]]) -> None:
        super().__init__(message)
        self.attempts = attempts


class PublicationError(DiscoveryError):
    """An actor could not be published (not networked, bad name, ...)."""


class UnknownInterfaceError(DiscoveryError, ValueError):
    """An ``interfaces=`` entry names no interface or address of this host."""


class BadAdvertError(DiscoveryError, ValueError):
    """A record from the network that breaks one of the advert rules.

    Raised and caught inside discovery (a bad advert is skipped, never
    raised to the caller); the reason ends up in logs and
    :attr:`discovery.Browser.rejected`.
    """


for _public in (DiscoveryError, DiscoveryTimeoutError, PublicationError,
                UnknownInterfaceError):
    _public.__module__ = "discovery"
del _public
