"""The registry package's errors: one tree under :class:`RegistryError`.

Each error is also the builtin it stands for (a bad type is a
:class:`TypeError`, an unknown name or lease a :class:`KeyError`, a refused
request a :class:`PermissionError`, an unreachable store a
:class:`ConnectionError`), so existing ``except`` clauses keep working, and
:class:`RegistryError` is a :class:`uactor.UActorException`, so one clause
catches everything uactor and the registry raise.  The package's
``__init__`` gives them their public module, ``registry``, for tracebacks
and pickles.

:func:`quote` keeps messages short whatever the value they name.
"""
from __future__ import annotations

from typing import Any

import uactor

__all__ = [
    "AuthkeyLookupError",
    "InvalidAddressError",
    "InvalidArgumentError",
    "InvalidValueError",
    "NoActorAvailableError",
    "NotOwnerError",
    "ReconnectError",
    "RegistryError",
    "StoreConfigError",
    "StoreUnavailableError",
    "UnknownLeaseError",
    "UnknownNameError",
    "check_key",
    "quote",
]

#: Characters of a bad value an error message quotes at most: enough to
#: recognise it, never a 100 MB argument echoed back.
QUOTE_MAX = 200


def quote(value: Any) -> str:
    """``repr(value)`` cut to :data:`QUOTE_MAX` characters, for messages."""
    try:
        text = repr(value)
    except Exception:  # e.g. an int too long to print: say what it is instead
        return f"<a {type(value).__name__} that cannot be shown>"
    if len(text) <= QUOTE_MAX:
        return text
    return f"{text[:QUOTE_MAX]}... ({len(text):,} characters)"


class RegistryError(uactor.UActorException):
    """Base class of every error raised by the registry package."""


class InvalidArgumentError(RegistryError, TypeError):
    """An argument has the wrong type (e.g. a port given as a string).

    Also a :class:`TypeError`, so existing ``except TypeError`` clauses work.
    """


class InvalidValueError(RegistryError, ValueError):
    """A value has the right type but cannot work (a ``ttl`` out of range, an
    empty service name, a reconnection policy with no attempts).

    Also a :class:`ValueError`.
    """


class InvalidAddressError(InvalidValueError):
    """An address has the right type but is not usable (e.g. port 0 or 70000).

    Also a :class:`ValueError` (through :class:`InvalidValueError`).
    """


class _ReadableKeyError(KeyError):
    """A :class:`KeyError` whose ``str()`` is its message, not its ``repr()``."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class UnknownNameError(RegistryError, _ReadableKeyError):
    """No service of that name is registered with this registry (nor was
    recently).

    Also a :class:`KeyError`; unlike a plain ``KeyError`` its ``str()`` is the
    readable message rather than its ``repr()``.
    """


class UnknownLeaseError(RegistryError, _ReadableKeyError):
    """The lease token is not (or no longer) known: it expired or was closed.

    Also a :class:`KeyError`.  Open a new lease and register again.
    """


class NotOwnerError(RegistryError, PermissionError):
    """The caller may not do this: it is not the owner of what it tried to change.

    Raised when a client other than the registry's owner (the process that
    started it) asks it to shut down, and when an entry belongs to another
    lease: only the holder of that lease's token may renew, move or
    unregister it.  Also a :class:`PermissionError`.  Nothing changed.
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


class AuthkeyLookupError(RegistryError):
    """No usable authkey was found (:func:`registry.find_authkey`).

    The message lists every place looked at and what was wrong with each
    (nothing there, an empty value, a key file other users can read).
    """


class NoActorAvailableError(RegistryError, uactor.ActorConnectionError):
    """No registered actor of the requested name could be connected to.

    Also an :class:`uactor.ActorConnectionError` (and so a
    :class:`ConnectionError`).  The message lists every address tried and why
    it failed.
    """


class ReconnectError(RegistryError, uactor.ActorConnectionError):
    """A lost actor could not be resolved again within the reconnect policy.

    Also an :class:`uactor.ActorConnectionError` (and so a
    :class:`ConnectionError`).  The message names the service, the policy,
    and what each attempt met; the last attempt's error is chained as
    ``__cause__``.

    :ivar name: the service name.
    :ivar attempts: how many resolutions were attempted.
    :ivar errors: ``(attempt number, exception)`` for each failure met: a
        resolution attempt that failed, or a call that could not reach the
        proxy that attempt gave (number 0: the proxy that was lost).
    """

    def __init__(self, message: str, *, name: str = "", attempts: int = 0,
                 errors: tuple[tuple[int, BaseException], ...] = ()) -> None:
        super().__init__(message)
        self.name = name
        self.attempts = attempts
        self.errors = errors

    def __reduce__(self) -> Any:
        # Keyword-only state survives pickling (results cross processes);
        # the exceptions themselves may not pickle, so only the message does.
        return (_rebuild_reconnect_error, (str(self), self.name, self.attempts))


def _rebuild_reconnect_error(message: str, name: str, attempts: int) -> ReconnectError:
    return ReconnectError(message, name=name, attempts=attempts)


def check_key(value: Any, what: str = "authkey") -> bytes | None:
    """``value`` as bytes (``None`` passes), or the core's error for a str key.

    The wording is uactor's own, so a ``str`` key reads the same whichever
    function it was given to.
    """
    if value is None:
        return None
    if not isinstance(value, (bytes, bytearray)):
        raise InvalidArgumentError(
            f"{what} must be bytes, not {type(value).__name__}; pass it as b'...'")
    return bytes(value)

