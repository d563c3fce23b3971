"""Networking (server and library): an actor listening on TCP.

``NetworkActor`` listens on a TCP address with an authkey.  Run as a script,
it starts one, prints where it listens and serves until Ctrl-C; connect to it
with ``network_client.py``.

The docs listen on every interface (``('0.0.0.0', 0)``); this example
listens on loopback by default.  ``--host 0.0.0.0`` serves other machines
(anyone who can reach the port and knows the authkey can run code in the
actor: see the threat model in the docs).

Run (from examples/)::

    python network_actor.py [--host HOST] [--port PORT]

Prints (process id and port vary), then waits for Ctrl-C::

    Actor process 140262 at 127.0.0.1:37255
"""
import argparse
import os
import time

import uactor


class NetworkActor(uactor.Actor):

    # Actor manager options to listen over TCP (loopback) on a random port
    _options_ = {'address': ('127.0.0.1', 0), 'authkey': b'SECRET'}

    def getpid(self):
        return os.getpid()


def main(argv=None):
    parser = argparse.ArgumentParser(description='Serve a NetworkActor.')
    parser.add_argument('--host', default='127.0.0.1',
                        help='address to listen on (default: %(default)s)')
    parser.add_argument('--port', type=int, default=0,
                        help='TCP port, 0 for any free one (default: %(default)s)')
    args = parser.parse_args(argv)

    options = {'address': (args.host, args.port), 'authkey': b'SECRET'}
    try:
        with uactor.start(NetworkActor, options=options) as actor:
            host, port = actor.connection_address
            print(f'Actor process {actor.getpid()} at {host}:{port}')
            # Actor process 140262 at 127.0.0.1:37255

            while True:  # keep the owner proxy alive
                time.sleep(10)
    except KeyboardInterrupt:
        print('Stopped')


if __name__ == '__main__':
    # Run main() of the importable module, not of __main__: the actor classes
    # it starts are then network_actor.*, the classes clients import.
    from network_actor import main
    main()
