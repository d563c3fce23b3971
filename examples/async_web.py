"""A web handler awaiting an actor (FastAPI-style, on the standard library alone).

An ``asyncio.start_server`` HTTP handler awaits the actor with
``uactor.call_async``: the event loop keeps serving other requests while a
call is in flight, and the calls of every request share one connection to the
actor.  ``slow_square`` is an ``async def`` method: the actor runs concurrent
calls of it on its own event loop, so ten requests at once take about as long
as one.  The script starts the server on 127.0.0.1 (port 0), makes a few
requests to itself, prints the answers and exits.

Run (from examples/)::

    python async_web.py

Prints::

    GET /add?a=2&b=3 -> 200 {"result": 5}
    GET /square?x=7 -> 200 {"result": 49}
    GET /add?a=2 -> 400 {"error": "add needs integers a and b"}
    GET /nowhere -> 404 {"error": "no route /nowhere"}
    10 requests at once -> [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]
"""
from __future__ import annotations

import asyncio
import json
import urllib.parse

import uactor

SLEEP = 0.2  # seconds slow_square waits, as if on a database


class Calculator(uactor.Actor):
    def add(self, a: int, b: int) -> int:
        return a + b

    async def slow_square(self, x: int) -> int:
        await asyncio.sleep(SLEEP)
        return x * x


async def route(calculator: Calculator, path: str, query: dict) -> tuple[int, dict]:
    """The status and JSON body answering ``path?query``."""
    try:
        if path == "/add":
            total = await uactor.call_async(calculator.add, int(query["a"]), int(query["b"]))
            return 200, {"result": total}
        if path == "/square":
            return 200, {"result": await uactor.call_async(calculator.slow_square,
                                                           int(query["x"]))}
    except (KeyError, ValueError):
        return 400, {"error": f"{path[1:]} needs integers {'a and b' if path == '/add' else 'x'}"}
    return 404, {"error": f"no route {path}"}


async def handle(calculator: Calculator, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
    """One HTTP/1.1 request (GET), answered with JSON, then the connection closes."""
    try:
        _, target, _ = (await reader.readline()).decode("latin-1").split(" ", 2)
        while (await reader.readline()).strip():  # the headers: not needed here
            pass
        url = urllib.parse.urlsplit(target)
        query = dict(urllib.parse.parse_qsl(url.query))
        status, answer = await route(calculator, url.path, query)
        body = json.dumps(answer).encode()
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}[status]
        writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                     + body)
        await writer.drain()
    finally:
        writer.close()
        await writer.wait_closed()


async def get(port: int, target: str) -> tuple[int, str]:
    """A tiny HTTP client: GET ``target`` from 127.0.0.1:``port``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 "Connection: close\r\n\r\n".encode())
    response = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, body = response.decode().partition("\r\n\r\n")
    return int(head.split(" ", 2)[1]), body


async def main(calculator: Calculator) -> None:
    server = await asyncio.start_server(lambda r, w: handle(calculator, r, w),
                                        "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        for target in ("/add?a=2&b=3", "/square?x=7", "/add?a=2", "/nowhere"):
            status, body = await get(port, target)
            print(f"GET {target} -> {status} {body}")
        answers = await asyncio.gather(*[get(port, f"/square?x={x}") for x in range(10)])
        print(f"10 requests at once -> {[json.loads(body)['result'] for _, body in answers]}")


if __name__ == "__main__":
    with Calculator() as calculator:
        asyncio.run(main(calculator))
