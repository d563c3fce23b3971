"""Networking, forwarded proxies (library): a proxy to a networked actor.

``MyActor`` starts a networked ``MyOtherActor`` in its own process and
exposes the proxy to it.  To receive that proxy, a process must first
connect to ``MyOtherActor`` with its authkey, and the ``capture`` argument of
``connect`` maps the address written in the proxy (the actor's bind address)
to the address this process reached it at.  See
``network_proxy_forwarding_error.py`` and
``network_proxy_forwarding_connect.py``.

The docs bind ``MyOtherActor`` to ``('0.0.0.0', 7000)``; this library binds
loopback and a free port (never a fixed one), and exposes the address so
that clients can find the port.

This module is a library: ``python network_proxy_forwarding.py`` does nothing.
"""
import os

import uactor


class MyActor(uactor.Actor):
    _exposed_ = ('my_other_actor', 'my_other_actor_address')

    def __init__(self):
        self.my_other_actor = MyOtherActor()

    @property
    def my_other_actor_address(self):
        return self.my_other_actor.connection_address


class MyOtherActor(uactor.Actor):
    _options_ = {'address': ('127.0.0.1', 0), 'authkey': b'OtherSecret'}

    def getpid(self):
        return os.getpid()
