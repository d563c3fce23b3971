"""The asyncio flavour of discovery: the same core, run on the caller's event loop.

:class:`AsyncBrowser` is the browser core of :mod:`discovery` with an
:class:`~zeroconf.asyncio.AsyncZeroconf` on the running loop (no thread of
its own); :func:`discover` drives the same search plan as
:func:`discovery.discover`, by awaiting.  Every function here takes the
arguments of its namesake in :mod:`discovery`, with these differences only:

* browsers and searches are coroutines or async context managers;
* ``zeroconf`` is an :class:`~zeroconf.asyncio.AsyncZeroconf` (never closed
  here);
* :class:`AsyncBrowser` is closed with ``await aclose()`` (or ``async
  with``), and started by ``async with`` or ``await start()``.

Connecting blocks, so it runs in the loop's default executor; proxies
themselves are blocking objects: call them through ``loop.run_in_executor``
from event-loop code.  Callbacks (plain functions or coroutine functions)
run on the event loop, so they must not block it.
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal, overload

from zeroconf.asyncio import AsyncZeroconf

import registry

from . import _browse, _core, _publish
from ._advert import Address, Entry
from ._browse import BrowserBase, P, registry_query
from ._catalog import connect_entry, fire, log, probe
from ._interfaces import InterfacesType
from ._publish import Publication
from ._search import (
    DISCOVER_TIMEOUT,
    FLEET_TIMEOUT,
    SETTLE,
    Connect,
    Plan,
    Query,
    check_timeout,
    plan,
    reconnect_policy,
    reconnecting,
)
from ._zeroconf import make_zeroconf

__all__ = ["AsyncBrowser", "browse", "discover", "find_registries", "find_registry",
           "publish", "publish_address"]


class AsyncBrowser(BrowserBase[AsyncZeroconf]):
    """A live view of advertised actors on the running event loop.

    ``discovery.aio.browse(...)`` is this class.  Use it as ``async with
    discovery.aio.browse(...) as browser:``; the arguments are those of
    :class:`discovery.Browser`, with an :class:`~zeroconf.asyncio.AsyncZeroconf`
    as ``zeroconf``.  Callbacks run on the loop.  Not thread-safe: use it
    from its event loop only.
    """

    def _setup(self, zeroconf: AsyncZeroconf | None) -> None:
        self._lock = contextlib.nullcontext()  # one thread: the loop's
        self._own_zeroconf = zeroconf is None
        self._aiozc = zeroconf
        self._changed: asyncio.Condition | None = None
        self._tasks: set[asyncio.Future[Any]] = set()
        self._expiry: asyncio.TimerHandle | None = None
        self._state = "new"

    async def start(self) -> AsyncBrowser:
        """Start browsing (``async with`` does it for you)."""
        if self._state != "new":
            raise RuntimeError(f"this AsyncBrowser is {self._state}; make a new one")
        self._state = "running"
        self._changed = asyncio.Condition()
        if self._aiozc is None:
            self._aiozc = make_zeroconf(self._resolved, AsyncZeroconf)
        self._start_browsing(self._aiozc.zeroconf, asyncio.get_running_loop())
        self._deliver(None)  # schedules the expiry ticks
        return self

    # -- on the loop ---------------------------------------------------------------

    def _deliver(self, item: tuple[str, str, int, Any] | None) -> None:
        if self._state != "running":
            return
        if item is None:
            self._expiry = asyncio.get_running_loop().call_later(
                _browse.EXPIRY_INTERVAL, self._deliver, None)
        events = self._fold(item)
        if events:
            self._spawn(self._notify())
        for kind, entry in events:
            self._fire(kind, entry)
            if kind != "remove" and self._verify:
                self._spawn(self._check(entry))

    def _spawn(self, awaitable: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(awaitable)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _notify(self) -> None:
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    def _fire(self, kind: str, entry: Entry) -> None:
        result = fire(self._callbacks[kind], entry)
        if inspect.isawaitable(result):
            self._spawn(_logged(result, self._callbacks[kind], entry))

    async def _check(self, entry: Entry) -> Entry:
        actor_class = self._probe_class(entry)
        if actor_class is None:
            return entry
        alive = await asyncio.get_running_loop().run_in_executor(
            None, probe, actor_class, entry, self._authkey or b"")
        updated = self._record_status(entry, alive)
        if updated is None:
            return entry
        await self._notify()
        self._fire("update", updated)
        return updated

    async def _wait(self, ready: Callable[[], Any], timeout: float) -> Any:
        """``ready()`` once truthy, or its last value after ``timeout`` s."""
        if self._changed is None:
            raise RuntimeError("start the AsyncBrowser first (async with)")
        async with self._changed:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait_for(
                    lambda: ready() or self._state != "running"), timeout)
            return ready()

    # -- public API ----------------------------------------------------------------

    async def wait_for(self, predicate: Callable[[Entry], bool] | None = None, *,
                       timeout: float) -> Entry | None:
        """The first entry satisfying ``predicate``, waiting up to ``timeout`` s."""
        return await self._wait(lambda: self._first(predicate), timeout)

    async def wait_until_gone(self, instance: str, *, timeout: float) -> bool:
        """Wait until ``instance`` is no longer listed; False on timeout."""
        return await self._wait(
            lambda: instance.lower() not in self._catalog.entries, timeout)

    async def verify(self, entry: Entry) -> Entry:
        """Check now whether ``entry`` answers; returns the updated entry."""
        if self._authkey is None:
            raise ValueError("this browser has no authkey to connect with")
        return await self._check(entry)

    async def connect(self, entry: Entry, *,
                      timeout: float = DISCOVER_TIMEOUT) -> Any:
        """A verified, connected proxy to ``entry`` (DiscoveryError if dead)."""
        actor_class = self._connect_class(entry)
        return await asyncio.get_running_loop().run_in_executor(None, functools.partial(
            connect_entry, actor_class, entry, self._authkey or b"",
            timeout=check_timeout(timeout)))

    @property
    def closed(self) -> bool:
        return self._state == "closed"

    async def aclose(self) -> None:
        """Stop browsing and close the zeroconf instance we made; idempotent."""
        if self._state == "closed":
            return
        self._state = "closed"
        if self._expiry is not None:
            self._expiry.cancel()
        self._stop_browsing()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._changed is not None:
            await self._notify()
        if self._own_zeroconf and self._aiozc is not None:
            await self._aiozc.async_close()

    async def __aenter__(self) -> AsyncBrowser:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _open_state(self) -> str:
        return f"{self._state}, {len(self)} entries"


async def _logged(awaitable: Awaitable[Any], callback: Any, entry: Entry) -> None:
    """Await a coroutine callback's result, logging what it raised."""
    try:
        await awaitable
    except Exception:
        log.exception("discovery callback %r failed for %r", callback, entry.instance)


#: ``discovery.aio.browse(...)``: an :class:`AsyncBrowser` (use it with ``async with``).
browse = AsyncBrowser


@overload
async def discover(actor_class: type[P], authkey: bytes, *, timeout: float = ...,
                   interfaces: InterfacesType = ..., name: str | None = ...,
                   role: str | None = ..., require_signature: bool | None = ...,
                   zeroconf: AsyncZeroconf | None = ...,
                   reconnect: Literal[False] = ...) -> P: ...


@overload
async def discover(actor_class: type | None, authkey: bytes, *, timeout: float = ...,
                   interfaces: InterfacesType = ..., name: str | None = ...,
                   role: str | None = ..., require_signature: bool | None = ...,
                   zeroconf: AsyncZeroconf | None = ...,
                   reconnect: Literal[True] | registry.ReconnectPolicy,
                   ) -> registry.Reconnecting: ...


@overload
async def discover(actor_class: type | None, authkey: bytes, *, timeout: float = ...,
                   interfaces: InterfacesType = ..., name: str | None = ...,
                   role: str | None = ..., require_signature: bool | None = ...,
                   zeroconf: AsyncZeroconf | None = ..., reconnect: Any = ...) -> Any: ...


async def discover(actor_class: type | None, authkey: bytes, *,
                   timeout: float = DISCOVER_TIMEOUT,
                   interfaces: InterfacesType = None, name: str | None = None,
                   role: str | None = None, require_signature: bool | None = None,
                   zeroconf: AsyncZeroconf | None = None,
                   reconnect: Any = False) -> Any:
    """A connected proxy to the first advertised actor that answers.

    The coroutine form of :func:`discovery.discover`, same arguments and
    errors; the event loop keeps running while adverts are awaited and
    endpoints tried.  With ``reconnect``, the :class:`registry.Reconnecting`
    proxy it returns (a blocking object, like every proxy) discovers its
    actor again with :func:`discovery.discover`, on the thread that called it.
    Typed as :func:`discovery.discover` is: awaited, it is ``actor_class``.
    """
    query = Query(actor_class, _core.check_authkey(authkey), check_timeout(timeout),
                  interfaces, name, role, require_signature)
    return await _discover(query, zeroconf, reconnect)


async def _discover(query: Query, zeroconf: AsyncZeroconf | None,
                    reconnect: Any) -> Any:
    policy = reconnect_policy(reconnect)
    proxy = await _find(query, zeroconf)
    if policy is None:
        return proxy
    blocking = None if zeroconf is None else zeroconf.zeroconf
    return reconnecting(lambda: _browse._find(query, blocking), policy, query.label,
                        proxy)


async def _find(query: Query, zeroconf: AsyncZeroconf | None) -> Any:
    """One search (or gathering, :attr:`Query.many`), performed by awaiting."""
    started = time.monotonic()
    loop = asyncio.get_running_loop()
    async with AsyncBrowser(query.actor_class, name=query.name, role=query.role,
                            interfaces=query.interfaces, authkey=query.authkey,
                            verify=False, require_signature=query.require_signature,
                            zeroconf=zeroconf) as browser:
        browser._catalog.connect_as = query.connect_as
        steps = Plan(plan(query, browser._snapshot, browser._catalog.resolve_class,
                          started))
        while not steps.done:
            step = steps.step
            if isinstance(step, Connect):
                steps.proceed(*await loop.run_in_executor(None, step.perform,
                                                          query.authkey))
            elif step is not None:
                await browser._wait(browser._newer_than(step.version), step.timeout)
                steps.proceed()
        return steps.result


async def find_registry(authkey: bytes, *, timeout: float = DISCOVER_TIMEOUT,
                        interfaces: InterfacesType = None, name: str | None = None,
                        require_signature: bool | None = None,
                        zeroconf: AsyncZeroconf | None = None,
                        reconnect: Any = False) -> Any:
    """The coroutine form of :func:`discovery.find_registry`."""
    return await _discover(registry_query(authkey, timeout, interfaces, name,
                                          require_signature), zeroconf, reconnect)


async def find_registries(authkey: bytes, *, timeout: float = FLEET_TIMEOUT,
                          interfaces: InterfacesType = None, name: str | None = None,
                          require_signature: bool | None = None,
                          min_count: int | None = None, settle: float | None = SETTLE,
                          zeroconf: AsyncZeroconf | None = None) -> list[tuple[str, int]]:
    """The coroutine form of :func:`discovery.find_registries`."""
    query = registry_query(authkey, timeout, interfaces, name, require_signature,
                           many=True, min_count=min_count, settle=settle)
    return await _find(query, zeroconf)  # type: ignore[no-any-return]


async def publish(proxy: Any, *, name: str | None = None, role: str = "actor",
                  interfaces: InterfacesType = None,
                  properties: Mapping[str, object] | None = None,
                  authkey: bytes | None = None, sign: bool = True,
                  register: bool | str = False,
                  zeroconf: AsyncZeroconf | None = None) -> Publication:
    """:func:`discovery.publish` without blocking the event loop.

    The publication runs on discovery's shared zeroconf thread, or on
    ``zeroconf``'s loop when given; close it with ``await
    loop.run_in_executor(None, publication.close)`` or a plain ``close()``
    (which may block up to a few hundred milliseconds).
    """
    return await asyncio.get_running_loop().run_in_executor(None, functools.partial(
        _publish.publish, proxy, name=name, role=role, interfaces=interfaces,
        properties=properties, authkey=authkey, sign=sign, register=register,
        zeroconf=None if zeroconf is None else zeroconf.zeroconf))


async def publish_address(actor_class: type | str, bind: Address, *,
                          name: str | None = None, role: str = "actor",
                          interfaces: InterfacesType = None,
                          properties: Mapping[str, object] | None = None,
                          authkey: bytes | None = None, serializer: str = "pickle",
                          pid: int | None = None,
                          zeroconf: AsyncZeroconf | None = None) -> Publication:
    """:func:`discovery.publish_address` without blocking the event loop."""
    return await asyncio.get_running_loop().run_in_executor(None, functools.partial(
        _publish.publish_address, actor_class, bind, name=name, role=role,
        interfaces=interfaces, properties=properties, authkey=authkey,
        serializer=serializer, pid=pid,
        zeroconf=None if zeroconf is None else zeroconf.zeroconf))
