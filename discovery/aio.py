"""The asyncio flavour of discovery, on python-zeroconf's async classes.

:class:`AsyncBrowser` runs an :class:`~zeroconf.asyncio.AsyncZeroconf` on the
caller's event loop (no extra thread); :func:`discover` resolves an advert
into a verified proxy without blocking the loop (connecting, which blocks,
runs in the loop's default executor).  Proxies themselves are blocking
objects: call them through ``loop.run_in_executor`` from event-loop code.

Callbacks (plain functions or coroutine functions) run on the event loop, so
they must not block it.
"""
from __future__ import annotations

import asyncio
import functools
import inspect
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from zeroconf import DNSQuestionType, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncZeroconf

from . import _browse, _publish
from ._advert import ALIVE, DEAD, SERVICE_TYPE, Entry, InterfacesType, log_bad_advert
from ._browse import (
    DISCOVER_TIMEOUT,
    VERIFY_TIMEOUT,
    DiscoveryError,
    DiscoveryTimeoutError,
    browse_settings,
    connect_entry,
    resolve,
)
from ._oneshot import OneShotQuery
from ._zeroconf import interfaces_choice

__all__ = ["AsyncBrowser", "browse", "discover", "find_registry", "publish"]

Callback = Callable[[Entry], Any]


class AsyncBrowser:
    """A live view of advertised actors on the running event loop.

    Use as ``async with discovery.aio.browse(...) as browser:``; the
    arguments are those of :func:`discovery.browse`, except that
    ``zeroconf`` is an :class:`~zeroconf.asyncio.AsyncZeroconf` (not closed
    by the browser).  Not thread-safe: use it from its event loop only.
    """

    def __init__(self, actor_class: type | str | None = None, *,
                 name: str | None = None, role: str | None = None,
                 interfaces: InterfacesType = None, authkey: bytes | None = None,
                 on_add: Callback | None = None, on_update: Callback | None = None,
                 on_remove: Callback | None = None, verify: bool | None = None,
                 require_signature: bool | None = None,
                 zeroconf: AsyncZeroconf | None = None) -> None:
        self._catalog, self._verify, self._callbacks = browse_settings(
            actor_class, name, role, authkey, require_signature, verify,
            on_add, on_update, on_remove)
        self._authkey = self._catalog.authkey
        self._interfaces = interfaces
        self._own_zeroconf = zeroconf is None
        self._aiozc = zeroconf
        self._zc_browser: AsyncServiceBrowser | None = None
        self._one_shot: OneShotQuery | None = None
        self._changed: asyncio.Condition | None = None
        self._version = 0
        self._generation: dict[str, int] = {}
        self._removed_at: dict[str, int] = {}
        self._tasks: set[asyncio.Future[Any]] = set()
        self._state = "new"

    async def start(self) -> AsyncBrowser:
        """Start browsing (``async with`` does it for you)."""
        if self._state != "new":
            raise RuntimeError(f"this AsyncBrowser is {self._state}; make a new one")
        self._state = "running"
        self._changed = asyncio.Condition()
        if self._aiozc is None:
            self._aiozc = AsyncZeroconf(interfaces=interfaces_choice(self._interfaces))
        self._zc_browser = AsyncServiceBrowser(
            self._aiozc.zeroconf, SERVICE_TYPE, handlers=[self._on_change],
            question_type=DNSQuestionType.QM)
        self._one_shot = OneShotQuery(self._aiozc.zeroconf, asyncio.get_running_loop())
        self._one_shot.start(self._interfaces)
        return self

    # -- event loop callbacks (never block) ----------------------------------

    def _on_change(self, zeroconf: Zeroconf, service_type: str, name: str,
                   state_change: ServiceStateChange) -> None:
        key = name.lower()
        generation = self._generation[key] = self._generation.get(key, 0) + 1
        if state_change is ServiceStateChange.Removed:
            self._removed_at[key] = generation
            self._publish_events([event] if (event := self._catalog.remove(name))
                                 else [])
        else:
            self._spawn(self._resolve(name, generation))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resolve(self, name: str, generation: int) -> None:
        assert self._aiozc is not None
        try:
            info = await resolve(self._aiozc.zeroconf, name)
        except Exception as exc:  # hostile names break ServiceInfo in many ways
            log_bad_advert(name, exc)
            return
        if generation <= self._removed_at.get(name.lower(), 0):
            return
        event = self._catalog.apply_info(name, info)
        events = [event] if event else []
        self._publish_events(events + self._catalog.expire(time.time()))

    def _publish_events(self, events: list[tuple[str, Entry]]) -> None:
        if not events:
            return
        self._version += 1
        self._spawn(self._notify())
        for kind, entry in events:
            self._fire(kind, entry)
            if kind != "remove" and self._verify:
                self._spawn(self._check(entry))

    async def _notify(self) -> None:
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    def _fire(self, kind: str, entry: Entry) -> None:
        callback = self._callbacks[kind]
        if callback is None:
            return
        try:
            result = callback(entry)
        except Exception:
            _browse.log.exception("discovery callback %r failed for %r", callback,
                                  entry.instance)
            return
        if inspect.isawaitable(result):
            self._spawn(result)

    async def _check(self, entry: Entry) -> Entry:
        actor_class = self._catalog.resolve_class(entry)
        if actor_class is None or self._authkey is None:
            return entry
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, functools.partial(
                _connect_and_drop, actor_class, entry, self._authkey))
        except DiscoveryError as exc:
            _browse.log.debug("%s", exc)
            status = DEAD
        else:
            status = ALIVE
        updated = self._catalog.set_status(entry, status)
        if updated is None:
            return entry
        self._version += 1
        await self._notify()
        self._fire("update", updated)
        return updated

    # -- public API ----------------------------------------------------------

    @property
    def entries(self) -> list[Entry]:
        """Snapshot of the current entries, oldest first."""
        return list(self._catalog.entries.values())

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self._catalog.entries)

    @property
    def rejected(self) -> dict[str, str]:
        """Adverts refused by the signature check: ``{instance: reason}``."""
        return dict(self._catalog.rejected.values())

    def get(self, instance: str) -> Entry | None:
        """The entry with this full instance name, if any."""
        return self._catalog.entries.get(instance.lower())

    async def wait_for(self, predicate: Callable[[Entry], bool] | None = None, *,
                       timeout: float) -> Entry | None:
        """The first entry satisfying ``predicate``, waiting up to ``timeout`` s."""
        found: list[Entry] = []

        def ready() -> bool:
            found[:] = [entry for entry in self._catalog.entries.values()
                        if predicate is None or predicate(entry)][:1]
            return bool(found) or self._state != "running"

        if not await self._wait(ready, timeout):
            return None
        return found[0] if found else None

    async def wait_until_gone(self, instance: str, *, timeout: float) -> bool:
        """Wait until ``instance`` is no longer listed; False on timeout."""
        return await self._wait(
            lambda: instance.lower() not in self._catalog.entries, timeout)

    async def _wait(self, ready: Callable[[], bool], timeout: float) -> bool:
        if self._changed is None:
            raise RuntimeError("start the AsyncBrowser first (async with)")
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(ready), timeout)
            except asyncio.TimeoutError:
                return False
        return True

    async def verify(self, entry: Entry) -> Entry:
        """Check now whether ``entry`` answers; returns the updated entry."""
        if self._authkey is None:
            raise ValueError("this browser has no authkey to connect with")
        return await self._check(entry)

    async def connect(self, entry: Entry, *,
                      timeout: float = DISCOVER_TIMEOUT) -> Any:
        """A verified, connected proxy to ``entry`` (DiscoveryError if dead)."""
        if self._authkey is None:
            raise ValueError("this browser has no authkey to connect with")
        actor_class = self._catalog.resolve_class(entry)
        if actor_class is None:
            raise DiscoveryError(f"class {entry.actor_class} advertised by "
                                 f"{entry.label!r} cannot be imported here")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, functools.partial(
            connect_entry, actor_class, entry, self._authkey, timeout=timeout))

    async def aclose(self) -> None:
        """Stop browsing and close the zeroconf instance we made; idempotent."""
        if self._state == "closed":
            return
        self._state = "closed"
        if self._one_shot is not None:
            self._one_shot.close()
        if self._zc_browser is not None:
            await self._zc_browser.async_cancel()
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

    def __repr__(self) -> str:
        return (f"<AsyncBrowser {self._catalog.class_path or '*'} "
                f"({self._state}, {len(self)} entries)>")


def _connect_and_drop(actor_class: type, entry: Entry, authkey: bytes) -> None:
    proxy = connect_entry(actor_class, entry, authkey, timeout=VERIFY_TIMEOUT)
    del proxy  # releases the reference at once


def browse(actor_class: type | str | None = None, **kwargs: Any) -> AsyncBrowser:
    """An :class:`AsyncBrowser`; use it with ``async with``."""
    return AsyncBrowser(actor_class, **kwargs)


async def discover(actor_class: type | None, authkey: bytes, *,
                   timeout: float = DISCOVER_TIMEOUT,
                   interfaces: InterfacesType = None, name: str | None = None,
                   role: str | None = None, require_signature: bool | None = None,
                   zeroconf: AsyncZeroconf | None = None,
                   _connect_as: type | None = None) -> Any:
    """A connected proxy to the first advertised actor that answers.

    The coroutine form of :func:`discovery.discover`, same arguments and
    errors; the event loop keeps running while adverts are awaited and
    endpoints tried.
    """
    _browse.check_timeout(timeout)
    loop = asyncio.get_running_loop()
    deadline = time.monotonic() + timeout
    attempts: list[tuple[str, str, str]] = []
    tried: set[str] = set()
    async with AsyncBrowser(actor_class, name=name, role=role, interfaces=interfaces,
                            authkey=authkey, verify=False,
                            require_signature=require_signature,
                            zeroconf=zeroconf) as browser:
        catalog = browser._catalog
        catalog.connect_as = _connect_as
        while True:
            fresh = [entry for entry in catalog.entries.values()
                     if entry.instance.lower() not in tried]
            for entry in fresh:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                tried.add(entry.instance.lower())
                found = catalog.resolve_class(entry)
                if found is None:
                    attempts.append((entry.instance, "-", f"class {entry.actor_class}"
                                     " cannot be imported here"))
                    continue
                try:
                    return await loop.run_in_executor(None, functools.partial(
                        connect_entry, found, entry, bytes(authkey),
                        timeout=remaining, attempts=attempts))
                except DiscoveryError:
                    continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            await browser.wait_for(
                lambda entry: entry.instance.lower() not in tried, timeout=remaining)
        rejected = dict(catalog.rejected)
    raise DiscoveryTimeoutError(
        _browse._timeout_message(actor_class, name, role, interfaces, timeout,
                                 attempts, rejected), attempts)


async def find_registry(authkey: bytes, *, timeout: float = DISCOVER_TIMEOUT,
                        interfaces: InterfacesType = None, name: str | None = None,
                        require_signature: bool | None = None,
                        zeroconf: AsyncZeroconf | None = None) -> Any:
    """The coroutine form of :func:`discovery.find_registry`."""
    import registry

    return await discover(None, authkey, timeout=timeout, interfaces=interfaces,
                          name=name, role="registry",
                          require_signature=require_signature, zeroconf=zeroconf,
                          _connect_as=registry.Registry)


async def publish(proxy: Any, *, name: str | None = None, role: str = "actor",
                  interfaces: InterfacesType = None,
                  properties: Mapping[str, object] | None = None,
                  authkey: bytes | None = None) -> _publish.Publication:
    """:func:`discovery.publish` without blocking the event loop.

    The publication runs on discovery's shared zeroconf thread; close it with
    ``await loop.run_in_executor(None, publication.close)`` or a plain
    ``close()`` (which may block up to a few hundred milliseconds).
    """
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, functools.partial(
        _publish.publish, proxy, name=name, role=role, interfaces=interfaces,
        properties=properties, authkey=authkey))
