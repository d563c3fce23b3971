"""uActor: a process actor model for Python, on the standard library alone.

Classes inherit :class:`Actor`; instantiating one starts a dedicated process
hosting the real object and returns a proxy to it.  Calls on the proxy are
messages sent over uactor's own authenticated connections, served by a
:mod:`multiprocessing.managers`-style server, so actors use every core, and,
given an address and an authkey, every machine (IPv4 or IPv6, over TLS with
:class:`ssl.SSLContext` options).

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
    "ActorAddressError",
    "ActorConnectionError",
    "ActorDeadError",
    "ActorManager",
    "ActorProxy",
    "AuthKeyError",
    "AuthkeyError",
    "BaseProxy",
    "CallTimeoutError",
    "DEFAULT_SERIALIZER",
    "DisallowedClassError",
    "FrameAuthenticationError",
    "MessageTooLargeError",
    "NotExposedError",
    "NotHeldError",
    "ProxyError",
    "UActorException",
    "actor_class",
    "aio",
    "authkey",
    "call_async",
    "call_timeout",
    "caller_is_owner",
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

import collections
import contextlib
import contextvars
import copyreg
import functools
import hashlib
import hmac
import io
import itertools
import logging
import math
import mmap
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
import reprlib
import select
import socket
import struct
import sys
import threading
import time
import traceback
import types
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any, Callable, TypeVar, Union, cast

if _TYPE_CHECKING:  # imported where TLS is used: it adds ~10 ms to every import
    import ssl

    # typing.ParamSpec from Python 3.10, typing.Self from 3.11
    from typing_extensions import ParamSpec, Self

    _P = ParamSpec("_P")
    _R = TypeVar("_R")

__version__ = "0.2.0.dev0"

_logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------

#: Default serializer name for uactor.
DEFAULT_SERIALIZER = "pickle"

#: Serializers uactor speaks: pickle (protocol 5, out-of-band buffers) and
#: multiprocessing's ``xmlrpclib`` (plain data only, no code on load).
_SERIALIZERS = ("pickle", "xmlrpclib")

#: Bytes from which a buffer (numpy array, PickleBuffer, memoryview) or a
#: ``bytes``/``bytearray`` travels out of band: below it the extra piece
#: costs more than the copy it saves.  Not below 64 KiB: pickle hands a
#: ``bytes``/``bytearray`` of 64 KiB or more (its frame size target) to the
#: stream as a piece of its own, which is how large ones are found at no cost
#: to the messages without one.
_OUT_OF_BAND_MIN = 64 * 1024

#: Times the rest of a message's pickle its large ``bytes``/``bytearray``
#: must weigh to travel out of band: that takes a second pickling pass with
#: a Python call per object (~9 ns per byte of the rest, measured), against
#: ~0.7 ns per payload byte of copying saved on the sending side alone.
_LIFT_RATIO = 8

#: Seconds a TCP/unix connect may take before the address is reported
#: unreachable (a blackholed host would otherwise block for minutes).
_CONNECT_TIMEOUT = 10.0

#: Seconds either side may take to complete the whole handshake (TLS, if
#: used, then the authkey): bounds what a silent, trickling or
#: garbage-speaking peer can hold a thread for.
_HANDSHAKE_TIMEOUT = 10.0

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

#: Module names of a script run as the main program (``__mp_main__`` in
#: processes the spawn and forkserver start methods make).
_MAIN_MODULES = ("__main__", "__mp_main__")

#: Characters of a bad value that uactor's messages quote (a 100 MB argument
#: must not come back as a 100 MB error message).
_QUOTE_MAX = 200

# Wire protocol (docs/networking.rst, "Transport and wire protocol").  The server
# greets with a hello: magic, protocol version, flags, its maximum message
# size (0: none) and a random nonce.
_MAGIC = b"uActor\x00"
_PROTOCOL_VERSION = 1
_HELLO = struct.Struct("!7sBBQ32s")
#: Hello flag: every frame after the handshake carries a tag (TCP).
_FLAG_FRAME_MAC = 1
#: Hello flag: the actor decodes requests with an allow-list (plain data
#: and its ``allowed_classes`` only).
_FLAG_RESTRICTED = 2
#: Random bytes each side contributes to the handshake.
_NONCE_BYTES = 32
#: HMAC-SHA256 proof bytes (client answer, server answer, owner proofs).
_PROOF_BYTES = 32
#: Server verdict bytes before its proof: accepted, or rejected (then closed).
_ACCEPTED, _REJECTED = b"\x01", b"\x00"
#: Labels keeping every HMAC of the handshake apart from the others.
_LABEL_CLIENT = b"uactor client proof\x00"
_LABEL_SERVER = b"uactor server proof\x00"
_LABEL_TO_SERVER = b"uactor frames to server\x00"
_LABEL_TO_CLIENT = b"uactor frames to client\x00"
_LABEL_OWNER = b"uactor owner proof\x00"

#: Frame header: body bytes, number of out-of-band buffers (each buffer's
#: size follows as 8 bytes).
_HEADER = struct.Struct("!QH")
_HEADER_BYTES = _HEADER.size
_unpack_header = _HEADER.unpack_from
_compare_digest = hmac.compare_digest
#: Frame sequence number, authenticated but never sent.
_SEQUENCE = struct.Struct("!Q")
#: Bytes of a frame tag (a 128-bit MAC).
_TAG_BYTES = 16
#: Frames of up to this many payload bytes are tagged with keyed BLAKE2b
#: (~1 us each), larger ones with HMAC-SHA256 (twice BLAKE2b's speed on large
#: data here, with SHA extensions); both sides choose from the header.
_SMALL_MAC_MAX = 512
#: Bytes hashed and written at a time in a large tagged frame, so that the
#: receiver hashes one piece while the sender hashes the next.
_MAC_CHUNK = 1024 * 1024
#: Bytes of the reusable read buffer of each connection: a frame that fits
#: is read with one ``recv`` and decoded in place.
_READ_BUFFER = 64 * 1024
#: Blocks of at least this many bytes are read into anonymous memory maps,
#: which the system commits page by page as data arrives: a header claiming
#: terabytes costs nothing until the bytes come.  Smaller ones are read into
#: bytearrays (a claim costs at most this much until the connection ends):
#: a ``bytearray`` sent out of band is then handed over as received, where
#: one read into a map is copied (a 10 MB echo: ~1.9 GB/s against ~0.9).
_MMAP_MIN = 16 * 1024 * 1024
#: Replies a pipelined connection holds back at most while further requests
#: are already read, to write them together: few enough that the client
#: starts on the first ones while the actor works on the next.
_REPLY_BATCH = 4
#: Pieces written in one ``sendmsg`` call (below every system's IOV_MAX).
_IOV_MAX = 512
#: Message size up to which a TLS frame's pieces are joined into one write:
#: one TLS record, one segment.
_TLS_COALESCE_MAX = 16384

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


class FrameAuthenticationError(ActorDeadError):
    """A frame failed authentication: the connection was tampered with.

    Something on the path injected, altered, replayed or reordered data (or
    corrupted it).  The connection is dropped and nothing the frame carried
    is decoded.  An :class:`ActorDeadError`: a call in flight may or may
    not have run.
    """


class ActorAddressError(ProxyError, OSError):
    """An actor cannot listen on its address.

    In use, not an address of this host, an address family (IPv6) the system
    does not support or has disabled, or a name that does not resolve.
    """


class MessageTooLargeError(ProxyError, ValueError):
    """A message exceeds the actor's ``max_message`` limit.

    Raised by the client before it sends anything (the connection stays
    usable), and by the actor for a raw oversized frame, which it refuses
    after reading only the header.
    """


class DisallowedClassError(ProxyError, pickle.UnpicklingError):
    """A message named a class or function the actor does not allow.

    An actor with ``allowed_classes`` decodes requests from plain data and
    those classes only; whatever else a pickle names is refused before it
    can run.
    """


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
# Validation
# --------------------------------------------------------------------------


class _ShortRepr(reprlib.Repr):
    """``repr`` that slices strings and bytes before formatting them."""

    def __init__(self) -> None:
        super().__init__()
        self.maxstring = self.maxother = _QUOTE_MAX
        self.maxlong = _QUOTE_MAX

    def repr_bytes(self, value: bytes, level: int) -> str:
        if len(value) <= self.maxstring:
            return repr(value)
        return f"{value[:self.maxstring]!r}... ({len(value)} bytes)"

    repr_bytearray = repr_bytes


_short_repr = _ShortRepr()


def _shorten(value: Any) -> str:
    """``repr(value)`` cut to about :data:`_QUOTE_MAX` characters, for messages."""
    try:
        text = _short_repr.repr(value)
    except Exception:  # a broken __repr__ must not hide the real error
        text = f"<{type(value).__name__} object>"
    return _clip(text) if len(text) > _QUOTE_MAX + 40 else text


def _clip(text: str) -> str:
    """``text`` cut to about :data:`_QUOTE_MAX` characters, for messages."""
    if len(text) <= _QUOTE_MAX:
        return text
    return f"{text[:_QUOTE_MAX]}... ({len(text)} characters)"


def _describe(address: Any) -> str:
    """Human form of an address: ``host:port``, ``[v6 host]:port`` or the path."""
    if isinstance(address, tuple) and len(address) == 2:
        host, port = address
        if isinstance(host, str) and ":" in host:
            return f"[{host}]:{port}"
        return f"{host}:{port}"
    return _shorten(address)


def _is_unscoped_link_local(host: str) -> bool:
    """Whether ``host`` is an IPv6 link-local address (fe80::/10) without ``%scope``."""
    if ":" not in host or "%" in host:
        return False
    try:
        packed = socket.inet_pton(socket.AF_INET6, host)
    except OSError:
        return False
    return packed[0] == 0xFE and packed[1] & 0xC0 == 0x80


def _normalize_address(address: Any) -> _Address:
    """Validate an address and return it in the form tokens carry.

    Accepts ``(host, port)`` (list or tuple, from xmlrpc or JSON too; IPv6
    hosts with or without brackets, link-local ones with their ``%scope``)
    and unix socket paths.  Raises ``TypeError``/``ValueError`` naming the
    bad value.
    """
    if isinstance(address, (tuple, list)):
        if len(address) != 2:
            raise ValueError(f"address {_shorten(address)} must be a (host, port) pair")
        host, port = address
        if not isinstance(host, str):
            raise TypeError(f"host in address {_shorten(address)} must be a str")
        if isinstance(port, bool) or not isinstance(port, int):
            raise TypeError(f"port in address {_shorten(address)} must be an int")
        if not 0 <= port <= 65535:
            raise ValueError(f"port in address {_shorten(address)} must be in 0..65535")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if _is_unscoped_link_local(host):
            raise ValueError(
                f"IPv6 link-local address {host!r} needs the interface it is on: "
                f"write it with its scope, as '{host}%eth0'")
        return (host, port)
    if isinstance(address, str) and address:
        return address
    if isinstance(address, bytes) and address:
        return os.fsdecode(address)
    raise TypeError(
        f"address {_shorten(address)} must be a (host, port) tuple or a socket path"
    )


def _check_authkey(authkey: Any) -> bytes:
    if not isinstance(authkey, (bytes, bytearray)):
        raise TypeError(
            f"authkey must be bytes, not {type(authkey).__name__}; "
            "pass it as b'...'"
        )
    return bytes(authkey)


def _check_tcp_authkey(address: Any, authkey: bytes) -> None:
    """Refuse an empty authkey for a TCP actor: anyone reaching it could get in."""
    if isinstance(address, tuple) and not authkey:
        raise ValueError(
            f"an empty authkey cannot protect the actor at {_describe(address)}: "
            "anyone who can reach a TCP port could connect and run code in it; "
            "use a random key, such as secrets.token_bytes(32), on both sides")


def _check_serializer(serializer: Any) -> str:
    if serializer not in _SERIALIZERS:
        raise ValueError(
            f"serializer {_shorten(serializer)} is unknown; use one of {list(_SERIALIZERS)}"
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


def _check_max_message(value: Any) -> int | None:
    """``max_message`` option: a positive number of bytes, or ``None`` (no limit)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"max_message must be a number of bytes (int) or None, not {_shorten(value)}")
    if value <= 0:
        raise ValueError(
            f"max_message must be positive, not {value!r}; use None for no limit")
    return value


def _check_allowed_classes(value: Any) -> tuple[type, ...] | None:
    """``allowed_classes`` option: an iterable of classes, or ``None`` (full pickle)."""
    if value is None:
        return None
    if isinstance(value, (str, bytes, type)) or not isinstance(value, Iterable):
        raise TypeError(
            f"allowed_classes must be an iterable of classes (or None), not "
            f"{_shorten(value)}; for one class write [{getattr(value, '__name__', 'X')}]")
    classes = tuple(value)
    for kind in classes:
        if not isinstance(kind, type):
            raise TypeError(f"allowed_classes holds {_shorten(kind)}, which is not a class")
    return classes


# --------------------------------------------------------------------------
# Encoding: pickle protocol 5, xmlrpclib, the allow-list decoder
# --------------------------------------------------------------------------


def _xml_dumps(obj: Any) -> bytes:
    import xmlrpc.client  # only for this serializer: it costs ~20 ms to import

    return xmlrpc.client.dumps((obj,), None, None, None, 1).encode("utf-8")


def _xml_loads(data: Any) -> Any:
    import xmlrpc.client

    (obj,), _ = xmlrpc.client.loads(bytes(data).decode("utf-8"))
    return obj


_ForkingPickler = mp_reduction.ForkingPickler


class _Pickler(pickle.Pickler):
    """Pickle protocol 5 with multiprocessing's reducers (dict views as lists...).

    The same reducers as :class:`multiprocessing.reduction.ForkingPickler`,
    read through (later registrations included) without copying its table
    for every message; and memoryviews, which plain pickle refuses, sent as
    their bytes, format and shape (:func:`_rebuild_memoryview`).
    """

    dispatch_table = collections.ChainMap(
        _ForkingPickler._extra_reducers,  # type: ignore[attr-defined]
        copyreg.dispatch_table)  # type: ignore[arg-type]

    def reducer_override(self, obj: Any) -> Any:
        # pickle never asks this about bytes, bytearray, str, numbers or the
        # builtin containers (its fast paths): no cost to plain data.
        if type(obj) is memoryview:
            return _reduce_memoryview(obj)
        return NotImplemented


def _reduce_memoryview(view: memoryview) -> tuple:
    """How a memoryview travels: its bytes (out of band from
    :data:`_OUT_OF_BAND_MIN` on), format and shape, read-only or not."""
    data: Any = view
    if not view.c_contiguous:  # one C-ordered copy
        data = view.tobytes() if view.readonly else bytearray(view)
    buffer = pickle.PickleBuffer(data)
    try:  # what the receiver will do, on the bytes as they arrive
        _rebuild_memoryview(buffer.raw(), view.format, view.shape or ())
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"a memoryview of format {view.format!r} and shape {view.shape} cannot be "
            f"sent ({exc}): uactor sends memoryviews of native single-character "
            "formats (those memoryview.cast accepts); send view.cast('B'), or the "
            "object it views") from exc
    return _rebuild_memoryview, (buffer, view.format, view.shape)


def _rebuild_memoryview(data: Any, format: str, shape: tuple) -> memoryview:
    """A received memoryview: over the received bytes, read-only if the sent
    one was.  Allowed by every allow-list decoder (it builds plain data)."""
    view: Any = memoryview(data)
    shape = tuple(shape)
    if view.format == format and view.shape == shape:
        return view
    if len(shape) == 1:  # the one cast that also takes an empty view
        return view.cast(format)
    return view.cast(format, shape)


class _Sink:
    """The pickler's file: keeps what pickle writes as pieces, uncopied.

    pickle writes a message in one piece, except that each ``bytes`` or
    ``bytearray`` of 64 KiB or more comes as the object itself, right after
    a piece ending with its opcode and length (see :func:`_lifted_share`).
    """

    __slots__ = ("write",)

    def __init__(self, pieces: list) -> None:
        self.write = pieces.append


def _lifted_share(pieces: list) -> bool:
    """Whether the large ``bytes``/``bytearray`` pickle wrote among ``pieces``
    weigh at least :data:`_LIFT_RATIO` times the rest of the message."""
    payload = rest = 0
    previous = b""
    for piece in pieces:
        size = len(piece)
        if size >= _OUT_OF_BAND_MIN and (
                type(piece) is bytearray  # pickle's own pieces are bytes
                or previous.endswith(_bytes_opcode(size))):
            payload += size
        else:
            rest += size
        previous = piece
    return payload >= _LIFT_RATIO * rest and payload > 0


def _bytes_opcode(size: int) -> bytes:
    """How pickle (protocol 5) announces a ``bytes`` of ``size`` bytes."""
    if size < 1 << 32:
        return b"B" + size.to_bytes(4, "little")  # BINBYTES
    return b"\x8e" + size.to_bytes(8, "little")  # BINBYTES8


class _Lifter(_Pickler):
    """The second pass for messages carrying large ``bytes``/``bytearray``.

    Each ``bytes``/``bytearray`` of :data:`_OUT_OF_BAND_MIN` bytes or more
    becomes a persistent id holding a :class:`pickle.PickleBuffer` of it,
    which :class:`_OutOfBand` sends out of band; a second reference to the
    same object becomes the number of the first (identity is kept).  The
    receiver's :meth:`_Unpickler.persistent_load` turns them back into
    ``bytes`` (one copy) and ``bytearray`` (the received memory itself).
    pickle has fast paths for these types (no ``reducer_override``, no
    dispatch table), and persistent ids are its only hook before them; the
    first pass (:class:`_Pickler`) runs without it, so plain messages pay
    nothing.
    """

    def __init__(self, file: Any, buffer_callback: Callable) -> None:
        super().__init__(file, 5, buffer_callback=buffer_callback)
        self.numbers: dict[int, int] = {}  # id(object) -> its number in the message

    def persistent_id(self, obj: Any) -> Any:
        kind = type(obj)
        if (kind is not bytes and kind is not bytearray) or len(obj) < _OUT_OF_BAND_MIN:
            return None
        numbers = self.numbers
        number = numbers.get(id(obj))
        if number is not None:
            return number
        numbers[id(obj)] = len(numbers)
        return pickle.PickleBuffer(obj)


class _OutOfBand(list):
    """``buffer_callback`` of a message: large buffers out of band, small in band.

    Objects that export buffers of at least :data:`_OUT_OF_BAND_MIN` bytes
    (numpy arrays, ``pickle.PickleBuffer``, and uactor's own
    bytes/bytearray/memoryview reductions) travel as raw bytes written
    straight from their memory and read straight into the receiver's,
    instead of being copied into and out of the pickle (PEP 574).
    """

    __slots__ = ()

    def __call__(self, buffer: pickle.PickleBuffer) -> bool:
        view = buffer.raw()
        if view.nbytes < _OUT_OF_BAND_MIN:
            return True
        self.append(view)
        return False


class _Encoder:
    """Pickles one connection's messages: ``(body, out-of-band buffers)``.

    One pickler per connection, reset for every message.  A message is
    pickled once; when pickle wrote large ``bytes``/``bytearray`` inline and
    they make up most of it (:func:`_lifted_share`), it is pickled again by
    the :class:`_Lifter`, which sends them out of band.
    """

    __slots__ = ("_pieces", "buffers", "_pickler", "_lifter")

    def __init__(self) -> None:
        self._pieces: list = []
        self.buffers = _OutOfBand()
        self._pickler = _Pickler(_Sink(self._pieces), 5, True, self.buffers)
        self._lifter: _Lifter | None = None

    def encode(self, obj: Any) -> memoryview:
        """The body of ``obj``'s frame; its out-of-band buffers are in :attr:`buffers`."""
        pieces, buffers = self._pieces, self.buffers
        pieces.clear()
        buffers.clear()
        pickler: _Pickler = self._pickler
        pickler.clear_memo()
        pickler.dump(obj)
        if len(pieces) > 1 and _lifted_share(pieces):
            pieces.clear()
            buffers.clear()
            if self._lifter is None:
                self._lifter = _Lifter(_Sink(pieces), buffers)
            pickler = self._lifter
            pickler.clear_memo()
            try:
                pickler.dump(obj)
            finally:
                self._lifter.numbers.clear()
        body = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        pieces.clear()  # no reference to the caller's data is kept
        return memoryview(body)


class _Unpickler(pickle.Unpickler):
    """Decodes messages whose frame has out-of-band buffers (any kind of them)."""

    def persistent_load(self, pid: Any) -> Any:
        """A ``bytes``/``bytearray`` the sender's :class:`_Lifter` sent out of
        band: a read-only buffer is a ``bytes`` (copied: a ``bytes`` cannot be
        made over received memory), a writable one a ``bytearray`` (handed
        over when it was received into one, copied from a memory map)."""
        lifted = self.__dict__.setdefault("lifted", [])
        kind = type(pid)
        if kind is int and 0 <= pid < len(lifted):
            return lifted[pid]  # the same object again
        if kind is memoryview or kind is bytes:
            obj: Any = bytes(pid)
        elif kind is bytearray:
            obj = pid
        elif kind is mmap.mmap:
            obj = bytearray(pid)
        else:
            raise DisallowedClassError(
                f"persistent id {_shorten(pid)} is not one uactor sends (a bytes or "
                "bytearray buffer, or the number of one sent before in the message); "
                "the message was refused")
        lifted.append(obj)
        return obj


def _loads(body: Any, buffers: Sequence, allowed: type[_AllowListUnpickler] | None) -> Any:
    """Decode a pickled message: plain pickle, or with the allow-list ``allowed``."""
    if allowed is not None:
        return allowed(io.BytesIO(body), buffers=buffers).load()
    if not buffers:  # the common case: a C call
        return pickle.loads(body)
    return _Unpickler(io.BytesIO(body), buffers=buffers).load()


def _allow_list(classes: Iterable[type] | None) -> type[_AllowListUnpickler] | None:
    """The allow-list unpickler class for ``classes``, or ``None`` (full pickle)."""
    if classes is None:
        return None
    allowed = {}
    for kind in classes:
        allowed[kind.__module__, kind.__qualname__] = kind
        if kind.__module__ in _MAIN_MODULES:  # a script's classes, under either name
            for module in _MAIN_MODULES:
                allowed[module, kind.__qualname__] = kind
    return type("_AllowListUnpickler", (_AllowListUnpickler,), {"allowed": allowed})


def _refusal(module: str, name: str) -> str:
    """Why the allow-list decoder refused the global ``module.name``."""
    if module == __name__ and name == "_rebuild_proxy":
        return ("a proxy cannot be sent to this actor: it decodes plain data and "
                "its allowed_classes only (allowed_classes option), so it cannot "
                "take callbacks; pass plain data, such as an address to connect to")
    return (f"{_clip(f'{module}.{name}')} is not allowed by this actor: it "
            "decodes plain data (str, int, float, bool, None, bytes, bytearray, "
            "memoryview, and tuples, lists, dicts, sets of those) and its "
            "allowed_classes only; "
            "add the class to allowed_classes if it is safe to build from "
            "untrusted data")


class _AllowListUnpickler(_Unpickler):
    """Unpickler that builds plain data and the allowed classes, nothing else.

    Plain data needs no global (pickle has opcodes for it, and large
    ``bytes``/``bytearray`` come as :meth:`~_Unpickler.persistent_load`
    ids); every global a pickle names goes through :meth:`find_class`, which
    returns only the classes in ``allowed`` (``{(module, qualname): class}``,
    set on the subclass :func:`_allow_list` makes) and uactor's
    :func:`_rebuild_memoryview`, so a ``__reduce__`` naming ``os.system`` is
    refused before anything runs.
    """

    allowed: Mapping[tuple[str, str], type] = {}

    def find_class(self, module: str, name: str) -> Any:
        kind = self.allowed.get((module, name))
        if kind is None:
            if module == __name__ and name == "_rebuild_memoryview":
                return _rebuild_memoryview  # plain data: bytes seen through a format
            raise DisallowedClassError(_refusal(module, name))
        return kind


# --------------------------------------------------------------------------
# Framing and connections
# --------------------------------------------------------------------------


def _derive(key: bytes, label: bytes, transcript: bytes = b"") -> bytes:
    """HMAC-SHA256 of ``label + transcript`` under ``key``: proofs and session keys."""
    return hmac.digest(key, label + transcript, "sha256")


def _time_left(at: float, before: str) -> float:
    """Seconds left until the deadline ``at``; a :class:`CallTimeoutError`
    saying it passed ``before`` what, if none are."""
    remaining = at - _monotonic()
    if remaining <= 0:
        raise CallTimeoutError(f"the deadline passed before {before}")
    return remaining


def _bound(sock: socket.socket, deadline: float) -> None:
    """Let the next operation on ``sock`` run until ``deadline`` (monotonic) at most."""
    remaining = deadline - _monotonic()
    if remaining <= 0:
        raise socket.timeout("the deadline passed")
    sock.settimeout(remaining)


class _Session:
    """What a completed handshake established for one connection.

    ``transcript`` (the server's hello and the client's nonce) is what owner
    proofs are bound to; ``send_key``/``recv_key`` tag frames (``None`` on
    unix sockets); ``restricted`` and ``peer_max_message`` are the server's
    announcements, as the client received them.
    """

    __slots__ = ("transcript", "send_key", "recv_key", "restricted", "peer_max_message")

    def __init__(self, authkey: bytes, transcript: bytes, *, client: bool) -> None:
        _, _, flags, max_message, _ = _HELLO.unpack_from(transcript)
        self.transcript = transcript
        self.restricted = bool(flags & _FLAG_RESTRICTED)
        self.peer_max_message = (max_message or None) if client else None
        self.send_key = self.recv_key = None
        if flags & _FLAG_FRAME_MAC:
            to_server = _derive(authkey, _LABEL_TO_SERVER, transcript)
            to_client = _derive(authkey, _LABEL_TO_CLIENT, transcript)
            self.send_key, self.recv_key = ((to_server, to_client) if client
                                            else (to_client, to_server))


class _FrameMac:
    """Tags the frames of one direction of a connection.

    Keyed BLAKE2b for small frames, HMAC-SHA256 (tag cut to 128 bits) for
    large ones, under keys derived from the direction's session key.  A tag
    covers the frame's sequence number (counted on both sides, never sent),
    its header and its payload: a frame injected, altered, replayed or moved
    fails its check.
    """

    __slots__ = ("_small", "_large", "_sequence")

    def __init__(self, key: bytes) -> None:
        self._small = hashlib.blake2b(key=_derive(key, b"blake2b"), digest_size=_TAG_BYTES)
        self._large = hmac.new(_derive(key, b"hmac-sha256"), digestmod="sha256")
        self._sequence = 0

    def start(self, size: int) -> Any:
        """A hasher for the next frame (``size`` payload bytes), fed its number."""
        sequence = self._sequence
        self._sequence = sequence + 1
        hasher = (self._small if size <= _SMALL_MAC_MAX else self._large).copy()
        hasher.update(_SEQUENCE.pack(sequence))
        return hasher

    def tag(self, size: int, first: Any, second: Any = None) -> bytes:
        """The tag of the next frame, made of ``first`` (from the header on)
        and ``second``: the hot path of small calls, kept to a few C calls."""
        sequence = self._sequence
        self._sequence = sequence + 1
        hasher: Any
        if size <= _SMALL_MAC_MAX:
            hasher = self._small.copy()
            hasher.update(_SEQUENCE.pack(sequence) + first)
        else:
            hasher = self._large.copy()
            hasher.update(_SEQUENCE.pack(sequence))
            hasher.update(first)
        if second is not None:
            hasher.update(second)
        return hasher.digest()[:_TAG_BYTES]


def _read_block(size: int) -> Any:
    """Writable memory for a received block of ``size`` bytes.

    Large blocks are private anonymous maps, committed page by page as data
    arrives, so a frame header announcing more than will ever come costs
    nothing.
    """
    if size < _MMAP_MIN:
        return bytearray(size)
    return mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE)


class _Connection:
    """An authenticated connection between a uactor client and an actor server.

    One class for every transport (TCP over IPv4 or IPv6, TLS over TCP, unix
    sockets): it holds the socket, frames messages, tags them on TCP and
    bounds sending and receiving by deadlines.

    A frame is a header (body size, out-of-band buffer count, each buffer's
    size), the body (a pickle, or xmlrpclib text), the buffers (PEP 574,
    written from and read into their own memory) and, on TCP, a tag
    (:class:`_FrameMac`).  A small frame is written with one ``sendmsg`` and
    read with one ``recv`` into a reusable buffer, where it is decoded; a
    large one is hashed and written :data:`_MAC_CHUNK` bytes at a time and
    read straight into its own memory.  Tags are checked before anything is
    decoded.  A receiver with ``max_message`` refuses a frame whose header
    announces more, reading nothing else.

    Used by one thread at a time.  ``deadline`` arguments are
    :func:`time.monotonic` values bounding the whole send or receive.  Any
    failure while sending or receiving closes the connection (it may be in
    the middle of a frame), except a message refused by size: the client
    refuses before sending anything, and the server answers before closing.
    Decoding errors leave it usable (the frame was read whole).
    """

    __slots__ = ("_sock", "_tls", "where", "_transcript", "restricted", "peer_max_message",
                 "max_message", "_allowed", "_xml", "_send_mac", "_recv_mac",
                 "_encoder", "_buffer", "_view", "_start",
                 "_end", "_timed", "_poller", "_poll_events", "_closer", "_corked",
                 "__weakref__")

    def __init__(self, sock: socket.socket, session: _Session, where: str,
                 serializer: str = DEFAULT_SERIALIZER, *, tls: bool = False,
                 max_message: int | None = None,
                 allowed: type[_AllowListUnpickler] | None = None) -> None:
        self._sock: socket.socket | None = sock
        # Closes the socket when the connection is dropped unclosed (a finished
        # thread's, one in a traceback cycle).  The finalizer holds the socket,
        # so the garbage collector never finalizes it first (with a
        # ResourceWarning) and closes it before any finalizer runs.
        self._closer = weakref.finalize(self, sock.close)
        self._tls = tls
        #: The peer, for messages: ``host:port`` or a path.
        self.where = where
        self._transcript = session.transcript
        #: The actor decodes with an allow-list (client side).
        self.restricted = session.restricted
        #: The actor's message size limit (client side), None for none.
        self.peer_max_message = session.peer_max_message
        #: This side's limit on received messages (server side).
        self.max_message = max_message
        self._allowed = allowed
        self._xml = serializer == "xmlrpclib"
        self._send_mac = _FrameMac(session.send_key) if session.send_key else None
        self._recv_mac = _FrameMac(session.recv_key) if session.recv_key else None
        self._encoder = _Encoder()  # one pickler per connection
        self._buffer = bytearray(_READ_BUFFER)
        self._view = memoryview(self._buffer)
        self._start = self._end = 0
        self._timed = False
        self._poller: Any = None  # for deadlines on plain sockets, made on first use
        self._poll_events = 0
        self._corked: bytearray | None = None

    # -- state ---------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._sock is None

    def _socket(self) -> socket.socket:
        sock = self._sock
        if sock is None:
            raise OSError(f"the connection to {self.where} is closed")
        return sock

    def fileno(self) -> int:
        return self._socket().fileno()

    def close(self) -> None:
        self._sock = None
        self._closer()  # once

    def poll(self, timeout: float | None = 0.0) -> bool:
        """Whether a frame has started arriving within ``timeout`` seconds."""
        if self._end > self._start:
            return True
        sock = self._socket()
        if self._tls and sock.pending():  # type: ignore[attr-defined]
            return True
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(None if timeout is None else max(timeout, 0.0) * 1000))

    def prove(self, secret: bytes) -> bytes:
        """Proof of holding ``secret`` (an owner token), bound to this connection."""
        return _derive(secret, _LABEL_OWNER, self._transcript)

    def _before(self, sock: socket.socket, events: int, deadline: float | None) -> None:
        """Let the next operation on ``sock`` run until ``deadline`` at most.

        TLS bounds it by the socket's timeout (decrypted data may be waiting
        where the descriptor shows none); a plain socket stays blocking, and
        is polled for ``events`` with the time left (no mode switch per call).
        """
        if self._tls:
            if deadline is not None:
                _bound(sock, deadline)
                self._timed = True
            elif self._timed:
                sock.settimeout(None)
                self._timed = False
        elif deadline is not None:
            remaining = deadline - _monotonic()
            if remaining > 0:
                if self._poll_events != events:
                    if self._poller is None:
                        self._poller = select.poll()
                    self._poller.register(sock, events)  # or modify
                    self._poll_events = events
                if self._poller.poll(math.ceil(remaining * 1000)):
                    return
            raise socket.timeout("the deadline passed")

    # -- sending -------------------------------------------------------------

    def send(self, obj: Any, deadline: float | None = None) -> None:
        """Encode ``obj`` and send it as one frame before ``deadline``.

        :raises MessageTooLargeError: over the peer's ``max_message``;
            nothing was sent and the connection stays usable.
        """
        buffers = self._encoder.buffers
        body = memoryview(_xml_dumps(obj)) if self._xml else self._encoder.encode(obj)
        try:
            self._send_frame(body, buffers, deadline)
        finally:
            body.release()
            buffers.clear()

    def _send_frame(self, body: memoryview, buffers: list, deadline: float | None) -> None:
        size = body.nbytes
        header = _HEADER.pack(size, len(buffers))
        if buffers:
            sizes = [view.nbytes for view in buffers]
            size += sum(sizes)
            header += struct.pack(f"!{len(sizes)}Q", *sizes)
        limit = self.peer_max_message
        if limit is not None and size > limit:
            raise MessageTooLargeError(
                f"a {size}-byte message exceeds the {limit}-byte limit (max_message) of "
                f"the actor at {self.where}; nothing was sent: pass less data per call")
        mac = self._send_mac
        try:
            if mac is None:
                self._write([header, body, *buffers], deadline)
            elif size > _MAC_CHUNK:
                self._send_streamed(mac.start(size), [header, body, *buffers], deadline)
            elif buffers:
                hasher = mac.start(size)
                for piece in (header, body, *buffers):
                    hasher.update(piece)
                self._write([header, body, *buffers, hasher.digest()[:_TAG_BYTES]], deadline)
            else:
                self._write([header, body, mac.tag(size, header, body)], deadline,
                            len(header) + size + _TAG_BYTES)
        except BaseException:
            self.close()
            raise

    # -- holding frames (the sans-I/O side of sending) -------------------------
    #
    # Corked, the connection frames what send() is given (header, body,
    # buffers, tag: the one framing code) into a buffer instead of the
    # socket: the asyncio pipeline writes that buffer on its own, and the
    # pipelined server writes several replies at once.

    def cork(self) -> None:
        """Hold the frames :meth:`send` makes from now on, until :meth:`uncork`."""
        if self._corked is None:
            self._corked = bytearray()

    def uncork(self) -> None:
        """Write the frames held since :meth:`cork` in one go, and stop holding."""
        frames, self._corked = self._corked, None
        if frames:
            try:
                self._write([frames], None, len(frames))
            except BaseException:
                self.close()
                raise

    def _send_streamed(self, hasher: Any, pieces: list, deadline: float | None) -> None:
        """Write a large tagged frame, hashing each piece just before writing it."""
        hasher.update(pieces[0])
        pending: list = [pieces[0]]  # the header
        for view in pieces[1:]:
            for offset in range(0, view.nbytes, _MAC_CHUNK):
                chunk = view[offset:offset + _MAC_CHUNK]
                hasher.update(chunk)
                pending.append(chunk)
                self._write(pending, deadline)
                pending = []
        self._write([*pending, hasher.digest()[:_TAG_BYTES]], deadline)

    def _write(self, pieces: list, deadline: float | None, total: int = -1) -> None:
        """Write ``pieces`` (``total`` bytes, if known) before ``deadline``;
        held instead while the connection is corked."""
        corked = self._corked
        if corked is not None:
            for piece in pieces:
                corked += piece
            return
        sock = self._socket()
        if deadline is None and not self._tls and len(pieces) <= _IOV_MAX:
            sent = sock.sendmsg(pieces)  # the common case: one system call
            if sent < (total if total >= 0 else sum(map(len, pieces))):
                self._write_rest(sock, pieces, sent, None)
        elif self._tls:
            self._before(sock, select.POLLOUT, deadline)
            if sum(map(len, pieces)) <= _TLS_COALESCE_MAX:
                sock.sendall(b"".join(pieces))
                return
            for piece in pieces:
                self._before(sock, select.POLLOUT, deadline)
                sock.sendall(piece)
        elif len(pieces) > _IOV_MAX:
            self._write_rest(sock, pieces, 0, deadline)
        else:  # a deadline: what the socket takes at once, then wait for room
            try:
                sent = sock.sendmsg(pieces, [], socket.MSG_DONTWAIT)
            except BlockingIOError:
                sent = 0
            if sent < sum(map(len, pieces)):
                self._before(sock, select.POLLOUT, deadline)
                self._write_rest(sock, pieces, sent, deadline)

    def _write_rest(self, sock: socket.socket, pieces: list, sent: int,
                    deadline: float | None) -> None:
        """Plain sockets: write ``pieces`` from byte ``sent`` on.

        With a deadline, each write takes what the socket accepts at once
        (``MSG_DONTWAIT``) and waits for room with the time left.
        """
        views = []
        for piece in pieces:
            view = memoryview(piece)
            if sent < view.nbytes:
                views.append(view[sent:])
                sent = 0
            else:
                sent -= view.nbytes
        first = 0
        while first < len(views):
            batch = views[first:first + _IOV_MAX]
            if deadline is None:
                count = sock.sendmsg(batch)
            else:
                try:
                    count = sock.sendmsg(batch, [], socket.MSG_DONTWAIT)
                except BlockingIOError:
                    count = 0
            while first < len(views) and count >= views[first].nbytes:
                count -= views[first].nbytes
                first += 1
            if first < len(views):
                views[first] = views[first][count:]
                if deadline is not None:
                    self._before(sock, select.POLLOUT, deadline)

    # -- receiving -----------------------------------------------------------

    def recv(self, deadline: float | None = None) -> Any:
        """Receive one frame before ``deadline``, check its tag, decode it."""
        try:
            body, buffers = self._read_frame(deadline)
        except MessageTooLargeError:
            raise  # the server answers, then closes
        except BaseException:
            self.close()
            raise
        if self._xml:  # as decode(), inline: the hot path of every call
            return _xml_loads(body)
        return _loads(body, buffers, self._allowed)

    def decode(self, body: Any, buffers: Sequence) -> Any:
        """The message in a frame's ``body`` and out-of-band ``buffers``."""
        if self._xml:
            return _xml_loads(body)
        return _loads(body, buffers, self._allowed)

    # -- the sans-I/O side of receiving (driven by the asyncio pipeline) -----

    def buffered_frame_ready(self) -> bool:
        """Whether the next frame is buffered whole (reading it needs no I/O)."""
        return self._end - self._start >= self.next_frame_bytes()

    def buffered_frame(self) -> tuple[Any, Sequence] | None:
        """The next frame's body and buffers (for :meth:`decode`), its tag
        checked, if it is buffered whole; else None.  Any failure closes the
        connection."""
        available = self._end - self._start
        if available < _HEADER_BYTES:
            return None
        body_size, count = _unpack_header(self._buffer, self._start)
        if count or self._recv_mac is not None:
            if available < self.next_frame_bytes():
                return None
        elif available < _HEADER_BYTES + body_size:  # the common local case
            return None
        try:
            return self._read_frame(None)
        except BaseException:
            self.close()
            raise

    def next_frame_bytes(self) -> int:
        """Bytes the read buffer must hold for the next frame to be read whole.

        A lower bound while its header is incomplete: the next frame is
        buffered whole exactly when the unread bytes reach this number, and
        is then read without touching the socket.
        """
        start = self._start
        available = self._end - start
        if available < _HEADER_BYTES:
            return _HEADER_BYTES
        body_size, count = _unpack_header(self._buffer, start)
        size = _HEADER_BYTES + 8 * count
        if count:
            if available < size:
                return size
            size += sum(struct.unpack_from(f"!{count}Q", self._buffer,
                                           start + _HEADER_BYTES))
        return size + body_size + (0 if self._recv_mac is None else _TAG_BYTES)

    def read_space(self, wanted: int) -> memoryview:
        """Free space at the end of the read buffer, grown to hold ``wanted``
        unread bytes; fill it, then call :meth:`received`."""
        if self._start == self._end:
            self._start = self._end = 0
            if len(self._buffer) > _READ_BUFFER and wanted <= _READ_BUFFER:
                self._buffer = bytearray(_READ_BUFFER)  # a large frame was read
                self._view = memoryview(self._buffer)
        if self._start + wanted > len(self._buffer) or self._end == len(self._buffer):
            self._compact(max(wanted, _READ_BUFFER))
        return self._view[self._end:]

    def received(self, count: int) -> None:
        """Count ``count`` bytes written into :meth:`read_space`."""
        self._end += count

    def _read_frame(self, deadline: float | None) -> tuple[Any, Sequence]:
        if self._end - self._start < _HEADER_BYTES:
            self._fill(_HEADER_BYTES, deadline)
        start = self._start
        body_size, count = _unpack_header(self._buffer, start)
        tag_bytes = 0 if self._recv_mac is None else _TAG_BYTES
        body_start = start + _HEADER_BYTES
        end = body_start + body_size
        if count or end + tag_bytes - start > len(self._buffer) or (
                self.max_message is not None and body_size > self.max_message):
            return self._read_large(body_size, count, deadline)
        if self._end < end + tag_bytes:  # the rest of a small frame
            self._fill(end + tag_bytes - start, deadline)
            shift = self._start - start  # moved to the front of the buffer
            body_start, end = body_start + shift, end + shift
        self._start = end + tag_bytes
        view = self._view
        if tag_bytes and not _compare_digest(
                self._recv_mac.tag(body_size, view[body_start - _HEADER_BYTES:end]),  # type: ignore[union-attr]
                view[end:end + tag_bytes]):
            self._refuse_frame()
        return view[body_start:end], ()

    def _read_large(self, body_size: int, count: int,
                    deadline: float | None) -> tuple[Any, Sequence]:
        """Any frame: sizes checked against ``max_message``, large blocks read
        into their own memory."""
        header_size = _HEADER.size + 8 * count
        sizes: Sequence[int] = ()
        if count:
            self._fill(header_size, deadline)
            sizes = struct.unpack_from(f"!{count}Q", self._buffer, self._start + _HEADER.size)
        size = body_size + sum(sizes)
        if self.max_message is not None and size > self.max_message:
            raise MessageTooLargeError(
                f"a {size}-byte message from {self.where} exceeds this actor's "
                f"{self.max_message}-byte limit (max_message); refused unread")
        tag_bytes = _TAG_BYTES if self._recv_mac is not None else 0
        if not count and header_size + body_size + tag_bytes <= len(self._buffer):
            self._fill(header_size + body_size + tag_bytes, deadline)
        start = self._start
        self._start = start + header_size
        hasher = None
        if self._recv_mac is not None:
            hasher = self._recv_mac.start(size)
            hasher.update(self._view[start:start + header_size])
        body = self._read_into(body_size, hasher, deadline)
        buffers = [self._read_into(block_size, hasher, deadline) for block_size in sizes]
        if hasher is not None:
            self._fill(_TAG_BYTES, deadline)
            start = self._start
            self._start = start + _TAG_BYTES
            if not hmac.compare_digest(hasher.digest()[:_TAG_BYTES],
                                       self._view[start:start + _TAG_BYTES]):
                self._refuse_frame()
        return body, buffers

    def _read_into(self, size: int, hasher: Any, deadline: float | None) -> Any:
        """Read ``size`` bytes into new memory, hashing each piece as it arrives."""
        block = _read_block(size)
        with memoryview(block) as view:
            filled = min(self._end - self._start, size)
            if filled:
                view[:filled] = self._view[self._start:self._start + filled]
                self._start += filled
                if hasher is not None:
                    hasher.update(view[:filled])
            sock = self._socket()
            while filled < size:
                if deadline is not None or self._timed:
                    self._before(sock, select.POLLIN, deadline)
                count = sock.recv_into(view[filled:])
                if not count:
                    raise EOFError(f"{self.where} closed the connection inside a frame")
                if hasher is not None:
                    hasher.update(view[filled:filled + count])
                filled += count
        return block

    def _fill(self, size: int, deadline: float | None) -> None:
        """Have at least ``size`` unread bytes in the read buffer."""
        if self._start == self._end:
            self._start = self._end = 0
        if self._start + size > len(self._buffer):
            self._compact(size)
        sock = self._socket()
        view = self._view
        while self._end - self._start < size:
            if deadline is not None or self._timed:
                self._before(sock, select.POLLIN, deadline)
            count = sock.recv_into(view[self._end:])
            if not count:
                raise EOFError(f"{self.where} closed the connection")
            self._end += count

    def _compact(self, size: int) -> None:
        """Move unread bytes to the front, growing the buffer to ``size`` if needed."""
        unread = bytes(self._view[self._start:self._end])
        if size > len(self._buffer):
            self._buffer = bytearray(size)
            self._view = memoryview(self._buffer)
        self._view[:len(unread)] = unread
        self._start, self._end = 0, len(unread)

    def _refuse_frame(self) -> None:
        raise FrameAuthenticationError(
            f"a frame from {self.where} failed authentication: data on the "
            "connection was injected, altered, replayed or reordered on the way "
            "(or corrupted); the connection was dropped and nothing it carried "
            "was decoded")


# --------------------------------------------------------------------------
# TLS
# --------------------------------------------------------------------------


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
                 give_up: float) -> ssl.SSLSocket:
    """Client side: the TLS handshake, before ``give_up`` (monotonic).

    Failures close the socket and become uactor errors naming the address.
    """
    host = address[0].partition("%")[0] if isinstance(address, tuple) else None
    try:
        _bound(sock, give_up)
        return context.wrap_socket(sock, server_hostname=host)
    except OSError as exc:  # ssl.SSLError and socket.timeout included
        sock.close()
        raise _tls_error(_describe(address), exc) from exc
    except BaseException:
        sock.close()
        raise


def _tls_accept(sock: socket.socket, context: ssl.SSLContext,
                give_up: float) -> ssl.SSLSocket:
    """Server side: the TLS handshake of an accepted socket, before ``give_up``."""
    try:
        _bound(sock, give_up)
        return context.wrap_socket(sock, server_side=True)
    except BaseException:
        sock.close()
        raise


# --------------------------------------------------------------------------
# Handshake
# --------------------------------------------------------------------------
#
# Server: hello = magic, protocol version, flags, max_message, nonce_s.
# Client: nonce_c, HMAC(authkey, LABEL_CLIENT || hello || nonce_c).
# Server: ACCEPTED, HMAC(authkey, LABEL_SERVER || hello || nonce_c)
#         (or REJECTED, then it closes).
# Both sides prove the key without sending it, each proof is bound to both
# nonces and to the hello (flags and limit included, so a relay cannot
# change them), and the frame keys derive from the same transcript.


def _recv_exactly(sock: socket.socket, size: int, give_up: float) -> bytes:
    data = b""
    while len(data) < size:
        _bound(sock, give_up)
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError("the peer closed the connection during the handshake")
        data += chunk
    return data


def _send_before(sock: socket.socket, data: bytes, give_up: float) -> None:
    _bound(sock, give_up)
    sock.sendall(data)


def _server_handshake(sock: socket.socket, authkey: bytes, flags: int,
                      max_message: int | None, give_up: float) -> _Session:
    """Greet a client, check its proof of the authkey, prove it back.

    :raises AuthkeyError: the client does not hold the key (it was told so).
    :raises EOFError, OSError: the peer left, broke or missed ``give_up``.
    """
    hello = _HELLO.pack(_MAGIC, _PROTOCOL_VERSION, flags, max_message or 0,
                        os.urandom(_NONCE_BYTES))
    _send_before(sock, hello, give_up)
    answer = _recv_exactly(sock, _NONCE_BYTES + _PROOF_BYTES, give_up)
    transcript = hello + answer[:_NONCE_BYTES]
    if not hmac.compare_digest(answer[_NONCE_BYTES:],
                               _derive(authkey, _LABEL_CLIENT, transcript)):
        with contextlib.suppress(OSError):
            _send_before(sock, _REJECTED, give_up)
        raise AuthkeyError("the client's proof of the authkey did not match")
    _send_before(sock, _ACCEPTED + _derive(authkey, _LABEL_SERVER, transcript), give_up)
    return _Session(authkey, transcript, client=False)


def _client_handshake(sock: socket.socket, authkey: bytes, where: str, tcp: bool,
                      give_up: float) -> _Session:
    """Read the actor's hello, prove the authkey, check the actor's proof.

    :raises AuthkeyError: the actor rejected the key, or could not prove it.
    :raises ActorConnectionError: the peer is not a uactor actor (of this
        protocol version).
    :raises EOFError, OSError: the peer left, broke or missed ``give_up``.
    """
    hello = _read_hello(sock, where, give_up)
    _, version, flags, _, _ = _HELLO.unpack(hello)
    if version != _PROTOCOL_VERSION:
        raise ActorConnectionError(
            f"{where} speaks uactor protocol {version}, this process protocol "
            f"{_PROTOCOL_VERSION}; run the same uactor version on both sides")
    if tcp and not flags & _FLAG_FRAME_MAC:
        raise ActorConnectionError(
            f"{where} offered no frame authentication on TCP; it is not a uactor "
            "actor of this version")
    transcript = hello + os.urandom(_NONCE_BYTES)
    _send_before(sock, transcript[_HELLO.size:] + _derive(authkey, _LABEL_CLIENT, transcript),
                 give_up)
    if _recv_exactly(sock, 1, give_up) != _ACCEPTED:
        raise AuthkeyError(
            f"authkey for {where} was rejected; connect with the key the actor "
            "was started with (Actor.connect(address, authkey))")
    proof = _recv_exactly(sock, _PROOF_BYTES, give_up)
    if not hmac.compare_digest(proof, _derive(authkey, _LABEL_SERVER, transcript)):
        raise AuthkeyError(
            f"{where} could not prove it holds the authkey: it is not the actor you "
            "meant to reach, or it was started with another key; check the address "
            "and the key")
    return _Session(authkey, transcript, client=True)


def _read_hello(sock: socket.socket, where: str, give_up: float) -> bytes:
    """The actor's hello; a peer saying anything else is named in words."""
    data = b""
    while len(data) < _HELLO.size:
        _bound(sock, give_up)
        chunk = sock.recv(_HELLO.size - len(data))
        if not chunk:
            raise EOFError("the peer closed the connection before greeting")
        data += chunk
        if data[:len(_MAGIC)] != _MAGIC[:len(data)]:
            raise ActorConnectionError(
                f"{where} answered {_shorten(data)} (not a uactor actor); check the "
                "address and port")
    return data


# --------------------------------------------------------------------------
# Listening and connecting
# --------------------------------------------------------------------------


def _socket_address(name: Any) -> _Address:
    """A socket's address as tokens carry it: ``(host, port)`` or a path.

    IPv6 addresses lose their flow info, and keep their scope as
    ``'host%interface'`` (link-local ones need it to mean anything).
    """
    if not isinstance(name, tuple):
        return os.fsdecode(name) if isinstance(name, bytes) else name
    host, port = name[:2]
    if len(name) == 4 and name[3] and "%" not in host:
        try:
            scope = socket.if_indextoname(name[3])
        except OSError:
            scope = str(name[3])
        host = f"{host}%{scope}"
    return (host, port)


def _describe_peer(peer: Any) -> str:
    """A connected client, for the actor's log: ``host:port`` or 'a local client'."""
    if not isinstance(peer, tuple):
        return "a local client"
    host, port = cast("tuple[str, int]", _socket_address(peer))
    if host.startswith("::ffff:") and "." in host:  # IPv4 on a dual-stack socket
        host = host[len("::ffff:"):]
    return _describe((host, port))


def _listen_error(where: str, host: str, exc: OSError) -> ActorAddressError:
    """The uactor error for an actor that cannot listen at ``where``."""
    import errno

    ipv6 = ":" in host
    if exc.errno == errno.EADDRINUSE:
        problem = ("the address is already in use (another process listens there); "
                   "choose another port, or port 0 for any free one")
    elif ipv6 and (exc.errno in (errno.EAFNOSUPPORT, errno.EPROTONOSUPPORT)
                   or (exc.errno == errno.EADDRNOTAVAIL and host in ("::", "::1"))):
        problem = ("IPv6 is not available on this system (not supported, or "
                   "disabled); listen on an IPv4 address such as '0.0.0.0' or "
                   "'127.0.0.1', or enable IPv6")
    elif exc.errno == errno.EADDRNOTAVAIL:
        problem = ("it is not an address of this host; listen on one of its "
                   "interface addresses, on '0.0.0.0' or '::' (every interface), "
                   "or on loopback")
    elif exc.errno == errno.EACCES:
        problem = "permission denied (ports below 1024 need privileges); use a higher port"
    else:
        problem = exc.strerror or repr(exc)
    return ActorAddressError(f"cannot listen on {where}: {problem}")


class _Listener:
    """An actor server's listening socket: TCP over IPv4 or IPv6, or unix.

    ``(host, port)`` addresses are resolved with ``getaddrinfo`` (IPv4 first
    for host names, as multiprocessing did; IPv6 literals, scoped link-local
    ones included, as written); ``'::'`` accepts IPv4 clients too where the
    system allows dual-stack sockets.  ``None`` listens on a unix socket in a
    private temporary directory (mode 0700) of this process.  ``address`` is
    the bound address, normalized (:func:`_socket_address`).
    """

    def __init__(self, address: _Address | None) -> None:
        if address is None:
            address = mp_connection.arbitrary_address("AF_UNIX")  # type: ignore[attr-defined]
        if isinstance(address, tuple):
            self._sock = self._listen_tcp(address)
            self.tcp = True
        else:
            self._sock = self._listen_unix(str(address))
            self.tcp = False
        self.address = _socket_address(self._sock.getsockname())

    @staticmethod
    def _listen_tcp(address: tuple[str, int]) -> socket.socket:
        host, port = address
        where = _describe(address)
        try:
            found = socket.getaddrinfo(host or None, port, socket.AF_UNSPEC,
                                       socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
        except socket.gaierror as exc:
            raise ActorAddressError(
                f"cannot listen on {where}: {exc.strerror}; use an IP address or a "
                "host name this system resolves") from exc
        found.sort(key=lambda entry: entry[0] != socket.AF_INET)
        family, kind, proto, _, sockaddr = found[0]
        try:
            sock = socket.socket(family, kind, proto)
        except OSError as exc:
            raise _listen_error(where, host, exc) from exc
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and sockaddr[0] == "::":
                with contextlib.suppress(OSError):  # dual-stack where allowed
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind(sockaddr)
            sock.listen(_BACKLOG)
        except OSError as exc:
            sock.close()
            raise _listen_error(where, host, exc) from exc
        return sock

    def _listen_unix(self, path: str) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(path)
            sock.listen(_BACKLOG)
        except OSError as exc:
            sock.close()
            raise _listen_error(_describe(path), "", exc) from exc
        if not path.startswith("\0"):  # a file: removed when this process exits
            mp_util.Finalize(self, os.unlink, args=(path,), exitpriority=0)
        return sock

    def accept(self) -> tuple[socket.socket, Any]:
        sock, peer = self._sock.accept()
        if self.tcp:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, peer

    def close(self) -> None:
        self._sock.close()


def _dial(address: _Address, timeout: float) -> socket.socket:
    """A connected socket to ``address``.

    The IPv6 wildcard (the owner of an actor bound to ``'::'`` dials its bind
    address) means this host: loopback, over IPv4 too where IPv6 is disabled.
    """
    if not isinstance(address, tuple):
        sock = socket.socket(socket.AF_UNIX)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
        except BaseException:
            sock.close()
            raise
        return sock
    try:
        sock = socket.create_connection(address, timeout=timeout)
    except OSError as exc:
        if address[0] != "::" or isinstance(exc, (socket.timeout, ConnectionRefusedError)):
            raise
        sock = socket.create_connection(("127.0.0.1", address[1]), timeout=timeout)
    try:
        # Small request/reply messages: Nagle plus delayed ACKs cost ~40 ms each.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except BaseException:
        sock.close()
        raise
    return sock


def _open_socket(address: _Address, timeout: float) -> socket.socket:
    """A connected socket to ``address``; failures become uactor errors."""
    where = _describe(address)
    try:
        return _dial(address, timeout)
    except socket.timeout as exc:
        raise ActorConnectionError(
            f"cannot connect to actor at {where}: no answer within {timeout:g} s; "
            "check the address and that no firewall drops the traffic"
        ) from exc
    except socket.gaierror as exc:
        raise ActorConnectionError(
            f"cannot connect to actor at {where}: cannot resolve the host "
            f"({exc.strerror}); check its name") from exc
    except OSError as exc:
        hint = "is the actor running and listening there?"
        if isinstance(address, tuple) and ":" in address[0] and not isinstance(
                exc, ConnectionRefusedError):
            hint = "is IPv6 available on this system and routed to that host?"
        raise ActorConnectionError(
            f"cannot connect to actor at {where}: {exc.strerror or exc}; {hint}"
        ) from exc


def _connect(
    address: _Address,
    authkey: bytes,
    serializer: str = DEFAULT_SERIALIZER,
    timeout: float | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> _Connection:
    """Open an authenticated connection to an actor server.

    ``timeout`` bounds connecting and the whole handshake; without it,
    connecting takes up to :data:`_CONNECT_TIMEOUT` and the handshake up to
    :data:`_HANDSHAKE_TIMEOUT` more.  Over TLS when this process knows the
    actor requires it (:class:`_ActorRecord`): the authkey handshake then
    runs inside TLS (or with ``ssl_context``, given by finalizers, which
    must not depend on the record).  Every lower-level failure is translated
    here, once, into a uactor error naming the address and what to do about
    it.
    """
    _check_tcp_authkey(address, authkey)
    started = _monotonic()
    sock = _open_socket(address, _CONNECT_TIMEOUT if timeout is None else timeout)
    give_up = started + timeout if timeout is not None else _monotonic() + _HANDSHAKE_TIMEOUT
    where = _describe(address)
    context = ssl_context
    if context is None:
        record = _records.by_address.get(address)
        context = record.ssl_context if record is not None else None
    if context is not None:
        sock = _tls_connect(sock, address, context, give_up)
    try:
        session = _client_handshake(sock, authkey, where, isinstance(address, tuple), give_up)
        sock.settimeout(None)
    except UActorException:
        sock.close()
        raise
    except socket.timeout as exc:
        sock.close()
        raise ActorConnectionError(
            f"{where} did not complete the uactor handshake within "
            f"{give_up - started:.3g} s; it is not an actor, is overloaded, or "
            "requires TLS (connect with ssl=)") from exc
    except (OSError, EOFError) as exc:
        sock.close()
        if context is not None:
            raise _tls_error(where, exc) from exc
        raise ActorConnectionError(
            f"{where} closed the connection during the uactor handshake "
            f"({exc.strerror if isinstance(exc, OSError) and exc.strerror else exc}); "
            "it is not an actor, refused this process, or requires TLS "
            "(connect with ssl=)") from exc
    except BaseException:
        sock.close()
        raise
    return _Connection(sock, session, where, serializer, tls=context is not None)


# --------------------------------------------------------------------------
# What this process knows about each actor address
# --------------------------------------------------------------------------


class _ActorRecord:
    """What this process knows about the actor at one address.

    Shared by every proxy, manager and connection of this process reaching
    that address:

    ``local.connection``
        each thread's open connection to the actor;
    ``users``
        proxies of this process using these connections: the calling
        thread's connection is closed once none is left;
    ``managers``
        live managers (owning or connected) of the actor;
    ``incarnation``
        tells this actor from an earlier one at the same address: a new
        one gets a new record, and old proxies keep their old one;
    ``ssl_context``
        the client context every connection to the address uses (TLS);
    ``authkey``, ``manager``
        the key and (weakly) the manager of the :meth:`Actor.connect` or
        start that made the actor known, for proxies rebuilt here;
    ``owner_token``
        in the process that started the actor only: its connections
        prove they come from the owner;
    ``aliases``
        other addresses routed here (``capture``, the actor's bind address);
    ``pipelines``
        each asyncio event loop's :class:`_Pipeline` to the actor (or the
        task opening it), the loop held weakly.
    """

    __slots__ = ("address", "incarnation", "local", "users", "managers", "ssl_context",
                 "authkey", "manager", "owner_token", "aliases", "pipelines", "__weakref__")

    def __init__(self, address: _Address, incarnation: str | None = None) -> None:
        self.address = address
        self.incarnation = incarnation
        self.local = threading.local()
        self.users = 0
        self.managers = 0
        self.ssl_context: ssl.SSLContext | None = None
        self.authkey: bytes | None = None
        self.manager: Callable[[], Any] = _no_manager
        self.owner_token: bytes | None = None
        self.aliases: set = set()
        self.pipelines: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _no_manager() -> None:
    return None


class _Records:
    """Every :class:`_ActorRecord` of this process, under one lock.

    ``by_address`` maps each dialled address to its record, ``routes`` each
    alias to the record it leads to.  A record lives while a proxy uses it
    or a manager refers to it, and is forgotten with the last of them, its
    aliases with it.  In a forked child (one fork hook) every record drops
    its parent's connections, users and owner token.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.by_address: dict = {}
        self.routes: dict = {}
        self._alive: weakref.WeakSet = weakref.WeakSet()
        os.register_at_fork(after_in_child=self._after_fork_in_child)

    def find(self, address: _Address) -> _ActorRecord | None:
        """The record a token carrying ``address`` leads to (routes first)."""
        return self.routes.get(address) or self.by_address.get(address)

    def obtain(self, address: _Address, incarnation: str | None = None) -> _ActorRecord:
        """The record of ``address``; another incarnation there gets a fresh one."""
        record = self.by_address.get(address)
        if record is not None and (incarnation is None
                                   or record.incarnation in (None, incarnation)):
            if incarnation is not None:
                record.incarnation = incarnation
            return record
        with self.lock:
            record = self.by_address.get(address)
            if record is None or (incarnation is not None
                                  and record.incarnation not in (None, incarnation)):
                fresh = _ActorRecord(address, incarnation)
                if record is not None:  # the way to reach the address stays
                    fresh.ssl_context = record.ssl_context
                self.by_address[address] = record = fresh
                self._alive.add(fresh)
            elif incarnation is not None:
                record.incarnation = incarnation
            return record

    def route(self, alias: _Address, record: _ActorRecord) -> None:
        """Lead tokens carrying ``alias`` to ``record``."""
        if alias == record.address:
            return
        with self.lock:
            self.routes[alias] = record
            record.aliases.add(alias)

    def add_user(self, record: _ActorRecord) -> None:
        with self.lock:
            record.users += 1

    def remove_user(self, record: _ActorRecord) -> bool:
        """Count one proxy gone; whether it was the last one."""
        with self.lock:
            record.users -= 1
            last = record.users <= 0
            self.release(record)
        return last

    def add_manager(self, record: _ActorRecord, manager: Any) -> Callable[[], Any]:
        """Count ``manager`` while it lives; returns the callable uncounting it (once)."""
        with self.lock:
            record.managers += 1
        return weakref.finalize(manager, self._remove_manager, record)

    def _remove_manager(self, record: _ActorRecord) -> None:
        with self.lock:
            record.managers -= 1
            self.release(record)

    def release(self, record: _ActorRecord) -> None:
        """Forget ``record`` (and its aliases) if nothing uses it any more."""
        with self.lock:
            if record.users > 0 or record.managers > 0:
                return
            if self.by_address.get(record.address) is record:
                del self.by_address[record.address]
            for alias in record.aliases:
                if self.routes.get(alias) is record:
                    del self.routes[alias]
            record.aliases.clear()

    def _after_fork_in_child(self) -> None:
        self.lock = threading.RLock()
        for record in list(self._alive):
            record.local.__dict__.clear()  # the parent's connections (this thread's)
            record.pipelines = weakref.WeakKeyDictionary()  # and its loops'
            record.users = 0  # inherited proxies are borrowed
            record.owner_token = None  # the parent owns its actors


_records = _Records()


def _speaks_tls(address: _Address) -> bool:
    """Whether this process knows the actor at ``address`` to require TLS."""
    record = _records.by_address.get(address)
    if record is not None and record.ssl_context is not None:
        return True
    server = _current_server
    return (server is not None and server.ssl_context is not None
            and address == server.address)


# --------------------------------------------------------------------------
# Requests, deadlines and error mapping
# --------------------------------------------------------------------------


class _Deadline(threading.local):
    """Per-thread deadline set by :func:`deadline` (a ``time.monotonic`` value)."""

    at: float | None = None


_deadline = _Deadline()


_monotonic = time.monotonic


def _call_deadline(timeout: float | None) -> float | None:
    """When a call must be done by: in ``timeout`` seconds or at the enclosing
    :func:`deadline`, whichever comes first (``None``: unbounded)."""
    at = _deadline.at
    if timeout is None:
        return at
    mine = _monotonic() + timeout
    return mine if at is None or mine < at else at


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
    raise ProxyError(f"unexpected reply kind {_shorten(kind)} from actor server")


def _request(conn: _Connection, funcname: str, args: tuple = (), kwds: dict | None = None,
             deadline: float | None = None, owner_token: bytes | None = None) -> Any:
    """Send one server-level request (create, incref, ...) and return its result.

    ``owner_token`` adds the proof that this process started the actor.
    """
    if owner_token is not None:
        args = (*args, conn.prove(owner_token))
    try:
        conn.send((None, funcname, args, kwds or {}), deadline)
        kind, result = conn.recv(deadline)
    except UActorException:
        raise
    except socket.timeout as exc:
        raise CallTimeoutError(
            f"the actor at {conn.where} did not answer {funcname!r} within its "
            "deadline") from exc
    except (EOFError, OSError) as exc:
        raise ActorDeadError(
            f"the actor at {conn.where} closed the connection during {funcname!r}"
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
    *,
    kwds: dict | None = None,
    owner_token: bytes | None = None,
    whole: bool = True,
    ssl_context: ssl.SSLContext | None = None,
) -> Any:
    """Connect, make one server-level request, close.

    ``timeout`` bounds connecting and, if ``whole``, the request too (one
    deadline for all of it).
    """
    deadline = _monotonic() + timeout if timeout is not None and whole else None
    conn = _connect(address, authkey, serializer, timeout, ssl_context)
    try:
        return _request(conn, funcname, args, kwds, deadline, owner_token)
    finally:
        conn.close()


def _exception_payload(exc: BaseException, serializer: str = DEFAULT_SERIALIZER) -> tuple:
    """Reply for an exception: the object itself where the serializer allows."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if serializer != "pickle":
        return _foreign_payload(exc, text)
    return ("#RAISE", (exc, text))


def _foreign_payload(exc: BaseException, text: str) -> tuple:
    """A serializer-neutral description of an exception that failed to pickle."""
    kind = type(exc)
    return ("#FOREIGN", [kind.__module__, kind.__qualname__, _clip(str(exc)), text])


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


def _sendable_exc_info(exc_type: Any, exc_value: Any, restricted: bool = False) -> tuple:
    """Exception info ``Actor.__exit__`` can receive: tracebacks cannot travel.

    An actor decoding with an allow-list (``allowed_classes``) gets
    ``(None, None, None)``: exception classes are not plain data.
    """
    if exc_type is None or restricted:
        return (None, None, None)
    try:
        pickle.dumps((exc_type, exc_value))
    except Exception:
        stand_in = UActorException(f"{exc_type.__name__}: {exc_value}")
        return (UActorException, stand_in, None)
    return (exc_type, exc_value, None)


# --------------------------------------------------------------------------
# Proxies
# --------------------------------------------------------------------------

_Token = mp_managers.Token


def _release_reference(token: Any, authkey: bytes, serializer: str, state: Any,
                       record: _ActorRecord) -> None:
    """Finalizer of a proxy: tell the actor this process dropped a reference.

    Runs from garbage collection or at exit, so it is bounded in time and
    silent: a reference to an actor that is already gone needs no release.
    """
    if state is None or state.value == mp_managers.State.STARTED:
        try:
            _request_once(token.address, authkey, serializer, "decref",
                          (token.id,), timeout=_RELEASE_TIMEOUT)
        except Exception as exc:  # the actor may be gone: nothing to release
            _logger.debug("releasing %s at %s failed: %r",
                         token.id, _describe(token.address), exc)
    if _records.remove_user(record):
        conn = getattr(record.local, "connection", None)
        if conn is not None:
            del record.local.connection
            conn.close()
        _close_pipelines(record)


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
        record = _records.obtain(token.address)
        self._tls = record.local
        self._address_state = record
        self._token = token
        self._id = token.id
        self._manager = manager
        self._serializer = serializer
        self._owned_by_manager = manager_owned
        if authkey is not None:
            self._authkey = mp_process.AuthenticationString(authkey)
        elif manager is not None:
            self._authkey = manager._authkey
        else:
            self._authkey = mp_process.current_process().authkey
        self._timeout = getattr(manager, "_timeout", None)
        if incref:
            try:
                self._incref()
            except BaseException:
                _records.release(record)
                raise

    # -- references -------------------------------------------------------

    def _incref(self) -> None:
        if self._owned_by_manager:
            return
        _request_once(self._token.address, self._authkey, self._serializer,
                      "incref", (self._id,))
        self._adopt_reference()

    def _adopt_reference(self) -> None:
        """Own one reference the server already counts, releasing it at GC."""
        _records.add_user(self._address_state)
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

    def _connect(self, at: float | None, name: str | None = None) -> _Connection:
        """Open this thread's connection to the referent, done by ``at``;
        with ``name``, a pipelined connection so named (not this thread's)."""
        timeout = None if at is None else _time_left(at, f"connecting to {self._describe()}")
        conn = _connect(self._token.address, self._authkey, self._serializer, timeout)
        request = "accept_connection" if name is None else "accept_pipeline"
        try:
            _request(conn, request, (name or _client_name(),), deadline=at,
                     owner_token=self._address_state.owner_token)
        except BaseException:
            conn.close()
            raise
        if name is None:
            self._tls.connection = conn
        return conn

    def _connection(self) -> _Connection:
        """This thread's connection to the referent, opened if needed."""
        try:
            return self._tls.connection
        except AttributeError:
            return self._connect_or_explain(_call_deadline(self._timeout))

    def _drop_connection(self) -> None:
        conn = getattr(self._tls, "connection", None)
        if conn is not None:
            del self._tls.connection
            conn.close()

    def _callmethod(self, methodname: str, args: tuple = (), kwds: Mapping = {}) -> Any:
        """Call ``methodname`` on the referent and return a copy of the result.

        The proxy's timeout and any enclosing :func:`deadline` bound the whole
        call: connecting, sending the request and waiting for the reply.
        """
        at = _deadline.at
        if self._timeout is not None:
            at = _call_deadline(self._timeout)
        try:
            conn = self._tls.connection
        except AttributeError:
            conn = self._connect_or_explain(at)
        sent = False
        try:
            conn.send((self._id, methodname, args, kwds), at)
            sent = True
            kind, result = conn.recv(at)
        except FrameAuthenticationError:
            self._drop_connection()
            raise
        except UActorException:  # too large to send, or raised unpickling the
            raise                # reply: some are OSErrors, none means death
        except socket.timeout as exc:
            self._drop_connection()
            if sent:
                raise CallTimeoutError(
                    f"{methodname!r} on {self._describe()} did not answer within its "
                    "deadline; the connection was discarded") from exc
            raise CallTimeoutError(
                f"sending {methodname!r} to {self._describe()} did not finish within "
                "its deadline; the connection was discarded") from exc
        except (EOFError, OSError) as exc:
            self._drop_connection()
            raise ActorDeadError(
                f"connection to {self._describe()} was lost during "
                f"{methodname!r}: the actor process is gone or unreachable"
            ) from exc
        if kind == "#RETURN":
            return result
        return self._unusual_reply(kind, result)

    def _connect_or_explain(self, at: float | None, name: str | None = None) -> _Connection:
        try:
            return self._connect(at, name)
        except ActorConnectionError as exc:
            if isinstance(exc, ActorDeadError):
                raise
            if at is not None and _monotonic() >= at:
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


def _client_name() -> str:
    """How the actor names this thread's connection (process|thread)."""
    name = mp_process.current_process().name
    thread = threading.current_thread().name
    return name if thread == "MainThread" else f"{name}|{thread}"


def _rebuild_proxy(kind: Any, token: Any, serializer: str, exposed: Any,
                   authkey: bytes | None, tls: bool = False) -> BaseProxy:
    """Unpickle a proxy: translate its address, find its key, take a reference.

    ``tls`` tells that the actor requires TLS: without a client context for
    it, fail at once rather than time out in a plain handshake.
    """
    manager = None
    record = _records.find(token.address)
    if record is not None:
        if record.address != token.address:
            token = _Token(token.typeid, record.address, token.id)
        authkey = authkey or record.authkey
        manager = record.manager()
    if tls and (record is None or record.ssl_context is None):
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
                                serializer, "get_methods", (token.id,))
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
        The traceback cannot cross processes and is passed as ``None``; an
        actor with ``allowed_classes`` receives ``(None, None, None)``
        (exception classes are not plain data).
        """
        if self._is_finished():
            return None
        try:
            restricted = self._connection().restricted
            suppress = self._callmethod(
                "__exit__", _sendable_exc_info(exc_type, exc_value, restricted))
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
# Pipelined calls from asyncio
# --------------------------------------------------------------------------


class _Pipeline:
    """One asyncio event loop's connection to one actor: many calls in flight.

    The connection is authenticated like any other (in an executor thread),
    then driven by the loop without threads: its socket is non-blocking,
    read when readable and written when writable.  A call frames its
    request at once (the connection is corked: :meth:`_Connection.send`
    queues whole frames, tags included, so the frames' order is their tag
    order) and queues it; one writer, scheduled
    once per loop iteration, writes every queued frame in as few system
    calls as the socket allows, and a request is never cut: a caller that
    gives up still has its request served whole.  Replies carry the number
    of their request and resolve its future; many are read per ``recv``.
    A reply nobody waits for any more is discarded.

    Used from its loop's thread only; it holds no reference to the loop,
    so that the record's map from loops lets finished loops go.
    """

    __slots__ = ("_conn", "_sock", "_fd", "_pending", "_sent", "_received", "_out",
                 "_flushing", "_writing", "_would_block", "closed", "__weakref__")

    def __init__(self, conn: _Connection, loop: Any) -> None:
        self._conn = conn
        self._sock = sock = conn._socket()
        sock.setblocking(False)
        self._fd = sock.fileno()
        #: Request number -> (future, method name, proxy) of calls awaited.
        self._pending: dict[int, tuple[Any, str, BaseProxy]] = {}
        self._sent = 0
        self._received = 0
        # The connection is corked for good: send() frames requests into the
        # write buffer, which only _flush() writes.
        self._out = conn._corked = bytearray()
        self._flushing = False
        self._writing = False
        self._would_block: tuple = (BlockingIOError, InterruptedError)
        if conn._tls:
            import ssl
            self._would_block += (ssl.SSLWantReadError, ssl.SSLWantWriteError)
        self.closed = False
        loop.add_reader(self._fd, self._on_readable, loop)

    def call(self, loop: Any, ident: Any, methodname: str, args: tuple, kwds: Mapping,
             proxy: BaseProxy) -> tuple[int, Any]:
        """Queue a request; its number and the future of its ``(kind, result)``.

        Encoding errors (too large, unpicklable) are raised here, with
        nothing queued.
        """
        if self.closed:
            raise ActorDeadError(f"connection to {proxy._describe()} was lost before "
                                 f"{methodname!r}: the actor process is gone or unreachable")
        self._conn.send((ident, methodname, args, kwds, self._received))  # queued
        number = self._sent
        self._sent = number + 1
        future = loop.create_future()
        idle = not self._pending
        self._pending[number] = (future, methodname, proxy)
        if not self._flushing:
            self._flushing = True
            if idle:  # a lone call goes out now; calls in flight batch up
                self._flush(loop)
            else:
                loop.call_soon(self._flush, loop)
        return number, future

    def forget(self, number: int) -> None:
        """Nobody awaits call ``number`` any more: its reply will be discarded."""
        self._pending.pop(number, None)

    # -- the loop's side ------------------------------------------------------

    def _flush(self, loop: Any) -> None:
        """Write queued frames until done or the socket is full (then wait)."""
        out = self._out
        try:
            while out:
                del out[:self._sock.send(out)]
        except self._would_block:
            if not self._writing:
                self._writing = True
                loop.add_writer(self._fd, self._flush, loop)
            return
        except OSError as exc:
            self.fail(loop, exc)
            return
        if self._writing:
            self._writing = False
            loop.remove_writer(self._fd)
        self._flushing = False

    def _on_readable(self, loop: Any) -> None:
        conn = self._conn
        try:
            while True:
                space = conn.read_space(conn.next_frame_bytes())
                count = self._sock.recv_into(space)
                if not count:
                    raise EOFError(f"{conn.where} closed the connection")
                conn.received(count)
                self._deliver(conn)
                if count < len(space) and not conn._tls:
                    return  # drained (TLS reads on: decrypted data does not poll)
        except self._would_block:
            return
        except Exception as exc:  # lost, or a reply failed its tag
            self.fail(loop, exc)

    def _deliver(self, conn: _Connection) -> None:
        """Hand every whole reply in the read buffer to its caller."""
        while (frame := conn.buffered_frame()) is not None:
            body, buffers = frame
            self._received += 1
            try:
                number, kind, result = conn.decode(body, buffers)
            except Exception as exc:  # undecodable, but read whole: in step
                number = _reply_number(body)
                if number is None:
                    raise
                kind, result = "#ERROR", exc
            entry = self._pending.pop(number, None)
            if entry is not None and not entry[0].done():
                entry[0].set_result((kind, result))

    def fail(self, loop: Any, exc: BaseException) -> None:
        """Close the connection; every call awaited gets the dead-actor error."""
        self.close(loop)
        pending, self._pending = self._pending, {}
        for future, methodname, proxy in pending.values():
            if future.done():
                continue
            if isinstance(exc, FrameAuthenticationError):
                error: BaseException = FrameAuthenticationError(str(exc))
            else:
                error = ActorDeadError(
                    f"connection to {proxy._describe()} was lost during {methodname!r}: "
                    "the actor process is gone or unreachable")
            error.__cause__ = exc
            future.set_exception(error)

    def close(self, loop: Any) -> None:
        """Stop reading and writing and close the socket (idempotent)."""
        if self.closed:
            return
        self.closed = True
        if not loop.is_closed():
            loop.remove_reader(self._fd)
            if self._writing:
                loop.remove_writer(self._fd)
        self._conn.close()


def _reply_number(body: Any) -> int | None:
    """The request number of a pickled reply that failed to decode, read
    from the pickle's first opcodes (``None`` if it cannot be found)."""
    import pickletools

    try:
        for opcode, arg, _ in pickletools.genops(bytes(body)):
            if opcode.name in ("BININT", "BININT1", "BININT2", "LONG1"):
                return arg if isinstance(arg, int) else None
            if opcode.name not in ("PROTO", "FRAME", "MARK"):
                break
    except Exception:  # not a pickle after all (xmlrpclib)
        return None
    return None


async def _open_pipeline(proxy: BaseProxy, loop: Any, at: float | None) -> _Pipeline:
    """This loop's pipeline to ``proxy``'s actor, opened by one task that
    every concurrent first caller awaits."""
    import asyncio

    pipelines = proxy._address_state.pipelines
    opening = pipelines.get(loop)
    if opening is None or isinstance(opening, _Pipeline):  # none, or a closed one
        name = f"{_client_name()}|asyncio"
        opening = loop.create_task(_connect_pipeline(proxy, loop, at, name))
        opening.add_done_callback(_retrieve)
        pipelines[loop] = opening
    return await asyncio.shield(opening)


async def _connect_pipeline(proxy: BaseProxy, loop: Any, at: float | None,
                            name: str) -> _Pipeline:
    pipelines = proxy._address_state.pipelines
    try:
        conn = await loop.run_in_executor(None, proxy._connect_or_explain, at, name)
        pipeline = _Pipeline(conn, loop)
    except BaseException:
        pipelines.pop(loop, None)
        raise
    pipelines[loop] = pipeline
    return pipeline


def _retrieve(task: Any) -> None:
    """Done callback: a failure to open is its awaiters' (never "never retrieved")."""
    if not task.cancelled():
        task.exception()


def _close_pipelines(record: _ActorRecord) -> None:
    """Close every loop's pipeline to ``record``'s actor, each in its loop."""
    for loop, pipeline in list(record.pipelines.items()):
        if not isinstance(pipeline, _Pipeline) or pipeline.closed:
            continue
        try:
            loop.call_soon_threadsafe(pipeline.close, loop)
        except RuntimeError:  # that loop is closed: no reader to remove
            pipeline.close(loop)
    record.pipelines.clear()


def _expire(future: Any, proxy: BaseProxy, methodname: str) -> None:
    if not future.done():
        future.set_exception(CallTimeoutError(
            f"{methodname!r} on {proxy._describe()} did not answer within its "
            "deadline; its reply will be discarded and the connection stays open"))


async def _call_async(proxy: BaseProxy, methodname: str, args: tuple, kwds: Mapping) -> Any:
    """Await ``methodname`` on ``proxy``'s referent through this loop's pipeline."""
    loop = _get_running_loop()
    at = _deadline.at
    if proxy._timeout is not None:
        at = _call_deadline(proxy._timeout)
    pipeline = proxy._address_state.pipelines.get(loop)
    if type(pipeline) is not _Pipeline or pipeline.closed:
        pipeline = await _open_pipeline(proxy, loop, at)
    timer = None
    remaining = None if at is None else _time_left(
        at, f"{methodname!r} was sent to {proxy._describe()}")
    number, future = pipeline.call(loop, proxy._id, methodname, args, kwds, proxy)
    if remaining is not None:
        timer = loop.call_later(remaining, _expire, future, proxy, methodname)
    try:
        kind, result = await future
    except BaseException:  # cancelled, timed out, actor gone
        pipeline.forget(number)
        raise
    finally:
        if timer is not None:
            timer.cancel()
    if kind == "#RETURN":
        return result
    if kind == "#ERROR" and isinstance(result, Exception):
        raise result
    return proxy._unusual_reply(kind, result)


def _get_running_loop() -> Any:
    """The running event loop (asyncio is imported by asyncio users only)."""
    asyncio = sys.modules.get("asyncio")
    if asyncio is None:
        raise RuntimeError("uactor.call_async() needs a running asyncio event loop")
    return asyncio.get_running_loop()


class _AsyncView:
    """``aio(proxy)``: the proxy's methods as coroutine functions, its
    exposed attributes as awaitables (untyped; :func:`call_async` is typed)."""

    __slots__ = ("_proxy",)

    def __init__(self, proxy: BaseProxy) -> None:
        self._proxy = proxy

    def __getattr__(self, name: str) -> Any:
        proxy = self._proxy
        attribute = getattr(type(proxy), name, None)
        if isinstance(attribute, property) and _is_generated(attribute):
            return _call_async(proxy, name, (), {})
        if attribute is None or name.startswith("_") or not callable(attribute):
            raise AttributeError(
                f"{proxy._describe()} has no method {name!r} to await; "
                f"its methods: {sorted(n for n in dir(type(proxy)) if not n.startswith('_'))}")
        _check_async_method(proxy, name, attribute)

        async def method(*args: Any, **kwargs: Any) -> Any:
            return await _call_async(proxy, name, args, kwargs)

        method.__name__ = name
        method.__doc__ = attribute.__doc__
        return method

    def __repr__(self) -> str:
        return f"<uactor.aio view of {self._proxy!r}>"


def _check_async_method(proxy: BaseProxy, name: str, function: Any) -> None:
    """Reject proxy methods that do more than call the actor (``shutdown``)."""
    if _is_generated(function) or (name in (getattr(type(proxy), "_exposed_", None) or ())
                                   and name not in _BASE_EXPOSED):
        return
    raise TypeError(
        f"{type(proxy).__name__}.{name} is not a remote method call that can be "
        "awaited (it is written on the proxy itself); call it directly")


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
    #: Whether the connection being served proved it comes from the actor's
    #: owner (None: not serving a call).
    owner: bool | None = None


_serving = _Serving()
#: :func:`caller_is_owner` in coroutine methods (each call runs as a task).
_coroutine_owner: contextvars.ContextVar[bool | None] = contextvars.ContextVar(
    "uactor_caller_is_owner", default=None)
#: What calling an ``async def`` method returns.
_CoroutineType = types.CoroutineType
_current_server: _ActorServer | None = None
_warned_peers: set = set()


def _warn_once(key: Any, message: str, *args: Any, level: int = logging.WARNING) -> None:
    """Hostile network input: log at ``level`` the first time, then only debug."""
    if key in _warned_peers:
        _logger.debug(message, *args)
    else:
        _warned_peers.add(key)
        _logger.log(level, message, *args)


class _StopEvent(threading.Event):
    """An actor server's stop signal: setting it also wakes the main thread
    (``wake``) and stops the actor's event loop (``on_set``)."""

    def __init__(self) -> None:
        super().__init__()
        self.wake = threading.Event()
        self.on_set: Callable[[], None] | None = None

    def set(self) -> None:
        super().set()
        self.wake.set()
        on_set = self.on_set
        if on_set is not None:
            on_set()


class _PipelineReplies:
    """The replies of one pipelined connection, sent whole from any thread.

    The thread serving the connection and the actor's event loop both
    reply; one lock keeps frames whole and in their tag sequence.  Proxies
    pickled into a reply are held until the client says it read that reply.
    """

    __slots__ = ("_server", "_conn", "_lock", "_sent", "_held", "held_back")

    def __init__(self, server: _ActorServer, conn: _Connection) -> None:
        self._server = server
        self._conn = conn
        self._lock = threading.Lock()
        self._sent = 0
        self._held: collections.deque = collections.deque()  # (reply number, proxies)
        #: Whether replies wait in the connection for the next write (:meth:`flush`).
        self.held_back = False

    def send(self, number: int, msg: tuple, more: bool = False) -> bool:
        """Send the reply to request ``number``; whether the connection took it.

        ``more``: further requests are already read, so the reply waits for
        theirs, to go out in one write (a reply from the loop thread sends
        every waiting one).
        """
        held: list = []
        conn = self._conn
        with self._lock:
            if more:
                conn.cork()
            previous, _serving.held = _serving.held, held
            try:
                sent = self._server._send(conn, msg, number)
                if not more:
                    conn.uncork()
            except OSError:
                sent = False
            finally:
                _serving.held = previous
            self.held_back = more
            if held:
                self._held.append((self._sent, held))
            self._sent += 1
        return sent

    def flush(self) -> bool:
        """Write the replies held back; whether the connection took them."""
        with self._lock:
            self.held_back = False
            try:
                self._conn.uncork()
            except OSError:
                return False
        return True

    def acknowledge(self, received: int) -> None:
        """The client read ``received`` replies: release what they carried."""
        if self._held:
            with self._lock:
                while self._held and self._held[0][0] < received:
                    self._held.popleft()


def _asyncio_module() -> Any:
    """:mod:`asyncio`, loaded by whoever runs coroutines here."""
    return sys.modules["asyncio"]


async def _as_caller(coroutine: Any, owner: bool | None) -> Any:
    """Await a coroutine method as the call's own task: what
    :func:`caller_is_owner` answers in it."""
    _coroutine_owner.set(owner)
    return await coroutine


def _is_method(attribute: Any) -> bool:
    if attribute is None or isinstance(attribute, property):
        return False
    return callable(attribute) or isinstance(
        attribute, (staticmethod, classmethod, functools.partialmethod))


class _ActorServer(mp_managers.Server):
    """The manager server of an actor process.

    Extends the standard server with: the actor itself (created once, on the
    owner's request), results wrapped as proxies of the object returned
    rather than of a copy, exposed properties, original exception types,
    bounded handshakes, rejection of garbage, and the actor lifetime rules
    (owner shutdown, owner death, last reference released).
    """

    public = [*mp_managers.Server.public, "connect_actor", "release_owner",
              "accept_pipeline"]

    def __init__(self, registry: dict, address: Any, authkey: bytes, serializer: str,
                 ssl_context: ssl.SSLContext | None = None, *,
                 owner_token: bytes | None = None, max_message: int | None = None,
                 allowed_classes: Iterable[type] | None = None) -> None:
        _check_tcp_authkey(address, authkey)
        self.registry = registry
        self.authkey = mp_process.AuthenticationString(authkey)
        self.listener = _Listener(address)
        self.address = self.listener.address
        self.id_to_obj = {}
        self.id_to_refcount: dict = {}
        self.id_to_local_proxy_obj: dict = {}
        self.mutex = threading.Lock()
        #: Accepted sockets, closed in processes this actor forks so that
        #: they never keep a dead actor's sockets open for its callers.
        self.connections: set = set()
        self.serializer_name = serializer
        #: Server-side TLS context: every connection is TLS, then the authkey.
        self.ssl_context = ssl_context
        #: Proves requests come from the process that started the actor.
        self.owner_token = owner_token
        #: Largest message (bytes) this actor reads; announced in the hello.
        self.max_message = max_message
        #: ``allowed_classes`` as the allow-list decoder uses it (None: pickle).
        self.allowed = _allow_list(allowed_classes)
        self.hello_flags = ((_FLAG_FRAME_MAC if self.listener.tcp else 0)
                            | (_FLAG_RESTRICTED if self.allowed is not None else 0))
        #: Tells this server from an earlier one at the same address.
        self.incarnation = os.urandom(8).hex()
        self.actor: Any = None
        self.actor_ident: str | None = None
        self.owner_released = False
        self.stop_event = _StopEvent()
        self._stopping = threading.Lock()
        #: The event loop running the actor's coroutine methods, on the main
        #: thread, started by the first coroutine call (:meth:`_coroutine_loop`).
        self.loop: Any = None
        self._loop_wanted = False
        self._loop_ready = threading.Event()

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
        """Block until the actor is asked to stop, run its hook, exit.

        Meanwhile the main thread runs the actor's event loop once a
        coroutine method is first called.
        """
        while not self.stop_event.is_set():
            self.stop_event.wake.wait()
            self.stop_event.wake.clear()
            if self._loop_wanted and self.loop is None and not self.stop_event.is_set():
                self._run_loop()
        self._loop_ready.set()  # callers still waiting for a loop give up
        self._stop_actor()
        sys.exit(0)

    def _run_loop(self) -> None:
        """Run the actor's event loop until the actor stops, then close it:
        coroutines still running are cancelled and awaited."""
        import asyncio

        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        stopped = loop.create_future()

        def stop() -> None:
            if not stopped.done():
                stopped.set_result(None)

        def stop_threadsafe() -> None:
            with contextlib.suppress(RuntimeError):  # closed already
                loop.call_soon_threadsafe(stop)

        self.stop_event.on_set = stop_threadsafe
        self.loop = loop
        self._loop_ready.set()
        if self.stop_event.is_set():
            stop()
        try:
            loop.run_until_complete(stopped)
        finally:
            try:
                tasks = asyncio.all_tasks(loop)
                for task in tasks:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                self.loop = None
                asyncio.set_event_loop(None)
                loop.close()

    def _coroutine_loop(self) -> Any:
        """The running event loop for coroutine methods, started if needed."""
        loop = self.loop
        if loop is None:
            self._loop_wanted = True
            self.stop_event.wake.set()
            self._loop_ready.wait(_START_TIMEOUT)
            loop = self.loop
            if loop is None:
                raise ProxyError(f"the actor at {_describe(self.address)} is stopping: "
                                 "its event loop no longer runs coroutine methods")
        return loop

    def _await(self, coroutine: Any) -> Any:
        """Run a coroutine method's ``coroutine`` on the actor's loop; its result."""
        import asyncio
        import concurrent.futures  # loaded with asyncio

        try:
            loop = self._coroutine_loop()
        except BaseException:
            coroutine.close()
            raise
        owner = _serving.owner
        name = getattr(coroutine, "__qualname__", "a coroutine method")
        future = asyncio.run_coroutine_threadsafe(_as_caller(coroutine, owner), loop)
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            raise self._stopped_during(name) from None

    def _stopped_during(self, name: str) -> ActorDeadError:
        """The error of a coroutine method the actor's stop cancelled."""
        return ActorDeadError(f"the actor at {_describe(self.address)} stopped while "
                              f"{name} ran; it was cancelled")

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
                sock, peer = self.listener.accept()
            except OSError:  # out of descriptors, say: do not spin
                self.stop_event.wait(_ACCEPT_RETRY)
                continue
            threading.Thread(target=self.handle_request, args=(sock, peer),
                             daemon=True).start()

    # -- connections --------------------------------------------------------

    def handle_request(  # type: ignore[override]
            self, sock: socket.socket, peer: Any = None) -> None:
        """Authenticate an accepted socket, then serve its first request."""
        sockets = [sock]  # and the TLS socket taking it over, if any
        self.connections.add(sock)
        try:
            conn = self._authenticate(sockets, _describe_peer(peer))
            if conn is not None:
                self._serve_request(conn)
        finally:
            for item in sockets:
                self.connections.discard(item)
                item.close()

    def _close_inherited_connections(self) -> None:
        """In a process forked by the actor: drop the copies of its sockets."""
        for sock in list(self.connections):
            sock.close()
        self.connections.clear()

    def _authenticate(self, sockets: list, where: str) -> _Connection | None:
        """The handshakes of an accepted socket: the connection to serve, or None.

        TLS first when the actor has a context (its socket is appended to
        ``sockets``), then the authkey both ways, all within
        :data:`_HANDSHAKE_TIMEOUT` as a whole: every read and write is bounded
        by the time left, so a peer trickling one byte at a time is cut off
        like a silent one.
        """
        give_up = _monotonic() + _HANDSHAKE_TIMEOUT
        sock = sockets[0]
        try:
            if self.ssl_context is not None:
                sock = _tls_accept(sock, self.ssl_context, give_up)
                sockets.append(sock)
                self.connections.add(sock)
            session = _server_handshake(sock, bytes(self.authkey), self.hello_flags,
                                        self.max_message, give_up)
            sock.settimeout(None)
        except AuthkeyError:  # routine with forwarded proxies: not a warning
            _warn_once(("authkey",), "rejected a connection from %s: wrong authkey",
                       where, level=logging.INFO)
            return None
        except Exception as exc:
            _warn_once(("handshake", type(exc)), "rejected a connection from %s that "
                       "failed the %s handshake: %r", where,
                       "authkey" if self.ssl_context is None else "TLS or authkey", exc,
                       level=logging.INFO)
            return None
        return _Connection(sock, session, where, self.serializer_name,
                           tls=self.ssl_context is not None,
                           max_message=self.max_message, allowed=self.allowed)

    def _receive_failed(self, conn: _Connection, exc: BaseException) -> bool:
        """Whether ``exc``, raised receiving a request, ends the connection.

        A tampered frame is logged; an oversized one is answered first.
        Decoding errors leave the connection in step (the frame was read).
        """
        if isinstance(exc, FrameAuthenticationError):
            _warn_once(("frame",), "%s", exc)
            return True
        if isinstance(exc, MessageTooLargeError):
            _warn_once(("size",), "%s", exc)
            self._send(conn, _exception_payload(exc, self.serializer_name))
            return True
        return isinstance(exc, (EOFError, OSError))

    def _serve_request(self, conn: _Connection) -> None:
        try:
            request = conn.recv()
        except Exception as exc:
            if not self._receive_failed(conn, exc):
                _warn_once(("request", type(exc)), "refused an undecodable request "
                           "from %s: %s", conn.where, _clip(str(exc)))
                self._send(conn, _exception_payload(exc, self.serializer_name))
            return
        try:
            _, funcname, args, kwds = request
            if funcname not in self.public:
                raise ProxyError(f"{_shorten(funcname)} is not a server request")
            msg: tuple = ("#RETURN", getattr(self, funcname)(conn, *args, **kwds))
        except SystemExit:
            return
        except BaseException as exc:
            msg = _exception_payload(exc, self.serializer_name)
        self._send(conn, msg)

    def _send(self, conn: Any, msg: tuple, number: int | None = None) -> bool:
        """Send a reply (numbered ``number`` on a pipelined connection); one
        that cannot be serialized is replaced by a description of the error."""
        try:
            conn.send(msg if number is None else (number, *msg))
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
                conn.send(fallback if number is None else (number, *fallback))
            except Exception:
                try:
                    last = _foreign_payload(exc, text)
                    conn.send(last if number is None else (number, *last))
                except Exception:
                    return False
        return True

    def _bad_request_answerable(self, conn: _Connection, exc: BaseException,
                                bad_requests: int) -> bool:
        """After a request failed to decode: whether to answer it and go on.

        Not when the connection is gone, nor after ``_MAX_BAD_REQUESTS`` in a
        row; otherwise a whole frame was read, so the stream is in step.
        """
        if self._receive_failed(conn, exc):
            return False
        if bad_requests >= _MAX_BAD_REQUESTS:
            _warn_once(("garbage", type(exc)), "closed a connection that sent "
                       "undecodable messages: %s", _clip(str(exc)))
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
            except Exception as exc:
                bad_requests += 1
                if not self._bad_request_answerable(conn, exc, bad_requests) or \
                        not self._send(conn, _exception_payload(exc, serializer)):
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
                    if type(res) is _CoroutineType:  # an async def method
                        res = self._await(res)
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

    def serve_pipeline(self, conn: _Connection) -> None:
        """Serve pipelined calls from one asyncio client until it disconnects.

        Requests are ``(ident, methodname, args, kwds, received)``, numbered
        by their order on the connection; each reply is ``(number, kind,
        result)``, sent as soon as it is ready: synchronous methods run here
        in order, coroutine methods on the actor's loop, concurrently, while
        this thread reads on.  ``received`` (replies the client has read)
        releases the proxies held for earlier replies.
        """
        replies = _PipelineReplies(self, conn)
        id_to_obj: dict = self.id_to_obj
        serializer = self.serializer_name
        bad_requests = 0
        for number in itertools.count():
            # Replies held back go out before waiting for more requests.
            if replies.held_back and not conn.buffered_frame_ready() and not replies.flush():
                return
            try:
                request = conn.recv()
            except Exception as exc:
                if isinstance(exc, MessageTooLargeError):
                    _warn_once(("size",), "%s", exc)
                    replies.send(number, _exception_payload(exc, serializer))
                    return
                bad_requests += 1
                if not self._bad_request_answerable(conn, exc, bad_requests) or \
                        not replies.send(number, _exception_payload(exc, serializer)):
                    return
                continue
            bad_requests = 0
            try:
                ident, methodname, args, kwds, received = request
                replies.acknowledge(received)
                obj, exposed, gettypeid = id_to_obj[ident]
                is_attribute = exposed[methodname]
            except Exception:
                if isinstance(request, (tuple, list)) and len(request) == 5:
                    request = request[:4]  # without ``received``
                msg = self._unusual_request(request)
            else:
                typeid = gettypeid and gettypeid.get(methodname)
                try:
                    function = getattr(obj, methodname)
                    res = function if is_attribute else function(*args, **kwds)
                    if type(res) is _CoroutineType:
                        self._answer_later(res, number, replies, typeid)
                        continue
                except BaseException as exc:
                    msg = _exception_payload(exc, serializer)
                else:
                    msg = (("#PROXY", self._result_token(typeid, res)) if typeid
                           else ("#RETURN", res))
            more = number % _REPLY_BATCH != _REPLY_BATCH - 1 and conn.buffered_frame_ready()
            if not replies.send(number, msg, more):
                return

    def _answer_later(self, coroutine: Any, number: int, replies: _PipelineReplies,
                      typeid: Any) -> None:
        """Run a coroutine method on the actor's loop; reply when it finishes."""
        import asyncio

        try:
            loop = self._coroutine_loop()
        except BaseException:
            coroutine.close()
            raise
        answer = self._answer(coroutine, number, replies, typeid, _serving.owner)
        asyncio.run_coroutine_threadsafe(answer, loop)

    async def _answer(self, coroutine: Any, number: int, replies: _PipelineReplies,
                      typeid: Any, owner: bool | None) -> None:
        msg: tuple
        name = getattr(coroutine, "__qualname__", "a coroutine method")
        try:
            res = await _as_caller(coroutine, owner)
            msg = (("#PROXY", self._result_token(typeid, res)) if typeid
                   else ("#RETURN", res))
        except BaseException as exc:
            if isinstance(exc, _asyncio_module().CancelledError):
                exc = self._stopped_during(name) if self.stop_event.is_set() else ProxyError(
                    f"{name} was cancelled inside the actor at {_describe(self.address)}")
            msg = _exception_payload(exc, self.serializer_name)
        replies.send(number, msg)

    def _unusual_request(self, request: Any) -> tuple:
        """Fallback requests (str, repr, value) and clear errors for bad ones,
        errors described by name where the serializer cannot carry them."""
        msg = self._answer_unusual(request)
        if msg[0] == "#RAISE" and self.serializer_name != "pickle":
            return _foreign_payload(*msg[1])
        return msg

    def _answer_unusual(self, request: Any) -> tuple:
        try:
            ident, methodname, args, kwds = request
        except (TypeError, ValueError):
            return ("#RAISE", (ProxyError(f"malformed request {_shorten(request)}"), ""))
        try:
            obj, exposed, _ = self.id_to_obj[ident]
        except (KeyError, TypeError):
            return ("#RAISE", (NotHeldError(
                f"object {_shorten(ident)} is not (or no longer) held by this actor; "
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
                f"typeid {_shorten(typeid)} is not registered; registered: "
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
        callable_ = self.registry.get(typeid, (None,))[0] if isinstance(typeid, str) else None
        if callable_ is None or typeid == "actor":
            raise ProxyError(f"typeid {_shorten(typeid)} cannot be created remotely")
        return self.register_object(callable_(*args, **kwds), typeid)

    def _is_owner(self, c: _Connection, proof: Any) -> bool:
        """Whether ``proof`` shows that ``c`` comes from the actor's owner."""
        proof = getattr(proof, "data", proof)  # xmlrpclib decodes bytes as Binary
        return (self.owner_token is not None and isinstance(proof, bytes)
                and hmac.compare_digest(proof, c.prove(self.owner_token)))

    def _require_owner(self, c: _Connection, proof: Any, what: str) -> None:
        if not self._is_owner(c, proof):
            raise ProxyError(
                f"only the process that started this actor may {what}; other "
                "processes end their use of it by dropping their proxies, or call "
                "the actor's own shutdown() through a proxy")

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

    def accept_connection(self, c: Any, name: str, proof: bytes | None = None) -> None:
        """Serve this connection's method calls until it closes.

        ``proof`` (of the owner token) marks calls from the owner process
        (:func:`caller_is_owner`).
        """
        threading.current_thread().name = _clip(str(name))
        _serving.owner = self._is_owner(c, proof)
        c.send(("#RETURN", None))
        self.serve_client(c)
        raise SystemExit

    def accept_pipeline(self, c: Any, name: str, proof: bytes | None = None) -> None:
        """Serve this connection's pipelined calls (an asyncio client) until it
        closes; ``proof`` as for :meth:`accept_connection`."""
        threading.current_thread().name = _clip(str(name))
        _serving.owner = self._is_owner(c, proof)
        c.send(("#RETURN", None))
        self.serve_pipeline(c)
        raise SystemExit

    def release_owner(self, c: Any, proof: bytes | None = None) -> None:
        """The owner process let go of the actor: end it with its last reference."""
        self._require_owner(c, proof, "release it (release_owner)")
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
                raise NotHeldError(
                    f"object {_shorten(ident)} is no longer held by this actor")
            self.id_to_refcount[ident] = self.id_to_refcount.get(ident, 0) + 1

    def get_methods(self, c: Any, ident: Any) -> Any:
        """Public methods of a held object (``ident``, or a token carrying it)."""
        ident = getattr(ident, "id", ident)
        try:
            obj = self.id_to_obj[ident][0]
        except (KeyError, TypeError):
            raise ProxyError(
                f"object {_shorten(ident)} is not (or no longer) held by this actor"
            ) from None
        return mp_managers.public_methods(obj)

    def shutdown(self, c: Any, proof: bytes | None = None) -> None:
        """Stop this actor process (the owner's request)."""
        self._require_owner(c, proof, "stop it (server-level shutdown)")
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


class _OwnedActor:
    """What the process that started an actor needs to release or stop it.

    Kept apart from the manager so that finalizers hold only this.
    """

    __slots__ = ("process", "address", "authkey", "serializer", "owner_token", "ssl_context")

    def __init__(self, process: Any, address: _Address, authkey: bytes, serializer: str,
                 owner_token: bytes, ssl_context: ssl.SSLContext | None) -> None:
        self.process = process
        self.address = address
        self.authkey = authkey
        self.serializer = serializer
        self.owner_token = owner_token
        self.ssl_context = ssl_context

    def request(self, funcname: str) -> Any:
        """An owner-only server request, bounded by :data:`_RELEASE_TIMEOUT`."""
        return _request_once(self.address, self.authkey, self.serializer, funcname,
                             timeout=_RELEASE_TIMEOUT, owner_token=self.owner_token,
                             ssl_context=self.ssl_context)


def _stop_process(owned: _OwnedActor) -> None:
    """Ask an actor process to stop, then terminate, then kill; join it."""
    process = owned.process
    if process.exitcode is None:
        try:
            owned.request("shutdown")
        except Exception as exc:
            _logger.debug("asking %s to stop failed: %r", _describe(owned.address), exc)
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


def _finalize_owner(owned: _OwnedActor, state: Any) -> None:
    """Finalizer of an owning manager (garbage-collected or at exit).

    At exit the actor is stopped.  When merely garbage-collected, the owner
    releases it: the actor ends once no proxy anywhere refers to it (usually
    at once), and proxies handed to other processes keep it alive.
    """
    if state.value == _State.SHUTDOWN:
        return
    state.value = _State.SHUTDOWN
    if mp_util.is_exiting():
        _stop_process(owned)
        return
    try:
        owned.request("release_owner")
    except Exception as exc:
        _logger.debug("releasing %s failed: %r", _describe(owned.address), exc)
    _retire(owned)


def _reap_retired(stop: bool = False) -> None:
    """Join retired actor processes that have ended (or stop them, at exit)."""
    with _retired_lock:
        retired = list(_retired)
        _retired.clear()
    alive = []
    for owned in retired:
        process = owned.process
        if stop:
            _stop_process(owned)
        elif process.exitcode is None and process.is_alive():
            alive.append(owned)
        else:
            process.join(0)
    with _retired_lock:
        _retired.extend(alive)


_reaper: threading.Thread | None = None


def _retire(owned: _OwnedActor) -> None:
    """Hand a released actor process to the reaper thread, started on demand."""
    global _reaper
    with _retired_lock:
        _retired.append(owned)
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
            sentinels = [owned.process.sentinel for owned in _retired]
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
    manager._owned_actor = None


def _report(conn: Any, message: tuple) -> None:
    """Send a start report to the owner; an unpicklable error as its description."""
    try:
        conn.send(message)
    except Exception:
        exc, text = message[1]
        conn.send(_foreign_payload(exc, text))


def _run_actor_server(manager_class: type, address: Any, authkey: bytes,
                      serializer: str, ssl_server: Any, conn: Any,
                      settings: dict) -> None:
    """Actor process entry point: build the server, create the actor, serve.

    Talks to the starting process over ``conn``: reports ``#STARTED`` once
    listening, receives the actor's ``(args, kwargs)`` (``None`` for a bare
    manager), runs ``__init__`` and the started hook on this main thread,
    starts serving, and reports the actor's reference or the error.
    ``settings``: the server's owner token, ``max_message`` and
    ``allowed_classes``.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the owner's to handle
    _serving.held = None  # a fork from a server thread inherits its state
    _serving.owner = None
    try:
        server = manager_class._Server(manager_class._registry, address, authkey, serializer,
                                       ssl_context=_server_context(ssl_server), **settings)
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

    Limits (``start()`` only): ``max_message`` is the largest message in
    bytes the actor reads (``None``: no limit); ``allowed_classes`` makes it
    decode requests with an allow-list (plain data and those classes; see
    the networking chapter).  A TCP actor needs a non-empty ``authkey``.
    """

    _Server = _ActorServer
    _registry: dict = {}

    def __init__(self, address: _Address | None = None, authkey: bytes | None = None,
                 serializer: str = DEFAULT_SERIALIZER, *args: Any,
                 parent: ActorManager | None = None,
                 timeout: float | None = None,
                 ssl_server: ssl.SSLContext | Callable[[], ssl.SSLContext] | None = None,
                 ssl_client: ssl.SSLContext | None = None,
                 max_message: int | None = None,
                 allowed_classes: Iterable[type] | None = None, **kwargs: Any) -> None:
        if address is not None:
            address = _normalize_address(address)
        if authkey is not None:
            authkey = _check_authkey(authkey)
            _check_tcp_authkey(address, authkey)
        self._ssl_server = _check_ssl_server(ssl_server)
        self._ssl_client = _check_ssl_client(ssl_client)
        if (ssl_server is not None or ssl_client is not None) \
                and not isinstance(address, tuple):
            raise ValueError(
                f"TLS (ssl_server, ssl_client) needs a TCP address, not {_shorten(address)}; "
                "set the address option to a (host, port) pair")
        self._max_message = _check_max_message(max_message)
        self._allowed_classes = _check_allowed_classes(allowed_classes)
        super().__init__(address, authkey, _check_serializer(serializer), *args, **kwargs)
        self._parent = parent
        self._timeout = _check_timeout(timeout)
        self._owned = False
        self._process: Any = None
        self._owned_actor: _OwnedActor | None = None
        self._finalizer: Any = None
        self._uncount: Callable[[], Any] | None = None

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

        :raises ActorAddressError: (an ``OSError``) when the actor cannot
            listen on its address: in use, not of this host, IPv6 missing.
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
        owner_token = os.urandom(_NONCE_BYTES)
        settings = {"owner_token": owner_token, "max_message": self._max_message,
                    "allowed_classes": self._allowed_classes}
        conn, child_conn = mp_connection.Pipe()
        process = self._ctx.Process(
            target=_run_actor_server,
            args=(type(self), self._address, bytes(self._authkey), self._serializer,
                  self._ssl_server, child_conn, settings),
            name=f"{type(self).__qualname__.rsplit('.', 1)[0]}-{next(_process_counter)}",
        )
        try:
            process.start()
        except (pickle.PicklingError, AttributeError, TypeError) as exc:
            conn.close()
            raise ProxyError(
                f"cannot start {type(self).__qualname__} with start method "
                f"{self._ctx.get_start_method()!r}: {exc}; actor classes (and "
                "ssl_server factories, allowed_classes) must be defined at module "
                "level of an importable module") from exc
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
        record = _records.obtain(self._address, incarnation)
        record.ssl_context = self._ssl_client
        record.authkey = bytes(self._authkey)
        record.manager = weakref.ref(self)
        record.owner_token = owner_token
        self._attach(record)
        self._process = process
        self._owned = True
        self._state.value = _State.STARTED
        self._owned_actor = _OwnedActor(process, self._address, bytes(self._authkey),
                                        self._serializer, owner_token, self._ssl_client)
        mp_util.register_after_fork(self, _forget_inherited)
        _ensure_exit_hook()
        self._finalizer = mp_util.Finalize(
            self, _finalize_owner, args=(self._owned_actor, self._state), exitpriority=0)
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
                            self._serializer, ssl_context=_server_context(self._ssl_server),
                            max_message=self._max_message,
                            allowed_classes=self._allowed_classes)

    def connect(self) -> None:
        """Connect to manager process.

        From then on, this process reaches the address over TLS with
        ``ssl_client`` if given, in plain TCP otherwise.

        :raises AuthkeyError: on actor process authkey rejection.
        """
        self._open("dummy")

    def _open(self, funcname: str, *args: Any) -> Any:
        """Connect: make one server-level request (``connect()``: 'dummy')."""
        if self._state.value != _State.INITIAL:
            raise ProxyError("this manager was already started or connected")
        record = _records.obtain(self._address)
        previous = record.ssl_context
        record.ssl_context = self._ssl_client
        try:
            result = _request_once(self._address, bytes(self._authkey), self._serializer,
                                   funcname, args, self._timeout)
        except BaseException:
            record.ssl_context = previous
            _records.release(record)
            raise
        self._attach(record)
        self._state.value = _State.STARTED
        return result

    def _attach(self, record: _ActorRecord) -> None:
        """Keep ``record`` while this manager lives (moving off an earlier one)."""
        uncount = self._uncount
        self._uncount = _records.add_manager(record, self)
        if uncount is not None:
            uncount()

    def shutdown(self) -> None:
        """End the actor process if this manager owns it (idempotent)."""
        if self._state.value == _State.SHUTDOWN:
            return
        self._state.value = _State.SHUTDOWN
        if self._finalizer is not None:
            self._finalizer.cancel()
        if self._owned and self._owned_actor is not None:
            _stop_process(self._owned_actor)
        if self._uncount is not None:
            self._uncount()

    def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        self.shutdown()

    def _server_request(self, funcname: str, *args: Any, **kwds: Any) -> Any:
        return _request_once(self._address, bytes(self._authkey), self._serializer,
                             funcname, args, self._timeout, kwds=kwds)

    def _create(self, typeid: str, /, *args: Any, **kwds: Any) -> tuple:
        """``manager.list()`` and the like: create the object in the actor."""
        ident, exposed = self._server_request("create", typeid, *args, **kwds)
        return _Token(typeid, self._address, ident), exposed

    def _debug_info(self) -> str:
        return self._server_request("debug_info")

    def _number_of_objects(self) -> int:
        return self._server_request("number_of_objects")


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
    #: serializer, ctx, timeout, ssl_server, ssl_client, max_message,
    #: allowed_classes).
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

        :param address: actor process connection address: ``(host, port)``
            with an IPv4 or IPv6 host (``'fe80::1%eth0'`` for link-local), or
            a unix socket path
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
        :raises AuthkeyError: when the actor rejects ``authkey``, or cannot
            prove it holds it.
        :raises ValueError: for an empty ``authkey`` and a TCP address.
        :raises ActorConnectionError: when nothing answers at ``address``, or
            TLS fails (certificate not trusted or not accepted, TLS on one
            side only).
        """
        address = _normalize_address(address)
        captured = [_normalize_address(item) for item in capture]
        manager = cls.manager_class(address=address, authkey=authkey,
                                    serializer=serializer, timeout=timeout,
                                    ssl_client=ssl)
        ident, exposed, bind_address, _, incarnation = manager._open("connect_actor")
        record = _records.obtain(address, incarnation)
        manager._attach(record)
        record.authkey = bytes(manager._authkey)
        record.manager = weakref.ref(manager)
        for alias in (_normalize_address(bind_address), *captured):
            _records.route(alias, record)
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
    _records.add_user(result._address_state)
    mp_util.Finalize(result, _release_local, args=(server, ident, result._address_state))
    return result


def _release_local(server: _ActorServer, ident: str, record: _ActorRecord) -> None:
    """Finalizer of a proxy made by :func:`proxy`: release it in-process."""
    _records.remove_user(record)
    server.decref(None, ident)


def typeid(proxy: mp_managers.BaseProxy) -> str:
    """Get typeid from given proxy object."""
    if not isinstance(proxy, mp_managers.BaseProxy):
        raise TypeError(f"{proxy!r} is not a proxy")
    return proxy._token.typeid


def caller_is_owner() -> bool:
    """Whether the call being served came from the actor's owner process.

    The owner is the process that started the actor: its proxies (the one
    instantiation returned, and every proxy of that process to that
    address) prove it with a secret token made at start, bound to each
    connection.  Valid inside an actor method, in the thread serving the
    call.  Useful to keep owner-only operations (stopping a service, say)
    from other key holders.

    :raises ProxyError: outside an actor process, or outside a call.
    """
    if _current_server is None:
        raise ProxyError("uactor.caller_is_owner() can only be called inside an actor process")
    owner = _serving.owner
    if owner is None:
        owner = _coroutine_owner.get()
    if owner is None:
        raise ProxyError("uactor.caller_is_owner() can only be called while the actor "
                         "serves a call, in the thread running the method")
    return owner


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


async def call_async(method: Callable[_P, _R], /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
    """A call of ``method``, a method of a uactor proxy, to await in asyncio.

    ``await uactor.call_async(worker.add, 1, 2)`` is ``worker.add(1, 2)``
    without blocking the event loop: type checkers see the method's
    parameters and result.  Calls from one event loop to one actor share one
    connection, many in flight at once (their replies may come back in any
    order: coroutine methods run concurrently in the actor).  The proxy's
    call timeout and enclosing :func:`deadline` blocks bound the call
    (:class:`CallTimeoutError`); cancelling the awaiting task (or
    ``asyncio.timeout``) abandons the reply, while the request, sent whole,
    still runs in the actor.  Results, result proxies and errors are those
    of the synchronous call.

    :raises TypeError: when ``method`` is not a method of a uactor proxy.
    """
    name = _awaitable.get(getattr(method, "__func__", None))
    if name is None:
        name = _awaitable_name(method)
    return await _call_async(method.__self__, name, args, kwargs)  # type: ignore[no-any-return, attr-defined]


#: Proxy method functions checked by :func:`call_async` -> the remote method name.
_awaitable: dict = {}


def _awaitable_name(method: Any) -> str:
    """The remote method ``proxy.method`` calls, once checked."""
    proxy = getattr(method, "__self__", None)
    function = getattr(method, "__func__", None)
    name = getattr(method, "__name__", None)
    if not isinstance(proxy, BaseProxy) or function is None or not isinstance(name, str):
        raise TypeError(
            f"call_async() takes a method of a uactor proxy, such as worker.add, not "
            f"{type(method).__name__} {_shorten(method)}; pass the method without "
            "calling it: await uactor.call_async(worker.add, 1, 2)")
    _check_async_method(proxy, name, function)
    _awaitable[function] = name
    return name


def aio(proxy: Actor | BaseProxy) -> Any:
    """An asynchronous view of ``proxy``: ``await uactor.aio(worker).add(1, 2)``.

    Its methods are coroutine functions and its exposed attributes
    awaitables (``await uactor.aio(worker).counter``), calling as
    :func:`call_async` does.  Untyped: prefer :func:`call_async` where type
    checkers should see the actor's methods.
    """
    return _AsyncView(_checked_proxy(proxy))


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
