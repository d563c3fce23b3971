"""TLS context factories and actor classes for tests/core/test_tls.py.

Module level and importable: the spawn start method pickles the
``ssl_server`` factory (``functools.partial(server_context, ...)``) and
imports the actor classes by name.
"""
from __future__ import annotations

import os
import ssl
import time

import uactor

AUTHKEY = b"TLS-SECRET"


def server_context(certfile: str, keyfile: str, cafile: str | None = None) -> ssl.SSLContext:
    """Server-side context; with ``cafile``, clients must present a certificate it signed."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certfile, keyfile)
    if cafile is not None:
        context.load_verify_locations(cafile)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_context(cafile: str, certfile: str | None = None,
                   keyfile: str | None = None) -> ssl.SSLContext:
    """Client-side context trusting ``cafile``, presenting ``certfile`` if given."""
    context = ssl.create_default_context(cafile=cafile)
    if certfile is not None:
        context.load_cert_chain(certfile, keyfile)
    return context


class TLSEcho(uactor.Actor):
    _options_ = {"address": ("127.0.0.1", 0), "authkey": AUTHKEY}
    _method_to_typeid_ = {"inner": "list"}

    def __init__(self):
        self._inner = [1, 2, 3]
        self.leaf = None

    def echo(self, value):
        return value

    def getpid(self):
        return os.getpid()

    def sleep(self, seconds):
        time.sleep(seconds)
        return seconds

    def inner(self):
        """Result proxy (``_method_to_typeid_``): built by the client from a token."""
        return self._inner

    def forwarded(self):
        """Serialized proxy: pickled in the actor, rebuilt by the client."""
        return uactor.proxy(self._inner, "list")

    def start_leaf(self, server_factory, client_factory):
        """Start a nested TLS actor owned by this one; return its address."""
        self.leaf = uactor.start(TLSEcho, options={
            "ssl_server": server_factory, "ssl_client": client_factory()})
        return self.leaf.connection_address

    def get_leaf(self):
        return self.leaf

    def shutdown(self):
        if self.leaf is not None:
            self.leaf.shutdown()
