"""The ``etcd://`` store: etcd v3 through its JSON gateway, with the standard library.

URL: ``etcd://[user:password@]host:port[,host:port...]`` (the members'
client URLs; plain HTTP).  A small client over :mod:`http.client` speaks the
v3 JSON gateway that every etcd since 3.4 serves on its client port, and
fails over between the listed members by itself: nothing to install.

Layout, under the key prefix (default ``uactor/registry/``):

``<prefix>leases/<lease id>``
    the lease (JSON: TTL, owner pid and host, creation time), attached to an
    etcd lease of the same TTL (whole seconds, at least etcd's minimum; a
    lease without TTL gets etcd's longest).  One keep-alive renews it.
``<prefix>entries/<host:port>``
    an entry (JSON, with its lease id), attached to the same etcd lease, so
    etcd deletes it when the lease expires.
``<prefix>nodes/<node id>``
    a node's announcement (JSON, :func:`~registry._store.encode_node`), put
    again every announcement and attached to an etcd lease of the node's own
    of three announcement intervals, so it goes when the node does.

Writes are transactions: an entry is created only where none exists, and
updated or deleted only when it is attached to the caller's etcd lease
(compare on ``LEASE``), so ownership holds whichever node serves the call.
One watch on the prefix (from the revision of the initial read, with
``prev_kv``) keeps the node's view current; entries deleted in the same
revision as their lease record expired, others were unregistered.
"""
from __future__ import annotations

import base64
import contextlib
import http.client
import json
import logging
import math
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from ._errors import StoreConfigError, StoreUnavailableError
from ._store import (
    PEER_SILENCE,
    Store,
    StoreView,
    address_key,
    decode_entry,
    decode_lease,
    decode_node,
    encode_entry,
    encode_lease,
    parse_address_key,
)
from ._table import Address, not_owner, unknown_lease

__all__ = ["EtcdStore"]

logger = logging.getLogger(__name__)

#: etcd's longest lease (s): what a lease without TTL gets.
ETERNAL_TTL = 9_000_000_000

#: Keys read per request when loading the view.
_PAGE = 2000

#: Delay bounds (s) between attempts to follow the store again.
_RETRY_MIN, _RETRY_MAX = 0.05, 1.0

#: gRPC status codes the gateway reports in its JSON errors.
_NOT_FOUND, _UNAVAILABLE, _DEADLINE, _UNAUTHENTICATED = 5, 14, 4, 16
_PERMISSION_DENIED, _FAILED_PRECONDITION = 7, 9

#: Transaction retries when an entry changes between the check and the write.
_TXN_ATTEMPTS = 3

#: Entries created by one transaction at most (etcd allows 128 operations).
BATCH = 100


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode("ascii")


def _unb64(text: str) -> str:
    return base64.b64decode(text).decode()


def _prefix_end(prefix: str) -> str:
    """The range end covering every key that starts with ``prefix``."""
    raw = bytearray(prefix.encode())
    while raw and raw[-1] == 0xFF:
        raw.pop()
    raw[-1] += 1
    return base64.b64encode(bytes(raw)).decode("ascii")


class _LeaseGone(Exception):
    """etcd does not know the lease (it expired or was revoked)."""


class _Gateway:
    """Calls to etcd's JSON gateway, failing over between members.

    Thread-safe: each call takes a pooled connection of the member in use;
    a member that fails is left for the next one, round the list, within the
    call's deadline.
    """

    def __init__(self, members: tuple[Address, ...], *, username: str | None,
                 password: str | None, timeout: float, url: str) -> None:
        self._members = members
        self._username = username
        self._password = password
        self._timeout = timeout
        self._url = url
        self._current = 0
        self._pool: list[tuple[int, http.client.HTTPConnection]] = []
        self._lock = threading.Lock()
        self._token: str | None = None

    # -- requests ----------------------------------------------------------------

    def call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST ``body`` to ``path``; the decoded answer.

        Raises :class:`_LeaseGone`, :class:`StoreConfigError` (bad
        credentials) or :class:`StoreUnavailableError` (no member answered
        within the timeout).
        """
        deadline = time.monotonic() + self._timeout
        last: str = "no member tried"
        authenticated = False
        for attempt in range(4 * len(self._members)):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            index, connection = self._connection(remaining)
            try:
                status, data = self._post(connection, path, body)
            except (OSError, http.client.HTTPException, ValueError) as exc:
                connection.close()
                last = f"{self._describe(index)}: {_explain(exc, remaining)}"
                self._fail_over(index)
                continue
            self._release(index, connection)
            if status == 200:
                return data
            code, message = data.get("code"), str(data.get("message") or data)
            if code == _NOT_FOUND and "lease" in message:
                raise _LeaseGone(message)
            if code == _UNAUTHENTICATED or "invalid auth token" in message \
                    or "user name is empty" in message:
                if self._username is None or authenticated:
                    raise self._auth_error(message)
                self._authenticate(deadline)
                authenticated = True
                continue
            if code == _PERMISSION_DENIED:
                raise StoreConfigError(
                    f"etcd store {self._url} refused access ({message}); grant the "
                    f"user read and write on the registry's key prefix")
            if code in (_UNAVAILABLE, _DEADLINE) or status >= 500:
                last = f"{self._describe(index)}: {message}"
                self._fail_over(index)
                time.sleep(min(0.05 * (attempt + 1), max(0.0, remaining / 4)))
                continue
            raise StoreUnavailableError(
                f"etcd store {self._url} refused {path}: {message}")
        raise StoreUnavailableError(
            f"etcd store {self._url} is unreachable ({last}); check that etcd runs "
            f"and listens there")

    def stream(self, path: str, body: dict[str, Any]) -> _Stream:
        """Open a streaming request (a watch) on the member in use."""
        deadline = time.monotonic() + self._timeout
        errors = []
        for _ in range(len(self._members)):
            index = self._current
            host, port = self._members[index]
            connection = http.client.HTTPConnection(host, port, timeout=self._timeout)
            try:
                connection.request("POST", path, body=json.dumps(body),
                                   headers=self._headers(streaming=True))
                response = connection.getresponse()
                if response.status != 200:
                    data = json.loads(response.read() or b"{}")
                    message = str(data.get("message") or data)
                    connection.close()
                    if data.get("code") == _UNAUTHENTICATED and self._username:
                        self._authenticate(deadline)
                        continue
                    raise StoreUnavailableError(
                        f"etcd store {self._url} refused the watch: {message}")
            except (OSError, http.client.HTTPException, ValueError) as exc:
                connection.close()
                errors.append(f"{self._describe(index)}: {exc}")
                self._fail_over(index)
                continue
            if connection.sock is not None:
                connection.sock.settimeout(None)  # a watch may be quiet for long
                connection.sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            return _Stream(connection, response)
        raise StoreUnavailableError(
            f"etcd store {self._url} is unreachable ({'; '.join(errors)})")

    def authenticate(self) -> None:
        """Check the credentials now, if the URL has any."""
        if self._username is not None:
            self._authenticate(time.monotonic() + self._timeout)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, []
        for _, connection in pool:
            connection.close()

    # -- internals --------------------------------------------------------------

    def _post(self, connection: http.client.HTTPConnection, path: str,
              body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        connection.request("POST", path, body=json.dumps(body), headers=self._headers())
        response = connection.getresponse()
        payload = response.read()
        return response.status, (json.loads(payload) if payload else {})

    def _headers(self, streaming: bool = False) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self._token is not None:
            headers["Authorization"] = self._token
        if streaming:
            # Cancel the watch when its member loses the cluster's leader,
            # rather than let it go quiet.
            headers["Grpc-Metadata-hasleader"] = "true"
        return headers

    def _authenticate(self, deadline: float) -> None:
        self._token = None
        body = {"name": self._username, "password": self._password or ""}
        index, connection = self._connection(max(0.1, deadline - time.monotonic()))
        try:
            status, data = self._post(connection, "/v3/auth/authenticate", body)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            connection.close()
            self._fail_over(index)
            raise StoreUnavailableError(
                f"etcd store {self._url} is unreachable ({self._describe(index)}: "
                f"{exc})") from exc
        self._release(index, connection)
        if status != 200 or "token" not in data:
            raise self._auth_error(str(data.get("message") or data))
        self._token = str(data["token"])

    def _auth_error(self, message: str) -> StoreConfigError:
        who = f"user {self._username!r}" if self._username else "a client without user"
        return StoreConfigError(
            f"etcd store {self._url} rejected {who} ({message}); put the right "
            f"user and password in the store URL (etcd://USER:PASSWORD@HOST:PORT)")

    def _connection(self, timeout: float) -> tuple[int, http.client.HTTPConnection]:
        with self._lock:
            index = self._current
            while self._pool:
                pooled_index, connection = self._pool.pop()
                if pooled_index == index:
                    connection.timeout = timeout
                    if connection.sock is not None:
                        connection.sock.settimeout(timeout)
                    return index, connection
                connection.close()
        host, port = self._members[index]
        return index, http.client.HTTPConnection(host, port, timeout=timeout)

    def _release(self, index: int, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            if index == self._current and len(self._pool) < 32:
                self._pool.append((index, connection))
                return
        connection.close()

    def _fail_over(self, index: int) -> None:
        with self._lock:
            if self._current == index:
                self._current = (index + 1) % len(self._members)

    def _describe(self, index: int) -> str:
        host, port = self._members[index]
        return f"{host}:{port}"


class _Stream:
    """A streaming gateway response: one JSON message per line."""

    def __init__(self, connection: http.client.HTTPConnection,
                 response: http.client.HTTPResponse) -> None:
        self._connection = connection
        self._response = response

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while True:
            line = self._response.readline()
            if not line:
                return
            if line.strip():
                yield json.loads(line)

    def interrupt(self) -> None:
        """Make a thread blocked reading the stream return (from any thread)."""
        sock = self._connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Close the connection (by the thread reading the stream)."""
        self._connection.close()


class EtcdStore(Store):
    """Leases and entries in etcd v3 (``etcd://host:port[,host:port...]``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        parsed = self._parsed
        self._gateway = _Gateway(parsed.hosts, username=parsed.username,
                                 password=parsed.password, timeout=self.timeout,
                                 url=self.url)
        self._leases_prefix = f"{self.prefix}leases/"
        self._entries_prefix = f"{self.prefix}entries/"
        self._nodes_prefix = f"{self.prefix}nodes/"
        #: The etcd lease this node's announcement is attached to.
        self._node_lease: int | None = None
        #: lease id -> etcd lease ID, learned from grants and the watch.
        self._etcd_ids: dict[str, int] = {}
        self._ids_lock = threading.Lock()
        self._view: StoreView | None = None
        self._closed = threading.Event()
        self._stream: _Stream | None = None
        self._stream_lock = threading.Lock()
        self._follower: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------

    def open(self, view: StoreView) -> None:
        self._view = view
        self._gateway.authenticate()
        revision = self._load()
        self._follower = threading.Thread(
            target=self._follow, args=(revision,), name="registry-etcd-watch",
            daemon=True)
        self._follower.start()

    def close(self) -> None:
        self._closed.set()
        self._close_stream()
        if self._follower is not None:
            self._follower.join(self.timeout + 5)
        self._gateway.close()

    # -- leases --------------------------------------------------------------------

    def grant(self, lease: str, ttl: float | None, owner_pid: int | None,
              owner_host: str | None) -> Any:
        seconds = ETERNAL_TTL if ttl is None else max(1, math.ceil(ttl))
        granted = self._gateway.call("/v3/lease/grant", {"TTL": seconds})
        etcd_id = int(granted["ID"])
        record = encode_lease(ttl, owner_pid, owner_host, time.time())
        key = _b64(self._leases_prefix + lease)
        answer = self._gateway.call("/v3/kv/txn", {
            "compare": [{"target": "CREATE", "key": key, "result": "EQUAL",
                         "create_revision": "0"}],
            "success": [{"request_put": {"key": key, "value": _b64(record),
                                         "lease": str(etcd_id)}}],
        })
        if not answer.get("succeeded"):  # a 256-bit collision: cannot happen
            raise StoreUnavailableError(f"etcd store {self.url}: lease already exists")
        with self._ids_lock:
            self._etcd_ids[lease] = etcd_id
        return int(answer["header"]["revision"])

    def renew(self, lease: str) -> bool:
        etcd_id = self._etcd_id(lease)
        if etcd_id is None:
            return False
        answer = self._gateway.call("/v3/lease/keepalive", {"ID": str(etcd_id)})
        return int(answer.get("result", answer).get("TTL", 0)) > 0

    def revoke(self, lease: str) -> Any:
        etcd_id = self._etcd_id(lease)
        if etcd_id is None:
            return None
        try:
            alive = self._gateway.call("/v3/lease/timetolive",
                                       {"ID": str(etcd_id), "keys": True})
        except _LeaseGone:
            return None
        revision = None
        entry_keys = [key for key in alive.get("keys", ())
                      if _unb64(key).startswith(self._entries_prefix)]
        steps = [entry_keys[start:start + BATCH]
                 for start in range(0, len(entry_keys), BATCH)]
        for step in (*steps, [_b64(self._leases_prefix + lease)]):
            answer = self._gateway.call("/v3/kv/txn", {
                "compare": [],
                "success": [{"request_delete_range": {"key": key}} for key in step],
            })
            revision = int(answer["header"]["revision"])
        with contextlib.suppress(_LeaseGone):
            self._gateway.call("/v3/lease/revoke", {"ID": str(etcd_id)})
        return revision

    # -- entries -------------------------------------------------------------------

    def put(self, lease: str, address: Address, *, name: str,
            bind_address: Address | None, pid: int | None,
            hostname: str | None) -> tuple[Any, bool]:
        etcd_id = self._etcd_id(lease)
        if etcd_id is None:
            raise unknown_lease()
        key = _b64(self._entries_prefix + address_key(address))
        put = {"request_put": {
            "key": key, "lease": str(etcd_id),
            "value": _b64(encode_entry(lease, address, name=name,
                                       bind_address=bind_address, pid=pid,
                                       hostname=hostname))}}
        for _ in range(_TXN_ATTEMPTS):
            try:
                created = self._txn(key, "CREATE", {"create_revision": "0"}, put)
                if created[0]:
                    return created[1], True
                current = created[2]
                if current is None:
                    continue  # deleted meanwhile: try creating again
                if int(current.get("lease", 0)) != etcd_id:
                    raise not_owner(address)
                updated = self._txn(key, "LEASE", {"lease": str(etcd_id)}, put)
                if updated[0]:
                    return updated[1], False
            except _LeaseGone as exc:
                raise unknown_lease() from exc
        raise StoreUnavailableError(
            f"etcd store {self.url}: {address_key(address)} kept changing during "
            f"registration; retry")

    def put_new(self, lease: str, entries: Sequence[dict[str, Any]]) -> Any:
        """One transaction creating every entry, if none exists yet."""
        etcd_id = self._etcd_id(lease)
        if etcd_id is None:
            raise unknown_lease()
        keys = [_b64(self._entries_prefix + address_key(entry["address"]))
                for entry in entries]
        try:
            answer = self._gateway.call("/v3/kv/txn", {
                "compare": [{"target": "CREATE", "key": key, "result": "EQUAL",
                             "create_revision": "0"} for key in keys],
                "success": [{"request_put": {
                    "key": key, "lease": str(etcd_id),
                    "value": _b64(encode_entry(
                        lease, entry["address"], name=entry["name"],
                        bind_address=entry["bind_address"], pid=entry["pid"],
                        hostname=entry["hostname"]))}}
                    for key, entry in zip(keys, entries)],
            })
        except _LeaseGone as exc:
            raise unknown_lease() from exc
        return int(answer["header"]["revision"]) if answer.get("succeeded") else None

    def delete(self, lease: str, address: Address) -> tuple[Any, bool]:
        etcd_id = self._etcd_id(lease)
        key = _b64(self._entries_prefix + address_key(address))
        succeeded, revision, current = self._txn(
            key, "LEASE", {"lease": str(etcd_id or 0)},
            {"request_delete_range": {"key": key}})
        if succeeded:
            return revision, True
        if current is not None:
            raise not_owner(address)
        return None, False

    def announce(self, node: str, record: str, interval: float) -> None:
        """Put this node's record, attached to its own etcd lease (kept alive
        here; granted again when etcd lost it)."""
        etcd_id = self._node_lease
        if etcd_id is not None:
            try:
                answer = self._gateway.call("/v3/lease/keepalive", {"ID": str(etcd_id)})
            except _LeaseGone:
                answer = {}
            if int(answer.get("result", answer).get("TTL", 0)) <= 0:
                etcd_id = None
        if etcd_id is None:
            ttl = max(2, math.ceil(PEER_SILENCE * interval))
            etcd_id = int(self._gateway.call("/v3/lease/grant", {"TTL": ttl})["ID"])
            self._node_lease = etcd_id
        with contextlib.suppress(_LeaseGone):  # expired meanwhile: next time
            self._gateway.call("/v3/kv/put", {
                "key": _b64(self._nodes_prefix + node), "value": _b64(record),
                "lease": str(etcd_id)})

    def withdraw(self, node: str) -> None:
        """Revoke this node's etcd lease: its record goes with it."""
        etcd_id, self._node_lease = self._node_lease, None
        if etcd_id is not None:
            with contextlib.suppress(_LeaseGone):
                self._gateway.call("/v3/lease/revoke", {"ID": str(etcd_id)})

    def sweep(self) -> None:
        """Probe the store; an unreachable one makes the view stale at once."""
        try:
            self._gateway.call("/v3/kv/range", {"key": _b64(self.prefix),
                                                "count_only": True})
        except StoreUnavailableError as exc:
            if self._view is not None:
                self._view.set_current(False, str(exc))
            self._close_stream()  # the watch reconnects, reloading if needed
            raise

    # -- internals -----------------------------------------------------------------

    def _txn(self, key: str, target: str, value: dict[str, str],
             request: dict[str, Any]) -> tuple[bool, Any, dict[str, Any] | None]:
        """Compare ``target`` of ``key``; run ``request`` if equal, else read it.

        Returns ``(succeeded, revision, current kv or None)``.
        """
        answer = self._gateway.call("/v3/kv/txn", {
            "compare": [{"target": target, "key": key, "result": "EQUAL", **value}],
            "success": [request],
            "failure": [{"request_range": {"key": key}}],
        })
        revision = int(answer["header"]["revision"])
        if answer.get("succeeded"):
            return True, revision, None
        kvs = answer["responses"][0]["response_range"].get("kvs", [])
        return False, revision, (kvs[0] if kvs else None)

    def _etcd_id(self, lease: str) -> int | None:
        with self._ids_lock:
            known = self._etcd_ids.get(lease)
        if known is not None:
            return known
        answer = self._gateway.call("/v3/kv/range",
                                    {"key": _b64(self._leases_prefix + lease)})
        kvs = answer.get("kvs", [])
        if not kvs or not int(kvs[0].get("lease", 0)):
            return None
        etcd_id = int(kvs[0]["lease"])
        with self._ids_lock:
            self._etcd_ids[lease] = etcd_id
        return etcd_id

    def _load(self) -> int:
        """Read the whole prefix at one revision into the view; return it."""
        assert self._view is not None
        leases, entries, nodes, ids = [], [], [], {}
        key, revision = _b64(self.prefix), None
        end = _prefix_end(self.prefix)
        while True:
            body = {"key": key, "range_end": end, "limit": _PAGE}
            if revision is not None:
                body["revision"] = revision
            answer = self._gateway.call("/v3/kv/range", body)
            if revision is None:
                revision = int(answer["header"]["revision"])
            kvs = answer.get("kvs", [])
            for kv in kvs:
                change = self._decode(kv, deleted=False)
                if change is None:
                    continue
                if change[0] == "lease":
                    leases.append((change[1], change[2]))
                    ids[change[1]] = int(kv.get("lease", 0))
                elif change[0] == "node":
                    nodes.append((change[1], change[2]))
                else:
                    entries.append((change[1], change[2]))
            if not answer.get("more") or not kvs:
                break
            key = base64.b64encode(base64.b64decode(kvs[-1]["key"]) + b"\0").decode()
        with self._ids_lock:
            self._etcd_ids = ids
        self._view.load(leases, entries, revision, nodes)
        return revision

    def _follow(self, revision: int) -> None:
        """The watch thread: apply changes; after failures, resume or reload."""
        assert self._view is not None
        delay = _RETRY_MIN
        while not self._closed.is_set():
            try:
                revision = self._watch(revision)
                delay = _RETRY_MIN
            except (StoreUnavailableError, StoreConfigError, OSError,
                    http.client.HTTPException, ValueError) as exc:
                if self._closed.is_set():
                    break
                self._view.set_current(False, str(exc))
                self._closed.wait(delay)
                delay = min(_RETRY_MAX, delay * 2)
                continue
            if revision < 0:  # compacted past our position: read everything again
                try:
                    revision = self._load()
                except (StoreUnavailableError, StoreConfigError) as exc:
                    self._view.set_current(False, str(exc))
                    self._closed.wait(delay)
                    revision = -1
                    continue

    def _watch(self, revision: int) -> int:
        """Follow changes after ``revision`` until the stream ends; return the
        last revision seen, or -1 when it must reload."""
        assert self._view is not None
        if revision < 0:
            return -1
        stream = self._gateway.stream("/v3/watch", {"create_request": {
            "key": _b64(self.prefix), "range_end": _prefix_end(self.prefix),
            "start_revision": str(revision + 1), "prev_kv": True}})
        with self._stream_lock:
            if self._closed.is_set():
                stream.close()
                return revision
            self._stream = stream
        try:
            for message in self._messages(stream):
                result = message.get("result")
                if result is None:
                    raise StoreUnavailableError(
                        f"etcd store {self.url}: watch failed: {message.get('error')}")
                if result.get("created"):
                    self._view.set_current(True)
                if result.get("canceled"):
                    if int(result.get("compact_revision", 0)):
                        return -1
                    raise StoreUnavailableError(
                        f"etcd store {self.url}: watch canceled "
                        f"({result.get('cancel_reason', 'no leader')})")
                events = result.get("events")
                if events:
                    revision = self._apply(events)
        finally:
            with self._stream_lock:
                self._stream = None
            stream.close()
        if not self._closed.is_set():
            raise StoreUnavailableError(f"etcd store {self.url}: watch stream ended")
        return revision

    def _messages(self, stream: _Stream) -> Iterator[dict[str, Any]]:
        """The stream's messages until it ends, fails, or the store closes."""
        try:
            yield from stream
        except (OSError, http.client.HTTPException, ValueError):
            if not self._closed.is_set():
                raise

    def _apply(self, events: list[dict[str, Any]]) -> int:
        """Turn watch events into view changes; return the last revision."""
        assert self._view is not None
        ended: dict[int, set[int]] = {}  # revision -> etcd leases whose record went
        for event in events:
            kv = event["kv"]
            if event.get("type") == "DELETE" and _unb64(kv["key"]).startswith(
                    self._leases_prefix):
                previous = event.get("prev_kv") or {}
                ended.setdefault(int(kv["mod_revision"]), set()).add(
                    int(previous.get("lease", 0)))
        changes = []
        revision = 0
        for event in events:
            kv = event["kv"]
            revision = max(revision, int(kv["mod_revision"]))
            deleted = event.get("type") == "DELETE"
            change = self._decode(kv, deleted=deleted)
            if change is None:
                continue
            kind, key, data = change
            reason = None
            if deleted:
                previous = event.get("prev_kv") or {}
                etcd_lease = int(previous.get("lease", 0))
                expired = etcd_lease in ended.get(int(kv["mod_revision"]), ())
                reason = "expired" if expired else "unregistered"
                if kind == "lease":
                    with self._ids_lock:
                        self._etcd_ids.pop(key, None)
            elif kind == "lease":
                with self._ids_lock:
                    self._etcd_ids[key] = int(kv.get("lease", 0))
            changes.append((kind, key, data, reason))
        self._view.apply(changes, revision)
        return revision

    def _decode(self, kv: dict[str, Any], *, deleted: bool) -> tuple[str, Any, Any] | None:
        """``(kind, key, data)`` of a stored key, or ``None`` if it is not ours."""
        assert self._view is not None
        key = _unb64(kv["key"])
        try:
            if key.startswith(self._leases_prefix):
                lease = key[len(self._leases_prefix):]
                return "lease", lease, None if deleted else decode_lease(_unb64(kv["value"]))
            if key.startswith(self._nodes_prefix):
                node = key[len(self._nodes_prefix):]
                return "node", node, None if deleted else decode_node(_unb64(kv["value"]))
            if key.startswith(self._entries_prefix):
                address = parse_address_key(key[len(self._entries_prefix):])
                if deleted:
                    return "entry", address, None
                data = decode_entry(_unb64(kv["value"]))
                if data["address"] != address:
                    raise ValueError("address differs from its key")
                return "entry", address, data
        except (KeyError, ValueError, UnicodeDecodeError) as exc:
            self._view.malformed(key, exc)
        return None

    def _close_stream(self) -> None:
        with self._stream_lock:
            stream = self._stream
        if stream is not None:
            stream.interrupt()


def _explain(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"no answer within {timeout:.3g} s"
    return f"{type(exc).__name__}: {exc}"
