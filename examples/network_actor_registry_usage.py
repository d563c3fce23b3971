"""Networking, registry pattern: pick actors from the registry and call them.

Start ``network_actor_registry.py`` first and pass the registry address it
printed.  The registry returns the addresses the actors are bound to; this
client connects to the same port on ``localhost`` (with actors bound to
``0.0.0.0`` on other hosts, translate the host the same way).

Run (from examples/)::

    python network_actor_registry_usage.py localhost:5000 [--picks N]

Prints (ports and process ids vary; one line per pick)::

    Actor at port 36061 has pid 140262
    Actor at port 35245 has pid 140263
"""
import argparse

from network_actor_registry import NetworkActor, Registry


def parse_address(text):
    host, _, port = text.rpartition(':')
    return host or 'localhost', int(port)


def main(argv=None):
    parser = argparse.ArgumentParser(description='Pick and call actors.')
    parser.add_argument('address', type=parse_address,
                        help='registry HOST:PORT')
    parser.add_argument('--picks', type=int, default=10,
                        help='actors to pick (default: %(default)s)')
    args = parser.parse_args(argv)

    with Registry.connect(args.address, b'SECRET') as registry:
        for _ in range(args.picks):
            _, port = registry.pick()
            address = 'localhost', port
            with NetworkActor.connect(address, b'SECRET') as actor:
                print(f'Actor at port {port} has pid {actor.getpid()}')


if __name__ == '__main__':
    main()
