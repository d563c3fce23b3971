"""One helper for the registry's handles that are closed once, for good.

:class:`Closable` gives a handle its ``with`` block and its repr from two
small hooks, so :class:`registry.Registration` and
:class:`registry.Reconnecting` do not each repeat them.
"""
from __future__ import annotations

from typing import Any, TypeVar

__all__ = ["Closable"]

_T = TypeVar("_T", bound="Closable")


class Closable:
    """Mixin for a handle with an idempotent ``close()`` and a ``closed`` flag.

    Subclasses define ``closed``, ``close()``, :meth:`_describe` (what the
    handle is) and, optionally, :meth:`_open_state` (its state while open).
    Leaving a ``with`` block closes the handle; its repr reads
    ``<Class description state>``, the state being ``closed`` once closed.
    """

    __slots__ = ()

    closed: Any  # a property of the subclass

    def close(self) -> None:
        raise NotImplementedError

    def _describe(self) -> str:
        raise NotImplementedError

    def _open_state(self) -> str:
        return "open"

    def __enter__(self: _T) -> _T:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else self._open_state()
        return f"<{type(self).__name__} {self._describe()} {state}>"
