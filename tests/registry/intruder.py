"""An intruder's attempts against a registry node, as a script (stdlib only).

Run by tests/registry/test_trust.py, typically as another local user
(``setpriv --reuid=nobody``) with ``python -I``, so it imports nothing from
the project but ``tests/wire.py`` (uactor's wire protocol written out again,
standard library only).  Prints one JSON object: for each attempt, what
happened::

    python -I intruder.py HOST PORT MARKER [--key-file PATH] [--control-file PATH]
                          [--authkey-hex HEX]

Attempts:

* ``read_key_file`` / ``read_control_file``: open the files for reading;
* ``empty_key``: uactor's handshake with an empty authkey;
* ``guessed_key``: the same with a random 64-hex-digit key (the shape of a
  generated one);
* ``given_key``: the same with ``--authkey-hex`` (the test's control: the
  script does connect when it holds the key);
* ``multiprocessing_client``: multiprocessing's own client, empty key;
* ``raw_payload``: read the node's greeting, answer with a pickle whose
  ``__reduce__`` would create ``MARKER``, and read what comes back.

``payload`` is that pickle, hex-encoded, so the test can prove it works.
"""
import argparse
import json
import os
import secrets
import socket
import sys
from multiprocessing.connection import Client
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from wire import HELLO, connect  # noqa: E402  (tests/wire.py, stdlib only)

#: Seconds any one attempt may take.
TIMEOUT = 10.0

#: Bytes a client answers uactor's greeting with (a nonce and a proof).
HANDSHAKE_ANSWER = 64


class _CreatesMarker:
    """Unpickling this creates the marker directory: proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def _outcome(exc):
    return f"{type(exc).__name__}: {exc}"


def read_file(path):
    try:
        with open(path, "rb") as file:
            file.read()
    except OSError as exc:
        return _outcome(exc)
    return "read"


def handshake(address, key):
    """uactor's handshake with ``key``: ``connected``, or why it failed."""
    try:
        session = connect(address, key, timeout=TIMEOUT)
    except Exception as exc:  # every refusal counts, whatever its type
        return _outcome(exc)
    session.close()
    return "connected"


def multiprocessing_client(address):
    socket.setdefaulttimeout(TIMEOUT)
    try:
        Client(address, authkey=b"").close()
    except Exception as exc:
        return _outcome(exc)
    return "connected"


def _read_until_closed(sock, limit=1 << 16):
    data = b""
    while len(data) < limit:
        chunk = sock.recv(limit - len(data))
        if not chunk:
            return data, True
        data += chunk
    return data, False


def raw_payload(address, payload):
    """Answer the node's greeting with the payload instead of a handshake."""
    try:
        with socket.create_connection(address, timeout=TIMEOUT) as sock:
            greeting = sock.recv(HELLO.size)
            # At least as long as a handshake answer, so the node must judge it.
            sock.sendall(payload.ljust(HANDSHAKE_ANSWER, b"\0"))
            answer, closed = _read_until_closed(sock)
    except OSError as exc:
        return _outcome(exc)
    return (f"greeting {len(greeting)} bytes; answered {answer[:40]!r}; "
            f"{'closed' if closed else 'still open'}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("marker")
    parser.add_argument("--key-file")
    parser.add_argument("--control-file")
    parser.add_argument("--authkey-hex")
    args = parser.parse_args()
    address = (args.host, args.port)
    payload = __import__("pickle").dumps(_CreatesMarker(args.marker))
    results = {"uid": os.getuid(), "payload": payload.hex()}
    if args.key_file:
        results["read_key_file"] = read_file(args.key_file)
    if args.control_file:
        results["read_control_file"] = read_file(args.control_file)
    results["empty_key"] = handshake(address, b"")
    results["guessed_key"] = handshake(address, secrets.token_hex(32).encode())
    if args.authkey_hex:
        results["given_key"] = handshake(address, bytes.fromhex(args.authkey_hex))
    results["multiprocessing_client"] = multiprocessing_client(address)
    results["raw_payload"] = raw_payload(address, payload)
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
