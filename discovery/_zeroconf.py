"""Zeroconf instances shared per process, and running work on their loop.

A :class:`zeroconf.Zeroconf` owns sockets on UDP 5353 and a thread running
its event loop.  Publications and browsers of one process that ask for the
same interfaces share one instance (reference counted: the last
:meth:`ZeroconfHandle.release` closes it and joins its thread), so a process
publishing 200 actors still holds one socket set and one thread.  A caller
may pass its own instance instead; discovery then never closes it.

Thread affinity: zeroconf's records, cache and registry belong to its event
loop.  Everything here that touches them runs there (:meth:`call` and
:meth:`run`), and nothing scheduled there blocks.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import threading
from collections.abc import Coroutine
from typing import Any, Callable, TypeVar

import zeroconf
from zeroconf import InterfaceChoice, IPVersion

from ._errors import DiscoveryError
from ._interfaces import Resolved, describe, zeroconf_options

log = logging.getLogger("discovery")

T = TypeVar("T")

# --------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------

#: Upper bound for a task we hand to zeroconf's loop and wait for (s); the
#: loop never blocks, so hitting it means the process is badly overloaded.
LOOP_CALL_TIMEOUT = 10.0


def _key(interfaces: Resolved) -> tuple[str, ...]:
    if interfaces is None:
        return ("<all>",)
    return tuple(sorted({str(choice) for choice in interfaces}))


def make_zeroconf(interfaces: Resolved, factory: Callable[..., T]) -> T:
    """``factory(...)`` (Zeroconf or AsyncZeroconf) listening on ``interfaces``.

    For all interfaces it listens on IPv4 and IPv6, and on IPv4 alone when
    the host refuses IPv6 sockets.  Failures become one DiscoveryError
    naming the interfaces, never a traceback from zeroconf's internals.
    """
    options = zeroconf_options(interfaces)
    try:
        try:
            return factory(**options)
        except OSError:
            if interfaces is not None:
                raise
            log.debug("IPv6 mDNS unavailable here; listening on IPv4 only")
            return factory(interfaces=InterfaceChoice.All, ip_version=IPVersion.V4Only)
    except (OSError, RuntimeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise DiscoveryError(
            f"cannot listen for mDNS on {describe(interfaces)}: {reason}; pass "
            "interfaces= naming an interface that is up (e.g. ['lo'])") from exc


class ZeroconfHandle:
    """One user's reference to a (possibly shared) Zeroconf instance."""

    def __init__(self, zc: zeroconf.Zeroconf, key: tuple[str, ...] | None) -> None:
        self.zeroconf = zc
        self._key = key  # None: the caller's own instance, never closed here
        self._released = False
        loop = zc.loop
        if loop is None:  # pragma: no cover - zeroconf always sets it
            raise RuntimeError("zeroconf instance has no event loop")
        self.loop: asyncio.AbstractEventLoop = loop

    @property
    def owned(self) -> bool:
        """True when the instance is one of discovery's shared instances."""
        return self._key is not None

    def in_loop(self) -> bool:
        """True when called from the thread running zeroconf's loop."""
        try:
            return asyncio.get_running_loop() is self.loop
        except RuntimeError:
            return False

    def run(self, coro: Coroutine[Any, Any, T],
            timeout: float = LOOP_CALL_TIMEOUT) -> T:
        """Run ``coro`` on zeroconf's loop and wait (from another thread)."""
        if self.in_loop():
            coro.close()
            raise RuntimeError("discovery's blocking API was called from the "
                               "zeroconf instance's own event loop; use "
                               "discovery.aio there")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"zeroconf's event loop did not finish a task in "
                               f"{timeout} s; is the process overloaded?") from None

    def call(self, func: Callable[[], T], timeout: float = LOOP_CALL_TIMEOUT) -> T:
        """Run plain ``func`` on zeroconf's loop (directly if already there)."""
        if self.in_loop():
            return func()

        async def wrapper() -> T:
            return func()

        return self.run(wrapper(), timeout)

    def release(self) -> None:
        """Drop this reference; the last one closes a shared instance."""
        if self._released:
            return
        self._released = True
        if self._key is not None:
            _release(self._key, self.zeroconf)


_lock = threading.Lock()
_shared: dict[tuple[str, ...], list[Any]] = {}  # key -> [Zeroconf, refcount]


def acquire(interfaces: Resolved,
            zc: zeroconf.Zeroconf | None = None) -> ZeroconfHandle:
    """A handle on ``zc``, or on the shared instance for ``interfaces``.

    ``interfaces`` is what :func:`discovery._interfaces.resolve` returned.
    """
    if zc is not None:
        return ZeroconfHandle(zc, None)
    key = _key(interfaces)
    with _lock:
        slot = _shared.get(key)
        if slot is None:
            slot = _shared[key] = [_new_zeroconf(interfaces), 0]
            log.debug("started zeroconf on interfaces %s", list(key))
        slot[1] += 1
        return ZeroconfHandle(slot[0], key)


def _new_zeroconf(interfaces: Resolved) -> zeroconf.Zeroconf:
    """A Zeroconf instance running its own loop thread.

    Zeroconf attaches to the caller's event loop when one runs in this
    thread; ours must not (the blocking API would wait on the very loop it
    blocks), so then it is made on a plain thread.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return make_zeroconf(interfaces, zeroconf.Zeroconf)
    made: list[Any] = []

    def make() -> None:
        try:
            made.append(make_zeroconf(interfaces, zeroconf.Zeroconf))
        except BaseException as exc:  # re-raised in the caller's thread
            made.append(exc)

    thread = threading.Thread(target=make, name="discovery-zeroconf-start")
    thread.start()
    thread.join()
    if isinstance(made[0], BaseException):
        raise made[0]
    return made[0]


def _release(key: tuple[str, ...], zc: zeroconf.Zeroconf) -> None:
    with _lock:
        slot = _shared.get(key)
        if slot is None or slot[0] is not zc:
            return  # already closed (e.g. forgotten after fork)
        slot[1] -= 1
        if slot[1] > 0:
            return
        del _shared[key]
    close_zeroconf(zc)
    log.debug("closed zeroconf on interfaces %s", list(key))


def close_zeroconf(zc: zeroconf.Zeroconf) -> None:
    """Close ``zc`` and the event loop it made for its own thread.

    Only for an instance made where no event loop was running (as
    :func:`_new_zeroconf` makes them), so that zeroconf started a thread with
    a loop of its own.  zeroconf 0.148 (the newest for Python 3.9) stops and
    joins that thread but never closes its loop, leaking the loop's selector
    and self-pipe socket pair (ResourceWarnings for an unclosed event loop
    and AF_UNIX sockets); 0.152.1 and later close it themselves, and closing
    a closed loop is a no-op.  Must not be called from zeroconf's own loop.
    """
    loop = zc.loop
    zc.close()
    if loop is not None and not loop.is_running():
        loop.close()


def _forget_after_fork() -> None:
    """In a forked child, drop the parent's instances (their thread is gone).

    The child also closes its copies of their sockets, so a socket the parent
    later closes is not kept joined to the multicast group by the child.
    """
    global _lock
    _lock = threading.Lock()
    for zc, _count in _shared.values():
        engine = getattr(zc, "engine", None)
        sockets = [getattr(engine, "_listen_socket", None),
                   *getattr(engine, "_respond_sockets", ())]
        for sock in sockets:
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()
    _shared.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
