"""Networking, registry pattern: register new actors from another process.

Start ``network_actor_registry.py`` first and pass the registry address it
printed.  The docs' version calls ``Registry.connect(address)`` without the
authkey; connecting needs it.

Run (from examples/)::

    python network_actor_registry_register.py localhost:5000 [--actors N]

Prints (ports vary), then waits for Ctrl-C::

    Actors listening at ports [36061, 35245, ..., 33701, 41653]
"""
import argparse
import time

from network_actor_registry import NetworkActor, Registry


def parse_address(text):
    host, _, port = text.rpartition(':')
    return host or 'localhost', int(port)


def main(argv=None):
    parser = argparse.ArgumentParser(description='Register actors remotely.')
    parser.add_argument('address', type=parse_address,
                        help='registry HOST:PORT')
    parser.add_argument('--actors', type=int, default=10,
                        help='actors to start (default: %(default)s)')
    args = parser.parse_args(argv)

    actors = []
    try:
        with Registry.connect(args.address, b'SECRET') as registry:
            actors = [NetworkActor() for actor in range(args.actors)]
            addresses = [actor.connection_address for actor in actors]
            registry.register(*addresses)

            print(f'Actors listening at ports {[port for _, port in addresses]}')
            # Actors listening at ports [36061, 35245, ..., 33701, 41653]

            while True:  # keep actors alive
                time.sleep(10)
    except KeyboardInterrupt:
        print('Stopped')
    finally:
        for actor in actors:
            actor.shutdown()


if __name__ == '__main__':
    main()
