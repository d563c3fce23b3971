"""Networking, remote shutdown (client): stop a running actor's owner.

Start ``network_actor_shutdown.py`` first and pass the address it printed.

Run (from examples/)::

    python network_actor_shutdown_client.py localhost:6000

Prints::

    Shutdown requested
"""
import argparse

from network_actor_shutdown import NetworkActor


def parse_address(text):
    host, _, port = text.rpartition(':')
    return host or 'localhost', int(port)


def main(argv=None):
    parser = argparse.ArgumentParser(description='Shut a NetworkActor down.')
    parser.add_argument('address', type=parse_address,
                        help='HOST:PORT printed by network_actor_shutdown.py')
    args = parser.parse_args(argv)

    external = NetworkActor.connect(args.address, b'SECRET')
    external.shutdown()
    print('Shutdown requested')


if __name__ == '__main__':
    main()
