"""Networking (client): connect to a running ``NetworkActor`` by address.

Start ``network_actor.py`` first and pass the address it printed.

Run (from examples/)::

    python network_client.py localhost:37255

Prints (process id and port vary)::

    Actor process 140262 at localhost:37255
"""
import argparse

from network_actor import NetworkActor


def parse_address(text):
    host, _, port = text.rpartition(':')
    return host or 'localhost', int(port)


def main(argv=None):
    parser = argparse.ArgumentParser(description='Call a NetworkActor.')
    parser.add_argument('address', type=parse_address,
                        help='HOST:PORT printed by network_actor.py')
    args = parser.parse_args(argv)

    with NetworkActor.connect(args.address, b'SECRET') as actor:
        host, port = actor.connection_address
        print(f'Actor process {actor.getpid()} at {host}:{port}')
        # Actor process 140262 at localhost:37255


if __name__ == '__main__':
    main()
