"""Networking, registry pattern (server and library).

A ``Registry`` actor hands out actor addresses round-robin.  Run as a script,
it starts a registry and ``--actors`` networked actors, registers them and
serves until Ctrl-C.  ``network_actor_registry_register.py`` adds more actors
from another process; ``network_actor_registry_usage.py`` picks and calls them.

This is the docs' minimal pattern.  The ``registry`` package of this project
is the production version (TTLs, heartbeats, service names, a CLI node): see
``demo.py`` and the Registry chapter of the docs.

The docs listen on ``('0.0.0.0', 5000)``; this example listens on loopback
and a free port unless given ``--host``/``--port``.

Run (from examples/)::

    python network_actor_registry.py [--host HOST] [--port PORT] [--actors N]

Prints (ports vary), then waits for Ctrl-C::

    Registry listening at 127.0.0.1:5000
    Actors listening at ports [36061, 35245, ..., 33701, 41653]
"""
import argparse
import itertools
import os
import time

import uactor


class Registry(uactor.Actor):

    _options_ = {'address': ('127.0.0.1', 0), 'authkey': b'SECRET'}

    def __init__(self):
        self.addresses = frozenset()
        self.iterator = iter(())

    def register(self, *addresses):
        addresses = self.addresses.union(addresses)
        self.iterator, self.addresses = itertools.cycle(addresses), addresses

    def pick(self):
        return next(self.iterator, None)


class NetworkActor(uactor.Actor):

    # Actor manager options to listen over TCP on a random port
    _options_ = {'address': ('127.0.0.1', 0), 'authkey': b'SECRET'}

    def getpid(self):
        return os.getpid()


def main(argv=None):
    parser = argparse.ArgumentParser(description='Serve a registry and actors.')
    parser.add_argument('--host', default='127.0.0.1',
                        help='address to listen on (default: %(default)s)')
    parser.add_argument('--port', type=int, default=0,
                        help='registry TCP port, 0 for any free one '
                             '(default: %(default)s)')
    parser.add_argument('--actors', type=int, default=10,
                        help='actors to start (default: %(default)s)')
    args = parser.parse_args(argv)

    options = {'address': (args.host, args.port), 'authkey': b'SECRET'}
    actors = []
    try:
        with uactor.start(Registry, options=options) as registry:
            actors = [NetworkActor() for actor in range(args.actors)]
            addresses = [actor.connection_address for actor in actors]
            registry.register(*addresses)

            host, port = registry.connection_address
            print(f'Registry listening at {host}:{port}')
            # Registry listening at 127.0.0.1:5000

            print(f'Actors listening at ports {[port for _, port in addresses]}')
            # Actors listening at ports [36061, 35245, ..., 33701, 41653]

            while True:  # keep registry and actors alive
                time.sleep(10)
    except KeyboardInterrupt:
        print('Stopped')
    finally:
        for actor in actors:
            actor.shutdown()


if __name__ == '__main__':
    # Run main() of the importable module, not of __main__: the actor classes
    # it starts are then network_actor_registry.*, the classes clients import.
    from network_actor_registry import main
    main()
