"""The node's HTTP endpoints in-process: answers, bad input, hostile clients.

A real Registry actor (a child process) behind a :class:`StatusServer` bound
to 127.0.0.1 port 0 in the test process; requests are real HTTP over TCP.
"""
from __future__ import annotations

import http.client
import json
import os
import selectors
import signal
import socket
import sys
import threading
import time

import pytest

import uactor
from registry import _http
from registry._http import NodeWatcher, StatusServer
from tests.conftest import wait_until
from tests.registry.actors import NETWORK, ObservedRegistry

#: Seconds any single request of these tests may take.
TIMEOUT = 10.0


def get(server: StatusServer, path: str, method: str = "GET",
        body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
    try:
        conn.request(method, path, body=body)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def raw(server: StatusServer, data: bytes) -> bytes:
    """Send ``data`` as is, then read the whole answer."""
    with socket.create_connection(server.server_address[:2], timeout=TIMEOUT) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.fixture
def node():
    with uactor.start(ObservedRegistry, options=NETWORK) as reg:
        yield reg


def serve(reg) -> StatusServer:
    server = StatusServer(("127.0.0.1", 0), NodeWatcher(reg.snapshot),
                          node_port=reg.connection_address[1])
    server.start()
    return server


@pytest.fixture
def served(node):
    server = serve(node)
    try:
        yield node, server
    finally:
        server.close()


# -- what it serves -------------------------------------------------------------


def test_health_readiness_and_status_json(served):
    reg, server = served
    lease = reg.open_lease(30)
    reg.register_entry(("10.0.0.1", 1001), lease=lease, name="Worker", pid=41,
                       hostname="host-a")
    reg.pick("Worker")
    assert get(server, "/healthz")[::2] == (200, b"ok\n")
    assert get(server, "/readyz")[::2] == (200, b"ready\n")
    status, headers, body = get(server, "/status.json?cache=no")
    assert status == 200 and headers["Content-Type"] == "application/json"
    page = json.loads(body)
    assert page["totals"]["actors"] == 1 and page["totals"]["picks_total"] == 1
    [worker] = page["services"]
    assert worker["name"] == "Worker"
    assert worker["actors"][0]["address"] == "10.0.0.1:1001"
    assert worker["actors"][0]["picks"] == 1
    server_view = page["server"]
    assert server_view["client_connections"] >= 2  # this test's proxy, the watcher's
    assert server_view["rates"]["interval"] == _http.SAMPLE_INTERVAL
    assert abs(server_view["time"] - time.time()) < 60


def test_status_page_files_and_headers(served):
    _, server = served
    status, headers, page = get(server, "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b'<script src="static/status.js"' in page
    assert b"http://" not in page and b"https://" not in page  # nothing from outside
    for path, kind in (("/static/status.css", "text/css"),
                       ("/static/status.js", "text/javascript")):
        status, headers, body = get(server, path)
        assert status == 200 and headers["Content-Type"].startswith(kind) and body
        assert b"http://" not in body and b"https://" not in body
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "no-store"
    assert headers["Server"] == "uactor-registry"  # no Python version


def test_head_answers_headers_only(served):
    _, server = served
    status, headers, body = get(server, "/healthz", method="HEAD")
    assert (status, body) == (200, b"")
    assert headers["Content-Length"] == "3"


def test_the_authkey_appears_nowhere(served):
    reg, server = served
    key = NETWORK["authkey"]
    for path in ("/", "/status.json", "/metrics", "/healthz", "/readyz",
                 "/static/status.js"):
        status, headers, body = get(server, path)
        assert status == 200, path
        assert key not in body and key.decode() not in json.dumps(headers), path
        assert key.hex().encode() not in body, path


# -- readiness and health follow the actor and its store ---------------------------


def _answer(server: StatusServer, path: str) -> tuple[int, bytes]:
    status, _, body = get(server, path)
    return status, body


def test_readyz_turns_503_while_the_store_is_unreachable(served):
    reg, server = served
    reg.set_store_reachable(False)
    assert wait_until(lambda: _answer(server, "/readyz")[0] == 503, timeout=10)
    status, body = _answer(server, "/readyz")
    text = body.decode()
    assert text.startswith("store memory:// unreachable for ") and text.endswith(" s\n")
    assert text.count("\n") == 1
    assert _answer(server, "/healthz") == (200, b"ok\n")  # alive, just not ready
    reg.set_store_reachable(True)
    assert wait_until(lambda: _answer(server, "/readyz") == (200, b"ready\n"), timeout=10)


def test_healthz_turns_503_when_the_actor_does_not_answer_in_time(served):
    reg, server = served
    reg.set_snapshot_delay(3 * _http.CALL_TIMEOUT)
    assert wait_until(lambda: _answer(server, "/healthz")[0] == 503, timeout=10)
    status, body = _answer(server, "/healthz")
    assert body == (f"the registry actor did not answer within "
                    f"{_http.CALL_TIMEOUT:g} s\n").encode()
    assert _answer(server, "/readyz")[0] == 503
    reg.set_snapshot_delay(0)
    assert wait_until(lambda: _answer(server, "/healthz") == (200, b"ok\n"), timeout=15)


def test_healthz_turns_503_when_the_actor_process_is_killed(node):
    server = serve(node)
    try:
        pid = json.loads(get(server, "/status.json")[2])["node"]["pid"]
        os.kill(pid, signal.SIGKILL)
        assert wait_until(lambda: _answer(server, "/healthz")[0] == 503, timeout=10)
        status, body = _answer(server, "/healthz")
        assert body.startswith(b"the registry actor is unreachable: ")
        assert body.count(b"\n") == 1
        assert _answer(server, "/status.json")[0] == 503
    finally:
        server.close()


def test_a_bug_is_a_500_with_one_line_and_a_logged_traceback(served, caplog):
    reg, server = served
    reg.set_snapshot_broken(True)
    assert wait_until(lambda: _answer(server, "/readyz")[0] == 500, timeout=10)
    assert _answer(server, "/readyz") == (
        500, b"internal error (KeyError); see the node's log\n")
    assert any(record.exc_info and record.levelname == "ERROR"
               for record in caplog.records if record.name == "registry._http")
    reg.set_snapshot_broken(False)
    assert wait_until(lambda: _answer(server, "/readyz") == (200, b"ready\n"), timeout=10)


def test_many_requests_share_few_snapshot_calls(served):
    reg, server = served
    before = reg.snapshots_served()
    started = time.monotonic()
    errors: list[BaseException] = []

    def client() -> None:
        try:
            for _ in range(25):
                assert get(server, "/status.json")[0] == 200
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    elapsed = time.monotonic() - started
    assert not errors
    calls = reg.snapshots_served() - before
    # 200 requests; about one call per freshness period, plus the sampler's
    # (each period starts when a call ends, hence the margin)
    bound = (elapsed / _http.MAX_SNAPSHOT_AGE + elapsed / _http.SAMPLE_INTERVAL) + 5
    assert calls <= bound, (calls, elapsed)
    assert calls < 200


# -- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/nope", "/static/", "/static/../_actor.py",
                                  "/healthz/", "/static/index.html",
                                  "/registry/static/status.js", "/favicon.ico"])
def test_unknown_paths_are_404(served, path):
    _, server = served
    status, headers, body = get(server, path)
    assert status == 404
    assert body.startswith(b"no such page: ") and body.count(b"\n") == 1
    assert headers["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS",
                                    "TRACE", "PROPFIND", "SHUTDOWN"])
def test_methods_other_than_get_and_head_are_405_and_change_nothing(served, method):
    reg, server = served
    before = reg.snapshot()["totals"]
    for path in ("/", "/status.json", "/metrics", "/nope"):
        status, headers, body = get(server, path, method=method,
                                    body=b'{"register": ["10.0.0.9", 9]}')
        assert status == 405, (method, path)
        assert headers["Allow"] == "GET, HEAD"
        assert body == (f"method {method} is not allowed: this server is read-only "
                        f"(GET, HEAD)\n").encode()
    assert reg.snapshot()["totals"] == before


@pytest.mark.parametrize("request_bytes, status", [
    (b"GARBAGE\r\n\r\n", 400),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(64)), 400),  # TLS
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-Filler: " + b"a" * 9000 + b"\r\n\r\n", 400),
    (b"GET /" + b"a" * 20000 + b" HTTP/1.0\r\n\r\n", 400),
    (b"GET / HTTP/x.y\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 101 + b"\r\n", 431),  # too many headers
])
def test_malformed_or_oversized_requests_are_refused(served, request_bytes, status):
    _, server = served
    answer = raw(server, request_bytes)
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.0 %d " % status), answer[:200]
    body = rest.split(b"\r\n\r\n", 1)[1]
    assert body.count(b"\n") == 1 and len(body) < 200
    assert get(server, "/healthz")[0] == 200  # and the server goes on


def test_metrics_without_prometheus_client_is_501_with_the_fix(node, monkeypatch):
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    monkeypatch.setitem(sys.modules, "registry._metrics", None)
    server = serve(node)
    try:
        status, _, body = get(server, "/metrics")
        assert status == 501
        assert b"pip install 'uactor[metrics]'" in body and body.count(b"\n") == 1
        assert get(server, "/healthz")[0] == 200  # the rest still works
    finally:
        server.close()


# -- hostile clients -------------------------------------------------------------------


class Trickler:
    """Connections sending one byte of a request every ``interval`` seconds,
    forever, from one thread; records when the server cut each."""

    def __init__(self, address, count: int, interval: float = 0.2) -> None:
        self.socks = [socket.create_connection(address, timeout=TIMEOUT)
                      for _ in range(count)]
        self.cut_after: dict[int, float] = {}
        self.answers: dict[int, bytes] = {}
        self._interval = interval
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="trickler")
        self._thread.start()

    def _run(self) -> None:
        request = b"GET /status.json HTTP/1.1\r\nX-Slow: " + b"z" * 10000
        sent = 0
        with selectors.DefaultSelector() as selector:
            for index, sock in enumerate(self.socks):
                selector.register(sock, selectors.EVENT_READ, index)
            while not self._stop.is_set() and len(self.cut_after) < len(self.socks):
                for key, _ in selector.select(self._interval):
                    self._read(key.data, selector)
                for index, sock in enumerate(self.socks):
                    if index in self.cut_after:
                        continue
                    try:
                        sock.send(request[sent % len(request):][:1])
                    except OSError:
                        self._cut(index, selector)
                sent += 1

    def _read(self, index: int, selector) -> None:
        try:
            data = self.socks[index].recv(65536)
        except OSError:
            data = b""
        if data:
            self.answers[index] = self.answers.get(index, b"") + data
        else:
            self._cut(index, selector)

    def _cut(self, index: int, selector) -> None:
        self.cut_after[index] = time.monotonic() - self._started
        selector.unregister(self.socks[index])

    def close(self) -> None:
        self._stop.set()
        self._thread.join(TIMEOUT)
        for sock in self.socks:
            sock.close()


def _picks_keep_working(reg, name: str, until: threading.Event, results: list) -> None:
    """Pick through the registry until ``until`` is set; record each pick's time."""
    proxy = ObservedRegistry.connect(reg.connection_address, NETWORK["authkey"],
                                     timeout=TIMEOUT)
    while not until.is_set():
        started = time.monotonic()
        with uactor.deadline(5.0):
            picked = proxy.pick(name)
        results.append((time.monotonic() - started, picked))


@pytest.mark.timeout(90)
def test_slow_and_garbage_clients_cannot_stop_the_registry(node, monkeypatch):
    monkeypatch.setattr(_http, "MAX_CONNECTIONS", 8)
    monkeypatch.setattr(_http, "CONNECTION_DEADLINE", 2.0)
    node.register(("10.0.0.1", 1001), name="Worker")
    server = serve(node)
    address = server.server_address[:2]
    stop = threading.Event()
    picks: list = []
    picker = threading.Thread(target=_picks_keep_working,
                              args=(node, "Worker", stop, picks))
    picker.start()
    trickler = Trickler(address, 12)  # 8 take every slot, 4 are turned away
    try:
        # Garbage floods and new clients meanwhile: turned away or answered.
        for _ in range(20):
            try:
                answer = raw(server, os.urandom(4096))
            except OSError:
                continue  # cut while sending: that is an answer too
            assert answer == b"" or answer.startswith(b"HTTP/1.0 ")
        with socket.create_connection(address, timeout=TIMEOUT) as extra:
            busy = extra.recv(4096)
        assert busy.startswith(b"HTTP/1.0 503 ")
        assert wait_until(lambda: len(trickler.cut_after) == 12, timeout=30), \
            trickler.cut_after
    finally:
        trickler.close()
        stop.set()
        picker.join(TIMEOUT)
        server.close()
    # 4 tricklers were turned away at once (a 503, or a reset when the
    # refusal closed a socket holding unread bytes); the 8 holding every
    # slot were cut at their deadline (not before: no harness error),
    # unanswered.
    turned_away = {index for index, seconds in trickler.cut_after.items() if seconds < 1.0}
    assert len(turned_away) == 4, trickler.cut_after
    for index in turned_away:
        answer = trickler.answers.get(index, b"")
        assert answer == b"" or answer.startswith(b"HTTP/1.0 503 "), answer
    held = sorted(seconds for index, seconds in trickler.cut_after.items()
                  if index not in turned_away)
    assert len(held) == 8 and not set(trickler.answers) - turned_away
    assert held[0] > 2.0 - 0.5 and held[-1] < 2.0 + 5.0, held
    # The registry served picks the whole time, each promptly.
    assert len(picks) > 50
    assert {picked for _, picked in picks} == {("10.0.0.1", 1001)}
    assert max(seconds for seconds, _ in picks) < 5.0


def test_close_cuts_connections_in_progress(node):
    server = serve(node)
    sock = socket.create_connection(server.server_address[:2], timeout=TIMEOUT)
    try:
        sock.sendall(b"GET / HTTP/1.1\r\n")  # and never the rest
        assert wait_until(lambda: server.open_connections == 1, timeout=5)
        started = time.monotonic()
        server.close()
        assert time.monotonic() - started < 5.0
        assert sock.recv(4096) == b""
    finally:
        sock.close()
        server.close()  # idempotent
