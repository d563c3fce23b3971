"""One helper for the handles of registry and discovery that are closed once, for good.

:class:`Described` gives a handle its repr, ``<Class description state>``,
from two small hooks; :class:`Closable` adds the ``with`` block around an
idempotent ``close()``.  :class:`registry.Registration`,
:class:`registry.Reconnecting`, and discovery's publications and browsers use
them instead of each repeating the same lines.
"""
from __future__ import annotations

from typing import Any, TypeVar

__all__ = ["Closable", "Described"]

_T = TypeVar("_T", bound="Closable")


class Described:
    """Mixin: the repr names the handle and says whether it is closed.

    Subclasses define ``closed``, :meth:`_describe` (what the handle is) and,
    optionally, :meth:`_open_state` (its state while open).
    """

    __slots__ = ()

    closed: Any  # a property of the subclass

    def _describe(self) -> str:
        raise NotImplementedError

    def _open_state(self) -> str:
        return "open"

    def __repr__(self) -> str:
        state = "closed" if self.closed else self._open_state()
        return f"<{type(self).__name__} {self._describe()} {state}>"


class Closable(Described):
    """Mixin for a handle with an idempotent ``close()``: leaving a ``with``
    block closes it."""

    __slots__ = ()

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: _T) -> _T:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
