"""The asyncio flavour: AsyncBrowser and the discover coroutine."""
from __future__ import annotations

import asyncio

import pytest

import discovery
import discovery.aio
import uactor
from tests.discovery.actors import AUTHKEY, LOOPBACK, Echo

SOON = 10.0


def test_async_browser_and_discover(unique_name):
    events: list[tuple[str, str]] = []

    async def on_add(entry):  # coroutine callbacks are scheduled on the loop
        events.append(("add", entry.status))

    async def scenario(actor):
        publication = await discovery.aio.publish(
            actor, name=unique_name, interfaces=LOOPBACK, authkey=AUTHKEY)
        try:
            async with discovery.aio.browse(
                    Echo, name=unique_name, interfaces=LOOPBACK, authkey=AUTHKEY,
                    on_add=on_add,
                    on_update=lambda entry: events.append(("update", entry.status)),
                    on_remove=lambda entry: events.append(("remove", entry.status)),
                    ) as browser:
                entry = await browser.wait_for(lambda entry: entry.alive, timeout=SOON)
                assert entry is not None and entry.instance == publication.instance
                assert [e.instance for e in browser] == [publication.instance]
                assert browser.get(entry.instance).alive and not browser.rejected

                proxy = await discovery.aio.discover(
                    Echo, AUTHKEY, name=unique_name, interfaces=LOOPBACK, timeout=SOON)
                loop = asyncio.get_running_loop()
                assert await loop.run_in_executor(None, proxy.echo, 7) == 7
                assert await uactor.call_async(proxy.echo, 8) == 8  # awaited, no thread
                del proxy

                await loop.run_in_executor(None, publication.close)
                assert await browser.wait_until_gone(entry.instance, timeout=2.0)
            await browser.aclose()  # idempotent
            with pytest.raises(discovery.DiscoveryTimeoutError, match="within 0.3 s"):
                await discovery.aio.discover(Echo, AUTHKEY, name=unique_name,
                                             interfaces=LOOPBACK, timeout=0.3)
        finally:
            publication.close()

    with Echo() as actor:
        asyncio.run(scenario(actor))
    assert events == [("add", "advertised"), ("update", "alive"), ("remove", "alive")]


def test_async_browser_refuses_misuse():
    async def scenario():
        browser = discovery.aio.browse(Echo, interfaces=LOOPBACK)
        with pytest.raises(RuntimeError, match="start the AsyncBrowser"):
            await browser.wait_for(timeout=0.1)
        async with browser:
            pass
        with pytest.raises(RuntimeError, match="closed"):
            await browser.start()
        with pytest.raises(ValueError, match="positive"):
            await discovery.aio.discover(Echo, AUTHKEY, timeout=-1)

    asyncio.run(scenario())


def test_blocking_api_works_inside_a_running_loop(unique_name):
    async def scenario(actor):
        # The shared zeroconf instance gets its own thread even when created
        # from a thread running an event loop, so blocking calls cannot wait
        # on the loop they block.
        with discovery.publish(actor, name=unique_name, interfaces=LOOPBACK), \
                discovery.browse(Echo, name=unique_name,
                                 interfaces=LOOPBACK) as browser:
            return browser.wait_for(timeout=SOON)

    with Echo() as actor:
        entry = asyncio.run(scenario(actor))
    assert entry is not None and entry.port == actor.connection_address[1]


def test_async_discover_reconnects_to_the_actor_published_again(unique_name):
    import registry

    async def scenario(first):
        loop = asyncio.get_running_loop()
        with discovery.publish(first, name=unique_name, interfaces=LOOPBACK):
            wrapper = await discovery.aio.discover(
                Echo, AUTHKEY, name=unique_name, interfaces=LOOPBACK, timeout=SOON,
                reconnect=registry.ReconnectPolicy(deadline=SOON))
        assert isinstance(wrapper, registry.Reconnecting)
        assert await loop.run_in_executor(None, wrapper.getpid) == first.getpid()
        first.shutdown()
        with Echo() as second, discovery.publish(second, name=unique_name,
                                                 interfaces=LOOPBACK):
            # The proxy is blocking: rediscovery runs on the executor's thread.
            assert await loop.run_in_executor(None, wrapper.getpid) == second.getpid()
            await loop.run_in_executor(None, wrapper.close)
        with pytest.raises(TypeError, match="reconnect must be"):
            await discovery.aio.discover(Echo, AUTHKEY, interfaces=LOOPBACK,
                                         timeout=0.1, reconnect="yes")

    with Echo() as first:
        asyncio.run(scenario(first))

