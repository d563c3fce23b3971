"""Networking, remote shutdown (server and library).

``NetworkActor.shutdown`` sets an event; the owner's main loop waits for it,
then leaves the ``with`` block, which ends the actor process.  So a remote
client calling ``shutdown()`` (``network_actor_shutdown_client.py``) stops
both this script and its actor.

The docs listen on ``('0.0.0.0', 6000)``; this example listens on loopback
and a free port unless given ``--host``/``--port``.

Run (from examples/)::

    python network_actor_shutdown.py [--host HOST] [--port PORT]

Prints (port varies), the last line once a client asked for shutdown::

    Waiting for remote shutdown at 127.0.0.1:6000
    Remote shutdown received
"""
import argparse
import threading

import uactor


class NetworkActor(uactor.Actor):

    # Actor manager options to listen over TCP on a random port
    _options_ = {'address': ('127.0.0.1', 0), 'authkey': b'SECRET'}

    def __init__(self):
        self.finished = threading.Event()

    def shutdown(self):
        self.finished.set()

    def wait(self, timeout=-1):
        return self.finished.wait(timeout)


def main(argv=None):
    parser = argparse.ArgumentParser(description='Serve until told to stop.')
    parser.add_argument('--host', default='127.0.0.1',
                        help='address to listen on (default: %(default)s)')
    parser.add_argument('--port', type=int, default=0,
                        help='TCP port, 0 for any free one (default: %(default)s)')
    args = parser.parse_args(argv)

    options = {'address': (args.host, args.port), 'authkey': b'SECRET'}
    with uactor.start(NetworkActor, options=options) as actor:
        host, port = actor.connection_address
        print(f'Waiting for remote shutdown at {host}:{port}')
        while not actor.wait(timeout=10):  # timeout avoids socket timeouts
            pass
    print('Remote shutdown received')


if __name__ == '__main__':
    # Run main() of the importable module, not of __main__: the actor classes
    # it starts are then network_actor_shutdown.*, the classes clients import.
    from network_actor_shutdown import main
    main()
