"""One helper for what every closeable object of discovery repeats.

:class:`Described` gives a ``repr`` that names the object and says whether it
is closed; :class:`Closeable` adds the context manager around an idempotent
``close()``.  Subclasses provide :attr:`closed`, :meth:`close` and
:meth:`_describe` (and :meth:`_open_state` when "open" says too little).
"""
from __future__ import annotations

from typing import Any, TypeVar

T = TypeVar("T", bound="Closeable")


class Described:
    """``<ClassName description (state)>`` as the repr."""

    @property
    def closed(self) -> bool:
        raise NotImplementedError

    def _describe(self) -> str:
        raise NotImplementedError

    def _open_state(self) -> str:
        return "open"

    def __repr__(self) -> str:
        state = "closed" if self.closed else self._open_state()
        return f"<{type(self).__name__} {self._describe()} ({state})>"


class Closeable(Described):
    """A context manager whose exit calls the idempotent :meth:`close`."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: T) -> T:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()
