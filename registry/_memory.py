"""The ``memory://`` store: the node's own view is the store.

Nothing to install and nothing shared: the node's :class:`~registry._table.Table`
holds the leases and entries, ends expired leases itself (a lazy check on
every pick plus a periodic sweep), and writes are checked and applied under
the view's lock.  This is the registry of one machine, and the reference the
other stores are tested against.
"""
from __future__ import annotations

from typing import Any

from ._errors import UnknownLeaseError
from ._store import Store, StoreView
from ._table import Address, not_owner

__all__ = ["MemoryStore"]


class MemoryStore(Store):
    """Leases and entries in this node's memory (``memory://``)."""

    expires_in_view = True
    shared = False

    def open(self, view: StoreView) -> None:
        self._view = view

    def close(self) -> None:
        pass

    def grant(self, lease: str, ttl: float | None, owner_pid: int | None,
              owner_host: str | None) -> Any:
        with self._view.lock:
            self._view.table.grant(lease, ttl, owner_pid=owner_pid,
                                   owner_host=owner_host)
        return None

    def renew(self, lease: str) -> bool:
        with self._view.lock:
            try:
                self._view.table.renew(lease)
            except UnknownLeaseError:
                return False
        return True

    def revoke(self, lease: str) -> Any:
        with self._view.lock:
            self._view.table.end_lease(lease)
        return None

    def put(self, lease: str, address: Address, *, name: str,
            bind_address: Address | None, pid: int | None,
            hostname: str | None) -> tuple[Any, bool]:
        table = self._view.table
        with self._view.lock:
            owner = table.owner(address)
            if owner is not None and owner != lease:
                raise not_owner(address)
            _, created = table.put(address, lease, name=name, bind_address=bind_address,
                                   pid=pid, hostname=hostname)
        return None, created

    def delete(self, lease: str, address: Address) -> tuple[Any, bool]:
        table = self._view.table
        with self._view.lock:
            owner = table.owner(address)
            if owner is None:
                return None, False
            if owner != lease:
                raise not_owner(address)
            table.remove(address)
        return None, True

    def sweep(self) -> None:
        with self._view.lock:
            self._view.table.sweep()
