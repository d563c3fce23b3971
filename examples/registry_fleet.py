"""A registry fleet: three nodes over one store, one of them killed.

``python registry_fleet.py`` starts, on this host (loopback only):

1. a **store**: ``redis-server`` or, when Redis is not installed, ``etcd``,
   on a free port with a temporary data directory (with neither installed
   it says so and exits with status 0);
2. three **registry nodes** (``uactor-registry --store URL``) sharing it: a
   fleet, each node listing the other two as its peers;
3. two **workers**, registered by this process with the fleet (it gives
   ``register_actor`` the three nodes' addresses: one lease, one heartbeat);
4. a **client** picking workers through the fleet (``connect_actor`` given
   the same addresses).

Then it kills the node both use (``kill -9``), and shows the client picking
workers through another node and the heartbeats keeping both workers
registered: their lease, three seconds long, is renewed through the others.

Run (from examples/)::

    python registry_fleet.py [--store redis|etcd]

Prints (ports and process ids vary)::

    store: redis://127.0.0.1:41000/0
    node 1 listening on 127.0.0.1:41001
    node 2 listening on 127.0.0.1:41002
    node 3 listening on 127.0.0.1:41003
    node 1 sees its peers: 127.0.0.1:41002, 127.0.0.1:41003
    owner: worker 5101 registered at 127.0.0.1:41011
    owner: worker 5102 registered at 127.0.0.1:41012
    client: worker 5101 says 6 * 7 = 42
    client: worker 5102 says 6 * 7 = 42
    killed node 1 (kill -9)
    client: worker 5101 says 6 * 7 = 42 (node 1 is gone)
    client: worker 5102 says 6 * 7 = 42 (node 1 is gone)
    node 2 still lists 2 workers, 6 s after node 1 died
    stopped
"""
import argparse
import contextlib
import json
import os
import re
import secrets
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import registry
import uactor

#: Longest any step may take (s): a server or node getting ready, a stop.
STEP_TIMEOUT = 30.0

#: The workers' lease (s): heartbeats renew it every second.
TTL = 3.0

KEY = secrets.token_hex(32)


class Worker(uactor.Actor):
    """The actor the fleet hands out: it multiplies."""

    _options_ = {'address': ('127.0.0.1', 0), 'authkey': KEY.encode()}

    def getpid(self):
        return os.getpid()

    def multiply(self, a, b):
        return a * b


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--store', choices=('redis', 'etcd'),
                        help='which store to start (default: Redis if installed)')
    args = parser.parse_args()
    kind = args.store or ('redis' if shutil.which('redis-server') else 'etcd')
    binary = 'redis-server' if kind == 'redis' else 'etcd'
    if shutil.which(binary) is None:
        print(f'this example needs {binary} installed (apt-get install '
              f'{"redis-server" if kind == "redis" else "etcd-server"}); '
              f'nothing was started')
        return
    env = dict(os.environ, UACTOR_AUTHKEY=KEY, PYTHONUNBUFFERED='1')
    with tempfile.TemporaryDirectory(prefix='uactor-fleet-') as directory, \
            contextlib.ExitStack() as stack:
        url = stack.enter_context(start_store(kind, directory))
        print(f'store: {url}')
        nodes = [stack.enter_context(Node(url, env)) for _ in range(3)]
        for number, node in enumerate(nodes, 1):
            print(f'node {number} listening on {format_address(node.address)}')
        addresses = [node.address for node in nodes]
        first = stack.enter_context(
            registry.Registry.connect(addresses[0], KEY.encode(), timeout=10))
        peers = wait_for(lambda: first.snapshot(False)['node']['peers'],
                         lambda peers: len(peers) == 2)
        print(f'node 1 sees its peers: {", ".join(peers)}')

        for _ in range(2):
            worker = stack.enter_context(Worker())
            handle = stack.enter_context(registry.register_actor(
                addresses, worker, authkey=KEY.encode(), ttl=TTL))
            print(f'owner: worker {worker.getpid()} registered at '
                  f'{format_address(handle.address)}')
        call_workers(addresses)

        nodes[0].kill()
        killed = time.monotonic()
        print('killed node 1 (kill -9)')
        call_workers(addresses, ' (node 1 is gone)')

        # Two lease periods on, both workers are still listed: their owner's
        # heartbeats went on through another node.
        second = stack.enter_context(
            registry.Registry.connect(addresses[1], KEY.encode(), timeout=10))
        wait_for(lambda: time.monotonic() - killed, lambda elapsed: elapsed > 2 * TTL)
        listed = second.addresses('Worker')
        print(f'node 2 still lists {len(listed)} workers, '
              f'{time.monotonic() - killed:.0f} s after node 1 died')
    print('stopped')


def call_workers(addresses, note=''):
    """Pick each worker once through the fleet and call it."""
    for _ in range(2):
        with registry.connect_actor(addresses, Worker, KEY.encode(), timeout=10) as worker:
            print(f'client: worker {worker.getpid()} says 6 * 7 = '
                  f'{worker.multiply(6, 7)}{note}')


# -- the store and the nodes ------------------------------------------------

@contextlib.contextmanager
def start_store(kind, directory):
    """A redis-server or a one-member etcd on free loopback ports; its URL."""
    port, peer_port = free_port(), free_port()
    if kind == 'redis':
        command = ['redis-server', '--port', str(port), '--bind', '127.0.0.1',
                   '--dir', directory, '--save', '', '--appendonly', 'no']
        url, ready = f'redis://127.0.0.1:{port}/0', lambda: redis_ping(port)
    else:
        client, peer = f'http://127.0.0.1:{port}', f'http://127.0.0.1:{peer_port}'
        command = ['etcd', '--name', 'fleet', '--data-dir', directory,
                   '--listen-client-urls', client, '--advertise-client-urls', client,
                   '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
                   '--initial-cluster', f'fleet={peer}', '--log-level', 'error']
        url, ready = f'etcd://127.0.0.1:{port}', lambda: etcd_ready(port)
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for(lambda: server.poll() is None and ready(), bool)
        yield url
    finally:
        stop(server)


def redis_ping(port):
    with contextlib.suppress(OSError), \
            socket.create_connection(('127.0.0.1', port), timeout=1) as sock:
        sock.sendall(b'PING\r\n')
        return sock.recv(16).startswith(b'+PONG')
    return False


def etcd_ready(port):
    request = urllib.request.Request(f'http://127.0.0.1:{port}/v3/kv/range',
                                     data=json.dumps({'key': 'AA=='}).encode())
    with contextlib.suppress(OSError), urllib.request.urlopen(request, timeout=1) as answer:
        return answer.status == 200
    return False


class Node:
    """One ``uactor-registry`` node over the store, in a session of its own
    (its actor process with it, so that killing the session kills the node)."""

    def __init__(self, url, env):
        self.proc = subprocess.Popen(
            [sys.executable, '-m', 'registry', '--port', '0', '--no-advertise',
             '--store', url, '--store-prefix', 'fleet-example/', '--ttl', str(TTL),
             '--log-level', 'ERROR'],
            env=env, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
            start_new_session=True)
        line = read_line(self.proc.stdout)
        match = re.match(r'registry listening on (\S+):(\d+) ', line)
        if not match:
            self.kill()
            sys.exit(f'a registry node did not start: {line!r}')
        self.address = (match.group(1).strip('[]'), int(match.group(2)))

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        stop(self.proc)
        self.proc.stdout.close()

    def kill(self):
        """``kill -9`` the node and its actor process, as a crash would."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(STEP_TIMEOUT)


def read_line(stream):
    """One line of ``stream``, waiting at most STEP_TIMEOUT."""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        if not selector.select(STEP_TIMEOUT):
            return ''
    return stream.readline().decode(errors='replace')


def stop(proc):
    """SIGTERM its session, then SIGKILL, each with a deadline."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(STEP_TIMEOUT)


def wait_for(read, done, timeout=STEP_TIMEOUT):
    """Poll ``read()`` until ``done(value)``; the value."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            sys.exit(f'gave up waiting after {timeout:g} s (last: {value!r})')
        time.sleep(0.05)


def free_port():
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def format_address(address):
    host, port = address
    return f'[{host}]:{port}' if ':' in host else f'{host}:{port}'


if __name__ == '__main__':
    main()
