"""Proxy forwarding (library): an actor holding a proxy to another actor.

``MyActor`` starts a ``MyOtherActor`` (an actor with its own authkey) in its
own process and exposes the proxy to it.  Receiving that proxy in another
process needs that authkey: see ``proxy_forwarding_error.py``,
``proxy_forwarding_connect.py`` and ``proxy_forwarding_fallback.py``.

This module is a library: ``python proxy_forwarding.py`` does nothing.
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
    _options_ = {'authkey': b'OtherSecret'}

    def hello(self):
        return f'Hello from MyOtherActor in process {os.getpid()}'
