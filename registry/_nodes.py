"""The registry nodes a client uses: one at a time, the next when it fails.

:class:`RegistryNodes` holds the addresses of one or more registry nodes
(the nodes of a fleet sharing a store, or a single node) with their key, and
a proxy of the node in use.  :meth:`RegistryNodes.call` makes a registry
call there; when that node cannot serve it, the call is made on the next
node, each node at most once per call (and the one in use once more, freshly
connected: a node restarted on its port is found again at once).  A node
cannot serve a call when:

* its process is gone: the connection is refused, or broken (a connection
  the node closed is noticed before anything is sent, with
  :func:`uactor.discard_closed_connection`);
* it does not answer within the call's deadline;
* it no longer holds the proxy's object (:class:`uactor.NotHeldError`: it
  restarted, and nothing ran);
* its store is out of reach (:class:`~registry.StoreUnavailableError`).

Any other error, the registry's own refusals included, is the answer and is
raised as is.  Registry calls may be made twice this way (a call whose
answer was lost in flight is made again on the next node): the ones the
helpers make are idempotent, or harmless when repeated (a lease opened
twice expires unused).

Thread-safe: threads share the proxy in use (uactor proxies are), and a
failure seen by several threads at once moves to the next node once.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

import uactor

from ._actor import Registry
from ._errors import InvalidArgumentError, StoreUnavailableError, quote
from ._table import Address, check_address, format_address

__all__ = ["NODE_FAILURES", "RegistryNodes", "check_addresses"]

logger = logging.getLogger(__name__)

#: Errors meaning "this node cannot serve the call now": try the next one.
NODE_FAILURES: tuple[type[BaseException], ...] = (
    uactor.ActorConnectionError, uactor.CallTimeoutError, uactor.NotHeldError,
    StoreUnavailableError)


def check_addresses(value: object, what: str = "registry address") -> list[Address]:
    """One ``(host, port)`` or a sequence of them, as a list without repeats."""
    if isinstance(value, (tuple, list)) and len(value) == 2 \
            and isinstance(value[0], str):
        return [check_address(tuple(value), what)]
    if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list)) \
            or not value:
        raise InvalidArgumentError(
            f"{what} must be a (host, port) tuple or a list of them, got "
            f"{type(value).__name__} {quote(value)}; pass e.g. ('10.0.0.5', 5000) "
            f"or [('10.0.0.5', 5000), ('10.0.0.6', 5000)]")
    addresses: list[Address] = []
    for item in value:
        address = check_address(tuple(item) if isinstance(item, list) else item, what)
        if address not in addresses:
            addresses.append(address)
    return addresses


class RegistryNodes:
    """The registry nodes a client may use, with the key they share.

    :param addresses: the nodes, in the order to try them (none: only
        ``proxy``, which is then never replaced).
    :param authkey: their key.
    :param timeout: bound (s) on connecting to a node, and the default
        deadline of the calls made on it (``None``: uactor's defaults).
    :param proxy: a proxy of the first node already connected, if any.
    """

    def __init__(self, addresses: Sequence[Address], authkey: bytes, *,
                 timeout: float | None, proxy: Any = None) -> None:
        self.addresses = tuple(addresses)
        self.authkey = authkey
        self._timeout = timeout
        self._lock = threading.Lock()
        self._index = 0
        self._proxy = proxy

    @property
    def address(self) -> Address | None:
        """The node in use, or to be tried next."""
        with self._lock:
            return self.addresses[self._index] if self.addresses else None

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """``method(*args, **kwargs)`` on the node in use, or on the next ones
        while nodes fail.

        When every node failed: a single node's own error; for several, the
        last :class:`~registry.StoreUnavailableError` if that is what they
        all said, else an :class:`uactor.ActorConnectionError` naming each
        node and what it met.
        """
        count = len(self.addresses)
        failures: list[tuple[int, BaseException]] = []
        for _ in range(count if count > 1 else 2):
            index, proxy = self._current()
            try:
                if proxy is None:
                    proxy = self._connect(index)
                uactor.discard_closed_connection(proxy)
                return getattr(proxy, method)(*args, **kwargs)
            except NODE_FAILURES as exc:
                if count == 0:
                    raise
                failures.append((index, exc))
                self._failed(index, proxy, exc)
        last = failures[-1][1]
        if count == 1 or all(isinstance(exc, StoreUnavailableError)
                             for _, exc in failures):
            raise last
        tried = "; ".join(f"{format_address(self.addresses[index])} "
                          f"({type(exc).__name__}: {exc})" for index, exc in failures)
        raise uactor.ActorConnectionError(
            f"no registry node answered {method}(): tried {tried}; check that "
            f"they run, or give the addresses of others") from last

    @property
    def proxy(self) -> Any:
        """The proxy of the node in use, or None when none is connected now."""
        with self._lock:
            return self._proxy

    def _current(self) -> tuple[int, Any]:
        with self._lock:
            return self._index, self._proxy

    def _connect(self, index: int) -> Any:
        proxy = Registry.connect(self.addresses[index], self.authkey,
                                 timeout=self._timeout)
        with self._lock:
            if self._index == index and self._proxy is None:
                self._proxy = proxy
        return proxy

    def _failed(self, index: int, proxy: Any, exc: BaseException) -> None:
        """Leave node ``index`` for the next one, unless another thread did."""
        with self._lock:
            if self._index != index or (self._proxy is not None
                                        and self._proxy is not proxy):
                return
            self._proxy = None
            self._index = (index + 1) % len(self.addresses)
            following = self.addresses[self._index]
        if len(self.addresses) > 1:
            logger.info("registry node %s failed (%s: %s); using %s",
                        format_address(self.addresses[index]), type(exc).__name__,
                        exc, format_address(following))
        else:
            logger.debug("registry node %s failed (%s: %s); connecting again",
                         format_address(self.addresses[index]), type(exc).__name__,
                         exc)

    def __repr__(self) -> str:
        nodes = ", ".join(format_address(address) for address in self.addresses)
        return f"<RegistryNodes {nodes or 'proxy'}>"
