"""Synchronization proxies: share a ``threading.Event`` living in the actor.

The first ``wait(1)`` times out after one second, the second returns at once.

Run (from examples/)::

    python synchronization_proxies.py

Prints::

    Not ready
    Ready
"""
import threading

import uactor


class Actor(uactor.Actor):
    _exposed_ = ('event',)

    @property
    def event(self):
        return uactor.proxy(self._event, 'Event')

    def __init__(self):
        self._event = threading.Event()


if __name__ == '__main__':
    with Actor() as actor:
        print('Ready' if actor.event.wait(1) else 'Not ready')
        # Not ready

        actor.event.set()

        print('Ready' if actor.event.wait(1) else 'Not ready')
        # Ready
