"""Networking, autodiscovery (client): find an actor over mDNS and call it.

Browses ``_uactor._tcp.local.`` for the instance ``NAME`` published by
``network_actor_zeroconf.py``, connects to the address it advertises and
calls the actor.  Zeroconf runs on loopback only unless ``--lan`` is given.

Run (from examples/)::

    python network_actor_zeroconf_client.py [--name NAME] [--lan] [--timeout S]

Prints (process id varies)::

    Service NetworkActor._uactor._tcp.local. discovered
    NetworkActor.getpid returned 906151

and exits with status 1 if nothing was found within ``--timeout`` seconds.
"""
import argparse
import socket
import sys
import threading

import zeroconf
from network_actor_zeroconf import SERVICE_TYPE, NetworkActor


class MyListener(zeroconf.ServiceListener):
    # Runs on the ServiceBrowser's thread, where blocking calls are allowed.

    def __init__(self, wanted):
        self.wanted = wanted
        self.discovery = threading.Event()
        self.error = None

    def remove_service(self, zc, type_, name):
        if name == self.wanted:
            print(f'Service {name} removed')

    def update_service(self, zc, type_, name):
        pass

    def add_service(self, zc, type_, name):
        if name != self.wanted or self.discovery.is_set():
            return  # another actor published on this network
        print(f'Service {name} discovered')
        # Service NetworkActor._uactor._tcp.local. discovered
        try:
            info = zc.get_service_info(type_, name, timeout=3000)  # ms
            address = socket.inet_ntoa(info.addresses[0]), info.port

            with NetworkActor.connect(address, b'SECRET') as actor:
                print(f'NetworkActor.getpid returned {actor.getpid()}')
                # NetworkActor.getpid returned 906151
        except Exception as exc:  # report it from the main thread
            self.error = exc
        self.discovery.set()


def main(argv=None):
    parser = argparse.ArgumentParser(description='Discover a NetworkActor.')
    parser.add_argument('--name', default='NetworkActor',
                        help='service instance name (default: %(default)s)')
    parser.add_argument('--lan', action='store_true',
                        help='browse the local network (default: loopback only)')
    parser.add_argument('--timeout', type=float, default=10,
                        help='seconds to wait (default: %(default)s)')
    args = parser.parse_args(argv)

    interfaces = zeroconf.InterfaceChoice.All if args.lan else ['127.0.0.1']
    listener = MyListener(f'{args.name}.{SERVICE_TYPE}')
    zc = zeroconf.Zeroconf(interfaces=interfaces)
    try:
        zeroconf.ServiceBrowser(zc, SERVICE_TYPE, listener)
        found = listener.discovery.wait(args.timeout)
    finally:
        zc.close()
    if listener.error is not None:
        raise listener.error
    if not found:
        sys.exit(f'No {listener.wanted} found within {args.timeout}s')


if __name__ == '__main__':
    main()
