"""uActor: a process actor model for Python, on the standard library alone.

Classes inherit :class:`Actor`; instantiating one starts a dedicated process
hosting the real object and returns a proxy to it.  Calls on the proxy are
messages sent over :mod:`multiprocessing.managers` connections, so actors use
every core, and, given an address and an authkey, every machine (over TLS
with :class:`ssl.SSLContext` options).

This module is a single file with no dependency outside the standard library:
it can be vendored.  Everything multiprocessing does differently here is scoped
to uactor's own managers, servers and proxies; nothing in the standard library
is patched.

Thread affinity: proxies may be shared between threads (each thread uses its
own connection to each actor); managers and owner proxies should be shut down
from one thread at a time.
"""
from __future__ import annotations

__all__ = [
    "Actor",
    "ActorConnectionError",
    "ActorDeadError",
    "ActorManager",
    "ActorProxy",
    "AuthKeyError",
    "AuthkeyError",
    "BaseProxy",
    "CallTimeoutError",
    "DEFAULT_SERIALIZER",
    "NotExposedError",
    "NotHeldError",
    "ProxyError",
    "UActorException",
    "actor_class",
    "authkey",
    "call_timeout",
    "current_address",
    "deadline",
    "discard_closed_connection",
    "process",
    "proxy",
    "remote_traceback",
    "serializer",
    "set_call_timeout",
    "start",
    "typeid",
]

import contextlib
import functools
import io
import itertools
import logging
import multiprocessing
import multiprocessing.connection as mp_connection
import multiprocessing.managers as mp_managers
import multiprocessing.pool as mp_pool
import multiprocessing.process as mp_process
import multiprocessing.reduction as mp_reduction
import multiprocessing.util as mp_util
import os
import pickle
import queue
import select
import socket
import struct
import sys
import threading
import time
import traceback
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any, Callable, TypeVar, Union

if _TYPE_CHECKING:  # imported where TLS is used: it adds ~10 ms to every import
    import ssl

    from typing_extensions import Self  # typing.Self from Python 3.11

__version__ = "0.2.0.dev0"

_logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------

#: Default ``multiprocessing.managers`` serializer name for uactor.
DEFAULT_SERIALIZER = "pickle"

#: Bytes from which a buffer (numpy array, PickleBuffer) travels out of band:
#: below it the extra frame costs more than the copy it saves.
_OUT_OF_BAND_MIN = 64 * 1024

#: Seconds a TCP/unix connect may take before the address is reported
#: unreachable (a blackholed host would otherwise block for minutes).
_CONNECT_TIMEOUT = 10.0

#: Seconds either side may take to complete the authkey handshake; bounds
#: what a silent or garbage-speaking peer can hold a thread for.
_HANDSHAKE_TIMEOUT = 10.0

#: Seconds granted to a handshake step whose share of the handshake timeout
#: is used up: a positive socket timeout (zero would mean non-blocking).
_HANDSHAKE_FLOOR = 0.001

#: Message size up to which a TLS frame's header and payload are sent in one
#: write (multiprocessing's own threshold): one TLS record, one segment.
_TLS_COALESCE_MAX = 16384

#: Connections an actor's listening socket queues before accepting them.
_BACKLOG = socket.SOMAXCONN

#: Seconds the accepter waits after a failed accept (no descriptors left).
_ACCEPT_RETRY = 0.05

#: Seconds given to a just-killed actor process to be reaped before a failed
#: connection to it is reported as a connection error rather than a death.
_REAP_GRACE = 0.1

#: Seconds between the reaper's looks for newly released actor processes.
_REAP_POLL = 0.5

#: Undecodable requests in a row after which a connection is closed.
_MAX_BAD_REQUESTS = 3

#: Seconds a new actor process may take to report its address.
_START_TIMEOUT = 60.0

#: Seconds an actor is given to exit after being asked to, before it is
#: terminated (SIGTERM), and then again before it is killed (SIGKILL).
_STOP_TIMEOUT = 5.0

#: Seconds a background reference release (decref) may take; these run from
#: garbage collection and at exit, so they must never block for long.
_RELEASE_TIMEOUT = 2.0

_Address = Union[tuple[str, int], str, bytes, int]
_TActor = TypeVar("_TActor", bound="Actor")

# --------------------------------------------------------------------------
# Exceptions
# --------------------------------------------------------------------------


class UActorException(Exception):
    """Base exception for uactor module."""


class ProxyError(UActorException):
    """Exception for errors on proxy logic."""


class AuthkeyError(ProxyError):
    """Exception raised when connecting to proxy with invalid authkey."""


#: The spelling used by the proxy forwarding examples; the same class.
AuthKeyError = AuthkeyError


class ActorConnectionError(ProxyError, ConnectionError):
    """An actor could not be reached: nothing listening, refused, unreachable."""


class ActorDeadError(ActorConnectionError):
    """The actor process is gone, or its connection broke during a call."""


class NotHeldError(ProxyError):
    """The actor does not hold the object a proxy refers to.

    The proxy outlived its object, or a new actor process took the old
    address.  Nothing was run: a call that failed with it can safely be made
    again through a fresh proxy.
    """


class NotExposedError(ProxyError, AttributeError):
    """The actor does not expose the method or attribute a proxy asked for.

    Raised by the actor server before running anything; also an
    :class:`AttributeError`.
    """


class CallTimeoutError(UActorException, TimeoutError):
    """A call did not complete before its deadline.

    The connection it used is discarded, so a late reply can never be taken
    for the answer to a later call.
    """


class _RemoteTraceback(Exception):
    """Carries the traceback text of an exception raised in an actor process."""

    def __str__(self) -> str:
        return str(self.args[0])


# --------------------------------------------------------------------------
# Private helpers: addresses, connections, requests
# --------------------------------------------------------------------------


def _describe(address: Any) -> str:
    """Human form of an address for messages: ``host:port`` or the path."""
    if isinstance(address, tuple) and len(address) == 2:
        return f"{address[0]}:{address[1]}"
    return repr(address)


def _normalize_address(address: Any) -> _Address:
    """Validate an address and return it in the form tokens carry.

    Accepts ``(host, port)`` (list or tuple, from xmlrpc or JSON too) and unix
    socket paths.  Raises ``TypeError``/``ValueError`` naming the bad value.
    """
    if isinstance(address, (tuple, list)):
        if len(address) != 2:
            raise ValueError(f"address {address!r} must be a (host, port) pair")
        host, port = address
        if not isinstance(host, str):
            raise TypeError(f"host in address {address!r} must be a str")
        if isinstance(port, bool) or not isinstance(port, int):
            raise TypeError(f"port in address {address!r} must be an int")
        if not 0 <= port <= 65535:
            raise ValueError(f"port in address {address!r} must be in 0..65535")
        return (host, port)
    if isinstance(address, str) and address:
        return address
    if isinstance(address, bytes) and address:
        return os.fsdecode(address)
    raise TypeError(
        f"address {address!r} must be a (host, port) tuple or a socket path"
    )


#: Characters of a bad value quoted in an error message at most.
_QUOTE_MAX = 200


def _shorten(value: Any) -> str:
    """``repr(value)`` cut to :data:`_QUOTE_MAX` characters, for messages."""
    text = repr(value)
    if len(text) <= _QUOTE_MAX:
        return text
    return f"{text[:_QUOTE_MAX]}... ({len(text):,} characters)"


def _check_authkey(authkey: Any) -> bytes:
    if not isinstance(authkey, (bytes, bytearray)):
        raise TypeError(
            f"authkey must be bytes, not {type(authkey).__name__}; "
            "pass it as b'...'"
        )
    return bytes(authkey)


def _check_serializer(serializer: Any) -> str:
    if serializer not in mp_managers.listener_client:
        raise ValueError(
            f"serializer {serializer!r} is unknown; "
            f"use one of {sorted(mp_managers.listener_client)}"
        )
    return serializer


def _check_timeout(timeout: Any, name: str = "timeout") -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"{name} must be a number of seconds or None")
    if timeout <= 0:
        raise ValueError(f"{name} must be positive, not {timeout!r}")
    return float(timeout)


def _set_socket_timeout(fileno: int, seconds: float) -> None:
    """Bound blocking reads and writes on a socket at the kernel level.

    multiprocessing connections use plain blocking ``os.read``/``os.write`` on
    the descriptor, so Python socket timeouts (which make the descriptor
    non-blocking) cannot be used; ``SO_RCVTIMEO``/``SO_SNDTIMEO`` can.  Zero
    seconds removes the bound.
    """
    sec = int(seconds)
    value = struct.pack("ll", sec, int((seconds - sec) * 1e6))
    sock = socket.socket(fileno=fileno)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)
    finally:
        sock.detach()


def _xml_dumps(obj: Any) -> bytes:
    import xmlrpc.client  # only for this serializer: it costs ~20 ms to import

    return xmlrpc.client.dumps((obj,), None, None, None, 1).encode("utf-8")


def _xml_loads(data: bytes) -> Any:
    import xmlrpc.client

    (obj,), _ = xmlrpc.client.loads(data.decode("utf-8"))
    return obj


_ForkingPickler = mp_reduction.ForkingPickler


class _OutOfBand(tuple):
    """Frame announcing a message whose large buffers follow as raw bytes."""

    __slots__ = ()


def _write_all(fd: int, view: memoryview) -> None:
    while view:
        view = view[os.write(fd, view):]


def _read_exactly(fd: int, size: int) -> bytearray:
    buffer = bytearray(size)
    view = memoryview(buffer)
    while view:
        count = os.readv(fd, [view])
        if not count:
            raise EOFError("connection closed in the middle of a buffer")
        view = view[count:]
    return buffer


class _Pickle5Connection:
    """A uactor connection: pickle protocol 5 with out-of-band buffers.

    Objects that export buffers of at least :data:`_OUT_OF_BAND_MIN` bytes
    (numpy arrays, ``pickle.PickleBuffer``) travel as raw bytes written
    straight from their memory and read straight into the receiver's,
    instead of being copied into and out of the pickle (PEP 574).  Messages
    without such buffers are ordinary multiprocessing frames, so the format
    stays compatible; only uactor's own clients and servers use it.

    The raw buffers go through :meth:`_write_raw` and :meth:`_read_raw`:
    straight to the descriptor here, through TLS in a subclass.
    """

    __slots__ = ("_conn", "_fd", "_buffers", "_send_frame", "_recv_frame", "_poll",
                 "fileno", "close", "send_bytes", "recv_bytes")

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self._buffers: list = []
        self._fd = conn.fileno()
        self.fileno = conn.fileno
        # No bound method of self is kept: a cycle would leave the socket of a
        # finished thread open until the cyclic garbage collector runs.
        self._poll = None if type(conn) is mp_connection.Connection else conn.poll
        self.close = conn.close
        self.send_bytes = conn.send_bytes
        self.recv_bytes = conn.recv_bytes
        self._send_frame, self._recv_frame = _frame_methods(conn)

    def poll(self, timeout: float | None = 0.0) -> bool:
        """``Connection.poll``, without building a selector per call (deadlines)."""
        if self._poll is not None:
            return bool(self._poll(timeout))
        return bool(select.select((self._fd,), (), (), timeout)[0])

    @property
    def closed(self) -> bool:
        return self._conn.closed

    def _keep_out_of_band(self, buffer: pickle.PickleBuffer) -> bool:
        """``buffer_callback``: large buffers out of band, small ones inline."""
        if buffer.raw().nbytes < _OUT_OF_BAND_MIN:
            return True
        self._buffers.append(buffer)
        return False

    def send(self, obj: Any) -> None:
        stream = io.BytesIO()
        # ForkingPickler passes arguments on positionally: (file, protocol,
        # fix_imports, buffer_callback)
        _ForkingPickler(stream, 5, True, self._keep_out_of_band).dump(obj)
        if not self._buffers:
            self._send_frame(stream.getbuffer())
            return
        buffers, self._buffers = self._buffers, []
        views = [buffer.raw() for buffer in buffers]
        self.send_bytes(pickle.dumps(_OutOfBand(view.nbytes for view in views)))
        self.send_bytes(stream.getbuffer())
        for view in views:
            self._write_raw(view)

    def recv(self) -> Any:
        obj = _ForkingPickler.loads(self._recv_frame())
        if type(obj) is not _OutOfBand:
            return obj
        data = self.recv_bytes()
        return _ForkingPickler.loads(
            data, buffers=[self._read_raw(size) for size in obj])

    def _write_raw(self, view: memoryview) -> None:
        _write_all(self._fd, view)

    def _read_raw(self, size: int) -> bytearray:
        return _read_exactly(self._fd, size)


class _TLSConnection:
    """multiprocessing's message framing over an :class:`ssl.SSLSocket`.

    multiprocessing's ``Connection`` reads and writes its descriptor directly,
    which would bypass TLS; this class frames messages the same way (a 4-byte
    big-endian signed length, or -1 then an 8-byte length for huge messages)
    through the socket's own methods.  Used by one thread at a time, like any
    connection.
    """

    __slots__ = ("_sock",)

    def __init__(self, sock: ssl.SSLSocket) -> None:
        self._sock: ssl.SSLSocket | None = sock

    @property
    def closed(self) -> bool:
        return self._sock is None

    def _socket(self) -> ssl.SSLSocket:
        sock = self._sock
        if sock is None:
            raise OSError("handle is closed")
        return sock

    def fileno(self) -> int:
        return self._socket().fileno()

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def settimeout(self, seconds: float | None) -> None:
        self._socket().settimeout(seconds)

    def send_bytes(self, buf: Any, offset: int = 0, size: int | None = None) -> None:
        view = memoryview(buf)
        if view.itemsize > 1:
            view = view.cast("B")
        if offset or size is not None:
            view = view[offset:] if size is None else view[offset:offset + size]
        length = view.nbytes
        sendall = self._socket().sendall
        if length > 0x7FFFFFFF:
            sendall(struct.pack("!iQ", -1, length))
            sendall(view)
        elif length > _TLS_COALESCE_MAX:
            sendall(struct.pack("!i", length))
            sendall(view)
        else:
            sendall(struct.pack("!i", length) + view)

    def recv_bytes(self, maxlength: int | None = None) -> bytes:
        (size,) = struct.unpack("!i", self.recv_exactly(4))
        if size == -1:
            (size,) = struct.unpack("!Q", self.recv_exactly(8))
        if maxlength is not None and size > maxlength:
            self.close()
            raise OSError("bad message length")
        return bytes(self.recv_exactly(size))

    def send(self, obj: Any) -> None:
        self.send_bytes(_ForkingPickler.dumps(obj))

    def recv(self) -> Any:
        return _ForkingPickler.loads(self.recv_bytes())

    def poll(self, timeout: float | None = 0.0) -> bool:
        """Whether a message is ready within ``timeout`` seconds (``None``: wait)."""
        sock = self._socket()
        if sock.pending():  # decrypted already: the descriptor may stay silent
            return True
        return bool(mp_connection.wait([sock], timeout))

    def sendall(self, view: memoryview) -> None:
        self._socket().sendall(view)

    def recv_exactly(self, size: int) -> bytearray:
        buffer = bytearray(size)
        view = memoryview(buffer)
        recv_into = self._socket().recv_into
        while view:
            count = recv_into(view)
            if not count:
                raise EOFError("connection closed in the middle of a message")
            view = view[count:]
        return buffer


def _frame_methods(conn: Any) -> tuple:
    """Send and receive one frame, skipping the public methods' per-call work.

    multiprocessing's public ``send_bytes``/``recv_bytes`` re-check their
    arguments and copy every received message; for its own ``Connection``
    uactor calls the framing underneath, which its ``send``/``recv`` use too.
    """
    if type(conn) is not mp_connection.Connection:
        return conn.send_bytes, conn.recv_bytes
    receive = conn._recv_bytes

    def recv_frame() -> memoryview:
        return receive().getbuffer()

    return conn._send_bytes, recv_frame


class _TLSPickle5Connection(_Pickle5Connection):
    """:class:`_Pickle5Connection` whose raw buffers go through TLS."""

    __slots__ = ()

    def _write_raw(self, view: memoryview) -> None:
        self._conn.sendall(view)

    def _read_raw(self, size: int) -> bytearray:
        return self._conn.recv_exactly(size)


def _wrap_connection(conn: Any, serializer: str) -> Any:
    """Give a raw connection the message format of ``serializer``."""
    if serializer == "xmlrpclib":
        return mp_connection.ConnectionWrapper(conn, _xml_dumps, _xml_loads)
    if type(conn) is _TLSConnection:
        return _TLSPickle5Connection(conn)
    return _Pickle5Connection(conn)


#: Dialled address -> the ``ssl.SSLContext`` this process reaches it with:
#: every connection uactor opens to that address is TLS.  Set by
#: :meth:`ActorManager.start` (``ssl_client``) and :meth:`ActorManager.connect`
#: (:meth:`Actor.connect`'s ``ssl``); proxies rebuilt through :data:`_routes`
#: dial the route's address, so they find it too.
_ssl_clients: dict = {}


def _set_ssl_client(address: _Address, context: ssl.SSLContext | None) -> None:
    if context is None:
        _ssl_clients.pop(address, None)
    else:
        _ssl_clients[address] = context


def _speaks_tls(address: _Address) -> bool:
    """Whether this process knows the actor at ``address`` to require TLS."""
    if address in _ssl_clients:
        return True
    server = _current_server
    return (server is not None and server.ssl_context is not None
            and address == server.address)


def _check_ssl_client(context: Any) -> ssl.SSLContext | None:
    if context is None:
        return None
    import ssl

    if not isinstance(context, ssl.SSLContext):
        raise TypeError(
            f"ssl_client {context!r} must be an ssl.SSLContext, such as "
            "ssl.create_default_context(cafile=...)")
    if context.protocol == ssl.PROTOCOL_TLS_SERVER:
        raise ValueError(
            "ssl_client is a server-side context (PROTOCOL_TLS_SERVER); create it "
            "with ssl.create_default_context(cafile=...) or "
            "ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)")
    return context


def _check_ssl_server(context: Any) -> Any:
    """``ssl_server`` option: a server-side SSLContext or a callable making one."""
    if context is None or callable(context):
        return context
    import ssl

    if not isinstance(context, ssl.SSLContext):
        raise TypeError(
            f"ssl_server {context!r} must be an ssl.SSLContext, or a zero-argument "
            "callable returning one")
    if context.protocol == ssl.PROTOCOL_TLS_CLIENT:
        raise ValueError(
            "ssl_server is a client-side context (PROTOCOL_TLS_CLIENT); create it "
            "with ssl.create_default_context(ssl.Purpose.CLIENT_AUTH) or "
            "ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), and load its certificate")
    return context


def _server_context(option: Any) -> ssl.SSLContext | None:
    """The actor's SSLContext from its ``ssl_server`` option (calling a factory)."""
    if option is None:
        return None
    if callable(option):
        context = option()
        import ssl

        if not isinstance(context, ssl.SSLContext):
            raise TypeError(
                f"ssl_server factory {option!r} returned {context!r}, "
                "not an ssl.SSLContext")
        option = context
    return _check_ssl_server(option)


def _tls_error(where: str, exc: BaseException) -> ActorConnectionError:
    """The uactor error for a TLS connection to ``where`` that failed with ``exc``."""
    import ssl

    if isinstance(exc, ssl.SSLCertVerificationError):
        return ActorConnectionError(
            f"the TLS certificate of {where} failed verification "
            f"({exc.verify_message}); give the client context the CA that signed "
            "it (load_verify_locations) and connect with a host name or IP "
            "address the certificate names")
    reason = getattr(exc, "reason", None) or ""
    if "CERTIFICATE_REQUIRED" in reason:
        return ActorConnectionError(
            f"{where} requires a client certificate; load one into the client "
            "context (context.load_cert_chain(certfile, keyfile))")
    if "ALERT" in reason:
        return ActorConnectionError(
            f"{where} refused the TLS connection ({reason}); it did not accept "
            "this process's client certificate or TLS settings: use a certificate "
            "signed by a CA the actor trusts")
    if isinstance(exc, ssl.SSLError):
        return ActorConnectionError(
            f"{where} did not answer as a TLS server ({reason or exc}); it is a "
            "plain actor (connect without ssl) or its TLS settings do not match "
            "this process's client context")
    return ActorConnectionError(
        f"{where} did not complete the TLS and authkey handshakes ({exc!r}); it "
        "is not a TLS actor, is overloaded, or rejected this process's client "
        "certificate")


def _tls_connect(sock: socket.socket, address: _Address, context: ssl.SSLContext,
                 timeout: float) -> _TLSConnection:
    """Client side: the TLS handshake, leaving the rest of ``timeout`` for the
    authkey handshake.  Failures become uactor errors naming the address."""
    give_up = _monotonic() + timeout
    host = address[0] if isinstance(address, tuple) else None
    try:
        sock.settimeout(timeout)
        tls = context.wrap_socket(sock, server_hostname=host)
    except OSError as exc:  # ssl.SSLError included
        sock.close()
        raise _tls_error(_describe(address), exc) from exc
    except BaseException:
        sock.close()
        raise
    tls.settimeout(max(give_up - _monotonic(), _HANDSHAKE_FLOOR))
    return _TLSConnection(tls)


def _tls_accept(conn: Any, context: ssl.SSLContext) -> _TLSConnection:
    """Server side: take over an accepted connection and run the TLS handshake.

    Bounded by :data:`_HANDSHAKE_TIMEOUT`, whose rest is left for the authkey
    handshake.
    """
    give_up = _monotonic() + _HANDSHAKE_TIMEOUT
    sock = socket.socket(fileno=os.dup(conn.fileno()))
    conn.close()
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(_HANDSHAKE_TIMEOUT)
        tls = context.wrap_socket(sock, server_side=True)
    except BaseException:
        sock.close()
        raise
    tls.settimeout(max(give_up - _monotonic(), _HANDSHAKE_FLOOR))
    return _TLSConnection(tls)


def _open_socket(address: _Address, timeout: float) -> socket.socket:
    if isinstance(address, tuple):
        sock = socket.create_connection(address, timeout=timeout)
        # Small request/reply messages: Nagle plus delayed ACKs cost ~40 ms each.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.settimeout(timeout)
        sock.connect(address)
    except BaseException:
        sock.close()
        raise
    return sock


def _connect(
    address: _Address,
    authkey: bytes,
    serializer: str = DEFAULT_SERIALIZER,
    timeout: float | None = None,
) -> Any:
    """Open an authenticated connection to an actor server.

    Over TLS when :data:`_ssl_clients` has a context for ``address``: the
    authkey handshake then runs inside TLS.  Every lower-level failure is
    translated here, once, into a uactor error naming the address and what to
    do about it.
    """
    timeout = _CONNECT_TIMEOUT if timeout is None else timeout
    where = _describe(address)
    try:
        sock = _open_socket(address, timeout)
    except (socket.timeout, TimeoutError) as exc:
        raise ActorConnectionError(
            f"cannot connect to actor at {where}: no answer within {timeout:g} s; "
            "check the address and that no firewall drops the traffic"
        ) from exc
    except OSError as exc:
        raise ActorConnectionError(
            f"cannot connect to actor at {where}: {exc.strerror or exc}; "
            "is the actor running and listening there?"
        ) from exc
    context = _ssl_clients.get(address)
    if context is not None:
        conn: Any = _tls_connect(sock, address, context, min(timeout, _HANDSHAKE_TIMEOUT))
    else:
        sock.settimeout(None)
        fileno = sock.fileno()
        _set_socket_timeout(fileno, min(timeout, _HANDSHAKE_TIMEOUT))
        conn = mp_connection.Connection(sock.detach())
    try:
        mp_connection.answer_challenge(conn, authkey)
        mp_connection.deliver_challenge(conn, authkey)
    except mp_connection.AuthenticationError as exc:
        conn.close()
        raise AuthkeyError(
            f"authkey for {where} was rejected; connect with the key the actor "
            "was started with (Actor.connect(address, authkey))"
        ) from exc
    except (OSError, EOFError, AssertionError, ValueError) as exc:
        conn.close()
        if context is not None:
            raise _tls_error(where, exc) from exc
        # SO_RCVTIMEO expiring reads as EAGAIN
        problem = (f"within {min(timeout, _HANDSHAKE_TIMEOUT):g} s"
                   if isinstance(exc, BlockingIOError) else f"({exc!r})")
        raise ActorConnectionError(
            f"{where} did not complete the uactor handshake {problem}; it is not "
            "an actor, is overloaded, or requires TLS (connect with ssl=)"
        ) from exc
    if context is not None:
        conn.settimeout(None)
    else:
        _set_socket_timeout(fileno, 0)
    return _wrap_connection(conn, serializer)


def _raise_remote(kind: str, result: Any) -> None:
    """Raise the error an actor server reported, with its original type."""
    if kind == "#RAISE":
        exc, text = result
        if isinstance(exc, BaseException):
            exc.__cause__ = _RemoteTraceback(text)
            raise exc
    if kind == "#FOREIGN":
        raise _rebuild_foreign_exception(*result)
    if kind in ("#TRACEBACK", "#UNSERIALIZABLE"):
        raise ProxyError(f"actor server error:\n{result}")
    if kind == "#ERROR":
        raise result
    raise ProxyError(f"unexpected reply kind {kind!r} from actor server")


def _request(conn: Any, funcname: str, args: tuple = (), kwds: dict | None = None) -> Any:
    """Send one server-level request (create, incref, ...) and return its result."""
    try:
        conn.send((None, funcname, args, kwds or {}))
        kind, result = conn.recv()
    except (EOFError, OSError) as exc:
        raise ActorDeadError(
            f"actor server closed the connection during {funcname!r}"
        ) from exc
    if kind == "#RETURN":
        return result
    _raise_remote(kind, result)


def _request_once(
    address: _Address,
    authkey: bytes,
    serializer: str,
    funcname: str,
    args: tuple = (),
    timeout: float | None = None,
) -> Any:
    conn = _connect(address, authkey, serializer, timeout)
    try:
        return _request(conn, funcname, args)
    finally:
        conn.close()


def _exception_payload(exc: BaseException, serializer: str = DEFAULT_SERIALIZER) -> tuple:
    """Reply for an exception: the object itself where the serializer allows."""
    text = traceback.format_exc()
    if serializer != "pickle":
        return _foreign_payload(exc, text)
    return ("#RAISE", (exc, text))


def _foreign_payload(exc: BaseException, text: str) -> tuple:
    """A serializer-neutral description of an exception that failed to pickle."""
    kind = type(exc)
    return ("#FOREIGN", [kind.__module__, kind.__qualname__, str(exc), text])


def _rebuild_foreign_exception(
    module: str, qualname: str, message: str, text: str
) -> BaseException:
    """Rebuild an exception from its type name and message, or a ProxyError."""
    exc: BaseException
    try:
        kind: Any = sys.modules.get(module) or __import__(module)
        for part in qualname.split("."):
            kind = getattr(kind, part)
        if not (isinstance(kind, type) and issubclass(kind, BaseException)):
            raise TypeError(qualname)
        exc = kind(message)
    except Exception:
        exc = ProxyError(f"{module}.{qualname}: {message}")
    exc.__cause__ = _RemoteTraceback(text)
    return exc


def _sendable_exc_info(exc_type: Any, exc_value: Any) -> tuple:
    """Exception info ``Actor.__exit__`` can receive: tracebacks cannot travel."""
    if exc_type is None:
        return (None, None, None)
    try:
        pickle.dumps((exc_type, exc_value))
    except Exception:
        stand_in = UActorException(f"{exc_type.__name__}: {exc_value}")
        return (UActorException, stand_in, None)
    return (exc_type, exc_value, None)


class _Deadline(threading.local):
    """Per-thread deadline set by :func:`deadline` (a ``time.monotonic`` value)."""

    at: float | None = None


_deadline = _Deadline()


_monotonic = time.monotonic


# --------------------------------------------------------------------------
# Proxies
# --------------------------------------------------------------------------

_Token = mp_managers.Token


class _AddressState:
    """Per-process, per-actor-address connection state shared by proxies.

    ``local.connection`` is the calling thread's connection to the actor;
    ``users`` counts the proxies of this process using these connections.
    """

    __slots__ = ("local", "incarnation", "users", "lock", "__weakref__")

    def __init__(self, incarnation: str | None = None) -> None:
        self.incarnation = incarnation
        self.local = mp_util.ForkAwareLocal()
        #: Proxies of this process using these connections; the calling
        #: thread's connection is closed only once none is left.
        self.users = 0
        self.lock = threading.Lock()
        mp_util.register_after_fork(self, _AddressState._forget_users)

    def _forget_users(self) -> None:
        self.users = 0  # a forked child's inherited proxies are borrowed

    def add_user(self) -> None:
        with self.lock:
            self.users += 1

    def remove_user(self) -> bool:
        """Count one proxy gone; whether it was the last one."""
        with self.lock:
            self.users -= 1
            return self.users <= 0


_address_states: dict = {}
_address_states_lock = threading.Lock()


def _address_state(address: _Address, incarnation: str | None = None) -> _AddressState:
    """Connection state for ``address``; a new server there gets a fresh one.

    Connections cached for an earlier actor at the same address are dead: new
    proxies must not inherit them (old proxies keep their old state).
    """
    state = _address_states.get(address)
    if state is not None and (incarnation is None or state.incarnation in (None, incarnation)):
        if incarnation is not None:
            state.incarnation = incarnation
        return state
    with _address_states_lock:
        state = _address_states.get(address)
        if state is None or (incarnation is not None
                             and state.incarnation not in (None, incarnation)):
            state = _address_states[address] = _AddressState(incarnation)
        return state


def _release_reference(token: Any, authkey: bytes, serializer: str, state: Any,
                       address_state: _AddressState) -> None:
    """Finalizer of a proxy: tell the actor this process dropped a reference.

    Runs from garbage collection or at exit, so it is bounded in time and
    silent: a reference to an actor that is already gone needs no release.
    """
    last = address_state.remove_user()
    if state is None or state.value == mp_managers.State.STARTED:
        try:
            _request_once(token.address, authkey, serializer, "decref",
                          (token.id,), timeout=_RELEASE_TIMEOUT)
        except Exception as exc:  # the actor may be gone: nothing to release
            _logger.debug("releasing %s at %s failed: %r",
                         token.id, _describe(token.address), exc)
    if last:
        conn = getattr(address_state.local, "connection", None)
        if conn is not None:
            del address_state.local.connection
            conn.close()


class BaseProxy(mp_managers.BaseProxy):
    """Base Proxy class.

    Keeps the standard proxy protocol (``_callmethod``, ``_exposed_``,
    ``_method_to_typeid_``) while fixing what uactor needs: a proxy keeps
    working after unpickling and forking (its manager is recreated on demand),
    finds the authkey of actors this process connected to, translates captured
    addresses, reports failures as uactor errors, honours call deadlines and
    never prints from finalizers.
    """

    _isauto = False

    def __init__(self, token: Any, serializer: str, manager: Any = None,
                 authkey: bytes | None = None, exposed: Any = None,
                 incref: bool = True, manager_owned: bool = False) -> None:
        state = _address_state(token.address)
        self._tls = state.local
        self._address_state = state
        self._token = token
        self._id = token.id
        self._manager = manager
        self._serializer = serializer
        self._Client = mp_managers.listener_client[serializer][1]
        self._owned_by_manager = manager_owned
        if authkey is not None:
            self._authkey = mp_process.AuthenticationString(authkey)
        elif manager is not None:
            self._authkey = manager._authkey
        else:
            self._authkey = mp_process.current_process().authkey
        self._timeout = getattr(manager, "_timeout", None)
        if incref:
            self._incref()

    # -- references -------------------------------------------------------

    def _incref(self) -> None:
        if self._owned_by_manager:
            return
        _request_once(self._token.address, self._authkey, self._serializer,
                      "incref", (self._id,))
        self._adopt_reference()

    def _adopt_reference(self) -> None:
        """Own one reference the server already counts, releasing it at GC."""
        self._address_state.add_user()
        state = self._manager._state if self._manager is not None else None
        self._close = mp_util.Finalize(
            self, _release_reference,
            args=(self._token, self._authkey, self._serializer, state,
                  self._address_state),
            exitpriority=10,
        )

    def _after_fork(self) -> None:  # pragma: no cover - replaced, see __init__
        """Inherited proxies are borrowed: the child holds no reference."""

    # -- calls ------------------------------------------------------------

    def _connect(self) -> Any:
        timeout = self._timeout
        if _deadline.at is not None:
            remaining = _deadline.at - _monotonic()
            if remaining <= 0:
                raise CallTimeoutError(f"the deadline passed before connecting to "
                                       f"{self._describe()}")
            timeout = remaining if timeout is None else min(timeout, remaining)
        conn = _connect(self._token.address, self._authkey, self._serializer, timeout)
        name = mp_process.current_process().name
        thread = threading.current_thread().name
        if thread != "MainThread":
            name = f"{name}|{thread}"
        try:
            _request(conn, "accept_connection", (name,))
        except BaseException:
            conn.close()
            raise
        self._tls.connection = conn
        return conn

    def _drop_connection(self) -> None:
        conn = getattr(self._tls, "connection", None)
        if conn is not None:
            del self._tls.connection
            conn.close()

    def _callmethod(self, methodname: str, args: tuple = (), kwds: Mapping = {}) -> Any:
        """Call ``methodname`` on the referent and return a copy of the result."""
        try:
            conn = self._tls.connection
        except AttributeError:
            conn = self._connect_or_explain()
        try:
            conn.send((self._id, methodname, args, kwds))
            if self._timeout is not None or _deadline.at is not None:
                self._wait_reply(conn, methodname)
            kind, result = conn.recv()
        except UActorException:  # a deadline, or raised unpickling the reply:
            raise                # some are OSErrors, none means the actor died
        except (EOFError, OSError) as exc:
            self._drop_connection()
            raise ActorDeadError(
                f"connection to {self._describe()} was lost during "
                f"{methodname!r}: the actor process is gone or unreachable"
            ) from exc
        if kind == "#RETURN":
            return result
        return self._unusual_reply(kind, result)

    def _wait_reply(self, conn: Any, methodname: str) -> None:
        timeout = self._timeout
        at = _deadline.at
        now = _monotonic()
        if at is not None:
            timeout = at - now if timeout is None else min(timeout, at - now)
        if timeout is None or conn.poll(max(timeout, 0.0)):
            return
        self._drop_connection()
        raise CallTimeoutError(
            f"{methodname!r} on {self._describe()} did not answer within its "
            "deadline; the connection was discarded"
        )

    def _connect_or_explain(self) -> Any:
        try:
            return self._connect()
        except ActorConnectionError as exc:
            if isinstance(exc, ActorDeadError):
                raise
            if _deadline.at is not None and _monotonic() >= _deadline.at:
                raise CallTimeoutError(
                    f"connecting to {self._describe()} did not finish within the "
                    "deadline") from exc
            process = self._manager.process if self._manager is not None else None
            if process is not None:
                process.join(_REAP_GRACE)  # a killed process may not be reaped yet
            if process is not None and process.exitcode is not None:
                raise ActorDeadError(
                    f"{self._describe()} is gone: its process exited with code "
                    f"{process.exitcode}"
                ) from exc
            raise

    def _unusual_reply(self, kind: str, result: Any) -> Any:
        if kind == "#PROXY":
            exposed, (typeid_, _, ident) = result
            token = _Token(typeid_, self._token.address, ident)
            return self._adopt_result_proxy(token, exposed)
        _raise_remote(kind, result)

    def _adopt_result_proxy(self, token: Any, exposed: Any) -> BaseProxy:
        """Build the proxy for a result the server registered on our behalf."""
        proxytype = _proxy_type(token.typeid, self)
        result = proxytype(token, self._serializer, manager=self._manager,
                           authkey=self._authkey, exposed=exposed, incref=False)
        result._adopt_reference()
        return result

    def _describe(self) -> str:
        if self._token.typeid == "actor":
            name = type(self).__name__.rsplit(".proxy_class", 1)[0]
            return f"actor {name} at {_describe(self._token.address)}"
        return f"{self._token.typeid} object at {_describe(self._token.address)}"

    # -- pickling -----------------------------------------------------------

    def __reduce__(self) -> tuple:
        held = getattr(_serving, "held", None)
        if held is not None:
            held.append(self)  # keep the referent alive until the peer increfs
        kind: Any = type(self)
        exposed = None
        if self._isauto:
            kind, exposed = "auto", self._exposed_
        elif kind is _BUILTIN_PROXY_TYPES.get(self._token.typeid):
            kind = self._token.typeid
        authkey = None
        if multiprocessing.context.get_spawning_popen() is not None:
            authkey = bytes(self._authkey)
        return (_rebuild_proxy, (kind, self._token, self._serializer, exposed, authkey,
                                 _speaks_tls(self._token.address)))

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} object, typeid {self._token.typeid!r} "
                f"at {_describe(self._token.address)}>")


class _Route:
    """How this process reaches an actor: the address it dialled and the key."""

    __slots__ = ("address", "authkey", "manager")

    def __init__(self, address: _Address, authkey: bytes, manager: Any) -> None:
        self.address = address
        self.authkey = authkey
        self.manager = manager


#: Token address -> route, from :meth:`Actor.connect` (incl. ``capture``).
_routes: dict = {}
#: Token address -> owning manager, for actors this process started.
_owned_managers: weakref.WeakValueDictionary[Any, ActorManager] = weakref.WeakValueDictionary()


def _rebuild_proxy(kind: Any, token: Any, serializer: str, exposed: Any,
                   authkey: bytes | None, tls: bool = False) -> BaseProxy:
    """Unpickle a proxy: translate its address, find its key, take a reference.

    ``tls`` tells that the actor requires TLS: without a client context for
    it, fail at once rather than time out in a plain handshake.
    """
    manager = None
    route = _routes.get(token.address)
    if route is not None:
        token = _Token(token.typeid, route.address, token.id)
        authkey = authkey or route.authkey
        manager = route.manager
    else:
        manager = _owned_managers.get(token.address)
        if manager is not None:
            authkey = authkey or manager._authkey
    if tls and token.address not in _ssl_clients:
        raise ActorConnectionError(
            f"received a proxy to {token.typeid!r} at {_describe(token.address)}, "
            "an actor that requires TLS, but this process has no TLS context for "
            "it; connect to that actor first with "
            "ActorClass.connect(address, authkey, ssl=context, capture=[...])")
    if kind == "auto":
        proxytype: Any = _auto_proxy
    elif isinstance(kind, str):
        proxytype = _BUILTIN_PROXY_TYPES[kind]
    else:
        proxytype = kind
    incref = not getattr(mp_process.current_process(), "_inheriting", False)
    try:
        return proxytype(token, serializer, manager=manager, authkey=authkey,
                         exposed=exposed, incref=incref)
    except AuthkeyError as exc:
        raise AuthkeyError(
            f"received a proxy to {token.typeid!r} at {_describe(token.address)} "
            "whose authkey this process does not know; connect to that actor "
            "first with ActorClass.connect(address, authkey, capture=[...])"
        ) from exc


def _make_proxy_method(name: str, doc: str | None = None) -> Callable:
    def method(self: BaseProxy, /, *args: Any, **kwargs: Any) -> Any:
        return self._callmethod(name, args, kwargs)

    method.__name__ = name
    method.__doc__ = doc
    method._uactor_generated_ = True  # type: ignore[attr-defined]
    return method


def _make_proxy_attribute(name: str, doc: str | None = None) -> property:
    """An exposed attribute: read from the actor, and set in it (as 0.1.1 did)."""
    def getter(self: BaseProxy) -> Any:
        return self._callmethod(name)

    def setter(self: BaseProxy, value: Any) -> None:
        self._callmethod("__setattr__", (name, value))

    getter.__name__ = setter.__name__ = name
    getter._uactor_generated_ = True  # type: ignore[attr-defined]
    return property(getter, setter, doc=doc)


def _is_generated(attribute: Any) -> bool:
    """Whether a proxy class attribute was made by uactor (not written by hand)."""
    if isinstance(attribute, property):
        attribute = attribute.fget
    return getattr(attribute, "_uactor_generated_", False)


_auto_proxy_types: dict = {}


def _auto_proxy_type(exposed: Sequence[str]) -> type:
    exposed = tuple(exposed)
    try:
        return _auto_proxy_types[exposed]
    except KeyError:
        namespace = {name: _make_proxy_method(name) for name in exposed}
        namespace.update(_exposed_=exposed, _isauto=True, __module__=__name__)
        kind = type("Proxy[auto]", (BaseProxy,), namespace)
        return _auto_proxy_types.setdefault(exposed, kind)


def _auto_proxy(token: Any, serializer: str, manager: Any = None, authkey: Any = None,
                exposed: Any = None, incref: bool = True,
                manager_owned: bool = False) -> BaseProxy:
    """Proxy exposing the public methods of whatever object it wraps."""
    if exposed is None:
        exposed = _request_once(token.address, authkey or (manager and manager._authkey)
                                or mp_process.current_process().authkey,
                                serializer, "get_methods", (token,))
    return _auto_proxy_type(exposed)(token, serializer, manager=manager,
                                     authkey=authkey, incref=incref,
                                     manager_owned=manager_owned)


def _public_callables(kind: type) -> tuple:
    return tuple(name for name in dir(kind)
                 if not name.startswith("_") and callable(getattr(kind, name)))


#: SyncManager typeids whose stdlib proxy is built per object (AutoProxy):
#: uactor gives them fixed proxy classes from the type they wrap.
_AUTO_TYPEID_TYPES = {
    "Queue": queue.Queue,
    "JoinableQueue": queue.Queue,
    "AsyncResult": mp_pool.AsyncResult,
}


def _builtin_proxy_types() -> dict:
    """uactor versions of every SyncManager proxy, as ``Proxy[typeid]`` classes."""
    types_ = {}
    for typeid, (_, exposed, _, proxytype) in mp_managers.SyncManager._registry.items():
        if proxytype is mp_managers.AutoProxy:
            methods = exposed or _public_callables(_AUTO_TYPEID_TYPES[typeid])
            bases: tuple = (BaseProxy,)
            namespace: dict = {name: _make_proxy_method(name) for name in methods}
            namespace["_exposed_"] = tuple(methods)
        else:
            bases = (proxytype, BaseProxy)
            namespace = {}
        namespace["__module__"] = __name__
        types_[typeid] = type(f"Proxy[{typeid}]", bases, namespace)
    return types_


_BUILTIN_PROXY_TYPES: dict = _builtin_proxy_types()
#: Every typeid -> proxy type an actor class declared, for unpickled proxies.
_known_proxy_types: dict = dict(_BUILTIN_PROXY_TYPES)


def _proxy_type(typeid: str, origin: BaseProxy) -> Callable:
    """Proxy type for a result of ``origin`` with ``typeid``."""
    if origin._manager is not None:
        registry = origin._manager._registry
        if typeid in registry:
            return registry[typeid][-1]
    if typeid == "actor" and isinstance(origin, ActorProxy):
        return type(origin)
    if typeid == "auto":
        return _auto_proxy
    try:
        return _known_proxy_types[typeid]
    except KeyError:
        raise ProxyError(f"no proxy type is registered for typeid {typeid!r}") from None


class ActorProxy(BaseProxy):
    """Actor proxy base class.

    Actors will inherit from this class to create custom implementations based
    on their declared configuration and interface.  A proxy obtained from
    instantiating an actor class (or derived from one in the same process) is
    an *owner* proxy: its ``shutdown()`` and context exit end the actor
    process.  Proxies from :meth:`Actor.connect` never do.
    """

    _exposed_: tuple[str, ...] = ("__enter__", "__exit__", "shutdown")

    @property
    def connection_address(self) -> _Address:
        """Get connection address to Actor process."""
        return self._token.address

    def _owner_manager(self) -> ActorManager | None:
        manager = self._manager
        if manager is not None and manager._owned:
            return manager
        return None

    def _is_finished(self) -> bool:
        manager = self._owner_manager()
        return manager is not None and manager._state.value == mp_managers.State.SHUTDOWN

    def __enter__(self, *args: Any, **kwargs: Any) -> Self:
        """Call Actor.__enter__() method."""
        return self._callmethod("__enter__", args, kwargs)

    def __exit__(self, exc_type: Any = None, exc_value: Any = None,
                 exc_tb: Any = None) -> bool | None:
        """Call Actor.__exit__() method.

        When this proxy is the direct result from instanting the *Actor* class,
        calling this method will also result on *Actor.shutdown()* being
        called, finishing the actor process (like when calling
        *ActorProxy.shutdown()*).  Any other proxy (the one ``__enter__``
        returned, one from :func:`proxy`...) only calls ``Actor.__exit__``.
        The traceback cannot cross processes and is passed as ``None``.
        """
        if self._is_finished():
            return None
        try:
            suppress = self._callmethod(
                "__exit__", _sendable_exc_info(exc_type, exc_value))
        except ActorConnectionError as exc:
            _logger.debug("Actor.__exit__ unreachable on %s: %r", self._describe(), exc)
            suppress = None
        if self.__dict__.get("_uactor_instantiated_") and self._owner_manager() is not None:
            self.shutdown()
        return suppress

    def shutdown(self) -> None:
        """Call Actor.shutdown() method.

        When the current process is responsible of initializing the actor,
        calling this method will also finish the actor process.  Calling it
        again does nothing.
        """
        manager = self._owner_manager()
        if manager is None:
            if getattr(self, "_shutdown_called", False):
                return
            self._shutdown_called = True
            self._callmethod("shutdown")
            return
        if manager._state.value == mp_managers.State.SHUTDOWN:
            return
        try:
            self._callmethod("shutdown")
        except ActorConnectionError as exc:
            _logger.debug("Actor.shutdown unreachable on %s: %r", self._describe(), exc)
        finally:
            manager.shutdown()


# --------------------------------------------------------------------------
# Server (runs in the actor process)
# --------------------------------------------------------------------------


class _Serving(threading.local):
    """State of the server thread serving one connection.

    ``held`` keeps proxies pickled into a reply alive until the peer's next
    message on the same connection: by then the peer has unpickled them and
    taken its own references, so nothing is freed while in flight.
    """

    held: list | None = None


_serving = _Serving()
_current_server: _ActorServer | None = None
_warned_peers: set = set()


def _warn_once(key: Any, message: str, *args: Any) -> None:
    """Hostile network input: warn the first time, then only debug."""
    if key in _warned_peers:
        _logger.debug(message, *args)
    else:
        _warned_peers.add(key)
        _logger.warning(message, *args)


def _is_method(attribute: Any) -> bool:
    if attribute is None or isinstance(attribute, property):
        return False
    return callable(attribute) or isinstance(
        attribute, (staticmethod, classmethod, functools.partialmethod))


class _HandshakeWatch:
    """Cuts off handshakes that outlive their time bound as a whole.

    Socket timeouts bound each read; this bounds the sum.  Each watched
    socket is held through a duplicate descriptor, so shutting it down can
    never hit another socket that reused the original descriptor number.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watched: dict = {}  # duplicate fd -> give-up time (monotonic)
        self._changed = threading.Event()
        self._thread: threading.Thread | None = None

    def watch(self, fileno: int, give_up_at: float) -> int:
        duplicate = os.dup(fileno)
        with self._lock:
            self._watched[duplicate] = give_up_at
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="uactor-handshake-watch")
                self._thread.start()
        self._changed.set()
        return duplicate

    def unwatch(self, duplicate: int) -> None:
        with self._lock:
            self._watched.pop(duplicate, None)
        os.close(duplicate)

    def _run(self) -> None:
        while True:
            self._changed.clear()  # before looking: a later watch() wakes us
            now = _monotonic()
            with self._lock:
                expired = [fd for fd, at in self._watched.items() if at <= now]
                for duplicate in expired:
                    del self._watched[duplicate]
                    _shutdown_socket(duplicate)
                next_at = min(self._watched.values(), default=None)
            self._changed.wait(None if next_at is None else max(next_at - now, 0.0))


def _shutdown_socket(fileno: int) -> None:
    """Make every blocked read on this socket return end-of-file."""
    sock = socket.socket(fileno=fileno)
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        sock.detach()


class _ActorServer(mp_managers.Server):
    """The manager server of an actor process.

    Extends the standard server with: the actor itself (created once, on the
    owner's request), results wrapped as proxies of the object returned
    rather than of a copy, exposed properties, original exception types,
    bounded handshakes, rejection of garbage, and the actor lifetime rules
    (owner shutdown, owner death, last reference released).
    """

    public = [*mp_managers.Server.public, "connect_actor", "release_owner"]

    def __init__(self, registry: dict, address: Any, authkey: bytes, serializer: str,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        # Server.__init__, with a listen backlog for bursts of new clients
        # (multiprocessing's is 16: a burst overflows it and clients stall).
        self.registry = registry
        self.authkey = mp_process.AuthenticationString(authkey)
        listener_class = mp_managers.listener_client[serializer][0]
        self.listener = listener_class(address=address, backlog=_BACKLOG)
        self.address = self.listener.address
        self.id_to_obj = {}
        self.id_to_refcount: dict = {}
        self.id_to_local_proxy_obj: dict = {}
        self.mutex = threading.Lock()
        #: Accepted connections, closed in processes this actor forks so that
        #: they never keep a dead actor's sockets open for its callers.
        self.connections: set = set()
        self.handshakes = _HandshakeWatch()
        self.serializer_name = serializer
        #: Server-side TLS context: every connection is TLS, then the authkey.
        self.ssl_context = ssl_context
        #: Tells this server from an earlier one at the same address.
        self.incarnation = os.urandom(8).hex()
        self.actor: Any = None
        self.actor_ident: str | None = None
        self.owner_released = False
        self.stop_event = threading.Event()
        self._stopping = threading.Lock()

    # -- lifecycle --------------------------------------------------------

    def serve_forever(self) -> None:
        self.start_serving()
        self.wait_until_stopped()

    def start_serving(self) -> None:
        """Accept connections from now on, in threads started by this one.

        Called on the actor process's main thread once the actor's
        ``__init__`` ran there, so the threads serving calls inherit what it
        set up (CPU affinity, say).
        """
        global _current_server
        _current_server = self
        mp_util.register_after_fork(self, _ActorServer._close_inherited_connections)
        threading.Thread(target=self.accepter, name="uactor-accepter", daemon=True).start()
        parent = multiprocessing.parent_process()
        if parent is not None:
            threading.Thread(target=self._watch_owner, args=(parent,),
                             name="uactor-owner-watch", daemon=True).start()

    def wait_until_stopped(self) -> None:
        """Block until the actor is asked to stop, run its hook, exit."""
        self.stop_event.wait()
        self._stop_actor()
        sys.exit(0)

    def _watch_owner(self, parent: Any) -> None:
        parent.join()
        _logger.debug("owner process %s is gone: stopping actor", parent.pid)
        self.stop_event.set()

    def _stop_actor(self) -> None:
        if self.actor is not None and self._stopping.acquire(blocking=False):
            try:
                self.actor._actor_stopping_()
            except Exception:
                _logger.exception("Actor._actor_stopping_ failed")

    def accepter(self) -> None:
        while not self.stop_event.is_set():
            try:
                conn = self.listener.accept()
            except OSError:  # out of descriptors, say: do not spin
                self.stop_event.wait(_ACCEPT_RETRY)
                continue
            threading.Thread(target=self.handle_request, args=(conn,), daemon=True).start()

    # -- connections --------------------------------------------------------

    def handle_request(self, conn: Any) -> None:
        self.connections.add(conn)
        try:
            self._handle_connection(conn)
        finally:
            self.connections.discard(conn)

    def _close_inherited_connections(self) -> None:
        """In a process forked by the actor: drop the copies of its sockets."""
        for conn in list(self.connections):
            conn.close()
        self.connections.clear()

    def _handle_connection(self, conn: Any) -> None:
        try:
            conn = self._authenticate(conn)
        except Exception as exc:  # a wrong key is routine (forwarding): not a warning
            _logger.info("rejected a connection that failed the %s handshake: %r",
                         "authkey" if self.ssl_context is None else "TLS or authkey", exc)
            conn.close()
            return
        try:
            self._serve_request(conn)
        finally:
            conn.close()

    def _authenticate(self, conn: Any) -> Any:
        """Handshakes of an accepted connection; return the connection to serve.

        TLS first when the actor has a context, then the authkey both ways,
        all within :data:`_HANDSHAKE_TIMEOUT`: each read is bounded by the
        socket, the whole by :class:`_HandshakeWatch` (a peer trickling one
        byte at a time would otherwise hold the thread for hundreds of reads).
        """
        watch = self.handshakes.watch(conn.fileno(), _monotonic() + _HANDSHAKE_TIMEOUT)
        try:
            return self._handshake(conn)
        finally:
            self.handshakes.unwatch(watch)

    def _handshake(self, conn: Any) -> Any:
        if self.ssl_context is not None:
            tls = _tls_accept(conn, self.ssl_context)
            try:
                mp_connection.deliver_challenge(tls, self.authkey)
                mp_connection.answer_challenge(tls, self.authkey)
                tls.settimeout(None)
            except BaseException:
                tls.close()
                raise
            return _wrap_connection(tls, self.serializer_name)
        fileno = conn.fileno()
        _set_socket_timeout(fileno, _HANDSHAKE_TIMEOUT)
        mp_connection.deliver_challenge(conn, self.authkey)
        mp_connection.answer_challenge(conn, self.authkey)
        _set_socket_timeout(fileno, 0)
        if self.serializer_name == "pickle":
            return _Pickle5Connection(conn)
        return conn  # already an xmlrpclib ConnectionWrapper (XmlListener)

    def _serve_request(self, conn: Any) -> None:
        try:
            request = conn.recv()
            _, funcname, args, kwds = request
            if funcname not in self.public:
                raise ProxyError(f"{funcname!r} is not a server request")
            func = getattr(self, funcname)
        except (EOFError, OSError):
            return
        except Exception as exc:
            _warn_once(("request", type(exc)), "rejected a malformed request: %r", exc)
            return
        try:
            msg: tuple = ("#RETURN", func(conn, *args, **kwds))
        except SystemExit:
            return
        except BaseException as exc:
            msg = _exception_payload(exc, self.serializer_name)
        self._send(conn, msg)

    def _send(self, conn: Any, msg: tuple) -> bool:
        try:
            conn.send(msg)
        except (EOFError, OSError):
            return False
        except Exception as exc:
            text = traceback.format_exc()
            if msg[0] == "#RAISE":
                fallback: tuple = _foreign_payload(msg[1][0], msg[1][1])
            elif msg[0] == "#FOREIGN":
                fallback = _foreign_payload(exc, text)
            else:
                fallback = _foreign_payload(ProxyError(
                    f"the result cannot be serialized with {self.serializer_name} "
                    f"({exc!r}); return plain data, or a proxy through "
                    "uactor.proxy() or _method_to_typeid_"), text)
            try:
                conn.send(fallback)
            except Exception:
                try:
                    conn.send(_foreign_payload(exc, text))
                except Exception:
                    return False
        return True

    def serve_client(self, conn: Any) -> None:
        """Serve method calls from one client thread until it disconnects."""
        recv = conn.recv
        id_to_obj = self.id_to_obj
        serializer = self.serializer_name
        held: list = []
        _serving.held = held
        bad_requests = 0
        while True:
            try:
                request = recv()
            except (EOFError, OSError):
                return
            except Exception as exc:  # a whole frame was read: the stream is in step
                bad_requests += 1
                if bad_requests >= _MAX_BAD_REQUESTS:
                    _warn_once(("garbage", type(exc)), "closed a connection that sent "
                               "undecodable messages: %r", exc)
                    return
                if not self._send(conn, _exception_payload(exc, serializer)):
                    return
                continue
            bad_requests = 0
            if held:
                held.clear()
            try:
                ident, methodname, args, kwds = request
                obj, exposed, gettypeid = id_to_obj[ident]
                is_attribute = exposed[methodname]
            except Exception:
                msg = self._unusual_request(request)
            else:
                try:
                    function = getattr(obj, methodname)
                    res = function if is_attribute else function(*args, **kwds)
                except BaseException as exc:
                    msg = _exception_payload(exc, serializer)
                else:
                    typeid = gettypeid and gettypeid.get(methodname)
                    if typeid:
                        msg = ("#PROXY", self._result_token(typeid, res))
                    else:
                        msg = ("#RETURN", res)
            if not self._send(conn, msg):
                return

    def _unusual_request(self, request: Any) -> tuple:
        """Fallback requests (str, repr, value) and clear errors for bad ones."""
        try:
            ident, methodname, args, kwds = request
        except (TypeError, ValueError):
            return ("#RAISE", (ProxyError(f"malformed request {request!r}"), ""))
        try:
            obj, exposed, _ = self.id_to_obj[ident]
        except (KeyError, TypeError):
            return ("#RAISE", (NotHeldError(
                f"object {ident!r} is not (or no longer) held by this actor; "
                "its proxy outlived it"), ""))
        if methodname == "#GETVALUE":
            return ("#RETURN", obj)
        if methodname == "__str__":
            return ("#RETURN", str(obj))
        if methodname == "__repr__":
            return ("#RETURN", repr(obj))
        if methodname == "__setattr__":
            return self._set_attribute(obj, exposed, args)
        public = sorted(name for name in exposed if not name.startswith("_"))
        return ("#RAISE", (NotExposedError(
            f"{type(obj).__qualname__} at {_describe(self.address)} exposes no "
            f"{_shorten(methodname)} (exposed: {public})"), ""))

    def _set_attribute(self, obj: Any, exposed: Mapping[str, bool], args: Any) -> tuple:
        """``proxy.attribute = value`` for an exposed attribute (not a method)."""
        try:
            name, value = args
        except (TypeError, ValueError):
            return ("#RAISE", (ProxyError(f"malformed attribute assignment {_shorten(args)}"),
                               ""))
        if not exposed.get(name, False):
            return ("#RAISE", (NotExposedError(
                f"cannot set {_shorten(name)} on {type(obj).__qualname__}: only exposed "
                "attributes (not methods) can be set through a proxy"), ""))
        try:
            setattr(obj, name, value)
        except BaseException as exc:
            return _exception_payload(exc, self.serializer_name)
        return ("#RETURN", None)

    # -- objects and references ---------------------------------------------

    def register_object(self, obj: Any, typeid: str) -> tuple[str, tuple]:
        """Hold ``obj`` under ``typeid`` with one reference; return its ident."""
        try:
            _, exposed, method_to_typeid, _ = self.registry[typeid]
        except KeyError:
            raise ProxyError(
                f"typeid {typeid!r} is not registered; registered: "
                f"{sorted(self.registry)}") from None
        if typeid == "actor":
            exposed_map = type(obj)._uactor_exposed_
        else:
            names = tuple(exposed) if exposed is not None else mp_managers.public_methods(obj)
            exposed_map = dict.fromkeys(names, False)
            if method_to_typeid:
                exposed_map.update(dict.fromkeys(method_to_typeid, False))
        ident = f"{id(obj):x}:{typeid}"
        with self.mutex:
            self.id_to_obj[ident] = (obj, exposed_map, method_to_typeid)
            self.id_to_refcount[ident] = self.id_to_refcount.get(ident, 0) + 1
        return ident, tuple(exposed_map)

    def _result_token(self, typeid: str, obj: Any) -> tuple:
        """``#PROXY`` payload in plain data, so every serializer can carry it."""
        ident, exposed = self.register_object(obj, typeid)
        return exposed, (typeid, self.address, ident)

    def create(self, c: Any, typeid: str, /, *args: Any, **kwds: Any) -> tuple[str, tuple]:
        """Create an object from a manager typeid (``manager.list()`` ...)."""
        callable_ = self.registry[typeid][0]
        if callable_ is None or typeid == "actor":
            raise ProxyError(f"typeid {typeid!r} cannot be created remotely")
        return self.register_object(callable_(*args, **kwds), typeid)

    def create_actor(self, args: tuple, kwargs: dict) -> tuple[str, tuple]:
        """Instantiate the actor, in the calling thread, before serving anyone.

        The owner holds the first reference.  :func:`_run_actor_server` calls
        it on the process's main thread, so signal handlers, CPU affinity and
        other per-thread state ``__init__`` sets up are what later calls see.
        """
        global _current_server
        _current_server = self  # uactor.proxy() and current_address() in __init__
        actor_class = self.registry["actor"][0]
        actor = object.__new__(actor_class)
        actor.__init__(*args, **kwargs)
        self.actor = actor
        ident, exposed = self.register_object(actor, "actor")
        self.actor_ident = ident
        return ident, exposed

    def connect_actor(self, c: Any) -> list:
        """Reference to the hosted actor for a connecting client."""
        if self.actor is None:
            raise ProxyError("this actor process has no actor yet")
        ident, exposed = self.register_object(self.actor, "actor")
        kind = type(self.actor)
        lineage = [f"{k.__module__}:{k.__qualname__}" for k in kind.__mro__]
        return [ident, list(exposed), self.address, lineage, self.incarnation]

    def accept_connection(self, c: Any, name: str) -> None:
        """Serve this connection's method calls until it closes."""
        threading.current_thread().name = name
        c.send(("#RETURN", None))
        self.serve_client(c)
        raise SystemExit

    def release_owner(self, c: Any) -> None:
        """The owner process let go of the actor: end it with its last reference."""
        self.owner_released = True
        with self.mutex:
            unreferenced = self.actor_ident not in self.id_to_refcount
        if unreferenced:
            self.stop_event.set()

    def decref(self, c: Any, ident: str) -> None:
        with self.mutex:
            count = self.id_to_refcount.get(ident, 0) - 1
            if count > 0:
                self.id_to_refcount[ident] = count
                return
            self.id_to_refcount.pop(ident, None)
            entry = self.id_to_obj.pop(ident, None)
        del entry  # may hold proxies whose finalizers need the mutex
        if ident == self.actor_ident and self.owner_released:
            self.stop_event.set()

    def incref(self, c: Any, ident: str) -> None:
        with self.mutex:
            if ident not in self.id_to_obj:
                raise NotHeldError(f"object {ident!r} is no longer held by this actor")
            self.id_to_refcount[ident] = self.id_to_refcount.get(ident, 0) + 1

    def shutdown(self, c: Any) -> None:
        """Stop this actor process (the owner's request)."""
        self._stop_actor()
        try:
            c.send(("#RETURN", None))
        finally:
            self.stop_event.set()
        raise SystemExit


# --------------------------------------------------------------------------
# Managers
# --------------------------------------------------------------------------

_State = mp_managers.State


def _stop_process(process: Any, address: _Address, authkey: bytes, serializer: str) -> None:
    """Ask an actor process to stop, then terminate, then kill; join it."""
    if process.exitcode is None:
        try:
            _request_once(address, authkey, serializer, "shutdown", timeout=_RELEASE_TIMEOUT)
        except Exception as exc:
            _logger.debug("asking %s to stop failed: %r", _describe(address), exc)
        process.join(_STOP_TIMEOUT)
    if process.exitcode is None:
        _logger.warning("actor process %s did not stop in %g s: terminating",
                       process.pid, _STOP_TIMEOUT)
        process.terminate()
        process.join(_STOP_TIMEOUT)
    if process.exitcode is None:
        process.kill()
        process.join()


_retired: list = []
_retired_lock = threading.Lock()


def _finalize_owner(process: Any, address: _Address, authkey: bytes, serializer: str,
                    state: Any) -> None:
    """Finalizer of an owning manager (garbage-collected or at exit).

    At exit the actor is stopped.  When merely garbage-collected, the owner
    releases it: the actor ends once no proxy anywhere refers to it (usually
    at once), and proxies handed to other processes keep it alive.
    """
    if state.value == _State.SHUTDOWN:
        return
    state.value = _State.SHUTDOWN
    if mp_util.is_exiting():
        _stop_process(process, address, authkey, serializer)
        return
    try:
        _request_once(address, authkey, serializer, "release_owner", timeout=_RELEASE_TIMEOUT)
    except Exception as exc:
        _logger.debug("releasing %s failed: %r", _describe(address), exc)
    _retire((process, address, authkey, serializer))


def _reap_retired(stop: bool = False) -> None:
    """Join retired actor processes that have ended (or stop them, at exit)."""
    with _retired_lock:
        retired = list(_retired)
        _retired.clear()
    alive = []
    for entry in retired:
        process = entry[0]
        if stop:
            _stop_process(*entry)
        elif process.exitcode is None and process.is_alive():
            alive.append(entry)
        else:
            process.join(0)
    with _retired_lock:
        _retired.extend(alive)


_reaper: threading.Thread | None = None


def _retire(entry: tuple) -> None:
    """Hand a released actor process to the reaper thread, started on demand."""
    global _reaper
    with _retired_lock:
        _retired.append(entry)
        if _reaper is None:
            _reaper = threading.Thread(target=_reap_in_background, name="uactor-reaper",
                                       daemon=True)
            _reaper.start()


def _reap_in_background() -> None:
    """Join released actor processes as they end; return once none is left.

    Without it each would stay a zombie, holding its pipes, until this process
    started another actor or exited.
    """
    global _reaper
    while True:
        with _retired_lock:
            if not _retired:
                _reaper = None
                return
            sentinels = [entry[0].sentinel for entry in _retired]
        mp_connection.wait(sentinels, timeout=_REAP_POLL)
        _reap_retired()


def _forget_retired() -> None:
    """In a forked child: its parent's actor processes are not its own."""
    global _reaper, _retired_lock
    _retired_lock = threading.Lock()
    _retired.clear()
    _reaper = None


os.register_at_fork(after_in_child=_forget_retired)

_exit_hook_pid: int | None = None


def _ensure_exit_hook() -> None:
    """Stop retired actors at this process's exit (once per process)."""
    global _exit_hook_pid
    if _exit_hook_pid != os.getpid():
        _exit_hook_pid = os.getpid()
        mp_util.Finalize(None, _reap_retired, kwargs={"stop": True}, exitpriority=1)


def _forget_inherited(manager: ActorManager) -> None:
    """After fork, the child does not own its parent's actors."""
    manager._owned = False
    manager._process = None


def _report(conn: Any, message: tuple) -> None:
    """Send a start report to the owner; an unpicklable error as its description."""
    try:
        conn.send(message)
    except Exception:
        exc, text = message[1]
        conn.send(_foreign_payload(exc, text))


def _run_actor_server(manager_class: type, address: Any, authkey: bytes,
                      serializer: str, ssl_server: Any, conn: Any) -> None:
    """Actor process entry point: build the server, create the actor, serve.

    Talks to the starting process over ``conn``: reports ``#STARTED`` once
    listening, receives the actor's ``(args, kwargs)`` (``None`` for a bare
    manager), runs ``__init__`` and the started hook on this main thread,
    starts serving, and reports the actor's reference or the error.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the owner's to handle
    _serving.held = None  # a fork from a server thread inherits its state
    try:
        server = manager_class._Server(manager_class._registry, address, authkey, serializer,
                                       ssl_context=_server_context(ssl_server))
        conn.send(("#STARTED", None))
        init = conn.recv()
        reference = None if init is None else server.create_actor(*init)
        server.start_serving()
        if server.actor is not None:
            server.actor._actor_started_()
    except BaseException as exc:
        _report(conn, _exception_payload(exc))
        conn.close()
        sys.exit(1)
    _report(conn, ("#RETURN", (server.address, server.incarnation, reference)))
    conn.close()
    del init  # arguments (and proxies among them) belong to the actor now
    server.wait_until_stopped()


class ActorManager(mp_managers.BaseManager):
    """Multiprocessing manager for uactor.

    Registers every ``SyncManager`` proxy (plus ``auto``) so actors can return
    them.  A manager either owns its actor process (``start()``) or is
    connected to one (``connect()``); only an owning manager ends it.

    TLS: ``ssl_server`` is the actor's server-side :class:`ssl.SSLContext`, or
    a zero-argument callable returning one, called in the actor process (the
    only choice for the spawn and forkserver start methods: contexts cannot be
    pickled); ``ssl_client`` is the context this process reaches the actor
    with.  ``start()`` needs both, ``connect()`` only ``ssl_client``.
    """

    _Server = _ActorServer
    _registry: dict = {}

    def __init__(self, address: _Address | None = None, authkey: bytes | None = None,
                 serializer: str = DEFAULT_SERIALIZER, *args: Any,
                 parent: ActorManager | None = None,
                 timeout: float | None = None,
                 ssl_server: ssl.SSLContext | Callable[[], ssl.SSLContext] | None = None,
                 ssl_client: ssl.SSLContext | None = None, **kwargs: Any) -> None:
        if address is not None:
            address = _normalize_address(address)
        if authkey is not None:
            authkey = _check_authkey(authkey)
        self._ssl_server = _check_ssl_server(ssl_server)
        self._ssl_client = _check_ssl_client(ssl_client)
        if (ssl_server is not None or ssl_client is not None) \
                and not isinstance(address, tuple):
            raise ValueError(
                f"TLS (ssl_server, ssl_client) needs a TCP address, not {address!r}; "
                "set the address option to a (host, port) pair")
        super().__init__(address, authkey, _check_serializer(serializer), *args, **kwargs)
        self._parent = parent
        self._timeout = _check_timeout(timeout)
        self._owned = False
        self._process: Any = None
        self._finalizer: Any = None

    @classmethod
    def typeids(cls) -> tuple[str, ...]:
        """Get tuple of typeid of all registered proxies."""
        return tuple(cls._registry)

    @property
    def process(self) -> multiprocessing.process.BaseProcess | None:
        """Get remote actor process if owned by this manager."""
        return self._process if self._owned else None

    def start(self, *args: Any, **kwargs: Any) -> None:
        """Start manager process.

        Raises the original error (``OSError`` for an address in use...) when
        the actor server cannot be created.
        """
        self._start_process(None)

    def _start_process(self, init: tuple | None) -> tuple[str, tuple] | None:
        """Start the actor process; with ``init`` (``(args, kwargs)``), its actor.

        Returns the actor's ``(ident, exposed)``, held for the caller.  Errors
        of the server or of the actor's ``__init__`` are re-raised here with
        their original type.
        """
        if self._state.value != _State.INITIAL:
            raise ProxyError("this manager was already started or connected")
        self._check_tls_start()
        _reap_retired()
        conn, child_conn = mp_connection.Pipe()
        process = self._ctx.Process(
            target=_run_actor_server,
            args=(type(self), self._address, bytes(self._authkey), self._serializer,
                  self._ssl_server, child_conn),
            name=f"{type(self).__qualname__.rsplit('.', 1)[0]}-{next(_process_counter)}",
        )
        try:
            process.start()
        except (pickle.PicklingError, AttributeError, TypeError) as exc:
            conn.close()
            raise ProxyError(
                f"cannot start {type(self).__qualname__} with start method "
                f"{self._ctx.get_start_method()!r}: {exc}; actor classes (and "
                "ssl_server factories) must be defined at module level of an "
                "importable module") from exc
        finally:
            child_conn.close()
        try:
            kind, result = self._read_start_report(conn, process, _START_TIMEOUT)
            if kind == "#STARTED":
                self._send_init(conn, process, init)
                kind, result = self._read_start_report(conn, process, None)
        finally:
            conn.close()
        if kind != "#RETURN":
            process.join(_STOP_TIMEOUT)
            _raise_remote(kind, result)
        self._address, incarnation, reference = result
        _address_state(self._address, incarnation)
        _set_ssl_client(self._address, self._ssl_client)
        self._process = process
        self._owned = True
        self._state.value = _State.STARTED
        _owned_managers[self._address] = self
        mp_util.register_after_fork(self, _forget_inherited)
        _ensure_exit_hook()
        self._finalizer = mp_util.Finalize(
            self, _finalize_owner,
            args=(process, self._address, bytes(self._authkey), self._serializer, self._state),
            exitpriority=0,
        )
        return reference

    def _check_tls_start(self) -> None:
        if (self._ssl_server is None) != (self._ssl_client is None):
            raise ValueError(
                "ssl_server and ssl_client go together: the actor serves TLS with "
                "ssl_server, and this process reaches it with ssl_client")
        method = self._ctx.get_start_method()
        if self._ssl_server is not None and not callable(self._ssl_server) \
                and method != "fork":
            raise TypeError(
                f"ssl_server cannot be an SSLContext with start method {method!r} "
                "(contexts cannot be pickled); pass a zero-argument callable "
                "returning one, defined at module level (functools.partial of a "
                "module-level function works)")

    @staticmethod
    def _send_init(conn: Any, process: Any, init: tuple | None) -> None:
        """Hand the actor's constructor arguments to its process."""
        try:
            conn.send(init)
        except BaseException:  # unpicklable arguments: no actor to start
            process.kill()
            process.join()
            raise

    @staticmethod
    def _read_start_report(conn: Any, process: Any, timeout: float | None) -> tuple:
        ready = mp_connection.wait([conn, process.sentinel], timeout)
        if conn in ready:
            try:
                return conn.recv()
            except EOFError:
                pass
        if not ready:
            process.kill()
            process.join()
            raise ActorDeadError(f"actor process did not start within {timeout:g} s")
        process.join(_STOP_TIMEOUT)
        raise ActorDeadError(
            f"actor process exited during startup with code {process.exitcode}")

    def get_server(self) -> _ActorServer:
        """Actor server for this manager, to run in the current process."""
        if self._state.value != _State.INITIAL:
            raise ProxyError("this manager was already started or connected")
        return self._Server(self._registry, self._address, bytes(self._authkey),
                            self._serializer, ssl_context=_server_context(self._ssl_server))

    def connect(self) -> None:
        """Connect to manager process.

        From then on, this process reaches the address over TLS with
        ``ssl_client`` if given, in plain TCP otherwise.

        :raises AuthkeyError: on actor process authkey rejection.
        """
        if self._state.value != _State.INITIAL:
            raise ProxyError("this manager was already started or connected")
        previous = _ssl_clients.get(self._address)
        _set_ssl_client(self._address, self._ssl_client)
        try:
            conn = _connect(self._address, bytes(self._authkey), self._serializer,
                            self._timeout)
            try:
                _request(conn, "dummy")
            finally:
                conn.close()
        except BaseException:
            _set_ssl_client(self._address, previous)
            raise
        self._state.value = _State.STARTED

    def shutdown(self) -> None:
        """End the actor process if this manager owns it (idempotent)."""
        if self._state.value == _State.SHUTDOWN:
            return
        self._state.value = _State.SHUTDOWN
        if self._finalizer is not None:
            self._finalizer.cancel()
        if self._owned and self._process is not None:
            _stop_process(self._process, self._address, bytes(self._authkey), self._serializer)

    def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        self.shutdown()

    def _server_request(self, funcname: str, *args: Any) -> Any:
        return _request_once(self._address, bytes(self._authkey), self._serializer,
                             funcname, args, self._timeout)


_process_counter = itertools.count(1)


def _register_builtin_typeids(manager_class: type) -> None:
    for typeid, (callable_, exposed, method_to_typeid, _) in \
            mp_managers.SyncManager._registry.items():
        manager_class.register(typeid, callable_, _BUILTIN_PROXY_TYPES[typeid],
                               exposed, method_to_typeid,
                               create_method=callable_ is not None)
    manager_class.register("auto", None, _auto_proxy, create_method=False)


_register_builtin_typeids(ActorManager)


# --------------------------------------------------------------------------
# Actor
# --------------------------------------------------------------------------

_BASE_EXPOSED = ("__enter__", "__exit__", "shutdown")


def _merged_mapping(cls: type, name: str) -> dict:
    """Union of the mappings ``name`` declared along the MRO (children win)."""
    merged: dict = {}
    for klass in reversed(cls.__mro__):
        declared = klass.__dict__.get("_uactor_declared_", {}).get(name)
        if declared:
            merged.update(declared)
    return merged


def _static_attribute(cls: type, name: str) -> Any:
    """The class attribute ``name`` as written in the class body (no descriptors run)."""
    return _static_attribute_of((cls,), name)


def _static_attribute_of(bases: Sequence[type], name: str) -> Any:
    """:func:`_static_attribute` over the MROs of ``bases``, in order."""
    for base in bases:
        for klass in base.__mro__:
            if name in vars(klass):
                return vars(klass)[name]
    return None


def _own_public_names(cls: type) -> list:
    """Public names a class body (or a non-actor mixin) defines."""
    names: dict = {}
    for klass in cls.__mro__:
        if klass is cls or not issubclass(klass, Actor):
            names.update(dict.fromkeys(
                name for name in vars(klass) if not name.startswith("_")))
    return [name for name in names if name not in vars(Actor)]


def _check_proxies(cls: Any) -> None:
    """Reject a bad ``_proxies_`` declaration when the class is defined."""
    declared = cls._uactor_declared_["_proxies_"]
    if "actor" in declared:
        raise TypeError(
            f"{cls.__qualname__}._proxies_ declares the typeid 'actor', which is "
            "reserved for the actor's own proxy (set proxy_class to customise it); "
            "register your proxy under another typeid")
    for key, kind in declared.items():
        if not isinstance(key, str):
            raise TypeError(f"{cls.__qualname__}._proxies_ key {_shorten(key)} must be "
                            "a typeid string")
        if not (isinstance(kind, type) and issubclass(kind, BaseProxy)):
            raise TypeError(
                f"{cls.__qualname__}._proxies_[{key!r}] must be a uactor.BaseProxy "
                f"subclass, not {_shorten(kind)}")


def _check_method_to_typeid(cls: Any) -> None:
    """Reject ``_method_to_typeid_`` entries naming typeids nobody registered."""
    registered = set(cls.manager_class._registry)
    for method, typeid_ in cls._method_to_typeid_.items():
        if typeid_ not in registered:
            raise TypeError(
                f"{cls.__qualname__}._method_to_typeid_[{method!r}] names typeid "
                f"{typeid_!r}, which is not registered; add it to _proxies_ "
                f"({{{typeid_!r}: YourProxy}}) or use one of {sorted(registered)}")


def _declared_config(cls: type) -> dict:
    """The configuration attributes written in this class's own body."""
    names = ("_exposed_", "_proxies_", "_method_to_typeid_", "manager_class", "proxy_class")
    return {name: cls.__dict__[name] for name in names if name in cls.__dict__}


class Actor:
    """Actor base class for actor implementations to inherit from.

    An actor represents a processing unit.  During instantiation, a new actor
    process is started, and the corresponding proxy is returned.

    Actors also implement the context manager interface, and you can override
    both :meth:`Actor.__enter__` and :meth:`Actor.__exit__` to implement your
    own logic, but keep in mind they're both specially handled and calling
    :meth:`ActorProxy.__exit__` will also terminate the process (just like
    calling :meth:`ActorProxy.shutdown`).
    """

    #: ``ActorManager`` subclass used to initialize the actor process.
    manager_class: type[ActorManager] = ActorManager

    #: ``ActorProxy`` subclass used to initialize the actor proxy.
    proxy_class: type[ActorProxy] = ActorProxy

    #: Option ``dict`` passed to :attr:`manager_class` (address, authkey,
    #: serializer, ctx, timeout, ssl_server, ssl_client).
    _options_: Mapping[str, Any] = {}

    #: Methods and properties made available by :attr:`proxy_class`; ``None``
    #: (or undefined) exposes all public ones.  Inheritance-aware.
    _exposed_: tuple[str, ...] | None = _BASE_EXPOSED

    #: ``{typeid: proxy class}`` registered on :attr:`manager_class`; by default
    #: every ``SyncManager`` proxy (``ActorManager.typeids()`` lists them).
    #:
    #: :meta hide-value:
    _proxies_: Mapping[str, type[BaseProxy]] = dict(_BUILTIN_PROXY_TYPES)

    #: ``{method name: typeid}``: results wrapped into proxies.
    _method_to_typeid_: Mapping[str, str] = {"__enter__": "actor"}

    _uactor_declared_: dict = {
        "_exposed_": dict.fromkeys(_BASE_EXPOSED),
        "_proxies_": dict(_BUILTIN_PROXY_TYPES),
        "_method_to_typeid_": {"__enter__": "actor"},
        "manager_class": ActorManager,
        "proxy_class": ActorProxy,
    }
    _uactor_exposed_: dict = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared = _declared_config(cls)
        own_exposed = declared.get("_exposed_")
        if own_exposed is None:
            own_exposed = _own_public_names(cls)
        elif isinstance(own_exposed, str):
            raise TypeError(f"{cls.__qualname__}._exposed_ must be a tuple of names, "
                            f"not the string {own_exposed!r}")
        cls._uactor_declared_ = {
            "_exposed_": dict.fromkeys(own_exposed),
            "_proxies_": dict(declared.get("_proxies_", {})),
            "_method_to_typeid_": dict(declared.get("_method_to_typeid_", {})),
            "manager_class": declared.get("manager_class"),
            "proxy_class": declared.get("proxy_class"),
        }
        _check_proxies(cls)
        cls._exposed_ = tuple(_merged_mapping(cls, "_exposed_"))
        cls._proxies_ = _merged_mapping(cls, "_proxies_")
        cls._method_to_typeid_ = _merged_mapping(cls, "_method_to_typeid_")
        _known_proxy_types.update(cls._proxies_)
        cls._configure()
        _check_method_to_typeid(cls)

    @classmethod
    def _configure(cls) -> None:
        cls._uactor_exposed_ = cls._uactor_exposed_map_()
        cls.proxy_class = cls._build_proxy_class()
        cls.manager_class = cls._build_manager_class()

    @classmethod
    def _config_bases(cls, name: str) -> tuple[type, ...]:
        """Bases of the ``proxy_class`` or ``manager_class`` built for ``cls``.

        The class declared in ``cls``'s own body (if any), then those built
        for its actor bases: so a child's classes subclass its parents'
        ("inherited and updated").  Bases another one already derives from
        are left out.
        """
        candidates = [cls._uactor_declared_[name]] if cls._uactor_declared_[name] else []
        candidates += [getattr(base, name) for base in cls.__bases__
                       if isinstance(base, type) and issubclass(base, Actor)]
        bases: list[type] = []
        for candidate in candidates:
            if candidate not in bases and not any(
                    other is not candidate and issubclass(other, candidate)
                    for other in candidates):
                bases.append(candidate)
        return tuple(bases)

    @classmethod
    def _uactor_exposed_map_(cls) -> dict:
        """``{exposed name: is an attribute (not a method)}`` for the server."""
        names = [*cls._exposed_, *cls._method_to_typeid_]
        return {name: not _is_method(_static_attribute(cls, name))
                for name in names}

    @classmethod
    def _build_proxy_class(cls) -> type:
        bases = cls._config_bases("proxy_class")
        namespace: dict = {
            "__module__": cls.__module__,
            "__qualname__": f"{cls.__qualname__}.proxy_class",
            "_uactor_actor_class_": cls,
            "_exposed_": cls._exposed_,
            "_method_to_typeid_": dict(cls._method_to_typeid_),
        }
        for name, is_attribute in cls._uactor_exposed_.items():
            inherited = _static_attribute_of(bases, name)
            if inherited is not None and not _is_generated(inherited):
                continue  # written by hand in a declared proxy class
            doc = getattr(_static_attribute(cls, name), "__doc__", None)
            factory = _make_proxy_attribute if is_attribute else _make_proxy_method
            namespace[name] = factory(name, doc)
        return type(f"{cls.__name__}.proxy_class", bases, namespace)

    @classmethod
    def _build_manager_class(cls) -> type:
        bases = cls._config_bases("manager_class")
        manager_class = type(f"{cls.__name__}.manager_class", bases, {
            "__module__": cls.__module__,
            "__qualname__": f"{cls.__qualname__}.manager_class",
        })
        for typeid, proxytype in cls._proxies_.items():
            if typeid not in manager_class._registry or \
                    manager_class._registry[typeid][-1] is not proxytype:
                manager_class.register(typeid, None, proxytype, create_method=False)
        manager_class.register("actor", cls, cls.proxy_class,
                               exposed=cls._exposed_,
                               method_to_typeid=dict(cls._method_to_typeid_),
                               create_method=False)
        return manager_class

    if _TYPE_CHECKING:
        # Type checkers see instantiating or connecting as returning the
        # actor class itself, so they check method names, arguments and
        # results; at run time it is the proxy, which adds this property.
        @property
        def connection_address(self) -> Any:  # (host, port), or a socket path
            """Get connection address to Actor process (on the proxy)."""
            raise NotImplementedError

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        return start(cls, *args, **kwargs)

    def __reduce__(self) -> tuple:
        """Inside its process an actor pickles as a proxy to itself."""
        return proxy(self, "actor").__reduce__()

    def __enter__(self) -> Self:
        """Enter context, return actor proxy."""
        return self

    def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> bool | None:
        """Leave context.

        Method :meth:`Actor.shutdown` will be called after this one when the
        context manager interface is used on the owner process.
        """
        return None

    def shutdown(self) -> None:
        """Perform shutdown work before the process dies (stub).

        This method will be called by explicit :meth:`ActorProxy.shutdown`
        calls, even if no real process shutdown is involved (ie. with remote
        proxy connections), enabling implementing remote shutdown logic here
        (ie. breaking a mainloop).
        """

    def _actor_started_(self) -> None:
        """Hook: runs in the actor process once it is reachable, after ``__init__``."""

    def _actor_stopping_(self) -> None:
        """Hook: runs once in the actor process when it is about to exit.

        Whatever ends it: the owner's shutdown, the last proxy released, or
        the owner process dying.
        """

    @classmethod
    def connect(cls, address: _Address, authkey: bytes,
                serializer: str = DEFAULT_SERIALIZER,
                capture: Iterable[_Address] = (), *,
                timeout: float | None = None,
                ssl: ssl.SSLContext | None = None) -> Self:
        """Get actor proxy instance connected to address.

        ``cls`` need not be the actor's own class: a client may declare a
        class of its own with the methods it uses (so it need not import the
        server's code).  Calling a method the actor does not expose raises
        :class:`NotExposedError`, naming the method and the actor's class.

        :param address: actor process connection address
        :param authkey: authentication secret key
        :param serializer: serializer name
        :param capture: iterable of additional addresses will be handled with
            this connection: proxies whose tokens carry them (such as
            ``('0.0.0.0', port)`` of an actor bound to every interface) are
            routed to ``address`` with ``authkey``.  The actor's own bind
            address is always captured.
        :param timeout: seconds for connecting and the default deadline of
            every call through this proxy (``None``: no call deadline).
        :param ssl: client-side :class:`ssl.SSLContext` for an actor started
            with ``ssl_server``: every connection this process opens to
            ``address`` (calls, references, proxies routed here) is then TLS,
            the authkey handshake running inside it.
        :raises AuthkeyError: when the actor rejects ``authkey``.
        :raises ActorConnectionError: when nothing answers at ``address``, or
            TLS fails (certificate not trusted or not accepted, TLS on one
            side only).
        """
        address = _normalize_address(address)
        captured = [_normalize_address(item) for item in capture]
        manager = cls.manager_class(address=address, authkey=authkey,
                                    serializer=serializer, timeout=timeout,
                                    ssl_client=ssl)
        manager.connect()
        ident, exposed, bind_address, _, incarnation = \
            manager._server_request("connect_actor")
        _address_state(address, incarnation)
        route = _Route(address, bytes(manager._authkey), manager)
        for captured_address in (address, _normalize_address(bind_address), *captured):
            _routes[captured_address] = route
        token = _Token("actor", address, ident)
        result = cls.proxy_class(token, serializer, manager=manager,
                                 authkey=manager._authkey, exposed=exposed, incref=False)
        result._adopt_reference()
        return result  # type: ignore[return-value]  # stands for the actor


Actor._configure()

# --------------------------------------------------------------------------
# Module functions
# --------------------------------------------------------------------------


def start(actor_class: type[_TActor], /, *args: Any,
          options: Mapping[str, Any] | None = None, **kwargs: Any) -> _TActor:
    """Start an actor process and return its owner proxy.

    ``actor_class(*args, **kwargs)`` is ``start(actor_class, *args, **kwargs)``;
    ``options`` overrides the class ``_options_`` for this instance only (an
    address or port chosen at run time, say).  Exceptions raised by the
    actor's ``__init__`` are re-raised here with their original type.
    """
    if not (isinstance(actor_class, type) and issubclass(actor_class, Actor)):
        raise TypeError(f"{actor_class!r} is not a uactor.Actor subclass")
    settings = {**actor_class._options_, **(options or {})}
    manager = actor_class.manager_class(**settings)
    ident, exposed = manager._start_process((args, kwargs))
    token = _Token("actor", manager.address, ident)
    owner = actor_class.proxy_class(token, manager._serializer, manager=manager,
                                    authkey=manager._authkey, exposed=exposed, incref=False)
    owner._adopt_reference()
    owner._uactor_instantiated_ = True  # type: ignore[attr-defined]  # its block ends the actor
    return owner  # type: ignore[return-value]  # the proxy stands for the actor


def proxy(value: Any, typeid: str = "auto",
          serializer: str = DEFAULT_SERIALIZER) -> BaseProxy:
    """Create serialized proxy from given value and typeid (defaults to ``auto``).

    This function can be only used from inside the actor process; the proxy
    refers to ``value`` itself (not a copy) and can be returned or passed to
    other actors.  Its connections speak the actor's own serializer (an
    xmlrpclib actor makes xmlrpclib proxies): ``serializer`` may only name it.

    :raises ProxyError: outside an actor, for an unregistered ``typeid``, or
        for ``typeid='actor'`` with anything but the actor itself.
    """
    server = _current_server
    if server is None:
        raise ProxyError("uactor.proxy() can only be called inside an actor process")
    if typeid == "actor" and value is not server.actor:
        raise ProxyError(
            f"only the actor itself can be proxied as 'actor', not {_shorten(value)}; "
            "use uactor.proxy(self, 'actor') inside the actor, or 'auto' or "
            "another typeid for other values")
    _check_serializer(serializer)
    if serializer not in (DEFAULT_SERIALIZER, server.serializer_name):
        raise ProxyError(
            f"this actor speaks {server.serializer_name!r}, so its proxies cannot use "
            f"{serializer!r}; leave serializer at its default")
    ident, exposed = server.register_object(value, typeid)
    serializer = server.serializer_name
    token = _Token(typeid, server.address, ident)
    proxytype = _auto_proxy if typeid == "auto" else server.registry[typeid][-1]
    result = proxytype(token, serializer, authkey=bytes(server.authkey),
                       exposed=exposed, incref=False)
    result._address_state.add_user()
    mp_util.Finalize(result, _release_local, args=(server, ident, result._address_state))
    return result


def _release_local(server: _ActorServer, ident: str, address_state: _AddressState) -> None:
    """Finalizer of a proxy made by :func:`proxy`: release it in-process."""
    address_state.remove_user()
    server.decref(None, ident)


def typeid(proxy: mp_managers.BaseProxy) -> str:
    """Get typeid from given proxy object."""
    if not isinstance(proxy, mp_managers.BaseProxy):
        raise TypeError(f"{proxy!r} is not a proxy")
    return proxy._token.typeid


# -- accessors: what other code may know about a proxy ---------------------


def _checked_proxy(value: Any) -> BaseProxy:
    if not isinstance(value, BaseProxy):
        raise TypeError(f"expected a uactor proxy, not {type(value).__name__} {_shorten(value)}")
    return value


def actor_class(proxy: ActorProxy) -> type[Actor]:
    """The :class:`Actor` subclass behind an actor proxy.

    Works for owner proxies, proxies from :meth:`Actor.connect` and proxies
    received from other processes.

    :raises TypeError: when ``proxy`` is not an actor proxy.
    """
    _checked_proxy(proxy)
    kind = getattr(type(proxy), "_uactor_actor_class_", None)
    if kind is None:
        raise TypeError(f"{proxy!r} is not an actor proxy (typeid "
                        f"{proxy._token.typeid!r}); only actor proxies have an actor class")
    return kind


def authkey(proxy: BaseProxy) -> bytes:
    """The authkey ``proxy`` authenticates to its actor with."""
    return bytes(_checked_proxy(proxy)._authkey)


def serializer(proxy: BaseProxy) -> str:
    """The serializer name of the connection ``proxy`` uses (``'pickle'``...)."""
    return _checked_proxy(proxy)._serializer


def process(proxy: BaseProxy) -> multiprocessing.process.BaseProcess | None:
    """The actor's process when this process started it, else ``None``."""
    manager = _checked_proxy(proxy)._manager
    return manager.process if manager is not None else None


def call_timeout(proxy: BaseProxy) -> float | None:
    """The default deadline (s) of every call through ``proxy``; ``None``: none."""
    return _checked_proxy(proxy)._timeout


def set_call_timeout(proxy: BaseProxy, timeout: float | None) -> None:
    """Set the default deadline (s) of calls through ``proxy`` (``None``: none).

    Only this proxy object changes; :func:`deadline` blocks still apply.
    """
    _checked_proxy(proxy)._timeout = _check_timeout(timeout)


def remote_traceback(exc: BaseException) -> str | None:
    """The actor-side traceback text of an error an actor sent back.

    ``None`` when ``exc`` was raised in this process (a connection failure,
    a deadline...).  An empty string means the actor server refused the
    request itself, before running any of the actor's code.
    """
    cause = exc.__cause__
    return str(cause) if isinstance(cause, _RemoteTraceback) else None


def discard_closed_connection(proxy: BaseProxy) -> bool:
    """Close this thread's connection to the actor if the actor closed it.

    Between calls an actor sends nothing, so a readable connection was closed
    by the actor (or its process died).  Discarding it makes the next call
    connect afresh: if the actor is gone, that call then fails *before*
    anything is sent (safe to retry elsewhere) instead of in flight.  Returns
    whether a connection was discarded.
    """
    proxy = _checked_proxy(proxy)
    conn = getattr(proxy._tls, "connection", None)
    if conn is None:
        return False
    try:
        closed = conn.closed or conn.poll(0)
    except (OSError, ValueError):
        closed = True
    if closed:
        proxy._drop_connection()
    return bool(closed)


def current_address() -> _Address:
    """_Address the actor hosted by the current process listens on.

    :raises ProxyError: outside an actor process.
    """
    if _current_server is None:
        raise ProxyError("uactor.current_address() can only be called inside an actor process")
    return _current_server.address


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Bound every actor call made by this thread inside the block.

    Calls still running when ``seconds`` have passed raise
    :class:`CallTimeoutError`.  Nested blocks keep the earliest deadline.
    """
    seconds = _check_timeout(seconds, "seconds")  # type: ignore[assignment]
    previous = _deadline.at
    at = _monotonic() + seconds
    _deadline.at = at if previous is None else min(previous, at)
    try:
        yield
    finally:
        _deadline.at = previous
