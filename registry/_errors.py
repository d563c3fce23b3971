"""The registry package's exceptions: one tree under :class:`RegistryError`.

Where a builtin fits, an error derives from it too, so existing ``except``
clauses keep working: a refused owner check is a :class:`PermissionError`, an
unreachable store a :class:`ConnectionError`.
"""
from __future__ import annotations

__all__ = [
    "InvalidAddressError",
    "InvalidArgumentError",
    "NotOwnerError",
    "RegistryError",
    "StoreConfigError",
    "StoreUnavailableError",
    "UnknownLeaseError",
    "UnknownNameError",
]


def _uactor_base() -> type[Exception]:
    """``uactor.UActorException`` when available, so one ``except`` catches all."""
    try:
        import uactor
    except ImportError:  # pragma: no cover - uactor is a hard requirement
        return Exception
    return uactor.UActorException


class RegistryError(_uactor_base()):  # type: ignore[misc]
    """Base class of every error raised by the registry package."""


class InvalidArgumentError(RegistryError, TypeError):
    """An argument has the wrong type (e.g. a port given as a string).

    Also a :class:`TypeError`, so existing ``except TypeError`` clauses work.
    """


class InvalidAddressError(RegistryError, ValueError):
    """A value has the right type but is not usable (e.g. port 0 or 70000).

    Also a :class:`ValueError`.
    """


class _ReadableKeyError(KeyError):
    """A :class:`KeyError` whose ``str()`` is its message, not its ``repr()``."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class UnknownNameError(RegistryError, _ReadableKeyError):
    """No service of that name is registered with this registry.

    Also a :class:`KeyError`.
    """


class UnknownLeaseError(RegistryError, _ReadableKeyError):
    """The lease token is not (or no longer) known: it expired or was closed.

    Also a :class:`KeyError`.  Open a new lease and register again.
    """


class NotOwnerError(RegistryError, PermissionError):
    """The entry belongs to another lease: only its owner may change it.

    Also a :class:`PermissionError`.  The entry is left unchanged.
    """


class StoreUnavailableError(RegistryError, ConnectionError):
    """The registry's store (etcd, Redis) cannot be reached right now.

    Also a :class:`ConnectionError`.  The message names the store; the node
    keeps answering picks from its last view and recovers by itself.
    """


class StoreConfigError(RegistryError, ValueError):
    """A store URL or setting is malformed or not usable (bad credentials).

    Also a :class:`ValueError`.  The message names the store and the fix.
    """
