"""Must type-check cleanly: proxies are seen as their actor class."""
from __future__ import annotations

import discovery
import discovery.aio
import registry
import uactor


class Worker(uactor.Actor):
    _options_ = {"address": ("127.0.0.1", 0), "authkey": b"key"}

    def add(self, a: int, b: int) -> int:
        return a + b

    def name(self) -> str:
        return "worker"


def use() -> None:
    worker = Worker()
    total: int = worker.add(1, 2)
    host, port = worker.connection_address
    remote = Worker.connect(("127.0.0.1", 4711), b"key", timeout=5)
    label: str = remote.name()
    with Worker() as entered:
        entered.add(total, 1)
    started = uactor.start(Worker, options={"address": ("127.0.0.1", 0)})
    started.add(1, 1)
    picked = registry.connect_actor(("127.0.0.1", 5000), Worker, b"key")
    picked.add(len(label), port if isinstance(port, int) else 0)
    found = discovery.discover(Worker, b"key", timeout=5, role="primary")
    found.add(found.add(1, 2), len(found.name()))
    again: registry.Reconnecting = discovery.discover(Worker, b"key", reconnect=True)
    anything = discovery.discover(None, b"key")  # no class: Any
    anything.whatever()
    worker.shutdown()
    print(host, again)


async def use_async() -> None:
    found = await discovery.aio.discover(Worker, b"key", timeout=5)
    total: int = found.add(1, 2)
    label: str = found.name()
    again: registry.Reconnecting = await discovery.aio.discover(Worker, b"key",
                                                               reconnect=True)
    print(total, label, again)


async def use_awaited_calls() -> None:
    worker = Worker()
    total: int = await uactor.call_async(worker.add, 1, 2)
    label: str = await uactor.call_async(worker.name)
    remote = Worker.connect(("127.0.0.1", 4711), b"key")
    more: int = await uactor.call_async(remote.add, total, b=len(label))
    untyped = await uactor.aio(remote).add(more, 1)
    print(untyped)
