"""uactor's wire protocol, written out again for tests.

Built from the protocol description in docs/networking.rst ("Wire protocol"),
not from ``uactor.py``'s code, so that tests can do what a uactor client
never would: send raw server-level requests, hand-built or oversized frames,
pickles a uactor client would refuse to send, and check that a relay's
tampering is caught.  Everything here runs in the test process.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import pickle
import socket
import struct
from typing import Any

MAGIC = b"uActor\x00"
VERSION = 1
HELLO = struct.Struct("!7sBBQ32s")
HEADER = struct.Struct("!QH")
FLAG_FRAME_MAC = 1
FLAG_RESTRICTED = 2
TAG_BYTES = 16
SMALL_MAC_MAX = 512
#: Bytes the client sends in the handshake (nonce + proof), and the server's
#: hello plus accepted verdict and proof: where a relay's frames start.
CLIENT_HANDSHAKE = 64
SERVER_HANDSHAKE = HELLO.size + 1 + 32


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.digest(key, data, "sha256")


class Tagger:
    """Tags one direction's frames: sequence number, header and payload."""

    def __init__(self, key: bytes | None) -> None:
        self.key = key
        self.sequence = 0

    def tag(self, header: bytes, payload: bytes) -> bytes:
        if self.key is None:
            return b""
        data = struct.pack("!Q", self.sequence) + header + payload
        self.sequence += 1
        size = len(payload)
        if size <= SMALL_MAC_MAX:
            key = _hmac(self.key, b"blake2b")
            return hashlib.blake2b(data, key=key, digest_size=TAG_BYTES).digest()
        return _hmac(_hmac(self.key, b"hmac-sha256"), data)[:TAG_BYTES]


class Session:
    """A raw connection that completed the handshake."""

    def __init__(self, sock: socket.socket, authkey: bytes, hello: bytes,
                 nonce: bytes) -> None:
        self.sock = sock
        self.transcript = hello + nonce
        _, _, self.flags, self.max_message, _ = HELLO.unpack(hello)
        keys: tuple = (None, None)
        if self.flags & FLAG_FRAME_MAC:
            keys = (_hmac(authkey, b"uactor frames to server\x00" + self.transcript),
                    _hmac(authkey, b"uactor frames to client\x00" + self.transcript))
        self.out, self.incoming = Tagger(keys[0]), Tagger(keys[1])

    def frame(self, body: bytes) -> bytes:
        """``body`` as the next frame to the server (no out-of-band buffers)."""
        header = HEADER.pack(len(body), 0)
        return header + body + self.out.tag(header, body)

    def send(self, obj: Any) -> None:
        self.sock.sendall(self.frame(pickle.dumps(obj, protocol=5)))

    def recv(self) -> Any:
        header = self.read_exactly(HEADER.size)
        size, count = HEADER.unpack(header)
        assert count == 0, "replies with out-of-band buffers are not expected here"
        body = self.read_exactly(size)
        if self.incoming.key is not None:
            tag = self.read_exactly(TAG_BYTES)
            assert hmac.compare_digest(tag, self.incoming.tag(header, body)), "bad tag"
        return pickle.loads(body)

    def request(self, funcname: str, *args: Any) -> tuple:
        """A raw server-level request: ``(kind, result)`` as the actor answers."""
        self.send((None, funcname, args, {}))
        return self.recv()

    def owner_proof(self, token: bytes) -> bytes:
        return _hmac(token, b"uactor owner proof\x00" + self.transcript)

    def read_exactly(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise EOFError("the actor closed the connection")
            data += chunk
        return data

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def handshake(sock: socket.socket, authkey: bytes) -> Session:
    """The client side of the handshake on a connected socket."""
    hello = b""
    while len(hello) < HELLO.size:
        chunk = sock.recv(HELLO.size - len(hello))
        if not chunk:
            raise EOFError("closed before the hello")
        hello += chunk
    assert hello.startswith(MAGIC) and hello[len(MAGIC)] == VERSION, hello
    nonce = os.urandom(32)
    sock.sendall(nonce + _hmac(authkey, b"uactor client proof\x00" + hello + nonce))
    verdict = sock.recv(1)
    if verdict != b"\x01":
        raise PermissionError("authkey rejected")
    proof = b""
    while len(proof) < 32:
        proof += sock.recv(32 - len(proof))
    assert hmac.compare_digest(proof, _hmac(authkey, b"uactor server proof\x00" + hello + nonce))
    return Session(sock, authkey, hello, nonce)


def connect(address: Any, authkey: bytes, timeout: float = 10.0) -> Session:
    """A raw session with the actor at ``address`` (TCP or unix socket path)."""
    if isinstance(address, tuple):
        sock = socket.create_connection(address, timeout=timeout)
    else:
        sock = socket.socket(socket.AF_UNIX)
        sock.settimeout(timeout)
        sock.connect(address)
    try:
        return handshake(sock, authkey)
    except BaseException:
        sock.close()
        raise


def accepted(address: Any, authkey: bytes, timeout: float = 10.0) -> Session:
    """A raw session the actor serves method calls on (``accept_connection``)."""
    session = connect(address, authkey, timeout)
    assert session.request("accept_connection", "raw-test-client") == ("#RETURN", None)
    return session


def layout(frame: bytes) -> tuple[int, list[int]]:
    """A whole frame's body size and out-of-band buffer sizes."""
    body, count = HEADER.unpack_from(frame)
    return body, list(struct.unpack_from(f"!{count}Q", frame, HEADER.size))
