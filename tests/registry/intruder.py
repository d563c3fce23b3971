"""An intruder's attempts against a registry node, as a script (stdlib only).

Run by tests/registry/test_trust.py, typically as another local user
(``setpriv --reuid=nobody``) with ``python -I``, so it imports nothing from
the project.  Prints one JSON object: for each attempt, what happened::

    python -I intruder.py HOST PORT MARKER [--key-file PATH] [--control-file PATH]
                          [--authkey-hex HEX]

Attempts:

* ``read_key_file`` / ``read_control_file``: open the files for reading;
* ``empty_key``: multiprocessing's client with an empty authkey;
* ``guessed_key``: the same with a random 64-hex-digit key (the shape of a
  generated one);
* ``given_key``: the same with ``--authkey-hex`` (the test's control: the
  script does connect when it holds the key);
* ``raw_payload``: read the node's first frame, answer with a pickle whose
  ``__reduce__`` would create ``MARKER``, and read what comes back.

``payload`` is that pickle, hex-encoded, so the test can prove it works.
"""
import argparse
import json
import os
import secrets
import socket
import struct
import sys
from multiprocessing.connection import Client

#: Seconds any one attempt may take.
TIMEOUT = 10.0


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


def connect(address, key):
    socket.setdefaulttimeout(TIMEOUT)
    try:
        conn = Client(address, authkey=key)
    except Exception as exc:  # every refusal counts, whatever its type
        return _outcome(exc)
    conn.close()
    return "connected"


def _recv_frame(sock):
    header = _recv_exactly(sock, 4)
    if header is None:
        return None
    (size,) = struct.unpack("!i", header)
    return _recv_exactly(sock, min(size, 1 << 16))


def _recv_exactly(sock, size):
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def raw_payload(address, payload):
    """Send the payload as the answer to the node's first frame."""
    try:
        with socket.create_connection(address, timeout=TIMEOUT) as sock:
            first = _recv_frame(sock)
            sock.sendall(struct.pack("!i", len(payload)) + payload)
            answer = _recv_frame(sock)
            rest = _recv_frame(sock) if answer is not None else None
    except OSError as exc:
        return _outcome(exc)
    return (f"first frame {len(first or b'')} bytes; answered "
            f"{answer[:40]!r}, then {'closed' if rest is None else 'more'}"
            if answer is not None else "closed without an answer")


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
    results["empty_key"] = connect(address, b"")
    results["guessed_key"] = connect(address, secrets.token_hex(32).encode())
    if args.authkey_hex:
        results["given_key"] = connect(address, bytes.fromhex(args.authkey_hex))
    results["raw_payload"] = raw_payload(address, payload)
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
