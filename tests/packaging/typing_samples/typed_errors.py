"""Must fail type-checking with the messages tests/packaging/test_typing.py expects."""
from __future__ import annotations

import registry
import uactor


class Worker(uactor.Actor):
    def add(self, a: int, b: int) -> int:
        return a + b


def misuse() -> None:
    worker = Worker()
    worker.ad(1, 2)  # E1: misspelt method
    worker.add("1", 2)  # E2: wrong argument type
    text: str = worker.add(1, 2)  # E3: wrong result type
    remote = Worker.connect(("127.0.0.1", 4711), b"key")
    remote.add(1)  # E4: missing argument
    picked = registry.connect_actor(("127.0.0.1", 5000), Worker, b"key")
    picked.subtract(1, 2)  # E5: misspelt on a picked proxy
    print(text)


def misuse_discovered() -> None:
    import discovery

    found = discovery.discover(Worker, b"key")
    found.ad(1, 2)  # E6: misspelt on a discovered proxy
    found.add(1, b"2")  # E7: wrong argument type


async def misuse_discovered_async() -> None:
    import discovery.aio

    found = await discovery.aio.discover(Worker, b"key")
    found.subtract(1, 2)  # E8: misspelt on an awaited discovered proxy
    text: str = found.add(1, 2)  # E9: wrong result type
    print(text)


async def misuse_awaited_calls() -> None:
    worker = Worker()
    await uactor.call_async(worker.ad, 1, 2)  # E10: misspelt method
    await uactor.call_async(worker.add, "1", 2)  # E11: wrong argument type
    text: str = await uactor.call_async(worker.add, 1, 2)  # E12: wrong result type
    print(text)
