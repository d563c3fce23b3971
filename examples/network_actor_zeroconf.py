"""Networking, autodiscovery (server and library): publish an actor over mDNS.

Starts a ``NetworkActor`` and advertises it as the DNS-SD service
``NAME._uactor._tcp.local.`` with python-zeroconf until Ctrl-C;
``network_actor_zeroconf_client.py`` finds and calls it.

Unlike the docs, which advertise on every interface, this example keeps
everything on this host: the actor listens on 127.0.0.1 and zeroconf sends
and listens on loopback only (``interfaces=['127.0.0.1']``).  ``--lan``
listens on every interface and advertises this host's IPv4 addresses to the
local network.  The ``discovery`` package of this project does all this for
you (unique names, liveness checks, capture): see ``demo.py``.

Run (from examples/)::

    python network_actor_zeroconf.py [--name NAME] [--lan]

Prints (port varies), then waits for Ctrl-C::

    Published NetworkActor._uactor._tcp.local. at 127.0.0.1:37255
"""
import argparse
import os
import socket
import time

import ifaddr  # installed with zeroconf
import zeroconf

import uactor

SERVICE_TYPE = '_uactor._tcp.local.'


class NetworkActor(uactor.Actor):

    # Actor manager options to listen over TCP on a random port
    _options_ = {'address': ('127.0.0.1', 0), 'authkey': b'SECRET'}

    def getpid(self):
        return os.getpid()


def lan_addresses():
    """This host's IPv4 addresses, loopback excluded."""
    return [
        ip.ip
        for adapter in ifaddr.get_adapters()
        for ip in adapter.ips
        if ip.is_IPv4 and not ip.ip.startswith('127.')
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(description='Publish a NetworkActor.')
    parser.add_argument('--name', default='NetworkActor',
                        help='service instance name (default: %(default)s)')
    parser.add_argument('--lan', action='store_true',
                        help='listen and advertise on the local network '
                             '(default: loopback only)')
    args = parser.parse_args(argv)

    if args.lan:
        bind, interfaces = '0.0.0.0', zeroconf.InterfaceChoice.All
    else:
        bind, interfaces = '127.0.0.1', ['127.0.0.1']

    options = {'address': (bind, 0), 'authkey': b'SECRET'}
    try:
        with uactor.start(NetworkActor, options=options) as actor:
            host, port = actor.connection_address
            advertised = lan_addresses() if args.lan else [host]

            zc = zeroconf.Zeroconf(interfaces=interfaces)
            try:
                info = zeroconf.ServiceInfo(
                    SERVICE_TYPE,
                    f'{args.name}.{SERVICE_TYPE}',
                    addresses=[socket.inet_aton(ip) for ip in advertised],
                    port=port,
                    server=f'{socket.gethostname()}.local.',
                )
                zc.register_service(info)
                print(f'Published {info.name} at '
                      f'{",".join(advertised)}:{port}')
                while True:  # keep service alive
                    time.sleep(10)
            finally:
                zc.close()  # withdraws the service (goodbye packets)
    except KeyboardInterrupt:
        print('Stopped')


if __name__ == '__main__':
    # Run main() of the importable module, not of __main__: the actor classes
    # it starts are then network_actor_zeroconf.*, the classes clients import.
    from network_actor_zeroconf import main
    main()
