"""The ``redis://`` and ``redis+sentinel://`` stores: Redis or Valkey through redis-py.

URLs: ``redis://[:password@]host:port[/db]`` and
``redis+sentinel://[:password@]host:port[,host:port...]/service`` (the
password is the data nodes'; Sentinel failover is redis-py's).  Install with
``pip install 'uactor[redis]'``.  Redis Cluster is not supported.

Layout, under the key prefix (default ``uactor/registry/``):

``<prefix>leases`` (hash)
    lease id -> lease JSON (TTL, owner pid and host, creation time);
``<prefix>expiry`` (sorted set)
    lease id -> expiry time, in ms of the Redis server's clock (leases with a
    TTL only): clients' and nodes' clocks never matter;
``<prefix>entries`` (hash) and ``<prefix>members:<lease id>`` (sets)
    ``host:port`` -> entry JSON (with its lease id), and each lease's entries;
``<prefix>events`` (stream, trimmed to about :data:`STREAM_LENGTH`)
    every change, which each node reads (``XREAD BLOCK``) to keep its view
    current, and the nodes' announcements (not stored elsewhere: a node
    starting learns its peers from their next ones);
``<prefix>epoch``
    a random value set once: when it changes or vanishes, the keys were wiped
    and the nodes read everything again.

Every write is one Lua script (atomic, ownership checked inside, time taken
from the server).  Expired leases are ended by any node's sweep (a script
that ends at most :data:`SWEEP_BATCH` leases per call), which tells every
node through the stream; a renewal is one script call and is not streamed.
"""
from __future__ import annotations

import contextlib
import logging
import secrets
import threading
import time
from typing import Any

from ._errors import StoreConfigError, StoreUnavailableError
from ._store import (
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

__all__ = ["RedisStore"]

logger = logging.getLogger(__name__)

#: Approximate length the change stream is trimmed to.  A node further
#: behind than this reads everything again.
STREAM_LENGTH = 200_000

#: Leases one sweep script call ends at most (bounds the time Redis is busy).
SWEEP_BATCH = 200

#: How long one XREAD blocks waiting for changes (ms).
_BLOCK_MS = 1000

#: Changes read per XREAD.
_READ_COUNT = 1000

_RETRY_MIN, _RETRY_MAX = 0.05, 1.0

_LUA_COMMON = """
local P, MAXLEN = ARGV[1], ARGV[2]
local LEASES, EXPIRY, ENTRIES, EVENTS = P..'leases', P..'expiry', P..'entries', P..'events'
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function live(id, now)
  if redis.call('HEXISTS', LEASES, id) == 0 then return false end
  local at = redis.call('ZSCORE', EXPIRY, id)
  return (not at) or tonumber(at) > now
end
local function emit(kind, key, value, why)
  return redis.call('XADD', EVENTS, 'MAXLEN', '~', MAXLEN, '*',
                    'k', kind, 'id', key, 'v', value, 'why', why)
end
local function end_lease(id, why)
  local members = P..'members:'..id
  for _, addr in ipairs(redis.call('SMEMBERS', members)) do
    local current = redis.call('HGET', ENTRIES, addr)
    if current and cjson.decode(current)['lease'] == id then
      redis.call('HDEL', ENTRIES, addr)
      emit('entry', addr, '', why)
    end
  end
  redis.call('DEL', members)
  redis.call('HDEL', LEASES, id)
  redis.call('ZREM', EXPIRY, id)
  return emit('lease', id, '', why)
end
"""

_GRANT = _LUA_COMMON + """
local id, record, ttl_ms = ARGV[3], ARGV[4], ARGV[5]
if redis.call('HSETNX', LEASES, id, record) == 0 then return {'exists'} end
if ttl_ms ~= '' then redis.call('ZADD', EXPIRY, now_ms() + tonumber(ttl_ms), id) end
return {'ok', emit('lease', id, record, '')}
"""

_RENEW = _LUA_COMMON + """
local id = ARGV[3]
local now = now_ms()
if not live(id, now) then return 0 end
local ttl = cjson.decode(redis.call('HGET', LEASES, id))['ttl']
if ttl ~= cjson.null then
  redis.call('ZADD', EXPIRY, now + math.floor(ttl * 1000), id)
end
return 1
"""

_PUT = _LUA_COMMON + """
local id, addr, record = ARGV[3], ARGV[4], ARGV[5]
local now = now_ms()
if not live(id, now) then return {'nolease'} end
local created = 1
local current = redis.call('HGET', ENTRIES, addr)
if current then
  local owner = cjson.decode(current)['lease']
  if owner == id then
    created = 0
  elseif live(owner, now) then
    return {'notowner'}
  else
    redis.call('SREM', P..'members:'..owner, addr)
  end
end
redis.call('HSET', ENTRIES, addr, record)
redis.call('SADD', P..'members:'..id, addr)
return {'ok', emit('entry', addr, record, ''), created}
"""

_DELETE = _LUA_COMMON + """
local id, addr = ARGV[3], ARGV[4]
local current = redis.call('HGET', ENTRIES, addr)
if not current then return {'absent'} end
local owner = cjson.decode(current)['lease']
if owner ~= id then
  if live(owner, now_ms()) then return {'notowner'} end
  return {'absent'}
end
redis.call('HDEL', ENTRIES, addr)
redis.call('SREM', P..'members:'..id, addr)
return {'ok', emit('entry', addr, '', 'unregistered')}
"""

_REVOKE = _LUA_COMMON + """
local id = ARGV[3]
if redis.call('HEXISTS', LEASES, id) == 0 then return {'absent'} end
return {'ok', end_lease(id, 'unregistered')}
"""

_SWEEP = _LUA_COMMON + """
local ids = redis.call('ZRANGEBYSCORE', EXPIRY, '-inf', now_ms(), 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do end_lease(id, 'expired') end
return #ids
"""


def _stream_id(text: Any) -> tuple[int, int]:
    """A stream id (``b'ms-seq'``) as a comparable tuple."""
    if isinstance(text, bytes):
        text = text.decode()
    ms, _, seq = str(text).partition("-")
    return int(ms), int(seq or 0)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisStore(Store):
    """Leases and entries in Redis (``redis://``, ``redis+sentinel://``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        try:
            import redis
        except ImportError as exc:
            raise StoreConfigError(
                f"store {self.url} needs the redis package; install it with "
                f"pip install 'uactor[redis]'") from exc
        self._redis = redis
        self._client = self._make_client(self.timeout)
        #: The watch blocks in XREAD: its socket must wait longer than that.
        self._watch_client = self._make_client(self.timeout + _BLOCK_MS / 1000)
        self._scripts = {name: self._client.register_script(source) for name, source in (
            ("grant", _GRANT), ("renew", _RENEW), ("put", _PUT), ("delete", _DELETE),
            ("revoke", _REVOKE), ("sweep", _SWEEP))}
        self._view: StoreView | None = None
        self._epoch: bytes | None = None
        self._last_id = "0-0"
        self._closed = threading.Event()
        self._follower: threading.Thread | None = None

    def _make_client(self, timeout: float) -> Any:
        parsed = self._parsed
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # No retries of redis-py's own: each operation has one bound, ours.
        common: dict[str, Any] = {
            "socket_timeout": timeout, "socket_connect_timeout": timeout,
            "password": parsed.password, "username": parsed.username,
            "retry": Retry(NoBackoff(), 0)}
        if parsed.scheme == "redis":
            (host, port), = parsed.hosts
            return self._redis.Redis(host=host, port=port, db=int(parsed.path or 0),
                                     **common)
        from redis.sentinel import Sentinel

        sentinel = Sentinel(list(parsed.hosts), socket_timeout=timeout,
                            socket_connect_timeout=timeout)
        return sentinel.master_for(parsed.path, **common)

    # -- lifecycle -------------------------------------------------------------------

    def open(self, view: StoreView) -> None:
        self._view = view
        self._call(self._load)
        self._follower = threading.Thread(target=self._follow, name="registry-redis-watch",
                                          daemon=True)
        self._follower.start()

    def close(self) -> None:
        self._closed.set()
        if self._follower is not None:
            self._follower.join(self.timeout + _BLOCK_MS / 1000 + 5)
        for client in (self._client, self._watch_client):
            with contextlib.suppress(self._redis.RedisError):
                client.close()

    # -- writes ---------------------------------------------------------------------

    def grant(self, lease: str, ttl: float | None, owner_pid: int | None,
              owner_host: str | None) -> Any:
        record = encode_lease(ttl, owner_pid, owner_host, time.time())
        ttl_ms = "" if ttl is None else str(max(1, round(ttl * 1000)))
        answer = self._run("grant", lease, record, ttl_ms)
        if _text(answer[0]) != "ok":
            return None  # a retried call that had already succeeded
        return _stream_id(answer[1])

    def renew(self, lease: str) -> bool:
        return bool(self._run("renew", lease))

    def revoke(self, lease: str) -> Any:
        answer = self._run("revoke", lease)
        return _stream_id(answer[1]) if _text(answer[0]) == "ok" else None

    def put(self, lease: str, address: Address, *, name: str,
            bind_address: Address | None, pid: int | None,
            hostname: str | None) -> tuple[Any, bool]:
        record = encode_entry(lease, address, name=name, bind_address=bind_address,
                              pid=pid, hostname=hostname)
        answer = self._run("put", lease, address_key(address), record)
        status = _text(answer[0])
        if status == "nolease":
            raise unknown_lease()
        if status == "notowner":
            raise not_owner(address)
        return _stream_id(answer[1]), bool(int(answer[2]))

    def delete(self, lease: str, address: Address) -> tuple[Any, bool]:
        answer = self._run("delete", lease, address_key(address))
        status = _text(answer[0])
        if status == "notowner":
            raise not_owner(address)
        if status == "absent":
            return None, False
        return _stream_id(answer[1]), True

    def announce(self, node: str, record: str, interval: float) -> None:
        self._emit_node(node, record)

    def withdraw(self, node: str) -> None:
        self._emit_node(node, "")

    def _emit_node(self, node: str, record: str) -> None:
        self._call(self._client.xadd, f"{self.prefix}events",
                   {"k": "node", "id": node, "v": record, "why": ""},
                   maxlen=STREAM_LENGTH, approximate=True)

    def sweep(self) -> None:
        try:
            while int(self._run("sweep", SWEEP_BATCH)) >= SWEEP_BATCH:
                pass
        except StoreUnavailableError as exc:
            if self._view is not None:
                self._view.set_current(False, str(exc))
            raise

    # -- internals ------------------------------------------------------------------

    def _run(self, script: str, *args: Any) -> Any:
        """Run one of the scripts with the prefix and stream length first."""
        return self._call(self._scripts[script], args=[self.prefix, STREAM_LENGTH, *args])

    def _call(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        """Call ``function``, retrying a dropped connection once (failover),
        with redis-py's errors translated."""
        redis = self._redis
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                return function(*args, **kwargs)
            except (redis.AuthenticationError, redis.exceptions.NoPermissionError) as exc:
                raise StoreConfigError(
                    f"redis store {self.url} rejected the credentials ({exc}); put the "
                    f"right password in the store URL (redis://:PASSWORD@HOST:PORT)"
                ) from exc
            except (redis.ConnectionError, redis.TimeoutError,
                    redis.exceptions.ReadOnlyError, redis.exceptions.BusyLoadingError) as exc:
                if time.monotonic() + 0.1 < deadline:
                    time.sleep(0.1)
                    continue
                raise StoreUnavailableError(
                    f"redis store {self.url} is unreachable ({exc}); check that Redis "
                    f"runs and listens there") from exc
            except redis.ResponseError as exc:
                text = str(exc)
                if "WRONGPASS" in text or "NOAUTH" in text:
                    raise StoreConfigError(
                        f"redis store {self.url} rejected the credentials ({text}); put "
                        f"the right password in the store URL") from exc
                raise StoreUnavailableError(f"redis store {self.url} failed: {text}") from exc

    def _load(self) -> None:
        """Read everything at once into the view; remember the stream position."""
        assert self._view is not None
        client, prefix = self._client, self.prefix
        client.set(f"{prefix}epoch", secrets.token_hex(16), nx=True)
        with client.pipeline(transaction=True) as pipe:
            pipe.get(f"{prefix}epoch")
            pipe.hgetall(f"{prefix}leases")
            pipe.hgetall(f"{prefix}entries")
            pipe.xrevrange(f"{prefix}events", "+", "-", count=1)
            epoch, leases, entries, last = pipe.execute()
        view = self._view
        loaded_leases = []
        for key, value in leases.items():
            try:
                loaded_leases.append((_text(key), decode_lease(value)))
            except ValueError as exc:
                view.malformed(f"{prefix}leases {_text(key)}", exc)
        loaded_entries = []
        for key, value in entries.items():
            try:
                address = parse_address_key(_text(key))
                data = decode_entry(value)
            except ValueError as exc:
                view.malformed(f"{prefix}entries {_text(key)}", exc)
                continue
            loaded_entries.append((address, data))
        self._epoch = epoch
        self._last_id = _text(last[0][0]) if last else "0-0"
        view.load(loaded_leases, loaded_entries, _stream_id(self._last_id))

    def _follow(self) -> None:
        """The watch thread: read the change stream; reload after a wipe or gap."""
        assert self._view is not None
        delay = _RETRY_MIN
        reload = False
        while not self._closed.is_set():
            try:
                if reload:
                    self._load()
                    reload = False
                reload = self._read_changes()
                self._view.set_current(True)
                delay = _RETRY_MIN
            except (self._redis.RedisError, StoreUnavailableError, OSError) as exc:
                if self._closed.is_set():
                    break
                self._view.set_current(False, str(exc))
                self._closed.wait(delay)
                delay = min(_RETRY_MAX, delay * 2)
                reload = True  # changes may have been trimmed or wiped meanwhile

    def _read_changes(self) -> bool:
        """One read of the stream; return whether the view must be reloaded."""
        assert self._view is not None
        client, prefix = self._watch_client, self.prefix
        events_key = f"{prefix}events"
        with client.pipeline(transaction=False) as pipe:
            pipe.get(f"{prefix}epoch")
            pipe.xrange(events_key, "-", "+", count=1)
            epoch, first = pipe.execute()
        if epoch != self._epoch:
            logger.warning("store %s: the registry's keys were wiped or replaced; "
                           "reading them again", self.url)
            return True
        if first and self._last_id != "0-0" and \
                _stream_id(first[0][0]) > _stream_id(self._last_id):
            return True  # entries we never read were trimmed
        answer = client.xread({events_key: self._last_id}, count=_READ_COUNT,
                              block=_BLOCK_MS)
        if not answer:
            return False
        (_, messages), = answer
        changes = []
        for message_id, fields in messages:
            self._last_id = _text(message_id)
            change = self._decode(fields)
            if change is not None:
                changes.append(change)
        self._view.apply(changes, _stream_id(self._last_id))
        return False

    def _decode(self, fields: dict[Any, Any]) -> tuple[Any, ...] | None:
        assert self._view is not None
        kind, key = _text(fields.get(b"k", b"")), _text(fields.get(b"id", b""))
        value, why = fields.get(b"v", b""), _text(fields.get(b"why", b"")) or None
        try:
            if kind == "lease":
                return "lease", key, decode_lease(value) if value else None, why
            if kind == "entry":
                address = parse_address_key(key)
                return "entry", address, decode_entry(value) if value else None, why
            if kind == "node":
                return "node", key, decode_node(value) if value else None, why
        except ValueError as exc:
            self._view.malformed(f"{self.prefix}events {key}", exc)
        return None
