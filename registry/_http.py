"""The registry node's HTTP endpoints: health, readiness, metrics, status page.

``uactor-registry --http HOST:PORT`` serves, read-only:

* ``/healthz``: 200 while the registry actor answers a call with a short
  deadline, 503 with a one-line reason otherwise;
* ``/readyz``: 200 when the node can serve picks and its store is reachable,
  503 with a one-line reason otherwise;
* ``/metrics``: Prometheus' text format (needs ``prometheus-client``, the
  ``metrics`` extra; see :mod:`registry._metrics`);
* ``/status.json``: the registry's ``snapshot()`` plus the server's rates;
* ``/``: a status page (``registry/static/``) refreshing from ``/status.json``.

Two pieces keep a slow or hostile HTTP client from getting in the way of the
actors the registry serves:

* :class:`NodeWatcher`, one thread that alone talks to the registry actor:
  every request reads its latest snapshot, and concurrent requests for a fresh
  one share one call, so the actor sees a few calls a second whatever the
  HTTP traffic.  It also samples the counters every second for the page's
  plot.
* :class:`StatusServer`, a threading HTTP server with bounded requests, a
  bounded number of connections and a deadline on each, in the node's CLI
  process (not the actor's).

Nothing served reveals the authkey or changes the registry: only ``GET`` and
``HEAD`` are accepted.
"""
from __future__ import annotations

import collections
import errno
import importlib.resources
import json
import logging
import socket
import socketserver
import threading
import time
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

import uactor

__all__ = [
    "NodeUnavailableError",
    "NodeWatcher",
    "StatusServer",
    "client_connections",
]

logger = logging.getLogger(__name__)

#: Longest one call to the registry actor may take before the node is
#: reported unhealthy (s).  Orchestrators' probes commonly time out after 1 s.
CALL_TIMEOUT = 1.0

#: A snapshot younger than this (s) answers a request without a new call:
#: bursts of requests (or of clients) cost the actor one call.
MAX_SNAPSHOT_AGE = 0.5

#: How often the counters are sampled for the page's plot (s), and how many
#: samples are kept (five minutes' worth).
SAMPLE_INTERVAL = 1.0
HISTORY_SAMPLES = 300

#: Rates are averaged over this many sample intervals (like a Prometheus
#: ``rate()`` over 5 s), so heartbeats every 1.7 s do not draw a saw.
RATE_WINDOW = 5

#: Most bytes read from one request (request line and headers): ours are a
#: few hundred; anything bigger is refused with 400.
MAX_REQUEST_BYTES = 8192

#: Seconds one socket read or write may block, and the whole life of one
#: connection: a client trickling bytes is cut off after the latter.
IO_TIMEOUT = 5.0
CONNECTION_DEADLINE = 10.0

#: After refusing a request, the server reads and drops at most this much of
#: what the client still sends (bytes), for at most this long (s), before it
#: closes: closing with unread data resets the connection, which can destroy
#: the refusal before the client reads it.
DRAIN_BYTES = 64 * 1024
DRAIN_SECONDS = 1.0

#: Connections served at once; more are answered 503 and closed at once.
MAX_CONNECTIONS = 32

#: How often the server's loop looks for connections past their deadline (s).
_POLL_INTERVAL = 0.25

#: Files of the status page, served from the package (``registry/static``).
_STATIC_FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/status.css": ("status.css", "text/css; charset=utf-8"),
    "/static/status.js": ("status.js", "text/javascript; charset=utf-8"),
}

#: Headers on every answer: nothing is cached, framed, sniffed or loaded from
#: anywhere but this server.
_SECURITY_HEADERS = (
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Content-Security-Policy",
     "default-src 'none'; script-src 'self'; style-src 'self'; "
     "connect-src 'self'; img-src 'self' data:; base-uri 'none'; "
     "form-action 'none'; frame-ancestors 'none'"),
)

_ALLOWED_METHODS = ("GET", "HEAD")

#: The snapshot totals plotted per second, in the order of the rate points.
_RATE_COUNTERS = ("picks_total", "registered_total", "renewed_total")

Snapshot = dict[str, Any]


class NodeUnavailableError(Exception):
    """The registry actor did not answer; ``str()`` is a one-line reason."""


# --------------------------------------------------------------------------
# Talking to the actor
# --------------------------------------------------------------------------

class NodeWatcher:
    """The one thread that calls the registry actor for the HTTP server.

    ``call(services)`` returns the actor's ``snapshot(services)``; it only
    ever runs on this object's thread (so one connection to the actor serves
    every HTTP request), each call bounded by :data:`CALL_TIMEOUT`.
    :meth:`snapshot` may be called from any thread.
    """

    def __init__(self, call: Callable[[bool], Snapshot], *,
                 call_timeout: float = CALL_TIMEOUT,
                 sample_interval: float = SAMPLE_INTERVAL,
                 history: int = HISTORY_SAMPLES) -> None:
        self._call = call
        self._call_timeout = call_timeout
        self._sample_interval = sample_interval
        self._changed = threading.Condition()
        # Per kind (True: with the services listing): (monotonic time of the
        # answer, snapshot or the reason it failed), and the calls wanted.
        self._latest: dict[bool, tuple[float, Snapshot | NodeUnavailableError]] = {}
        self._wanted: set[bool] = set()
        self._samples: collections.deque[tuple[float, float, Mapping[str, int]]] = \
            collections.deque(maxlen=history)
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="registry-http-watcher",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """Stop the thread (after its call in progress, if any); idempotent."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        if self._thread.is_alive():
            self._thread.join(self._call_timeout + 5.0)

    def snapshot(self, *, services: bool = True, max_age: float = MAX_SNAPSHOT_AGE,
                 timeout: float | None = None) -> Snapshot:
        """A snapshot at most ``max_age`` seconds old, asking for one if needed.

        Raises :class:`NodeUnavailableError` when the actor failed to answer
        or no answer came within ``timeout`` (default: the call timeout plus a
        little).  ``services=False`` asks for the cheap kind without listing.
        """
        wait = self._call_timeout + 0.5 if timeout is None else timeout
        asked = time.monotonic()
        deadline = asked + wait
        kinds = (True,) if services else (False, True)
        with self._changed:
            while True:
                for kind in kinds:
                    answer = self._latest.get(kind)
                    if answer is not None and answer[0] >= asked - max_age:
                        if isinstance(answer[1], NodeUnavailableError):
                            raise answer[1]
                        return answer[1]
                remaining = deadline - time.monotonic()
                if self._closed:
                    raise NodeUnavailableError("the node is stopping")
                if remaining <= 0:
                    raise NodeUnavailableError(
                        f"the registry actor did not answer within {wait:g} s")
                self._wanted.add(services)
                self._changed.notify_all()
                self._changed.wait(remaining)

    @property
    def sample_interval(self) -> float:
        """Seconds between two samples of the counters."""
        return self._sample_interval

    def rates(self) -> list[list[float]]:
        """``[[epoch s, picks/s, registrations/s, renewals/s], ...]``, oldest first.

        One point per sample (every second, for five minutes), each averaged
        over the :data:`RATE_WINDOW` intervals before it; empty until two
        samples were taken.
        """
        with self._changed:
            samples = list(self._samples)
        points = []
        for index in range(1, len(samples)):
            _, t0, before = samples[max(0, index - RATE_WINDOW)]
            wall, t1, after = samples[index]
            points.append([wall] + [max(0, after[key] - before[key]) / (t1 - t0)
                                    for key in _RATE_COUNTERS])
        return points

    # -- the thread --------------------------------------------------------------

    def _run(self) -> None:
        next_sample = time.monotonic()
        while True:
            with self._changed:
                while not (self._closed or self._wanted):
                    delay = next_sample - time.monotonic()
                    if delay <= 0:
                        break
                    self._changed.wait(delay)
                if self._closed:
                    return
                # The listing answers both kinds: ask for it alone when wanted.
                services = True in self._wanted
                self._wanted.clear()
            now = time.monotonic()
            answer = self._ask(services)
            with self._changed:
                self._latest[services] = (now, answer)
                if services:
                    self._latest[False] = (now, answer)
                if not isinstance(answer, NodeUnavailableError):
                    self._sample(now, answer)
                self._changed.notify_all()
            if now >= next_sample:
                next_sample = now + self._sample_interval

    def _ask(self, services: bool) -> Snapshot | NodeUnavailableError:
        try:
            with uactor.deadline(self._call_timeout):
                return self._call(services)
        except uactor.CallTimeoutError:
            return NodeUnavailableError(
                f"the registry actor did not answer within {self._call_timeout:g} s")
        except (OSError, EOFError, uactor.UActorException) as exc:
            logger.debug("registry actor call failed: %r", exc)
            return NodeUnavailableError(f"the registry actor is unreachable: {exc}")
        except Exception as exc:  # raised by snapshot() itself: a bug there
            logger.warning("the registry actor's snapshot() failed", exc_info=True)
            return NodeUnavailableError(
                f"the registry actor's snapshot() failed: {type(exc).__name__}: {exc}")

    def _sample(self, now: float, snapshot: Snapshot) -> None:
        """Keep the counters for the plot, about one sample per interval."""
        if self._samples and now - self._samples[-1][1] < 0.9 * self._sample_interval:
            return
        totals = snapshot.get("totals")
        if not isinstance(totals, Mapping) or not all(
                isinstance(totals.get(key), int) for key in _RATE_COUNTERS):
            logger.debug("snapshot without the counters for the plot: %r", totals)
            return  # the endpoints report the bad snapshot; the thread goes on
        self._samples.append((time.time(), now, totals))


def client_connections(pid: int, port: int) -> int | None:
    """TCP connections established to ``port`` in process ``pid`` (``None``:
    unknown, e.g. without psutil)."""
    try:
        import psutil
    except ImportError:
        return None
    try:
        process = psutil.Process(pid)
        connections = (process.net_connections(kind="tcp")
                       if hasattr(process, "net_connections")
                       else process.connections(kind="tcp"))  # psutil < 6
    except (psutil.Error, OSError) as exc:
        logger.debug("cannot count connections of process %d: %s", pid, exc)
        return None
    return sum(1 for conn in connections
               if conn.status == psutil.CONN_ESTABLISHED and conn.laddr
               and conn.laddr.port == port)


# --------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------

class _BoundedReader:
    """A request's input, cut off after :data:`MAX_REQUEST_BYTES` bytes.

    Past the bound reads return nothing and :attr:`exhausted` is set, so the
    request is answered 400 rather than parsed from a truncated header.
    """

    def __init__(self, raw: Any, limit: int = MAX_REQUEST_BYTES) -> None:
        self._raw = raw
        self._left = limit
        self.exhausted = False

    def readline(self, size: int = -1) -> bytes:
        if self._left <= 0:
            self.exhausted = True
            return b""
        want = self._left if size is None or size < 0 else min(size, self._left)
        line = self._raw.readline(want)
        self._left -= len(line)
        if self._left <= 0 and not line.endswith(b"\n"):
            self.exhausted = True
        return line

    def read(self, size: int = -1) -> bytes:
        raise OSError("request bodies are not accepted")

    def close(self) -> None:
        self._raw.close()


class _Handler(BaseHTTPRequestHandler):
    """One connection, one request (HTTP/1.0 semantics: no keep-alive)."""

    server: StatusServer
    server_version = "uactor-registry"
    timeout = IO_TIMEOUT
    # Answers always carry a status line and headers, even to a request too
    # malformed to say its version (http.server's default is HTTP/0.9: none).
    default_request_version = "HTTP/1.0"

    def setup(self) -> None:
        super().setup()
        self.rfile = _BoundedReader(self.rfile)  # type: ignore[assignment]
        self.refused = False

    def finish(self) -> None:
        super().finish()
        if self.refused:  # the client may still be sending the rest
            _drain(self.connection)

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False  # answered 400 (malformed) by the base class
        if self.rfile.exhausted:  # type: ignore[attr-defined]
            self._fail(HTTPStatus.BAD_REQUEST,
                       f"request line and headers exceed {MAX_REQUEST_BYTES} bytes")
            return False
        if self.command not in _ALLOWED_METHODS:
            self._fail(HTTPStatus.METHOD_NOT_ALLOWED,
                       f"method {self.command} is not allowed: this server is "
                       f"read-only (GET, HEAD)",
                       [("Allow", ", ".join(_ALLOWED_METHODS))])
            return False
        return True

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = self.path.split("?", 1)[0]
        route = self.server.routes.get(path)
        if route is None:
            self._fail(HTTPStatus.NOT_FOUND, f"no such page: {path[:100]!r}; try / "
                       f"/healthz /readyz /metrics /status.json", warn=False)
            return
        try:
            status, content_type, body = route(self)
        except NodeUnavailableError as exc:
            self._fail(HTTPStatus.SERVICE_UNAVAILABLE, str(exc), warn=False)
            return
        except Exception as exc:  # a bug: say so, log it, keep serving
            logger.exception("HTTP %s failed", path)
            self._fail(HTTPStatus.INTERNAL_SERVER_ERROR,
                       f"internal error ({type(exc).__name__}); see the node's log",
                       warn=False)
            return
        self._reply(status, content_type, body)

    do_HEAD = do_GET  # noqa: N815 - the same headers; _reply leaves the body out

    def send_error(self, code: int, message: str | None = None,
                   explain: str | None = None) -> None:
        """Errors found by http.server itself (malformed requests): plain text."""
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "Error"
        self._fail(code, message or phrase)

    def _fail(self, status: int, reason: str,
              headers: list[tuple[str, str]] | tuple[()] = (), *,
              warn: bool = True) -> None:
        """Answer ``status`` with ``reason`` as a one-line text body.

        ``warn``: the request was bad (warn once per status, then debug).
        """
        if warn:
            self.server.note_refusal(self.client_address, status, reason)
            self.refused = True
        else:
            logger.debug("HTTP %d to %s: %s", status, self.client_address[0], reason)
        self.close_connection = True
        self._reply(status, "text/plain; charset=utf-8",
                    (reason + "\n").encode("utf-8", "replace"), headers)

    def _reply(self, status: int, content_type: str, body: bytes,
               headers: list[tuple[str, str]] | tuple[()] = ()) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        for name, value in (*_SECURITY_HEADERS, *headers):
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def version_string(self) -> str:
        return self.server_version  # no Python version: nothing to fingerprint

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        logger.debug("%s %r %s", self.client_address[0], self.requestline, code)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        logger.debug("http %s: " + format, self.client_address[0], *args)


Route = Callable[[_Handler], "tuple[int, str, bytes]"]


class StatusServer(ThreadingHTTPServer):
    """The HTTP endpoints of a registry node, served from their own threads.

    Bind with the constructor, then :meth:`start` serving from a background
    thread; :meth:`close` stops it and every connection (idempotent).  At
    most :data:`MAX_CONNECTIONS` connections are served at once, each for at
    most :data:`CONNECTION_DEADLINE` seconds.

    :param address: ``(host, port)`` to listen on; port 0 picks a free one.
    :param watcher: where snapshots come from.
    :param node_port: the registry actor's TCP port (to count its clients).
    """

    daemon_threads = False
    block_on_close = True
    request_queue_size = 64
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], watcher: NodeWatcher, *,
                 node_port: int) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, _Handler)
        self.watcher = watcher
        self.node_port = node_port
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._open: dict[socket.socket, float] = {}
        self._open_lock = threading.Lock()
        self._warned: set[int] = set()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._pages = {path: (_read_static(name), content_type)
                       for path, (name, content_type) in _STATIC_FILES.items()}
        self._metrics = _load_metrics(self)
        self.routes: dict[str, Route] = {
            "/healthz": self._healthz,
            "/readyz": self._readyz,
            "/metrics": self._metrics_page,
            "/status.json": self._status_json,
            **{path: self._static for path in self._pages},
        }

    def server_bind(self) -> None:
        """Bind without http.server's reverse DNS lookup of the host (which
        can stall for seconds): the name is only used by CGI."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    @property
    def open_connections(self) -> int:
        """HTTP connections being served now."""
        with self._open_lock:
            return len(self._open)

    @property
    def url(self) -> str:
        """``http://host:port/`` of this server (IPv6 hosts in brackets)."""
        host, port = self.server_address[:2]
        host = str(host)
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"

    def start(self) -> None:
        """Start the watcher and serve from a background thread."""
        self.watcher.start()
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": _POLL_INTERVAL},
            name="registry-http", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop serving and watching, cut every connection, join the threads."""
        if self._closed:
            return
        self._closed = True
        self.watcher.close()  # requests waiting for a snapshot end at once
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
        self._cut_connections(older_than=None)
        self.server_close()

    # -- the endpoints -----------------------------------------------------------

    def _healthz(self, handler: _Handler) -> tuple[int, str, bytes]:
        self.watcher.snapshot(services=False)
        return HTTPStatus.OK, "text/plain; charset=utf-8", b"ok\n"

    def _readyz(self, handler: _Handler) -> tuple[int, str, bytes]:
        store = self.watcher.snapshot(services=False)["node"]["store"]
        if not store.get("reachable"):
            reason = (f"store {store.get('url')} unreachable for "
                      f"{store.get('stale_for', 0):.1f} s")
            return (HTTPStatus.SERVICE_UNAVAILABLE, "text/plain; charset=utf-8",
                    (reason + "\n").encode())
        return HTTPStatus.OK, "text/plain; charset=utf-8", b"ready\n"

    def _metrics_page(self, handler: _Handler) -> tuple[int, str, bytes]:
        if isinstance(self._metrics, str):
            return (HTTPStatus.NOT_IMPLEMENTED, "text/plain; charset=utf-8",
                    (self._metrics + "\n").encode())
        body, content_type = self._metrics.render(handler.headers.get("Accept"))
        return HTTPStatus.OK, content_type, body

    def _status_json(self, handler: _Handler) -> tuple[int, str, bytes]:
        body = json.dumps(self.status(), separators=(",", ":")).encode()
        return HTTPStatus.OK, "application/json", body

    def _static(self, handler: _Handler) -> tuple[int, str, bytes]:
        body, content_type = self._pages[handler.path.split("?", 1)[0]]
        return HTTPStatus.OK, content_type, body

    def status(self) -> Snapshot:
        """The registry's snapshot plus this server's view (``"server"``)."""
        snapshot = dict(self.watcher.snapshot())
        snapshot["server"] = {
            "time": time.time(),
            "client_connections": self.connections(snapshot),
            "rates": {"interval": self.watcher.sample_interval,
                      "points": self.watcher.rates()},
        }
        return snapshot

    def connections(self, snapshot: Mapping[str, Any]) -> int | None:
        """Clients connected to the registry actor of ``snapshot``."""
        return client_connections(snapshot["node"]["pid"], self.node_port)

    # -- connections -------------------------------------------------------------

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.note_refusal(client_address, HTTPStatus.SERVICE_UNAVAILABLE,
                              f"more than {MAX_CONNECTIONS} connections at once")
            _refuse_busy(request)
            self.shutdown_request(request)
            return
        with self._open_lock:
            self._open[request] = time.monotonic()
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        """Close a connection, giving its slot back (every path ends here)."""
        self._forget(request)
        super().shutdown_request(request)

    def service_actions(self) -> None:
        """Called by the serving loop: cut connections past their deadline."""
        self._cut_connections(older_than=CONNECTION_DEADLINE)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A handler failed (a client hung up, a write timed out): no traceback
        on stderr, a debug line instead (a bug in a route is logged once)."""
        logger.debug("HTTP connection from %s failed", client_address, exc_info=True)

    def note_refusal(self, client_address: Any, status: int, reason: str) -> None:
        """Log a refused request: warn once per status, then debug."""
        log = logger.debug if status in self._warned else logger.warning
        self._warned.add(status)
        log("HTTP %d to %s: %s", status, client_address[0], reason)

    def _forget(self, request: Any) -> None:
        with self._open_lock:
            if self._open.pop(request, None) is not None:
                self._slots.release()

    def _cut_connections(self, older_than: float | None) -> None:
        """Shut down connections open longer than ``older_than`` s (all: None).

        Under the lock, so no socket is closed by its thread meanwhile (its
        thread forgets it, under the lock, before closing it).  The thread
        blocked reading or writing it then fails and ends.
        """
        now = time.monotonic()
        with self._open_lock:
            for sock, opened in self._open.items():
                if older_than is not None and now - opened <= older_than:
                    continue  # in time, or already cut (opened is then +inf)
                self._open[sock] = float("inf")
                if older_than is not None:
                    self.note_refusal(_peer(sock), HTTPStatus.REQUEST_TIMEOUT,
                                      f"connection open for more than {older_than:g} s: "
                                      f"cut")
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError as exc:  # the peer is already gone
                    if exc.errno != errno.ENOTCONN:
                        logger.debug("cannot cut an HTTP connection: %s", exc)


def _peer(sock: socket.socket) -> tuple[str, ...]:
    try:
        return tuple(map(str, sock.getpeername()))
    except OSError:
        return ("(gone)",)


def _drain(sock: socket.socket) -> None:
    """End our side, then read and drop what the client still sends, bounded
    by :data:`DRAIN_BYTES` and :data:`DRAIN_SECONDS` (a lingering close)."""
    try:
        sock.shutdown(socket.SHUT_WR)
        end = time.monotonic() + DRAIN_SECONDS
        left = DRAIN_BYTES
        while left > 0 and (remaining := end - time.monotonic()) > 0:
            sock.settimeout(remaining)
            chunk = sock.recv(min(left, 16384))
            if not chunk:
                return
            left -= len(chunk)
    except OSError:
        pass  # the client is gone: nothing left to protect


def _refuse_busy(sock: socket.socket) -> None:
    """Answer 503 without blocking (the answer fits in the socket's buffer)."""
    body = b"too many connections; retry later\n"
    head = (f"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n"
            f"Retry-After: 1\r\n\r\n").encode()
    try:
        sock.setblocking(False)
        sock.send(head + body)
    except OSError:
        pass  # the client is gone or not reading: closing is answer enough


def _read_static(name: str) -> bytes:
    return importlib.resources.files("registry").joinpath("static", name).read_bytes()


def _load_metrics(server: StatusServer) -> Any:
    """The metrics renderer, or why there is none (prometheus-client missing)."""
    try:
        from ._metrics import MetricsPage
    except ImportError as exc:
        reason = (f"/metrics needs the prometheus-client package ({exc}); "
                  f"install it with: pip install 'uactor[metrics]'")
        logger.info("%s", reason)
        return reason
    return MetricsPage(server.watcher.snapshot, server.connections)
